//! Parquet segments: one time partition's rows, sorted by `(series, ts)`, unique, zstd, with
//! statistics. Immutable once written; a whole-file CRC-32 in the manifest is checked the first
//! time a process reads a segment, so corrupt bytes are reported, never returned as data.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;

use super::buffer::{Rows, ScanFilter, physical_schema};
use super::file::sync_dir;

/// Rows per Parquet row group: small enough that one series' day reads kilobytes.
pub const ROW_GROUP_ROWS: usize = 16 * 1024;

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
    /// Largest commit sequence number in it.
    pub max_seq: u64,
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
    /// The file does not match its checksum.
    #[error("segment {path} is corrupt: CRC-32 {found:08x}, manifest says {expected:08x}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Computed.
        found: u32,
        /// Recorded.
        expected: u32,
    },
}

struct CrcWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    bytes: u64,
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
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(pq)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
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
        max_seq: rows.seq.iter().copied().max().unwrap_or(0),
    })
}

/// Reads segments, verifying each file's checksum the first time this process reads it.
#[derive(Debug, Default)]
pub struct SegmentReader {
    verified: Mutex<HashSet<String>>,
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
    /// Checks a segment's CRC (once per process).
    pub fn verify(&self, dir: &Path, meta: &SegmentMeta) -> Result<(), SegmentError> {
        if self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&meta.file) {
            return Ok(());
        }
        let path = dir.join(&meta.file);
        let bytes = std::fs::read(&path).map_err(|source| SegmentError::Io { path: path.clone(), source })?;
        let found = crc32fast::hash(&bytes);
        if found != meta.crc32 {
            return Err(SegmentError::Corrupt { path, found, expected: meta.crc32 });
        }
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(meta.file.clone());
        Ok(())
    }

    /// The rows of a segment passing `filter`; row groups are pruned by their statistics.
    pub fn read(&self, dir: &Path, meta: &SegmentMeta, filter: &ScanFilter) -> Result<Rows, SegmentError> {
        self.verify(dir, meta)?;
        let path = dir.join(&meta.file);
        let pq = |source| SegmentError::Parquet { path: path.clone(), source };
        let file = File::open(&path).map_err(|source| SegmentError::Io { path: path.clone(), source })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
        let groups: Vec<usize> = builder
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
        let mut out = Rows::default();
        if groups.is_empty() {
            return Ok(out);
        }
        let reader = builder.with_row_groups(groups).with_batch_size(64 * 1024).build().map_err(pq)?;
        for batch in reader {
            let batch: RecordBatch =
                batch.map_err(|e| SegmentError::Arrow { path: path.clone(), message: e.to_string() })?;
            let mut all = Rows::default();
            all.extend_from_batch(&batch).map_err(|message| SegmentError::Arrow { path: path.clone(), message })?;
            let sel = all.select(filter);
            out.series.extend(sel.series);
            out.ts.extend(sel.ts);
            out.value.extend(sel.value);
            out.uptime_s.extend(sel.uptime_s);
            out.discontinuity.extend(sel.discontinuity);
            out.seq.extend(sel.seq);
        }
        Ok(out)
    }
}
