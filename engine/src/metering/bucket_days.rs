//! Dense storage of one series' buckets: a day of 288 buckets per chunk, so a month of a port is
//! 30 contiguous arrays (reading a month's rates for the 95th is a linear scan, not 8,640 map
//! look-ups). An untouched bucket is `Bucket::default()` (missing).

use std::collections::BTreeMap;

use super::bucket::{BUCKET_NS, Bucket, BucketSink, Slot};

/// Buckets per day.
pub const PER_DAY: usize = 288;

/// Width of a chunk, ns.
pub const DAY_NS: i64 = PER_DAY as i64 * BUCKET_NS;

/// One series' buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketDays {
    days: BTreeMap<i64, Box<[Bucket; PER_DAY]>>,
}

/// The start of the day holding `t`, saturating at the ends of time (open ranges).
fn day_floor(t: i64) -> i64 {
    t.div_euclid(DAY_NS).saturating_mul(DAY_NS)
}

fn split(start: i64) -> (i64, usize) {
    let day = start.div_euclid(DAY_NS) * DAY_NS;
    (day, ((start - day) / BUCKET_NS) as usize)
}

impl BucketSink for BucketDays {
    fn bucket(&mut self, start: i64) -> &mut Bucket {
        let (day, i) = split(start);
        &mut self.days.entry(day).or_insert_with(|| Box::new([Bucket::default(); PER_DAY]))[i]
    }
}

impl BucketDays {
    /// The bucket starting at `start` (aligned), if anything touched it.
    pub fn get(&self, start: i64) -> Option<&Bucket> {
        let (day, i) = split(start);
        self.days.get(&day).map(|d| &d[i]).filter(|b| **b != Bucket::default())
    }

    /// Sets the bucket starting at `start`.
    pub fn set(&mut self, start: i64, b: Bucket) {
        *self.bucket(start) = b;
    }

    /// Clears the buckets starting in `[from, to)`; drops days left empty.
    pub fn clear_range(&mut self, from: i64, to: i64) {
        if from >= to {
            return;
        }
        let first_day = day_floor(from);
        let days: Vec<i64> = self.days.range(first_day..to).map(|(d, _)| *d).collect();
        for day in days {
            let Some(chunk) = self.days.get_mut(&day) else { continue };
            for (i, b) in chunk.iter_mut().enumerate() {
                let s = day + i as i64 * BUCKET_NS;
                if s >= from && s < to {
                    *b = Bucket::default();
                }
            }
            if chunk.iter().all(|b| *b == Bucket::default()) {
                self.days.remove(&day);
            }
        }
    }

    /// Touched buckets starting in `[from, to)`, in order.
    pub fn range(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, &Bucket)> + '_ {
        let first_day = if from >= to { to } else { day_floor(from) };
        self.days.range(first_day..to.max(first_day)).flat_map(move |(day, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(move |(i, b)| (day + i as i64 * BUCKET_NS, b))
                .filter(move |(s, b)| *s >= from && *s < to && **b != Bucket::default())
        })
    }

    /// The `n` buckets starting at `first` (aligned), dense: untouched ones are default.
    pub fn dense(&self, first: i64, n: usize) -> Vec<Bucket> {
        let mut out = vec![Bucket::default(); n];
        let to = first.saturating_add(n as i64 * BUCKET_NS);
        let first_day = split(first).0;
        for (day, chunk) in self.days.range(first_day..to) {
            for (i, b) in chunk.iter().enumerate() {
                let s = day + i as i64 * BUCKET_NS;
                if s >= first && s < to {
                    out[((s - first) / BUCKET_NS) as usize] = *b;
                }
            }
        }
        out
    }

    /// The `n` buckets starting at `first` (aligned) as ranking slots, dense.
    pub fn dense_slots(&self, first: i64, n: usize) -> Vec<Slot> {
        let mut out = vec![Slot::default(); n];
        let to = first.saturating_add(n as i64 * BUCKET_NS);
        for (day, chunk) in self.days.range(split(first).0..to) {
            // Output index of the day's first bucket (one division per day, none per bucket).
            let base = (day - first).div_euclid(BUCKET_NS);
            for (i, b) in chunk.iter().enumerate() {
                let j = base + i as i64;
                if j >= 0 && (j as usize) < n {
                    out[j as usize] = Slot::from(b);
                }
            }
        }
        out
    }

    /// Days held.
    pub fn days(&self) -> usize {
        self.days.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_range_dense_and_clear() {
        let mut d = BucketDays::default();
        let b = |bytes| Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() };
        let day = 20_000 * DAY_NS;
        d.set(day - BUCKET_NS, b(1));
        d.set(day, b(2));
        d.set(day + 5 * BUCKET_NS, b(3));
        assert_eq!(d.days(), 2);
        assert_eq!(d.get(day).map(|x| x.bytes), Some(2));
        assert_eq!(d.get(day + BUCKET_NS), None);
        let got: Vec<(i64, u64)> = d.range(day - BUCKET_NS, day + 5 * BUCKET_NS).map(|(s, x)| (s, x.bytes)).collect();
        assert_eq!(got, vec![(day - BUCKET_NS, 1), (day, 2)]);
        let dense: Vec<u64> = d.dense(day - 2 * BUCKET_NS, 8).iter().map(|x| x.bytes).collect();
        assert_eq!(dense, vec![0, 1, 2, 0, 0, 0, 0, 3]);
        d.clear_range(i64::MIN, day + BUCKET_NS);
        assert_eq!(d.days(), 1);
        assert_eq!(d.range(i64::MIN, i64::MAX).count(), 1);
        d.clear_range(day, i64::MAX);
        assert_eq!(d.days(), 0);
    }
}
