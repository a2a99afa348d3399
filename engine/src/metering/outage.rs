//! Outages at the asset level, for SLA credits. An outlet is *dark* while its power is zero or
//! while nothing is known of it (no readings) for longer than the plan's threshold; an asset is
//! down while every outlet feeding it is dark (A+B feeds: one feed down is no outage); a service
//! is down while any of its assets (or an outlet serving no declared asset) is down.
//!
//! Readings where the spec is silent, as an auditor would take them:
//! - Zero power is read from the energy actually delivered: consecutive sample intervals with no
//!   energy (counter flat, or power samples at 0 W).
//! - "Unreachable beyond a threshold" is a stretch between two readings that is a gap
//!   (metering.md §5: longer than 3 poll intervals) and longer than the threshold, or a stretch
//!   of the assignment with no readings at all. A counter-reset interval of normal length is
//!   unknown energy, not an outage.
//! - Only outages longer than the threshold count, whole, after clipping to the assignment.
//! - A port is *down* from a report of ifOperStatus other than up(1) (`oper_status` readings) to
//!   the port's next report, or to the end of its assignment when none follows; a port never
//!   reported down is up, whatever its counters' gaps (a switch whose management plane does
//!   not answer SNMP may still forward traffic, so silence alone is no port outage). An asset
//!   is down while every port connecting it is down (redundant uplinks: one down is no outage).

use crate::metering::energy::Energy;
use crate::time::{Interval, Timestamp};

use super::meter::merge;

fn closed(a: Timestamp, b: Timestamp) -> Option<Interval> {
    Interval::closed(a, b).ok()
}

/// The stretches of `assigned` (sorted, merged, closed) in which an outlet polled every
/// `poll_ns` was dark for longer than `threshold_ns`.
pub fn dark(e: &Energy, assigned: &[Interval], threshold_ns: i64, poll_ns: i64) -> Vec<Interval> {
    let silence_ns = threshold_ns.max(poll_ns.saturating_mul(3));
    let mut spans: Vec<(Timestamp, Timestamp, bool)> = e
        .pieces
        .iter()
        .map(|p| (p.from, p.to, p.wh.is_zero()))
        .chain(e.holes.iter().map(|h| (h.from, h.to, false)))
        .collect();
    spans.sort_unstable_by_key(|s| (s.0, s.1));
    let mut found = Vec::new();
    // Zero-energy stretches (adjacent intervals merged), and any one interval that is a gap
    // longer than the threshold (nothing heard in between).
    let mut zero: Option<(Timestamp, Timestamp)> = None;
    for &(from, to, is_zero) in &spans {
        if to.nanos_since(from) > silence_ns {
            found.extend(closed(from, to));
        }
        zero = match (zero, is_zero) {
            (Some((a, b)), true) if from <= b => Some((a, b.max(to))),
            (Some((a, b)), _) => {
                found.extend(closed(a, b));
                is_zero.then_some((from, to))
            }
            (None, true) => Some((from, to)),
            (None, false) => None,
        };
    }
    if let Some((a, b)) = zero {
        found.extend(closed(a, b));
    }
    // Stretches of each assignment no reading covers at all.
    for iv in assigned {
        let (start, end) = (iv.from, iv.end());
        let mut cursor = start;
        for &(from, to, _) in &spans {
            if to <= cursor || from >= end {
                continue;
            }
            if from > cursor {
                found.extend(closed(cursor, from));
            }
            cursor = cursor.max(to);
        }
        if cursor < end {
            found.extend(closed(cursor, end));
        }
    }
    let clipped = merge(found).into_iter().flat_map(|d| assigned.iter().filter_map(move |a| d.intersect(a))).collect();
    merge(clipped).into_iter().filter(|d| length(d) > i128::from(threshold_ns)).collect()
}

/// The IF-MIB ifOperStatus value `up`.
pub const OPER_UP: u64 = 1;

/// The stretches of `assigned` (sorted, merged, closed) a port was reported down for longer than
/// `threshold_ns`; `reports` are `(ts, ifOperStatus)`, sorted by time.
pub fn port_down(reports: &[(Timestamp, u64)], assigned: &[Interval], threshold_ns: i64) -> Vec<Interval> {
    let end = assigned.iter().map(|a| a.end()).max().unwrap_or(Timestamp::MIN);
    let mut found = Vec::new();
    for (i, &(ts, status)) in reports.iter().enumerate() {
        if status != OPER_UP {
            let until = reports.get(i + 1).map_or(end, |next| next.0);
            found.extend(closed(ts, until));
        }
    }
    let clipped = merge(found).into_iter().flat_map(|d| assigned.iter().filter_map(move |a| d.intersect(a))).collect();
    merge(clipped).into_iter().filter(|d| length(d) > i128::from(threshold_ns)).collect()
}

fn length(iv: &Interval) -> i128 {
    i128::from(iv.end().as_nanos()) - i128::from(iv.from.as_nanos())
}

/// Where two sorted, merged interval lists overlap.
pub fn intersect(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if let Some(x) = a[i].intersect(&b[j]) {
            out.push(x);
        }
        if a[i].end() < b[j].end() {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::energy::{Hole, HoleReason, Piece, Source};
    use rust_decimal::Decimal;

    const M: i64 = 60_000_000_000;

    fn min(m: i64) -> Timestamp {
        Timestamp::from_nanos(m * M)
    }

    fn piece(a: i64, b: i64, wh: i64) -> Piece {
        Piece { from: min(a), to: min(b), wh: Decimal::from(wh), source: Source::Counter }
    }

    fn iv(a: i64, b: i64) -> Interval {
        closed(min(a), min(b)).unwrap()
    }

    #[test]
    fn zero_power_unreachable_and_unheard() {
        // 5-minute polls over [0, 120): zero from 20 to 40 (20 min), a 30-minute silence from 60
        // to 90, a normal-length reset hole 90-95, nothing heard after 110.
        let mut pieces: Vec<Piece> = (0..4).map(|k| piece(k * 5, k * 5 + 5, 10)).collect();
        pieces.extend((4..8).map(|k| piece(k * 5, k * 5 + 5, 0)));
        pieces.extend((8..12).map(|k| piece(k * 5, k * 5 + 5, 10)));
        pieces.push(piece(60, 90, 50));
        pieces.extend((19..22).map(|k| piece(k * 5, k * 5 + 5, 10)));
        let holes = vec![Hole { from: min(90), to: min(95), reason: HoleReason::Reset }];
        let e = Energy { pieces, holes };
        let d = dark(&e, &[iv(0, 120)], 5 * M, 5 * M);
        assert_eq!(d, [iv(20, 40), iv(60, 90), iv(110, 120)]);
        // A threshold of 20 minutes keeps only what is longer than it.
        assert_eq!(dark(&e, &[iv(0, 120)], 20 * M, 5 * M), [iv(60, 90)]);
        // Clipped to the assignment first; a threshold below the poll interval does not make
        // every poll an outage (silence counts from 3 polls).
        assert_eq!(dark(&e, &[iv(30, 50)], 4 * M, 5 * M), [iv(30, 40)]);
        // Polled every 15 minutes, the 30-minute silence is not a gap (45 minutes would be).
        assert_eq!(dark(&e, &[iv(50, 100)], 5 * M, 15 * M), []);
        // A port reported down (2) from 10 to 40, then up; down again from 100 to the end.
        let reports = [(min(0), 1), (min(10), 2), (min(25), 2), (min(40), 1), (min(100), 7)];
        assert_eq!(port_down(&reports, &[iv(0, 120)], 5 * M), [iv(10, 40), iv(100, 120)]);
        assert_eq!(port_down(&reports, &[iv(0, 110)], 15 * M), [iv(10, 40)], "10 minutes is under the threshold");
        assert_eq!(port_down(&reports, &[iv(30, 60)], 5 * M), [iv(30, 40)], "clipped to the assignment");
        assert_eq!(port_down(&[(min(0), 1)], &[iv(0, 120)], 5 * M), [], "up, then silence: no outage");
        // Two feeds of one asset: down only while both are dark.
        assert_eq!(intersect(&[iv(0, 30), iv(50, 70)], &[iv(20, 60)]), [iv(20, 30), iv(50, 60)]);
    }
}
