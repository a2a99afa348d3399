//! A service's 95th-percentile bandwidth (metering.md §4): the buckets of its ports whose start
//! lies inside each port's (effective) assignment and the period, combined by the plan's
//! `method`, `pooling` and `missing_buckets`, ranked by nearest rank.
//!
//! Readings taken where the spec is silent, as an auditor would:
//! - pooled: a bucket's rate is the sum over the ports assigned at its start; it counts in n when
//!   at least one of them has data; it is `missing` when none has, and it carries a flag when any
//!   contributing port's bucket does;
//! - `max_in_out` reports the bucket of the direction that wins (in on a tie);
//! - `per_port` sums each port's own 95th; its evidence adds the ports' n and discarded counts and
//!   has no single bucket.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::bucket::{BUCKET_NS, Bucket, Slot};
use super::percentile::{P95, nearest_rank};
use crate::domain::{BandwidthMethod, MissingBuckets, Pooling};
use crate::time::{Interval, Timestamp};

/// One port's buckets, by direction, dense from `first` (an untouched bucket is default, i.e.
/// missing), and when it is assigned to the service.
#[derive(Debug, Clone)]
pub struct PortBuckets {
    /// The port's key (`sw-core1/Gi1/0/1`).
    pub port: String,
    /// Start of the first bucket held (aligned).
    pub first: Timestamp,
    /// `ifHCInOctets` buckets (the customer's upload), one per 300 s from `first`; buckets past
    /// the end (an empty vector included) are missing.
    pub inbound: Vec<Slot>,
    /// `ifHCOutOctets` buckets.
    pub outbound: Vec<Slot>,
    /// Effective assignment intervals.
    pub assigned: Vec<Interval>,
}

/// The start of the first bucket starting inside `period`.
pub fn first_bucket(period: &Interval) -> Timestamp {
    let first = period.from.floor_to(BUCKET_NS);
    if first < period.from { first.plus_ns(BUCKET_NS) } else { first }
}

/// How many buckets start inside `period`.
pub fn bucket_count(period: &Interval) -> usize {
    let (first, end) = (first_bucket(period), period.end());
    if end <= first { 0 } else { (end.nanos_since(first) as u64).div_ceil(BUCKET_NS as u64) as usize }
}

impl PortBuckets {
    /// From buckets by start, laid out densely over `period`'s buckets.
    pub fn from_maps(
        port: impl Into<String>,
        inbound: &BTreeMap<Timestamp, Bucket>,
        outbound: &BTreeMap<Timestamp, Bucket>,
        period: &Interval,
        assigned: Vec<Interval>,
    ) -> Self {
        let (first, n) = (first_bucket(period), bucket_count(period));
        let dense = |m: &BTreeMap<Timestamp, Bucket>| {
            (0..n).map(|i| m.get(&first.plus_ns(i as i64 * BUCKET_NS)).map(Slot::from).unwrap_or_default()).collect()
        };
        Self { port: port.into(), first, inbound: dense(inbound), outbound: dense(outbound), assigned }
    }
}

/// Counts of flagged buckets among those considered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flags {
    /// Holding bytes spread from a gap.
    pub estimated: u64,
    /// With no valid data.
    pub missing: u64,
    /// Touched by a counter reset.
    pub reset: u64,
    /// Touched by an implausible delta.
    pub implausible: u64,
}

/// A 95th with its evidence. Rates are bytes per 300 s bucket; Mbps are derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P95 {
    /// The billed value, bytes per bucket.
    pub bytes: u64,
    /// Inbound 95th (methods `max_in_out`, `in`), bytes per bucket.
    pub in_bytes: Option<u64>,
    /// Outbound 95th (methods `max_in_out`, `out`), bytes per bucket.
    pub out_bytes: Option<u64>,
    /// Buckets ranked.
    pub n: usize,
    /// Buckets discarded above the 95th.
    pub discarded: usize,
    /// Start of the bucket holding the 95th (none for `per_port` or `n = 0`).
    pub bucket: Option<Timestamp>,
    /// Flag counts.
    pub flags: Flags,
}

/// Mbps of a rate in bytes per 300 s bucket: `bytes * 8 / 300 / 10^6`.
pub fn mbps(bytes: u64) -> Decimal {
    Decimal::from(bytes) * Decimal::from(8) / Decimal::from(300_000_000u64)
}

/// One combined bucket: in and out bytes, whether it has data, its flags.
#[derive(Debug, Clone, Copy, Default)]
struct Combined {
    inbound: u64,
    outbound: u64,
    data: bool,
    estimated: bool,
    reset: bool,
    implausible: bool,
}

/// The index ranges `[lo, hi)` of the `n` period buckets from `first` whose start lies inside
/// one of the port's assignments, merged (an overlap never counts a bucket twice).
fn assigned_ranges(p: &PortBuckets, first: Timestamp, n: usize) -> Vec<(usize, usize)> {
    let index = |t: Timestamp| -> usize {
        // The first bucket index whose start is at or after t.
        if t <= first {
            0
        } else {
            usize::try_from((t.nanos_since(first) as u64).div_ceil(BUCKET_NS as u64)).unwrap_or(usize::MAX).min(n)
        }
    };
    let mut r: Vec<(usize, usize)> =
        p.assigned.iter().map(|iv| (index(iv.from), index(iv.end()))).filter(|(a, b)| a < b).collect();
    r.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(r.len());
    for (a, b) in r {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Bucket starts of `period` that lie inside some port's assignment, combined over `ports`.
/// Port by port over index ranges: no per-bucket division or interval search.
fn combine(ports: &[&PortBuckets], period: &Interval) -> Vec<(Timestamp, Combined)> {
    let (first, n) = (first_bucket(period), bucket_count(period));
    let mut acc: Vec<(Combined, bool)> = vec![(Combined::default(), false); n];
    for p in ports {
        // Period bucket i is the port's bucket i + shift.
        let shift = first.nanos_since(p.first).div_euclid(BUCKET_NS);
        let slot = |v: &[Slot], i: usize| -> Slot {
            let j = i as i64 + shift;
            if j < 0 { Slot::default() } else { v.get(j as usize).copied().unwrap_or_default() }
        };
        for (lo, hi) in assigned_ranges(p, first, n) {
            for (i, (c, any)) in acc.iter_mut().enumerate().take(hi).skip(lo) {
                *any = true;
                let (bin, bout) = (slot(&p.inbound, i), slot(&p.outbound, i));
                for (b, is_in) in [(bin, true), (bout, false)] {
                    if b.has_data() {
                        c.data = true;
                        if is_in {
                            c.inbound += b.bytes;
                        } else {
                            c.outbound += b.bytes;
                        }
                    }
                    c.estimated |= b.estimated();
                    c.reset |= b.reset();
                    c.implausible |= b.implausible();
                }
            }
        }
    }
    acc.into_iter()
        .enumerate()
        .filter(|(_, (_, any))| *any)
        .map(|(i, (c, _))| (first.plus_ns(i as i64 * BUCKET_NS), c))
        .collect()
}

fn rank_one(
    buckets: &[(Timestamp, Combined)],
    missing: MissingBuckets,
    pick: impl Fn(&Combined) -> u64,
) -> (Option<(u64, Timestamp)>, usize, usize) {
    // `(value, bucket start)` packed in one u128 that orders the same way (the start offset by
    // 2^63 so that it orders as unsigned): selection compares one integer instead of a pair.
    let pack = |v: u64, s: Timestamp| (u128::from(v) << 64) | u128::from((s.as_nanos() as u64) ^ (1 << 63));
    let unpack = |x: u128| ((x >> 64) as u64, Timestamp::from_nanos(((x as u64) ^ (1 << 63)) as i64));
    let zero = missing == MissingBuckets::Zero;
    let mut values: Vec<u128> = Vec::with_capacity(buckets.len());
    for (s, c) in buckets {
        if c.data {
            values.push(pack(pick(c), *s));
        } else if zero {
            values.push(pack(0, *s));
        }
    }
    match nearest_rank(&mut values, P95) {
        Some(r) => (Some(unpack(r.value)), r.n, r.discarded),
        None => (None, 0, 0),
    }
}

fn p95_of(buckets: &[(Timestamp, Combined)], method: BandwidthMethod, missing: MissingBuckets) -> P95 {
    let mut flags = Flags::default();
    for (_, c) in buckets {
        flags.missing += u64::from(!c.data);
        flags.estimated += u64::from(c.estimated);
        flags.reset += u64::from(c.reset);
        flags.implausible += u64::from(c.implausible);
    }
    let inbound = || rank_one(buckets, missing, |c| c.inbound);
    let outbound = || rank_one(buckets, missing, |c| c.outbound);
    // Rank only what the method needs (each ranking is a pass over the buckets).
    let (best, in_bytes, out_bytes, n, discarded) = match method {
        BandwidthMethod::In => {
            let (inb, n, d) = inbound();
            (inb, inb.map(|v| v.0), None, n, d)
        }
        BandwidthMethod::Out => {
            let (outb, n, d) = outbound();
            (outb, None, outb.map(|v| v.0), n, d)
        }
        BandwidthMethod::Sum => {
            let (s, n, d) = rank_one(buckets, missing, |c| c.inbound + c.outbound);
            (s, None, None, n, d)
        }
        BandwidthMethod::MaxInOut => {
            let ((inb, n_in, d_in), (outb, _, _)) = (inbound(), outbound());
            let best = match (inb, outb) {
                (Some(i), Some(o)) if o.0 > i.0 => Some(o),
                (Some(i), _) => Some(i),
                (None, o) => o,
            };
            (best, inb.map(|v| v.0), outb.map(|v| v.0), n_in, d_in)
        }
    };
    P95 { bytes: best.map_or(0, |b| b.0), in_bytes, out_bytes, n, discarded, bucket: best.map(|b| b.1), flags }
}

/// The service's 95th over `period`.
pub fn service_p95(
    ports: &[PortBuckets],
    period: &Interval,
    method: BandwidthMethod,
    pooling: Pooling,
    missing: MissingBuckets,
) -> P95 {
    match pooling {
        Pooling::Pooled => {
            let all: Vec<&PortBuckets> = ports.iter().collect();
            p95_of(&combine(&all, period), method, missing)
        }
        Pooling::PerPort => {
            let mut total = P95 {
                bytes: 0,
                in_bytes: None,
                out_bytes: None,
                n: 0,
                discarded: 0,
                bucket: None,
                flags: Flags::default(),
            };
            for p in ports {
                let one = p95_of(&combine(&[p], period), method, missing);
                total.bytes += one.bytes;
                total.n += one.n;
                total.discarded += one.discarded;
                total.flags.estimated += one.flags.estimated;
                total.flags.missing += one.flags.missing;
                total.flags.reset += one.flags.reset;
                total.flags.implausible += one.flags.implausible;
            }
            total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(bytes: u64) -> Slot {
        Slot::from(&Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() })
    }

    /// 20 buckets; port A bursts in at bucket 3 and out at bucket 7, port B at bucket 11 (in)
    /// and 15 (out); everything else is quiet. With n = 20, k = 19: the single highest value of
    /// each ranked series is discarded.
    fn crafted() -> (Vec<PortBuckets>, Interval) {
        let period = Interval::closed(Timestamp::from_nanos(0), Timestamp::from_nanos(20 * BUCKET_NS)).unwrap();
        let mk = |name: &str, in_burst: i64, out_burst: i64, base: u64| {
            let mut p = PortBuckets {
                port: name.into(),
                first: period.from,
                inbound: Vec::new(),
                outbound: Vec::new(),
                assigned: vec![period],
            };
            for b in 0..20 {
                p.inbound.push(full(if b == in_burst {
                    9_000
                } else if b == 2 {
                    base * 3
                } else {
                    base
                }));
                p.outbound.push(full(if b == out_burst {
                    7_000
                } else if b == 5 {
                    base * 2
                } else {
                    base
                }));
            }
            p
        };
        (vec![mk("A", 3, 7, 100), mk("B", 11, 15, 40)], period)
    }

    #[test]
    fn methods_and_pooling_differ_as_the_spec_says() {
        let (ports, period) = crafted();
        let ex = MissingBuckets::Exclude;
        let r = |m, p| service_p95(&ports, &period, m, p, ex).bytes;
        // Pooled in: quiet 140, bucket 2 = 420, bursts 9040 and 9100 -> discard the top one: 9040.
        assert_eq!(r(BandwidthMethod::In, Pooling::Pooled), 9_040);
        // Pooled out: quiet 140, bucket 5 = 280, bursts 7040 and 7100 -> 7040.
        assert_eq!(r(BandwidthMethod::Out, Pooling::Pooled), 7_040);
        assert_eq!(r(BandwidthMethod::MaxInOut, Pooling::Pooled), 9_040);
        // Sum: in+out of both ports per bucket: quiet 280; 2 -> 560; 5 -> 420; 3 -> 9180;
        // 7 -> 7180; 11 -> 9240; 15 -> 7240. Discard the top (9240): 9180, above max_in_out.
        assert_eq!(r(BandwidthMethod::Sum, Pooling::Pooled), 9_180);
        // Per port, max_in_out: A in = [100 x17, 300, 9000] -> 300; A out -> 200; so 300.
        // B in -> 120, B out -> 80 -> 120. Sum 420: far below pooled, since each port's burst is
        // discarded on its own.
        assert_eq!(r(BandwidthMethod::MaxInOut, Pooling::PerPort), 420);
        let pooled = service_p95(&ports, &period, BandwidthMethod::MaxInOut, Pooling::Pooled, ex);
        assert_eq!((pooled.n, pooled.discarded, pooled.bucket), (20, 1, Some(Timestamp::from_nanos(3 * BUCKET_NS))));
        assert_eq!((pooled.in_bytes, pooled.out_bytes), (Some(9_040), Some(7_040)));
        // 72,320 bits / 300 s / 10^6, to Decimal's 28 digits (rounded once, at the line amount).
        assert_eq!(mbps(pooled.bytes).to_string(), "0.0002410666666666666666666667");
    }

    #[test]
    fn missing_buckets_exclude_or_zero_and_assignment_by_bucket_start() {
        let (mut ports, period) = crafted();
        // Port B is only assigned from the start of bucket 10.
        ports[1].assigned = vec![Interval::new(Timestamp::from_nanos(10 * BUCKET_NS), None).unwrap()];
        // Port A has no data for buckets 0..4.
        for b in 0..4 {
            ports[0].inbound[b] = Slot::default();
            ports[0].outbound[b] = Slot::default();
        }
        let ex = service_p95(&ports, &period, BandwidthMethod::In, Pooling::Pooled, MissingBuckets::Exclude);
        assert_eq!((ex.n, ex.flags.missing), (16, 4));
        let zero = service_p95(&ports, &period, BandwidthMethod::In, Pooling::Pooled, MissingBuckets::Zero);
        assert_eq!((zero.n, zero.flags.missing), (20, 4));
        // n = 16, k = ceil(15.2) = 16: the maximum, B's burst at 11 plus A's 100.
        assert_eq!(ex.bytes, 9_100);
        // n = 20, k = 19: the second highest of [0 x4, 100 x6, 140 x9, 9100] is 140.
        assert_eq!(zero.bytes, 140);
    }

    /// The per-bucket definition, directly: for each period bucket start, the ports whose
    /// assignment holds it, their slots found by start.
    fn brute(ports: &[PortBuckets], period: &Interval) -> Vec<(Timestamp, u64, bool)> {
        let (first, n) = (first_bucket(period), bucket_count(period));
        let mut out = Vec::new();
        for i in 0..n {
            let start = first.plus_ns(i as i64 * BUCKET_NS);
            let held: Vec<&PortBuckets> =
                ports.iter().filter(|p| p.assigned.iter().any(|iv| iv.contains(start))).collect();
            if held.is_empty() {
                continue;
            }
            let mut bytes = 0;
            let mut data = false;
            for p in held {
                if start >= p.first {
                    let j = (start.nanos_since(p.first) / BUCKET_NS) as usize;
                    if let Some(sl) = p.inbound.get(j).filter(|sl| sl.has_data()) {
                        bytes += sl.bytes;
                        data = true;
                    }
                }
            }
            out.push((start, bytes, data));
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn combine_equals_the_definition(
            shape in proptest::collection::vec(
                (-5i64..5, proptest::collection::vec(proptest::option::of(0u64..1000), 0..30),
                 proptest::collection::vec((0i64..9_000, 1i64..6_000), 1..3)), 1..4),
            from_s in 0i64..600,
        ) {
            let period = Interval::closed(Timestamp::from_nanos(from_s * 1_000_000_000),
                Timestamp::from_nanos(from_s * 1_000_000_000 + 20 * BUCKET_NS)).unwrap();
            let ports: Vec<PortBuckets> = shape.into_iter().map(|(shift, slots, ivs)| PortBuckets {
                port: "p".into(),
                first: Timestamp::from_nanos(shift * BUCKET_NS),
                inbound: slots.into_iter().map(|v| v.map(full).unwrap_or_default()).collect(),
                outbound: Vec::new(),
                assigned: ivs.into_iter().map(|(a, len)| Interval::closed(
                    Timestamp::from_nanos(a * 1_000_000_000), Timestamp::from_nanos((a + len) * 1_000_000_000)).unwrap()).collect(),
            }).collect();
            let refs: Vec<&PortBuckets> = ports.iter().collect();
            let got: Vec<(Timestamp, u64, bool)> = combine(&refs, &period).into_iter().map(|(s, c)| (s, c.inbound, c.data)).collect();
            proptest::prop_assert_eq!(got, brute(&ports, &period));
        }
    }
}
