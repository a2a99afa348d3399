//! Cluster mode in the binary (#23): `[cluster]` turns on the roles it lists.
//! - every node connects to the log (JetStream), the object store and the PostgreSQL catalog's
//!   leases, and serves `/healthz`, `/readyz` and `/metrics`;
//! - `serve`: the API and portal; `POST /api/v1/write` publishes to the log before its `204`; a
//!   follower copies committed segments into the node's local store, which every read uses
//!   ([`engine::cluster::follow`] says why a local copy);
//! - `ingest`: [`engine::cluster::node::run_ingest`] on a thread of its own;
//! - `collect`: the SNMP collectors poll only the devices this node holds leases on
//!   ([`DeviceLeases`]) and publish each poll to the log.
//!
//! A node without `serve` answers only the operations routes: it has no copy of the readings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use collectors::handoff::{Sink, SinkError};
use collectors::scheduler::DeviceSpec;
use engine::catalog::PostgresCatalog;
use engine::catalog::postgres::lease::{Lease, LeaseKind};
use engine::cluster::follow::{FollowMetrics, Follower, run_follow};
use engine::cluster::membership::{Presence, fair_share};
use engine::cluster::node::{IngestMetrics, IngestSettings, run_ingest};
use engine::cluster::publish::{Keying, Publisher};
use engine::store::log::ReadingLog;
use engine::store::log::jetstream::JetStreamLog;
use engine::store::object::ObjectSegments;
use engine::store::{PendingReading, Store};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::collect::Choose;
use crate::config::{ClusterConfig, Config, Role};

/// The cluster's engines, connected.
pub struct Cluster {
    /// `[cluster]`.
    pub config: ClusterConfig,
    /// Appends to the log.
    pub publisher: Publisher,
    /// Leases and the segment list.
    pub leases: Arc<PostgresCatalog>,
    log: Arc<dyn ReadingLog>,
    objects: Arc<ObjectSegments>,
    /// What the follower has done (serve nodes).
    pub follow: Option<Arc<FollowMetrics>>,
    /// What the ingest loop has done (ingest nodes).
    pub ingest: Option<Arc<IngestMetrics>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.config.node_id).field("roles", &self.config.roles).finish()
    }
}

impl Cluster {
    /// Connects to the log, the object store and the catalog's leases; `shutdown` ends what
    /// starts later.
    pub async fn connect(cfg: &Config, shutdown: &CancellationToken) -> anyhow::Result<Self> {
        let config = cfg.cluster.clone().context("no [cluster] section")?;
        let log = JetStreamLog::open_with(&config.nats, &config.stream, config.replicas(), config.log_retention)
            .await
            .context("connecting to the log (cluster.nats)")?;
        let log: Arc<dyn ReadingLog> = Arc::new(log);
        let url = cfg.storage.object_store.clone().context("storage.object_store is not set")?;
        let objects = ObjectSegments::open(&url, cfg.storage.endpoint.as_deref(), cfg.storage.region.as_deref())
            .context("opening storage.object_store")?;
        let catalog_url = cfg.catalog.url.clone().context("catalog.url is not set")?;
        let leases = tokio::task::spawn_blocking(move || PostgresCatalog::connect(&catalog_url))
            .await?
            .context("connecting to the PostgreSQL catalog for leases")?;
        tracing::info!(node = %config.node_id, roles = ?config.roles, shards = config.shards, "cluster connected");
        Ok(Self {
            publisher: Publisher::new(Arc::clone(&log), config.shards),
            config,
            leases: Arc::new(leases),
            log,
            objects: Arc::new(objects),
            follow: None,
            ingest: None,
            threads: Vec::new(),
            cancel: shutdown.child_token(),
        })
    }

    /// Whether this node plays `role`.
    pub fn has(&self, role: Role) -> bool {
        self.config.has(role)
    }

    /// Starts an ingest node's loop on a thread of its own (`ingest`); a failed loop (the
    /// catalog unreachable) starts again after a pause.
    pub fn start_ingest(&mut self) -> anyhow::Result<()> {
        let c = &self.config;
        let metrics = Arc::new(IngestMetrics::default());
        self.ingest = Some(Arc::clone(&metrics));
        let settings = IngestSettings {
            metrics,
            ttl: c.lease_ttl,
            renew_every: c.renew_every,
            ..IngestSettings::new(c.node_id.clone(), c.shards, c.max_shards.unwrap_or(c.shards as usize))
        };
        let (rt, pg, log, objects, cancel) = (
            Handle::current(),
            Arc::clone(&self.leases),
            Arc::clone(&self.log),
            Arc::clone(&self.objects),
            self.cancel.clone(),
        );
        let thread = std::thread::Builder::new().name("cluster-ingest".into()).spawn(move || {
            while !cancel.is_cancelled() {
                match run_ingest(&rt, &pg, log.as_ref(), &objects, &settings, &cancel) {
                    Ok(stats) => tracing::info!(?stats, "ingest stopped"),
                    Err(e) => {
                        tracing::error!(error = %e, "the ingest loop failed; starting again in 5 s");
                        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), cancel.cancelled()).await })
                            .ok();
                    }
                }
            }
        })?;
        self.threads.push(thread);
        Ok(())
    }

    /// Starts copying committed segments into `store` (`serve`); the cursor lives in
    /// `<data_dir>/cluster/follow.cursor`.
    pub fn start_follow(&mut self, store: Arc<Store>, data_dir: &std::path::Path) -> anyhow::Result<()> {
        let dir = data_dir.join("cluster");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut follower = Follower::open(&dir.join("follow.cursor"), self.config.shards)?;
        self.follow = Some(follower.metrics());
        let (rt, pg, objects, cancel, every) = (
            Handle::current(),
            Arc::clone(&self.leases),
            Arc::clone(&self.objects),
            self.cancel.clone(),
            self.config.follow_every,
        );
        let thread = std::thread::Builder::new().name("cluster-follow".into()).spawn(move || {
            run_follow(&rt, &pg, &objects, &store, &mut follower, every, &cancel);
        })?;
        self.threads.push(thread);
        Ok(())
    }

    /// What `GET /api/v1/cluster` and `/metrics` read (after the roles have started).
    pub fn view(&self, devices: Option<Arc<DeviceLeases>>) -> Arc<ClusterView> {
        Arc::new(ClusterView {
            config: self.config.clone(),
            leases: Arc::clone(&self.leases),
            log: Arc::clone(&self.log),
            follow: self.follow.clone(),
            ingest: self.ingest.clone(),
            devices,
        })
    }

    /// Keeps this node's presence in `role` while it runs (roles whose loops do not: `serve`),
    /// given up on shutdown.
    pub fn start_presence(&mut self, role: Role) {
        let mut presence = Presence::new(role.as_str(), &self.config.node_id);
        let (pg, cancel, ttl, every) =
            (Arc::clone(&self.leases), self.cancel.clone(), self.config.lease_ttl, self.config.renew_every);
        let rt = Handle::current();
        let thread = std::thread::Builder::new().name(format!("cluster-{}", role.as_str())).spawn(move || {
            while !cancel.is_cancelled() {
                presence.beat(&pg, ttl);
                rt.block_on(async { tokio::time::timeout(every, cancel.cancelled()).await }).ok();
            }
            presence.leave(&pg);
        });
        match thread {
            Ok(t) => self.threads.push(t),
            Err(e) => tracing::error!(error = %e, "cannot start the presence thread; this node is not listed"),
        }
    }

    /// The collectors' sink: each poll appended to the log (`collect`).
    pub fn sink(&self) -> LogSink {
        LogSink { publisher: self.publisher.clone(), rt: Handle::current() }
    }

    /// The collectors' choice of devices: those this node holds leases on (`collect`).
    pub fn device_leases(&self) -> Arc<DeviceLeases> {
        Arc::new(DeviceLeases {
            pg: Arc::clone(&self.leases),
            node: self.config.node_id.clone(),
            ttl: self.config.lease_ttl,
            max: self.config.max_devices.unwrap_or(usize::MAX),
            held: Mutex::new(BTreeMap::new()),
            presence: Mutex::new(Presence::new(Role::Collect.as_str(), &self.config.node_id)),
        })
    }

    /// Stops the role threads and waits for them (the ingest loop releases its leases).
    pub async fn stop(self) {
        self.cancel.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// What the API reads of the cluster.
pub struct ClusterView {
    /// `[cluster]`.
    pub config: ClusterConfig,
    /// Leases, members and the segment list.
    pub leases: Arc<PostgresCatalog>,
    /// The log (consumer lag).
    pub log: Arc<dyn ReadingLog>,
    /// The follower's counters (serve nodes).
    pub follow: Option<Arc<FollowMetrics>>,
    /// The ingest loop's counters (ingest nodes).
    pub ingest: Option<Arc<IngestMetrics>>,
    /// The devices polled here (collect nodes).
    pub devices: Option<Arc<DeviceLeases>>,
}

/// How long a billing run waits for this node's copy of the segments to catch up.
pub const CATCH_UP: Duration = Duration::from_secs(30);

impl ClusterView {
    /// Waits until this serve node's copy holds every segment committed before the call
    /// ([`FollowMetrics::caught_up`]); `503` when it does not within [`CATCH_UP`] (the catalog or
    /// the object store is down).
    pub async fn caught_up(&self) -> Result<(), crate::error::ApiError> {
        match &self.follow {
            Some(f) if !f.caught_up(CATCH_UP).await => Err(crate::error::ApiError::Unavailable(format!(
                "this node's copy of the committed segments did not catch up within {} s; retry",
                CATCH_UP.as_secs()
            ))),
            _ => Ok(()),
        }
    }
}

/// A collect node's sink: every poll appended to the log, keyed by device and poll instant.
pub struct LogSink {
    publisher: Publisher,
    rt: Handle,
}

impl Sink for LogSink {
    fn write(&mut self, readings: Vec<PendingReading>) -> Result<(), SinkError> {
        self.rt
            .block_on(self.publisher.publish(readings, Keying::Poll))
            .map(drop)
            .map_err(|e| SinkError::Retry(e.to_string()))
    }
}

/// The devices a collect node holds leases on: renewed, and free ones claimed up to its fair
/// share (`ceil(devices / live collect nodes)`, never above `max_devices`; the surplus released
/// when a node joins), at every look at the fleet (every `renew_every`).
pub struct DeviceLeases {
    pg: Arc<PostgresCatalog>,
    node: String,
    ttl: Duration,
    max: usize,
    held: Mutex<BTreeMap<String, (Lease, Instant)>>,
    presence: Mutex<Presence>,
}

impl DeviceLeases {
    /// Renews what is held, drops what is lost or gone from the inventory, claims free devices
    /// of `names` up to the maximum; returns the names held. When the catalog cannot be
    /// reached, a lease is kept only while its last renewal is younger than the TTL.
    fn refresh(&self, names: &[String]) -> Vec<String> {
        let Ok(mut held) = self.held.lock() else { return Vec::new() };
        let wanted: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mut keep = BTreeMap::new();
        let mut renew = Vec::new();
        for (key, (lease, at)) in std::mem::take(&mut *held) {
            if wanted.contains(key.as_str()) {
                renew.push((lease, at));
            } else if let Err(e) = self.pg.release_lease(&lease) {
                tracing::warn!(device = %key, error = %e, "device lease not released; it expires");
            }
        }
        let leases: Vec<Lease> = renew.iter().map(|(l, _)| l.clone()).collect();
        match self.pg.renew_leases(LeaseKind::Device, &self.node, &leases, self.ttl) {
            Ok(renewed) => {
                let now = Instant::now();
                keep.extend(renewed.into_iter().map(|l| (l.key.clone(), (l, now))));
                for (l, _) in renew.iter().filter(|(l, _)| !keep.contains_key(&l.key)) {
                    tracing::warn!(device = %l.key, "device lease lost; no longer polled here");
                }
            }
            Err(e) => {
                // The catalog cannot be reached: keep polling only while the lease may be live.
                tracing::warn!(error = %e, "device leases not renewed; retried");
                keep.extend(
                    renew.into_iter().filter(|(_, at)| at.elapsed() < self.ttl).map(|(l, at)| (l.key.clone(), (l, at))),
                );
            }
        }
        *held = keep;
        let members = self.presence.lock().map_or(1, |mut p| p.beat(&self.pg, self.ttl));
        let share = fair_share(names.len(), members, self.max);
        while held.len() > share {
            let Some((key, (lease, _))) = held.pop_last() else { break };
            tracing::info!(device = %key, share, "device released to a newer collect node");
            if let Err(e) = self.pg.release_lease(&lease) {
                tracing::warn!(device = %key, error = %e, "device lease not released; it expires");
            }
        }
        let room = share.saturating_sub(held.len());
        let free: Vec<String> = names.iter().filter(|n| !held.contains_key(*n)).cloned().collect();
        if room > 0 && !free.is_empty() {
            match self.pg.claim_leases(LeaseKind::Device, &free, &self.node, self.ttl, room) {
                Ok(got) => {
                    for l in got {
                        tracing::info!(device = %l.key, epoch = %l.epoch, "device lease claimed");
                        held.insert(l.key.clone(), (l, Instant::now()));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim device leases; retried"),
            }
        }
        held.keys().cloned().collect()
    }

    /// Devices held now.
    pub fn held(&self) -> usize {
        self.held.lock().map_or(0, |h| h.len())
    }

    /// Gives every held lease up (a clean shutdown), so another node takes them at once.
    pub fn release_all(&self) {
        if let Ok(mut p) = self.presence.lock() {
            p.leave(&self.pg);
        }
        let Ok(mut held) = self.held.lock() else { return };
        for (key, (lease, _)) in std::mem::take(&mut *held) {
            if let Err(e) = self.pg.release_lease(&lease) {
                tracing::warn!(device = %key, error = %e, "device lease not released; it expires");
            }
        }
    }
}

/// The `Choose` of a collect node.
pub struct Leased(pub Arc<DeviceLeases>);

#[async_trait::async_trait]
impl Choose for Leased {
    async fn choose(&self, specs: Vec<DeviceSpec>) -> Vec<DeviceSpec> {
        let names: Vec<String> = specs.iter().map(|s| s.id.to_string()).collect();
        let leases = Arc::clone(&self.0);
        let held = match tokio::task::spawn_blocking(move || leases.refresh(&names)).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "the device lease task failed");
                Vec::new()
            }
        };
        let held: std::collections::BTreeSet<String> = held.into_iter().collect();
        specs.into_iter().filter(|s| held.contains(&*s.id)).collect()
    }
}
