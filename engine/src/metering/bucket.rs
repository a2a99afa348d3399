//! Spreading counter deltas over 300 s buckets aligned to the epoch (metering.md §3).
//!
//! An interval's bytes are spread uniformly over `(from, to]` and assigned to buckets by time
//! overlap. Bytes stay integers and are conserved exactly: bucket `j` of an interval gets
//! `floor(D * c_j / dt) - floor(D * c_{j-1} / dt)`, where `c_j` is the interval's time covered up
//! to the end of bucket `j`; the shares telescope to exactly `D`.

use std::collections::BTreeMap;

use super::counter::{CounterInterval, Delta};
use crate::time::Timestamp;

/// Bucket width, ns.
pub const BUCKET_NS: i64 = 300 * 1_000_000_000;

/// The start of the bucket holding instant `t`.
pub fn bucket_start(t: Timestamp) -> Timestamp {
    t.floor_to(BUCKET_NS)
}

/// What is known of one bucket of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Bytes from valid intervals.
    pub bytes: u64,
    /// Time covered by valid intervals no longer than 3 poll intervals, ns.
    pub covered_ns: i64,
    /// Time covered by valid intervals longer than 3 poll intervals (gaps spread evenly), ns.
    pub gap_ns: i64,
    /// Touched by a reset interval.
    pub reset: bool,
    /// Touched by an implausible interval.
    pub implausible: bool,
}

/// How well a bucket is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Valid, regular intervals cover all of it.
    Complete,
    /// Valid intervals cover some of it, none of them a gap (data starts or stops in it, or a
    /// reset or implausible interval covers the rest): it counts in n, with its flags.
    Partial,
    /// Bytes spread from a gap longer than 3 poll intervals make up some of it.
    Estimated,
    /// Nothing valid covers it: no data, or only reset or implausible intervals.
    Missing,
}

impl Bucket {
    /// Its coverage class.
    pub fn coverage(&self) -> Coverage {
        if self.covered_ns == 0 && self.gap_ns == 0 {
            Coverage::Missing
        } else if self.gap_ns > 0 {
            Coverage::Estimated
        } else if self.covered_ns >= BUCKET_NS {
            Coverage::Complete
        } else {
            Coverage::Partial
        }
    }

    /// Whether it counts in n under `missing_buckets = exclude`.
    pub fn has_data(&self) -> bool {
        self.coverage() != Coverage::Missing
    }

    /// Its rate in bits/s as an exact fraction `bytes * 8 / 300`; callers rank by `bytes`.
    pub fn bits_per_300s(&self) -> u128 {
        u128::from(self.bytes) * 8
    }
}

/// What ranking needs of a bucket, in 16 bytes: its bytes and its class as flags. Dense months
/// of slots are what the 95th reads (half the memory traffic of whole buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    /// Bytes from valid intervals.
    pub bytes: u64,
    flags: u8,
}

impl Slot {
    const DATA: u8 = 1;
    const ESTIMATED: u8 = 2;
    const RESET: u8 = 4;
    const IMPLAUSIBLE: u8 = 8;

    /// Counts in n (not missing).
    pub fn has_data(&self) -> bool {
        self.flags & Self::DATA != 0
    }
    /// Holds bytes spread from a gap.
    pub fn estimated(&self) -> bool {
        self.flags & Self::ESTIMATED != 0
    }
    /// Touched by a reset interval.
    pub fn reset(&self) -> bool {
        self.flags & Self::RESET != 0
    }
    /// Touched by an implausible interval.
    pub fn implausible(&self) -> bool {
        self.flags & Self::IMPLAUSIBLE != 0
    }
}

impl From<&Bucket> for Slot {
    fn from(b: &Bucket) -> Self {
        let c = b.coverage();
        let mut flags = 0;
        if c != Coverage::Missing {
            flags |= Self::DATA;
        }
        if c == Coverage::Estimated {
            flags |= Self::ESTIMATED;
        }
        if b.reset {
            flags |= Self::RESET;
        }
        if b.implausible {
            flags |= Self::IMPLAUSIBLE;
        }
        Self { bytes: b.bytes, flags }
    }
}

/// Where apportioned shares go: the bucket starting at an (aligned) instant.
pub trait BucketSink {
    /// The bucket starting at `start`, created empty if needed.
    fn bucket(&mut self, start: Timestamp) -> &mut Bucket;
}

impl BucketSink for BTreeMap<Timestamp, Bucket> {
    fn bucket(&mut self, start: Timestamp) -> &mut Bucket {
        self.entry(start).or_default()
    }
}

/// Buckets of one series by start, from its intervals. `poll_ns` is the device's poll interval:
/// an interval longer than 3 of them is a gap (its bytes are spread and the buckets flagged).
pub fn apportion(intervals: &[CounterInterval], poll_ns: i64) -> BTreeMap<Timestamp, Bucket> {
    let mut out: BTreeMap<Timestamp, Bucket> = BTreeMap::new();
    for iv in intervals {
        apportion_into(&mut out, iv, poll_ns);
    }
    out
}

/// Adds one interval's share to `out` (see [`apportion`]).
pub fn apportion_into(out: &mut impl BucketSink, iv: &CounterInterval, poll_ns: i64) {
    let dt = iv.to.nanos_since(iv.from);
    if dt <= 0 {
        return;
    }
    let gap = dt > poll_ns.saturating_mul(3);
    let mut start = bucket_start(iv.from);
    let mut before: u128 = 0; // bytes assigned to earlier buckets of this interval
    while start < iv.to {
        let end = start.plus_ns(BUCKET_NS);
        let overlap = end.min(iv.to).nanos_since(start.max(iv.from));
        if overlap > 0 {
            let b = out.bucket(start);
            match iv.delta {
                Delta::Valid(d) => {
                    let covered_to = end.min(iv.to).nanos_since(iv.from) as u128;
                    let upto = u128::from(d) * covered_to / dt as u128;
                    b.bytes += (upto - before) as u64;
                    before = upto;
                    if gap {
                        b.gap_ns += overlap;
                    } else {
                        b.covered_ns += overlap;
                    }
                }
                Delta::Reset => b.reset = true,
                Delta::Implausible(_) => b.implausible = true,
            }
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::counter::{CounterSample, CounterWidth, intervals};
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    fn iv(from_s: i64, to_s: i64, delta: Delta) -> CounterInterval {
        CounterInterval { from: Timestamp::from_secs(from_s), to: Timestamp::from_secs(to_s), delta }
    }

    #[test]
    fn a_gap_spreads_bytes_evenly_and_is_flagged() {
        // 10 s polling; a 1,200 s gap carrying 1,200,000 bytes over 4 buckets.
        let b = apportion(&[iv(300, 1500, Delta::Valid(1_200_000))], 10 * S);
        let got: Vec<_> = b.iter().map(|(k, v)| (k.as_nanos() / S, v.bytes, v.coverage())).collect();
        assert_eq!(
            got,
            vec![
                (300, 300_000, Coverage::Estimated),
                (600, 300_000, Coverage::Estimated),
                (900, 300_000, Coverage::Estimated),
                (1200, 300_000, Coverage::Estimated),
            ]
        );
    }

    #[test]
    fn a_reboot_mid_month_never_creates_a_spike() {
        // A port at ~1,000 bytes/s; the switch reboots between t=600 and t=610 (counter and
        // uptime restart near zero). rrdtool's COUNTER would read ~2^64 bytes here.
        let mut samples = Vec::new();
        for t in (0..600).step_by(10) {
            samples.push(CounterSample {
                ts: Timestamp::from_secs(t),
                value: 5_000_000 + t as u64 * 1000,
                uptime_s: Some(90_000 + t as u64),
                discontinuity: None,
            });
        }
        for t in (610..1200).step_by(10) {
            samples.push(CounterSample {
                ts: Timestamp::from_secs(t),
                value: (t as u64 - 605) * 1000,
                uptime_s: Some(t as u64 - 605),
                discontinuity: None,
            });
        }
        let buckets = apportion(&intervals(&samples, CounterWidth::Bits64, Some(1_000_000_000)), 10 * S);
        let max = buckets.values().map(|b| b.bytes).max().unwrap();
        assert_eq!(max, 300_000, "no bucket exceeds the steady 1,000 bytes/s");
        let around = buckets[&Timestamp::from_secs(600)];
        assert!(around.reset && around.bytes == 290_000 && around.coverage() == Coverage::Partial, "{around:?}");
    }

    proptest! {
        /// Bytes are conserved exactly: the buckets hold the sum of the valid deltas.
        #[test]
        fn bytes_are_conserved(steps in proptest::collection::vec((1i64..2000, 0u64..10_000_000, 0u8..10), 1..100)) {
            let mut t = Timestamp::from_secs(17);
            let mut ivs = Vec::new();
            let mut valid = 0u64;
            for (dt, d, kind) in steps {
                let delta = match kind { 0 => Delta::Reset, 1 => Delta::Implausible(d), _ => { valid += d; Delta::Valid(d) } };
                ivs.push(CounterInterval { from: t, to: t.plus_ns(dt * S / 3), delta });
                t = t.plus_ns(dt * S / 3);
            }
            let b = apportion(&ivs, 10 * S);
            prop_assert_eq!(b.values().map(|x| x.bytes).sum::<u64>(), valid);
            prop_assert!(b.keys().all(|k| k.as_nanos() % BUCKET_NS == 0));
        }
    }
}
