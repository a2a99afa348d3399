//! One catalog backend, whichever it is: [`Backend`] is [`Catalog`] + [`Ledger`] +
//! [`IdempotencyKeys`] plus what callers need to treat SQLite and PostgreSQL alike, and
//! [`open`] picks one from `[catalog] url`.
//!
//! Reading of the issue (#22) where it is silent: "a billing run for a period runs once" is read
//! as "never two at the same time": while one process rates and stores a period, another's
//! request for the same period is refused ([`RunClaim`], `409`); a later request runs again and
//! rebuilds drafts (billing runs are idempotent: same IDs, issued invoices kept), as on SQLite.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{Catalog, CatalogError, IdempotencyKeys, Ledger, PostgresCatalog, SqliteCatalog};

/// The tables a catalog holds, in the order a copy writes them.
pub const TABLES: &[&str] = &[
    "objects",
    "assignments",
    "imports",
    "tokens",
    "invoices",
    "numbering",
    "credit_notes",
    "payments",
    "billing_runs",
    "audit_log",
    "idempotency",
];

/// A catalog backend.
pub trait Backend: Catalog + Ledger + IdempotencyKeys + Send + 'static {
    /// Where it is, for logs and messages (`sqlite:/var/lib/colometer/catalog.db`,
    /// `postgres:db1:5432,db2:5432/colometer`); never a password.
    fn describe(&self) -> String;
    /// Whether a point read (a token, the generation) may run on an async thread: an embedded
    /// look-up takes microseconds; a network round trip must go to the blocking pool.
    fn reads_in_place(&self) -> bool;
    /// Claims the billing run of `period` among every process sharing this catalog; `None` when
    /// another holds it. The claim ends when the returned guard is dropped (or the process dies).
    fn claim_billing_run(&self, period: crate::period::BillingPeriod) -> Result<Option<RunClaim>, CatalogError>;
    /// Rows per table ([`TABLES`]), for `catalog migrate`'s report.
    fn table_counts(&self) -> Result<Vec<(String, i64)>, CatalogError>;
}

/// A held billing-run claim; dropping it releases the claim.
pub struct RunClaim {
    _release: Box<dyn Send>,
}

impl RunClaim {
    /// A claim released when `guard` is dropped.
    pub fn new(guard: impl Send + 'static) -> Self {
        Self { _release: Box::new(guard) }
    }
}

impl std::fmt::Debug for RunClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunClaim")
    }
}

/// Periods being billed in this process, by catalog: an embedded catalog is never shared by
/// two processes (the store's lock), so a process-wide set is the whole truth.
static LOCAL_RUNS: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

struct LocalRun(String, String);

impl Drop for LocalRun {
    fn drop(&mut self) {
        if let Ok(mut runs) = LOCAL_RUNS.lock() {
            runs.remove(&(std::mem::take(&mut self.0), std::mem::take(&mut self.1)));
        }
    }
}

/// Claims `(catalog, period)` in this process.
pub(crate) fn claim_local(catalog: &str, period: &str) -> Option<RunClaim> {
    let mut runs = LOCAL_RUNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    runs.insert((catalog.to_owned(), period.to_owned()))
        .then(|| RunClaim::new(LocalRun(catalog.to_owned(), period.to_owned())))
}

/// Opens the catalog: PostgreSQL when `url` is set (`postgres://…`), else the embedded SQLite
/// file in `data_dir`. PostgreSQL is migrated (under an advisory lock) and refused when its
/// schema is newer than this binary, like SQLite.
pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Box<dyn Backend>, CatalogError> {
    match url {
        Some(url) => Ok(Box::new(PostgresCatalog::connect(url)?)),
        None => Ok(Box::new(SqliteCatalog::open(data_dir)?)),
    }
}

/// A backend shared by the tasks of one process.
pub type Shared = Arc<Mutex<Box<dyn Backend>>>;
