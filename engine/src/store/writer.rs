//! The writer thread: group commit. It takes every write request waiting, appends them to the
//! WAL as one `write` + one `fsync`, inserts them into the buffer, and acknowledges each.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use super::buffer::Buffer;
use super::flusher::Signal;
use super::reading::Reading;
use super::wal::{Record, WalWriter};
use super::{Shared, StoreError};
use crate::time::Timestamp;

/// Most write requests in one group commit.
const MAX_GROUP: usize = 512;

/// What the writer thread is asked to do.
pub enum Command {
    /// Store readings (every series ID resolved); answer with their commit sequence number.
    Write(Vec<Reading>, oneshot::Sender<Result<super::CommitSeq, StoreError>>),
    /// Start a new WAL file and hand the buffer over for a checkpoint: answers with the last WAL
    /// file the handed-over buffer covers.
    Freeze(crossbeam_channel::Sender<Result<(super::wal::WalFileNo, Arc<Buffer>), StoreError>>),
    /// Finish queued writes and stop.
    Shutdown,
}

type Ack = oneshot::Sender<Result<super::CommitSeq, StoreError>>;

/// A write waiting for the group commit, and its acknowledgement.
type Pending = (Vec<Reading>, Ack);

struct Writer {
    shared: Arc<Shared>,
    wal: WalWriter,
    next_seq: super::CommitSeq,
    /// Registry entries below this index are durable (in a snapshot or a synced WAL record).
    durable_defs: usize,
    flush: Sender<Signal>,
}

/// Starts the writer thread.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    wal: WalWriter,
    next_seq: super::CommitSeq,
    rx: Receiver<Command>,
    flush: Sender<Signal>,
) -> std::io::Result<JoinHandle<()>> {
    let durable_defs = shared.registry.len();
    let mut w = Writer { shared, wal, next_seq, durable_defs, flush };
    std::thread::Builder::new().name("colometer-wal".into()).spawn(move || w.run(rx))
}

impl Writer {
    fn run(&mut self, rx: Receiver<Command>) {
        while let Ok(first) = rx.recv() {
            let mut cmds = vec![first];
            while cmds.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
            }
            let mut group: Vec<Pending> = Vec::new();
            for cmd in cmds {
                match cmd {
                    Command::Write(readings, ack) => group.push((readings, ack)),
                    Command::Freeze(reply) => {
                        self.commit(std::mem::take(&mut group));
                        let _ = reply.send(self.freeze());
                    }
                    Command::Shutdown => {
                        self.commit(group);
                        return;
                    }
                }
            }
            self.commit(group);
        }
    }

    /// Waits while the buffer is at twice its limit and a checkpoint is writing it out.
    fn wait_for_room(&self) {
        let limit = self.shared.cfg.max_buffered_rows;
        let start = Instant::now();
        loop {
            let (rows, flushing) = {
                let st = self.shared.state_read();
                (st.active.rows(), st.frozen.is_some())
            };
            if rows < limit.saturating_mul(2) || !flushing {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let waited = start.elapsed().as_nanos() as u64;
        if waited > 1_000_000 {
            self.shared.metrics.backpressure_ns.fetch_add(waited, Ordering::Relaxed);
        }
    }

    fn commit(&mut self, group: Vec<Pending>) {
        if group.is_empty() {
            return;
        }
        self.wait_for_room();
        let reg = &self.shared.registry;
        let mut framed = Vec::new();
        let mut committed: Vec<(super::CommitSeq, Vec<Reading>, Ack)> = Vec::with_capacity(group.len());
        let mut defs_upto = self.durable_defs;
        for (readings, ack) in group {
            // Series the callers defined since the last record: this record makes them durable,
            // before (or with) any record using them.
            let now_len = reg.len();
            let defs = reg.keys_in(defs_upto..now_len);
            defs_upto = now_len;
            let seq = self.next_seq;
            self.next_seq = seq.next();
            let rec = Record { seq, defs, readings };
            rec.encode_into(&mut framed);
            committed.push((seq, rec.readings, ack));
        }
        if committed.is_empty() {
            return;
        }
        let m = &self.shared.metrics;
        match self.wal.append(&framed) {
            Ok(()) => {
                self.durable_defs = defs_upto;
                m.wal_syncs.fetch_add(1, Ordering::Relaxed);
                m.wal_bytes.fetch_add(framed.len() as u64, Ordering::Relaxed);
                let rows = {
                    let mut st = self.shared.state_write();
                    let mut changes = self.shared.changes();
                    for (seq, readings, _) in &committed {
                        st.active.insert(*seq, readings);
                        let (lo, hi) = readings
                            .iter()
                            .fold((Timestamp::MAX, Timestamp::MIN), |(lo, hi), r| (lo.min(r.ts), hi.max(r.ts)));
                        changes.record(lo, hi.plus_ns(1));
                    }
                    st.active.rows()
                };
                if let Some((seq, _, _)) = committed.last() {
                    self.shared.committed_seq.store(seq.get(), Ordering::Release);
                }
                let observer = self.shared.observer.get();
                for (seq, readings, ack) in committed {
                    m.rows_written.fetch_add(readings.len() as u64, Ordering::Relaxed);
                    m.writes.fetch_add(1, Ordering::Relaxed);
                    let _ = ack.send(Ok(seq));
                    match observer {
                        // Moved, not copied; blocks only when the observer is a queue behind.
                        Some(tx) => {
                            let _ = tx.send(super::observer::Message::Batch(seq, readings));
                        }
                        None => self.shared.pool.give(readings),
                    }
                }
                if rows >= self.shared.cfg.max_buffered_rows {
                    let _ = self.flush.try_send(Signal::BufferFull);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "WAL append failed; the writes are refused");
                let disk_full = e.is_disk_full();
                for (_, _, ack) in committed {
                    m.write_errors.fetch_add(1, Ordering::Relaxed);
                    let err = match &e {
                        super::wal::WalError::Io { path, source } => super::wal::WalError::Io {
                            path: path.clone(),
                            source: std::io::Error::new(source.kind(), source.to_string()),
                        },
                    };
                    let _ = ack.send(Err(if disk_full { StoreError::DiskFull(err) } else { StoreError::Wal(err) }));
                }
            }
        }
    }

    fn freeze(&mut self) -> Result<(super::wal::WalFileNo, Arc<Buffer>), StoreError> {
        let closed = self.wal.rotate()?;
        let mut st = self.shared.state_write();
        if let Some((covered, frozen)) = &st.frozen {
            // A failed checkpoint left a buffer behind: hand the same one over again.
            return Ok((*covered, Arc::clone(frozen)));
        }
        let frozen = Arc::new(st.active.take());
        st.frozen = Some((closed, Arc::clone(&frozen)));
        Ok((closed, frozen))
    }
}
