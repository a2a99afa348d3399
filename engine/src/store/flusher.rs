//! The flusher thread: checkpoints (buffer → segments → registry snapshot → manifest → WAL
//! deletion), compaction (a partition's small segments into one; a cold day's hourly segments
//! into day segments), and retention. Files a new
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
use super::series_set::SeriesSet;
use super::writer::Command;
use super::{Shared, StoreError, wal};
use crate::time::Timestamp;

/// How long a dropped segment file stays on disk for queries still reading it.
const DELETE_GRACE: Duration = Duration::from_secs(120);

/// A UTC day, ns.
const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// How often maintenance (retention, compaction) runs between checkpoints.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// Segments compacted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// The segments of one partition whose day is not cold yet.
    Hot(i64),
    /// The segments of one cold day.
    Cold(i64),
}

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
    last_maintenance: Instant,
    graveyard: Vec<(std::path::PathBuf, Instant)>,
}

/// Starts the flusher thread.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    writer: Sender<Command>,
    rx: Receiver<Signal>,
) -> std::io::Result<JoinHandle<()>> {
    let now = Instant::now();
    let mut f = Flusher { shared, writer, last_checkpoint: now, last_maintenance: now, graveyard: Vec::new() };
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
                    } else if self.last_maintenance.elapsed() >= MAINTAIN_EVERY {
                        self.maintain()
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
        manifest.seq_high = manifest.max_seq();
        self.commit(manifest)?;
        self.shared.state_write().frozen = None;
        let wal_dir = self.shared.wal_dir();
        if let Ok(files) = wal::list(&wal_dir) {
            for n in files.into_iter().filter(|n| *n <= covered) {
                let _ = std::fs::remove_file(wal_dir.join(wal::file_name(n)));
            }
        }
        self.shared.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(covered = covered.get(), rows = frozen.rows(), "checkpoint");
        Ok(())
    }

    fn commit(&self, manifest: Manifest) -> Result<(), StoreError> {
        manifest.save(&self.shared.manifest_path())?;
        self.shared.state_write().manifest = Arc::new(manifest);
        Ok(())
    }

    /// Compaction and retention.
    fn maintain(&mut self) -> Result<(), StoreError> {
        self.last_maintenance = Instant::now();
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
        let dropped_to = old.iter().map(|s| s.max_ts).max().unwrap_or(i64::MIN);
        self.commit(manifest)?;
        self.shared.changes().record(Timestamp::MIN, Timestamp::from_nanos(dropped_to).plus_ns(1));
        self.shared.metrics.retention_drops.fetch_add(old.len() as u64, Ordering::Relaxed);
        self.doom(&old);
        Ok(())
    }

    /// Merges segments, physically applying last-write-wins:
    /// - a hot partition (its day not yet cold) with `compact_after_segments` or more segments
    ///   into one;
    /// - a cold day (ended `cold_after` ago) still held in hourly segments into day segments,
    ///   each a range of series, so that a one-series month reads about 31 row groups rather
    ///   than one per hour. A day is merged in series-range chunks of about `max_buffered_rows`
    ///   rows, so compaction holds no more rows in memory than the buffers may.
    fn compact(&mut self) -> Result<(), StoreError> {
        let manifest = (*self.shared.state_read().manifest).clone();
        let now = self.shared.clock.now().as_nanos();
        let cold_after = i64::try_from(self.shared.cfg.cold_after.as_nanos()).unwrap_or(i64::MAX);
        let mut groups: BTreeMap<Group, Vec<SegmentMeta>> = BTreeMap::new();
        for s in &manifest.segments {
            let day = s.partition.div_euclid(DAY_NS) * DAY_NS;
            let key = if day.saturating_add(DAY_NS).saturating_add(cold_after) <= now {
                Group::Cold(day)
            } else {
                Group::Hot(s.partition)
            };
            groups.entry(key).or_default().push(s.clone());
        }
        for (group, segs) in groups {
            match group {
                Group::Hot(partition) if segs.len() >= self.shared.cfg.compact_after_segments.max(2) => {
                    self.merge(&segs, partition, 1, false)?;
                }
                Group::Cold(day) if segs.len() >= 2 && segs.iter().any(|s| !s.cold) => {
                    let rows: u64 = segs.iter().map(|s| s.rows).sum();
                    let chunks = rows.div_ceil(self.shared.cfg.max_buffered_rows.max(1) as u64).max(1);
                    self.merge(&segs, day, chunks, true)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Replaces `segs` by their rows merged into segments of `partition`, one per series range
    /// of `chunks` equal ranges, committed in one manifest.
    fn merge(&mut self, segs: &[SegmentMeta], partition: i64, chunks: u64, cold: bool) -> Result<(), StoreError> {
        let dir = self.shared.segments_dir();
        let lo = segs.iter().map(|s| s.min_series).min().unwrap_or(0);
        let hi = segs.iter().map(|s| s.max_series).max().unwrap_or(0);
        let width = (u64::from(hi - lo) + 1).div_ceil(chunks);
        let mut next = (*self.shared.state_read().manifest).clone();
        let mut written = Vec::new();
        for c in 0..chunks {
            let first = u64::from(lo) + c * width;
            if first > u64::from(hi) {
                break;
            }
            let last = (first + width - 1).min(u64::from(hi));
            let series = (chunks > 1).then(|| {
                // Both bounds are within [lo, hi], so within u32.
                let range = (first as u32)..=(last as u32);
                Arc::new(range.collect::<SeriesSet>())
            });
            let filter = ScanFilter { series, from: None, to: None };
            let mut rows = Rows::default();
            for s in segs {
                rows.append(self.shared.reader.read(&dir, s, &filter)?);
            }
            let rows = rows.sorted_unique();
            if rows.is_empty() {
                continue;
            }
            let file = format!("{:012}.parquet", next.next_segment);
            next.next_segment += 1;
            let mut meta = segment::write(&dir, &file, partition, &rows)?;
            meta.cold = cold;
            written.push(meta);
        }
        next.segments.retain(|s| !segs.iter().any(|o| o.file == s.file));
        next.segments.extend(written);
        self.commit(next)?;
        self.shared.metrics.compactions.fetch_add(1, Ordering::Relaxed);
        self.doom(segs);
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
