//! An `ingest` node's loop (#23): claim free shards (up to a share), keep their leases renewed,
//! run ingest passes on each, drop a shard the moment its lease is lost, release everything on
//! shutdown. Runs on a blocking thread (see [`super::ingest`]) until `cancel` fires.
//!
//! Readings where #23 is silent, and how: a node holds at most its fair share of the shards
//! (`ceil(shards / live ingest nodes)`, see [`super::membership`]) and never more than
//! `max_shards`, so two nodes over 256 shards split them instead of the first taking all; when a
//! node joins, the others release their surplus (between passes: what they read and did not
//! commit is read again by the next owner); a shard whose pass fails for a
//! reason other than a lost lease (the log or object store down) is retried on the next round,
//! its batches unacknowledged; leases are renewed every `renew_every` (10 s by default, a third
//! of the 30 s TTL), and free shards are claimed at start and then at each renewal, not before
//! every pass (a claim writes a row per shard); orphan segments of the held shards are
//! collected at start and then hourly ([`super::gc`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::gc::{ORPHAN_AGE, collect_orphans};
use super::ingest::{IngestError, Pass};
use super::membership::{Presence, fair_share};
use crate::catalog::PostgresCatalog;
use crate::catalog::postgres::lease::{Lease, LeaseError, LeaseKind};
use crate::clock::{Clock, SystemClock};
use crate::store::log::{LogSeq, ReadingLog, Shard, ShardReader};
use crate::store::object::ObjectSegments;
use crate::time::Timestamp;

/// How an ingest node works.
#[derive(Clone)]
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
    /// How long a round of passes over idle shards waits for batches (shared among them).
    pub wait: Duration,
    /// What the loop has done so far, for `/metrics` (updated every round).
    pub metrics: Arc<IngestMetrics>,
    /// The clock orphan segments' ages are measured by (the system's unless a test injects one).
    pub clock: Arc<dyn Clock>,
}

/// [`IngestStats`] as they grow, and the shards held now.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    /// Segments committed.
    pub segments: AtomicU64,
    /// Rows in them.
    pub rows: AtomicU64,
    /// Leases claimed.
    pub claimed: AtomicU64,
    /// Leases lost.
    pub lost: AtomicU64,
    /// Shards held now.
    pub held: AtomicU64,
}

impl IngestMetrics {
    fn show(&self, stats: &IngestStats, held: usize) {
        self.segments.store(stats.segments, Ordering::Relaxed);
        self.rows.store(stats.rows, Ordering::Relaxed);
        self.claimed.store(stats.claimed, Ordering::Relaxed);
        self.lost.store(stats.lost, Ordering::Relaxed);
        self.held.store(held as u64, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for IngestSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestSettings")
            .field("node", &self.node)
            .field("shards", &self.shards)
            .field("max_shards", &self.max_shards)
            .field("ttl", &self.ttl)
            .field("renew_every", &self.renew_every)
            .finish_non_exhaustive()
    }
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
            metrics: Arc::default(),
            clock: Arc::new(SystemClock),
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
    let mut presence = Presence::new("ingest", &settings.node);
    let mut renewed: Option<Instant> = None;
    let mut last: Option<String> = None;
    let mut swept: Option<Instant> = None;
    while !cancel.is_cancelled() {
        if renewed.is_none_or(|at| at.elapsed() >= settings.renew_every) {
            renew(catalog, settings, &mut held, &mut stats);
            renewed = Some(Instant::now());
            let members = presence.beat(catalog, settings.ttl);
            let share = fair_share(all.len(), members, settings.max_shards);
            while held.len() > share {
                let Some((key, h)) = held.pop_last() else { break };
                tracing::info!(shard = %key, share, "shard released to a newer ingest node");
                if let Err(e) = catalog.release_lease(&h.lease) {
                    tracing::warn!(shard = %key, error = %e, "shard lease not released; it expires");
                }
            }
            claim(rt, catalog, log, settings, &all, share, &mut held, &mut stats);
            if swept.is_none_or(|at| at.elapsed() >= ORPHAN_AGE) {
                swept = Some(Instant::now());
                sweep(rt, catalog, objects, settings.clock.now(), held.keys());
            }
        }
        settings.metrics.show(&stats, held.len());
        // One round: a pass per shard, starting after the last one served, each waiting its
        // part of `wait`, so a round of idle shards takes about `wait`; cut short when leases
        // are due (the next round starts where this one stopped).
        let per_pass =
            (settings.wait / u32::try_from(held.len().max(1)).unwrap_or(u32::MAX)).max(Duration::from_millis(10));
        let (after, before): (Vec<String>, Vec<String>) =
            held.keys().cloned().partition(|k| last.as_ref().is_none_or(|l| k > l));
        for key in after.into_iter().chain(before) {
            if renewed.is_some_and(|at| at.elapsed() >= settings.renew_every) {
                break;
            }
            last = Some(key.clone());
            let Some(h) = held.get_mut(&key) else { continue };
            let pass = Pass { rt, catalog, objects, lease: &h.lease };
            match pass.run(h.reader.as_mut(), settings.max_batches, per_pass) {
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
    presence.leave(catalog);
    settings.metrics.show(&stats, 0);
    for h in held.values() {
        if let Err(e) = catalog.release_lease(&h.lease) {
            tracing::warn!(shard = %h.lease.key, error = %e, "shard lease not released; it expires");
        }
    }
    Ok(stats)
}

/// Deletes the orphan segments of the held shards (at start, then every [`ORPHAN_AGE`]).
fn sweep<'a>(
    rt: &Handle,
    catalog: &PostgresCatalog,
    objects: &ObjectSegments,
    now: Timestamp,
    shards: impl Iterator<Item = &'a String>,
) {
    for shard in shards {
        if let Err(e) = collect_orphans(rt, catalog, objects, shard, now, ORPHAN_AGE) {
            tracing::warn!(shard, error = %e, "orphan segments not collected; retried later");
        }
    }
}

/// Claims free shards up to `share` and opens their readers.
#[allow(clippy::too_many_arguments)] // the loop's state, passed as it is
fn claim(
    rt: &Handle,
    catalog: &PostgresCatalog,
    log: &dyn ReadingLog,
    settings: &IngestSettings,
    all: &[String],
    share: usize,
    held: &mut BTreeMap<String, Held>,
    stats: &mut IngestStats,
) {
    let room = share.saturating_sub(held.len());
    if room == 0 {
        return;
    }
    let claimed = match catalog.claim_leases(LeaseKind::Shard, all, &settings.node, settings.ttl, room) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim shards; retried at the next renewal");
            return;
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
