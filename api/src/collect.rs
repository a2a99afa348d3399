//! The collectors inside the server: the inventory's SNMP devices polled by
//! `collectors::scheduler`, readings handed to the store (and the QuestDB tee) by the
//! collectors' writer thread, the fleet re-read whenever the catalog generation moves.

use std::sync::Arc;
use std::time::Duration;

use collectors::handoff::{self, Sink, SinkError};
use collectors::metrics::CollectorMetrics;
use collectors::profile::Profiles;
use collectors::scheduler::{Collectors, Settings};
use collectors::status::StatusBoard;
use engine::clock::Clock;
use engine::store::{PendingReading, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::config::CollectorsConfig;
use crate::tee::Tee;

/// What the API reads of the collectors.
#[derive(Debug, Clone)]
pub struct CollectorView {
    /// Self-monitoring.
    pub metrics: Arc<CollectorMetrics>,
    /// Per-device state.
    pub status: Arc<StatusBoard>,
}

struct StoreSink {
    store: Arc<Store>,
    tee: Option<Arc<Tee>>,
}

impl Sink for StoreSink {
    fn write(&mut self, readings: Vec<PendingReading>) -> Result<(), SinkError> {
        let copy = self.tee.as_ref().map(|_| readings.clone());
        match self.store.write(readings) {
            Ok(_) => {
                if let (Some(t), Some(c)) = (&self.tee, copy) {
                    t.offer(c);
                }
                Ok(())
            }
            Err(StoreError::Closed) => Err(SinkError::Closed("the store is shut down".into())),
            Err(e) => Err(SinkError::Retry(e.to_string())),
        }
    }
}

/// Running collectors; [`Running::stop`] ends them and waits for their writer.
pub struct Running {
    collectors: Arc<Collectors>,
    writer: std::thread::JoinHandle<()>,
    follow: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops polling, lets the writer hand its queue to the store, and waits for it (bounded).
    pub async fn stop(self) {
        self.collectors.stop();
        self.follow.abort();
        let _ = self.follow.await;
        drop(self.collectors);
        // The device tasks end at once on cancellation and drop their handoff ends.
        let _ = tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(move || self.writer.join()))
            .await;
    }
}

/// Starts polling the inventory's devices; returns the view for the API and the handle.
pub async fn start(
    cfg: &CollectorsConfig,
    state: &AppState,
    clock: Arc<dyn Clock>,
    shutdown: &CancellationToken,
) -> anyhow::Result<(CollectorView, Running)> {
    let metrics = Arc::new(CollectorMetrics::default());
    let status = Arc::new(StatusBoard::default());
    let sink = StoreSink { store: Arc::clone(&state.metering.store), tee: state.ingest.tee.clone() };
    let (handoff, writer) = handoff::start(sink, cfg.queue_batches, 50_000, Arc::clone(&metrics))?;
    let settings = Settings {
        max_concurrent_polls: cfg.max_concurrent_polls,
        timeout: cfg.timeout,
        retries: cfg.retries,
        max_varbinds: cfg.max_varbinds,
        rediscover: cfg.rediscover,
        keep_sessions: cfg.keep_sessions,
        ..Settings::default()
    };
    let profiles = Profiles::builtin()?;
    let collectors = Arc::new(Collectors::new(
        settings,
        profiles,
        clock,
        handoff,
        Arc::clone(&metrics),
        Arc::clone(&status),
        shutdown.child_token(),
    ));
    let default_s = cfg.default_interval.interval_s();
    let d = state.metering.derived().await.map_err(|e| anyhow::anyhow!("reading the inventory: {e}"))?;
    let specs = collectors::fleet::specs(&d.inventory, default_s);
    tracing::info!(devices = specs.len(), "collectors polling");
    collectors.apply(specs);
    // Follow inventory changes (imports by another process move the catalog generation).
    let (c, st) = (Arc::clone(&collectors), state.clone());
    let follow = tokio::spawn(async move {
        let mut seen = d.generation;
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            match st.metering.derived().await {
                Ok(d) if d.generation != seen => {
                    seen = d.generation;
                    let specs = collectors::fleet::specs(&d.inventory, default_s);
                    tracing::info!(devices = specs.len(), generation = seen, "inventory changed; collectors follow");
                    c.apply(specs);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "collectors cannot read the inventory"),
            }
        }
    });
    Ok((CollectorView { metrics, status }, Running { collectors, writer, follow }))
}
