//! The billing service: rating a period and storing its drafts, the one path that both
//! `POST /api/v1/billing-runs` and `colometer bill run` take (finalize, send, void, credit and pay
//! are single ledger operations: [`crate::catalog::Ledger`]).
//!
//! A run claims its period first among every process sharing the catalog
//! ([`crate::catalog::Backend::claim_billing_run`]; another request meanwhile is refused with
//! [`BillingError::InProgress`]), rates without holding the catalog (rating takes seconds; tokens
//! and reads go on), then stores the drafts in one transaction. The caller brings the metering
//! sources, settled: a server's live bucket table, or [`OneShot`] in a process without one.

use std::sync::{Arc, Mutex};

use crate::catalog::LedgerError;
use crate::catalog::{Backend, CatalogError};
use crate::clock::Clock;
use crate::inventory::Inventory;
use crate::invoicing::record::BillingRun;
use crate::invoicing::run::{RunError, rate_period};
use crate::metering::bucket_archive::{ArchiveConfig, BucketArchive};
use crate::metering::bucket_table::BucketError;
use crate::metering::bucket_table::BucketTable;
use crate::metering::plant::Plant;
use crate::metering::usage::Sources;
use crate::period::BillingPeriod;
use crate::store::Store;

/// Why a billing run did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Another request (in this process or another sharing the catalog) is billing the period.
    #[error("a billing run for {0} is in progress; retry when it has finished")]
    InProgress(BillingPeriod),
    /// Rating failed: a period that cannot be formed (the caller's), or the store (ours).
    #[error(transparent)]
    Rating(#[from] RunError),
    /// Storing the drafts failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The catalog failed (the claim).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The catalog's lock was poisoned by a panic elsewhere.
    #[error("the catalog lock is poisoned")]
    Poisoned,
}

impl From<BucketError> for BillingError {
    fn from(e: BucketError) -> Self {
        BillingError::Rating(RunError::Store(e))
    }
}

/// Rates `period` from `src` (settled) with `threads` and stores the run as `actor`, at the
/// clock's now.
pub fn run_period(
    catalog: &Mutex<Box<dyn Backend>>,
    src: &Sources<'_>,
    period: BillingPeriod,
    actor: &str,
    clock: &dyn Clock,
    threads: usize,
) -> Result<BillingRun, BillingError> {
    let lock = || catalog.lock().map_err(|_| BillingError::Poisoned);
    let claim = lock()?.claim_billing_run(period)?.ok_or(BillingError::InProgress(period))?;
    let (customers, rated) = rate_period(src, period, threads)?;
    let run = lock()?.apply_billing_run(period, &customers, rated, actor, clock.now())?;
    drop(claim);
    tracing::info!(run = %run.id, period = %run.period, created = run.created.len(), rebuilt = run.rebuilt.len(),
        unchanged = run.unchanged.len(), kept = run.kept.len(), discarded = run.discarded.len(), "billing run");
    Ok(run)
}

/// What metering reads, built once from the store for a process that runs no server (the CLI):
/// the plant of `inventory` and a bucket table built from every reading (closed months from the
/// store's bucket archive).
pub struct OneShot {
    inventory: Inventory,
    plant: Arc<Plant>,
    buckets: BucketTable,
}

impl OneShot {
    /// Builds the sources; `default_poll_s` is `[collectors] default_interval`.
    pub fn build(
        store: &Store,
        inventory: Inventory,
        default_poll_s: u32,
        archive: ArchiveConfig,
    ) -> Result<Self, BucketError> {
        let plant = Arc::new(Plant::new(&inventory, default_poll_s));
        let months = Arc::new(BucketArchive::open(&store.dir().join("buckets"), archive.cache_bytes)?);
        let buckets = BucketTable::archived(Arc::clone(&plant).classifier(), months, archive.open_months);
        buckets.build(store)?;
        Ok(Self { inventory, plant, buckets })
    }

    /// The sources over `store` (the one they were built from).
    pub fn sources<'a>(&'a self, store: &'a Store) -> Sources<'a> {
        Sources { inventory: &self.inventory, plant: &self.plant, buckets: &self.buckets, store }
    }
}
