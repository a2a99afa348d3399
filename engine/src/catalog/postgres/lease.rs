//! Leases for cluster mode (#23), in the PostgreSQL catalog: a `collect` node holds a device
//! (it polls it) and an `ingest` node holds a shard (it consumes and stores it) while its lease
//! is live. Nothing here is a consensus protocol of our own: PostgreSQL's row locks decide.
//!
//! Readings where #23 is silent, and how:
//! - Time is the database's (`clock_timestamp()`), not the nodes': one clock decides when a lease
//!   expires, so two nodes whose clocks disagree can never both believe they hold one.
//! - A claim takes free or expired leases only, in key order, at most `max` at a time, skipping
//!   rows another node is claiming at that moment (`FOR UPDATE SKIP LOCKED`). Each claim raises
//!   the lease's epoch by one: whatever the previous holder still tries carries a stale epoch.
//! - Renewing needs the holder and the epoch to match. An expired lease nobody has claimed yet is
//!   renewed too: no other epoch has existed in between, so nothing was done under another.
//! - A shard's progress (the segments an ingest node wrote and the highest stream sequence they
//!   cover) is committed in one transaction that first checks the lease (holder, epoch, not
//!   expired) and locks its row `FOR SHARE`: no claim can take the shard until that transaction
//!   ends, so a node fenced out while paused can never commit afterwards. The covered sequence
//!   only moves forward; a segment key is recorded once (object keys are unique and immutable).

use std::time::Duration;

use tokio_postgres::Transaction;

use super::{PgError, PostgresCatalog};
use crate::time::Timestamp;

crate::typed_id!(
    int
    /// How many times a lease has been claimed: a holder's epoch, checked by every fenced commit.
    LeaseEpoch: u64
);

/// What a lease is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeaseKind {
    /// A device to poll (`collect` nodes), keyed by device name.
    Device,
    /// A shard to ingest (`ingest` nodes), keyed by shard number.
    Shard,
    /// A node's presence in a role, keyed `ROLE/NODE` (see `cluster::membership`).
    Node,
}

impl LeaseKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseKind::Device => "device",
            LeaseKind::Shard => "shard",
            LeaseKind::Node => "node",
        }
    }
}

/// A lease a node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What it is for.
    pub kind: LeaseKind,
    /// The device name or shard number.
    pub key: String,
    /// The node holding it.
    pub holder: String,
    /// The epoch it was claimed at.
    pub epoch: LeaseEpoch,
    /// When it expires unless renewed (the database's clock).
    pub expires: Timestamp,
}

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease is no longer this node's at this epoch, or has expired: stop, claim again.
    #[error("{} lease {key:?} at epoch {epoch} is no longer held", .kind.as_str())]
    Fenced {
        /// What it was for.
        kind: LeaseKind,
        /// Its key.
        key: String,
        /// The epoch the node held.
        epoch: LeaseEpoch,
    },
    /// A TTL outside 1 s to 1 hour, or a stored value that does not read back.
    #[error("{0}")]
    Invalid(String),
    /// The database failed or cannot be reached.
    #[error(transparent)]
    Postgres(#[from] PgError),
}

impl From<tokio_postgres::Error> for LeaseError {
    fn from(e: tokio_postgres::Error) -> Self {
        LeaseError::Postgres(e.into())
    }
}

/// One Parquet segment an ingest node wrote to the object store, as the segment list records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    /// Its object key (unique, never rewritten).
    pub key: String,
    /// Earliest reading in it.
    pub min_ts: Timestamp,
    /// Latest reading in it.
    pub max_ts: Timestamp,
    /// Rows.
    pub rows: u64,
}

/// The database's clock, ns (microsecond resolution).
const NOW_NS: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000";

fn ttl_ns(ttl: Duration) -> Result<i64, LeaseError> {
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&ttl) {
        return Err(LeaseError::Invalid(format!("a lease TTL is 1 s to 1 h, got {ttl:?}")));
    }
    i64::try_from(ttl.as_nanos()).map_err(|_| LeaseError::Invalid(format!("TTL {ttl:?}")))
}

fn lease(kind: LeaseKind, row: &tokio_postgres::Row) -> Result<Lease, LeaseError> {
    let epoch: i64 = row.try_get(2)?;
    Ok(Lease {
        kind,
        key: row.try_get(0)?,
        holder: row.try_get(1)?,
        epoch: LeaseEpoch(u64::try_from(epoch).map_err(|_| LeaseError::Invalid(format!("epoch {epoch}")))?),
        expires: Timestamp::from_nanos(row.try_get(3)?),
    })
}

fn epoch_param(epoch: LeaseEpoch) -> Result<i64, LeaseError> {
    i64::try_from(epoch.get()).map_err(|_| LeaseError::Invalid(format!("epoch {epoch}")))
}

impl PostgresCatalog {
    /// Claims for `node` up to `max` of the `candidates` that are free or expired, each for
    /// `ttl`; returns the leases it got (possibly none: others hold the rest).
    pub fn claim_leases(
        &self,
        kind: LeaseKind,
        candidates: &[String],
        node: &str,
        ttl: Duration,
        max: usize,
    ) -> Result<Vec<Lease>, LeaseError> {
        let (ttl, max) = (ttl_ns(ttl)?, i64::try_from(max).unwrap_or(i64::MAX));
        let mut client = self.client()?;
        self.rt.block_on(async {
            // Rows for candidates never seen, in key order (two nodes inserting overlapping sets
            // wait on each other in one order, never in a cycle), committed on their own so the
            // claim's row locks are not held behind them.
            client
                .execute(
                    "INSERT INTO cluster_leases (kind, key, holder, epoch, expires_ns)
                     SELECT $1, k, NULL, 0, 0 FROM unnest($2::text[]) AS k ORDER BY k ON CONFLICT DO NOTHING",
                    &[&kind.as_str(), &candidates],
                )
                .await?;
            let tx = client.transaction().await?;
            let rows = tx
                .query(
                    &format!(
                        "WITH free AS (
                            SELECT key FROM cluster_leases
                            WHERE kind = $1 AND key = ANY($2) AND (holder IS NULL OR expires_ns <= {NOW_NS})
                            ORDER BY key LIMIT $4 FOR UPDATE SKIP LOCKED)
                         UPDATE cluster_leases l SET holder = $3, epoch = l.epoch + 1, expires_ns = {NOW_NS} + $5
                         FROM free WHERE l.kind = $1 AND l.key = free.key
                         RETURNING l.key, l.holder, l.epoch, l.expires_ns"
                    ),
                    &[&kind.as_str(), &candidates, &node, &max, &ttl],
                )
                .await?;
            tx.commit().await?;
            let mut got = rows.iter().map(|r| lease(kind, r)).collect::<Result<Vec<_>, _>>()?;
            got.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(got)
        })
    }

    /// Extends a held lease by `ttl` from now; [`LeaseError::Fenced`] when another node has
    /// claimed it since (its epoch moved on).
    pub fn renew_lease(&self, held: &Lease, ttl: Duration) -> Result<Lease, LeaseError> {
        let (ttl, epoch) = (ttl_ns(ttl)?, epoch_param(held.epoch)?);
        let client = self.client()?;
        let row = self.rt.block_on(client.query_opt(
            &format!(
                "UPDATE cluster_leases SET expires_ns = {NOW_NS} + $5
                 WHERE kind = $1 AND key = $2 AND holder = $3 AND epoch = $4
                 RETURNING key, holder, epoch, expires_ns"
            ),
            &[&held.kind.as_str(), &held.key, &held.holder, &epoch, &ttl],
        ))?;
        match row {
            Some(r) => lease(held.kind, &r),
            None => Err(fenced(held)),
        }
    }

    /// Renews many held leases of one holder in one statement (a collect node's thousands of
    /// devices): the renewed leases; a lease missing from the answer is fenced (another node
    /// claimed it, or it expired and was claimed).
    pub fn renew_leases(
        &self,
        kind: LeaseKind,
        node: &str,
        held: &[Lease],
        ttl: Duration,
    ) -> Result<Vec<Lease>, LeaseError> {
        let ttl = ttl_ns(ttl)?;
        let keys: Vec<&str> = held.iter().map(|l| l.key.as_str()).collect();
        let epochs = held.iter().map(|l| epoch_param(l.epoch)).collect::<Result<Vec<i64>, _>>()?;
        let client = self.client()?;
        let rows = self.rt.block_on(client.query(
            &format!(
                "UPDATE cluster_leases l SET expires_ns = {NOW_NS} + $5
                 FROM unnest($2::text[], $3::bigint[]) AS h(key, epoch)
                 WHERE l.kind = $1 AND l.key = h.key AND l.holder = $4 AND l.epoch = h.epoch
                 RETURNING l.key, l.holder, l.epoch, l.expires_ns"
            ),
            &[&kind.as_str(), &keys, &epochs, &node, &ttl],
        ))?;
        rows.iter().map(|r| lease(kind, r)).collect()
    }

    /// Gives a held lease up at once (a clean shutdown), so another node need not wait for it to
    /// expire; a lease already lost is left alone.
    pub fn release_lease(&self, held: &Lease) -> Result<(), LeaseError> {
        let epoch = epoch_param(held.epoch)?;
        let client = self.client()?;
        self.rt.block_on(client.execute(
            "UPDATE cluster_leases SET holder = NULL, expires_ns = 0
             WHERE kind = $1 AND key = $2 AND holder = $3 AND epoch = $4",
            &[&held.kind.as_str(), &held.key, &held.holder, &epoch],
        ))?;
        Ok(())
    }

    /// Every lease of `kind` that is held and live now, by key (`GET /api/v1/cluster`).
    pub fn live_leases(&self, kind: LeaseKind) -> Result<Vec<Lease>, LeaseError> {
        let client = self.client()?;
        let rows = self.rt.block_on(client.query(
            &format!(
                "SELECT key, holder, epoch, expires_ns FROM cluster_leases
                 WHERE kind = $1 AND holder IS NOT NULL AND expires_ns > {NOW_NS} ORDER BY key"
            ),
            &[&kind.as_str()],
        ))?;
        rows.iter().map(|r| lease(kind, r)).collect()
    }

    /// Records, under the shard's lease, the segments written and the highest stream sequence
    /// they cover, in one transaction; [`LeaseError::Fenced`] (and nothing recorded) when the
    /// lease is not held at its epoch or has expired.
    pub fn commit_shard_progress(
        &self,
        held: &Lease,
        segments: &[SegmentRecord],
        covered_seq: u64,
    ) -> Result<(), LeaseError> {
        let seq = i64::try_from(covered_seq).map_err(|_| LeaseError::Invalid(format!("sequence {covered_seq}")))?;
        let mut client = self.client()?;
        self.rt.block_on(async {
            let tx = client.transaction().await?;
            let epoch = check_fence(&tx, held).await?;
            for s in segments {
                let rows = i64::try_from(s.rows).map_err(|_| LeaseError::Invalid(format!("rows {}", s.rows)))?;
                tx.execute(
                    "INSERT INTO cluster_segments (key, shard, min_ts_ns, max_ts_ns, rows, epoch)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
                    &[&s.key, &held.key, &s.min_ts.as_nanos(), &s.max_ts.as_nanos(), &rows, &epoch],
                )
                .await?;
            }
            tx.execute(
                &format!(
                    "INSERT INTO cluster_shards (shard, covered_seq, epoch, committed_ns) VALUES ($1, $2, $3, {NOW_NS})
                     ON CONFLICT (shard) DO UPDATE
                     SET covered_seq = GREATEST(cluster_shards.covered_seq, EXCLUDED.covered_seq),
                         epoch = EXCLUDED.epoch, committed_ns = EXCLUDED.committed_ns"
                ),
                &[&held.key, &seq, &epoch],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The highest stream sequence a shard's committed segments cover (0: nothing yet): a new
    /// owner replays from the one after it.
    pub fn shard_covered_seq(&self, shard: &str) -> Result<u64, LeaseError> {
        let client = self.client()?;
        let row =
            self.rt.block_on(client.query_opt("SELECT covered_seq FROM cluster_shards WHERE shard = $1", &[&shard]))?;
        let seq: i64 = match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        u64::try_from(seq).map_err(|_| LeaseError::Invalid(format!("sequence {seq}")))
    }

    /// A shard's committed segments, by key.
    pub fn shard_segments(&self, shard: &str) -> Result<Vec<SegmentRecord>, LeaseError> {
        let client = self.client()?;
        let rows = self.rt.block_on(client.query(
            "SELECT key, min_ts_ns, max_ts_ns, rows FROM cluster_segments WHERE shard = $1 ORDER BY key",
            &[&shard],
        ))?;
        rows.iter().map(segment_row).collect()
    }

    /// Up to `limit` committed segments of the `shards` that come after each shard's cursor (the
    /// last key already read; `""` for none), as `(shard, segment)` in shard and key order. A
    /// shard's keys sort by epoch and then first sequence, so key order is commit order: a reader
    /// that applies them in this order applies every shard's batches in log order.
    pub fn segments_after(
        &self,
        shards: &[String],
        cursors: &[String],
        limit: usize,
    ) -> Result<Vec<(String, SegmentRecord)>, LeaseError> {
        if shards.len() != cursors.len() {
            return Err(LeaseError::Invalid(format!("{} shards and {} cursors", shards.len(), cursors.len())));
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client()?;
        let rows = self.rt.block_on(client.query(
            "SELECT s.key, s.min_ts_ns, s.max_ts_ns, s.rows, s.shard
             FROM cluster_segments s JOIN unnest($1::text[], $2::text[]) AS c(shard, after)
               ON s.shard = c.shard AND s.key > c.after
             ORDER BY s.shard, s.key LIMIT $3",
            &[&shards, &cursors, &limit],
        ))?;
        rows.iter().map(|r| Ok((r.try_get(4)?, segment_row(r)?))).collect()
    }
}

/// A shard's committed progress, for `GET /api/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardProgress {
    /// The shard.
    pub shard: String,
    /// The highest log sequence its segments cover.
    pub covered_seq: u64,
    /// The epoch of the last commit.
    pub epoch: LeaseEpoch,
    /// When it was last committed (the database's clock; none before schema 3).
    pub committed: Option<Timestamp>,
    /// Its committed segments.
    pub segments: u64,
    /// Rows in them.
    pub rows: u64,
}

impl PostgresCatalog {
    /// Every shard's committed progress, by shard.
    pub fn shard_progress(&self) -> Result<Vec<ShardProgress>, LeaseError> {
        let client = self.client()?;
        let rows = self.rt.block_on(client.query(
            "SELECT s.shard, s.covered_seq, s.epoch, s.committed_ns,
                    (SELECT count(*) FROM cluster_segments g WHERE g.shard = s.shard),
                    (SELECT coalesce(sum(rows), 0)::bigint FROM cluster_segments g WHERE g.shard = s.shard)
             FROM cluster_shards s ORDER BY s.shard",
            &[],
        ))?;
        let unsigned = |n: i64| u64::try_from(n).map_err(|_| LeaseError::Invalid(format!("negative count {n}")));
        rows.iter()
            .map(|r| {
                Ok(ShardProgress {
                    shard: r.try_get(0)?,
                    covered_seq: unsigned(r.try_get(1)?)?,
                    epoch: LeaseEpoch(unsigned(r.try_get(2)?)?),
                    committed: r.try_get::<_, Option<i64>>(3)?.map(Timestamp::from_nanos),
                    segments: unsigned(r.try_get(4)?)?,
                    rows: unsigned(r.try_get(5)?)?,
                })
            })
            .collect()
    }
}

fn segment_row(r: &tokio_postgres::Row) -> Result<SegmentRecord, LeaseError> {
    let n: i64 = r.try_get(3)?;
    Ok(SegmentRecord {
        key: r.try_get(0)?,
        min_ts: Timestamp::from_nanos(r.try_get(1)?),
        max_ts: Timestamp::from_nanos(r.try_get(2)?),
        rows: u64::try_from(n).map_err(|_| LeaseError::Invalid(format!("rows {n}")))?,
    })
}

fn fenced(held: &Lease) -> LeaseError {
    LeaseError::Fenced { kind: held.kind, key: held.key.clone(), epoch: held.epoch }
}

/// Checks inside `tx` that `held` is live at its epoch and locks its row against claims until
/// `tx` ends; returns the epoch as stored.
async fn check_fence(tx: &Transaction<'_>, held: &Lease) -> Result<i64, LeaseError> {
    let epoch = epoch_param(held.epoch)?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT epoch FROM cluster_leases
                 WHERE kind = $1 AND key = $2 AND holder = $3 AND epoch = $4 AND expires_ns > {NOW_NS}
                 FOR SHARE"
            ),
            &[&held.kind.as_str(), &held.key, &held.holder, &epoch],
        )
        .await?;
    row.map(|_| epoch).ok_or_else(|| fenced(held))
}
