//! The catalog as the routes use it: every call on the blocking pool (or in place for an
//! embedded point read), its errors through [`ApiError`]'s one mapping.

use std::sync::Arc;

use engine::catalog::{Backend, CatalogError};

use crate::error::ApiError;

/// The catalog and ledger, shared by every route that reads or changes them.
#[derive(Clone)]
pub struct CatalogState {
    catalog: engine::catalog::backend::Shared,
    /// Poked when this process commits an inventory change (see [`super::follow_inventory`]).
    changed: Arc<tokio::sync::Notify>,
}

impl CatalogState {
    /// Over an opened catalog.
    pub fn new(catalog: Box<dyn Backend>) -> Self {
        Self { catalog: Arc::new(std::sync::Mutex::new(catalog)), changed: Arc::default() }
    }

    /// Says that an inventory change was committed: what the inventory implies is rebuilt now,
    /// not by the next request.
    pub fn inventory_changed(&self) {
        self.changed.notify_one();
    }

    /// Resolves when [`CatalogState::inventory_changed`] was called (at most one waiter).
    pub async fn next_change(&self) {
        self.changed.notified().await;
    }

    /// The catalog itself, for engine services that lock it only while they need it (a billing
    /// run: not while it rates). Lock it on a blocking thread only.
    pub fn shared(&self) -> engine::catalog::backend::Shared {
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
