//! Usage objects computed before, kept while they still hold: a usage object is a function of
//! the inventory, the raw readings in its [`Reach`]'s raw range and the port buckets in its
//! bucket range. An entry is served again only when the inventory generation is the one it was
//! computed under and neither the store's nor the bucket table's change log (see
//! [`crate::store::changes`]) records a change in those ranges since; otherwise it is computed
//! afresh. So a closed month asked for again (a portal, a customer's script, a dispute) costs a
//! look-up while the fleet keeps writing "now", and a late reading, a rebuilt bucket range, a
//! retention drop or an inventory change is seen at once.
//!
//! Bounded: at most [`USAGE_CACHE_ENTRIES`] objects and [`USAGE_CACHE_BYTES`] of them (a
//! customer with a thousand resources has a large object); the least recently used goes first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::id::CustomerId;
use crate::metering::bucket_table::BucketTable;
use crate::metering::usage::{Reach, Sources, Usage, UsageError, usage_and_reach};
use crate::store::Store;
use crate::store::changes::ChangeVersion;
use crate::time::{Interval, Timestamp};

/// Most usage objects kept.
pub const USAGE_CACHE_ENTRIES: usize = 4096;

/// Most bytes of usage objects kept (as [`approx_bytes`] counts them).
pub const USAGE_CACHE_BYTES: usize = 32 << 20;

/// The memory a usage object holds: its parts and their strings.
pub fn approx_bytes(u: &Usage) -> usize {
    use std::mem::size_of;
    size_of::<Usage>()
        + u.customer.len()
        + u.resources
            .iter()
            .map(|r| size_of::<crate::metering::usage::ResourceUsage>() + r.id.len() + r.service.len())
            .sum::<usize>()
        + u.services.iter().map(|s| size_of::<crate::metering::usage::ServiceUsage>() + s.id.len()).sum::<usize>()
}

/// `(customer, window from, window to)`.
type Key = (CustomerId, Timestamp, Timestamp);

fn key(customer: &CustomerId, window: &Interval) -> Key {
    (customer.clone(), window.from, window.end())
}

struct Entry {
    generation: i64,
    /// [`approx_bytes`] of `usage`.
    bytes: usize,
    /// Change-log versions the entry is known to hold at.
    store_version: ChangeVersion,
    bucket_version: ChangeVersion,
    reach: Reach,
    usage: Arc<Usage>,
    used: u64,
}

/// The kept objects and their bytes.
#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    bytes: usize,
}

impl Entries {
    /// Keeps `entry` under `key` (replacing what was there), first letting the least recently
    /// used go until both bounds hold; an object larger than the byte bound is not kept.
    fn put(&mut self, key: Key, entry: Entry) {
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.bytes;
        }
        if entry.bytes > USAGE_CACHE_BYTES {
            return;
        }
        while self.map.len() >= USAGE_CACHE_ENTRIES || self.bytes + entry.bytes > USAGE_CACHE_BYTES {
            let Some(oldest) = self.map.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(old) = self.map.remove(&oldest) {
                self.bytes -= old.bytes;
            }
        }
        self.bytes += entry.bytes;
        self.map.insert(key, entry);
    }
}

/// The cache (see the module docs).
#[derive(Default)]
pub struct UsageCache {
    entries: Mutex<Entries>,
    tick: AtomicU64,
    /// Requests answered from the cache.
    pub hits: AtomicU64,
    /// Requests computed.
    pub misses: AtomicU64,
}

impl std::fmt::Debug for UsageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageCache").field("entries", &self.len()).finish()
    }
}

impl UsageCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
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
        let used = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        let e = entries.map.get_mut(&key(customer, window))?;
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
    /// table first, as for [`crate::metering::usage::customer_usage`].
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
        let used = self.tick.fetch_add(1, Ordering::Relaxed);
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (usage, reach) = usage_and_reach(src, customer, window)?;
        let usage = Arc::new(usage);
        let entry = Entry {
            generation,
            bytes: approx_bytes(&usage),
            store_version,
            bucket_version,
            reach,
            usage: Arc::clone(&usage),
            used,
        };
        self.lock().put(key(customer, window), entry);
        Ok(usage)
    }

    /// Objects kept.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.lock().map.is_empty()
    }

    /// Bytes of the objects kept (as [`approx_bytes`] counts them).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::usage::{BandwidthUsage, Quantity};
    use crate::time::Timestamp;

    fn entry(used: u64, bytes: usize) -> Entry {
        let usage = Usage {
            customer: "c".into(),
            from: Timestamp::from_secs(0),
            to: Timestamp::from_secs(1),
            energy: Default::default(),
            carbon: Default::default(),
            bandwidth: BandwidthUsage {
                method: "max_in_out",
                pooling: "pooled",
                p95_mbps: Quantity::default(),
                p95_in_mbps: None,
                p95_out_mbps: None,
                samples: 0,
                discarded: 0,
                p95_bucket: None,
                flags: Default::default(),
            },
            resources: Vec::new(),
            services: Vec::new(),
        };
        let epoch = Timestamp::from_nanos(0);
        let reach = Reach { raw: (epoch, epoch), buckets: (epoch, epoch) };
        Entry {
            generation: 1,
            bytes,
            store_version: ChangeVersion(0),
            bucket_version: ChangeVersion(0),
            reach,
            usage: Arc::new(usage),
            used,
        }
    }

    fn at(k: i64) -> Key {
        (CustomerId::new("c").unwrap(), Timestamp::from_nanos(k), Timestamp::from_nanos(k + 1))
    }

    #[test]
    fn the_least_recently_used_go_first_within_both_bounds() {
        let mut e = Entries::default();
        for k in 0..USAGE_CACHE_ENTRIES as i64 {
            e.put(at(k), entry(k as u64 + 10, 100));
        }
        assert_eq!((e.map.len(), e.bytes), (USAGE_CACHE_ENTRIES, USAGE_CACHE_ENTRIES * 100));
        // Full by count: the next one pushes out the least recently used (k = 0).
        e.put(at(-1), entry(1_000_000, 100));
        assert_eq!(e.map.len(), USAGE_CACHE_ENTRIES);
        assert!(!e.map.contains_key(&at(0)) && e.map.contains_key(&at(1)) && e.map.contains_key(&at(-1)));
        // By bytes: an object of half the bound makes room for itself.
        e.put(at(-2), entry(1_000_001, USAGE_CACHE_BYTES / 2));
        assert!(e.bytes <= USAGE_CACHE_BYTES && e.map.contains_key(&at(-2)));
        assert_eq!(e.bytes, e.map.values().map(|x| x.bytes).sum::<usize>());
        // Replacing a key does not count it twice; one larger than the bound is not kept.
        let before = e.bytes;
        e.put(at(-1), entry(1_000_002, 100));
        assert_eq!(e.bytes, before);
        e.put(at(-3), entry(1_000_003, USAGE_CACHE_BYTES + 1));
        assert!(!e.map.contains_key(&at(-3)));
        assert_eq!(e.bytes, before);
    }
}
