//! Closed months: what moves buckets between the table's memory and its [`BucketArchive`].
//!
//! - Open months are the current UTC month (by the store's clock) and the `open_months - 1`
//!   before it; their buckets are in memory, kept current at commit.
//! - [`BucketTable::archive_closed`] (run periodically by the server) writes the months that
//!   have closed since, and the closed months that late data changed, then drops them from
//!   memory. The archive records the commit sequence number each month covers.
//! - A late sample in a closed month is rebuilt like any late sample; the series' archived
//!   buckets of the months the rebuild touches are brought back first and stay in memory
//!   ("pending") until the next pass writes them.
//! - [`BucketTable::build`] (start, inventory change) derives the open months from raw readings
//!   and, for closed months, only what the archive lacks: months never archived (an upgrade, an
//!   import) from raw readings, and in archived months the ranges around readings committed
//!   after the month's covered sequence number (late data a crash kept from being archived).
//! - Reading inventory changes (port speed, poll interval) re-derive the open months only:
//!   closed months keep the buckets they were billed from (a careful auditor's reading; the
//!   archive is the record).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{Datelike, Months, TimeZone, Utc};

use super::BucketError;
use super::{
    BucketRow, BucketTable, BySeries, Direction, FIRST_UNKNOWN, Inner, PortMeta, Rebuilt, Series, index, rebuild,
    sample, series_runs, utc_month_start,
};
use crate::metering::bucket::{apportion_into, bucket_start};
use crate::metering::bucket_archive::{ArchivedSeries, BucketArchive};
use crate::metering::bucket_chunks::BucketChunks;
use crate::metering::counter::{CounterSample, intervals};
use crate::store::CommitSeq;
use crate::store::Store;
use crate::store::buffer::ScanFilter;
use crate::store::series_set::SeriesSet;
use crate::time::Timestamp;

/// Series scanned together when deriving months from raw readings (bounds the rows in memory).
const SCAN_GROUP: usize = 64;

/// Look-around of a month's batched scan: most series have a sample within it on both sides;
/// the rest are rebuilt alone, widening until exact.
const LOOK_AROUND_NS: i64 = 86_400 * 1_000_000_000;

/// The start of the month `k` months after the one starting at `month` (negative: before).
pub fn add_months(month: Timestamp, k: i32) -> Timestamp {
    let d = month.to_datetime();
    let Some(first) = Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0).single() else { return month };
    let moved = if k >= 0 {
        first.checked_add_months(Months::new(k.unsigned_abs()))
    } else {
        first.checked_sub_months(Months::new(k.unsigned_abs()))
    };
    moved.and_then(Timestamp::from_datetime).unwrap_or(if k >= 0 { Timestamp::MAX } else { Timestamp::MIN })
}

/// `[from, to)` as a map range, empty when `to <= from` (a map's `range` panics on a reversed one).
fn span(from: Timestamp, to: Timestamp) -> std::ops::Range<Timestamp> {
    from..to.max(from)
}

/// The month starts of the months overlapping `[from, to)`.
fn months_between(from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    let mut m = utc_month_start(from);
    while m < to && m != Timestamp::MAX {
        out.push(m);
        m = add_months(m, 1);
    }
    out
}

impl BucketTable {
    /// The first open month now (by the store's clock).
    fn open_from_now(&self, store: &Store) -> Timestamp {
        let k = i32::try_from(self.open_months.max(1) - 1).unwrap_or(i32::MAX);
        add_months(utc_month_start(store.now()), -k)
    }

    /// The first open month (`Timestamp::MIN`: everything is open).
    pub fn open_from(&self) -> Timestamp {
        self.read().open_from
    }

    /// The archived buckets of the closed months a rebuild touches that series `id` does not
    /// hold in memory, by month: they come back before the rebuilt range replaces its part.
    pub(super) fn closed_months_of(&self, id: u32, r: &Rebuilt) -> Result<Vec<(Timestamp, BucketChunks)>, BucketError> {
        let Some(archive) = &self.archive else { return Ok(Vec::new()) };
        let wanted: Vec<Timestamp> = {
            let inner = self.read();
            if r.from == Timestamp::MIN {
                return Ok(Vec::new());
            }
            months_between(r.from, r.to.min(inner.open_from))
                .into_iter()
                .filter(|m| !inner.pending.get(m).is_some_and(|p| p.contains(&id)))
                .collect()
        };
        let mut out = Vec::with_capacity(wanted.len());
        for m in wanted {
            let chunks = archive.load(m, &[id])?.remove(&id).map(|c| (*c).clone()).unwrap_or_default();
            out.push((m, chunks));
        }
        Ok(out)
    }

    /// Runs `f` over series `id`'s buckets covering `[from, to)`, closed months' read from the
    /// archive when not in memory; `None` when the table does not know the series.
    pub(super) fn with_buckets<R>(
        &self,
        id: Option<u32>,
        from: Timestamp,
        to: Timestamp,
        f: impl FnOnce(&BucketChunks) -> R,
    ) -> Result<Option<R>, BucketError> {
        let inner = self.read();
        let Some((id, s)) = id.and_then(|id| inner.series.get(&id).map(|s| (id, s))) else { return Ok(None) };
        let archived: Vec<Timestamp> = match &self.archive {
            Some(a) if from < inner.open_from => a
                .months_overlapping(from, to.min(inner.open_from))
                .into_iter()
                .filter(|m| !inner.pending.get(m).is_some_and(|p| p.contains(&id)))
                .collect(),
            _ => Vec::new(),
        };
        if archived.is_empty() {
            return Ok(Some(f(&s.buckets)));
        }
        let mut owned = s.buckets.clone_range(from, to);
        drop(inner);
        if let Some(archive) = &self.archive {
            for m in archived {
                if let Some(c) = archive.load(m, &[id])?.remove(&id) {
                    owned.absorb(c.clone_range(from, to));
                }
            }
        }
        Ok(Some(f(&owned)))
    }

    /// The archived buckets in `[from, to)` of every series not held in memory for its month.
    pub(super) fn archived_rows(&self, from: Timestamp, to: Timestamp) -> Result<Vec<BucketRow>, BucketError> {
        let Some(archive) = &self.archive else { return Ok(Vec::new()) };
        let (months, pending) = {
            let inner = self.read();
            if from >= inner.open_from {
                return Ok(Vec::new());
            }
            (archive.months_overlapping(from, to.min(inner.open_from)), inner.pending.clone())
        };
        let mut out = Vec::new();
        for m in months {
            for s in archive.read_month(m)? {
                if pending.get(&m).is_some_and(|p| p.contains(&s.id)) {
                    continue;
                }
                for (start, bucket) in s.buckets.range(from, to) {
                    out.push(BucketRow {
                        device: Arc::clone(&s.device),
                        port: Arc::clone(&s.port),
                        direction: s.direction,
                        start,
                        bucket: *bucket,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Writes the months closed since the last pass and the closed months late data changed
    /// to the archive, then drops them from memory; returns the months written.
    pub fn archive_closed(&self, store: &Store) -> Result<usize, BucketError> {
        let Some(archive) = self.archive.clone() else { return Ok(0) };
        store.wait_observed(super::SETTLE_WAIT)?;
        let _one = self.settling();
        let open_from = self.open_from_now(store);
        let (jobs, covered) = {
            let mut tries = 0;
            loop {
                self.rebuild_dirty(store)?;
                let mut inner = self.lock();
                if inner.dirty.is_empty() || tries == 3 {
                    if !inner.dirty.is_empty() {
                        return Ok(0); // late data keeps arriving: the next pass
                    }
                    // Every batch up to it has been applied (the observer applies under this lock).
                    let covered = store.observed_seq();
                    close_months(&mut inner, open_from);
                    break (snapshot(&inner), covered);
                }
                tries += 1;
            }
        };
        let written = jobs.len();
        for (month, series) in jobs {
            let ids: Vec<u32> = series.iter().map(|s| s.id).collect();
            archive.write_month(month, covered, series)?;
            let mut inner = self.lock();
            let next = add_months(month, 1);
            for id in ids {
                if let Some(s) = inner.series.get_mut(&id) {
                    let before = s.buckets.bytes();
                    s.buckets.take_range(month, next);
                    self.count_bytes(before, s.buckets.bytes());
                }
            }
            inner.pending.remove(&month);
        }
        Ok(written)
    }

    /// [`BucketTable::build`] with an archive (see the module docs).
    pub(super) fn build_archived(&self, store: &Store, archive: Arc<BucketArchive>) -> Result<(), BucketError> {
        let _one = self.settling();
        let classify = self.classifier();
        let open_from = self.open_from_now(store);
        let registry = store.registry();
        let ids = registry.select(|k| classify(k).is_some());
        let mut metas: BTreeMap<u32, (PortMeta, Arc<str>, Arc<str>)> = BTreeMap::new();
        for (id, key) in registry.keys_of(ids.iter().copied()) {
            if let Some(m) = classify(&key) {
                metas.insert(id, (m, Arc::clone(&key.device), Arc::clone(&key.resource)));
            }
        }
        let covered = store.committed_seq();
        if !metas.is_empty()
            && let Some(earliest) = store.earliest_ts()
        {
            let archived = archive.months();
            for month in months_between(earliest, open_from) {
                match archived.get(&month) {
                    None => {
                        let series = derive_month(store, &metas, month)?;
                        archive.write_month(month, covered, series)?;
                    }
                    Some(&seq) => mend_month(store, &archive, &metas, month, seq, open_from, covered)?,
                }
            }
        }
        let built = derive_open(store, &metas, open_from)?;
        let bytes: usize = built.values().map(|s| s.buckets.bytes()).sum();
        let mut inner = self.lock();
        self.metrics.bytes.store(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
        *inner = Inner { series: built, open_from, ..Inner::default() };
        self.changes().record(Timestamp::MIN, Timestamp::MAX);
        for (id, (meta, _, _)) in &metas {
            inner.series.get_or_insert_with(*id, || Box::new(Series::new(*meta)));
            if let Some(key) = registry.key(crate::store::reading::SeriesId(*id)) {
                index(&mut inner, *id, &key, Some(*meta));
            }
        }
        Ok(())
    }
}

/// Marks the months closing at `open_from` pending for every series holding buckets in them.
fn close_months(inner: &mut Inner, open_from: Timestamp) {
    if open_from <= inner.open_from {
        return;
    }
    let Inner { series, pending, .. } = inner;
    for (id, s) in series.iter() {
        if let Some((first, _)) = s.buckets.range(Timestamp::MIN, open_from).next() {
            for m in months_between(first, open_from) {
                pending.entry(m).or_default().insert(id);
            }
        }
    }
    inner.open_from = open_from;
}

/// The pending months' buckets, ready to write.
fn snapshot(inner: &Inner) -> Vec<(Timestamp, Vec<ArchivedSeries>)> {
    let mut names: HashMap<u32, (Arc<str>, Arc<str>, Direction)> = HashMap::new();
    for ((device, port), ids) in &inner.ports {
        for (d, id) in [(Direction::In, ids[0]), (Direction::Out, ids[1])] {
            if let Some(id) = id {
                names.insert(id, (Arc::clone(device), Arc::clone(port), d));
            }
        }
    }
    let mut jobs = Vec::new();
    for (month, ids) in &inner.pending {
        let next = add_months(*month, 1);
        let series: Vec<ArchivedSeries> = ids
            .iter()
            .filter_map(|id| {
                let s = inner.series.get(id)?;
                let (device, port, direction) = names.get(id)?.clone();
                let mut buckets = s.buckets.clone_range(*month, next);
                buckets.clear_range(Timestamp::MIN, *month);
                buckets.clear_range(next, Timestamp::MAX);
                Some(ArchivedSeries { id: *id, device, port, direction, buckets })
            })
            .collect();
        jobs.push((*month, series));
    }
    jobs
}

/// Runs `f(id, samples)` for every series in `ids`, scanning `[from, to)` in groups (a series
/// with no samples there gets an empty slice).
fn scan_groups(
    store: &Store,
    ids: &[u32],
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    mut f: impl FnMut(u32, &[CounterSample]) -> Result<(), BucketError>,
) -> Result<(), BucketError> {
    for group in ids.chunks(SCAN_GROUP) {
        let set = Arc::new(group.iter().copied().collect::<SeriesSet>());
        let rows = store.scan(&ScanFilter { series: Some(set), from, to })?;
        let by_series: HashMap<u32, Vec<CounterSample>> =
            series_runs(&rows).map(|(id, i, j)| (id, (i..j).filter_map(|k| sample(&rows, k)).collect())).collect();
        for id in group {
            f(*id, by_series.get(id).map_or(&[][..], Vec::as_slice))?;
        }
    }
    Ok(())
}

/// Whether samples scanned from `from` exactly determine the buckets from `lo`: a sample at or
/// before `lo` was seen (or the scan had no lower bound).
fn determined_from(samples: &[CounterSample], lo: Timestamp) -> bool {
    samples.first().is_some_and(|s| s.ts <= lo)
}

/// One month of every series in `metas`, derived from raw readings.
fn derive_month(
    store: &Store,
    metas: &BTreeMap<u32, (PortMeta, Arc<str>, Arc<str>)>,
    month: Timestamp,
) -> Result<Vec<ArchivedSeries>, BucketError> {
    let next = add_months(month, 1);
    let ids: Vec<u32> = metas.keys().copied().collect();
    let mut out = Vec::new();
    let from = month.minus_ns(LOOK_AROUND_NS);
    let to = next.plus_ns(LOOK_AROUND_NS);
    scan_groups(store, &ids, Some(from), Some(to), |id, samples| {
        let Some((meta, device, port)) = metas.get(&id) else { return Ok(()) };
        let exact = determined_from(samples, month) && samples.last().is_some_and(|l| l.ts >= next);
        let mut buckets = BucketChunks::default();
        if exact {
            for iv in intervals(samples, meta.width, meta.speed_bps) {
                apportion_into(&mut buckets, &iv, meta.poll_ns);
            }
        } else {
            let r = rebuild(store, id, *meta, month, next.minus_ns(1), false, false)?;
            for (k, b) in r.buckets.range(span(r.from.max(month), r.to.min(next))) {
                buckets.set(*k, *b);
            }
        }
        buckets.clear_range(Timestamp::MIN, month);
        buckets.clear_range(next, Timestamp::MAX);
        if buckets.chunk_count() > 0 {
            let direction = meta.direction;
            out.push(ArchivedSeries { id, device: Arc::clone(device), port: Arc::clone(port), direction, buckets });
        }
        Ok(())
    })?;
    Ok(out)
}

/// Rebuilds, in an archived month, the ranges around readings committed after the sequence
/// number the month covers; every closed month such a rebuild reaches is rewritten.
fn mend_month(
    store: &Store,
    archive: &BucketArchive,
    metas: &BTreeMap<u32, (PortMeta, Arc<str>, Arc<str>)>,
    month: Timestamp,
    seq: CommitSeq,
    open_from: Timestamp,
    covered: CommitSeq,
) -> Result<(), BucketError> {
    let ids: Vec<u32> = metas.keys().copied().collect();
    let filter = ScanFilter {
        series: Some(Arc::new(ids.into_iter().collect::<SeriesSet>())),
        from: Some(month),
        to: Some(add_months(month, 1)),
    };
    let newer = store.scan_newer(&filter, seq)?;
    let mut ranges: BTreeMap<u32, (Timestamp, Timestamp)> = BTreeMap::new();
    for (id, ts) in newer.series.iter().zip(&newer.ts) {
        let ts = Timestamp::from_nanos(*ts);
        let e = ranges.entry(*id).or_insert((ts, ts));
        e.0 = e.0.min(ts);
        e.1 = e.1.max(ts);
    }
    let mut changed: BTreeMap<Timestamp, BTreeMap<u32, BucketChunks>> = BTreeMap::new();
    for (id, (lo, hi)) in ranges {
        let Some((meta, _, _)) = metas.get(&id) else { continue };
        let r = rebuild(store, id, *meta, lo, hi, false, false)?;
        if r.from == Timestamp::MIN {
            continue;
        }
        for m in months_between(r.from, r.to.min(open_from)) {
            let slot = match changed.entry(m).or_default().entry(id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(archive.load(m, &[id])?.remove(&id).map(|c| (*c).clone()).unwrap_or_default())
                }
            };
            let (a, b) = (r.from.max(m), r.to.min(add_months(m, 1)));
            slot.clear_range(a, b);
            for (k, bucket) in r.buckets.range(span(a, b)) {
                slot.set(*k, *bucket);
            }
        }
    }
    for (m, series) in changed {
        let series: Vec<ArchivedSeries> = series
            .into_iter()
            .filter_map(|(id, buckets)| {
                let (meta, device, port) = metas.get(&id)?;
                Some(ArchivedSeries {
                    id,
                    device: Arc::clone(device),
                    port: Arc::clone(port),
                    direction: meta.direction,
                    buckets,
                })
            })
            .collect();
        tracing::info!(month = %crate::metering::bucket_archive::month_label(m), series = series.len(), "rebuilding archived buckets after late readings");
        archive.write_month(m, covered, series)?;
    }
    Ok(())
}

/// The open months of every series, derived from raw readings (`first` unknown: archived
/// months come before).
fn derive_open(
    store: &Store,
    metas: &BTreeMap<u32, (PortMeta, Arc<str>, Arc<str>)>,
    open_from: Timestamp,
) -> Result<BySeries<Box<Series>>, BucketError> {
    let ids: Vec<u32> = metas.keys().copied().collect();
    let mut built: BySeries<Box<Series>> = BySeries::default();
    scan_groups(store, &ids, Some(open_from.minus_ns(LOOK_AROUND_NS)), None, |id, samples| {
        let Some((meta, _, _)) = metas.get(&id) else { return Ok(()) };
        let mut series = Series::new(*meta);
        series.first = Some(FIRST_UNKNOWN);
        if determined_from(samples, open_from) {
            for iv in intervals(samples, meta.width, meta.speed_bps) {
                apportion_into(&mut series.buckets, &iv, meta.poll_ns);
            }
            series.last = samples.last().copied();
        } else {
            // No sample at or before the month's start in the look-around: widen alone.
            let r = rebuild(store, id, *meta, open_from, open_from, false, true)?;
            for (k, b) in r.buckets.range(r.from.max(open_from)..) {
                series.buckets.set(*k, *b);
            }
            series.last = r.last;
        }
        series.buckets.clear_range(Timestamp::MIN, open_from);
        if let Some(l) = series.last {
            series.rerun(bucket_start(l.ts));
        }
        built.insert(id, Box::new(series));
        Ok(())
    })?;
    Ok(built)
}
