//! Writers' side of the log (#23): a batch of validated readings is split by shard, each part
//! encoded ([`batch::encode`]) and appended under a deduplication key; it is durable once every
//! part is acknowledged. `POST /api/v1/write` on a `serve` node answers `204` only then, and a
//! `collect` node's poll is handed over only then.
//!
//! Readings where #23 is silent, and how:
//! - Keys: a collector's part is one device's readings of one poll, keyed by
//!   [`log::batch_key`]`(device, poll instant)` as #23 says (the poll instant is the part's
//!   earliest reading). A pushed write's part is keyed by the SHA-256 of its encoded readings: a
//!   client retrying a write whose answer it lost within the log's deduplication window (two
//!   minutes) stores it once. Two identical writes within that window are one write, which
//!   changes nothing a reader sees.
//! - An append that is not acknowledged is retried (same key, so never stored twice) up to
//!   [`ATTEMPTS`] times with backoff; then the write fails and the writer is told (`503`). Parts
//!   already appended stay: they are valid readings, and a retry of the whole write is deduplicated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::batch::{self, BatchError};
use crate::store::PendingReading;
use crate::store::log::{self, LogError, ReadingLog, Shard};

/// Appends tried per part.
pub const ATTEMPTS: u32 = 4;

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The readings do not encode.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The log did not acknowledge a part after every retry.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// How parts are keyed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keying {
    /// One part per device, keyed by device and poll instant (collectors).
    Poll,
    /// One part per shard, keyed by its content (pushed writes).
    Content,
}

/// Appends readings to the log.
#[derive(Clone)]
pub struct Publisher {
    log: Arc<dyn ReadingLog>,
    shards: u32,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("shards", &self.shards).finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher over `log` for a cluster of `shards` shards.
    pub fn new(log: Arc<dyn ReadingLog>, shards: u32) -> Self {
        Self { log, shards: shards.max(1) }
    }

    /// Appends `readings`, split as `keying` says; returns once every part is acknowledged, with
    /// the number of parts.
    pub async fn publish(&self, readings: Vec<PendingReading>, keying: Keying) -> Result<usize, PublishError> {
        let mut parts: BTreeMap<(Shard, String), Vec<PendingReading>> = BTreeMap::new();
        for r in readings {
            let shard = log::shard_of(&r.key.device, self.shards);
            let group = match keying {
                Keying::Poll => r.key.device.to_string(),
                Keying::Content => String::new(),
            };
            parts.entry((shard, group)).or_default().push(r);
        }
        let mut appends = Vec::with_capacity(parts.len());
        for ((shard, device), rs) in parts {
            let bytes = batch::encode(&rs)?;
            let key = match keying {
                Keying::Poll => {
                    let at = rs.iter().map(|r| r.ts).min().unwrap_or(crate::time::Timestamp::from_nanos(0));
                    log::batch_key(&device, at)
                }
                Keying::Content => hex::encode(&Sha256::digest(&bytes)[..16]),
            };
            appends.push(self.append(shard, key, bytes));
        }
        let n = appends.len();
        futures::future::try_join_all(appends).await?;
        Ok(n)
    }

    async fn append(&self, shard: Shard, key: String, bytes: bytes::Bytes) -> Result<(), LogError> {
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.log.append(shard, &key, bytes.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!(%shard, attempt, error = %e, "append not acknowledged; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
            }
        }
    }
}
