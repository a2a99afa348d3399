//! The nearest-rank 95th of a growing set, maintained in `O(log n)` per value, so month-to-date
//! figures are read, not computed: two heaps, `top` holding the `n - ceil(0.95 n)` largest values
//! (those discarded) and `rest` the others; the 95th is the largest of `rest`.
//!
//! Values are `(bytes, bucket_start)` pairs, ranked like [`super::percentile::nearest_rank`]
//! ranks them (ties by bucket start), so both give the same value and bucket.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::percentile::{P95, Ranked, rank};

/// A running 95th.
#[derive(Debug, Clone, Default)]
pub struct RunningP95 {
    top: BinaryHeap<Reverse<(u64, i64)>>,
    rest: BinaryHeap<(u64, i64)>,
}

impl RunningP95 {
    /// Adds a value.
    pub fn push(&mut self, v: (u64, i64)) {
        match self.top.peek() {
            Some(Reverse(min_top)) if v > *min_top => self.top.push(Reverse(v)),
            _ => self.rest.push(v),
        }
        let n = self.len();
        let discard = n - rank(n, P95).unwrap_or(0);
        while self.top.len() > discard {
            if let Some(Reverse(x)) = self.top.pop() {
                self.rest.push(x);
            }
        }
        while self.top.len() < discard {
            match self.rest.pop() {
                Some(x) => self.top.push(Reverse(x)),
                None => break,
            }
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.top.len() + self.rest.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The 95th with its evidence; `None` when empty.
    pub fn value(&self) -> Option<Ranked<(u64, i64)>> {
        self.rest.peek().map(|v| Ranked { value: *v, n: self.len(), discarded: self.top.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::percentile::nearest_rank;
    use proptest::prelude::*;

    proptest! {
        /// After every push it equals the nearest rank of everything pushed so far.
        #[test]
        fn equals_nearest_rank_at_every_step(values in proptest::collection::vec(0u64..50, 1..400)) {
            let mut r = RunningP95::default();
            let mut all = Vec::new();
            for (i, v) in values.into_iter().enumerate() {
                let x = (v, i as i64 * 300);
                r.push(x);
                all.push(x);
                let mut copy = all.clone();
                prop_assert_eq!(r.value(), nearest_rank(&mut copy, P95));
            }
        }
    }

    #[test]
    fn a_month_discards_446() {
        let mut r = RunningP95::default();
        for i in 0..8_928u64 {
            r.push((i, i as i64));
        }
        let v = r.value().unwrap();
        assert_eq!((v.n, v.discarded, v.value.0), (8_928, 446, 8_481));
    }
}
