//! Stored first responses of requests sent with an `Idempotency-Key`, so a retry gets the first
//! response and never creates a second object. A key is claimed (inserted without a response)
//! before the request runs and completed with its response after; the claim and the check are one
//! transaction, exclusive among claimers of the key in every process (SQLite: `BEGIN IMMEDIATE`;
//! PostgreSQL: the key's primary key, inserted with `ON CONFLICT DO NOTHING`), so two concurrent
//! requests with one key cannot both run, even on two `serve` processes sharing one database.
//!
//! If the process dies between running a request and completing its key, the claim stays without
//! a response: a retry is then told the outcome is unknown ([`Claim::InProgress`]) rather than run
//! again, since running it again could create the object twice. Claims and responses expire after
//! [`KEEP_NS`].

use super::CatalogError;
use crate::time::Timestamp;

/// How long a key is remembered: 24 hours (a client retries within minutes; a day covers a
/// script run again the next morning).
pub const KEEP_NS: i64 = 24 * 3_600 * 1_000_000_000;

/// The response stored for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or expired): it is now claimed; run the request, then complete or release.
    Claimed,
    /// The same request already completed: answer with its response.
    Replay(StoredResponse),
    /// The same key is claimed by a request that has not completed (still running, or the
    /// process stopped while it ran: its outcome is unknown).
    InProgress,
    /// The key was used for a different request (method, path or body).
    Mismatch,
}

/// A key as a backend finds it stored.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The fingerprint of the request that claimed it.
    pub fingerprint: Vec<u8>,
    /// Its response, once completed.
    pub response: Option<StoredResponse>,
}

impl StoredKey {
    /// A stored row: `status` is `NULL` while the first request runs.
    pub fn from_row(
        fingerprint: Vec<u8>,
        status: Option<i64>,
        content_type: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Self {
        let response = status.map(|s| StoredResponse {
            // Only statuses we stored are there; anything else replays as a fault of ours.
            status: u16::try_from(s).unwrap_or(500),
            content_type,
            body: body.unwrap_or_default(),
        });
        Self { fingerprint, response }
    }

    /// What claiming it again with `fingerprint` finds (never [`Claim::Claimed`]).
    pub fn claim(self, fingerprint: &[u8; 32]) -> Claim {
        if self.fingerprint.as_slice() != fingerprint.as_slice() {
            return Claim::Mismatch;
        }
        self.response.map_or(Claim::InProgress, Claim::Replay)
    }
}

/// The idempotency keys' store.
pub trait IdempotencyKeys {
    /// Claims `key` for the caller `scope` and a request with `fingerprint`, at `now`; expired
    /// keys are forgotten first.
    fn claim_idempotency_key(
        &mut self,
        scope: &[u8; 32],
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
    ) -> Result<Claim, CatalogError>;
    /// Stores the response of a claimed key's request.
    fn complete_idempotency_key(
        &mut self,
        scope: &[u8; 32],
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), CatalogError>;
    /// Forgets a claimed key whose request did not run to an answer worth repeating (a fault of
    /// ours, a refused token): a retry runs again.
    fn release_idempotency_key(&mut self, scope: &[u8; 32], key: &str) -> Result<(), CatalogError>;
}
