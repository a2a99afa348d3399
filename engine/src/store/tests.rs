//! Store behaviour: durability across reopen, last write wins, checkpoint, compaction, retention,
//! corruption reporting.

use std::sync::Arc;

use super::buffer::ScanFilter;
use super::reading::{SeriesKey, Value};
use super::*;
use crate::clock::FixedClock;

fn key(port: &str, metric: &str) -> SeriesKey {
    SeriesKey { device: "sw1".into(), resource: port.into(), metric: metric.into() }
}

/// Test readings sit a little before the fixed clock, well inside retention.
const BASE: i64 = 1_799_996_400;

/// `BASE + s` in nanoseconds.
fn t(s: i64) -> i64 {
    (BASE + s) * 1_000_000_000
}

fn r(port: &str, ts_s: i64, v: u64) -> PendingReading {
    PendingReading {
        key: key(port, "in_octets"),
        ts: Timestamp::from_secs(BASE + ts_s),
        value: Value::from_u64(v),
        uptime_s: Some(ts_s as u64),
        discontinuity: None,
    }
}

fn open(dir: &std::path::Path) -> (Store, Recovery) {
    let cfg = StoreConfig { checkpoint_interval: Duration::from_secs(3600), ..StoreConfig::default() };
    Store::open(dir, cfg, Arc::new(FixedClock::new(Timestamp::from_secs(1_800_000_000)))).unwrap()
}

fn all(store: &Store) -> Vec<(u32, i64, i128)> {
    let rows = store.scan(&ScanFilter::default()).unwrap();
    (0..rows.len()).map(|i| (rows.series[i], rows.ts[i], rows.value[i])).collect()
}

#[test]
fn acknowledged_writes_survive_reopen_and_rewrites_replace() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (s, rec) = open(dir.path());
        assert_eq!(rec, Recovery::default());
        s.write(vec![r("p1", 100, 5), r("p2", 100, 7)]).unwrap();
        s.write(vec![r("p1", 110, 9), r("p1", 100, 6)]).unwrap(); // rewrite of (p1, 100)
        assert_eq!(all(&s), vec![(0, t(100), 6_000_000_000), (0, t(110), 9_000_000_000), (1, t(100), 7_000_000_000)]);
    }
    let (s, rec) = open(dir.path());
    assert_eq!((rec.wal_files, rec.readings, rec.torn_tail_bytes), (1, 4, 0));
    assert_eq!(all(&s).len(), 3);
    assert_eq!(all(&s)[0], (0, t(100), 6_000_000_000));
    assert_eq!(s.registry().key(super::reading::SeriesId(1)), Some(key("p2", "in_octets")));
}

#[test]
fn checkpoint_moves_data_to_segments_and_truncates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (s, _) = open(dir.path());
        s.write(vec![r("p1", 100, 5), r("p1", 7300, 8)]).unwrap(); // two hourly partitions
        s.checkpoint().unwrap();
        assert_eq!(s.buffered_rows(), 0);
        assert_eq!(s.manifest().segments.len(), 2);
        s.write(vec![r("p1", 100, 50)]).unwrap(); // a late rewrite, now in the buffer
        assert_eq!(all(&s), vec![(0, t(100), 50_000_000_000), (0, t(7300), 8_000_000_000)]);
        s.checkpoint().unwrap();
        assert_eq!(s.manifest().segments.len(), 3);
        assert_eq!(all(&s)[0].2, 50_000_000_000);
    }
    let wal_files = wal::list(&dir.path().join("wal")).unwrap();
    assert_eq!(wal_files.len(), 1, "only the fresh WAL file remains: {wal_files:?}");
    let (s, rec) = open(dir.path());
    assert_eq!(rec.readings, 0);
    assert_eq!(all(&s), vec![(0, t(100), 50_000_000_000), (0, t(7300), 8_000_000_000)]);
    // Compaction merges the partition's two segments and keeps the latest value.
    let cfg = StoreConfig { compact_after_segments: 2, ..StoreConfig::default() };
    drop(s);
    let (s, _) = Store::open(dir.path(), cfg, Arc::new(FixedClock::new(Timestamp::from_secs(1_800_000_000)))).unwrap();
    s.maintain().unwrap();
    assert_eq!(s.manifest().segments.len(), 2);
    assert_eq!(s.metrics().compactions.load(Ordering::Relaxed), 1);
    assert_eq!(all(&s), vec![(0, t(100), 50_000_000_000), (0, t(7300), 8_000_000_000)]);
}

#[test]
fn a_cold_day_is_merged_into_day_segments_by_series_range() {
    let dir = tempfile::tempdir().unwrap();
    // At most 50 rows per merge: the day's 144 rows go in 3 series ranges of 2 ports each.
    let cfg = StoreConfig { max_buffered_rows: 50, ..StoreConfig::default() };
    let (s, _) = Store::open(dir.path(), cfg, Arc::new(FixedClock::new(Timestamp::from_secs(1_800_000_000)))).unwrap();
    // Three days before the clock's day: 6 ports x 24 hours, one hourly segment per hour.
    const DAY: i64 = -284_400; // 1_799_712_000 - BASE: a UTC midnight
    let mut day = Vec::new();
    for h in 0..24 {
        for p in 0..6 {
            day.push(r(&format!("p{p}"), DAY + h * 3600 + 60, (h * 10 + p) as u64));
        }
    }
    s.write(day).unwrap();
    s.write(vec![r("p0", 0, 1)]).unwrap(); // today: hot, left alone
    s.checkpoint().unwrap();
    assert_eq!(s.manifest().segments.len(), 25);
    let before = all(&s);
    s.maintain().unwrap();
    let m = s.manifest();
    let cold: Vec<(u32, u32, u64)> =
        m.segments.iter().filter(|x| x.cold).map(|x| (x.min_series, x.max_series, x.rows)).collect();
    assert_eq!(cold, [(0, 1, 48), (2, 3, 48), (4, 5, 48)]);
    assert!(m.segments.iter().filter(|x| x.cold).all(|x| x.partition == (BASE + DAY) * 1_000_000_000));
    assert_eq!(m.segments.len(), 4, "the hot segment stays as it was");
    assert_eq!(all(&s), before);
    s.maintain().unwrap();
    assert_eq!(s.metrics().compactions.load(Ordering::Relaxed), 1, "a merged day is not merged again");

    // A late rewrite into the cold day: merged in next time, and it wins.
    s.write(vec![r("p3", DAY + 5 * 3600 + 60, 999)]).unwrap();
    s.checkpoint().unwrap();
    s.maintain().unwrap();
    assert_eq!(s.metrics().compactions.load(Ordering::Relaxed), 2);
    let cold = s.manifest().segments.iter().filter(|x| x.cold).count();
    assert_eq!((cold, s.manifest().segments.len()), (3, 4));
    let late = all(&s).into_iter().find(|&(series, ts, _)| series == 3 && ts == t(DAY + 5 * 3600 + 60)).unwrap();
    assert_eq!(late.2, 999_000_000_000);
    assert_eq!(all(&s).len(), before.len());
}

#[test]
fn retention_drops_only_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::from_secs(1_800_000_000);
    let cfg = StoreConfig { retention: Duration::from_secs(86_400), ..StoreConfig::default() };
    let (s, _) = Store::open(dir.path(), cfg, Arc::new(FixedClock::new(now))).unwrap();
    s.write(vec![r("p1", -3 * 86_400, 1), r("p1", 0, 2)]).unwrap();
    s.checkpoint().unwrap();
    s.maintain().unwrap();
    assert_eq!(all(&s), vec![(0, t(0), 2_000_000_000)]);
    assert_eq!(s.metrics().retention_drops.load(Ordering::Relaxed), 1);
}

#[test]
fn a_corrupt_segment_is_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    s.write(vec![r("p1", 100, 5)]).unwrap();
    s.checkpoint().unwrap();
    drop(s);
    let seg = dir.path().join("segments").join(&Manifest::load(&dir.path().join("manifest")).unwrap().segments[0].file);
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&seg, bytes).unwrap();
    let (s, _) = open(dir.path());
    let err = s.scan(&ScanFilter::default()).unwrap_err();
    assert!(matches!(err, StoreError::Segment(SegmentError::Corrupt { .. })), "{err}");
    assert!(err.to_string().contains("is corrupt: "), "{err}");
    assert_eq!(s.metrics().corruptions.load(Ordering::Relaxed), 1);
}

#[test]
fn filters_prune_by_series_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    s.write((0..50).map(|i| r(&format!("p{i}"), 100 + i, i as u64)).collect()).unwrap();
    s.checkpoint().unwrap();
    s.write(vec![r("p3", 200, 99)]).unwrap();
    let f = ScanFilter {
        series: Some(Arc::new([3u32].into_iter().collect())),
        from: Some(Timestamp::from_nanos(t(100))),
        to: Some(Timestamp::from_nanos(t(250))),
    };
    let rows = s.scan(&f).unwrap();
    assert_eq!(rows.ts, vec![t(103), t(200)]);
    assert_eq!(rows.value, vec![3_000_000_000, 99_000_000_000]);
}

mod model {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// (port index, seconds after BASE, value)
        Write(Vec<(u8, i64, u64)>),
        Checkpoint,
        Maintain,
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Times on a 6-minute grid over 4 hourly partitions: rewrites (also within one
            // request) are frequent.
            6 => proptest::collection::vec((0u8..4, (0i64..40).prop_map(|t| t * 360), 0u64..1000), 1..20).prop_map(Op::Write),
            2 => Just(Op::Checkpoint),
            1 => Just(Op::Maintain),
            1 => Just(Op::Reopen),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the interleaving of writes, rewrites, checkpoints, compactions and reopens,
        /// the store holds exactly the last value written for each (series, ts).
        #[test]
        fn the_store_equals_a_map_of_last_writes(ops in proptest::collection::vec(op(), 1..25)) {
            let dir = tempfile::tempdir().unwrap();
            let cfg = || StoreConfig { compact_after_segments: 2, checkpoint_interval: Duration::from_secs(3600), ..StoreConfig::default() };
            let clock = Arc::new(FixedClock::new(Timestamp::from_secs(1_800_000_000)));
            let mut store = Some(Store::open(dir.path(), cfg(), clock.clone()).unwrap().0);
            let mut model: BTreeMap<(String, i64), u64> = BTreeMap::new();
            for op in ops {
                let s = store.as_ref().unwrap();
                match op {
                    Op::Write(rows) => {
                        // Within one request the last occurrence wins too.
                        s.write(rows.iter().map(|(p, t, v)| r(&format!("p{p}"), *t, *v)).collect()).unwrap();
                        for (p, t, v) in rows {
                            model.insert((format!("p{p}"), t), v);
                        }
                    }
                    Op::Checkpoint => s.checkpoint().unwrap(),
                    Op::Maintain => s.maintain().unwrap(),
                    Op::Reopen => {
                        drop(store.take());
                        store = Some(Store::open(dir.path(), cfg(), clock.clone()).unwrap().0);
                    }
                }
            }
            let s = store.as_ref().unwrap();
            let rows = s.scan(&ScanFilter::default()).unwrap();
            let got: BTreeMap<(String, i64), u64> = (0..rows.len())
                .map(|i| {
                    let key = s.registry().key(super::super::reading::SeriesId(rows.series[i])).unwrap();
                    ((key.resource.to_string(), rows.ts[i] / 1_000_000_000 - BASE), (rows.value[i] / 1_000_000_000) as u64)
                })
                .collect();
            prop_assert_eq!(rows.len(), got.len());
            prop_assert_eq!(got, model);
        }
    }
}

#[test]
fn a_one_series_query_reads_only_its_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    // 2,000 ports x 60 samples in one partition: 120,000 rows, several row groups.
    for t in 0..60 {
        s.write((0..2000).map(|p| r(&format!("p{p:04}"), t * 10, (t * 2000 + p) as u64)).collect()).unwrap();
    }
    s.checkpoint().unwrap();
    let seg = s.manifest().segments[0].clone();
    assert!(seg.row_groups.len() >= 7, "{} row groups", seg.row_groups.len());
    let before = s.shared.reader.verified_bytes.load(Ordering::Relaxed);
    let id = s.registry().get(&key("p0777", "in_octets")).unwrap().0;
    let rows =
        s.scan(&ScanFilter { series: Some(Arc::new([id].into_iter().collect())), from: None, to: None }).unwrap();
    assert_eq!(rows.len(), 60);
    assert_eq!(rows.value[59], (59 * 2000 + 777) as i128 * 1_000_000_000);
    let read = s.shared.reader.verified_bytes.load(Ordering::Relaxed) - before;
    assert!(read * 4 < seg.bytes, "read {read} of {} bytes", seg.bytes);
    // A flipped byte in a row group the query does not touch does not fail it; one it touches does.
    drop(s);
    let path = dir.path().join("segments").join(&seg.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = seg.row_groups.last().unwrap();
    bytes[(last.offset + last.len / 2) as usize] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    let (s, _) = open(dir.path());
    assert_eq!(
        s.scan(&ScanFilter { series: Some(Arc::new([id].into_iter().collect())), from: None, to: None }).unwrap().len(),
        60
    );
    let err = s.scan(&ScanFilter::default()).unwrap_err().to_string();
    assert!(err.contains(&format!("row group {} has CRC-32", seg.row_groups.len() - 1)), "{err}");
}

#[test]
fn small_scans_reuse_decoded_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    s.write((0..100).map(|p| r(&format!("p{p}"), 100, p)).collect()).unwrap();
    s.checkpoint().unwrap();
    let one = ScanFilter { series: Some(Arc::new([7u32].into_iter().collect())), from: None, to: None };
    let first = s.scan(&one).unwrap();
    assert_eq!((first.len(), first.value[0]), (1, 7_000_000_000));
    let read = s.segment_read_bytes();
    let again = s.scan(&one).unwrap();
    assert_eq!((again.len(), again.value[0]), (1, 7_000_000_000));
    assert_eq!(s.segment_read_bytes(), read, "the second small scan decoded nothing");
    assert_eq!(s.scan(&ScanFilter::default()).unwrap().len(), 100);
    assert!(s.segment_read_bytes() > read, "a large scan reads (and verifies) its row groups");
}
