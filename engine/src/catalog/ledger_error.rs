//! Why a ledger operation failed: the ledger's one error, by whose fault (`NotFound`,
//! `Conflict`, `Rule`, `Credit`: the caller's; `Query`, `Postgres`, `Corrupt`, `Unreadable`: the
//! store's). It lives with the ledger, not with the invoice types, so invoicing stays below the
//! catalog.

use crate::invoicing::credit_note::CreditError;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// No such invoice, credit note or run.
    #[error("not found")]
    NotFound,
    /// The invoice's state forbids the change (an issued invoice never changes).
    #[error("{0}")]
    Conflict(String),
    /// A well-formed request that breaks a rule.
    #[error("{0}")]
    Rule(String),
    /// A credit note rule.
    #[error(transparent)]
    Credit(#[from] CreditError),
    /// An identifier the ledger formed or read is not a valid ID.
    #[error("identifier: {0}")]
    Id(#[from] crate::id::IdError),
    /// SQLite failed.
    #[error("ledger query failed: {0}")]
    Query(#[from] rusqlite::Error),
    /// PostgreSQL failed or cannot be reached.
    #[error(transparent)]
    Postgres(#[from] super::PgError),
    /// A stored document does not read back.
    #[error("ledger holds an unreadable document: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A stored invoice or credit note does not read in the version it declares.
    #[error("ledger holds an unreadable issued record: {0}")]
    Document(#[from] crate::invoicing::document::DocumentError),
    /// A draft cannot be assembled (its evidence does not serialize, or a line is in another
    /// currency): a bug, never the caller's input.
    #[error("draft: {0}")]
    Draft(#[from] crate::invoicing::invoice::DraftError),
    /// Amounts of two currencies met (a stored payment or note against another invoice's).
    #[error(transparent)]
    Currency(#[from] crate::domain::CurrencyMismatch),
    /// A stored value does not read back (a status, an amount): edited by hand, or a bug.
    #[error("ledger holds an unreadable value: {0}")]
    Unreadable(String),
}

impl LedgerError {
    /// Whether the database is unreachable or not the primary (a retry later may succeed).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LedgerError::Postgres(p) if p.is_unavailable())
    }
}
