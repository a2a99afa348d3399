//! `colometer serve --config FILE`: the production server. So far the API's health and token
//! routes; collectors, store and portal join as they land.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use engine::catalog::SqliteCatalog;
use engine::clock::SystemClock;
use tokio_util::sync::CancellationToken;

use crate::app::{AppState, Limits, app};
use crate::config::Config;
use crate::server::{cancel_on_signals, serve};

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let catalog = SqliteCatalog::open(&cfg.data_dir())?;
    run_with(cfg, catalog, CancellationToken::new(), |_| ()).await
}

/// Runs the server over an opened catalog; `on_listening` is called with the bound URL.
pub async fn run_with(
    cfg: Config,
    catalog: SqliteCatalog,
    shutdown: CancellationToken,
    on_listening: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let state = AppState::new(catalog, Arc::new(SystemClock));
    let limits = Limits { body_limit_bytes: cfg.server.body_limit_bytes, request_timeout: cfg.server.request_timeout };
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    tracing::info!(%addr, data_dir = %cfg.data_dir().display(), "listening");
    // Scripts and tests read the actual address (the configured port may be 0) from stdout.
    println!("colometer listening on {url}");
    on_listening(&url);
    cancel_on_signals(shutdown.clone());
    serve(listener, app(state, limits), shutdown, cfg.server.shutdown_timeout).await?;
    tracing::info!("stopped");
    Ok(())
}
