//! Parquet segments: one time partition's rows, sorted by `(series, ts)`, unique, zstd, with
//! statistics. Immutable once written. The manifest holds a CRC-32 of the footer and of each row
//! group's bytes; a read verifies the footer and exactly the row groups it decodes, so a query
//! for one series reads kilobytes, and corrupt bytes are reported, never returned as data.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use super::buffer::{Rows, ScanFilter, physical_schema};
use super::file::sync_dir;

/// Rows per Parquet row group: small enough that one series' day reads kilobytes, and that a
/// scan of a range of series (a billing run's chunk of outlets) decodes little beyond it (row
/// groups are pruned by their series statistics; 16 Ki rows decoded twice the rows needed).
pub const ROW_GROUP_ROWS: usize = 4 * 1024;

/// Columns stored without zstd (see [`write`]).
const UNCOMPRESSED_COLUMNS: [&str; 3] = ["series", "discontinuity", "seq"];

/// Columns stored delta-encoded without zstd: times and uptimes rise steadily within a series
/// (rows are sorted by series and time), so their deltas pack into a few bits each.
const DELTA_COLUMNS: [&str; 2] = ["ts", "uptime_s"];

/// What the manifest records of a segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentMeta {
    /// File name in the segments directory.
    pub file: String,
    /// Start of its time partition, ns.
    pub partition: i64,
    /// Smallest timestamp.
    pub min_ts: i64,
    /// Largest timestamp.
    pub max_ts: i64,
    /// Smallest series ID.
    pub min_series: u32,
    /// Largest series ID.
    pub max_series: u32,
    /// Rows.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// CRC-32 of the whole file.
    pub crc32: u32,
    /// CRC-32 of the footer (from the end of the last row group to the end of the file).
    pub footer: RangeCheck,
    /// CRC-32 of each row group's bytes, by row-group index.
    pub row_groups: Vec<RangeCheck>,
    /// Largest commit sequence number in it.
    pub max_seq: super::CommitSeq,
    /// A day segment of a cold day (compacted from its hourly segments; `partition` is the
    /// day's start). Absent in manifests written before day segments existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cold: bool,
}

/// A checksummed byte range of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RangeCheck {
    /// First byte.
    pub offset: u64,
    /// Length.
    pub len: u64,
    /// CRC-32 of the bytes.
    pub crc32: u32,
}

/// Why a segment cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// I/O.
    #[error("segment {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Parquet encoding or decoding.
    #[error("segment {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: parquet::errors::ParquetError,
    },
    /// Arrow.
    #[error("segment {path}: {message}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Bytes of the file do not match their checksum.
    #[error("segment {path} is corrupt: {what} has CRC-32 {found:08x}, the manifest says {expected:08x}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which part (`footer`, `row group 3`).
        what: String,
        /// Computed.
        found: u32,
        /// Recorded.
        expected: u32,
    },
}

pub(crate) struct CrcWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: crc32fast::Hasher,
    pub(crate) bytes: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `rows` (sorted and unique) as segment `file` in `dir`, durably.
pub fn write(dir: &Path, file: &str, partition: i64, rows: &Rows) -> Result<SegmentMeta, SegmentError> {
    let path = dir.join(file);
    let tmp = dir.join(format!("{file}.tmp"));
    let io = |source| SegmentError::Io { path: path.clone(), source };
    let pq = |source| SegmentError::Parquet { path: path.clone(), source };
    let batch = rows.to_batch().map_err(|e| SegmentError::Arrow { path: path.clone(), message: e.to_string() })?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(pq)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    // Columns that dictionary and run-length encoding already make tiny (a row group's few series
    // IDs and commit numbers, a marker that is nearly always null) are left uncompressed: each
    // zstd column chunk costs its reader a fresh zstd context (parquet's codec makes a compressor
    // and a decompressor per column chunk), which was 40% of a one-series month's scan.
    for column in UNCOMPRESSED_COLUMNS {
        props = props.set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED);
    }
    // Only `value` keeps zstd, so a row group read makes one zstd context, not three.
    for column in DELTA_COLUMNS {
        props = props
            .set_column_compression(ColumnPath::from(column), Compression::UNCOMPRESSED)
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    let props = props.build();
    let f = File::create(&tmp).map_err(io)?;
    let mut w = ArrowWriter::try_new(
        CrcWriter { inner: f, hasher: crc32fast::Hasher::new(), bytes: 0 },
        physical_schema(),
        Some(props),
    )
    .map_err(pq)?;
    w.write(&batch).map_err(pq)?;
    let crc_writer = w.into_inner().map_err(pq)?;
    crc_writer.inner.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    sync_dir(dir).map_err(|e| SegmentError::Arrow { path: path.clone(), message: e.to_string() })?;
    let (footer, row_groups) = range_checks(&path)?;
    Ok(SegmentMeta {
        file: file.to_owned(),
        partition,
        min_ts: rows.ts.iter().copied().min().unwrap_or(0),
        max_ts: rows.ts.iter().copied().max().unwrap_or(0),
        min_series: rows.series.iter().copied().min().unwrap_or(0),
        max_series: rows.series.iter().copied().max().unwrap_or(0),
        rows: rows.len() as u64,
        bytes: crc_writer.bytes,
        crc32: crc_writer.hasher.finalize(),
        footer,
        row_groups,
        max_seq: super::CommitSeq(rows.seq.iter().copied().max().unwrap_or(0)),
        cold: false,
    })
}

/// The footer's and each row group's byte range and CRC-32, from a just-written file.
///
/// The ranges are read back through one reusable buffer (reading the whole file into memory cost
/// the flusher a page fault per 4 KiB of every segment it wrote).
pub(crate) fn range_checks(path: &Path) -> Result<(RangeCheck, Vec<RangeCheck>), SegmentError> {
    use std::os::unix::fs::FileExt;
    let io = |source| SegmentError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let meta = ParquetRecordBatchReaderBuilder::try_new(file.try_clone().map_err(io)?)
        .map_err(|source| SegmentError::Parquet { path: path.to_owned(), source })?
        .metadata()
        .clone();
    let mut buf = vec![0u8; 1 << 20];
    let mut check = |offset: u64, end: u64| -> Result<RangeCheck, SegmentError> {
        let mut hasher = crc32fast::Hasher::new();
        let mut at = offset;
        while at < end {
            let n = usize::try_from(end - at).unwrap_or(usize::MAX).min(buf.len());
            file.read_exact_at(&mut buf[..n], at).map_err(io)?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok(RangeCheck { offset, len: end.saturating_sub(offset), crc32: hasher.finalize() })
    };
    let mut groups = Vec::new();
    let mut data_end = 4; // after the leading magic
    for rg in meta.row_groups() {
        let (start, end) =
            rg.columns().iter().map(|c| c.byte_range()).fold((u64::MAX, 0), |(s, e), (o, l)| (s.min(o), e.max(o + l)));
        groups.push(check(start, end)?);
        data_end = data_end.max(end);
    }
    Ok((check(data_end, len)?, groups))
}

/// Footers kept decoded at most; beyond it the cache starts over (a segment's name is never
/// reused, so an entry never goes stale, it only outlives its file).
const MAX_CACHED_FOOTERS: usize = 16_384;

/// Reads segments, verifying the checksum of every byte range it decodes: a footer the first
/// time this process reads it (it is kept decoded from then on, so a month's scan does not parse
/// hundreds of footers per request), a row group every time it is decoded.
///
/// Small scans (a few series: a customer's usage, a live view, an invoice line's evidence) keep
/// the row groups they decode, whole, in a cache of [`ROW_GROUP_CACHE_BYTES`] (oldest out
/// first): decoding costs a zstd context per column chunk, which dominated such scans. Large
/// scans (billing runs, compaction) neither use nor fill it.
#[derive(Debug, Default)]
pub struct SegmentReader {
    /// Bytes read to verify footers and row groups (a measure of what queries read).
    pub verified_bytes: std::sync::atomic::AtomicU64,
    footers: std::sync::Mutex<std::collections::HashMap<String, ArrowReaderMetadata>>,
    row_groups: std::sync::Mutex<RowGroupCache>,
}

/// Decoded row groups kept for small scans, bytes.
pub const ROW_GROUP_CACHE_BYTES: usize = 64 << 20;

/// A scan of at most this many series is small (see [`SegmentReader`]).
const SMALL_SCAN_SERIES: usize = 64;

/// Bytes a decoded row takes in [`Rows`].
const ROW_BYTES: usize = 4 + 8 + 16 + 2 * std::mem::size_of::<Option<u64>>() + 8;

/// Whole decoded row groups by `(file, row group)`, oldest evicted first.
#[derive(Debug, Default)]
struct RowGroupCache {
    map: std::collections::HashMap<(String, usize), Arc<Rows>>,
    order: std::collections::VecDeque<(String, usize)>,
    bytes: usize,
}

impl RowGroupCache {
    fn put(&mut self, key: (String, usize), rows: Arc<Rows>) {
        let size = rows.len() * ROW_BYTES;
        if size > ROW_GROUP_CACHE_BYTES || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > ROW_GROUP_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(r) = self.map.remove(&old) {
                self.bytes -= r.len() * ROW_BYTES;
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.map.insert(key, rows);
    }
}

fn stat_range_i64(s: Option<&Statistics>) -> Option<(i64, i64)> {
    match s? {
        Statistics::Int64(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        _ => None,
    }
}

fn stat_range_u32(s: Option<&Statistics>) -> Option<(u32, u32)> {
    match s? {
        Statistics::Int32(v) => Some((*v.min_opt()? as u32, *v.max_opt()? as u32)),
        _ => None,
    }
}

impl SegmentReader {
    fn verify(&self, file: &File, path: &Path, what: String, check: &RangeCheck) -> Result<(), SegmentError> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; check.len as usize];
        file.read_exact_at(&mut buf, check.offset)
            .map_err(|source| SegmentError::Io { path: path.to_owned(), source })?;
        self.verified_bytes.fetch_add(check.len, std::sync::atomic::Ordering::Relaxed);
        let found = crc32fast::hash(&buf);
        if found != check.crc32 {
            return Err(SegmentError::Corrupt { path: path.to_owned(), what, found, expected: check.crc32 });
        }
        Ok(())
    }

    /// The decoded footer of `meta`'s file, verified and decoded on first use.
    fn footer(&self, file: &File, path: &Path, meta: &SegmentMeta) -> Result<ArrowReaderMetadata, SegmentError> {
        let cached = self.footers.lock().ok().and_then(|c| c.get(&meta.file).cloned());
        if let Some(footer) = cached {
            return Ok(footer);
        }
        self.verify(file, path, "the footer".into(), &meta.footer)?;
        let footer = ArrowReaderMetadata::load(file, ArrowReaderOptions::default())
            .map_err(|source| SegmentError::Parquet { path: path.to_owned(), source })?;
        if let Ok(mut cache) = self.footers.lock() {
            if cache.len() >= MAX_CACHED_FOOTERS {
                cache.clear();
            }
            cache.insert(meta.file.clone(), footer.clone());
        }
        Ok(footer)
    }

    /// The rows of a segment passing `filter`; row groups are pruned by their statistics, and
    /// the footer and every row group decoded are verified first.
    pub fn read(&self, dir: &Path, meta: &SegmentMeta, filter: &ScanFilter) -> Result<Rows, SegmentError> {
        let path = dir.join(&meta.file);
        let file = File::open(&path).map_err(|source| SegmentError::Io { path: path.clone(), source })?;
        let footer = self.footer(&file, &path, meta)?;
        let groups: Vec<usize> = footer
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, rg)| {
                let series = stat_range_u32(rg.column(0).statistics());
                let ts = stat_range_i64(rg.column(1).statistics());
                match (series, ts) {
                    (Some((s0, s1)), Some((t0, t1))) => filter.may_match(t0, t1, s0, s1),
                    _ => true,
                }
            })
            .map(|(i, _)| i)
            .collect();
        if filter.series.as_ref().is_some_and(|s| s.len() <= SMALL_SCAN_SERIES) {
            let mut out = Rows::default();
            for g in groups {
                let key = (meta.file.clone(), g);
                let cached = self.row_groups.lock().ok().and_then(|c| c.map.get(&key).cloned());
                let rows = match cached {
                    Some(rows) => rows,
                    None => {
                        let rows =
                            Arc::new(self.decode(&file, &path, meta, &footer, vec![g], &ScanFilter::default())?);
                        if let Ok(mut cache) = self.row_groups.lock() {
                            cache.put(key, Arc::clone(&rows));
                        }
                        rows
                    }
                };
                out.append(rows.select_sorted(filter));
            }
            return Ok(out);
        }
        self.decode(&file, &path, meta, &footer, groups, filter)
    }

    /// The rows of row groups `groups` passing `filter`, each group verified first.
    fn decode(
        &self,
        file: &File,
        path: &Path,
        meta: &SegmentMeta,
        footer: &ArrowReaderMetadata,
        groups: Vec<usize>,
        filter: &ScanFilter,
    ) -> Result<Rows, SegmentError> {
        let pq = |source| SegmentError::Parquet { path: path.to_owned(), source };
        for &g in &groups {
            let check = meta.row_groups.get(g).ok_or_else(|| SegmentError::Corrupt {
                path: path.to_owned(),
                what: format!("row group {g} (not in the manifest)"),
                found: 0,
                expected: 0,
            })?;
            self.verify(file, path, format!("row group {g}"), check)?;
        }
        let mut out = Rows::default();
        if groups.is_empty() {
            return Ok(out);
        }
        let input = file.try_clone().map_err(|source| SegmentError::Io { path: path.to_owned(), source })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, footer.clone())
            .with_row_groups(groups)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(pq)?;
        for batch in reader {
            let batch: RecordBatch =
                batch.map_err(|e| SegmentError::Arrow { path: path.to_owned(), message: e.to_string() })?;
            out.extend_from_batch_where(&batch, filter)
                .map_err(|message| SegmentError::Arrow { path: path.to_owned(), message })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Arc<Rows> {
        Arc::new(Rows {
            series: vec![0; n],
            ts: vec![0; n],
            value: vec![0; n],
            uptime_s: vec![None; n],
            discontinuity: vec![None; n],
            seq: vec![0; n],
        })
    }

    #[test]
    fn the_row_group_cache_stays_within_its_bytes() {
        let half = ROW_GROUP_CACHE_BYTES / ROW_BYTES / 2 + 1;
        let mut c = RowGroupCache::default();
        c.put(("a".into(), 0), rows(half));
        c.put(("b".into(), 0), rows(half));
        assert_eq!((c.map.len(), c.map.contains_key(&("b".into(), 0))), (1, true), "the oldest went");
        assert_eq!(c.bytes, half * ROW_BYTES);
        c.put(("big".into(), 0), rows(2 * half));
        assert!(!c.map.contains_key(&("big".into(), 0)), "a group larger than the cache is not kept");
        c.put(("c".into(), 1), rows(10));
        assert_eq!(c.bytes, (half + 10) * ROW_BYTES);
    }
}
