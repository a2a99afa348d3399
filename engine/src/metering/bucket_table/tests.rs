//! The materialised table equals a from-scratch computation over the stored samples, whatever the
//! order, lateness and duplication of the writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::clock::FixedClock;
use crate::metering::bucket::bucket_start;
use crate::store::reading::{VALUE_SCALE, Value};
use crate::store::{PendingReading, StoreConfig};
use crate::time::Timestamp;

const S: i64 = 1_000_000_000;
/// Readings sit a little before the fixed clock.
const BASE: i64 = 1_799_990_000;

fn classify() -> Arc<Classifier> {
    classify_polled(10 * S)
}

/// Port counters of a 1 Gbit/s port polled every `poll_ns`, by metric name.
pub(super) fn classify_polled(poll_ns: i64) -> Arc<Classifier> {
    Arc::new(move |k: &SeriesKey| {
        let direction = match &*k.metric {
            "in_octets" => Direction::In,
            "out_octets" => Direction::Out,
            _ => return None,
        };
        Some(PortMeta { direction, poll_ns, speed_bps: Some(1_000_000_000), width: CounterWidth::Bits64 })
    })
}

fn open(dir: &std::path::Path) -> Arc<Store> {
    let cfg = StoreConfig { checkpoint_interval: Duration::from_secs(3600), ..StoreConfig::default() };
    let (s, _) = Store::open(dir, cfg, Arc::new(FixedClock::new(Timestamp::from_secs(1_800_000_000)))).unwrap();
    Arc::new(s)
}

fn r(port: &str, metric: &str, ts_s: i64, v: u64, uptime: u64) -> PendingReading {
    PendingReading {
        key: SeriesKey { device: "sw1".into(), resource: port.into(), metric: metric.into() },
        ts: Timestamp::from_secs(BASE + ts_s),
        value: Value::from_u64(v),
        uptime_s: Some(uptime),
        discontinuity: None,
    }
}

/// The running month-to-date 95th the table must show: the nearest rank of the buckets with data
/// that ended by the last sample.
fn expected_mtd(samples: &BTreeMap<i64, (u64, u64)>) -> Option<crate::metering::percentile::Ranked<(u64, Timestamp)>> {
    let last = Timestamp::from_secs(BASE + samples.keys().last()?);
    let mut v: Vec<(u64, Timestamp)> = expected(samples)
        .into_iter()
        .filter(|(k, b)| *k < bucket_start(last) && b.has_data())
        .map(|(k, b)| (b.bytes, k))
        .collect();
    crate::metering::percentile::nearest_rank(&mut v, crate::metering::percentile::P95)
}

fn mtd(table: &BucketTable, direction: Direction) -> Option<crate::metering::percentile::Ranked<(u64, Timestamp)>> {
    table.month_to_date().into_iter().find(|r| r.direction == direction).and_then(|r| r.p95)
}

/// What the table must hold for one series: apportioned from its (last-write-wins) samples.
fn expected(samples: &BTreeMap<i64, (u64, u64)>) -> BucketMap {
    let s: Vec<CounterSample> = samples
        .iter()
        .map(|(ts, (v, up))| CounterSample {
            ts: Timestamp::from_secs(BASE + ts),
            value: *v,
            uptime_s: Some(*up),
            discontinuity: None,
        })
        .collect();
    apportion(&intervals(&s, CounterWidth::Bits64, Some(1_000_000_000)), 10 * S)
}

#[test]
fn in_order_late_and_rewritten_samples() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = Arc::new(BucketTable::new(classify()));
    table.build(&store).unwrap();
    store.observe(table.clone()).unwrap();
    let mut model = BTreeMap::new();
    for t in (0..900).step_by(10) {
        if t == 450 {
            continue; // arrives late
        }
        let v = t as u64 * 1_000;
        store.write(vec![r("p1", "in_octets", t, v, 1_000 + t as u64)]).unwrap();
        model.insert(t, (v, 1_000 + t as u64));
    }
    store.wait_observed(Duration::from_secs(10)).unwrap();
    assert!(!table.is_dirty());
    let (inb, _) = table.port("sw1", "p1", Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!(inb, expected(&model));
    // The running 95th follows in-order data. BASE is 200 s into a bucket; the last sample (880 s)
    // lies in the bucket from 700 s: three buckets have ended (from -200, 100 and 400 s).
    assert_eq!(mtd(&table, Direction::In), expected_mtd(&model));
    assert_eq!(mtd(&table, Direction::In).map(|r| r.n), Some(3));
    // The late sample, and a rewrite of an old one with a larger value.
    store.write(vec![r("p1", "in_octets", 450, 450_000, 1_450), r("p1", "in_octets", 200, 205_000, 1_200)]).unwrap();
    model.insert(450, (450_000, 1_450));
    model.insert(200, (205_000, 1_200));
    store.wait_observed(Duration::from_secs(10)).unwrap();
    assert!(table.is_dirty());
    assert_eq!(table.settle(&store).unwrap(), 1);
    let (inb, out) = table.port("sw1", "p1", Timestamp::MIN, Timestamp::MAX).unwrap();
    assert_eq!(inb, expected(&model));
    assert!(out.is_empty());
    assert_eq!(mtd(&table, Direction::In), expected_mtd(&model));
    // A fresh build from the store agrees.
    let again = BucketTable::new(classify());
    again.build(&store).unwrap();
    assert_eq!(again.port("sw1", "p1", Timestamp::MIN, Timestamp::MAX).unwrap().0, inb);
    // Buckets are epoch-aligned and the window is half-open on bucket starts.
    let first = *inb.keys().next().unwrap();
    assert_eq!(first.as_nanos() % BUCKET_NS, 0);
    assert_eq!(table.port("sw1", "p1", first, first.plus_ns(BUCKET_NS)).unwrap().0.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Random batches of in-order, late, duplicate and reset samples, with a checkpoint now and
    /// then: after settling, the table equals the from-scratch computation.
    #[test]
    fn table_equals_recomputation(
        batches in proptest::collection::vec(
            proptest::collection::vec((0i64..4_000, 0u64..3_000_000, any::<bool>()), 1..12), 1..25),
        checkpoint_at in 0usize..25,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let table = Arc::new(BucketTable::new(classify()));
        table.build(&store).unwrap();
        store.observe(table.clone()).unwrap();
        let mut model: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for (n, batch) in batches.iter().enumerate() {
            let mut w = Vec::new();
            for &(t, v, reboot) in batch {
                // Counters mostly grow with time; a "reboot" sample has a small uptime.
                let value = t as u64 * 700 + v % 1_000;
                let up = if reboot { (t % 7) as u64 } else { 10_000 + t as u64 };
                w.push(r("p1", "out_octets", t, value, up));
                model.insert(t, (value, up));
            }
            store.write(w).unwrap();
            if n == checkpoint_at {
                store.checkpoint().unwrap();
            }
            if n % 5 == 4 {
                table.settle(&store).unwrap();
            }
        }
        table.settle(&store).unwrap();
        prop_assert_eq!(table.port("sw1", "p1", Timestamp::MIN, Timestamp::MAX).unwrap().1, expected(&model));
        prop_assert_eq!(mtd(&table, Direction::Out), expected_mtd(&model));
        // The memory gauge follows every apply, rebuild and drop.
        prop_assert_eq!(table.metrics.bytes.load(std::sync::atomic::Ordering::Relaxed), held_bytes(&table));
    }
}

/// Bytes of the buckets the table's series hold, counted.
fn held_bytes(table: &BucketTable) -> i64 {
    table.read().series.values().map(|s| s.buckets.bytes() as i64).sum()
}

proptest! {
    /// The limb division equals 128-bit arithmetic: an integer that fits a u64, or nothing.
    #[test]
    fn unscaled_integers_match_128_bit_division(v in any::<i128>(), whole in any::<u64>(), exact: bool) {
        let unit = 10i128.pow(VALUE_SCALE);
        let expect = |x: i128| (x >= 0 && x % unit == 0).then(|| u64::try_from(x / unit).ok()).flatten();
        prop_assert_eq!(unscaled_integer(v), expect(v));
        let scaled = i128::from(whole) * unit + if exact { 0 } else { 1 };
        prop_assert_eq!(unscaled_integer(scaled), expect(scaled));
        prop_assert_eq!(unscaled_integer(i128::from(u64::MAX) * unit), Some(u64::MAX));
        prop_assert_eq!(unscaled_integer((i128::from(u64::MAX) + 1) * unit), None);
    }
}
