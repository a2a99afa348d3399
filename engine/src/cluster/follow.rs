//! A `serve` node's copy of the cluster's readings (#23): it follows the PostgreSQL segment
//! list, fetches each newly committed segment from object storage and writes its readings into
//! the node's local store, where metering, billing and SQL read them exactly as on a single node.
//!
//! Readings where #23 is silent or was departed from, and how (ARCHITECTURE.md gives the reason):
//! - #23 asks for DataFusion over the object store. Here the node's local store is a cache of the
//!   committed segments instead: every read path of the single-node build (bucket tables, running
//!   95th, archives, usage, invoices) runs unchanged on it, so a cluster's usage and invoices are
//!   computed by the same code over the same readings as a single node's. The cache is
//!   disposable: a node whose data directory is lost refills it from the segment list.
//! - Only committed segments are read, so billing never sees a reading that a lost lease could
//!   still take back; data not yet in a segment appears within one ingest pass and one follow
//!   interval (about a second each by default).
//! - Last-write-wins: a shard's segments are applied in key order, which is log order (see
//!   [`PostgresCatalog::segments_after`]), and within a segment the latest `seq` of a
//!   `(series, ts)` wins; all series of a device live on one shard, so the local store keeps the
//!   same winner as the log's order.
//! - A billing run on a serve node first waits for a pass that started after it was asked for to
//!   catch up ([`FollowMetrics::caught_up`]), so it prices every segment committed before it began.
//! - The cursor (the last applied key per shard) is saved atomically after each segment. A crash
//!   between writing a segment's readings and saving its cursor applies that one segment again
//!   on restart: it is the newest, so its values win again and nothing changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::batch::{self, BatchError};
use crate::catalog::PostgresCatalog;
use crate::catalog::postgres::lease::{LeaseError, SegmentRecord};
use crate::store::file::{FileError, read_checked, write_atomically};
use crate::store::object::{ObjectError, ObjectSegments};
use crate::store::{PendingReading, Store, StoreError};

/// Segments asked of the segment list at once.
const LIST_LIMIT: usize = 500;
/// Readings handed to the store at once.
const WRITE_CHUNK: usize = 50_000;

/// Why following failed; the next pass starts again from the saved cursors.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The segment list cannot be read.
    #[error(transparent)]
    Catalog(#[from] LeaseError),
    /// A segment cannot be fetched.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A segment does not decode.
    #[error("segment {key}: {source}")]
    Segment {
        /// Its key.
        key: String,
        /// Why.
        source: BatchError,
    },
    /// The local store refused the readings.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cursor file cannot be read or written.
    #[error(transparent)]
    Cursor(#[from] FileError),
    /// The cursor file does not parse.
    #[error("cursor file {path}: {reason}")]
    CursorFormat {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What following has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct FollowMetrics {
    /// Segments applied.
    pub segments: AtomicU64,
    /// Readings written from them.
    pub rows: AtomicU64,
    /// Latest reading applied, ns (0: none).
    pub latest_ns: AtomicI64,
    /// Passes that failed.
    pub errors: AtomicU64,
    /// Passes started (numbered from 1).
    pub passes: AtomicU64,
    /// The number of the latest pass that applied everything committed when it looked.
    pub caught_up: AtomicU64,
}

impl FollowMetrics {
    /// Waits (at most `within`) until a pass that started after this call has applied every
    /// segment committed when it looked: then everything committed before this call is in the
    /// local store. `false` when that did not happen in time.
    pub async fn caught_up(&self, within: Duration) -> bool {
        let target = self.passes.load(Ordering::Acquire) + 1;
        let deadline = tokio::time::Instant::now() + within;
        while self.caught_up.load(Ordering::Acquire) < target {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// The follower: which segments of which shards are applied.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    shards: Vec<String>,
    cursors: BTreeMap<String, String>,
    metrics: Arc<FollowMetrics>,
}

impl Follower {
    /// Opens (or starts) the cursor file at `path` for a cluster of `shards` shards.
    pub fn open(path: &Path, shards: u32) -> Result<Self, FollowError> {
        let cursors = match read_checked(path)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| FollowError::CursorFormat { path: path.to_owned(), reason: e.to_string() })?,
            None => BTreeMap::new(),
        };
        let shards = (0..shards.max(1)).map(|s| s.to_string()).collect();
        Ok(Self { path: path.to_owned(), shards, cursors, metrics: Arc::default() })
    }

    /// What it has done.
    pub fn metrics(&self) -> Arc<FollowMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The last applied segment key of `shard`, if any.
    pub fn cursor(&self, shard: &str) -> Option<&str> {
        self.cursors.get(shard).map(String::as_str)
    }

    /// Applies every segment committed since the last pass; returns how many.
    pub fn pass(
        &mut self,
        rt: &Handle,
        catalog: &PostgresCatalog,
        objects: &ObjectSegments,
        store: &Store,
    ) -> Result<usize, FollowError> {
        let mut applied = 0;
        let pass = self.metrics.passes.fetch_add(1, Ordering::AcqRel) + 1;
        loop {
            let after: Vec<String> =
                self.shards.iter().map(|s| self.cursors.get(s).cloned().unwrap_or_default()).collect();
            let next = catalog.segments_after(&self.shards, &after, LIST_LIMIT)?;
            if next.is_empty() {
                self.metrics.caught_up.fetch_max(pass, Ordering::AcqRel);
                return Ok(applied);
            }
            for (shard, segment) in next {
                self.apply(rt, objects, store, &shard, &segment)?;
                applied += 1;
            }
        }
    }

    fn apply(
        &mut self,
        rt: &Handle,
        objects: &ObjectSegments,
        store: &Store,
        shard: &str,
        segment: &SegmentRecord,
    ) -> Result<(), FollowError> {
        let bytes = rt.block_on(objects.get(&segment.key))?;
        let rows =
            batch::read_segment(bytes).map_err(|source| FollowError::Segment { key: segment.key.clone(), source })?;
        // Sorted by (series, ts, seq): the last of each (series, ts) is the log's latest write.
        let mut latest: Vec<PendingReading> = Vec::with_capacity(rows.len());
        for (_, r) in rows {
            match latest.last_mut() {
                Some(prev) if prev.key == r.key && prev.ts == r.ts => *prev = r,
                _ => latest.push(r),
            }
        }
        let n = latest.len() as u64;
        while !latest.is_empty() {
            let rest = latest.split_off(latest.len().min(WRITE_CHUNK));
            store.write(std::mem::replace(&mut latest, rest))?;
        }
        self.cursors.insert(shard.to_owned(), segment.key.clone());
        let json = serde_json::to_vec(&self.cursors)
            .map_err(|e| FollowError::CursorFormat { path: self.path.clone(), reason: e.to_string() })?;
        write_atomically(&self.path, &json)?;
        self.metrics.segments.fetch_add(1, Ordering::Relaxed);
        self.metrics.rows.fetch_add(n, Ordering::Relaxed);
        self.metrics.latest_ns.fetch_max(segment.max_ts.as_nanos(), Ordering::Relaxed);
        Ok(())
    }
}

/// Follows until `cancel` fires, a pass every `every`; failed passes are logged and retried.
pub fn run_follow(
    rt: &Handle,
    catalog: &PostgresCatalog,
    objects: &ObjectSegments,
    store: &Store,
    follower: &mut Follower,
    every: Duration,
    cancel: &CancellationToken,
) {
    while !cancel.is_cancelled() {
        match follower.pass(rt, catalog, objects, store) {
            Ok(_) => {}
            Err(FollowError::Store(StoreError::Closed)) => return,
            Err(e) => {
                follower.metrics.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "following the cluster's segments failed; retried next pass");
            }
        }
        rt.block_on(async {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(every) => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catching_up_needs_a_pass_that_started_after_the_call() {
        let m = Arc::new(FollowMetrics::default());
        // A pass (number 1) is under way: it may have looked before the call, so it does not count.
        m.passes.store(1, Ordering::Release);
        m.caught_up.store(1, Ordering::Release);
        assert!(!m.caught_up(Duration::from_millis(60)).await);
        let bg = Arc::clone(&m);
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            bg.passes.store(2, Ordering::Release);
            bg.caught_up.store(2, Ordering::Release);
        });
        assert!(m.caught_up(Duration::from_secs(5)).await);
        later.await.unwrap();
    }
}
