//! A shard owner's ingest pass (#23): read the next batches of its shard from the log, write
//! them as one segment to object storage under a key no other pass can use (shard, epoch, first
//! and last sequence), record the segment and the covered sequence in PostgreSQL under the
//! shard's lease, then acknowledge the log. The commit is the point of no return:
//! - a crash before it leaves an object nobody lists (an orphan: never read, safe to collect)
//!   and the next owner replays from the covered sequence + 1;
//! - a crash after it and before the acknowledgement replays nothing, since the next owner starts
//!   after the covered sequence;
//! - an owner fenced out meanwhile (its lease expired and was claimed) cannot commit at all.
//!
//! A logged batch that does not decode (written by a newer or broken writer) is put, as logged,
//! under `dead-letter/shard-S/SEQ.batch` in the object store and logged as an error; the pass
//! goes on without it (a segment of no rows when nothing else was read), so one bad batch never
//! stops a shard and is never silently dropped.
//!
//! The pass runs on a blocking thread: the catalog's PostgreSQL client blocks on a runtime of its
//! own, and the log and object calls are driven on `rt`.

use std::time::Duration;

use tokio::runtime::Handle;

use super::batch::{self, BatchError};
use crate::catalog::PostgresCatalog;
use crate::catalog::postgres::lease::{Lease, LeaseError, SegmentRecord};
use crate::store::log::{LogError, LogSeq, ShardReader};
use crate::store::object::{ObjectError, ObjectSegments};

/// Why a pass failed; nothing it read is acknowledged, so the next pass or owner reads it again.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A logged batch does not decode, or the segment does not encode.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// Object storage failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The lease is lost, or PostgreSQL failed.
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

/// A segment written and not yet committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its record for the segment list.
    pub segment: SegmentRecord,
    /// The last log sequence it holds.
    pub last: LogSeq,
    /// Batches in its range that did not decode, kept under `dead-letter/` instead.
    pub dead: Vec<LogSeq>,
}

/// What a pass needs.
pub struct Pass<'a> {
    /// Drives the log and object calls.
    pub rt: &'a Handle,
    /// The catalog (leases and the segment list).
    pub catalog: &'a PostgresCatalog,
    /// Where segments go.
    pub objects: &'a ObjectSegments,
    /// The shard's lease, held by this node.
    pub lease: &'a Lease,
}

impl Pass<'_> {
    /// Reads up to `max` batches (waiting at most `wait`) and writes them as one segment;
    /// `None` when the log had nothing new.
    pub fn write(
        &self,
        reader: &mut dyn ShardReader,
        max: usize,
        wait: Duration,
    ) -> Result<Option<Written>, IngestError> {
        let entries = self.rt.block_on(reader.next(max, wait))?;
        let (Some(first), Some(last)) = (entries.first().map(|e| e.seq), entries.last().map(|e| e.seq)) else {
            return Ok(None);
        };
        let mut batches = Vec::with_capacity(entries.len());
        let mut dead = Vec::new();
        for e in &entries {
            match batch::decode(&e.payload) {
                Ok(readings) => batches.push((e.seq, readings)),
                Err(err) => {
                    // A batch no reader can decode would stop the shard forever: it is kept,
                    // as logged, beside the segments, and the shard goes on.
                    let key = format!("dead-letter/shard-{}/{:020}.batch", self.lease.key, e.seq.get());
                    tracing::error!(shard = %self.lease.key, seq = %e.seq, error = %err, object = %key,
                        "a logged batch does not decode; kept as a dead letter, not stored as readings");
                    self.rt.block_on(self.objects.put(&key, e.payload.clone()))?;
                    dead.push(e.seq);
                }
            }
        }
        let (bytes, stats) = batch::segment(&batches)?;
        let key = format!(
            "shard-{}/epoch-{:010}/{:020}-{:020}.parquet",
            self.lease.key,
            self.lease.epoch.get(),
            first.get(),
            last.get()
        );
        self.rt.block_on(self.objects.put(&key, bytes))?;
        let segment = SegmentRecord { key, min_ts: stats.min_ts, max_ts: stats.max_ts, rows: stats.rows };
        Ok(Some(Written { segment, last, dead }))
    }

    /// Records `written` under the lease, then acknowledges the log through its last batch.
    pub fn commit(&self, reader: &mut dyn ShardReader, written: &Written) -> Result<(), IngestError> {
        self.catalog.commit_shard_progress(self.lease, std::slice::from_ref(&written.segment), written.last.get())?;
        self.rt.block_on(reader.ack_through(written.last))?;
        Ok(())
    }

    /// One whole pass: [`Pass::write`] then [`Pass::commit`]; what was committed.
    pub fn run(
        &self,
        reader: &mut dyn ShardReader,
        max: usize,
        wait: Duration,
    ) -> Result<Option<Written>, IngestError> {
        let Some(written) = self.write(reader, max, wait)? else { return Ok(None) };
        self.commit(reader, &written)?;
        Ok(Some(written))
    }
}
