//! The HTTP application: state, router and the middleware every route shares.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use engine::catalog::{Catalog, CatalogError, SqliteCatalog};
use engine::clock::Clock;
use engine::ingest::KnownResources;
use engine::store::Store;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::query::QueryEngine;
use crate::routes;
use crate::tee::Tee;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    catalog: Arc<Mutex<SqliteCatalog>>,
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
    /// Devices and resources that may receive readings, with the catalog generation they
    /// were read at.
    known: Arc<Mutex<Option<KnownAt>>>,
    /// The catalog generation the query engine's inventory tables were built at.
    views_at: Arc<tokio::sync::Mutex<Option<i64>>>,
}

/// Known resources and the catalog generation they were read at.
type KnownAt = (i64, Arc<KnownResources>);

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
}

impl AppState {
    /// State over an opened catalog and store.
    pub fn new(
        catalog: SqliteCatalog,
        store: Arc<Store>,
        query: Arc<QueryEngine>,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> Self {
        Self {
            catalog: Arc::new(Mutex::new(catalog)),
            clock,
            store,
            query,
            limits,
            retention: std::time::Duration::from_secs(400 * 86_400),
            tee: None,
            known: Arc::new(Mutex::new(None)),
            views_at: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Tees every acknowledged reading to QuestDB.
    pub fn with_tee(mut self, tee: Arc<Tee>) -> Self {
        self.tee = Some(tee);
        self
    }

    /// Sets how long raw readings are kept (default 400 days).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Rebuilds the query engine's inventory tables (`assignments`) if the inventory changed.
    pub async fn refresh_views(&self) -> Result<(), ApiError> {
        let generation = self.catalog(|c| c.generation()).await?;
        let mut at = self.views_at.lock().await;
        if *at == Some(generation) {
            return Ok(());
        }
        let inv = self.catalog(|c| c.inventory()).await?;
        let batch = engine::inventory::sql::assignments(&inv).map_err(|e| ApiError::Internal(e.to_string()))?;
        self.query.set_assignments(batch).map_err(|e| ApiError::Internal(e.to_string()))?;
        *at = Some(generation);
        Ok(())
    }

    /// The devices and resources that may receive readings, re-read when the inventory changed.
    pub async fn known_resources(&self) -> Result<Arc<KnownResources>, ApiError> {
        let generation = self.catalog(|c| c.generation()).await?;
        let cached = self.known.lock().map_err(|_| ApiError::Internal("known-resources lock poisoned".into()))?.clone();
        if let Some((g, k)) = cached
            && g == generation
        {
            return Ok(k);
        }
        let inv = self.catalog(|c| c.inventory()).await?;
        let fresh = Arc::new(KnownResources::from_inventory(&inv));
        *self.known.lock().map_err(|_| ApiError::Internal("known-resources lock poisoned".into()))? =
            Some((generation, Arc::clone(&fresh)));
        Ok(fresh)
    }

    /// Runs a catalog operation on the blocking pool (SQLite calls block), never on an IO thread.
    pub async fn catalog<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteCatalog) -> Result<T, CatalogError> + Send + 'static,
    {
        let catalog = Arc::clone(&self.catalog);
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = catalog.lock().map_err(|_| ApiError::Internal("catalog lock poisoned".into()))?;
            f(&mut guard).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await;
        joined.map_err(|e| ApiError::Internal(format!("catalog task failed: {e}")))?
    }
}

/// The router with every route and shared middleware.
pub fn app(state: AppState, limits: Limits) -> Router {
    let timeout = limits.request_timeout;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::whoami::router())
        .merge(routes::write::router())
        .merge(routes::query::router())
        .merge(routes::metrics::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
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
