//! The archive of closed months' 5-minute buckets (metering.md §3): one Parquet file per UTC
//! month holding every port counter series' buckets of that month, kept forever (raw retention
//! never touches it), so the bucket table holds only the open months in memory and a restart
//! reads no raw readings of closed months.
//!
//! - Files are `buckets/YYYY-MM.NNNNNN.parquet`, sorted by series and bucket start, zstd, with
//!   statistics; self-describing (device, port, direction, start as a UTC timestamp), so an
//!   auditor can read them with any Parquet tool.
//! - `buckets/index` (checksummed, replaced atomically) names each month's file with a CRC-32 of
//!   its footer and of every row group, and the commit sequence number the month's buckets
//!   cover: a reading committed after it in that month is what a restart rebuilds.
//! - A month is rewritten whole (a new file, then the index, then the old file goes): readers
//!   open the file named by the index under the index lock, so they never see a half-written
//!   month or a missing file.
//! - Reads verify the footer and every row group they decode, and keep decoded series in a cache
//!   bounded in bytes; corrupt bytes are reported, never returned as data.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;

use super::bucket::Bucket;
use super::bucket_chunks::BucketChunks;
use super::bucket_table::Direction;
use crate::store::CommitSeq;
use crate::store::file::{FileError, read_checked, sync_dir, write_atomically};
use crate::store::segment::{CrcWriter, RangeCheck, SegmentError, range_checks};
use crate::time::Timestamp;

/// Rows per row group: about two series-months, so one port's month decodes little beyond it.
const ROW_GROUP_ROWS: usize = 16 * 1024;

/// How much of the bucket table memory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// UTC months held in memory: the current one and the `open_months - 1` before it (at
    /// least 1). Memory is about 18 KB per port and day of them.
    pub open_months: u32,
    /// Decoded archived buckets kept for reads of closed months, bytes.
    pub cache_bytes: usize,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self { open_months: 2, cache_bytes: 64 << 20 }
    }
}

/// One series' buckets of a month, with the names that identify it outside this store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedSeries {
    /// Series ID in the store's registry.
    pub id: u32,
    /// Switch.
    pub device: Arc<str>,
    /// Port ifName.
    pub port: Arc<str>,
    /// Direction.
    pub direction: Direction,
    /// Its buckets in the month.
    pub buckets: BucketChunks,
}

/// Why the archive cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// I/O on a month file.
    #[error("bucket archive {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Parquet encoding or decoding.
    #[error("bucket archive {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: parquet::errors::ParquetError,
    },
    /// A month file's columns are not what this version writes.
    #[error("bucket archive {path}: {message}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Bytes of a month file do not match their checksum.
    #[error("bucket archive {path} is corrupt: {what} has CRC-32 {found:08x}, the index says {expected:08x}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which part.
        what: String,
        /// Computed.
        found: u32,
        /// Recorded.
        expected: u32,
    },
    /// The index file failed its checks.
    #[error("bucket archive index: {0}")]
    Index(#[from] FileError),
    /// The index is not an index.
    #[error("bucket archive index is malformed: {0}")]
    Malformed(String),
    /// Computing a new file's checksums failed.
    #[error(transparent)]
    Checks(#[from] SegmentError),
}

/// What the index records of a month.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct MonthFile {
    file: String,
    /// Every reading committed up to this sequence number is in the month's buckets.
    covered_seq: CommitSeq,
    rows: u64,
    bytes: u64,
    footer: RangeCheck,
    row_groups: Vec<RangeCheck>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Index {
    version: u32,
    next_file: u64,
    /// By month start, ns: the stored index's keys stay integers (the on-disk format), the
    /// archive's methods take and give [`Timestamp`]s.
    months: BTreeMap<i64, MonthFile>,
}

/// Decoded series by `(file, series)`, oldest out first, within a byte bound.
#[derive(Debug, Default)]
struct SeriesCache {
    map: HashMap<(String, u32), Arc<BucketChunks>>,
    order: VecDeque<(String, u32)>,
    bytes: usize,
}

/// What an absent series costs in the cache (its key), bytes.
const ENTRY_BYTES: usize = 64;

fn cost(c: &BucketChunks) -> usize {
    ENTRY_BYTES + c.bytes()
}

impl SeriesCache {
    fn put(&mut self, key: (String, u32), value: Arc<BucketChunks>, limit: usize) {
        let size = cost(&value);
        if size > limit || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > limit {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= cost(&v);
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.map.insert(key, value);
    }

    fn forget_file(&mut self, file: &str) {
        self.map.retain(|(f, _), v| {
            let keep = f != file;
            if !keep {
                self.bytes -= cost(v);
            }
            keep
        });
        self.order.retain(|(f, _)| f != file);
    }
}

/// The archive.
#[derive(Debug)]
pub struct BucketArchive {
    dir: PathBuf,
    index: RwLock<Index>,
    /// One month rewrite at a time.
    writing: Mutex<()>,
    cache: Mutex<SeriesCache>,
    cache_bytes: usize,
    footers: Mutex<HashMap<String, ArrowReaderMetadata>>,
    /// Row groups decoded (reads the cache did not answer).
    pub decoded_row_groups: AtomicU64,
    /// Month files written.
    pub months_written: AtomicU64,
}

/// `YYYY-MM` of a month start.
pub fn month_label(month: Timestamp) -> String {
    month.to_datetime().format("%Y-%m").to_string()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::UInt32, false),
        Field::new("device", DataType::Utf8, false),
        Field::new("port", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new("start", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("covered_ns", DataType::Int64, false),
        Field::new("gap_ns", DataType::Int64, false),
        Field::new("reset", DataType::Boolean, false),
        Field::new("implausible", DataType::Boolean, false),
    ]))
}

impl BucketArchive {
    /// Opens (creating) the archive in `dir`; decoded series are cached up to `cache_bytes`.
    /// Files the index does not name (a crash before the index was replaced) are removed.
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<Self, ArchiveError> {
        let io = |source| ArchiveError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let index = match read_checked(&dir.join("index"))? {
            None => Index { version: 1, ..Index::default() },
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Malformed(e.to_string()))?,
        };
        let named: std::collections::HashSet<&str> = index.months.values().map(|m| m.file.as_str()).collect();
        for entry in std::fs::read_dir(dir).map_err(io)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = (name.ends_with(".parquet") && !named.contains(name.as_str())) || name.ends_with(".tmp");
            if orphan {
                tracing::warn!(file = %name, "removing a bucket archive file the index does not name");
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            index: RwLock::new(index),
            writing: Mutex::new(()),
            cache: Mutex::default(),
            cache_bytes,
            footers: Mutex::default(),
            decoded_row_groups: AtomicU64::new(0),
            months_written: AtomicU64::new(0),
        })
    }

    fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The archived months (starts) with the commit sequence number each covers.
    pub fn months(&self) -> BTreeMap<Timestamp, CommitSeq> {
        self.index().months.iter().map(|(m, f)| (Timestamp::from_nanos(*m), f.covered_seq)).collect()
    }

    /// The archived months overlapping `[from, to)` (starts), read under the index lock
    /// without copying the index (every read of a closed month asks).
    pub fn months_overlapping(&self, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let first = super::bucket_table::utc_month_start(from).as_nanos();
        let range = first..to.as_nanos().max(first);
        self.index().months.range(range).map(|(m, _)| Timestamp::from_nanos(*m)).collect()
    }

    /// Bytes of the archive's month files.
    pub fn bytes(&self) -> u64 {
        self.index().months.values().map(|m| m.bytes).sum()
    }

    /// Bytes of decoded series held in the cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    /// The archived buckets of `ids` in `month` (absent series: not in the map).
    pub fn load(&self, month: Timestamp, ids: &[u32]) -> Result<HashMap<u32, Arc<BucketChunks>>, ArchiveError> {
        let mut out = HashMap::new();
        let (entry, file) = {
            let index = self.index();
            let Some(entry) = index.months.get(&month.as_nanos()).cloned() else { return Ok(out) };
            let path = self.dir.join(&entry.file);
            // Opened under the index lock: a rewrite cannot remove it in between.
            let file = File::open(&path).map_err(|source| ArchiveError::Io { path, source })?;
            (entry, file)
        };
        let mut missing: Vec<u32> = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for &id in ids {
                match cache.map.get(&(entry.file.clone(), id)) {
                    Some(c) if c.chunk_count() > 0 => {
                        out.insert(id, Arc::clone(c));
                    }
                    Some(_) => {}
                    None => missing.push(id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        missing.sort_unstable();
        let decoded = self.decode(&entry, &file, Some(&missing))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: HashMap<u32, Arc<BucketChunks>> = HashMap::new();
        for s in decoded {
            found.insert(s.id, Arc::new(s.buckets));
        }
        for &id in &missing {
            let c = found.get(&id).cloned().unwrap_or_default();
            cache.put((entry.file.clone(), id), Arc::clone(&c), self.cache_bytes);
            if c.chunk_count() > 0 {
                out.insert(id, c);
            }
        }
        for (id, c) in found {
            cache.put((entry.file.clone(), id), c, self.cache_bytes);
        }
        Ok(out)
    }

    /// Every series archived for `month`, with its names.
    pub fn read_month(&self, month: Timestamp) -> Result<Vec<ArchivedSeries>, ArchiveError> {
        let (entry, file) = {
            let index = self.index();
            let Some(entry) = index.months.get(&month.as_nanos()).cloned() else { return Ok(Vec::new()) };
            let path = self.dir.join(&entry.file);
            let file = File::open(&path).map_err(|source| ArchiveError::Io { path, source })?;
            (entry, file)
        };
        self.decode(&entry, &file, None)
    }

    fn verify(&self, file: &File, path: &Path, what: String, check: &RangeCheck) -> Result<(), ArchiveError> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; usize::try_from(check.len).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut buf, check.offset)
            .map_err(|source| ArchiveError::Io { path: path.to_owned(), source })?;
        let found = crc32fast::hash(&buf);
        if found != check.crc32 {
            return Err(ArchiveError::Corrupt { path: path.to_owned(), what, found, expected: check.crc32 });
        }
        Ok(())
    }

    /// The series of a month file (`only`: just these, sorted; row groups whose series
    /// statistics exclude them are not read), every part decoded verified first.
    fn decode(
        &self,
        entry: &MonthFile,
        file: &File,
        only: Option<&[u32]>,
    ) -> Result<Vec<ArchivedSeries>, ArchiveError> {
        let path = self.dir.join(&entry.file);
        let pq = |source| ArchiveError::Parquet { path: path.clone(), source };
        let cached = self.footers.lock().unwrap_or_else(|p| p.into_inner()).get(&entry.file).cloned();
        let footer = match cached {
            Some(f) => f,
            None => {
                self.verify(file, &path, "the footer".into(), &entry.footer)?;
                let f = ArrowReaderMetadata::load(file, ArrowReaderOptions::default()).map_err(pq)?;
                let mut footers = self.footers.lock().unwrap_or_else(|p| p.into_inner());
                if footers.len() >= 1024 {
                    footers.clear();
                }
                footers.insert(entry.file.clone(), f.clone());
                f
            }
        };
        let groups: Vec<usize> = footer
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, rg)| match (only, rg.column(0).statistics()) {
                (Some(ids), Some(Statistics::Int32(s))) => match (s.min_opt(), s.max_opt()) {
                    (Some(lo), Some(hi)) => {
                        let (lo, hi) = (*lo as u32, *hi as u32);
                        let i = ids.partition_point(|&x| x < lo);
                        i < ids.len() && ids[i] <= hi
                    }
                    _ => true,
                },
                _ => true,
            })
            .map(|(i, _)| i)
            .collect();
        for &g in &groups {
            let check = entry.row_groups.get(g).ok_or_else(|| ArchiveError::Corrupt {
                path: path.clone(),
                what: format!("row group {g} (not in the index)"),
                found: 0,
                expected: 0,
            })?;
            self.verify(file, &path, format!("row group {g}"), check)?;
        }
        self.decoded_row_groups.fetch_add(groups.len() as u64, Ordering::Relaxed);
        let mut out: Vec<ArchivedSeries> = Vec::new();
        if groups.is_empty() {
            return Ok(out);
        }
        let input = file.try_clone().map_err(|source| ArchiveError::Io { path: path.clone(), source })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, footer)
            .with_row_groups(groups)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(pq)?;
        for batch in reader {
            let batch = batch.map_err(|e| ArchiveError::Arrow { path: path.clone(), message: e.to_string() })?;
            absorb_batch(&batch, only, &mut out)
                .map_err(|message| ArchiveError::Arrow { path: path.clone(), message })?;
        }
        Ok(out)
    }

    /// Replaces the archived buckets of the series in `replace` for `month` (other series
    /// archived for it are kept), recording that the month covers commits up to `covered_seq`.
    pub fn write_month(
        &self,
        month: Timestamp,
        covered_seq: CommitSeq,
        replace: Vec<ArchivedSeries>,
    ) -> Result<(), ArchiveError> {
        let _one = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let mut merged: BTreeMap<u32, ArchivedSeries> =
            self.read_month(month)?.into_iter().map(|s| (s.id, s)).collect();
        for s in replace {
            merged.insert(s.id, s);
        }
        let (old, file) = {
            let index = self.index();
            let label = month_label(month);
            (
                index.months.get(&month.as_nanos()).map(|m| m.file.clone()),
                format!("{label}.{:06}.parquet", index.next_file),
            )
        };
        let path = self.dir.join(&file);
        let (rows, bytes) = self.write_file(&path, merged.values())?;
        let (footer, row_groups) = range_checks(&path)?;
        let mut next = self.index().clone();
        next.next_file += 1;
        next.months.insert(month.as_nanos(), MonthFile { file, covered_seq, rows, bytes, footer, row_groups });
        let payload = serde_json::to_vec(&next).map_err(|e| ArchiveError::Malformed(e.to_string()))?;
        write_atomically(&self.dir.join("index"), &payload)?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = next;
        if let Some(old) = old {
            let _ = std::fs::remove_file(self.dir.join(&old));
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).forget_file(&old);
            self.footers.lock().unwrap_or_else(|p| p.into_inner()).remove(&old);
        }
        self.months_written.fetch_add(1, Ordering::Relaxed);
        tracing::info!(month = %month_label(month), rows, bytes, covered_seq = covered_seq.get(), "bucket archive month written");
        Ok(())
    }

    /// Writes the series (in ID order) durably at `path`: rows and bytes.
    fn write_file<'a>(
        &self,
        path: &Path,
        series: impl Iterator<Item = &'a ArchivedSeries>,
    ) -> Result<(u64, u64), ArchiveError> {
        let tmp = path.with_extension("parquet.tmp");
        let io = |source| ArchiveError::Io { path: path.to_owned(), source };
        let pq = |source| ArchiveError::Parquet { path: path.to_owned(), source };
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(pq)?))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let f = File::create(&tmp).map_err(io)?;
        let mut w = ArrowWriter::try_new(
            CrcWriter { inner: f, hasher: crc32fast::Hasher::new(), bytes: 0 },
            schema(),
            Some(props),
        )
        .map_err(pq)?;
        let mut cols = Columns::default();
        let mut rows = 0u64;
        for s in series {
            for (start, b) in s.buckets.range(Timestamp::MIN, Timestamp::MAX) {
                cols.push(s, start, b);
            }
            if cols.len() >= ROW_GROUP_ROWS {
                rows += cols.len() as u64;
                w.write(&cols.take().map_err(|message| ArchiveError::Arrow { path: path.to_owned(), message })?)
                    .map_err(pq)?;
            }
        }
        rows += cols.len() as u64;
        w.write(&cols.take().map_err(|message| ArchiveError::Arrow { path: path.to_owned(), message })?).map_err(pq)?;
        let crc_writer = w.into_inner().map_err(pq)?;
        crc_writer.inner.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        sync_dir(&self.dir)?;
        Ok((rows, crc_writer.bytes))
    }
}

/// Columns being filled for a record batch.
#[derive(Default)]
struct Columns {
    series: Vec<u32>,
    device: Vec<Arc<str>>,
    port: Vec<Arc<str>>,
    direction: Vec<&'static str>,
    start: Vec<i64>,
    bytes: Vec<u64>,
    covered_ns: Vec<i64>,
    gap_ns: Vec<i64>,
    reset: Vec<bool>,
    implausible: Vec<bool>,
}

impl Columns {
    fn len(&self) -> usize {
        self.series.len()
    }

    fn push(&mut self, s: &ArchivedSeries, start: Timestamp, b: &Bucket) {
        self.series.push(s.id);
        self.device.push(Arc::clone(&s.device));
        self.port.push(Arc::clone(&s.port));
        self.direction.push(direction_name(s.direction));
        self.start.push(start.as_nanos());
        self.bytes.push(b.bytes);
        self.covered_ns.push(b.covered_ns);
        self.gap_ns.push(b.gap_ns);
        self.reset.push(b.reset);
        self.implausible.push(b.implausible);
    }

    fn take(&mut self) -> Result<RecordBatch, String> {
        let c = std::mem::take(self);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(c.series)),
            Arc::new(StringArray::from_iter_values(c.device.iter().map(|d| &**d))),
            Arc::new(StringArray::from_iter_values(c.port.iter().map(|p| &**p))),
            Arc::new(StringArray::from(c.direction)),
            Arc::new(TimestampNanosecondArray::from(c.start).with_timezone("UTC")),
            Arc::new(UInt64Array::from(c.bytes)),
            Arc::new(Int64Array::from(c.covered_ns)),
            Arc::new(Int64Array::from(c.gap_ns)),
            Arc::new(BooleanArray::from(c.reset)),
            Arc::new(BooleanArray::from(c.implausible)),
        ];
        RecordBatch::try_new(schema(), columns).map_err(|e| e.to_string())
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
    }
}

fn column<T: 'static>(b: &RecordBatch, i: usize) -> Result<&T, String> {
    b.column(i).as_any().downcast_ref::<T>().ok_or_else(|| format!("column {} has type {}", i, b.column(i).data_type()))
}

/// Adds a decoded batch's rows (of the series in `only`, sorted; all without it) to `out`,
/// grouping consecutive rows of one series.
fn absorb_batch(b: &RecordBatch, only: Option<&[u32]>, out: &mut Vec<ArchivedSeries>) -> Result<(), String> {
    if b.num_columns() != 10 {
        return Err(format!("{} columns, expected 10", b.num_columns()));
    }
    let series = column::<UInt32Array>(b, 0)?;
    let device = column::<StringArray>(b, 1)?;
    let port = column::<StringArray>(b, 2)?;
    let direction = column::<StringArray>(b, 3)?;
    let start = column::<TimestampNanosecondArray>(b, 4)?;
    let bytes = column::<UInt64Array>(b, 5)?;
    let covered = column::<Int64Array>(b, 6)?;
    let gap = column::<Int64Array>(b, 7)?;
    let reset = column::<BooleanArray>(b, 8)?;
    let implausible = column::<BooleanArray>(b, 9)?;
    for i in 0..b.num_rows() {
        let id = series.value(i);
        if only.is_some_and(|ids| ids.binary_search(&id).is_err()) {
            continue;
        }
        if out.last().is_none_or(|s| s.id != id) {
            let direction = match direction.value(i) {
                "in" => Direction::In,
                "out" => Direction::Out,
                other => return Err(format!("direction {other:?}")),
            };
            out.push(ArchivedSeries {
                id,
                device: Arc::from(device.value(i)),
                port: Arc::from(port.value(i)),
                direction,
                buckets: BucketChunks::default(),
            });
        }
        let bucket = Bucket {
            bytes: bytes.value(i),
            covered_ns: covered.value(i),
            gap_ns: gap.value(i),
            reset: reset.value(i),
            implausible: implausible.value(i),
        };
        if let Some(s) = out.last_mut() {
            s.buckets.set(Timestamp::from_nanos(start.value(i)), bucket);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
