//! The nearest-rank 95th of a growing set, maintained in `O(log n)` per value, so month-to-date
//! figures are read, not computed: `top` holds the `n - ceil(0.95 n)` largest values (those
//! discarded) and `rest` the others; the 95th is the largest of `rest`.
//!
//! Bounded ([`RunningP95::bounded`]): when at most `max_n` values will come (a month's buckets),
//! `top` never needs more than `max_n - ceil(0.95 max_n)` values and `rest` only its largest
//! few (values leave `rest` only from the top), so the smallest are dropped: a 31-day month keeps
//! 447 values (7 KB), not 8,928.
//!
//! Values are `(bytes, bucket_start)` pairs, distinct (one per bucket), ranked like
//! [`super::percentile::nearest_rank`] ranks them (ties by bucket start), so both give the same
//! value and bucket.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::percentile::{P95, Ranked, rank};
use crate::time::Timestamp;

/// A running 95th.
#[derive(Debug, Clone)]
pub struct RunningP95 {
    top: BinaryHeap<Reverse<(u64, Timestamp)>>,
    rest: BTreeSet<(u64, Timestamp)>,
    /// Values pushed.
    n: usize,
    /// Values worth keeping (`usize::MAX`: unbounded).
    keep: usize,
}

impl Default for RunningP95 {
    fn default() -> Self {
        Self { top: BinaryHeap::new(), rest: BTreeSet::new(), n: 0, keep: usize::MAX }
    }
}

impl RunningP95 {
    /// A running 95th of at most `max_n` values (more would give wrong figures).
    pub fn bounded(max_n: usize) -> Self {
        Self { keep: max_n - rank(max_n, P95).unwrap_or(0) + 1, ..Self::default() }
    }

    /// Adds a value.
    pub fn push(&mut self, v: (u64, Timestamp)) {
        self.n += 1;
        match self.top.peek() {
            Some(Reverse(min_top)) if v > *min_top => self.top.push(Reverse(v)),
            _ => {
                self.rest.insert(v);
            }
        }
        let discard = self.n - rank(self.n, P95).unwrap_or(0);
        while self.top.len() > discard {
            if let Some(Reverse(x)) = self.top.pop() {
                self.rest.insert(x);
            }
        }
        while self.top.len() < discard {
            match self.rest.pop_last() {
                Some(x) => self.top.push(Reverse(x)),
                None => break,
            }
        }
        // Values below `rest`'s largest `keep - top` can never be the 95th again.
        while self.top.len() + self.rest.len() > self.keep {
            self.rest.pop_first();
        }
    }

    /// Values pushed.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Values held in memory.
    pub fn held(&self) -> usize {
        self.top.len() + self.rest.len()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The 95th with its evidence; `None` when empty.
    pub fn value(&self) -> Option<Ranked<(u64, Timestamp)>> {
        self.rest.last().map(|v| Ranked { value: *v, n: self.n, discarded: self.top.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::percentile::nearest_rank;
    use proptest::prelude::*;

    proptest! {
        /// After every push it equals the nearest rank of everything pushed so far, bounded to
        /// the number of values that will come or not.
        #[test]
        fn equals_nearest_rank_at_every_step(values in proptest::collection::vec(0u64..50, 1..400), bounded: bool) {
            let mut r = if bounded { RunningP95::bounded(values.len()) } else { RunningP95::default() };
            let mut all = Vec::new();
            for (i, v) in values.into_iter().enumerate() {
                let x = (v, Timestamp::from_secs(i as i64 * 300));
                r.push(x);
                all.push(x);
                let mut copy = all.clone();
                prop_assert_eq!(r.value(), nearest_rank(&mut copy, P95));
            }
        }
    }

    #[test]
    fn a_month_discards_446_and_keeps_447() {
        let mut r = RunningP95::bounded(8_928);
        for i in 0..8_928u64 {
            // Rising and falling values: the kept ones are not simply the last.
            r.push(((i * 7_919) % 8_928, Timestamp::from_nanos(i as i64)));
        }
        let v = r.value().unwrap();
        assert_eq!((v.n, v.discarded, v.value.0, r.held()), (8_928, 446, 8_481, 447));
    }
}
