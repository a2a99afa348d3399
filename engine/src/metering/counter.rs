//! Counter samples to deltas (metering.md §2). Nothing is "fixed up": an interval is valid (its
//! delta counts), a reset (unknown traffic: contributes nothing, flagged), or implausible
//! (faster than 1.05 × the port speed: excluded, flagged, never replaced).

use crate::time::Timestamp;

/// One counter sample, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterSample {
    /// When it was read.
    pub ts: Timestamp,
    /// The raw counter value.
    pub value: u64,
    /// The device's uptime with the sample, seconds.
    pub uptime_s: Option<u64>,
    /// The port's counter-discontinuity marker with the sample.
    pub discontinuity: Option<u64>,
}

/// How wide the device's counter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterWidth {
    /// 64-bit (HC counters): a decrease is always a reset.
    Bits64,
    /// 32-bit (only without HC counters): a decrease without reset evidence wraps once.
    Bits32,
}

/// What an interval between two consecutive samples contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// Counted.
    Valid(u64),
    /// Reset evidence (uptime went back, discontinuity changed, or a 64-bit decrease): unknown.
    Reset,
    /// Faster than 1.05 × the port speed: excluded; the would-be delta for evidence.
    Implausible(u64),
}

/// The interval `(from, to]` between two consecutive samples of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterInterval {
    /// The earlier sample's time (exclusive).
    pub from: Timestamp,
    /// The later sample's time (inclusive).
    pub to: Timestamp,
    /// What it contributes.
    pub delta: Delta,
}

/// Whether the later sample carries evidence of a reset since the earlier one.
pub fn reset_evidence(a: &CounterSample, b: &CounterSample) -> bool {
    let rebooted = matches!((a.uptime_s, b.uptime_s), (Some(x), Some(y)) if y < x);
    let discontinuity = matches!((a.discontinuity, b.discontinuity), (Some(x), Some(y)) if x != y);
    rebooted || discontinuity
}

/// The intervals between consecutive samples (sorted by time, unique times).
///
/// `speed_bps` is the port speed in bits/s (the contract speed if set, else ifHighSpeed); with it,
/// a delta whose rate exceeds 1.05 × the speed is implausible. The comparison is exact integer
/// arithmetic: `delta * 8 / dt > 1.05 * speed` ⇔ `delta * 8 * 10^9 * 100 > 105 * speed * dt_ns`.
pub fn intervals(samples: &[CounterSample], width: CounterWidth, speed_bps: Option<u64>) -> Vec<CounterInterval> {
    samples.windows(2).filter(|w| w[1].ts > w[0].ts).map(|w| interval(&w[0], &w[1], width, speed_bps)).collect()
}

/// The interval between two consecutive samples `a` and `b` (`a.ts < b.ts`); see [`intervals`].
pub fn interval(a: &CounterSample, b: &CounterSample, width: CounterWidth, speed_bps: Option<u64>) -> CounterInterval {
    let delta = if reset_evidence(a, b) {
        Delta::Reset
    } else if b.value >= a.value {
        Delta::Valid(b.value - a.value)
    } else {
        match width {
            CounterWidth::Bits64 => Delta::Reset,
            CounterWidth::Bits32 => Delta::Valid((b.value + (1u64 << 32)).wrapping_sub(a.value) & 0xFFFF_FFFF),
        }
    };
    let delta = match (delta, speed_bps) {
        (Delta::Valid(d), Some(speed)) if implausible(d, b.ts.nanos_since(a.ts), speed) => Delta::Implausible(d),
        (d, _) => d,
    };
    CounterInterval { from: a.ts, to: b.ts, delta }
}

fn implausible(delta_bytes: u64, dt_ns: i64, speed_bps: u64) -> bool {
    let lhs = u128::from(delta_bytes) * 8 * 1_000_000_000 * 100;
    let rhs = 105 * u128::from(speed_bps) * u128::from(dt_ns.max(0) as u64);
    lhs > rhs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts_s: i64, value: u64, uptime_s: Option<u64>) -> CounterSample {
        CounterSample { ts: Timestamp::from_secs(ts_s), value, uptime_s, discontinuity: None }
    }

    fn kinds(v: &[CounterInterval]) -> Vec<Delta> {
        v.iter().map(|i| i.delta).collect()
    }

    #[test]
    fn each_rule_of_section_2() {
        let w64 = CounterWidth::Bits64;
        // Plain deltas.
        assert_eq!(kinds(&intervals(&[s(0, 100, None), s(10, 150, None)], w64, None)), [Delta::Valid(50)]);
        // A 64-bit decrease is a reset, never a wrap.
        assert_eq!(kinds(&intervals(&[s(0, u64::MAX - 5, None), s(10, 3, None)], w64, None)), [Delta::Reset]);
        // A 32-bit decrease without evidence wraps once.
        let w32 = CounterWidth::Bits32;
        assert_eq!(kinds(&intervals(&[s(0, 4_294_967_290, None), s(10, 10, None)], w32, None)), [Delta::Valid(16)]);
        // Uptime going back is a reset even when the counter grew (32-bit too).
        assert_eq!(kinds(&intervals(&[s(0, 10, Some(500)), s(10, 900, Some(3))], w32, None)), [Delta::Reset]);
        // A changed discontinuity marker is a reset.
        let a = CounterSample { ts: Timestamp::from_nanos(0), value: 1, uptime_s: None, discontinuity: Some(7) };
        let b = CounterSample { ts: Timestamp::from_nanos(10), value: 5, uptime_s: None, discontinuity: Some(8) };
        assert_eq!(kinds(&intervals(&[a, b], w64, None)), [Delta::Reset]);
        // 1 Gbit/s for 10 s carries at most 1.3125e9 bytes; one byte more is implausible.
        let limit = 1_312_500_000;
        assert_eq!(
            kinds(&intervals(&[s(0, 0, None), s(10, limit, None)], w64, Some(1_000_000_000))),
            [Delta::Valid(limit)]
        );
        assert_eq!(
            kinds(&intervals(&[s(0, 0, None), s(10, limit + 1, None)], w64, Some(1_000_000_000))),
            [Delta::Implausible(limit + 1)]
        );
    }
}
