//! A write on its way to the writer thread. Readings whose series is known carry its ID already,
//! looked up on the caller's thread in parallel with other writers; the others carry their key,
//! and the writer gives them IDs, defining the new series in the WAL record that uses them.

use super::PendingReading;
use super::reading::{Reading, SeriesKey};
use super::registry::{Registry, RegistryError};

/// Reading vectors the observer is done with, handed back for the next batches. A batch of a
/// 5,000-line request is ~640 KB of readings; taken fresh each time, its pages were faulted in
/// anew per request (a tenth of the request threads' time). Bounded: at most
/// [`ReadingPool::KEPT`] vectors of at most [`ReadingPool::MAX_READINGS`] readings each (32 MiB).
#[derive(Debug)]
pub(crate) struct ReadingPool {
    tx: crossbeam_channel::Sender<Vec<Reading>>,
    rx: crossbeam_channel::Receiver<Vec<Reading>>,
}

impl Default for ReadingPool {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(Self::KEPT);
        Self { tx, rx }
    }
}

impl ReadingPool {
    /// Vectors kept.
    pub(crate) const KEPT: usize = 8;
    /// Largest vector kept, in readings.
    pub(crate) const MAX_READINGS: usize = 1 << 16;

    /// An empty vector with room for `n` readings.
    pub(crate) fn take(&self, n: usize) -> Vec<Reading> {
        match self.rx.try_recv() {
            Ok(mut v) => {
                v.reserve(n);
                v
            }
            Err(_) => Vec::with_capacity(n),
        }
    }

    /// Hands a vector back (dropped when the pool is full or the vector is large).
    pub(crate) fn give(&self, mut v: Vec<Reading>) {
        if v.capacity() <= Self::MAX_READINGS {
            v.clear();
            let _ = self.tx.try_send(v);
        }
    }
}

/// Readings to store atomically, in order.
#[derive(Debug, Default)]
pub struct WriteBatch {
    readings: Vec<Reading>,
    /// `(position in readings, key)` of the readings whose series was unknown when looked up.
    unresolved: Vec<(usize, SeriesKey)>,
}

impl WriteBatch {
    /// An empty batch with room for `n` readings (see [`crate::store::Store::batch`], which
    /// reuses vectors).
    pub fn with_capacity(n: usize) -> Self {
        Self { readings: Vec::with_capacity(n), unresolved: Vec::new() }
    }

    /// An empty batch around `readings` (emptied).
    pub(crate) fn around(mut readings: Vec<Reading>) -> Self {
        readings.clear();
        Self { readings, unresolved: Vec::new() }
    }

    /// Adds a reading of a known series (`reading.series`).
    pub fn push(&mut self, reading: Reading) {
        self.readings.push(reading);
    }

    /// Adds a reading of a series known only by key: its `series` is replaced by the ID the
    /// writer finds or allocates for `key`.
    pub fn push_new(&mut self, key: SeriesKey, reading: Reading) {
        self.unresolved.push((self.readings.len(), key));
        self.readings.push(reading);
    }

    /// Readings in the batch.
    pub fn len(&self) -> usize {
        self.readings.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    /// Readings named by key, their IDs looked up under one read lock.
    pub fn from_pending(pending: Vec<PendingReading>, registry: &Registry) -> Self {
        let known = registry.lookup(pending.iter().map(|p| &p.key));
        let mut batch = Self::with_capacity(pending.len());
        for (p, id) in pending.into_iter().zip(known) {
            let r = Reading {
                series: id.unwrap_or(super::reading::SeriesId(0)),
                ts: p.ts,
                value: p.value,
                uptime_s: p.uptime_s,
                discontinuity: p.discontinuity,
            };
            match id {
                Some(_) => batch.push(r),
                None => batch.push_new(p.key, r),
            }
        }
        batch
    }

    /// The readings with every series ID filled in (new series allocated in the registry).
    pub(crate) fn resolve(self, registry: &Registry) -> Result<Vec<Reading>, RegistryError> {
        let Self { mut readings, unresolved } = self;
        if unresolved.is_empty() {
            return Ok(readings);
        }
        let keys: Vec<&SeriesKey> = unresolved.iter().map(|(_, k)| k).collect();
        let ids = registry.allocate(&keys)?;
        for (&(at, _), id) in unresolved.iter().zip(ids) {
            if let Some(r) = readings.get_mut(at) {
                r.series = id;
            }
        }
        Ok(readings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::reading::{SeriesId, Value};
    use crate::time::Timestamp;

    fn key(resource: &str, metric: &str) -> SeriesKey {
        SeriesKey { device: "sw1".into(), resource: resource.into(), metric: metric.into() }
    }

    fn pending(resource: &str, metric: &str, v: u64) -> PendingReading {
        PendingReading {
            key: key(resource, metric),
            ts: Timestamp::from_secs(10),
            value: Value::from_u64(v),
            uptime_s: None,
            discontinuity: None,
        }
    }

    #[test]
    fn the_pool_hands_back_emptied_vectors_and_keeps_a_bounded_number() {
        let pool = ReadingPool::default();
        let r = Reading {
            series: SeriesId(1),
            ts: Timestamp::from_secs(1),
            value: Value::from_u64(1),
            uptime_s: None,
            discontinuity: None,
        };
        let mut v = pool.take(10);
        v.push(r.clone());
        let ptr = v.as_ptr();
        pool.give(v);
        let again = pool.take(5);
        assert_eq!((again.len(), again.as_ptr()), (0, ptr));
        // Too large to keep.
        pool.give(Vec::with_capacity(ReadingPool::MAX_READINGS + 1));
        assert_eq!(pool.take(1).capacity(), 1);
        for _ in 0..ReadingPool::KEPT + 3 {
            pool.give(vec![r.clone()]);
        }
        assert_eq!(pool.rx.len(), ReadingPool::KEPT);
    }

    #[test]
    fn known_series_keep_their_ids_and_new_ones_are_allocated_in_order() {
        let reg = Registry::default();
        reg.allocate(&[&key("p1", "in_octets"), &key("p1", "out_octets")]).unwrap();
        let batch = WriteBatch::from_pending(
            vec![
                pending("p2", "in_octets", 1),
                pending("p1", "out_octets", 2),
                pending("p2", "in_octets", 3),
                pending("p1", "in_octets", 4),
                pending("p3", "in_octets", 5),
            ],
            &reg,
        );
        assert_eq!((batch.len(), batch.unresolved.len()), (5, 3));
        let got: Vec<(u32, Value)> = batch.resolve(&reg).unwrap().into_iter().map(|r| (r.series.0, r.value)).collect();
        let v = Value::from_u64;
        assert_eq!(got, vec![(2, v(1)), (1, v(2)), (2, v(3)), (0, v(4)), (3, v(5))]);
        assert_eq!(reg.len(), 4);
        assert_eq!(reg.get(&key("p3", "in_octets")), Some(SeriesId(3)));
        // Resources are told apart by where the device ends, not by the joined text.
        let odd = SeriesKey { device: "sw".into(), resource: "1p1".into(), metric: "in_octets".into() };
        assert_eq!(reg.get(&odd), None);
    }
}
