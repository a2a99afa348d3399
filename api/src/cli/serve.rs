//! `colometer serve --config FILE`: the production server: store, SNMP collectors and API (the
//! portal joins with its issue).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use engine::catalog::Backend;
use engine::clock::SystemClock;
use engine::store::Store;
use tokio_util::sync::CancellationToken;

use crate::app::{AppState, Limits, app};
use crate::config::Config;
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
    let collectors = if cfg.collectors.enabled {
        let (view, running) = crate::collect::start(&cfg.collectors, &state, Arc::new(SystemClock), &shutdown).await?;
        state = state.with_collectors(view);
        Some(running)
    } else {
        None
    };
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
    serve(listener, app(state, limits), shutdown, cfg.server.shutdown_timeout).await?;
    // Polling stops; what was polled reaches the store before it closes.
    if let Some(c) = collectors {
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
