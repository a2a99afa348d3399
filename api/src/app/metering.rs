//! What metering routes share: the store, the bucket table, the query engine, the usage cache,
//! and what is derived from the current inventory.

use std::sync::Arc;

use engine::ingest::KnownResources;
use engine::inventory::Inventory;
use engine::metering::bucket_table::{BucketError, BucketTable};
use engine::metering::plant::Plant;
use engine::metering::usage::Sources;
use engine::store::Store;

use super::CatalogState;
use crate::error::ApiError;
use crate::query::QueryEngine;

/// The store and everything read from it.
#[derive(Clone)]
pub struct MeteringState {
    pub(super) catalog: CatalogState,
    /// The time-series store.
    pub store: Arc<Store>,
    /// SQL over the store, on its own runtime.
    pub query: Arc<QueryEngine>,
    /// The materialised 5-minute bucket table (kept current by the store's commit observer).
    pub buckets: Arc<BucketTable>,
    /// Usage objects kept while nothing they were computed from changes.
    pub usage_cache: Arc<engine::metering::read_models::usage_cache::UsageCache>,
    /// `[collectors] default_interval`, seconds (gap detection for devices without one).
    pub(super) default_poll_s: u32,
    /// What is derived from the inventory, with the catalog generation it was read at.
    pub(super) derived: Arc<tokio::sync::Mutex<Option<Arc<Derived>>>>,
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

impl MeteringState {
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
        let generation = self.catalog.catalog_lookup(|c| c.generation()).await?;
        let mut slot = self.derived.lock().await;
        if let Some(d) = slot.as_ref()
            && d.generation == generation
        {
            return Ok(Arc::clone(d));
        }
        let inventory = Arc::new(self.catalog.catalog(|c| c.inventory()).await?);
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
}
