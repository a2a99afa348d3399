//! The catalog: inventory, tokens, import history, the invoicing ledger and idempotency keys,
//! behind [`Catalog`], [`Ledger`] and [`IdempotencyKeys`]; [`Backend`] is all three. Two
//! backends: the embedded SQLite file ([`sqlite::SqliteCatalog`], the default) and PostgreSQL
//! ([`postgres::PostgresCatalog`], `[catalog] url`), chosen by [`open`].
//!
//! Each inventory object is stored in the document format of `contract.md` (one row per object,
//! keyed by kind and ID), and loaded back through the same reader that reads imported documents:
//! there is one definition of a valid object, not two.

pub mod backend;
pub mod copy;
pub mod idempotency;
pub mod ledger;
mod ledger_error;
pub mod migrations;
pub mod postgres;
pub mod sqlite;
pub mod writes;

use crate::access::Role;
use crate::access::{TokenHash, TokenRecord};
use crate::id::CustomerId;
use crate::id::TokenId;
use crate::inventory::{ImportPlan, Inventory, Problem, Problems, document};
use crate::time::Timestamp;

pub use backend::{Backend, RunClaim, open};
pub use idempotency::IdempotencyKeys;
pub use ledger::Ledger;
pub use ledger_error::LedgerError;
pub use postgres::{PgError, PostgresCatalog};
pub use sqlite::SqliteCatalog;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database could not be opened or created.
    #[error("cannot open the catalog at {path}: {source}")]
    Open {
        /// The database file.
        path: std::path::PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database was written by a newer colometer.
    #[error("the catalog has schema version {found}, newer than this colometer knows ({known}); upgrade colometer")]
    FutureSchema {
        /// The version found.
        found: i64,
        /// The newest version known.
        known: i64,
    },
    /// A migration failed (nothing of it was applied).
    #[error("catalog migration to version {version} failed: {source}")]
    Migration {
        /// The migration.
        version: i64,
        /// Why.
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("catalog query failed: {0}")]
    Query(#[from] rusqlite::Error),
    /// Stored objects no longer read as valid (edited by hand, or a bug).
    #[error("the catalog holds invalid objects: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Corrupt(Problems),
    /// Another import was applied since the plan was made.
    #[error("the inventory changed while this import was validated (generation {planned}, now {found}); run it again")]
    Concurrent {
        /// The generation the plan was made against.
        planned: i64,
        /// The generation found.
        found: i64,
    },
    /// A token with this ID or hash already exists.
    #[error("token {0} already exists")]
    DuplicateToken(TokenId),
    /// `catalog migrate` refuses a target that already holds rows.
    #[error("the target catalog is not empty ({table} has {rows} rows): copy only into an empty database")]
    NotEmpty {
        /// The first table found with rows.
        table: String,
        /// How many.
        rows: i64,
    },
    /// PostgreSQL failed or cannot be reached ([`PgError::is_unavailable`] tells which).
    #[error(transparent)]
    Postgres(#[from] PgError),
    /// A ledger statement inside a catalog change failed.
    #[error(transparent)]
    Ledger(#[from] Box<LedgerError>),
}

impl From<LedgerError> for CatalogError {
    fn from(e: LedgerError) -> Self {
        use LedgerError as L;
        match e {
            L::Query(q) => CatalogError::Query(q),
            L::Postgres(p) => CatalogError::Postgres(p),
            other => CatalogError::Ledger(Box::new(other)),
        }
    }
}

impl CatalogError {
    /// Whether the database is unreachable or not the primary (a retry later may succeed).
    pub fn is_unavailable(&self) -> bool {
        match self {
            CatalogError::Postgres(p) => p.is_unavailable(),
            CatalogError::Ledger(l) => l.is_unavailable(),
            _ => false,
        }
    }
}

/// The audit log's actor for changes made on the command line (API changes name their token).
pub const CLI_ACTOR: &str = "cli";

/// One recorded import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportRecord {
    /// When it was applied.
    pub at: Timestamp,
    /// Where the document came from.
    pub source: String,
    /// Objects created.
    pub created: usize,
    /// Objects replaced.
    pub updated: usize,
}

/// The catalog's operations: inventory, imports, tokens.
pub trait Catalog {
    /// The whole inventory.
    fn inventory(&self) -> Result<Inventory, CatalogError>;
    /// The inventory's generation: it changes with every applied import. Read it before
    /// [`Catalog::inventory`] and pass it to [`Catalog::apply`].
    fn generation(&self) -> Result<i64, CatalogError>;
    /// Writes a validated plan atomically, if the inventory is still at `generation` (else
    /// [`CatalogError::Concurrent`]: plan again). A plan without changes writes nothing at all.
    fn apply(&mut self, plan: &ImportPlan, generation: i64, source: &str, at: Timestamp) -> Result<(), CatalogError> {
        self.apply_as(plan, generation, source, CLI_ACTOR, at)
    }
    /// [`Catalog::apply`], audited as done by `actor` (an API token's ID).
    fn apply_as(
        &mut self,
        plan: &ImportPlan,
        generation: i64,
        source: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), CatalogError>;
    /// Past imports, newest first.
    fn imports(&self) -> Result<Vec<ImportRecord>, CatalogError>;
    /// Stores a new token.
    fn insert_token(&mut self, token: &TokenRecord) -> Result<(), CatalogError> {
        self.insert_token_as(token, CLI_ACTOR)
    }
    /// [`Catalog::insert_token`], audited as done by `actor`.
    fn insert_token_as(&mut self, token: &TokenRecord, actor: &str) -> Result<(), CatalogError>;
    /// The live (not revoked) token with this hash.
    fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, CatalogError>;
    /// Every token, revoked ones included.
    fn tokens(&self) -> Result<Vec<TokenRecord>, CatalogError>;
    /// Revokes a token; `false` if there is no such live token.
    fn revoke_token(&mut self, id: &TokenId, at: Timestamp) -> Result<bool, CatalogError> {
        self.revoke_token_as(id, CLI_ACTOR, at)
    }
    /// [`Catalog::revoke_token`], audited as done by `actor`.
    fn revoke_token_as(&mut self, id: &TokenId, actor: &str, at: Timestamp) -> Result<bool, CatalogError>;
}

/// Reads stored objects (`kind`, JSON body) back into an inventory through the document reader:
/// one definition of a valid object for imports and for both backends.
pub(crate) fn inventory_from_rows(rows: Vec<(String, String)>) -> Result<Inventory, CatalogError> {
    let mut doc = serde_json::Map::new();
    for (kind, body) in rows {
        let value: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| CatalogError::Corrupt(vec![Problem { path: kind.clone(), message: e.to_string() }]))?;
        if let serde_json::Value::Array(items) = doc.entry(kind).or_insert_with(|| serde_json::Value::Array(Vec::new()))
        {
            items.push(value);
        }
    }
    let read = document::read(&serde_json::Value::Object(doc));
    if !read.problems.is_empty() {
        return Err(CatalogError::Corrupt(read.problems));
    }
    let mut inv = Inventory::default();
    for e in read.entries {
        inv.upsert(e.object);
    }
    Ok(inv)
}

/// A stored token's columns, as either backend reads them.
pub(crate) struct TokenParts {
    pub id: String,
    pub hash: Vec<u8>,
    pub role: String,
    pub customer: Option<String>,
    pub label: Option<String>,
    pub created: i64,
    pub revoked: Option<i64>,
}

/// A stored token, checked as it is read.
pub(crate) fn token_from_parts(t: TokenParts) -> Result<TokenRecord, CatalogError> {
    let id = t.id;
    let corrupt = |m: String| CatalogError::Corrupt(vec![Problem { path: format!("tokens.{id}"), message: m }]);
    let hash: [u8; 32] = t.hash.try_into().map_err(|_| corrupt("hash is not 32 bytes".into()))?;
    let customer = t.customer.map(CustomerId::new).transpose().map_err(|e| corrupt(e.to_string()))?;
    let role = Role::new(&t.role, customer).map_err(|e| corrupt(e.to_string()))?;
    Ok(TokenRecord {
        id: TokenId::new(id.clone()).map_err(|e| corrupt(e.to_string()))?,
        hash: TokenHash(hash),
        role,
        label: t.label,
        created_at: Timestamp::from_nanos(t.created),
        revoked_at: t.revoked.map(Timestamp::from_nanos),
    })
}
