//! Cluster mode's durable log (#23): `collect` nodes and `POST /api/v1/write` on `serve` nodes
//! append batches of readings per shard; the log's acknowledgement is the durability point; the
//! `ingest` node owning a shard reads it in order from the sequence after the last one its
//! committed segments cover, and acknowledges what it has committed. [`ReadingLog`] is the small
//! seam a Kafka backend could implement too; [`jetstream::JetStreamLog`] is the one shipped.
//!
//! Readings where #23 is silent, and how:
//! - A shard is `FNV-1a-64(device) mod shards`: stable across processes, builds and versions (the
//!   standard library's hasher is randomly seeded), so every node puts a device on one shard.
//! - A batch's deduplication key is `hash(device, poll instant)`: the first 128 bits of SHA-256
//!   over the device name, a zero byte and the instant's nanoseconds, in hex. A collector that
//!   retries a publish after a lost acknowledgement gets the first copy's sequence back.
//! - The payload is opaque here (the writers put `cluster::batch` Arrow IPC in it): the log stores bytes.

pub mod jetstream;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::time::Timestamp;

crate::typed_id!(
    int
    /// A shard: where all the series of a device live in cluster mode.
    Shard: u32
);

crate::typed_id!(
    int
    /// A position in the log (a JetStream stream sequence): the `seq` of the readings in it, so
    /// last-write-wins picks the same winner on replay.
    LogSeq: u64
);

/// Why the log failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No server could be reached, or the stream could not be created or found.
    #[error("the log at {servers} is unavailable: {reason}")]
    Unavailable {
        /// The servers tried.
        servers: String,
        /// Why.
        reason: String,
    },
    /// An append was not acknowledged (it may or may not be stored: retry with the same key).
    #[error("the log did not acknowledge an append to shard {shard}: {reason}")]
    Append {
        /// The shard.
        shard: Shard,
        /// Why.
        reason: String,
    },
    /// Reading or acknowledging failed.
    #[error("reading shard {shard} of the log failed: {reason}")]
    Read {
        /// The shard.
        shard: Shard,
        /// Why.
        reason: String,
    },
}

/// What an append returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Where the batch is (the first copy's position when this was a duplicate).
    pub seq: LogSeq,
    /// Whether a batch with the same key was already in the log.
    pub duplicate: bool,
}

/// One batch read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position.
    pub seq: LogSeq,
    /// The batch as appended.
    pub payload: Bytes,
}

/// The log of readings, by shard.
#[async_trait]
pub trait ReadingLog: Send + Sync {
    /// Appends `batch` to `shard` under the deduplication key `key`; returns once the log holds
    /// it durably.
    async fn append(&self, shard: Shard, key: &str, batch: Bytes) -> Result<Appended, LogError>;

    /// A reader of `shard` from `from` on (the owner's replay point: its covered sequence + 1),
    /// replacing any reader of that shard left by a previous owner.
    async fn reader(&self, shard: Shard, from: LogSeq) -> Result<Box<dyn ShardReader>, LogError>;

    /// Batches of `shard` its owner has not acknowledged yet (undelivered or delivered and not
    /// committed); `None` when nobody reads the shard.
    async fn pending(&self, shard: Shard) -> Result<Option<u64>, LogError>;
}

/// One shard's reader, owned by the node holding the shard's lease.
#[async_trait]
pub trait ShardReader: Send {
    /// Up to `max` next batches in order; fewer, or none, when `wait` passes first.
    async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Entry>, LogError>;

    /// Acknowledges every batch read up to and including `seq` (after committing them).
    async fn ack_through(&mut self, seq: LogSeq) -> Result<(), LogError>;
}

/// The shard of `device` among `shards` (at least 1): FNV-1a-64 of its name, modulo.
pub fn shard_of(device: &str, shards: u32) -> Shard {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in device.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Shard((h % u64::from(shards.max(1))) as u32)
}

/// The deduplication key of one device's batch polled at `at` (see the module docs).
pub fn batch_key(device: &str, at: Timestamp) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(device.as_bytes());
    h.update([0u8]);
    h.update(at.as_nanos().to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_follow_fnv1a_and_keys_are_stable() {
        // FNV-1a-64 reference values: "" = cbf29ce484222325, "a" = af63dc4c8601ec8c,
        // "foobar" = 85944171f73967e8.
        assert_eq!(shard_of("", 1 << 16), Shard(0x2325));
        assert_eq!(shard_of("a", 256), Shard(0x8c));
        assert_eq!(shard_of("foobar", 256), Shard(0xe8));
        assert_eq!(shard_of("foobar", 1), Shard(0));
        assert_eq!(shard_of("foobar", 0), Shard(0), "no shards reads as one");
        let k = batch_key("pdu-1", Timestamp::from_secs(1_790_812_800));
        assert_eq!(k.len(), 32);
        assert_eq!(k, batch_key("pdu-1", Timestamp::from_secs(1_790_812_800)));
        assert_ne!(k, batch_key("pdu-1", Timestamp::from_secs(1_790_812_810)));
        assert_ne!(k, batch_key("pdu-2", Timestamp::from_secs(1_790_812_800)));
    }
}
