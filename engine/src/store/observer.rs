//! Derived state kept current with the store. After a batch is durable and in the buffer, the
//! writer thread hands it (moved, not copied) to the observer thread through a bounded queue and
//! acknowledges the writer at once: deriving never delays an acknowledgement, and a slow
//! observer slows the writer only when the queue is full (backpressure, never loss).
//!
//! Readers of derived state call [`Observed::wait_for`] with the store's last committed sequence
//! number first, so they see every batch acknowledged before they asked.

use super::CommitSeq;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::reading::Reading;
use super::registry::Registry;

/// Told of every committed batch, in commit order, on the observer thread.
pub trait CommitObserver: Send + Sync {
    /// `readings` were committed; `registry` resolves their series.
    fn committed(&self, registry: &Registry, readings: &[Reading]);
}

/// A message to the observer thread.
pub(crate) enum Message {
    /// A committed batch and its sequence number.
    Batch(CommitSeq, Vec<Reading>),
    /// Finish and stop.
    Stop,
}

/// Batches waiting for the observer thread.
pub(crate) const QUEUE_DEPTH: usize = 1024;

/// How far the observer has got.
#[derive(Debug, Default)]
pub struct Observed {
    seq: Mutex<CommitSeq>,
    moved: Condvar,
    /// Batches handed over.
    pub batches: AtomicU64,
}

/// The observer fell behind for longer than a reader may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("derived state is more than {0:?} behind the store")]
pub struct Behind(pub Duration);

impl Observed {
    pub(crate) fn advance(&self, seq: CommitSeq) {
        let mut s = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        *s = (*s).max(seq);
        self.moved.notify_all();
    }

    /// Waits until every batch up to `seq` has been observed, at most `limit`.
    pub fn wait_for(&self, seq: CommitSeq, limit: Duration) -> Result<(), Behind> {
        let deadline = Instant::now() + limit;
        let mut s = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        while *s < seq {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Behind(limit));
            }
            s = self.moved.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok(())
    }

    /// The last sequence number observed.
    pub fn seq(&self) -> CommitSeq {
        *self.seq.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs the observer thread until [`Message::Stop`].
pub(crate) fn run(
    observer: Arc<dyn CommitObserver>,
    shared: Arc<super::Shared>,
    rx: crossbeam_channel::Receiver<Message>,
) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Message::Batch(seq, readings) => {
                observer.committed(&shared.registry, &readings);
                shared.pool.give(readings);
                shared.observed.advance(seq);
                shared.observed.batches.fetch_add(1, Ordering::Relaxed);
            }
            Message::Stop => return,
        }
    }
}
