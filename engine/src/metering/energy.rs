//! Energy (metering.md §5): from an energy counter (Wh) where there is one, else by trapezoid
//! integration of the power gauge (W). Each interval between consecutive samples becomes a
//! [`Piece`] of energy spread uniformly over `(from, to]`, so a window (an assignment, an hour
//! for carbon, a billing period) takes each piece's share by time overlap, to the nanosecond.

use rust_decimal::Decimal;

use crate::domain::GapFill;
use crate::time::Timestamp;

/// A power reading, W.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerSample {
    /// When.
    pub ts: Timestamp,
    /// Watts.
    pub watts: Decimal,
}

/// An energy counter reading, normalised to Wh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnergySample {
    /// When.
    pub ts: Timestamp,
    /// Cumulative Wh.
    pub wh: Decimal,
    /// Device uptime with the sample, s (reset evidence).
    pub uptime_s: Option<u64>,
}

/// How a piece's energy is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A counter delta.
    Counter,
    /// Trapezoid integration of power samples.
    Integrated,
    /// A counter reset, estimated from power samples inside the interval (flagged).
    ResetEstimated,
    /// A gap filled by holding the last power value (`gap_fill = hold_last`; flagged).
    HeldLast,
}

/// Energy spread uniformly over `(from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Start (exclusive).
    pub from: Timestamp,
    /// End (inclusive).
    pub to: Timestamp,
    /// Wh.
    pub wh: Decimal,
    /// How it is known.
    pub source: Source,
}

/// An interval that contributes nothing, and why (flagged in the evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// Start.
    pub from: Timestamp,
    /// End.
    pub to: Timestamp,
    /// Why.
    pub reason: HoleReason,
}

/// Why an interval contributes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoleReason {
    /// A counter reset with no power samples to estimate it from.
    Reset,
    /// A power gap longer than 3 poll intervals (`gap_fill = none`).
    Gap,
}

/// What a series of readings says about energy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Energy {
    /// Energy, by interval.
    pub pieces: Vec<Piece>,
    /// Intervals of unknown energy.
    pub holes: Vec<Hole>,
}

fn seconds(ns: i64) -> Decimal {
    Decimal::from_i128_with_scale(i128::from(ns), 9)
}

/// Trapezoid energy of `(a, b]`, Wh: `(W_a + W_b) / 2 * dt_s / 3600`.
pub fn trapezoid_wh(a: &PowerSample, b: &PowerSample) -> Decimal {
    (a.watts + b.watts) * seconds(b.ts.nanos_since(a.ts)) / Decimal::from(7200)
}

/// Energy from power samples alone (no counter).
pub fn from_power(power: &[PowerSample], poll_ns: i64, gap_fill: GapFill) -> Energy {
    let mut out = Energy::default();
    for w in power.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if b.ts <= a.ts {
            continue;
        }
        if b.ts.nanos_since(a.ts) > poll_ns.saturating_mul(3) {
            match gap_fill {
                GapFill::None => out.holes.push(Hole { from: a.ts, to: b.ts, reason: HoleReason::Gap }),
                GapFill::HoldLast => out.pieces.push(Piece {
                    from: a.ts,
                    to: b.ts,
                    wh: a.watts * seconds(b.ts.nanos_since(a.ts)) / Decimal::from(3600),
                    source: Source::HeldLast,
                }),
            }
            continue;
        }
        out.pieces.push(Piece { from: a.ts, to: b.ts, wh: trapezoid_wh(a, b), source: Source::Integrated });
    }
    out
}

/// Whether the interval from `a` to `b` (`a.ts < b.ts`) is a counter reset: the counter went
/// down, or the device's uptime did.
fn is_reset(a: &EnergySample, b: &EnergySample) -> bool {
    let rebooted = matches!((a.uptime_s, b.uptime_s), (Some(x), Some(y)) if y < x);
    b.wh < a.wh || rebooted
}

/// Whether [`from_counter`] needs power samples for `counter`: only to estimate a reset
/// interval, so a counter without resets is read alone.
pub fn counter_needs_power(counter: &[EnergySample]) -> bool {
    counter.windows(2).any(|w| w[1].ts > w[0].ts && is_reset(&w[0], &w[1]))
}

/// Energy from counter samples; a reset interval (the counter went down, or uptime did) is
/// estimated from the power samples inside it when there are at least two, else it is a hole.
pub fn from_counter(counter: &[EnergySample], power: &[PowerSample]) -> Energy {
    let mut out = Energy::default();
    for w in counter.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if b.ts <= a.ts {
            continue;
        }
        if !is_reset(a, b) {
            out.pieces.push(Piece { from: a.ts, to: b.ts, wh: b.wh - a.wh, source: Source::Counter });
            continue;
        }
        let inside: Vec<&PowerSample> = power.iter().filter(|p| p.ts >= a.ts && p.ts <= b.ts).collect();
        if inside.len() >= 2 {
            for pair in inside.windows(2) {
                out.pieces.push(Piece {
                    from: pair[0].ts,
                    to: pair[1].ts,
                    wh: trapezoid_wh(pair[0], pair[1]),
                    source: Source::ResetEstimated,
                });
            }
        } else {
            out.holes.push(Hole { from: a.ts, to: b.ts, reason: HoleReason::Reset });
        }
    }
    out
}

impl Piece {
    /// This piece's energy inside `[from, to)`, by time overlap.
    pub fn share(&self, from: Timestamp, to: Timestamp) -> Decimal {
        let overlap = to.min(self.to).nanos_since(from.max(self.from));
        if overlap <= 0 {
            return Decimal::ZERO;
        }
        let length = self.to.nanos_since(self.from);
        if overlap >= length {
            return self.wh;
        }
        self.wh * seconds(overlap) / seconds(length)
    }
}

impl Energy {
    /// Wh inside `[from, to)`.
    pub fn wh_in(&self, from: Timestamp, to: Timestamp) -> Decimal {
        self.pieces.iter().map(|p| p.share(from, to)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const S: i64 = 1_000_000_000;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn w(ts_s: i64, watts: &str) -> PowerSample {
        PowerSample { ts: Timestamp::from_secs(ts_s), watts: d(watts) }
    }

    #[test]
    fn trapezoid_and_gaps() {
        // 400 W then 500 W over 36 s: 450 W * 0.01 h = 4.5 Wh.
        let e = from_power(&[w(0, "400"), w(36, "500")], 15 * S, GapFill::None);
        assert_eq!(e.pieces[0].wh, d("4.5"));
        // A 40 s interval with 10 s polling is a gap: nothing integrated, flagged.
        let e = from_power(&[w(0, "400"), w(40, "500")], 10 * S, GapFill::None);
        assert_eq!((e.pieces.len(), e.holes[0].reason), (0, HoleReason::Gap));
        // hold_last fills it with the last value: 400 W for 40 s = 4.444... Wh.
        let e = from_power(&[w(0, "400"), w(40, "500")], 10 * S, GapFill::HoldLast);
        assert_eq!(e.pieces[0].source, Source::HeldLast);
        assert_eq!(e.pieces[0].wh.round_dp(6), d("4.444444"));
    }

    #[test]
    fn counter_resets_are_estimated_from_power_or_left_out() {
        let c = |t: i64, wh: &str, up: u64| EnergySample { ts: Timestamp::from_secs(t), wh: d(wh), uptime_s: Some(up) };
        let counter = [c(0, "1000", 500), c(60, "1001", 560), c(120, "0.5", 10), c(180, "1.5", 70)];
        assert!(counter_needs_power(&counter), "the reset between 60 s and 120 s");
        assert!(!counter_needs_power(&counter[..2]) && !counter_needs_power(&counter[2..]));
        // Uptime going back is a reset even when the counter grew.
        assert!(counter_needs_power(&[c(0, "5", 100), c(60, "6", 3)]));
        let e = from_counter(&counter, &[]);
        assert_eq!(e.pieces.iter().map(|p| p.wh).collect::<Vec<_>>(), [d("1"), d("1.0")]);
        assert_eq!(e.holes, [Hole { from: at(60), to: at(120), reason: HoleReason::Reset }]);
        // With power samples inside the reset interval, it is estimated from them.
        let power = [w(60, "60"), w(90, "60"), w(120, "60")];
        let e = from_counter(&counter, &power);
        assert_eq!(e.holes, []);
        assert_eq!(e.wh_in(at(60), at(120)), d("1.0"));
        assert!(e.pieces.iter().any(|p| p.source == Source::ResetEstimated));
    }

    #[test]
    fn a_window_takes_its_share_by_time() {
        let e = Energy {
            pieces: vec![Piece { from: at(0), to: at(3600), wh: d("100"), source: Source::Counter }],
            holes: vec![],
        };
        // An assignment ending at 00:15:00 takes a quarter, to the nanosecond.
        assert_eq!(e.wh_in(at(-1), at(900)), d("25"));
        assert_eq!(e.wh_in(at(900), at(4000)), d("75"));
        assert_eq!(e.wh_in(at(0), at(900)) + e.wh_in(at(900), at(3600)), d("100"));
    }
}
