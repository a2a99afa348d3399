//! In-memory buffers: columnar rows, partitioned by time, until a checkpoint writes them out.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{Decimal128Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::reading::Reading;

/// Physical columns of stored rows (buffers and segments alike).
pub fn physical_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series", DataType::UInt32, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("value", DataType::Decimal128(38, 9), false),
        Field::new("uptime_s", DataType::UInt64, true),
        Field::new("discontinuity", DataType::UInt64, true),
        Field::new("seq", DataType::UInt64, false),
    ]))
}

/// What a scan wants: a set of series (or all) and a time range `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    /// Series wanted; `None` for all.
    pub series: Option<Arc<HashSet<u32>>>,
    /// Inclusive lower bound on `ts`, ns.
    pub from: Option<i64>,
    /// Exclusive upper bound on `ts`, ns.
    pub to: Option<i64>,
}

impl ScanFilter {
    /// Whether a row passes.
    pub fn keeps(&self, series: u32, ts: i64) -> bool {
        self.from.is_none_or(|f| ts >= f)
            && self.to.is_none_or(|t| ts < t)
            && self.series.as_ref().is_none_or(|s| s.contains(&series))
    }

    /// Whether anything in `[min_ts, max_ts]` × `[min_series, max_series]` can pass.
    pub fn may_match(&self, min_ts: i64, max_ts: i64, min_series: u32, max_series: u32) -> bool {
        self.from.is_none_or(|f| max_ts >= f)
            && self.to.is_none_or(|t| min_ts < t)
            && self.series.as_ref().is_none_or(|s| s.iter().any(|x| (min_series..=max_series).contains(x)))
    }
}

/// Rows in columns.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Series IDs.
    pub series: Vec<u32>,
    /// Timestamps, ns.
    pub ts: Vec<i64>,
    /// Values, 10^-9 units.
    pub value: Vec<i128>,
    /// Uptime with the sample.
    pub uptime_s: Vec<Option<u64>>,
    /// Discontinuity marker with the sample.
    pub discontinuity: Vec<Option<u64>>,
    /// Commit sequence numbers.
    pub seq: Vec<u64>,
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends one reading.
    pub fn push(&mut self, seq: u64, r: &Reading) {
        self.series.push(r.series.0);
        self.ts.push(r.ts.as_nanos());
        self.value.push(r.value.0);
        self.uptime_s.push(r.uptime_s);
        self.discontinuity.push(r.discontinuity);
        self.seq.push(seq);
    }

    fn push_from(&mut self, other: &Rows, i: usize) {
        self.series.push(other.series[i]);
        self.ts.push(other.ts[i]);
        self.value.push(other.value[i]);
        self.uptime_s.push(other.uptime_s[i]);
        self.discontinuity.push(other.discontinuity[i]);
        self.seq.push(other.seq[i]);
    }

    /// Moves all rows of `other` to the end.
    pub fn append(&mut self, other: Rows) {
        self.series.extend(other.series);
        self.ts.extend(other.ts);
        self.value.extend(other.value);
        self.uptime_s.extend(other.uptime_s);
        self.discontinuity.extend(other.discontinuity);
        self.seq.extend(other.seq);
    }

    /// The rows passing `filter`.
    pub fn select(&self, filter: &ScanFilter) -> Rows {
        let mut out = Rows::default();
        for i in 0..self.len() {
            if filter.keeps(self.series[i], self.ts[i]) {
                out.push_from(self, i);
            }
        }
        out
    }

    /// Sorted by `(series, ts)` with one row per `(series, ts)`: the highest `seq` wins, and
    /// within one request (one `seq`) the later row.
    pub fn sorted_unique(&self) -> Rows {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.sort_unstable_by(|&a, &b| {
            (self.series[a], self.ts[a])
                .cmp(&(self.series[b], self.ts[b]))
                .then(self.seq[b].cmp(&self.seq[a]))
                .then(b.cmp(&a))
        });
        let mut out = Rows::default();
        let mut last: Option<(u32, i64)> = None;
        for i in idx {
            let key = (self.series[i], self.ts[i]);
            if last != Some(key) {
                out.push_from(self, i);
                last = Some(key);
            }
        }
        out
    }

    /// Appends all rows of a record batch of [`physical_schema`].
    pub fn extend_from_batch(&mut self, b: &RecordBatch) -> Result<(), String> {
        fn col<T: 'static>(b: &RecordBatch, i: usize) -> Result<&T, String> {
            b.column(i).as_any().downcast_ref::<T>().ok_or_else(|| format!("column {i} has an unexpected type"))
        }
        let series = col::<UInt32Array>(b, 0)?;
        let ts = col::<Int64Array>(b, 1)?;
        let value = col::<Decimal128Array>(b, 2)?;
        let uptime = col::<UInt64Array>(b, 3)?;
        let disc = col::<UInt64Array>(b, 4)?;
        let seq = col::<UInt64Array>(b, 5)?;
        self.series.extend(series.values().iter());
        self.ts.extend(ts.values().iter());
        self.value.extend(value.values().iter());
        self.uptime_s.extend(uptime.iter());
        self.discontinuity.extend(disc.iter());
        self.seq.extend(seq.values().iter());
        Ok(())
    }

    /// As a record batch of [`physical_schema`].
    pub fn to_batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let value = Decimal128Array::from(self.value.clone()).with_precision_and_scale(38, 9)?;
        RecordBatch::try_new(
            physical_schema(),
            vec![
                Arc::new(UInt32Array::from(self.series.clone())),
                Arc::new(Int64Array::from(self.ts.clone())),
                Arc::new(value),
                Arc::new(UInt64Array::from(self.uptime_s.clone())),
                Arc::new(UInt64Array::from(self.discontinuity.clone())),
                Arc::new(UInt64Array::from(self.seq.clone())),
            ],
        )
    }
}

/// Buffered rows by time partition (start of the partition, ns).
#[derive(Debug, Default)]
pub struct Buffer {
    partitions: BTreeMap<i64, Rows>,
    rows: usize,
    partition_ns: i64,
}

impl Buffer {
    /// An empty buffer with partitions `partition_ns` wide.
    pub fn new(partition_ns: i64) -> Self {
        Self { partitions: BTreeMap::new(), rows: 0, partition_ns: partition_ns.max(1) }
    }

    /// The partition a timestamp falls in.
    pub fn partition_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_ns) * self.partition_ns
    }

    /// Adds the readings of one committed record.
    pub fn insert(&mut self, seq: u64, readings: &[Reading]) {
        // Readings of one request nearly always share a partition: look it up once per run.
        let width = self.partition_ns;
        let mut i = 0;
        while i < readings.len() {
            let p = self.partition_of(readings[i].ts.as_nanos());
            let rows = self.partitions.entry(p).or_default();
            while let Some(r) = readings.get(i).filter(|r| (p..p.saturating_add(width)).contains(&r.ts.as_nanos())) {
                rows.push(seq, r);
                i += 1;
            }
        }
        self.rows += readings.len();
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes everything out, leaving an empty buffer.
    pub fn take(&mut self) -> Buffer {
        std::mem::replace(self, Buffer::new(self.partition_ns))
    }

    /// The partitions and their rows.
    pub fn partitions(&self) -> impl Iterator<Item = (&i64, &Rows)> {
        self.partitions.iter()
    }

    /// The rows passing `filter`, from every partition.
    pub fn select(&self, filter: &ScanFilter) -> Rows {
        let mut out = Rows::default();
        for (start, rows) in &self.partitions {
            let end = start.saturating_add(self.partition_ns);
            if filter.from.is_some_and(|f| end <= f) || filter.to.is_some_and(|t| *start >= t) {
                continue;
            }
            out.append(rows.select(filter));
        }
        out
    }
}
