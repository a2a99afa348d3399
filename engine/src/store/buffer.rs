//! In-memory buffers: columnar rows, partitioned by time, until a checkpoint writes them out.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Decimal128Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::reading::Reading;
use super::series_set::SeriesSet;
use crate::time::Timestamp;

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
    pub series: Option<Arc<SeriesSet>>,
    /// Inclusive lower bound on `ts`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `ts`.
    pub to: Option<Timestamp>,
}

impl ScanFilter {
    /// Whether a row passes.
    pub fn keeps(&self, series: u32, ts: i64) -> bool {
        self.from.is_none_or(|f| ts >= f.as_nanos())
            && self.to.is_none_or(|t| ts < t.as_nanos())
            && self.series.as_ref().is_none_or(|s| s.contains(series))
    }

    /// Whether anything in `[min_ts, max_ts]` × `[min_series, max_series]` can pass.
    pub fn may_match(&self, min_ts: i64, max_ts: i64, min_series: u32, max_series: u32) -> bool {
        self.from.is_none_or(|f| max_ts >= f.as_nanos())
            && self.to.is_none_or(|t| min_ts < t.as_nanos())
            && self.series.as_ref().is_none_or(|s| s.any_in(min_series, max_series))
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
    pub fn push(&mut self, seq: super::CommitSeq, r: &Reading) {
        self.series.push(r.series.0);
        self.ts.push(r.ts.as_nanos());
        self.value.push(r.value.0);
        self.uptime_s.push(r.uptime_s);
        self.discontinuity.push(r.discontinuity);
        self.seq.push(seq.get());
    }

    /// Makes room for `n` more rows.
    pub fn reserve(&mut self, n: usize) {
        self.series.reserve(n);
        self.ts.reserve(n);
        self.value.reserve(n);
        self.uptime_s.reserve(n);
        self.discontinuity.reserve(n);
        self.seq.reserve(n);
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

    /// The rows passing `filter`: the matching row indices first (a tight loop over the series
    /// and time columns; one comparison per row when one series is wanted, the common metering
    /// scan), then every column gathered at once.
    pub fn select(&self, filter: &ScanFilter) -> Rows {
        let (from, to) = (filter.from.map(Timestamp::as_nanos), filter.to.map(Timestamp::as_nanos));
        let in_time = |t: i64| from.is_none_or(|f| t >= f) && to.is_none_or(|to| t < to);
        let single = filter.series.as_deref().filter(|s| s.len() == 1).and_then(|s| s.iter().next());
        let idx: Vec<usize> = match single {
            Some(id) => (0..self.len()).filter(|&i| self.series[i] == id && in_time(self.ts[i])).collect(),
            None => (0..self.len()).filter(|&i| filter.keeps(self.series[i], self.ts[i])).collect(),
        };
        self.gather(&idx)
    }

    /// The rows written by commits after `seq`.
    pub fn newer_than(&self, seq: super::CommitSeq) -> Rows {
        let idx: Vec<usize> = (0..self.len()).filter(|&i| self.seq[i] > seq.get()).collect();
        self.gather(&idx)
    }

    /// The rows at `idx`, in that order, column by column.
    fn gather(&self, idx: &[usize]) -> Rows {
        Rows {
            series: idx.iter().map(|&i| self.series[i]).collect(),
            ts: idx.iter().map(|&i| self.ts[i]).collect(),
            value: idx.iter().map(|&i| self.value[i]).collect(),
            uptime_s: idx.iter().map(|&i| self.uptime_s[i]).collect(),
            discontinuity: idx.iter().map(|&i| self.discontinuity[i]).collect(),
            seq: idx.iter().map(|&i| self.seq[i]).collect(),
        }
    }

    /// The rows in `range`, column by column.
    fn extend_range(&mut self, other: &Rows, range: std::ops::Range<usize>) {
        self.series.extend_from_slice(&other.series[range.clone()]);
        self.ts.extend_from_slice(&other.ts[range.clone()]);
        self.value.extend_from_slice(&other.value[range.clone()]);
        self.uptime_s.extend_from_slice(&other.uptime_s[range.clone()]);
        self.discontinuity.extend_from_slice(&other.discontinuity[range.clone()]);
        self.seq.extend_from_slice(&other.seq[range]);
    }

    /// [`Rows::select`] for rows sorted by `(series, ts)` (a segment's row group): each wanted
    /// series' run and its time range are found by binary search instead of testing every row.
    pub fn select_sorted(&self, filter: &ScanFilter) -> Rows {
        let Some(wanted) = filter.series.as_ref() else { return self.select(filter) };
        let mut out = Rows::default();
        for id in wanted.iter() {
            let lo = self.series.partition_point(|&s| s < id);
            let hi = lo + self.series[lo..].partition_point(|&s| s == id);
            let run = &self.ts[lo..hi];
            let from = filter.from.map_or(0, |f| run.partition_point(|&t| t < f.as_nanos()));
            let to = filter.to.map_or(run.len(), |t| run.partition_point(|&x| x < t.as_nanos()));
            out.extend_range(self, lo + from..lo + to.max(from));
        }
        out
    }

    /// Sorted by `(series, ts)` with one row per `(series, ts)`: the highest `seq` wins, and
    /// within one request (one `seq`) the later row.
    ///
    /// Rows are first grouped by series, stably, in linear time (a counting sort over the IDs
    /// present); each series' rows are then sorted by time only when they are not already in
    /// order, which they are when they come from segments read in time order.
    pub fn sorted_unique(&self) -> Rows {
        let idx = self.grouped_by_series();
        // The rows kept, in output order; gathered column by column at the end.
        let mut keep: Vec<usize> = Vec::with_capacity(idx.len());
        let mut start = 0;
        let mut run: Vec<usize> = Vec::new();
        while start < idx.len() {
            let series = self.series[idx[start]];
            let end = start + idx[start..].iter().take_while(|&&i| self.series[i] == series).count();
            let group = &idx[start..end];
            if group.windows(2).all(|w| self.ts[w[0]] < self.ts[w[1]]) {
                keep.extend_from_slice(group);
            } else {
                run.clear();
                run.extend_from_slice(group);
                run.sort_unstable_by(|&a, &b| {
                    self.ts[a].cmp(&self.ts[b]).then(self.seq[b].cmp(&self.seq[a])).then(b.cmp(&a))
                });
                let mut last = None;
                for &i in &run {
                    if last != Some(self.ts[i]) {
                        keep.push(i);
                        last = Some(self.ts[i]);
                    }
                }
            }
            start = end;
        }
        self.gather(&keep)
    }

    /// Row indices grouped by series (ascending), each group in row order.
    fn grouped_by_series(&self) -> Vec<usize> {
        let n = self.len();
        let (Some(&min), Some(&max)) = (self.series.iter().min(), self.series.iter().max()) else { return Vec::new() };
        let span = (max - min) as usize + 1;
        if span > 4 * n + 1024 {
            // IDs too sparse for a counting table: a stable sort keeps row order within a series.
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by_key(|&i| self.series[i]);
            return idx;
        }
        let mut next = vec![0usize; span + 1];
        for &s in &self.series {
            next[(s - min) as usize + 1] += 1;
        }
        for k in 1..next.len() {
            next[k] += next[k - 1];
        }
        let mut idx = vec![0usize; n];
        for (i, &s) in self.series.iter().enumerate() {
            let slot = &mut next[(s - min) as usize];
            idx[*slot] = i;
            *slot += 1;
        }
        idx
    }

    /// Appends the rows of a record batch of [`physical_schema`] that pass `filter`, straight
    /// from the batch's columns.
    pub fn extend_from_batch_where(&mut self, b: &RecordBatch, filter: &ScanFilter) -> Result<(), String> {
        fn col<T: 'static>(b: &RecordBatch, i: usize) -> Result<&T, String> {
            b.column(i).as_any().downcast_ref::<T>().ok_or_else(|| format!("column {i} has an unexpected type"))
        }
        let series = col::<UInt32Array>(b, 0)?.values();
        let ts = col::<Int64Array>(b, 1)?.values();
        let value = col::<Decimal128Array>(b, 2)?.values();
        let uptime = col::<UInt64Array>(b, 3)?;
        let disc = col::<UInt64Array>(b, 4)?;
        let seq = col::<UInt64Array>(b, 5)?.values();
        let opt = |a: &UInt64Array, i: usize| if a.is_null(i) { None } else { Some(a.value(i)) };
        let everything = filter.series.is_none() && filter.from.is_none() && filter.to.is_none();
        if everything {
            // A whole row group (the small scans' cache fill): the columns as they are.
            self.series.extend_from_slice(series);
            self.ts.extend_from_slice(ts);
            self.value.extend_from_slice(value);
            self.uptime_s.extend((0..b.num_rows()).map(|i| opt(uptime, i)));
            self.discontinuity.extend((0..b.num_rows()).map(|i| opt(disc, i)));
            self.seq.extend_from_slice(seq);
            return Ok(());
        }
        let idx: Vec<usize> = (0..b.num_rows()).filter(|&i| filter.keeps(series[i], ts[i])).collect();
        self.series.extend(idx.iter().map(|&i| series[i]));
        self.ts.extend(idx.iter().map(|&i| ts[i]));
        self.value.extend(idx.iter().map(|&i| value[i]));
        self.uptime_s.extend(idx.iter().map(|&i| opt(uptime, i)));
        self.discontinuity.extend(idx.iter().map(|&i| opt(disc, i)));
        self.seq.extend(idx.iter().map(|&i| seq[i]));
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

/// A scan for at most this many series checks a partition's presence bitmap before its rows.
const PRESENCE_CHECK_SERIES: usize = 64;

/// Buffered rows by time partition (start of the partition, ns).
#[derive(Debug, Default)]
pub struct Buffer {
    partitions: BTreeMap<i64, Rows>,
    /// Per partition, bit `id` set when series `id` has a row in it: a scan for a few series
    /// skips the partitions holding none of them without testing their rows.
    present: BTreeMap<i64, Vec<u64>>,
    rows: usize,
    partition_ns: i64,
}

impl Buffer {
    /// An empty buffer with partitions `partition_ns` wide.
    pub fn new(partition_ns: i64) -> Self {
        Self { partitions: BTreeMap::new(), present: BTreeMap::new(), rows: 0, partition_ns: partition_ns.max(1) }
    }

    /// The partition a timestamp falls in.
    pub fn partition_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_ns) * self.partition_ns
    }

    /// Adds the readings of one committed record.
    pub fn insert(&mut self, seq: super::CommitSeq, readings: &[Reading]) {
        // Readings of one request nearly always share a partition: look it up once per run.
        let width = self.partition_ns;
        let mut i = 0;
        while i < readings.len() {
            let p = self.partition_of(readings[i].ts.as_nanos());
            let rows = self.partitions.entry(p).or_default();
            let present = self.present.entry(p).or_default();
            while let Some(r) = readings.get(i).filter(|r| (p..p.saturating_add(width)).contains(&r.ts.as_nanos())) {
                rows.push(seq, r);
                let (word, bit) = (r.series.0 as usize / 64, r.series.0 % 64);
                if present.len() <= word {
                    present.resize(word + 1, 0);
                }
                present[word] |= 1 << bit;
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
            if filter.from.is_some_and(|f| end <= f.as_nanos()) || filter.to.is_some_and(|t| *start >= t.as_nanos()) {
                continue;
            }
            if let (Some(wanted), Some(present)) = (filter.series.as_ref(), self.present.get(start))
                && wanted.len() <= PRESENCE_CHECK_SERIES
                && !wanted.iter().any(|id| present.get(id as usize / 64).is_some_and(|w| w & (1 << (id % 64)) != 0))
            {
                continue;
            }
            out.append(rows.select(filter));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[(u32, i64, i128, u64)]) -> Rows {
        let mut out = Rows::default();
        for &(series, ts, value, seq) in r {
            out.series.push(series);
            out.ts.push(ts);
            out.value.push(value);
            out.uptime_s.push(None);
            out.discontinuity.push(None);
            out.seq.push(seq);
        }
        out
    }

    fn triples(r: &Rows) -> Vec<(u32, i64, i128)> {
        (0..r.len()).map(|i| (r.series[i], r.ts[i], r.value[i])).collect()
    }

    #[test]
    fn sorted_unique_keeps_the_latest_write_dense_or_sparse_ids() {
        for far in [9, 1_000_000] {
            // Two sources out of order, a rewrite (seq 5 beats seq 2) and a repeat within one
            // request (the later row wins).
            let r =
                rows(&[(far, 30, 1, 1), (3, 20, 2, 2), (3, 10, 3, 2), (far, 10, 4, 1), (3, 20, 5, 5), (3, 10, 6, 2)]);
            assert_eq!(triples(&r.sorted_unique()), [(3, 10, 6), (3, 20, 5), (far, 10, 4), (far, 30, 1)], "{far}");
        }
        assert_eq!(Rows::default().sorted_unique().len(), 0);
    }

    #[test]
    fn sorted_selection_equals_the_linear_one() {
        // 20 series x 50 timestamps, sorted by (series, ts) as a segment's row group is.
        let mut all = Vec::new();
        for series in 0..20u32 {
            for t in 0..50i64 {
                all.push((series * 3, t * 10, i128::from(series) * 1000 + i128::from(t), 1));
            }
        }
        let r = rows(&all);
        for wanted in [vec![], vec![0], vec![3, 4, 57], vec![1], vec![30, 33, 200]] {
            for (from, to) in
                [(None, None), (Some(100), Some(200)), (Some(-5), Some(1)), (Some(490), None), (Some(300), Some(300))]
                    .map(|(a, b): (Option<i64>, Option<i64>)| {
                        (a.map(Timestamp::from_nanos), b.map(Timestamp::from_nanos))
                    })
            {
                let filter = ScanFilter { series: Some(Arc::new(wanted.iter().copied().collect())), from, to };
                assert_eq!(
                    triples(&r.select_sorted(&filter)),
                    triples(&r.select(&filter)),
                    "{wanted:?} {from:?} {to:?}"
                );
            }
        }
        let everything = ScanFilter::default();
        assert_eq!(triples(&r.select_sorted(&everything)).len(), 1000);
        // One series (the fast path), rows in any order: exactly its rows in [100, 130).
        let shuffled = rows(&[(3, 120, 1, 1), (4, 110, 2, 1), (3, 100, 3, 1), (3, 130, 4, 1), (3, 90, 5, 1)]);
        let one = ScanFilter {
            series: Some(Arc::new([3u32].into_iter().collect())),
            from: Some(Timestamp::from_nanos(100)),
            to: Some(Timestamp::from_nanos(130)),
        };
        assert_eq!(triples(&shuffled.select(&one)), [(3, 120, 1), (3, 100, 3)]);
    }

    #[test]
    fn a_partition_without_the_wanted_series_is_skipped_not_lost() {
        use crate::store::reading::{Reading, SeriesId, Value};
        use crate::time::Timestamp;
        let reading = |series: u32, ts_s: i64| Reading {
            series: SeriesId(series),
            ts: Timestamp::from_secs(ts_s),
            value: Value::from_u64(u64::from(series)),
            uptime_s: None,
            discontinuity: None,
        };
        let mut b = Buffer::new(3_600_000_000_000);
        b.insert(super::super::CommitSeq(1), &[reading(5, 10), reading(700, 20), reading(5, 3_700)]);
        b.insert(super::super::CommitSeq(2), &[reading(9, 7_300)]);
        let of =
            |ids: &[u32]| ScanFilter { series: Some(Arc::new(ids.iter().copied().collect())), from: None, to: None };
        let series = |f: &ScanFilter| b.select(f).series;
        assert_eq!(series(&of(&[5])), [5, 5]);
        assert_eq!(series(&of(&[700])), [700]);
        assert_eq!(series(&of(&[9, 700])), [700, 9]);
        assert_eq!(series(&of(&[6])), Vec::<u32>::new());
        assert_eq!(b.select(&ScanFilter::default()).len(), 4);
    }
}
