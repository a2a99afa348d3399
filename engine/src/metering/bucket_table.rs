//! The materialised 5-minute bucket table of every port counter series (metering.md §3), kept
//! current as readings are committed, so a month's 95th never re-reads raw readings.
//!
//! - In-order samples (the common case) are applied at commit, on the store's writer thread:
//!   the interval from the series' last sample is apportioned and added to its buckets.
//! - A late sample (at or before the series' last one), or a rewrite, marks a range dirty;
//!   [`BucketTable::settle`] rebuilds that range from the raw readings before anything reads the
//!   table. The rebuilt range is widened until it is exactly determined: the buckets a scan of
//!   samples `s_0..s_n` fixes are those starting at or after `s_0` and ending at or before `s_n`,
//!   since no interval between samples outside the scan overlaps them.
//! - At start (and after an inventory change that alters speeds or poll intervals) the table is
//!   built from the store by [`BucketTable::build`].
//!
//! Without an archive the whole table lives in memory (32 bytes per bucket and direction) and a
//! start rebuilds it from raw readings. With one ([`BucketTable::archived`], what the server
//! runs), only the open UTC months are in memory and closed months live in the
//! [`BucketArchive`] (see [`archiving`]): memory is bounded by the open months, not by history,
//! and buckets outlive raw retention.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::bucket::{BUCKET_NS, Bucket, Slot, apportion, apportion_into, bucket_start};
use super::bucket_archive::BucketArchive;
use super::bucket_chunks::BucketChunks;
use super::counter::{CounterSample, CounterWidth, interval, intervals};
use super::percentile::{P95, Ranked, nearest_rank};
use super::running::RunningP95;
use crate::store::Store;
use crate::store::buffer::ScanFilter;
use crate::store::changes::ChangeLog;
use crate::store::observer::CommitObserver;
use crate::store::reading::{Reading, SeriesKey};
use crate::store::registry::Registry;
use crate::store::series_set::SeriesSet;
use crate::time::Timestamp;

mod error;
mod samples;
pub use error::BucketError;
#[cfg(test)]
use samples::unscaled_integer;
use samples::{reading_sample, sample, series_runs};

/// Which way a port counter counts (from the switch's point of view, metering.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `in_octets`: the customer's upload.
    In,
    /// `out_octets`: the customer's download.
    Out,
}

/// What the metering rules need to know about one port counter series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMeta {
    /// Direction.
    pub direction: Direction,
    /// The device's poll interval, ns (gap detection).
    pub poll_ns: i64,
    /// Port speed, bits/s (implausible-rate detection); `None` when unknown.
    pub speed_bps: Option<u64>,
    /// Counter width.
    pub width: CounterWidth,
}

/// A port: `(device, ifName)`.
pub type PortKey = (Arc<str>, Arc<str>);

/// One bucket of one port and direction, for the `port_buckets` view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRow {
    /// Switch.
    pub device: Arc<str>,
    /// Port ifName.
    pub port: Arc<str>,
    /// Direction.
    pub direction: Direction,
    /// Bucket start.
    pub start: Timestamp,
    /// The bucket.
    pub bucket: Bucket,
}

/// One port's running month-to-date 95th in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningRow {
    /// Switch.
    pub device: Arc<str>,
    /// Port ifName.
    pub port: Arc<str>,
    /// Direction.
    pub direction: Direction,
    /// Start of the UTC month.
    pub month_start: Timestamp,
    /// `(bytes, bucket start)` of the 95th so far, with n and discarded; `None` before any data.
    pub p95: Option<Ranked<(u64, Timestamp)>>,
}

/// The start of the UTC calendar month holding `t`.
pub fn utc_month_start(t: Timestamp) -> Timestamp {
    use chrono::{Datelike, TimeZone, Utc};
    let d = t.to_datetime();
    Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
        .single()
        .and_then(Timestamp::from_datetime)
        .unwrap_or(Timestamp::MIN)
}

/// Decides which series are port counters, and their parameters (from the inventory).
pub type Classifier = dyn Fn(&SeriesKey) -> Option<PortMeta> + Send + Sync;

/// Buckets of one port counter series.
#[derive(Debug, Clone)]
struct Series {
    meta: PortMeta,
    /// Earliest sample time seen.
    first: Option<Timestamp>,
    /// The latest sample.
    last: Option<CounterSample>,
    buckets: BucketChunks,
    /// The running 95th of the current UTC month's finished buckets (with data), and that
    /// month's start.
    running: Option<(Timestamp, RunningP95)>,
}

/// A running 95th for the UTC month starting at `month`: at most its buckets' worth of values.
fn month_running(month: Timestamp) -> RunningP95 {
    let end = archiving::add_months(month, 1);
    RunningP95::bounded(usize::try_from(end.nanos_since(month) / BUCKET_NS).unwrap_or(usize::MAX))
}

/// `first` of a series built from part of its history (archived months before it): samples
/// may exist before anything seen, so a late sample is never taken to be the first.
const FIRST_UNKNOWN: Timestamp = Timestamp::MIN;

impl Series {
    fn new(meta: PortMeta) -> Self {
        Self { meta, first: None, last: None, buckets: BucketChunks::default(), running: None }
    }

    /// Adds a finished bucket to the running 95th (a new month starts a new one).
    fn finish(&mut self, start: Timestamp) {
        let Some(b) = self.buckets.get(start).copied() else { return };
        if !b.has_data() {
            return;
        }
        let month = utc_month_start(start);
        match &mut self.running {
            Some((m, r)) if *m == month => r.push((b.bytes, start)),
            Some((m, _)) if *m > month => {}
            _ => {
                let mut r = month_running(month);
                r.push((b.bytes, start));
                self.running = Some((month, r));
            }
        }
    }

    /// Recomputes the running 95th of the month holding `upto` from the buckets before `upto`
    /// (after a rebuild, a restore or a build).
    fn rerun(&mut self, upto: Timestamp) {
        let month = utc_month_start(upto);
        let mut r = month_running(month);
        for (k, b) in self.buckets.range(month, upto) {
            if b.has_data() {
                r.push((b.bytes, k));
            }
        }
        self.running = Some((month, r));
    }
}

/// Maps on the per-reading path hash with foldhash (keys are series IDs and inventory names).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use by_series::BySeries;

struct Inner {
    /// Every series ID seen, with its classification (`None`: not a port counter).
    seen: BySeries<Option<PortMeta>>,
    series: BySeries<Box<Series>>,
    /// `(device, port)` → series IDs `[in, out]`.
    ports: FastMap<PortKey, [Option<u32>; 2]>,
    /// Late or rewritten ranges `[lo, hi]` (sample times) waiting for a rebuild.
    dirty: HashMap<u32, (Timestamp, Timestamp)>,
    /// Start of the first open month: buckets before it are closed, in the archive
    /// (`Timestamp::MIN` without an archive: everything is open).
    open_from: Timestamp,
    /// Closed months' buckets held in memory, by month: the series whose buckets of that month
    /// were rebuilt (late data) or have just closed, waiting to be written to the archive.
    pending: BTreeMap<Timestamp, std::collections::BTreeSet<u32>>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            seen: BySeries::default(),
            series: BySeries::default(),
            ports: FastMap::default(),
            dirty: HashMap::new(),
            open_from: Timestamp::MIN,
            pending: BTreeMap::new(),
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BucketTableMetrics {
    /// Samples applied in order at commit.
    pub applied: AtomicU64,
    /// Late samples (ranges rebuilt).
    pub late: AtomicU64,
    /// Range rebuilds done.
    pub rebuilds: AtomicU64,
    /// Counter samples that are not non-negative integers (ignored).
    pub bad_values: AtomicU64,
    /// Memory of the buckets held, bytes: the open months' (and closed months' waiting for the
    /// archive; without an archive, every bucket ever built).
    pub bytes: AtomicI64,
}

/// The table.
pub struct BucketTable {
    classify: RwLock<Arc<Classifier>>,
    inner: RwLock<Inner>,
    /// The bucket ranges changed, each recorded while the write lock that changes them is held
    /// (lock order: `inner`, then `changes`); readers of the log take only this lock.
    changes: Mutex<ChangeLog>,
    /// Counters.
    pub metrics: BucketTableMetrics,
    /// Closed months (with [`BucketTable::archived`]).
    archive: Option<Arc<BucketArchive>>,
    /// UTC months kept in memory: the current one and the `open_months - 1` before it.
    open_months: u32,
    /// Range rebuilds and archive passes, one at a time (both move closed months' buckets
    /// between memory and the archive).
    settling: Mutex<()>,
}

impl std::fmt::Debug for BucketTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketTable").field("series", &self.read().series.len()).finish()
    }
}

/// One series' buckets in a window, by start.
pub type BucketMap = BTreeMap<Timestamp, Bucket>;

/// Longest a reader waits for the observer thread to catch up.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Widest look-around when rebuilding a late range: beyond it there is nothing (raw retention
/// is far shorter).
const MAX_WINDOW_NS: i64 = 4_000 * 86_400 * 1_000_000_000;

impl BucketTable {
    /// An empty table classifying series with `classify`.
    pub fn new(classify: Arc<Classifier>) -> Self {
        Self {
            classify: RwLock::new(classify),
            inner: RwLock::new(Inner::default()),
            changes: Mutex::default(),
            metrics: Default::default(),
            archive: None,
            open_months: 0,
            settling: Mutex::new(()),
        }
    }

    /// A table keeping the current UTC month and the `open_months - 1` before it (at least one)
    /// in memory, closed months in `archive`.
    pub fn archived(classify: Arc<Classifier>, archive: Arc<BucketArchive>, open_months: u32) -> Self {
        Self { archive: Some(archive), open_months: open_months.max(1), ..Self::new(classify) }
    }

    /// The archive of closed months, if the table has one.
    pub fn archive(&self) -> Option<&Arc<BucketArchive>> {
        self.archive.as_ref()
    }

    fn lock(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the memory gauge by a series' change from `before` to `after` bytes.
    fn count_bytes(&self, before: usize, after: usize) {
        if after != before {
            let delta = i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX);
            self.metrics.bytes.fetch_add(delta, Ordering::Relaxed);
        }
    }

    fn changes(&self) -> MutexGuard<'_, ChangeLog> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn classifier(&self) -> Arc<Classifier> {
        Arc::clone(&self.classify.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the classifier (after an inventory change) and rebuilds everything.
    pub fn reclassify(&self, classify: Arc<Classifier>, store: &Store) -> Result<(), BucketError> {
        *self.classify.write().unwrap_or_else(|p| p.into_inner()) = classify;
        self.build(store)
    }

    /// Builds the whole table from the store's readings. Writes committed meanwhile are applied
    /// or marked dirty as usual and settled afterwards.
    pub fn build(&self, store: &Store) -> Result<(), BucketError> {
        if let Some(archive) = &self.archive {
            return self.build_archived(store, Arc::clone(archive));
        }
        let classify = self.classifier();
        let mut metas: HashMap<u32, PortMeta> = HashMap::new();
        let ids = store.registry().select(|k| classify(k).is_some());
        for (id, key) in store.registry().keys_of(ids.iter().copied()) {
            if let Some(m) = classify(&key) {
                metas.insert(id, m);
            }
        }
        let rows = store.scan(&ScanFilter { series: Some(Arc::new(SeriesSet::from(ids))), from: None, to: None })?;
        let mut built: BySeries<Box<Series>> = BySeries::default();
        for (id, i, j) in series_runs(&rows) {
            if let Some(meta) = metas.get(&id) {
                let samples: Vec<CounterSample> = (i..j).filter_map(|k| sample(&rows, k)).collect();
                let mut buckets = BucketChunks::default();
                for iv in intervals(&samples, meta.width, meta.speed_bps) {
                    apportion_into(&mut buckets, &iv, meta.poll_ns);
                }
                let mut series = Series {
                    meta: *meta,
                    first: samples.first().map(|s| s.ts),
                    last: samples.last().copied(),
                    buckets,
                    running: None,
                };
                if let Some(l) = series.last {
                    series.rerun(bucket_start(l.ts));
                }
                built.insert(id, Box::new(series));
            }
        }
        let registry = store.registry();
        let bytes: usize = built.values().map(|s| s.buckets.bytes()).sum();
        let mut inner = self.lock();
        self.metrics.bytes.store(i64::try_from(bytes).unwrap_or(i64::MAX), Ordering::Relaxed);
        inner.seen = BySeries::default();
        inner.ports.clear();
        inner.dirty.clear();
        inner.series = built;
        self.changes().record(Timestamp::MIN, Timestamp::MAX);
        for (id, meta) in &metas {
            inner.series.get_or_insert_with(*id, || Box::new(Series::new(*meta)));
            if let Some(key) = registry.key(crate::store::reading::SeriesId(*id)) {
                index(&mut inner, *id, &key, Some(*meta));
            }
        }
        Ok(())
    }

    /// Catches up with every batch committed so far (the observer thread applies them), then
    /// rebuilds every dirty range from raw readings; returns how many ranges it rebuilt.
    pub fn settle(&self, store: &Store) -> Result<usize, BucketError> {
        store.wait_observed(SETTLE_WAIT)?;
        if !self.is_dirty() {
            return Ok(0);
        }
        let _one = self.settling();
        self.rebuild_dirty(store)
    }

    fn settling(&self) -> MutexGuard<'_, ()> {
        self.settling.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds every dirty range from raw readings (with `settling` held).
    fn rebuild_dirty(&self, store: &Store) -> Result<usize, BucketError> {
        let mut done = 0;
        loop {
            let dirty: Vec<(u32, (Timestamp, Timestamp))> = self.lock().dirty.drain().collect();
            if dirty.is_empty() {
                return Ok(done);
            }
            for (id, (lo, hi)) in dirty {
                let (meta, first, last) = match self.read().series.get(&id) {
                    Some(s) => (s.meta, s.first, s.last),
                    None => continue,
                };
                let lo_edge = first.is_some_and(|f| lo <= f);
                let hi_edge = last.is_some_and(|l| hi >= l.ts);
                let loaded = rebuild(store, id, meta, lo, hi, lo_edge, hi_edge)
                    .and_then(|r| self.closed_months_of(id, &r).map(|months| (r, months)));
                let (mut rebuilt, loaded) = match loaded {
                    Ok(r) => r,
                    Err(e) => {
                        // Put it back: the next settle tries again.
                        self.mark(id, lo, hi);
                        return Err(e);
                    }
                };
                let mut guard = self.lock();
                let Inner { series, dirty, open_from, pending, .. } = &mut *guard;
                if self.archive.is_some() && rebuilt.from == Timestamp::MIN {
                    // Nothing raw is left of it: the closed months keep their archived buckets.
                    rebuilt.from = *open_from;
                }
                if let Some(s) = series.get_mut(&id) {
                    let before = s.buckets.bytes();
                    for (month, chunks) in loaded {
                        if pending.entry(month).or_default().insert(id) {
                            s.buckets.absorb(chunks);
                        }
                    }
                    self.count_bytes(before, s.buckets.bytes());
                    if rebuilt.from < rebuilt.to {
                        self.changes().record(rebuilt.from, rebuilt.to);
                        let before = s.buckets.bytes();
                        s.buckets.clear_range(rebuilt.from, rebuilt.to);
                        for (k, b) in rebuilt.buckets.range(rebuilt.from..rebuilt.to) {
                            s.buckets.set(*k, *b);
                        }
                        self.count_bytes(before, s.buckets.bytes());
                    }
                    match (rebuilt.last, s.last) {
                        // A sample committed during the rebuild came after the scanned end: its
                        // interval was applied from the pre-rebuild last sample, so redo it.
                        (Some(l), Some(now)) if now.ts > l.ts => {
                            let e = dirty.entry(id).or_insert((l.ts, now.ts));
                            e.0 = e.0.min(l.ts);
                            e.1 = e.1.max(now.ts);
                        }
                        (Some(l), _) => s.last = Some(l),
                        (None, _) => {}
                    }
                    if let Some(l) = s.last {
                        s.rerun(bucket_start(l.ts));
                    }
                    s.first = match (s.first, rebuilt.first) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                done += 1;
                self.metrics.rebuilds.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn mark(&self, id: u32, lo: Timestamp, hi: Timestamp) {
        let mut inner = self.lock();
        let e = inner.dirty.entry(id).or_insert((lo, hi));
        e.0 = e.0.min(lo);
        e.1 = e.1.max(hi);
    }

    /// The change log's version: every bucket change made so far is at or below it.
    pub fn change_version(&self) -> crate::store::changes::ChangeVersion {
        self.changes().version()
    }

    /// Whether a bucket starting in `[from, to)` may have changed after `since` (a
    /// [`BucketTable::change_version`]). Settle first: a late sample changes buckets when its
    /// range is rebuilt.
    pub fn touched_since(&self, since: crate::store::changes::ChangeVersion, from: Timestamp, to: Timestamp) -> bool {
        self.changes().touched_since(since, from, to)
    }

    /// Whether ranges wait for [`BucketTable::settle`].
    pub fn is_dirty(&self) -> bool {
        !self.read().dirty.is_empty()
    }

    /// The touched buckets of a port starting in `[from, to)`: `(in, out)`. Settle first.
    pub fn port(
        &self,
        device: &str,
        port: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(BucketMap, BucketMap), BucketError> {
        let ids = port_ids(&self.read(), device, port);
        let get = |id| self.with_buckets(id, from, to, |b| b.range(from, to).map(|(k, b)| (k, *b)).collect());
        Ok((get(ids[0])?.unwrap_or_default(), get(ids[1])?.unwrap_or_default()))
    }

    /// The `n` buckets of a port from `first` (aligned), dense (untouched ones are default; a
    /// direction with no series is empty): `(in, out)`. Settle first.
    pub fn port_dense(
        &self,
        device: &str,
        port: &str,
        first: Timestamp,
        n: usize,
    ) -> Result<(Vec<Slot>, Vec<Slot>), BucketError> {
        let ids = port_ids(&self.read(), device, port);
        let to = first.plus_ns(i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(BUCKET_NS));
        // An absent series gives an empty vector: every bucket of it reads as missing.
        let get = |id| self.with_buckets(id, first, to, |b| b.dense_slots(first, n));
        Ok((get(ids[0])?.unwrap_or_default(), get(ids[1])?.unwrap_or_default()))
    }

    /// The 95th (nearest rank) of one port and direction over the buckets starting in
    /// `[from, to)` that have data (`missing_buckets = exclude`), as `(bytes, bucket start)` with
    /// its evidence; `None` when no bucket has data. Reads the day chunks in place: this is the
    /// fast path for many ports (a billing run's or month-to-date figures); `scratch` is reused.
    pub fn port_p95(
        &self,
        device: &str,
        port: &str,
        direction: Direction,
        from: Timestamp,
        to: Timestamp,
        scratch: &mut Vec<(u64, Timestamp)>,
    ) -> Result<Option<Ranked<(u64, Timestamp)>>, BucketError> {
        let id = port_ids(&self.read(), device, port)[usize::from(direction == Direction::Out)];
        scratch.clear();
        let found = self.with_buckets(id, from, to, |b| {
            b.for_each(from, to, |k, b| {
                if b.has_data() {
                    scratch.push((b.bytes, k));
                }
            })
        })?;
        Ok(found.and_then(|()| nearest_rank(scratch, P95)))
    }

    /// Every port's running month-to-date 95th per direction (UTC month of its latest finished
    /// bucket), read from the running state: no ranking happens here.
    pub fn month_to_date(&self) -> Vec<RunningRow> {
        let inner = self.read();
        let mut out = Vec::with_capacity(inner.ports.len() * 2);
        for ((device, port), ids) in &inner.ports {
            for (direction, id) in [(Direction::In, ids[0]), (Direction::Out, ids[1])] {
                if let Some((month, r)) = id.and_then(|id| inner.series.get(&id)).and_then(|s| s.running.as_ref()) {
                    out.push(RunningRow {
                        device: Arc::clone(device),
                        port: Arc::clone(port),
                        direction,
                        month_start: *month,
                        p95: r.value(),
                    });
                }
            }
        }
        out
    }

    /// Loads one series' buckets (a snapshot, a benchmark's month) in place of what it held.
    pub fn restore(&self, id: u32, key: &SeriesKey, meta: PortMeta, buckets: BucketChunks) {
        let mut inner = self.lock();
        index(&mut inner, id, key, Some(meta));
        let mut s = Series::new(meta);
        s.buckets = buckets;
        if let Some((last, _)) = s.buckets.range(Timestamp::MIN, Timestamp::MAX).last() {
            s.rerun(last.plus_ns(BUCKET_NS));
        }
        let after = s.buckets.bytes();
        let before = inner.series.insert(id, Box::new(s)).map_or(0, |old| old.buckets.bytes());
        self.count_bytes(before, after);
        self.changes().record(Timestamp::MIN, Timestamp::MAX);
    }

    /// Every port's buckets in `[from, to)`, sorted by port, start and direction.
    pub fn rows(&self, from: Timestamp, to: Timestamp) -> Result<Vec<BucketRow>, BucketError> {
        let mut out = self.archived_rows(from, to)?;
        let inner = self.read();
        for ((device, port), ids) in &inner.ports {
            for (direction, id) in [(Direction::In, ids[0]), (Direction::Out, ids[1])] {
                if let Some(s) = id.and_then(|id| inner.series.get(&id)) {
                    for (start, bucket) in s.buckets.range(from, to) {
                        out.push(BucketRow {
                            device: Arc::clone(device),
                            port: Arc::clone(port),
                            direction,
                            start,
                            bucket: *bucket,
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.device, &a.port, a.start, a.direction == Direction::Out).cmp(&(
                &b.device,
                &b.port,
                b.start,
                b.direction == Direction::Out,
            ))
        });
        Ok(out)
    }
}

/// A port's series IDs `[in, out]`.
fn port_ids(inner: &Inner, device: &str, port: &str) -> [Option<u32>; 2] {
    inner.ports.get(&(Arc::from(device), Arc::from(port))).copied().unwrap_or([None, None])
}

/// Records a series in the `(device, port)` index.
fn index(inner: &mut Inner, id: u32, key: &SeriesKey, meta: Option<PortMeta>) {
    index_into(&mut inner.seen, &mut inner.ports, id, key, meta);
}

fn index_into(
    seen: &mut BySeries<Option<PortMeta>>,
    ports: &mut FastMap<PortKey, [Option<u32>; 2]>,
    id: u32,
    key: &SeriesKey,
    meta: Option<PortMeta>,
) {
    seen.insert(id, meta);
    if let Some(m) = meta {
        let slot = ports.entry((Arc::clone(&key.device), Arc::clone(&key.resource))).or_default();
        slot[usize::from(m.direction == Direction::Out)] = Some(id);
    }
}

impl CommitObserver for BucketTable {
    fn committed(&self, registry: &Registry, readings: &[Reading]) {
        let classify = self.classifier();
        let mut guard = self.lock();
        let Inner { series: table, seen, ports, dirty, open_from, .. } = &mut *guard;
        let inner_open_from = *open_from;
        // The buckets the in-order samples of this batch changed, as one range.
        let (mut lo, mut hi) = (Timestamp::MAX, Timestamp::MIN);
        // Counted here, published once per batch.
        let (mut applied, mut late, mut bad, mut bytes_before, mut bytes_after) = (0u64, 0u64, 0u64, 0usize, 0usize);
        for r in readings {
            let id = r.series.0;
            // One map look-up for a known port counter (the common case); the classification
            // map only for other series and first sightings.
            let series = match table.get_mut(&id) {
                Some(s) => s,
                None => {
                    if seen.contains_key(&id) {
                        continue; // known, not a port counter
                    }
                    let Some(m) = registry.with_key(r.series, |key| {
                        let m = classify(key);
                        index_into(seen, ports, id, key, m);
                        m
                    }) else {
                        continue;
                    };
                    match m {
                        Some(m) => table.get_or_insert_with(id, || Box::new(Series::new(m))),
                        None => continue,
                    }
                }
            };
            let Some(s) = reading_sample(r) else {
                bad += 1;
                continue;
            };
            let meta = series.meta;
            series.first = Some(series.first.map_or(s.ts, |f| f.min(s.ts)));
            match series.last {
                None => series.last = Some(s),
                // An interval from a closed month: rebuilt by settle, which brings the month's
                // archived buckets back first.
                Some(last) if s.ts > last.ts && bucket_start(last.ts) >= inner_open_from => {
                    let iv = interval(&last, &s, meta.width, meta.speed_bps);
                    bytes_before += series.buckets.bytes();
                    apportion_into(&mut series.buckets, &iv, meta.poll_ns);
                    bytes_after += series.buckets.bytes();
                    lo = lo.min(bucket_start(last.ts));
                    hi = hi.max(bucket_start(s.ts).plus_ns(BUCKET_NS));
                    // Buckets that ended by this sample are final (barring late data); most samples
                    // end none (they fall in the same bucket as the previous one).
                    let (from, to) = (bucket_start(last.ts), bucket_start(s.ts));
                    let mut k = from;
                    while k < to {
                        series.finish(k);
                        k = k.plus_ns(BUCKET_NS);
                    }
                    series.last = Some(s);
                    applied += 1;
                }
                Some(_) => {
                    late += 1;
                    let e = dirty.entry(id).or_insert((s.ts, s.ts));
                    e.0 = e.0.min(s.ts);
                    e.1 = e.1.max(s.ts);
                }
            }
        }
        self.count_bytes(bytes_before, bytes_after);
        self.metrics.applied.fetch_add(applied, Ordering::Relaxed);
        self.metrics.late.fetch_add(late, Ordering::Relaxed);
        self.metrics.bad_values.fetch_add(bad, Ordering::Relaxed);
        self.changes().record(lo, hi);
    }
}

/// A rebuilt range: buckets with start in `[from, to)` replace the table's.
struct Rebuilt {
    from: Timestamp,
    to: Timestamp,
    buckets: BucketMap,
    first: Option<Timestamp>,
    last: Option<CounterSample>,
}

/// Rebuilds the buckets a late range `[lo, hi]` touches, from raw readings, widening the scan
/// until the range is exactly determined (see the module docs). `lo_edge` / `hi_edge`: nothing
/// exists before `lo` / after `hi`.
fn rebuild(
    store: &Store,
    id: u32,
    meta: PortMeta,
    lo: Timestamp,
    hi: Timestamp,
    lo_edge: bool,
    hi_edge: bool,
) -> Result<Rebuilt, BucketError> {
    let series = Arc::new(SeriesSet::from_iter([id]));
    let mut w: i64 = 15 * 60 * 1_000_000_000;
    loop {
        let wide = w >= MAX_WINDOW_NS;
        let from = if lo_edge || wide { None } else { Some(lo.minus_ns(w)) };
        let to = if hi_edge || wide { None } else { Some(hi.plus_ns(w).plus_ns(1)) };
        let rows = store.scan(&ScanFilter { series: Some(Arc::clone(&series)), from, to })?;
        let samples: Vec<CounterSample> = (0..rows.len()).filter_map(|k| sample(&rows, k)).collect();
        let i = samples.partition_point(|s| s.ts < lo);
        let j = samples.partition_point(|s| s.ts <= hi);
        let lo_ok = from.is_none() || (i > 0 && samples[0].ts <= bucket_start(samples[i - 1].ts));
        let hi_ok = to.is_none()
            || (j < samples.len()
                && samples.last().is_some_and(|l| l.ts >= bucket_start(samples[j].ts).plus_ns(BUCKET_NS)));
        if lo_ok && hi_ok {
            let ivs = intervals(&samples, meta.width, meta.speed_bps);
            // Buckets before the first sample are not the scan's to say (with no scan bound, the
            // raw history begins there; archived months may hold more).
            let r_from = match (from, samples.first()) {
                (Some(_), Some(s0)) => bucket_start(s0.ts.plus_ns(BUCKET_NS - 1)),
                (None, Some(s0)) => bucket_start(s0.ts),
                (_, None) => Timestamp::MIN,
            };
            let r_to = match (to, samples.last()) {
                (Some(_), Some(sn)) => bucket_start(sn.ts),
                _ => Timestamp::MAX,
            };
            return Ok(Rebuilt {
                from: r_from,
                to: r_to,
                buckets: apportion(&ivs, meta.poll_ns),
                first: if from.is_none() { samples.first().map(|s| s.ts) } else { None },
                last: if to.is_none() { samples.last().copied() } else { None },
            });
        }
        w = w.saturating_mul(8);
    }
}

#[cfg(test)]
mod archived_tests;
mod archiving;
mod by_series;
#[cfg(test)]
mod tests;
