//! Usage objects computed before, kept while they still hold: a usage object is a function of
//! the inventory, the raw readings in its [`Reach`]'s raw range and the port buckets in its
//! bucket range. An entry is served again only when the inventory generation is the one it was
//! computed under and neither the store's nor the bucket table's change log (see
//! [`crate::store::changes`]) records a change in those ranges since; otherwise it is computed
//! afresh. So a closed month asked for again (a portal, a customer's script, a dispute) costs a
//! look-up while the fleet keeps writing "now", and a late reading, a rebuilt bucket range, a
//! retention drop or an inventory change is seen at once.
//!
//! Bounded: at most [`USAGE_CACHE_ENTRIES`] objects; the least recently used goes first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::bucket_table::BucketTable;
use super::usage::{Reach, Sources, Usage, UsageError, usage_and_reach};
use crate::id::CustomerId;
use crate::store::Store;
use crate::time::Interval;

/// Most usage objects kept.
pub const USAGE_CACHE_ENTRIES: usize = 4096;

/// `(customer, window from, window to)`, ns.
type Key = (CustomerId, i64, i64);

struct Entry {
    generation: i64,
    /// Change-log versions the entry is known to hold at.
    store_version: u64,
    bucket_version: u64,
    reach: Reach,
    usage: Arc<Usage>,
    used: u64,
}

/// The cache (see the module docs).
#[derive(Default)]
pub struct UsageCache {
    entries: Mutex<HashMap<Key, Entry>>,
    tick: AtomicU64,
    /// Requests answered from the cache.
    pub hits: AtomicU64,
    /// Requests computed.
    pub misses: AtomicU64,
}

impl std::fmt::Debug for UsageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageCache").field("entries", &self.lock().len()).finish()
    }
}

impl UsageCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept object for the customer's `window` under the inventory at `generation`, if it
    /// still holds; `None` leaves it to [`UsageCache::usage`]. Cheap (a few short locks, no
    /// store read): callers may try it before handing the work to a blocking thread, once the
    /// bucket table is settled (nothing dirty, the observer caught up).
    pub fn kept(
        &self,
        store: &Store,
        buckets: &BucketTable,
        generation: i64,
        customer: &CustomerId,
        window: &Interval,
    ) -> Option<Arc<Usage>> {
        // Read before anything is looked at: a change not seen below is above these versions.
        let (store_version, bucket_version) = (store.change_version(), buckets.change_version());
        let key = (customer.clone(), window.from.as_nanos(), window.end().as_nanos());
        let used = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        let e = entries.get_mut(&key)?;
        let holds = e.generation == generation
            && !store.touched_since(e.store_version, e.reach.raw.0, e.reach.raw.1)
            && !buckets.touched_since(e.bucket_version, e.reach.buckets.0, e.reach.buckets.1);
        if !holds {
            return None;
        }
        // Still holds at the versions read above: later checks start there.
        (e.store_version, e.bucket_version, e.used) = (store_version, bucket_version, used);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(Arc::clone(&e.usage))
    }

    /// The customer's usage in `window` under the inventory at `generation` (the one `src`
    /// holds): the kept object when it still holds, else computed (and kept). Settle the bucket
    /// table first, as for [`super::usage::customer_usage`].
    pub fn usage(
        &self,
        src: &Sources<'_>,
        generation: i64,
        customer: &CustomerId,
        window: &Interval,
    ) -> Result<Arc<Usage>, UsageError> {
        if let Some(kept) = self.kept(src.store, src.buckets, generation, customer, window) {
            return Ok(kept);
        }
        let (store_version, bucket_version) = (src.store.change_version(), src.buckets.change_version());
        let key = (customer.clone(), window.from.as_nanos(), window.end().as_nanos());
        let used = self.tick.fetch_add(1, Ordering::Relaxed);
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (usage, reach) = usage_and_reach(src, customer, window)?;
        let usage = Arc::new(usage);
        let mut entries = self.lock();
        if entries.len() >= USAGE_CACHE_ENTRIES
            && !entries.contains_key(&key)
            && let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        let entry = Entry { generation, store_version, bucket_version, reach, usage: Arc::clone(&usage), used };
        entries.insert(key, entry);
        Ok(usage)
    }

    /// Objects kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
