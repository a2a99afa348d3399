//! Orphan segments (#23): an ingest pass that wrote its segment and then lost its lease or its
//! process before committing leaves an object the segment list never names. Nothing reads it
//! (readers go through the list), but it costs storage; the shard's owner deletes such objects
//! once they are older than [`ORPHAN_AGE`], far beyond the seconds between a pass's write and
//! its commit, so a segment about to be committed is never taken. Dead letters are kept.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::runtime::Handle;

use super::ingest::IngestError;
use crate::catalog::PostgresCatalog;
use crate::store::object::ObjectSegments;
use crate::time::Timestamp;

/// An unlisted segment younger than this is left alone.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Deletes `shard`'s segments that no commit lists and that were written before
/// `now - older_than`; returns how many.
pub fn collect_orphans(
    rt: &Handle,
    catalog: &PostgresCatalog,
    objects: &ObjectSegments,
    shard: &str,
    now: Timestamp,
    older_than: Duration,
) -> Result<usize, IngestError> {
    let listed: BTreeSet<String> = catalog.shard_segments(shard)?.into_iter().map(|s| s.key).collect();
    let before = now.minus_ns(i64::try_from(older_than.as_nanos()).unwrap_or(i64::MAX));
    let mut deleted = 0;
    for (key, written) in rt.block_on(objects.list(&format!("shard-{shard}/")))? {
        if !listed.contains(&key) && key.ends_with(".parquet") && written < before {
            rt.block_on(objects.delete(&key))?;
            tracing::info!(shard, key, "orphan segment deleted (written, never committed)");
            deleted += 1;
        }
    }
    Ok(deleted)
}
