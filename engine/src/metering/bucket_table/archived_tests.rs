//! A table with an archive shows exactly what an all-in-memory table built from the same raw
//! readings shows, for every month, through late data, month closes, restarts and a crash
//! before a rewritten month reached the archive; and its buckets outlive raw retention.

use std::sync::Arc;
use std::time::Duration;

use super::archiving::add_months;
use super::*;
use crate::clock::FixedClock;
use crate::store::reading::Value;
use crate::store::{PendingReading, StoreConfig};
use crate::time::Timestamp;

const S: i64 = 1_000_000_000;
const POLL_S: i64 = 300;
/// 2026-08-15T00:00:00Z.
const AUG_15: i64 = 1_786_752_000;
/// 2026-09-01, 2026-10-01, 2026-11-01, 2026-12-01 (ns).
const SEP: Timestamp = Timestamp::from_secs(1_788_220_800);
const OCT: Timestamp = Timestamp::from_secs(1_790_812_800);
const NOV: Timestamp = Timestamp::from_secs(1_793_491_200);
const DEC: Timestamp = Timestamp::from_secs(1_796_083_200);
/// 2026-12-10T00:00:00Z.
const DEC_10: i64 = 1_796_860_800;

fn classify() -> Arc<Classifier> {
    super::tests::classify_polled(POLL_S * S)
}

fn open(dir: &std::path::Path, clock: &Arc<FixedClock>, retention_days: u64) -> Arc<Store> {
    let cfg = StoreConfig {
        checkpoint_interval: Duration::from_secs(3600),
        retention: Duration::from_secs(retention_days * 86_400),
        ..StoreConfig::default()
    };
    Arc::new(Store::open(dir, cfg, Arc::clone(clock) as _).unwrap().0)
}

fn reading(port: &str, metric: &str, ts_s: i64, v: u64) -> PendingReading {
    PendingReading {
        key: SeriesKey { device: "sw1".into(), resource: port.into(), metric: metric.into() },
        ts: Timestamp::from_secs(ts_s),
        value: Value::from_u64(v),
        uptime_s: None,
        discontinuity: None,
    }
}

/// p1 in and out every 5 minutes from Aug 15 to Dec 10, silent from Oct 30 to Nov 2 (a gap
/// spread over the month edge) and reset on Oct 10; p2 in until Sep 20 only; p3 in from Nov 5
/// only (nothing in the archived months).
fn history() -> (Vec<PendingReading>, u64) {
    let mut out = Vec::new();
    let (mut v_in, mut v_out, mut v2, mut v3) = (0u64, 0u64, 0u64, 0u64);
    let mut t = AUG_15;
    let mut i: u64 = 0;
    while t < DEC_10 {
        i += 1;
        let silent = (1_793_318_400..1_793_577_600).contains(&t); // Oct 30 .. Nov 2
        if !silent {
            v_in += 1_000_000 + (i * 7_919) % 500_000;
            v_out += 2_000_000 + (i * 104_729) % 900_000;
            if t == 1_791_590_400 {
                v_in = 12_345; // Oct 10: the counter restarts
            }
            out.push(reading("p1", "in_octets", t, v_in));
            out.push(reading("p1", "out_octets", t, v_out));
        }
        if t >= 1_793_836_800 {
            v3 += 50_000 + (i * 13) % 900;
            out.push(reading("p3", "in_octets", t, v3));
        }
        if t < 1_789_862_400 {
            v2 += 300_000 + (i * 31) % 7_000;
            out.push(reading("p2", "in_octets", t, v2));
        }
        t += POLL_S;
    }
    (out, v_in)
}

/// Everything an all-in-memory table built now from the raw readings shows.
fn reference(store: &Store) -> (BucketMap, BucketMap, BucketMap, BucketMap) {
    let t = BucketTable::new(classify());
    t.build(store).unwrap();
    shown(&t)
}

fn shown(t: &BucketTable) -> (BucketMap, BucketMap, BucketMap, BucketMap) {
    let (i, o) = t.port("sw1", "p1", Timestamp::MIN, Timestamp::MAX).unwrap();
    let p2 = t.port("sw1", "p2", Timestamp::MIN, Timestamp::MAX).unwrap().0;
    (i, o, p2, t.port("sw1", "p3", Timestamp::MIN, Timestamp::MAX).unwrap().0)
}

fn archived(dir: &std::path::Path) -> BucketTable {
    let archive = Arc::new(BucketArchive::open(&dir.join("buckets"), 1 << 20).unwrap());
    BucketTable::archived(classify(), archive, 2)
}

fn chunks_in_memory(t: &BucketTable) -> usize {
    t.read().series.values().map(|s| s.buckets.chunk_count()).sum()
}

#[test]
fn archived_months_read_back_exactly_through_late_data_closes_restarts_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(Timestamp::from_secs(DEC_10)));
    let store = open(dir.path(), &clock, 400);
    let (readings, last_in) = history();
    store.write(readings).unwrap();
    store.checkpoint().unwrap();
    let want = reference(&store);
    assert!(want.0.range(SEP..OCT).count() > 8_000, "September is there to archive");

    // Built: August to October archived, November and December in memory.
    let table = Arc::new(archived(dir.path()));
    table.build(&store).unwrap();
    let months: Vec<Timestamp> = table.archive().unwrap().months().into_keys().collect();
    assert_eq!(months, vec![add_months(SEP, -1), SEP, OCT]);
    assert_eq!(table.open_from(), NOV);
    assert_eq!(shown(&table), want);
    let held = chunks_in_memory(&table);
    let bytes: usize = table.read().series.values().map(|s| s.buckets.bytes()).sum();
    assert_eq!(table.metrics.bytes.load(Ordering::Relaxed), i64::try_from(bytes).unwrap());
    // p1 in and out from Nov 1 to Dec 10 (39 days of 8 chunks), p3 from Nov 5 (35 days),
    // nothing of p2.
    assert_eq!(held, 2 * 39 * 8 + 35 * 8);
    let rows = table.rows(SEP, NOV).unwrap();
    assert_eq!(
        rows.len(),
        want.0.range(SEP..NOV).count() + want.1.range(SEP..NOV).count() + want.2.range(SEP..NOV).count()
    );
    let dense = table.port_dense("sw1", "p1", OCT.minus_ns(10 * BUCKET_NS), 20).unwrap().0;
    let expect: Vec<u64> = (0..20)
        .map(|k| want.0.get(&OCT.plus_ns((k - 10) * BUCKET_NS)).map_or(0, |b| if b.has_data() { b.bytes } else { 0 }))
        .collect();
    assert_eq!(dense.iter().map(|s| if s.has_data() { s.bytes } else { 0 }).collect::<Vec<_>>(), expect);

    // A late rewrite in September and an in-order sample: seen at once, exactly.
    store.observe(Arc::clone(&table) as _).unwrap();
    store.write(vec![reading("p1", "in_octets", 1_788_998_400, 20_000_000_000)]).unwrap(); // Sep 10
    store.write(vec![reading("p1", "in_octets", DEC_10 + POLL_S, last_in + 5_000_000)]).unwrap();
    table.settle(&store).unwrap();
    let want = reference(&store);
    assert_eq!(shown(&table), want);
    assert_eq!(table.read().pending.keys().copied().collect::<Vec<_>>(), vec![SEP]);
    assert_eq!(table.archive_closed(&store).unwrap(), 1, "September rewritten");
    assert!(table.read().pending.is_empty());
    assert_eq!(chunks_in_memory(&table), held + 1, "the in-order sample opened a chunk");
    assert_eq!(shown(&table), want);

    // January: November closes and leaves memory.
    clock.set(Timestamp::from_secs(DEC_10 + 26 * 86_400));
    assert_eq!(table.archive_closed(&store).unwrap(), 1);
    assert_eq!(table.open_from(), DEC);
    assert_eq!(chunks_in_memory(&table), 9 * 8 * 3 + 1);
    assert_eq!(shown(&table), want);

    // A late reading in October, then a crash before any pass: the restart mends October.
    store.write(vec![reading("p1", "out_octets", 1_791_849_600, 1)]).unwrap(); // Oct 13: a reset
    store.close();
    drop(store);
    let store = open(dir.path(), &clock, 400);
    let want = reference(&store);
    let table = archived(dir.path());
    table.build(&store).unwrap();
    assert_eq!(shown(&table), want);
    let again = archived(dir.path());
    again.build(&store).unwrap();
    assert_eq!(shown(&again), want, "a second restart finds nothing to mend and the same figures");

    // Raw retention of 60 days drops August to October; their buckets stay.
    store.checkpoint().unwrap();
    store.close();
    drop(store);
    let store = open(dir.path(), &clock, 60);
    store.maintain().unwrap();
    assert!(store.earliest_ts().unwrap() >= NOV.minus_ns(86_400 * S), "raw readings before November are gone");
    let table = archived(dir.path());
    table.build(&store).unwrap();
    assert_eq!(shown(&table), want);
}
