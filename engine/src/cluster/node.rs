//! An `ingest` node's loop (#23): claim free shards (up to a share), keep their leases renewed,
//! run ingest passes on each, drop a shard the moment its lease is lost, release everything on
//! shutdown. Runs on a blocking thread (see [`super::ingest`]) until `cancel` fires.
//!
//! Readings where #23 is silent, and how: a node claims at most `max_shards` shards, so two nodes
//! over 256 shards split them instead of the first taking all; a shard whose pass fails for a
//! reason other than a lost lease (the log or object store down) is retried on the next round,
//! its batches unacknowledged; leases are renewed every `renew_every` (10 s by default, a third
//! of the 30 s TTL), and free shards are claimed at start and then at each renewal, not before
//! every pass (a claim writes a row per shard).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::ingest::{IngestError, Pass};
use crate::catalog::PostgresCatalog;
use crate::catalog::postgres::lease::{Lease, LeaseError, LeaseKind};
use crate::store::log::{LogSeq, ReadingLog, Shard, ShardReader};
use crate::store::object::ObjectSegments;

/// How an ingest node works.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// This node's name (the lease holder).
    pub node: String,
    /// Shards in the cluster (`[cluster] shards`).
    pub shards: u32,
    /// At most this many shards held at once.
    pub max_shards: usize,
    /// Lease TTL.
    pub ttl: Duration,
    /// How often leases are renewed.
    pub renew_every: Duration,
    /// Batches per pass.
    pub max_batches: usize,
    /// How long one pass waits for batches.
    pub wait: Duration,
}

impl IngestSettings {
    /// The defaults of #23: 30 s leases renewed every 10 s.
    pub fn new(node: impl Into<String>, shards: u32, max_shards: usize) -> Self {
        Self {
            node: node.into(),
            shards,
            max_shards,
            ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            max_batches: 500,
            wait: Duration::from_millis(200),
        }
    }
}

/// What a node did, for its metrics and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Segments committed.
    pub segments: u64,
    /// Rows in them.
    pub rows: u64,
    /// Leases claimed.
    pub claimed: u64,
    /// Leases lost (fenced or expired under it).
    pub lost: u64,
}

struct Held {
    lease: Lease,
    reader: Box<dyn ShardReader>,
    /// When the lease was last claimed or renewed, by this node's monotonic clock.
    renewed: Instant,
}

/// Runs the node until `cancel` fires; returns what it did.
pub fn run_ingest(
    rt: &Handle,
    catalog: &PostgresCatalog,
    log: &dyn ReadingLog,
    objects: &ObjectSegments,
    settings: &IngestSettings,
    cancel: &CancellationToken,
) -> Result<IngestStats, IngestError> {
    let all: Vec<String> = (0..settings.shards).map(|s| s.to_string()).collect();
    let mut held: BTreeMap<String, Held> = BTreeMap::new();
    let mut stats = IngestStats::default();
    let mut renewed: Option<Instant> = None;
    while !cancel.is_cancelled() {
        let due = renewed.is_none_or(|at| at.elapsed() >= settings.renew_every);
        if due {
            renew(catalog, settings, &mut held, &mut stats);
            renewed = Some(Instant::now());
        }
        let room = settings.max_shards.saturating_sub(held.len());
        if due && room > 0 {
            let claimed = match catalog.claim_leases(LeaseKind::Shard, &all, &settings.node, settings.ttl, room) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim shards; retried at the next renewal");
                    Vec::new()
                }
            };
            for lease in claimed {
                match open_reader(rt, catalog, log, &lease) {
                    Ok(reader) => {
                        stats.claimed += 1;
                        held.insert(lease.key.clone(), Held { lease, reader, renewed: Instant::now() });
                    }
                    Err(e) => {
                        tracing::warn!(shard = %lease.key, error = %e, "cannot read a claimed shard; released");
                        if let Err(e) = catalog.release_lease(&lease) {
                            tracing::warn!(shard = %lease.key, error = %e, "shard lease not released; it expires");
                        }
                    }
                }
            }
        }
        let keys: Vec<String> = held.keys().cloned().collect();
        for key in keys {
            let Some(h) = held.get_mut(&key) else { continue };
            let pass = Pass { rt, catalog, objects, lease: &h.lease };
            match pass.run(h.reader.as_mut(), settings.max_batches, settings.wait) {
                Ok(Some(w)) => {
                    stats.segments += 1;
                    stats.rows += w.segment.rows;
                }
                Ok(None) => {}
                Err(IngestError::Lease(LeaseError::Fenced { .. })) => {
                    held.remove(&key);
                    stats.lost += 1;
                }
                Err(e) => tracing::warn!(shard = %key, error = %e, "ingest pass failed; retried next round"),
            }
        }
    }
    for h in held.values() {
        if let Err(e) = catalog.release_lease(&h.lease) {
            tracing::warn!(shard = %h.lease.key, error = %e, "shard lease not released; it expires");
        }
    }
    Ok(stats)
}

/// A reader of a claimed shard from the sequence after its committed segments.
fn open_reader(
    rt: &Handle,
    catalog: &PostgresCatalog,
    log: &dyn ReadingLog,
    lease: &Lease,
) -> Result<Box<dyn ShardReader>, IngestError> {
    let shard = lease.key.parse().map(Shard).map_err(|_| LeaseError::Invalid(format!("shard {:?}", lease.key)))?;
    let from = LogSeq(catalog.shard_covered_seq(&lease.key)? + 1);
    Ok(rt.block_on(log.reader(shard, from))?)
}

/// Renews every held lease: a fenced one is dropped at once; one that cannot be renewed (the
/// catalog unreachable) is kept while its last renewal is younger than the TTL, then dropped
/// (its commits would be refused anyway).
fn renew(
    catalog: &PostgresCatalog,
    settings: &IngestSettings,
    held: &mut BTreeMap<String, Held>,
    stats: &mut IngestStats,
) {
    let mut lost = Vec::new();
    for (key, h) in held.iter_mut() {
        match catalog.renew_lease(&h.lease, settings.ttl) {
            Ok(l) => {
                h.lease = l;
                h.renewed = Instant::now();
            }
            Err(LeaseError::Fenced { .. }) => lost.push(key.clone()),
            Err(e) if h.renewed.elapsed() < settings.ttl => {
                tracing::warn!(shard = %key, error = %e, "shard lease not renewed; retried");
            }
            Err(e) => {
                tracing::warn!(shard = %key, error = %e, "shard lease expired unrenewed; shard dropped");
                lost.push(key.clone());
            }
        }
    }
    for key in lost {
        held.remove(&key);
        stats.lost += 1;
    }
}
