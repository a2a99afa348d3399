//! The catalog: inventory, tokens and import history, behind [`Catalog`] so that a PostgreSQL
//! backend can sit beside the embedded SQLite one ([`sqlite::SqliteCatalog`]).
//!
//! Each inventory object is stored in the document format of `contract.md` (one row per object,
//! keyed by kind and ID), and loaded back through the same reader that reads imported documents:
//! there is one definition of a valid object, not two.

pub mod migrations;
pub mod sqlite;

use crate::access::{TokenHash, TokenRecord};
use crate::id::TokenId;
use crate::inventory::{ImportPlan, Inventory, Problems};
use crate::time::Timestamp;

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

/// The catalog's operations.
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
