//! The HTTP application: state, router and the middleware every route shares.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use engine::catalog::{Backend, CatalogError};
use engine::clock::Clock;
use engine::ingest::KnownResources;
use engine::inventory::Inventory;
use engine::metering::bucket_archive::{ArchiveConfig, BucketArchive};
use engine::metering::bucket_table::{BucketError, BucketTable};
use engine::metering::plant::Plant;
use engine::metering::usage::Sources;
use engine::store::Store;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::query::QueryEngine;
use crate::routes;
use crate::tee::Tee;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    catalog: engine::catalog::backend::Shared,
    /// The clock (injected so tests can fix it).
    pub clock: Arc<dyn Clock>,
    /// The time-series store.
    pub store: Arc<Store>,
    /// SQL over the store, on its own runtime.
    pub query: Arc<QueryEngine>,
    /// Request limits.
    pub limits: Limits,
    /// How long raw readings are kept (writes older than this are refused).
    pub retention: std::time::Duration,
    /// The optional QuestDB tee.
    pub tee: Option<Arc<Tee>>,
    /// The materialised 5-minute bucket table (kept current by the store's commit observer).
    pub buckets: Arc<BucketTable>,
    /// `[collectors] default_interval`, seconds (gap detection for devices without one).
    pub default_poll_s: u32,
    /// The SNMP collectors' metrics and device status, when they run.
    pub collectors: Option<crate::collect::CollectorView>,
    /// Fires when the server stops: endless responses (live streams) end then.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Live streams open at once are bounded by this.
    pub live_streams: Arc<tokio::sync::Semaphore>,
    /// Portal sessions.
    pub sessions: Arc<crate::portal::session::Sessions>,
    /// The operator dashboard's capacity report.
    pub capacity: Arc<crate::portal::ops::CapacityCache>,
    /// Usage objects kept while nothing they were computed from changes.
    pub usage_cache: Arc<engine::metering::usage_cache::UsageCache>,
    /// What is derived from the inventory, with the catalog generation it was read at.
    derived: Arc<tokio::sync::Mutex<Option<Arc<Derived>>>>,
}

/// What is derived from one generation of the inventory.
pub struct Derived {
    /// The catalog generation.
    pub generation: i64,
    /// The inventory.
    pub inventory: Arc<Inventory>,
    /// Devices and resources that may receive readings.
    pub known: Arc<KnownResources>,
    /// Poll intervals and port speeds.
    pub plant: Arc<Plant>,
}

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
        Ok(Self {
            catalog: Arc::new(Mutex::new(catalog)),
            clock,
            store,
            query,
            limits,
            retention: engine::store::StoreConfig::default().retention,
            tee: None,
            buckets,
            default_poll_s: crate::config::DEFAULT_POLL_S,
            collectors: None,
            shutdown: tokio_util::sync::CancellationToken::new(),
            live_streams: Arc::new(tokio::sync::Semaphore::new(crate::routes::live::MAX_STREAMS)),
            sessions: Arc::default(),
            capacity: Arc::default(),
            usage_cache: Arc::default(),
            derived: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    /// Tees every acknowledged reading to QuestDB.
    pub fn with_tee(mut self, tee: Arc<Tee>) -> Self {
        self.tee = Some(tee);
        self
    }

    /// Shows the collectors' metrics and device status.
    pub fn with_collectors(mut self, view: crate::collect::CollectorView) -> Self {
        self.collectors = Some(view);
        self
    }

    /// Sets how long raw readings are kept (default 400 days).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Ends live streams when `token` fires (the server's one cancellation token).
    pub fn with_shutdown(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Sets `[collectors] default_interval`.
    pub fn with_default_poll(mut self, seconds: u32) -> Self {
        self.default_poll_s = seconds;
        self
    }

    /// Runs `f` over the metering sources of `derived` on the blocking pool, the bucket table
    /// settled first (every metering reader's prelude); `what` names the task in a failure.
    pub async fn metered<T, E>(
        &self,
        derived: Arc<Derived>,
        what: &'static str,
        f: impl FnOnce(&Sources<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, ApiError>
    where
        T: Send + 'static,
        E: From<BucketError> + Send + 'static,
    {
        let (store, buckets) = (Arc::clone(&self.store), Arc::clone(&self.buckets));
        tokio::task::spawn_blocking(move || {
            buckets.settle(&store)?;
            f(&Sources { inventory: &derived.inventory, plant: &derived.plant, buckets: &buckets, store: &store })
        })
        .await
        .map_err(|e| ApiError::internal_in(format!("{what} task failed"), e))
    }

    /// What is derived from the current inventory, rebuilt when the catalog generation moved:
    /// the query engine's `assignments` table, the known resources for writes, and (when poll
    /// intervals or port speeds changed) the bucket table.
    pub async fn derived(&self) -> Result<Arc<Derived>, ApiError> {
        let generation = self.catalog_lookup(|c| c.generation()).await?;
        let mut slot = self.derived.lock().await;
        if let Some(d) = slot.as_ref()
            && d.generation == generation
        {
            return Ok(Arc::clone(d));
        }
        let inventory = Arc::new(self.catalog(|c| c.inventory()).await?);
        let batch = engine::inventory::sql::assignments(&inventory).map_err(ApiError::internal)?;
        self.query.set_assignments(batch).map_err(ApiError::internal)?;
        let plant = Arc::new(Plant::new(&inventory, self.default_poll_s));
        self.query.set_outlet_energy(Arc::clone(&self.store), Arc::clone(&plant)).map_err(ApiError::internal)?;
        if slot.as_ref().is_none_or(|d| *d.plant != *plant) {
            let (buckets, store, classify) =
                (Arc::clone(&self.buckets), Arc::clone(&self.store), Arc::clone(&plant).classifier());
            tokio::task::spawn_blocking(move || buckets.reclassify(classify, &store))
                .await
                .map_err(|e| ApiError::internal_in("bucket table task failed", e))?
                .map_err(|e| ApiError::internal_in("building the bucket table", e))?;
        }
        let d = Arc::new(Derived {
            generation,
            known: Arc::new(KnownResources::from_inventory(&inventory)),
            inventory,
            plant,
        });
        *slot = Some(Arc::clone(&d));
        Ok(d)
    }

    /// The devices and resources that may receive readings.
    pub async fn known_resources(&self) -> Result<Arc<KnownResources>, ApiError> {
        Ok(Arc::clone(&self.derived().await?.known))
    }

    /// The catalog itself, for engine services that lock it only while they need it (a billing
    /// run: not while it rates). Lock it on a blocking thread only.
    pub fn shared_catalog(&self) -> engine::catalog::backend::Shared {
        Arc::clone(&self.catalog)
    }

    /// Runs a catalog operation on the blocking pool (SQLite calls block), never on an IO thread.
    pub async fn catalog<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Backend) -> Result<T, CatalogError> + Send + 'static,
    {
        self.with_catalog(move |c| f(c).map_err(ApiError::from)).await
    }

    /// Runs a ledger (invoicing) operation on the blocking pool; its errors map through
    /// [`ApiError`]'s one mapping (`404`, `409`, `422`).
    pub async fn ledger<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Backend) -> Result<T, engine::catalog::LedgerError> + Send + 'static,
    {
        self.with_catalog(move |c| f(c).map_err(ApiError::from)).await
    }

    /// A point read of the catalog (a token, the generation): done in place when the catalog is
    /// embedded and free — an indexed SQLite look-up (WAL mode: readers never wait for a writer)
    /// takes microseconds, less than a hand-over to the blocking pool and back — and on the
    /// blocking pool when an operation holds it or the catalog is across the network
    /// (PostgreSQL), so an IO thread never waits.
    pub async fn catalog_lookup<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Backend) -> Result<T, CatalogError> + Send + 'static,
    {
        let f = match self.catalog.try_lock() {
            Ok(mut guard) if guard.reads_in_place() => return f(&mut **guard).map_err(ApiError::from),
            Ok(_) => f,
            Err(std::sync::TryLockError::Poisoned(_)) => {
                return Err(ApiError::bug("catalog lock poisoned"));
            }
            Err(std::sync::TryLockError::WouldBlock) => f,
        };
        self.catalog(f).await
    }

    /// Runs `f` with the catalog locked, on the blocking pool; `f` maps its own errors.
    pub async fn with_catalog<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Backend) -> Result<T, ApiError> + Send + 'static,
    {
        let catalog = Arc::clone(&self.catalog);
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = catalog.lock().map_err(|_| ApiError::bug("catalog lock poisoned"))?;
            f(&mut **guard)
        })
        .await;
        joined.map_err(|e| ApiError::internal_in("catalog task failed", e))?
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

/// Answers `503` (problem+json) when a request runs over its time.
async fn request_timeout(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Unavailable(format!("the request took longer than {}s", limit.as_secs())).into_response(),
    }
}
