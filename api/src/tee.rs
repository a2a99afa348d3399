//! The optional tee to QuestDB (`[storage.questdb] addr = "host:9000"`), for operators whose
//! dashboards read QuestDB. It runs on a thread of its own (questdb-rs's sender blocks), is fed
//! through a bounded queue that writers never wait on, keeps at most `buffer_rows` readings while
//! QuestDB is unreachable (dropping the oldest, counted), and retries with backoff. The primary
//! store never waits for it and never loses a write because of it.
//!
//! Rows go to table `readings` with symbols `device`, `resource`, `metric`, a `value` column
//! (a double: dashboards only; billing reads the primary store's exact decimals) and `uptime_s`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use engine::store::PendingReading;
use questdb::ingress::{Buffer, Sender as QuestSender, TimestampNanos};
use serde::{Deserialize, Serialize};

/// `[storage.questdb]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeeConfig {
    /// QuestDB's HTTP address, `host:port` (ILP over HTTP, port 9000 by default).
    pub addr: String,
    /// Most readings held while QuestDB is unreachable.
    #[serde(default = "default_buffer_rows")]
    pub buffer_rows: usize,
    /// Rows per HTTP request.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

fn default_buffer_rows() -> usize {
    1_000_000
}
fn default_batch_rows() -> usize {
    10_000
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct TeeMetrics {
    /// Readings QuestDB accepted.
    pub sent_rows: AtomicU64,
    /// Readings dropped because the buffer was full.
    pub dropped_rows: AtomicU64,
    /// Failed sends (each retried).
    pub errors: AtomicU64,
    /// Readings waiting.
    pub queued_rows: AtomicU64,
}

/// The tee's handle.
pub struct Tee {
    tx: std::sync::Mutex<Option<Sender<Vec<PendingReading>>>>,
    /// Its counters.
    pub metrics: Arc<TeeMetrics>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Tee {
    /// Starts the tee thread.
    pub fn start(cfg: TeeConfig) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1024);
        let metrics = Arc::new(TeeMetrics::default());
        let m = Arc::clone(&metrics);
        let thread = std::thread::Builder::new()
            .name("colometer-questdb".into())
            .spawn(move || run(cfg, rx, m))
            .map_err(|e| tracing::error!(error = %e, "cannot start the QuestDB tee thread"))
            .ok();
        Self { tx: std::sync::Mutex::new(Some(tx)), metrics, thread: std::sync::Mutex::new(thread) }
    }

    /// Hands acknowledged readings over; never blocks (a full queue drops them, counted).
    pub fn offer(&self, readings: Vec<PendingReading>) {
        let n = readings.len() as u64;
        let sent = match self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(tx) => match tx.try_send(readings) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        let counter = if sent { &self.metrics.queued_rows } else { &self.metrics.dropped_rows };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Stops the thread after one last attempt to send what it holds. Idempotent.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn run(cfg: TeeConfig, rx: Receiver<Vec<PendingReading>>, m: Arc<TeeMetrics>) {
    let mut queue: VecDeque<PendingReading> = VecDeque::new();
    let mut sender: Option<QuestSender> = None;
    let mut backoff = Duration::from_millis(100);
    let mut open = true;
    while open || !queue.is_empty() {
        let wait = if queue.is_empty() { Duration::from_secs(1) } else { Duration::from_millis(0) };
        match rx.recv_timeout(wait) {
            Ok(batch) => queue.extend(batch),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        while let Ok(batch) = rx.try_recv() {
            queue.extend(batch);
        }
        if queue.len() > cfg.buffer_rows {
            let excess = queue.len() - cfg.buffer_rows;
            queue.drain(..excess);
            m.dropped_rows.fetch_add(excess as u64, Ordering::Relaxed);
        }
        m.queued_rows.store(queue.len() as u64, Ordering::Relaxed);
        if queue.is_empty() {
            continue;
        }
        let n = queue.len().min(cfg.batch_rows.max(1));
        match send(&cfg, &mut sender, queue.range(..n)) {
            Ok(()) => {
                queue.drain(..n);
                m.sent_rows.fetch_add(n as u64, Ordering::Relaxed);
                m.queued_rows.store(queue.len() as u64, Ordering::Relaxed);
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                m.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(addr = %cfg.addr, error = %e, retry_in_ms = backoff.as_millis() as u64, "QuestDB tee: send failed");
                sender = None;
                if !open {
                    tracing::warn!(dropped = queue.len(), "QuestDB tee: shutting down with unsent readings");
                    m.dropped_rows.fetch_add(queue.len() as u64, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn send<'a>(
    cfg: &TeeConfig,
    sender: &mut Option<QuestSender>,
    rows: impl Iterator<Item = &'a PendingReading>,
) -> Result<(), questdb::Error> {
    if sender.is_none() {
        *sender =
            Some(QuestSender::from_conf(format!("http::addr={};protocol_version=1;request_timeout=10000;", cfg.addr))?);
    }
    let Some(s) = sender.as_mut() else { return Ok(()) };
    let mut buf: Buffer = s.new_buffer();
    for r in rows {
        let value: f64 = r.value.to_decimal().try_into().unwrap_or(f64::NAN);
        buf.table("readings")?
            .symbol("device", &*r.key.device)?
            .symbol("resource", &*r.key.resource)?
            .symbol("metric", &*r.key.metric)?
            .column_f64("value", value)?;
        if let Some(u) = r.uptime_s {
            buf.column_i64("uptime_s", i64::try_from(u).unwrap_or(i64::MAX))?;
        }
        buf.at(TimestampNanos::new(r.ts.as_nanos()))?;
    }
    s.flush(&mut buf)
}
