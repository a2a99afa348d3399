//! Readings as cluster mode moves them: a logged batch is one Arrow IPC stream of readings named
//! by their series keys (no node-local series IDs: any node may read it), already validated by
//! the writer that appended it, so replaying it days later needs no time window; a segment is
//! the same columns plus each row's log sequence (`seq`: last-write-wins on replay picks the same
//! winner), as zstd Parquet sorted by `(device, resource, metric, ts, seq)`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::store::PendingReading;
use crate::store::log::LogSeq;
use crate::store::reading::{SeriesKey, VALUE_SCALE, Value};
use crate::time::Timestamp;

/// Why a batch or segment does not encode or decode.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Arrow failed, or the bytes are not a batch of this schema.
    #[error("batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet failed.
    #[error("segment: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A column is missing or of another type.
    #[error("column {0} is missing or has another type")]
    Column(&'static str),
}

fn columns(with_seq: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("device", DataType::Utf8, false),
        Field::new("resource", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("value", DataType::Decimal128(38, VALUE_SCALE as i8), false),
        Field::new("uptime_s", DataType::UInt64, true),
        Field::new("discontinuity", DataType::UInt64, true),
    ];
    if with_seq {
        fields.push(Field::new("seq", DataType::UInt64, false));
    }
    Arc::new(Schema::new(fields))
}

fn record_batch(readings: &[&PendingReading], seqs: Option<&[u64]>) -> Result<RecordBatch, BatchError> {
    let text = |f: fn(&SeriesKey) -> &str| -> ArrayRef {
        Arc::new(readings.iter().map(|r| Some(f(&r.key))).collect::<StringArray>())
    };
    let mut cols: Vec<ArrayRef> = vec![
        text(|k| &k.device),
        text(|k| &k.resource),
        text(|k| &k.metric),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(readings.iter().map(|r| r.ts.as_nanos())).with_timezone("UTC"),
        ),
        Arc::new(
            Decimal128Array::from_iter_values(readings.iter().map(|r| r.value.0))
                .with_precision_and_scale(38, VALUE_SCALE as i8)?,
        ),
        Arc::new(readings.iter().map(|r| r.uptime_s).collect::<UInt64Array>()),
        Arc::new(readings.iter().map(|r| r.discontinuity).collect::<UInt64Array>()),
    ];
    if let Some(seqs) = seqs {
        cols.push(Arc::new(UInt64Array::from(seqs.to_vec())));
    }
    Ok(RecordBatch::try_new(columns(seqs.is_some()), cols)?)
}

/// One logged batch: `readings` as an Arrow IPC stream.
pub fn encode(readings: &[PendingReading]) -> Result<Bytes, BatchError> {
    let refs: Vec<&PendingReading> = readings.iter().collect();
    let batch = record_batch(&refs, None)?;
    let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &columns(false))?;
    w.write(&batch)?;
    w.finish()?;
    Ok(Bytes::from(w.into_inner()?))
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &'static str) -> Result<&'a T, BatchError> {
    b.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<T>()).ok_or(BatchError::Column(name))
}

/// The readings of a record batch of [`columns`], with each row's `seq` when it has one.
fn rows(b: &RecordBatch) -> Result<Vec<(Option<u64>, PendingReading)>, BatchError> {
    let (device, resource) = (column::<StringArray>(b, "device")?, column::<StringArray>(b, "resource")?);
    let metric = column::<StringArray>(b, "metric")?;
    let ts = column::<TimestampNanosecondArray>(b, "ts")?;
    let value = column::<Decimal128Array>(b, "value")?;
    let (uptime, disc) = (column::<UInt64Array>(b, "uptime_s")?, column::<UInt64Array>(b, "discontinuity")?);
    let seq = b.column_by_name("seq").and_then(|c| c.as_any().downcast_ref::<UInt64Array>());
    let opt = |a: &UInt64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    Ok((0..b.num_rows())
        .map(|i| {
            let key = SeriesKey {
                device: device.value(i).into(),
                resource: resource.value(i).into(),
                metric: metric.value(i).into(),
            };
            let r = PendingReading {
                key,
                ts: Timestamp::from_nanos(ts.value(i)),
                value: Value(value.value(i)),
                uptime_s: opt(uptime, i),
                discontinuity: opt(disc, i),
            };
            (seq.map(|s| s.value(i)), r)
        })
        .collect())
}

/// The readings of one logged batch.
pub fn decode(bytes: &[u8]) -> Result<Vec<PendingReading>, BatchError> {
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let mut out = Vec::new();
    for b in reader {
        out.extend(rows(&b?)?.into_iter().map(|(_, r)| r));
    }
    Ok(out)
}

/// What a segment holds, for the segment list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStats {
    /// Rows.
    pub rows: u64,
    /// Earliest reading.
    pub min_ts: Timestamp,
    /// Latest reading.
    pub max_ts: Timestamp,
}

/// A segment of logged batches: every reading with its batch's sequence, sorted, as Parquet.
pub fn segment(batches: &[(LogSeq, Vec<PendingReading>)]) -> Result<(Bytes, SegmentStats), BatchError> {
    let mut all: Vec<(u64, &PendingReading)> =
        batches.iter().flat_map(|(seq, rs)| rs.iter().map(move |r| (seq.get(), r))).collect();
    all.sort_by(|a, b| (&a.1.key, a.1.ts, a.0).cmp(&(&b.1.key, b.1.ts, b.0)));
    let stats = SegmentStats {
        rows: all.len() as u64,
        min_ts: all.iter().map(|r| r.1.ts).min().unwrap_or(Timestamp::from_nanos(0)),
        max_ts: all.iter().map(|r| r.1.ts).max().unwrap_or(Timestamp::from_nanos(0)),
    };
    let seqs: Vec<u64> = all.iter().map(|r| r.0).collect();
    let refs: Vec<&PendingReading> = all.iter().map(|r| r.1).collect();
    let batch = record_batch(&refs, Some(&seqs))?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?)).build();
    let mut w = ArrowWriter::try_new(Vec::new(), columns(true), Some(props))?;
    w.write(&batch)?;
    Ok((Bytes::from(w.into_inner()?), stats))
}

/// The rows of a segment: `(seq, reading)`, in the segment's order.
pub fn read_segment(bytes: Bytes) -> Result<Vec<(LogSeq, PendingReading)>, BatchError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let mut out = Vec::new();
    for b in reader {
        for (seq, r) in rows(&b?)? {
            out.push((LogSeq(seq.ok_or(BatchError::Column("seq"))?), r));
        }
    }
    Ok(out)
}
