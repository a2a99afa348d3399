//! The HTTP application: state, router and the middleware every route shares.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use engine::catalog::Backend;
use engine::clock::Clock;
use engine::metering::bucket_archive::{ArchiveConfig, BucketArchive};
use engine::metering::bucket_table::{BucketError, BucketTable};
use engine::store::Store;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::query::QueryEngine;
use crate::routes;
use crate::tee::Tee;

mod catalog;
mod metering;

pub use catalog::CatalogState;
pub use metering::{Derived, MeteringState};

/// The state of the router: the few states routes need, each handed (by [`FromRef`]) to the
/// routes that use it: [`CatalogState`], [`MeteringState`], [`LiveState`], [`PortalState`],
/// [`IngestState`], the clock and the collectors' view.
#[derive(Clone)]
pub struct AppState {
    /// The catalog and ledger.
    pub catalog: CatalogState,
    /// The store and what is read from it.
    pub metering: MeteringState,
    /// Live streams.
    pub live: LiveState,
    /// The portal's sessions and cached reports.
    pub portal: PortalState,
    /// What writes need besides the store.
    pub ingest: IngestState,
    /// The clock (injected so tests can fix it).
    pub clock: Arc<dyn Clock>,
    /// The SNMP collectors' metrics and device status, when they run.
    pub collectors: Option<crate::collect::CollectorView>,
    /// Cluster mode's state, on a cluster node.
    pub cluster: Option<Arc<crate::cluster::ClusterView>>,
}

/// Live (SSE) streams: bounded, and ended at shutdown.
#[derive(Clone)]
pub struct LiveState {
    /// Fires when the server stops: endless responses (live streams) end then.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Live streams open at once are bounded by this.
    pub streams: Arc<tokio::sync::Semaphore>,
}

/// The portal's own state.
#[derive(Clone)]
pub struct PortalState {
    /// Portal sessions.
    pub sessions: Arc<crate::portal::session::Sessions>,
    /// The operator dashboard's capacity report.
    pub capacity: Arc<crate::portal::ops::CapacityCache>,
}

/// What the write path needs besides the store.
#[derive(Clone)]
pub struct IngestState {
    /// Request limits.
    pub limits: Limits,
    /// How long raw readings are kept (writes older than this are refused).
    pub retention: std::time::Duration,
    /// The optional QuestDB tee.
    pub tee: Option<Arc<Tee>>,
    /// Cluster mode: writes go to the log, not the local store (which follows the segments).
    pub publisher: Option<engine::cluster::publish::Publisher>,
}

/// The clock, as routes take it.
pub type SharedClock = Arc<dyn Clock>;

macro_rules! from_app_state {
    ($($field:ident: $t:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $t {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

from_app_state!(
    catalog: CatalogState,
    metering: MeteringState,
    live: LiveState,
    portal: PortalState,
    ingest: IngestState,
    clock: Arc<dyn Clock>,
    collectors: Option<crate::collect::CollectorView>,
    cluster: Option<Arc<crate::cluster::ClusterView>>,
);

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
}

impl AppState {
    /// State over an opened catalog and store; the bucket table keeps `buckets.open_months` in
    /// memory and closed months in the archive in the store's directory (`buckets/`).
    pub fn new(
        catalog: Box<dyn Backend>,
        store: Arc<Store>,
        query: Arc<QueryEngine>,
        clock: Arc<dyn Clock>,
        limits: Limits,
        buckets: ArchiveConfig,
    ) -> Result<Self, BucketError> {
        let archive = Arc::new(BucketArchive::open(&store.dir().join("buckets"), buckets.cache_bytes)?);
        let buckets = Arc::new(BucketTable::archived(Arc::new(|_: &_| None), archive, buckets.open_months));
        if let Err(e) = store.observe(Arc::clone(&buckets) as _) {
            tracing::error!(error = %e, "the bucket table cannot follow the store");
        }
        if let Err(e) = query.set_port_buckets(Arc::clone(&buckets), Arc::clone(&store)) {
            tracing::error!(error = %e, "cannot register the port_buckets view");
        }
        let catalog = CatalogState::new(catalog);
        Ok(Self {
            metering: MeteringState {
                catalog: catalog.clone(),
                store,
                query,
                buckets,
                usage_cache: Arc::default(),
                default_poll_s: crate::config::DEFAULT_POLL_S,
                derived: Arc::new(tokio::sync::Mutex::new(None)),
            },
            catalog,
            live: LiveState {
                shutdown: tokio_util::sync::CancellationToken::new(),
                streams: Arc::new(tokio::sync::Semaphore::new(crate::routes::live::MAX_STREAMS)),
            },
            portal: PortalState { sessions: Arc::default(), capacity: Arc::default() },
            ingest: IngestState {
                limits,
                retention: engine::store::StoreConfig::default().retention,
                tee: None,
                publisher: None,
            },
            clock,
            collectors: None,
            cluster: None,
        })
    }

    /// Tees every acknowledged reading to QuestDB.
    pub fn with_tee(mut self, tee: Arc<Tee>) -> Self {
        self.ingest.tee = Some(tee);
        self
    }

    /// Shows the collectors' metrics and device status.
    pub fn with_collectors(mut self, view: crate::collect::CollectorView) -> Self {
        self.collectors = Some(view);
        self
    }

    /// Sets how long raw readings are kept (default 400 days).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.ingest.retention = retention;
        self
    }

    /// Ends live streams when `token` fires (the server's one cancellation token).
    pub fn with_shutdown(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.live.shutdown = token;
        self
    }

    /// Sets `[collectors] default_interval`.
    pub fn with_default_poll(mut self, seconds: u32) -> Self {
        self.metering.default_poll_s = seconds;
        self
    }
}

/// How often the catalog generation is checked for changes committed by another process (an
/// `inventory import`, another serve node on PostgreSQL).
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps what the inventory implies current: rebuilt as soon as this process commits an
/// inventory change, and within [`FOLLOW_INTERVAL`] of one committed elsewhere, so no request
/// after an import pays for the rebuild. Ends when `shutdown` fires.
pub async fn follow_inventory(metering: MeteringState, shutdown: tokio_util::sync::CancellationToken) {
    // Said once when following starts failing (a catalog database down) and once when it
    // recovers, not every second.
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = metering.catalog.next_change() => {}
            () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
        }
        match metering.derived().await {
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot follow the inventory; retrying every second");
            }
            Ok(_) if failing => {
                failing = false;
                tracing::info!("following the inventory again");
            }
            _ => {}
        }
    }
}

/// The router with every route and shared middleware.
pub fn app(state: AppState, limits: Limits) -> Router {
    let timeout = limits.request_timeout;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::devices::router())
        .merge(routes::whoami::router())
        .merge(routes::write::router())
        .merge(routes::query::router())
        .merge(routes::usage::router())
        .merge(routes::live::router())
        .merge(routes::billing::router())
        .merge(routes::invoices::router())
        .merge(routes::inventory::router())
        .merge(routes::lifecycle::router())
        .merge(routes::tokens::router())
        .merge(routes::metrics::router())
        .merge(routes::cluster::router())
        .merge(crate::openapi::router())
        .merge(crate::portal::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), crate::idempotency::layer))
        .layer(DefaultBodyLimit::max(limits.body_limit_bytes))
        .layer(middleware::from_fn(move |req: Request, next: Next| request_timeout(req, next, timeout)))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The router of a cluster node that does not `serve`: health, readiness and metrics only.
pub fn operations_app(state: AppState, limits: Limits) -> Router {
    let timeout = limits.request_timeout;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::metrics::router())
        .merge(routes::cluster::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(move |req: Request, next: Next| request_timeout(req, next, timeout)))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers `503` (problem+json) when a request runs over its time.
async fn request_timeout(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Unavailable(format!("the request took longer than {}s", limit.as_secs())).into_response(),
    }
}
