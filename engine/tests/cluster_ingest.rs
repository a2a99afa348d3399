//! A shard owner's ingest passes (#23) through the real parts: NATS JetStream as the log,
//! PostgreSQL for the lease and the segment list (both throwaway servers on loopback, stopped by
//! PID; skipped saying why where they cannot run, failing then when
//! COLOMETER_REQUIRE_FIXTURES=1), segments in a directory (`file://`; S3 is covered by
//! `object_segments.rs`). An owner crashes between writing a segment and committing it, and
//! comes back after another owner took the shard: every published reading is in the listed
//! segments exactly once, with its batch's sequence, and the crashed owner's late commit is
//! refused; the orphan it wrote is collected once old enough. A batch that does not decode is
//! kept as a dead letter and the shard goes on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use engine::catalog::PostgresCatalog;
use engine::catalog::postgres::lease::{LeaseError, LeaseKind};
use engine::cluster::batch;
use engine::cluster::gc::{ORPHAN_AGE, collect_orphans};
use engine::cluster::ingest::{IngestError, Pass};
use engine::store::PendingReading;
use engine::store::log::jetstream::JetStreamLog;
use engine::store::log::{LogSeq, ReadingLog, Shard, batch_key};
use engine::store::object::ObjectSegments;
use engine::store::reading::{SeriesKey, Value};
use engine::time::Timestamp;

const TTL: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(2);
const T0: i64 = 1_790_812_800;

/// One poll of a PDU outlet: its energy counter at `t0 + 10·i` seconds.
fn poll(device: &str, i: i64) -> Vec<PendingReading> {
    let key = SeriesKey { device: device.into(), resource: "1".into(), metric: "energy_wh".into() };
    vec![PendingReading {
        key,
        ts: Timestamp::from_secs(T0 + 10 * i),
        value: Value(i128::from(1_000 + i) * 1_000_000_000),
        uptime_s: Some(86_400 + 10 * i as u64),
        discontinuity: None,
    }]
}

#[test]
fn a_crashed_owner_loses_nothing_and_duplicates_nothing() {
    let Some(nats) = tests::nats::for_test("a_crashed_owner_loses_nothing_and_duplicates_nothing") else { return };
    let Some(pg) = tests::postgres::for_test("a_crashed_owner_loses_nothing_and_duplicates_nothing") else { return };
    let catalog = PostgresCatalog::connect(&pg.create_db("ingest").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let objects = ObjectSegments::open(&format!("file://{}/segments", dir.path().display()), None, None).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = rt.block_on(JetStreamLog::open(&[nats.url()], "READINGS", 1)).unwrap();
    let shard = Shard(5);
    let publish = |from: i64, to: i64| {
        for i in from..to {
            for device in ["pdu-a", "pdu-b"] {
                let key = batch_key(device, Timestamp::from_secs(T0 + 10 * i));
                rt.block_on(log.append(shard, &key, batch::encode(&poll(device, i)).unwrap())).unwrap();
            }
        }
    };
    // Six batches (sequences 1..6): the first owner ingests them in one pass.
    publish(0, 3);
    let shards = vec!["5".to_owned()];
    let i1 = catalog.claim_leases(LeaseKind::Shard, &shards, "i1", TTL, 1).unwrap().remove(0);
    let covered = catalog.shard_covered_seq("5").unwrap();
    let mut r1 = rt.block_on(log.reader(shard, LogSeq(covered + 1))).unwrap();
    let p1 = Pass { rt: rt.handle(), catalog: &catalog, objects: &objects, lease: &i1 };
    let first = p1.run(r1.as_mut(), 100, WAIT).unwrap().unwrap();
    assert_eq!((first.last, first.segment.rows), (LogSeq(6), 6));
    assert_eq!(first.segment.key, "shard-5/epoch-0000000001/00000000000000000001-00000000000000000006.parquet");
    assert_eq!(catalog.shard_covered_seq("5").unwrap(), 6);
    assert!(p1.run(r1.as_mut(), 100, Duration::from_millis(300)).unwrap().is_none(), "nothing new");

    // Four more (7..10): i1 writes its segment, then stalls before committing past its TTL.
    publish(3, 5);
    let orphan = p1.write(r1.as_mut(), 100, WAIT).unwrap().unwrap();
    assert_eq!(orphan.last, LogSeq(10));
    pg.psql_in("ingest", "UPDATE cluster_leases SET expires_ns = 0 WHERE holder = 'i1'").unwrap();

    // i2 takes the shard and replays from the covered sequence + 1.
    let i2 = catalog.claim_leases(LeaseKind::Shard, &shards, "i2", TTL, 1).unwrap().remove(0);
    let mut r2 = rt.block_on(log.reader(shard, LogSeq(catalog.shard_covered_seq("5").unwrap() + 1))).unwrap();
    let p2 = Pass { rt: rt.handle(), catalog: &catalog, objects: &objects, lease: &i2 };
    let second = p2.run(r2.as_mut(), 100, WAIT).unwrap().unwrap();
    assert_eq!((second.last, second.segment.rows), (LogSeq(10), 4));
    assert!(second.segment.key.starts_with("shard-5/epoch-0000000002/00000000000000000007-"));

    // i1 wakes up: its commit is refused; the segment list and the covered sequence stand.
    match p1.commit(r1.as_mut(), &orphan) {
        Err(IngestError::Lease(LeaseError::Fenced { .. })) => {}
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(catalog.shard_covered_seq("5").unwrap(), 10);
    let listed = catalog.shard_segments("5").unwrap();
    assert_eq!(listed, vec![first.segment.clone(), second.segment.clone()]);

    // Every published reading is in the listed segments exactly once, with its batch's sequence
    // (batches alternate pdu-a, pdu-b from sequence 1).
    let mut stored = Vec::new();
    for s in &listed {
        stored.extend(batch::read_segment(rt.block_on(objects.get(&s.key)).unwrap()).unwrap());
    }
    stored.sort_by_key(|(seq, _)| *seq);
    let mut expected = Vec::new();
    for i in 0..5 {
        for (k, device) in ["pdu-a", "pdu-b"].iter().enumerate() {
            expected.push((LogSeq(2 * i as u64 + k as u64 + 1), poll(device, i).remove(0)));
        }
    }
    assert_eq!(stored, expected);
    // The orphan exists but is listed nowhere: it is never read.
    assert!(dir.path().join("segments").join(&orphan.segment.key).exists());
    assert!(!listed.iter().any(|s| s.key == orphan.segment.key));
    // Collecting orphans: nothing younger than the age guard; then the orphan, and only it.
    let now = Timestamp::from_nanos(
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()).unwrap(),
    );
    assert_eq!(collect_orphans(rt.handle(), &catalog, &objects, "5", now, ORPHAN_AGE).unwrap(), 0);
    let later = now.plus_ns(2 * 3_600_000_000_000);
    assert_eq!(collect_orphans(rt.handle(), &catalog, &objects, "5", later, ORPHAN_AGE).unwrap(), 1);
    assert!(!dir.path().join("segments").join(&orphan.segment.key).exists());
    for s in &listed {
        assert!(dir.path().join("segments").join(&s.key).exists(), "{} kept", s.key);
    }
    assert_eq!(collect_orphans(rt.handle(), &catalog, &objects, "5", later, ORPHAN_AGE).unwrap(), 0);
}

#[test]
fn a_batch_that_does_not_decode_is_kept_as_a_dead_letter_and_the_shard_goes_on() {
    let test = "a_batch_that_does_not_decode_is_kept_as_a_dead_letter_and_the_shard_goes_on";
    let Some(nats) = tests::nats::for_test(test) else { return };
    let Some(pg) = tests::postgres::for_test(test) else { return };
    let catalog = PostgresCatalog::connect(&pg.create_db("dead").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let objects = ObjectSegments::open(&format!("file://{}/segments", dir.path().display()), None, None).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = rt.block_on(JetStreamLog::open(&[nats.url()], "READINGS", 1)).unwrap();
    let shard = Shard(2);
    let good = |i: i64| batch::encode(&poll("pdu-d", i)).unwrap();
    let garbage = bytes::Bytes::from_static(b"written by something else");
    for (key, payload) in [("a", good(0)), ("b", garbage.clone()), ("c", good(1))] {
        rt.block_on(log.append(shard, key, payload)).unwrap();
    }
    let lease = catalog.claim_leases(LeaseKind::Shard, &["2".to_owned()], "i1", TTL, 1).unwrap().remove(0);
    let mut reader = rt.block_on(log.reader(shard, LogSeq(1))).unwrap();
    let pass = Pass { rt: rt.handle(), catalog: &catalog, objects: &objects, lease: &lease };
    let written = pass.run(reader.as_mut(), 100, WAIT).unwrap().unwrap();
    // The good batches are stored, the bad one kept as logged, and the shard has moved past it.
    assert_eq!((written.segment.rows, written.last, written.dead.clone()), (2, LogSeq(3), vec![LogSeq(2)]));
    let kept = rt.block_on(objects.get("dead-letter/shard-2/00000000000000000002.batch")).unwrap();
    assert_eq!(kept, garbage);
    assert_eq!(catalog.shard_covered_seq("2").unwrap(), 3);
    let stored: Vec<PendingReading> = batch::read_segment(rt.block_on(objects.get(&written.segment.key)).unwrap())
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(stored, [poll("pdu-d", 0), poll("pdu-d", 1)].concat());
}

#[test]
fn a_logged_batch_and_a_segment_read_back_exactly() {
    let readings: Vec<PendingReading> = (0..3).flat_map(|i| poll("pdu-z", i)).collect();
    let bytes = batch::encode(&readings).unwrap();
    assert_eq!(batch::decode(&bytes).unwrap(), readings);
    assert!(batch::decode(b"not arrow").is_err());
    // Rows sort by series, time and sequence; the stats cover them.
    let (seg, stats) =
        batch::segment(&[(LogSeq(9), readings[2..].to_vec()), (LogSeq(4), readings[..2].to_vec())]).unwrap();
    assert_eq!((stats.rows, stats.min_ts, stats.max_ts), (3, Timestamp::from_secs(T0), Timestamp::from_secs(T0 + 20)));
    let back = batch::read_segment(seg).unwrap();
    assert_eq!(
        back,
        vec![(LogSeq(4), readings[0].clone()), (LogSeq(4), readings[1].clone()), (LogSeq(9), readings[2].clone())]
    );
}

/// Waits until every shard's covered sequence reaches `want` (shard → last sequence published).
fn wait_covered(catalog: &PostgresCatalog, want: &std::collections::BTreeMap<u32, u64>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now: Vec<u64> = want.keys().map(|s| catalog.shard_covered_seq(&s.to_string()).unwrap()).collect();
        if now == want.values().copied().collect::<Vec<_>>() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "covered {now:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_ingest_nodes_share_the_shards_and_a_fenced_one_loses_nothing() {
    use engine::cluster::node::{IngestSettings, run_ingest};
    use engine::store::log::shard_of;
    let test = "two_ingest_nodes_share_the_shards_and_a_fenced_one_loses_nothing";
    let Some(nats) = tests::nats::for_test(test) else { return };
    let Some(pg) = tests::postgres::for_test(test) else { return };
    let url = pg.create_db("nodes").unwrap();
    let (ca, cb, check) = (
        PostgresCatalog::connect(&url).unwrap(),
        PostgresCatalog::connect(&url).unwrap(),
        PostgresCatalog::connect(&url).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let objects = ObjectSegments::open(&format!("file://{}/segments", dir.path().display()), None, None).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = rt.block_on(JetStreamLog::open(&[nats.url()], "READINGS", 1)).unwrap();
    let devices: Vec<String> = (0..8).map(|i| format!("pdu-{i}")).collect();
    let mut published = Vec::new();
    let mut last = std::collections::BTreeMap::new();
    let mut publish = |round: std::ops::Range<i64>| {
        for i in round {
            for d in &devices {
                let shard = shard_of(d, 4);
                let batch = poll(d, i);
                let key = batch_key(d, Timestamp::from_secs(T0 + 10 * i));
                let seq = rt.block_on(log.append(shard, &key, batch::encode(&batch).unwrap())).unwrap().seq;
                last.insert(shard.get(), seq.get());
                published.push((seq, batch[0].clone()));
            }
        }
        last.clone()
    };
    let settings = |node: &str, max| IngestSettings {
        ttl: Duration::from_secs(2),
        renew_every: Duration::from_millis(200),
        wait: Duration::from_millis(100),
        ..IngestSettings::new(node, 4, max)
    };
    let (stop_a, stop_b) = (tokio_util::sync::CancellationToken::new(), tokio_util::sync::CancellationToken::new());
    let (sa, sb) = (settings("a", 2), settings("b", 4));
    let want = publish(0..5);
    let (stats_a, stats_b) = std::thread::scope(|s| {
        let a = s.spawn(|| run_ingest(rt.handle(), &ca, &log, &objects, &sa, &stop_a));
        // b starts once a holds its two shards, so the split is a's two and b's two.
        while check.live_leases(LeaseKind::Shard).unwrap().len() < 2 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let b = s.spawn(|| run_ingest(rt.handle(), &cb, &log, &objects, &sb, &stop_b));
        wait_covered(&check, &want);
        // a's two shards are taken from under it (another holder, the next epoch): its next
        // renewal is fenced and it drops them; when that holder's leases lapse, b (with room for
        // four) or a takes them back and replays from the covered sequence.
        pg.psql_in("nodes", "UPDATE cluster_leases SET holder = 'ghost', epoch = epoch + 1 WHERE holder = 'a'")
            .unwrap();
        let want = publish(5..10);
        pg.psql_in("nodes", "UPDATE cluster_leases SET expires_ns = 0 WHERE holder = 'ghost'").unwrap();
        wait_covered(&check, &want);
        stop_a.cancel();
        stop_b.cancel();
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(stats_a.lost >= 2, "{stats_a:?}");
    assert_eq!(stats_a.rows + stats_b.rows, 80, "{stats_a:?} {stats_b:?}");
    // Every published reading is in the listed segments exactly once, with its batch's sequence.
    let mut stored = Vec::new();
    for shard in 0..4 {
        for seg in check.shard_segments(&shard.to_string()).unwrap() {
            stored.extend(batch::read_segment(rt.block_on(objects.get(&seg.key)).unwrap()).unwrap());
        }
    }
    stored.sort_by_key(|(seq, _)| *seq);
    published.sort_by_key(|(seq, _)| *seq);
    assert_eq!(stored, published);
    assert_eq!(check.live_leases(LeaseKind::Shard).unwrap(), vec![], "released on shutdown");
}
