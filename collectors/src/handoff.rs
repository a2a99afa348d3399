//! The handoff from pollers to the store: a bounded crossbeam queue of per-cycle batches and
//! one writer thread that coalesces waiting batches into large store writes.
//!
//! Nothing is dropped silently: a poller finding the queue full waits (counted in
//! `colometer_collector_queue_full_waits_total`, and its next ticks may then be missed and
//! counted too); a failed store write is retried with backoff until it succeeds or the store is
//! closed at shutdown (then the readings, never acknowledged to anyone, are logged as lost).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
use engine::store::PendingReading;

use crate::metrics::CollectorMetrics;

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying (disk full, a transient failure).
    #[error("store write failed: {0}")]
    Retry(String),
    /// The store is gone (shutting down).
    #[error("store closed: {0}")]
    Closed(String),
}

/// Where readings go (the store, in the server).
pub trait Sink: Send + 'static {
    /// Writes durably; `Ok` means acknowledged.
    fn write(&mut self, readings: Vec<PendingReading>) -> Result<(), SinkError>;
}

/// The pollers' end.
#[derive(Debug, Clone)]
pub struct Handoff {
    tx: Sender<Vec<PendingReading>>,
    metrics: Arc<CollectorMetrics>,
}

/// The handoff is closed (the writer stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the store handoff is closed")]
pub struct Closed;

impl Handoff {
    /// Queues a batch; waits (asynchronously) while the queue is full.
    pub async fn send(&self, batch: Vec<PendingReading>) -> Result<(), Closed> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut batch = batch;
        let mut waited = false;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.tx.try_send(batch) {
                Ok(()) => {
                    self.metrics.queue_batches.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(TrySendError::Disconnected(_)) => return Err(Closed),
                Err(TrySendError::Full(b)) => {
                    batch = b;
                    if !waited {
                        self.metrics.queue_full_waits.fetch_add(1, Ordering::Relaxed);
                        waited = true;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }
}

/// Starts the writer thread: at most `capacity` batches wait; a write carries up to `max_rows`.
pub fn start(
    mut sink: impl Sink,
    capacity: usize,
    max_rows: usize,
    metrics: Arc<CollectorMetrics>,
) -> std::io::Result<(Handoff, JoinHandle<()>)> {
    let (tx, rx) = bounded::<Vec<PendingReading>>(capacity.max(1));
    let m = Arc::clone(&metrics);
    let handle = std::thread::Builder::new()
        .name("colometer-collect-writer".into())
        .spawn(move || writer(&mut sink, &rx, max_rows.max(1), &m))?;
    Ok((Handoff { tx, metrics }, handle))
}

fn writer(sink: &mut impl Sink, rx: &Receiver<Vec<PendingReading>>, max_rows: usize, metrics: &CollectorMetrics) {
    while let Ok(first) = rx.recv() {
        metrics.queue_batches.fetch_sub(1, Ordering::Relaxed);
        let mut rows = first;
        while rows.len() < max_rows {
            match rx.try_recv() {
                Ok(more) => {
                    metrics.queue_batches.fetch_sub(1, Ordering::Relaxed);
                    rows.extend(more);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let n = rows.len() as u64;
        let mut pause = Duration::from_millis(50);
        loop {
            // The sink consumes the batch; keep a copy only while writes are failing.
            match sink.write(rows.clone()) {
                Ok(()) => {
                    metrics.rows_written.fetch_add(n, Ordering::Relaxed);
                    break;
                }
                Err(SinkError::Retry(e)) => {
                    metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, rows = n, "collector store write failed; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(SinkError::Closed(e)) => {
                    tracing::error!(error = %e, rows = n, "store closed; polled readings not written");
                    return;
                }
            }
        }
    }
}
