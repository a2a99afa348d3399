//! PostgreSQL failures, split by whose fault they are: the database being unreachable or not the
//! primary (a failover, a restart: `503` and retry) against everything else (a bug, a corrupt
//! row: `500`).

use std::error::Error as _;

/// Why a PostgreSQL catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No server in the URL could be reached, or none accepted a read-write session in time.
    #[error("cannot reach the catalog database at {target}: {reason}")]
    Unreachable {
        /// The hosts, ports and database tried (no password).
        target: String,
        /// Why.
        reason: String,
    },
    /// A statement failed (possibly because the connection was lost: see [`PgError::is_unavailable`]).
    #[error("catalog query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// The URL does not parse or names an unsupported option.
    #[error("the catalog URL is invalid: {0}")]
    Url(String),
    /// The client's runtime could not start.
    #[error("the PostgreSQL client cannot start: {0}")]
    Runtime(#[source] std::io::Error),
    /// A statement was sent on a transaction that had already ended (a bug of ours).
    #[error("a catalog statement after its transaction ended")]
    Ended,
    /// The server refused the credentials.
    #[error("the catalog database at {target} refused the login: {reason}")]
    Auth {
        /// The hosts, ports and database tried.
        target: String,
        /// The server's message.
        reason: String,
    },
}

/// SQLSTATEs after which a retry, later or on another server, may succeed: connection exceptions
/// (class 08), shutdowns (57P01–57P03), too many connections (53300), and a write sent to a
/// server that is (now) a standby (25006).
fn retryable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "25006")
}

impl PgError {
    /// Whether the database is unreachable or not the primary (a retry later may succeed).
    pub fn is_unavailable(&self) -> bool {
        match self {
            PgError::Unreachable { .. } => true,
            PgError::Query(e) => lost(e),
            PgError::Url(_) | PgError::Runtime(_) | PgError::Auth { .. } | PgError::Ended => false,
        }
    }
}

/// Whether a client error means the connection (not the statement) failed.
pub(crate) fn lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return retryable(code.code());
    }
    // No SQLSTATE: an I/O failure (reset, refused, timed out) is the connection's.
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Whether a connection attempt failed on the credentials (28000, 28P01) or a missing database
/// (3D000): configuration, not an outage.
pub(crate) fn refused_login(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| matches!(c.code(), "28000" | "28P01" | "3D000"))
}
