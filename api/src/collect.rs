//! The collectors inside the server: the inventory's SNMP devices polled by
//! `collectors::scheduler`, readings handed to the store (and the QuestDB tee) by the
//! collectors' writer thread, the fleet re-read whenever the catalog generation moves. In
//! cluster mode (`crate::cluster`) the readings go to the log instead, and a [`Choose`] picks
//! the devices this node holds leases on, at every look at the fleet.

use std::sync::Arc;
use std::time::Duration;

use collectors::handoff::{self, Sink, SinkError};
use collectors::metrics::CollectorMetrics;
use collectors::profile::Profiles;
use collectors::scheduler::{Collectors, DeviceSpec, Settings};
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

/// Picks, from the inventory's devices, those this node polls (cluster mode: the devices it
/// holds leases on). Called at start and at every look at the fleet.
#[async_trait::async_trait]
pub trait Choose: Send + Sync {
    /// The devices to poll, of `specs`.
    async fn choose(&self, specs: Vec<DeviceSpec>) -> Vec<DeviceSpec>;
}

/// Where polled readings go and which devices are polled: the store and every device on a
/// single node.
pub struct Plan<S> {
    /// Where readings go.
    pub sink: S,
    /// Which devices, when not all.
    pub choose: Option<Arc<dyn Choose>>,
    /// How often the fleet is looked at.
    pub every: Duration,
}

/// The single node's sink: the store, then the tee.
pub struct StoreSink {
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

impl StoreSink {
    /// The plan of a single node: every device, readings to the store (and the tee).
    pub fn plan(state: &AppState) -> Plan<StoreSink> {
        let sink = StoreSink { store: Arc::clone(&state.metering.store), tee: state.ingest.tee.clone() };
        Plan { sink, choose: None, every: Duration::from_secs(10) }
    }
}

async fn chosen(choose: Option<&Arc<dyn Choose>>, specs: Vec<DeviceSpec>) -> Vec<DeviceSpec> {
    match choose {
        Some(c) => c.choose(specs).await,
        None => specs,
    }
}

/// Starts polling the inventory's devices as `plan` says; returns the view for the API and the
/// handle.
pub async fn start(
    cfg: &CollectorsConfig,
    state: &AppState,
    clock: Arc<dyn Clock>,
    shutdown: &CancellationToken,
    plan: Plan<impl Sink>,
) -> anyhow::Result<(CollectorView, Running)> {
    let metrics = Arc::new(CollectorMetrics::default());
    let status = Arc::new(StatusBoard::default());
    let (handoff, writer) = handoff::start(plan.sink, cfg.queue_batches, 50_000, Arc::clone(&metrics))?;
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
    let (choose, every) = (plan.choose, plan.every);
    let specs = chosen(choose.as_ref(), collectors::fleet::specs(&d.inventory, default_s)).await;
    tracing::info!(devices = specs.len(), "collectors polling");
    collectors.apply(specs);
    // Follow inventory changes (imports by another process move the catalog generation) and,
    // in cluster mode, the leases.
    let (c, st) = (Arc::clone(&collectors), state.clone());
    let follow = tokio::spawn(async move {
        let mut seen = d.generation;
        loop {
            tokio::time::sleep(every).await;
            match st.metering.derived().await {
                Ok(d) if d.generation != seen || choose.is_some() => {
                    if d.generation != seen {
                        tracing::info!(generation = d.generation, "inventory changed; collectors follow");
                    }
                    seen = d.generation;
                    c.apply(chosen(choose.as_ref(), collectors::fleet::specs(&d.inventory, default_s)).await);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "collectors cannot read the inventory"),
            }
        }
    });
    Ok((CollectorView { metrics, status }, Running { collectors, writer, follow }))
}
