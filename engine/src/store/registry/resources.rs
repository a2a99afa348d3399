//! The registry's index of resources: `(device, resource)` → the series measured there, by
//! metric. A line of line protocol names one resource and several metrics, so ingest resolves a
//! line with one look-up, and nothing allocated.
//!
//! Resources are kept in order of first definition, and collectors write a device's resources in
//! the same order every poll: a look-up tries the resource after the previous one first (the
//! next entry in memory, compared byte for byte, no hashing), then the hash table. The table holds
//! only indices into that list (four bytes per resource); a probe into a table of a million
//! boxed keys and vectors was several cache misses and a fifth of the server's CPU under a
//! 1M-series load. Keys are hashed with foldhash: they are not attacker-chosen beyond what the
//! inventory allows.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::store::reading::SeriesId;

/// The series of one resource, by metric (a port has at most five).
pub type Metrics = Vec<(Arc<str>, SeriesId)>;

/// The key of `(device, resource)`, written into `buf`: the device's length, the device, the
/// resource (so `("sw", "1p1")` and `("sw1", "p1")` differ).
pub(super) fn resource_key<'b>(buf: &'b mut Vec<u8>, device: &str, resource: &str) -> &'b [u8] {
    buf.clear();
    // Device names are short; a name of 4 GiB would not have passed the body limit.
    buf.extend_from_slice(&u32::try_from(device.len()).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(device.as_bytes());
    buf.extend_from_slice(resource.as_bytes());
    buf
}

/// The ID of `metric` among a resource's series.
pub fn metric_of(metrics: &Metrics, metric: &str) -> Option<SeriesId> {
    metrics.iter().find(|(m, _)| &**m == metric).map(|(_, id)| *id)
}

#[derive(Debug)]
struct Resource {
    key: Box<[u8]>,
    metrics: Metrics,
}

/// Every resource with a series.
#[derive(Debug, Default)]
pub(super) struct Resources {
    /// In order of first definition; indices never change.
    list: Vec<Resource>,
    /// Indices into `list`, by the hash of their key.
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Resources {
    /// The index of `key`.
    pub(super) fn find(&self, key: &[u8]) -> Option<u32> {
        let list = &self.list;
        self.table.find(self.hasher.hash_one(key), |&i| list.get(i as usize).is_some_and(|r| *r.key == *key)).copied()
    }

    /// The index of `key`, trying the resource after `near` (and `near` itself) before the table.
    pub(super) fn find_near(&self, key: &[u8], near: Option<u32>) -> Option<u32> {
        if let Some(n) = near {
            for i in [n.wrapping_add(1), n] {
                if self.list.get(i as usize).is_some_and(|r| *r.key == *key) {
                    return Some(i);
                }
            }
        }
        self.find(key)
    }

    /// The series of the resource at `i`.
    pub(super) fn metrics(&self, i: u32) -> Option<&Metrics> {
        self.list.get(i as usize).map(|r| &r.metrics)
    }

    /// Records that series `id` measures `metric` at `key`.
    pub(super) fn add(&mut self, key: &[u8], metric: Arc<str>, id: SeriesId) {
        if let Some(r) = self.find(key).and_then(|i| self.list.get_mut(i as usize)) {
            r.metrics.push((metric, id));
            return;
        }
        let Self { list, table, hasher } = self;
        // Fewer than 2^32 resources: each holds a series, and series IDs are u32.
        let i = u32::try_from(list.len()).unwrap_or(u32::MAX);
        list.push(Resource { key: key.into(), metrics: vec![(metric, id)] });
        table.insert_unique(hasher.hash_one(key), i, |&j| list.get(j as usize).map_or(0, |r| hasher.hash_one(&*r.key)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_by_hash_and_next_to_the_previous_one() {
        let mut r = Resources::default();
        let mut buf = Vec::new();
        for (i, port) in ["p1", "p2", "p3"].iter().enumerate() {
            r.add(resource_key(&mut buf, "sw1", port), "in_octets".into(), SeriesId(2 * i as u32));
            r.add(resource_key(&mut buf, "sw1", port), "out_octets".into(), SeriesId(2 * i as u32 + 1));
        }
        let p2 = resource_key(&mut buf, "sw1", "p2").to_vec();
        assert_eq!(r.find(&p2), Some(1));
        assert_eq!(
            (r.find_near(&p2, Some(0)), r.find_near(&p2, Some(1)), r.find_near(&p2, Some(2))),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(r.find_near(&p2, Some(u32::MAX)), Some(1));
        let m = r.metrics(1).unwrap();
        assert_eq!((metric_of(m, "out_octets"), metric_of(m, "uptime_s")), (Some(SeriesId(3)), None));
        // The device's length is part of the key.
        assert_eq!(r.find(resource_key(&mut buf, "sw", "1p1")), None);
        assert_eq!(r.find_near(resource_key(&mut buf, "sw1", "p4"), Some(2)), None);
    }
}
