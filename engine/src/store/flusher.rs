//! The flusher thread: checkpoints (buffer → segments → registry snapshot → manifest → WAL
//! deletion), compaction of a partition's small segments into one, and retention. Files a new
//! manifest no longer lists are deleted after a grace period, so queries that started on the
//! previous manifest can finish.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::buffer::{Rows, ScanFilter};
use super::manifest::Manifest;
use super::segment::{self, SegmentMeta};
use super::writer::Command;
use super::{Shared, StoreError, wal};

/// How long a dropped segment file stays on disk for queries still reading it.
const DELETE_GRACE: Duration = Duration::from_secs(120);

/// What the flusher is asked to do.
pub enum Signal {
    /// The buffer reached its limit.
    BufferFull,
    /// Checkpoint now and answer.
    CheckpointNow(Sender<Result<(), StoreError>>),
    /// Compact and apply retention now and answer.
    MaintainNow(Sender<Result<(), StoreError>>),
    /// Stop.
    Shutdown,
}

struct Flusher {
    shared: Arc<Shared>,
    writer: Sender<Command>,
    last_checkpoint: Instant,
    graveyard: Vec<(std::path::PathBuf, Instant)>,
}

/// Starts the flusher thread.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    writer: Sender<Command>,
    rx: Receiver<Signal>,
) -> std::io::Result<JoinHandle<()>> {
    let mut f = Flusher { shared, writer, last_checkpoint: Instant::now(), graveyard: Vec::new() };
    std::thread::Builder::new().name("colometer-flush".into()).spawn(move || f.run(rx))
}

impl Flusher {
    fn run(&mut self, rx: Receiver<Signal>) {
        loop {
            let signal = rx.recv_timeout(Duration::from_secs(1));
            let result = match signal {
                Ok(Signal::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Signal::CheckpointNow(reply)) => {
                    let _ = reply.send(self.checkpoint());
                    continue;
                }
                Ok(Signal::MaintainNow(reply)) => {
                    let _ = reply.send(self.maintain());
                    continue;
                }
                Ok(Signal::BufferFull) => self.checkpoint(),
                Err(RecvTimeoutError::Timeout) => {
                    if self.last_checkpoint.elapsed() >= self.shared.cfg.checkpoint_interval {
                        self.checkpoint().and_then(|()| self.maintain())
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(e) = result {
                self.shared.metrics.flush_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "checkpoint or maintenance failed; will retry");
            }
            self.bury();
        }
    }

    /// Writes the buffer out as segments and commits them in the manifest.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.last_checkpoint = Instant::now();
        let (nothing_new, nothing_frozen) = {
            let st = self.shared.state_read();
            (st.active.rows() == 0, st.frozen.is_none())
        };
        if nothing_new && nothing_frozen {
            return Ok(());
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.writer.send(Command::Freeze(tx)).map_err(|_| StoreError::Closed)?;
        let (covered, frozen) = rx.recv().map_err(|_| StoreError::Closed)??;
        let mut manifest = (*self.shared.state_read().manifest).clone();
        let dir = self.shared.segments_dir();
        for (partition, rows) in frozen.partitions() {
            let rows = rows.sorted_unique();
            if rows.is_empty() {
                continue;
            }
            let file = format!("{:012}.parquet", manifest.next_segment);
            manifest.next_segment += 1;
            manifest.segments.push(segment::write(&dir, &file, *partition, &rows)?);
        }
        self.shared.registry.save(&self.shared.registry_path())?;
        manifest.wal_covered_through = manifest.wal_covered_through.max(covered);
        self.commit(manifest)?;
        self.shared.state_write().frozen = None;
        let wal_dir = self.shared.wal_dir();
        if let Ok(files) = wal::list(&wal_dir) {
            for n in files.into_iter().filter(|n| *n <= covered) {
                let _ = std::fs::remove_file(wal_dir.join(wal::file_name(n)));
            }
        }
        self.shared.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(covered, rows = frozen.rows(), "checkpoint");
        Ok(())
    }

    fn commit(&self, manifest: Manifest) -> Result<(), StoreError> {
        manifest.save(&self.shared.manifest_path())?;
        self.shared.state_write().manifest = Arc::new(manifest);
        Ok(())
    }

    /// Compaction and retention.
    fn maintain(&mut self) -> Result<(), StoreError> {
        self.retain()?;
        self.compact()
    }

    /// Drops segments wholly older than the retention period.
    fn retain(&mut self) -> Result<(), StoreError> {
        let now = self.shared.clock.now().as_nanos();
        let keep_ns = i64::try_from(self.shared.cfg.retention.as_nanos()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(keep_ns);
        let mut manifest = (*self.shared.state_read().manifest).clone();
        let (old, kept): (Vec<SegmentMeta>, Vec<SegmentMeta>) =
            manifest.segments.into_iter().partition(|s| s.max_ts < cutoff);
        if old.is_empty() {
            return Ok(());
        }
        manifest.segments = kept;
        self.commit(manifest)?;
        self.shared.metrics.retention_drops.fetch_add(old.len() as u64, Ordering::Relaxed);
        self.doom(&old);
        Ok(())
    }

    /// Merges the segments of every partition that has too many into one, physically applying
    /// last-write-wins.
    fn compact(&mut self) -> Result<(), StoreError> {
        let manifest = (*self.shared.state_read().manifest).clone();
        let mut by_partition: BTreeMap<i64, Vec<SegmentMeta>> = BTreeMap::new();
        for s in &manifest.segments {
            by_partition.entry(s.partition).or_default().push(s.clone());
        }
        let dir = self.shared.segments_dir();
        for (partition, segs) in by_partition {
            if segs.len() < self.shared.cfg.compact_after_segments.max(2) {
                continue;
            }
            let mut rows = Rows::default();
            for s in &segs {
                rows.append(self.shared.reader.read(&dir, s, &ScanFilter::default())?);
            }
            let rows = rows.sorted_unique();
            let mut next = (*self.shared.state_read().manifest).clone();
            let file = format!("{:012}.parquet", next.next_segment);
            next.next_segment += 1;
            let merged = segment::write(&dir, &file, partition, &rows)?;
            next.segments.retain(|s| !segs.iter().any(|o| o.file == s.file));
            next.segments.push(merged);
            self.commit(next)?;
            self.shared.metrics.compactions.fetch_add(1, Ordering::Relaxed);
            self.doom(&segs);
        }
        Ok(())
    }

    fn doom(&mut self, segs: &[SegmentMeta]) {
        let dir = self.shared.segments_dir();
        let at = Instant::now();
        self.graveyard.extend(segs.iter().map(|s| (dir.join(&s.file), at)));
    }

    /// Deletes dropped files whose grace period is over.
    fn bury(&mut self) {
        self.graveyard.retain(|(path, at)| {
            if at.elapsed() < DELETE_GRACE {
                return true;
            }
            let _ = std::fs::remove_file(path);
            false
        });
    }
}
