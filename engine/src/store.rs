//! The embedded time-series store: WAL → Arrow-style column buffers → Parquet segments.
//!
//! A write is a batch of readings; the writer thread ([`writer`]) appends it to the WAL with every
//! other batch waiting (one fsync for the group), then inserts it into the in-memory buffer, and
//! only then acknowledges it, so an acknowledged reading is durable and queryable at once. The
//! flusher thread ([`flusher`]) checkpoints (buffer → segments → registry snapshot → manifest →
//! WAL deletion), compacts small segments and applies retention. Every `(series, ts)` is unique:
//! a rewrite gets a higher commit sequence number and wins at query time and at compaction.

pub mod batch;
pub mod buffer;
pub mod changes;
pub mod codec;
pub mod file;
pub mod flusher;
pub mod log;
pub mod manifest;
pub mod object;
pub mod observer;
pub mod pushdown;
pub mod reading;
pub mod registry;
pub mod segment;
pub mod series_set;
pub mod table;
pub mod wal;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use buffer::{Buffer, Rows, ScanFilter};
use manifest::{Manifest, ManifestError};
use reading::{SeriesKey, Value};
use registry::{Registry, RegistryError};
use segment::{SegmentError, SegmentReader};
use wal::WalError;

use crate::clock::Clock;
use crate::time::Timestamp;

crate::typed_id!(
    int
    /// A commit's sequence number: each acknowledged write request gets the next one; it orders
    /// the readings of one `(series, ts)` (the highest wins) and says how far derived state
    /// (the bucket table, the bucket archive, change logs) has followed the store.
    CommitSeq: u64
);

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Width of a time partition (and so of a segment).
    pub partition: Duration,
    /// Buffered rows that trigger a checkpoint; writers wait (backpressure) at twice this.
    pub max_buffered_rows: usize,
    /// Longest time between checkpoints while there is buffered data.
    pub checkpoint_interval: Duration,
    /// How long raw readings are kept.
    pub retention: Duration,
    /// Write requests that may wait for the writer.
    pub queue_depth: usize,
    /// Segments of one partition that trigger their compaction into one.
    pub compact_after_segments: usize,
    /// How long after its end a UTC day is cold: its hourly segments are then merged into day
    /// segments (late readings for it still land, in a new hourly segment merged in next time).
    pub cold_after: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            partition: Duration::from_secs(3600),
            max_buffered_rows: 2_000_000,
            checkpoint_interval: Duration::from_secs(300),
            retention: Duration::from_secs(400 * 86_400),
            queue_depth: 256,
            compact_after_segments: 4,
            cold_after: Duration::from_secs(2 * 3600),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be used.
    #[error("store directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The disk is full: nothing of the write was stored.
    #[error("disk full: the write was not stored ({0})")]
    DiskFull(WalError),
    /// The WAL failed: nothing of the write was stored.
    #[error("the write was not stored: {0}")]
    Wal(WalError),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A segment failed (corrupt segments are reported here, never returned as data).
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// The manifest failed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An observer is already installed.
    #[error("the store already has a commit observer")]
    ObserverSet,
    /// The store is shutting down.
    #[error("the store is shut down")]
    Closed,
    /// Another process has the store open.
    #[error("the store in {0} is in use by another colometer process")]
    InUse(PathBuf),
    /// A background thread could not be started.
    #[error("cannot start the store's {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

impl From<WalError> for StoreError {
    fn from(e: WalError) -> Self {
        if e.is_disk_full() { StoreError::DiskFull(e) } else { StoreError::Wal(e) }
    }
}

/// A reading on its way in: the series by key (the writer assigns IDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReading {
    /// The series.
    pub key: SeriesKey,
    /// When.
    pub ts: Timestamp,
    /// The raw value.
    pub value: Value,
    /// Uptime with the sample.
    pub uptime_s: Option<u64>,
    /// Discontinuity marker with the sample.
    pub discontinuity: Option<u64>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    /// Readings acknowledged.
    pub rows_written: AtomicU64,
    /// Write requests acknowledged.
    pub writes: AtomicU64,
    /// Write requests refused (WAL or disk failure).
    pub write_errors: AtomicU64,
    /// WAL fsyncs (one per group commit).
    pub wal_syncs: AtomicU64,
    /// WAL bytes appended.
    pub wal_bytes: AtomicU64,
    /// Checkpoints completed.
    pub checkpoints: AtomicU64,
    /// Checkpoints or compactions that failed (retried later).
    pub flush_errors: AtomicU64,
    /// Compactions completed.
    pub compactions: AtomicU64,
    /// Segments dropped by retention.
    pub retention_drops: AtomicU64,
    /// Nanoseconds writers waited for buffer space.
    pub backpressure_ns: AtomicU64,
    /// Corrupt segments or WAL files found.
    pub corruptions: AtomicU64,
}

/// What recovery found when opening.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// WAL files replayed.
    pub wal_files: usize,
    /// Readings replayed into the buffer.
    pub readings: usize,
    /// Bytes of torn tails cut off (crash mid-write; never acknowledged).
    pub torn_tail_bytes: u64,
    /// Corrupt WAL files set aside, with what was wrong.
    pub corrupt: Vec<String>,
}

pub(crate) struct State {
    pub(crate) active: Buffer,
    /// A buffer being written out, with the last WAL file it covers.
    pub(crate) frozen: Option<(wal::WalFileNo, Arc<Buffer>)>,
    pub(crate) manifest: Arc<Manifest>,
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) cfg: StoreConfig,
    pub(crate) registry: Registry,
    /// Reading vectors for the next batches.
    pub(crate) pool: batch::ReadingPool,
    pub(crate) state: RwLock<State>,
    pub(crate) reader: SegmentReader,
    pub(crate) metrics: StoreMetrics,
    pub(crate) clock: Arc<dyn Clock>,
    /// The observer thread's queue, once an observer is installed (the metering tables).
    pub(crate) observer: OnceLock<crossbeam_channel::Sender<observer::Message>>,
    /// How far the observer has got.
    pub(crate) observed: observer::Observed,
    /// The last committed sequence number (in the buffer, acknowledged or about to be).
    pub(crate) committed_seq: AtomicU64,
    /// The time ranges commits and retention drops touched, each recorded when it becomes visible
    /// or after (a commit under the state's write lock, a retention drop after its manifest), so
    /// a change a scan may not have seen is always above the version read before the scan.
    pub(crate) changes: std::sync::Mutex<changes::ChangeLog>,
}

impl Shared {
    pub(crate) fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }
    pub(crate) fn segments_dir(&self) -> PathBuf {
        self.dir.join("segments")
    }
    pub(crate) fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest")
    }
    pub(crate) fn registry_path(&self) -> PathBuf {
        self.dir.join("series.snapshot")
    }
    pub(crate) fn changes(&self) -> std::sync::MutexGuard<'_, changes::ChangeLog> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn state_read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn state_write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The store.
pub struct Store {
    shared: Arc<Shared>,
    writes: crossbeam_channel::Sender<writer::Command>,
    flush: crossbeam_channel::Sender<flusher::Signal>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// An exclusive lock on `LOCK` for as long as the store is open: two processes writing one
    /// WAL would corrupt it. The kernel releases it when the process dies, however it dies.
    _lock: std::fs::File,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, recovering from the WAL.
    pub fn open(dir: &Path, cfg: StoreConfig, clock: Arc<dyn Clock>) -> Result<(Self, Recovery), StoreError> {
        for d in [dir.to_path_buf(), dir.join("wal"), dir.join("segments")] {
            std::fs::create_dir_all(&d).map_err(|source| StoreError::Dir { path: d.clone(), source })?;
        }
        let lock_path = dir.join("LOCK");
        let lock = std::fs::File::create(&lock_path).map_err(|source| StoreError::Dir { path: lock_path, source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::InUse(dir.to_owned())),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Dir { path: dir.join("LOCK"), source });
            }
        }
        let manifest = Manifest::load(&dir.join("manifest"))?;
        let registry = Registry::load(&dir.join("series.snapshot"))?;
        remove_orphans(&dir.join("segments"), &manifest);
        let partition_ns = i64::try_from(cfg.partition.as_nanos()).unwrap_or(i64::MAX);
        let mut active = Buffer::new(partition_ns);
        let mut recovery = Recovery::default();
        let mut max_seq = manifest.max_seq();
        let wal_dir = dir.join("wal");
        let files = wal::list(&wal_dir).map_err(|source| StoreError::Dir { path: wal_dir.clone(), source })?;
        let mut last_file = manifest.wal_covered_through;
        for n in files {
            last_file = last_file.max(n);
            let path = wal_dir.join(wal::file_name(n));
            if n <= manifest.wal_covered_through {
                // Its data is in segments; a crash came between the manifest and the deletion.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let replay = wal::replay(&path)?;
            recovery.wal_files += 1;
            recovery.torn_tail_bytes += replay.torn_tail_bytes;
            if let Some(c) = replay.corrupt {
                tracing::error!(wal = %path.display(), problem = %c, "corrupt WAL file set aside");
                recovery.corrupt.push(format!("{}: {c}", path.display()));
            }
            for rec in replay.records {
                for (id, key) in rec.defs {
                    registry.define(id, key)?;
                }
                max_seq = max_seq.max(rec.seq);
                recovery.readings += rec.readings.len();
                active.insert(rec.seq, &rec.readings);
            }
        }
        let wal = wal::WalWriter::create(&wal_dir, last_file.next())?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            cfg,
            registry,
            pool: batch::ReadingPool::default(),
            state: RwLock::new(State { active, frozen: None, manifest: Arc::new(manifest) }),
            reader: SegmentReader::default(),
            metrics: StoreMetrics::default(),
            clock,
            observer: OnceLock::new(),
            observed: observer::Observed::default(),
            committed_seq: AtomicU64::new(max_seq.get()),
            changes: Default::default(),
        });
        shared.metrics.corruptions.fetch_add(recovery.corrupt.len() as u64, Ordering::Relaxed);
        let (writes, write_rx) = crossbeam_channel::bounded(shared.cfg.queue_depth.max(1));
        let (flush, flush_rx) = crossbeam_channel::bounded(16);
        let writer = writer::spawn(Arc::clone(&shared), wal, max_seq.next(), write_rx, flush.clone())
            .map_err(|source| StoreError::Thread { what: "WAL writer", source })?;
        let flusher = flusher::spawn(Arc::clone(&shared), writes.clone(), flush_rx)
            .map_err(|source| StoreError::Thread { what: "flusher", source })?;
        let store = Store { shared, writes, flush, threads: Mutex::new(vec![writer, flusher]), _lock: lock };
        Ok((store, recovery))
    }

    /// Stores a batch atomically and durably; returns its commit sequence number. Blocks while
    /// the queue is full and until the fsync that covers the batch.
    pub fn write(&self, readings: Vec<PendingReading>) -> Result<CommitSeq, StoreError> {
        // Look the series up here, on the caller's thread, in parallel with other writers.
        self.write_batch(batch::WriteBatch::from_pending(readings, &self.shared.registry))
    }

    /// An empty batch with room for `n` readings, reusing a vector of an earlier batch when one
    /// is free.
    pub fn batch(&self, n: usize) -> batch::WriteBatch {
        batch::WriteBatch::around(self.shared.pool.take(n))
    }

    /// Stores a batch whose known series are resolved already (see [`Store::registry`]'s
    /// [`Registry::lookup_many`]), like [`Store::write`].
    pub fn write_batch(&self, batch: batch::WriteBatch) -> Result<CommitSeq, StoreError> {
        // New series get their IDs here, on the caller's thread: the writer only writes their
        // definitions into the next record, before any record that uses them.
        let readings = batch.resolve(&self.shared.registry)?;
        let (ack, rx) = tokio::sync::oneshot::channel();
        self.writes.send(writer::Command::Write(readings, ack)).map_err(|_| StoreError::Closed)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// The manifest and the buffered rows (active and frozen) passing `filter`, as of one moment.
    fn buffered(&self, filter: &ScanFilter) -> (Arc<Manifest>, Rows) {
        let (manifest, frozen, mut rows) = {
            let st = self.shared.state_read();
            (Arc::clone(&st.manifest), st.frozen.as_ref().map(|f| Arc::clone(&f.1)), st.active.select(filter))
        };
        if let Some(f) = frozen {
            rows.append(f.select(filter));
        }
        (manifest, rows)
    }

    /// The rows passing `filter`, one per `(series, ts)` (the latest write), sorted by
    /// `(series, ts)`, from segments and buffers.
    pub fn scan(&self, filter: &ScanFilter) -> Result<Rows, StoreError> {
        let (manifest, mut rows) = self.buffered(filter);
        let dir = self.shared.segments_dir();
        // Each segment's rows apart, joined once at the end (appending to one growing set of
        // columns copied them again at every reallocation).
        let mut parts = Vec::new();
        for seg in manifest.segments.iter().filter(|s| filter.may_match(s.min_ts, s.max_ts, s.min_series, s.max_series))
        {
            match self.shared.reader.read(&dir, seg, filter) {
                Ok(r) => parts.push(r),
                Err(e) => {
                    if matches!(e, SegmentError::Corrupt { .. }) {
                        self.shared.metrics.corruptions.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, "corrupt segment");
                    }
                    return Err(e.into());
                }
            }
        }
        rows.reserve(parts.iter().map(Rows::len).sum());
        parts.into_iter().for_each(|p| rows.append(p));
        Ok(rows.sorted_unique())
    }

    /// [`Store::scan`] of the rows written by commits after `seq` only (segments whose rows are
    /// all older are not read): what changed since derived state covering `seq` was written.
    pub fn scan_newer(&self, filter: &ScanFilter, seq: CommitSeq) -> Result<Rows, StoreError> {
        let (manifest, mut rows) = self.buffered(filter);
        let dir = self.shared.segments_dir();
        for seg in manifest
            .segments
            .iter()
            .filter(|s| s.max_seq > seq && filter.may_match(s.min_ts, s.max_ts, s.min_series, s.max_series))
        {
            rows.append(self.shared.reader.read(&dir, seg, filter)?.newer_than(seq));
        }
        Ok(rows.newer_than(seq).sorted_unique())
    }

    /// The earliest time any stored reading may have (a segment's smallest timestamp, a buffered
    /// partition's start); `None` when the store is empty.
    pub fn earliest_ts(&self) -> Option<Timestamp> {
        let st = self.shared.state_read();
        let segments = st.manifest.segments.iter().map(|s| s.min_ts);
        let active = st.active.partitions().map(|(p, _)| *p);
        let frozen = st.frozen.iter().flat_map(|f| f.1.partitions().map(|(p, _)| *p).collect::<Vec<_>>());
        segments.chain(active).chain(frozen).min().map(Timestamp::from_nanos)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Now, by the store's (injected) clock.
    pub fn now(&self) -> crate::time::Timestamp {
        self.shared.clock.now()
    }

    /// The sequence number of the last batch the observer has applied (every batch up to it has
    /// been); the committed sequence number without an observer.
    pub fn observed_seq(&self) -> CommitSeq {
        if self.shared.observer.get().is_none() {
            return self.committed_seq();
        }
        self.shared.observed.seq()
    }

    /// Installs the observer told of every batch committed from now on, on its own thread (see
    /// [`observer`]). One per store; a second is refused.
    pub fn observe(&self, obs: Arc<dyn observer::CommitObserver>) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(observer::QUEUE_DEPTH);
        self.shared.observer.set(tx).map_err(|_| StoreError::ObserverSet)?;
        // Everything committed before the observer existed counts as observed.
        self.shared.observed.advance(self.committed_seq());
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name("colometer-observer".into())
            .spawn(move || observer::run(obs, shared, rx))
            .map_err(|source| StoreError::Thread { what: "observer", source })?;
        self.threads.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
        Ok(())
    }

    /// The sequence number of the newest committed batch: it moves exactly when readings
    /// arrive (live views poll it).
    pub fn committed_seq(&self) -> CommitSeq {
        CommitSeq(self.shared.committed_seq.load(Ordering::Acquire))
    }

    /// The change log's version: every change visible to a scan started after this call is at
    /// or below it (see [`changes`]).
    pub fn change_version(&self) -> crate::store::changes::ChangeVersion {
        self.shared.changes().version()
    }

    /// Whether a commit or a retention drop after `since` (a [`Store::change_version`]) may have
    /// touched readings in `[from, to)`.
    pub fn touched_since(&self, since: crate::store::changes::ChangeVersion, from: Timestamp, to: Timestamp) -> bool {
        self.shared.changes().touched_since(since, from, to)
    }

    /// Committed batches the observer has not applied yet (its lag, in batches' sequence
    /// numbers); 0 without an observer.
    pub fn observer_lag(&self) -> u64 {
        if self.shared.observer.get().is_none() {
            return 0;
        }
        self.committed_seq().get().saturating_sub(self.shared.observed.seq().get())
    }

    /// Waits (at most `limit`) until the observer has seen every batch committed so far.
    pub fn wait_observed(&self, limit: Duration) -> Result<(), observer::Behind> {
        if self.shared.observer.get().is_none() {
            return Ok(());
        }
        self.shared.observed.wait_for(self.committed_seq(), limit)
    }

    /// The series registry.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// Counters.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    /// Bytes of segments read (and verified) by scans so far.
    pub fn segment_read_bytes(&self) -> u64 {
        self.shared.reader.verified_bytes.load(Ordering::Relaxed)
    }

    /// Rows waiting in memory.
    pub fn buffered_rows(&self) -> usize {
        let st = self.shared.state_read();
        st.active.rows() + st.frozen.as_ref().map_or(0, |f| f.1.rows())
    }

    /// The current manifest.
    pub fn manifest(&self) -> Arc<Manifest> {
        Arc::clone(&self.shared.state_read().manifest)
    }

    /// Checkpoints now and waits for it (tests, shutdown, operators).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.flush.send(flusher::Signal::CheckpointNow(tx)).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Compacts and applies retention now, and waits.
    pub fn maintain(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.flush.send(flusher::Signal::MaintainNow(tx)).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Stops the threads after the queued writes are done. Idempotent.
    pub fn close(&self) {
        let _ = self.writes.send(writer::Command::Shutdown);
        let _ = self.flush.send(flusher::Signal::Shutdown);
        let mut threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // The writer first (it may be handing batches to the observer), then stop the observer
        // after the last batch, then the rest.
        if !threads.is_empty() {
            let _ = threads.remove(0).join();
        }
        if let Some(tx) = self.shared.observer.get() {
            let _ = tx.send(observer::Message::Stop);
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// Deletes segment files the manifest does not list (a crash between writing a segment and the
/// manifest that would have listed it; half-written `.tmp` files).
fn remove_orphans(dir: &Path, manifest: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !manifest.segments.iter().any(|s| s.file == name) {
            tracing::info!(file = %name, "removing orphan segment file");
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests;
