//! `colometer serve --config FILE`: the production server: store, SNMP collectors and API (the
//! portal joins with its issue).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use engine::catalog::Backend;
use engine::clock::SystemClock;
use engine::store::Store;
use tokio_util::sync::CancellationToken;

use crate::app::{AppState, Limits, app, operations_app};
use crate::cluster::{Cluster, DeviceLeases, Leased};
use crate::collect::Plan;
use crate::config::{Config, Role};
use crate::query::QueryEngine;
use crate::server::{cancel_on_signals, serve};
use crate::tee::Tee;

/// The file in the data directory holding the running server's URL.
pub const SERVER_URL_FILE: &str = "server.url";

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let catalog = open_catalog(&cfg).await?;
    tracing::info!(catalog = %catalog.describe(), "catalog opened");
    run_with(cfg, catalog, CancellationToken::new(), |_| ()).await
}

/// Opens the catalog the configuration names, on the blocking pool: it connects and migrates,
/// and PostgreSQL's client blocks on a runtime of its own (never on an async worker).
pub async fn open_catalog(cfg: &Config) -> anyhow::Result<Box<dyn Backend>> {
    let cfg = cfg.clone();
    Ok(tokio::task::spawn_blocking(move || cfg.open_catalog()).await??)
}

/// Opens the store in the data directory and logs what recovery found.
pub fn open_store(cfg: &Config) -> anyhow::Result<Arc<Store>> {
    let dir = cfg.data_dir().join("store");
    let (store, recovery) = Store::open(&dir, cfg.store_config(), Arc::new(SystemClock))
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    tracing::info!(
        wal_files = recovery.wal_files,
        readings = recovery.readings,
        torn_tail_bytes = recovery.torn_tail_bytes,
        corrupt_wal_files = recovery.corrupt.len(),
        series = store.registry().len(),
        segments = store.manifest().segments.len(),
        "store opened"
    );
    for c in &recovery.corrupt {
        tracing::error!(problem = %c, "corrupt WAL file set aside; readings after the corruption in it are lost");
    }
    Ok(Arc::new(store))
}

/// How often the bucket table writes closed months to its archive.
const ARCHIVE_PASS: std::time::Duration = std::time::Duration::from_secs(600);

/// Writes closed months' buckets to the archive every [`ARCHIVE_PASS`] until `shutdown`.
async fn archive_closed_months(
    buckets: Arc<engine::metering::bucket_table::BucketTable>,
    store: Arc<Store>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(ARCHIVE_PASS);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (b, s) = (Arc::clone(&buckets), Arc::clone(&store));
        match tokio::task::spawn_blocking(move || b.archive_closed(&s)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(months)) => tracing::info!(months, "bucket months archived"),
            Ok(Err(e)) => tracing::error!(error = %e, "archiving closed bucket months failed; will retry"),
            Err(e) => tracing::error!(error = %e, "the bucket archive task failed"),
        }
    }
}

/// Connects the cluster and starts this node's roles (`ingest`'s loop, `serve`'s follower and
/// its writes to the log).
async fn start_cluster(
    cfg: &Config,
    state: &mut AppState,
    store: &Arc<Store>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Cluster> {
    let mut cluster = Cluster::connect(cfg, shutdown).await?;
    if cluster.has(Role::Serve) {
        cluster.start_follow(Arc::clone(store), &cfg.data_dir())?;
        cluster.start_presence(Role::Serve);
        state.ingest.publisher = Some(cluster.publisher.clone());
    }
    if cluster.has(Role::Ingest) {
        cluster.start_ingest()?;
    }
    Ok(cluster)
}

/// Running collectors, and in cluster mode the device leases they poll under.
type RunningCollectors = (crate::collect::Running, Option<Arc<DeviceLeases>>);

/// Starts the SNMP collectors when this node polls: every device into the store on a single
/// node, the devices it holds leases on into the log on a cluster's `collect` node.
async fn start_collectors(
    cfg: &Config,
    state: &mut AppState,
    cluster: Option<&Cluster>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<RunningCollectors>> {
    if !cfg.collectors.enabled {
        return Ok(None);
    }
    let clock = Arc::new(SystemClock);
    let (view, running, leases) = match cluster {
        None => {
            let plan = crate::collect::StoreSink::plan(state);
            let (view, running) = crate::collect::start(&cfg.collectors, state, clock, shutdown, plan).await?;
            (view, running, None)
        }
        Some(c) if c.has(Role::Collect) => {
            let leases = c.device_leases();
            let plan = Plan {
                sink: c.sink(),
                choose: Some(Arc::new(Leased(Arc::clone(&leases)))),
                every: c.config.renew_every,
            };
            let (view, running) = crate::collect::start(&cfg.collectors, state, clock, shutdown, plan).await?;
            (view, running, Some(leases))
        }
        Some(_) => return Ok(None),
    };
    *state = state.clone().with_collectors(view);
    Ok(Some((running, leases)))
}

/// Runs the server over an opened catalog; `on_listening` is called with the bound URL.
pub async fn run_with(
    cfg: Config,
    catalog: Box<dyn Backend>,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let store = open_store(&cfg)?;
    run_on(cfg, catalog, store, shutdown, on_listening).await
}

/// Serves over an already opened store (see [`run_with`]).
pub async fn run_on(
    cfg: Config,
    catalog: Box<dyn Backend>,
    store: Arc<Store>,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let query = Arc::new(QueryEngine::new(Arc::clone(&store), threads, cfg.storage.query_memory_bytes)?);
    let limits = Limits { body_limit_bytes: cfg.server.body_limit_bytes, request_timeout: cfg.server.request_timeout };
    let mut state =
        AppState::new(catalog, Arc::clone(&store), query, Arc::new(SystemClock), limits, cfg.bucket_archive())?
            .with_retention(cfg.storage.retention)
            .with_default_poll(cfg.collectors.default_interval.interval_s())
            .with_shutdown(shutdown.clone());
    // Build what the inventory implies (the bucket table above all) before taking requests.
    state.metering.derived().await.map_err(|e| anyhow::anyhow!("preparing metering: {e}"))?;
    tokio::spawn(crate::app::follow_inventory(state.metering.clone(), shutdown.clone()));
    // Months close at midnight UTC on the 1st: their buckets go to the archive within a pass.
    tokio::spawn(archive_closed_months(Arc::clone(&state.metering.buckets), Arc::clone(&store), shutdown.clone()));
    // The operator dashboard's capacity report, computed once in the background before anyone asks.
    let warm = state.clone();
    tokio::spawn(async move {
        let period = warm.clock.now().to_datetime().format("%Y-%m").to_string();
        if let Err(e) = warm.portal.capacity.refresh(&warm.metering, &warm.clock, &period).await {
            tracing::warn!(error = %e, "capacity report not prepared");
        }
    });
    let tee = cfg.storage.questdb.clone().map(|t| {
        tracing::info!(addr = %t.addr, "teeing readings to QuestDB");
        Arc::new(Tee::start(t))
    });
    if let Some(t) = &tee {
        state = state.with_tee(Arc::clone(t));
    }
    let cluster = match &cfg.cluster {
        Some(_) => Some(start_cluster(&cfg, &mut state, &store, &shutdown).await?),
        None => None,
    };
    let collectors = start_collectors(&cfg, &mut state, cluster.as_ref(), &shutdown).await?;
    if let Some(c) = &cluster {
        state.cluster = Some(c.view(collectors.as_ref().and_then(|(_, l)| l.clone())));
    }
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    tracing::info!(%addr, data_dir = %cfg.data_dir().display(), "listening");
    // Scripts and tests read the actual address (the configured port may be 0) from stdout.
    outln!("colometer listening on {url}").ok();
    // Local commands (`bill run` while the server holds the store) find the server here.
    let url_file = cfg.data_dir().join(SERVER_URL_FILE);
    if let Err(e) = std::fs::write(&url_file, &url) {
        tracing::warn!(file = %url_file.display(), error = %e, "cannot record the server's address");
    }
    on_listening(&url);
    cancel_on_signals(shutdown.clone());
    let router = match &cluster {
        Some(c) if !c.has(Role::Serve) => operations_app(state, limits),
        _ => app(state, limits),
    };
    serve(listener, router, shutdown, cfg.server.shutdown_timeout).await?;
    // Polling stops; what was polled reaches the store (or the log) before it closes.
    if let Some((c, leases)) = collectors {
        c.stop().await;
        if let Some(l) = leases {
            tokio::task::spawn_blocking(move || l.release_all()).await?;
        }
    }
    if let Some(c) = cluster {
        c.stop().await;
    }
    // In-flight writes are done; let the writer finish its queue and stop.
    tokio::task::spawn_blocking(move || {
        store.close();
        if let Some(t) = tee {
            t.close();
        }
    })
    .await?;
    let _ = std::fs::remove_file(&url_file);
    tracing::info!("stopped");
    Ok(())
}
