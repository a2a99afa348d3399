use super::*;
use crate::metering::bucket::BUCKET_NS;
use crate::metering::bucket_chunks::CHUNK_BYTES;
use crate::store::CommitSeq;

/// 2026-10-01T00:00:00Z.
const OCT: Timestamp = Timestamp::from_secs(1_790_812_800);

fn series(id: u32, port: &str, n: i64, bytes: u64) -> ArchivedSeries {
    let mut buckets = BucketChunks::default();
    for i in 0..n {
        let b = Bucket { bytes: bytes + i as u64, covered_ns: BUCKET_NS, gap_ns: 0, reset: i == 3, implausible: false };
        buckets.set(OCT.plus_ns(i * BUCKET_NS), b);
    }
    ArchivedSeries { id, device: "sw1".into(), port: port.into(), direction: Direction::In, buckets }
}

#[test]
fn months_are_written_read_back_exactly_and_rewritten_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let a = BucketArchive::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(month_label(OCT), "2026-10");
    let (s1, s2) = (series(1, "xe-1", 8_640, 1_000), series(2, "xe-2", 100, 7));
    a.write_month(OCT, CommitSeq(42), vec![s1.clone(), s2.clone()]).unwrap();
    assert_eq!(a.months(), BTreeMap::from([(OCT, CommitSeq(42))]));
    let got = a.load(OCT, &[2, 9]).unwrap();
    assert_eq!(got.len(), 1, "series 9 is not archived");
    assert_eq!(*got[&2], s2.buckets);
    assert_eq!(a.read_month(OCT).unwrap(), vec![s1.clone(), s2.clone()]);

    // Replacing one series keeps the other; the old file goes, the cache forgets it.
    let s2b = series(2, "xe-2", 50, 9);
    a.write_month(OCT, CommitSeq(43), vec![s2b.clone()]).unwrap();
    assert_eq!(*a.load(OCT, &[2]).unwrap()[&2], s2b.buckets);
    assert_eq!(*a.load(OCT, &[1]).unwrap()[&1], s1.buckets);
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(files, vec!["2026-10.000001.parquet".to_owned()]);

    // Reopened: the same figures; an orphan left by a crash is removed.
    drop(a);
    std::fs::write(dir.path().join("2026-11.000009.parquet"), b"half").unwrap();
    let a = BucketArchive::open(dir.path(), 1 << 20).unwrap();
    assert!(!dir.path().join("2026-11.000009.parquet").exists());
    assert_eq!(a.months(), BTreeMap::from([(OCT, CommitSeq(43))]));
    assert_eq!(a.read_month(OCT).unwrap(), vec![s1, s2b]);
}

#[test]
fn a_flipped_byte_is_reported_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let a = BucketArchive::open(dir.path(), 1 << 20).unwrap();
    a.write_month(OCT, CommitSeq(1), vec![series(1, "xe-1", 2_000, 5)]).unwrap();
    drop(a);
    let path = dir.path().join("2026-10.000000.parquet");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let a = BucketArchive::open(dir.path(), 1 << 20).unwrap();
    let e = a.load(OCT, &[1]).unwrap_err();
    assert!(matches!(e, ArchiveError::Corrupt { ref what, .. } if what == "row group 0"), "{e}");
}

#[test]
fn the_cache_stays_within_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // Room for one series of 8,640 buckets (240 chunks) and not two.
    let limit = 300 * CHUNK_BYTES;
    let a = BucketArchive::open(dir.path(), limit).unwrap();
    a.write_month(OCT, CommitSeq(1), vec![series(1, "xe-1", 8_640, 1), series(2, "xe-2", 8_640, 2)]).unwrap();
    a.load(OCT, &[1]).unwrap();
    assert_eq!(a.cache_bytes(), ENTRY_BYTES + 240 * CHUNK_BYTES);
    let decoded = a.decoded_row_groups.load(Ordering::Relaxed);
    a.load(OCT, &[1]).unwrap();
    assert_eq!(a.decoded_row_groups.load(Ordering::Relaxed), decoded, "answered from the cache");
    a.load(OCT, &[2]).unwrap();
    assert!(a.cache_bytes() <= limit);
}
