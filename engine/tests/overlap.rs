//! Property test: assignment-overlap detection agrees with a brute-force pairwise check.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use engine::time::{Interval, Timestamp, overlapping_pairs};
use proptest::prelude::*;

fn interval() -> impl Strategy<Value = Interval> {
    (0i64..1_000, 1i64..300, proptest::bool::weighted(0.2)).prop_map(|(from, len, open)| {
        let to = (!open).then(|| Timestamp::from_secs(from + len));
        Interval::new(Timestamp::from_secs(from), to).unwrap()
    })
}

proptest! {
    #[test]
    fn sweep_equals_brute_force(ivs in proptest::collection::vec(interval(), 0..40)) {
        let mut brute = Vec::new();
        for i in 0..ivs.len() {
            for j in i + 1..ivs.len() {
                // Half-open [a, b) and [c, d) overlap iff a < d and c < b.
                if ivs[i].from < ivs[j].end() && ivs[j].from < ivs[i].end() {
                    brute.push((i, j));
                }
            }
        }
        prop_assert_eq!(overlapping_pairs(&ivs), brute);
    }

    #[test]
    fn touching_intervals_never_overlap(a in 0i64..1_000, len1 in 1i64..100, len2 in 1i64..100) {
        let first = Interval::closed(Timestamp::from_secs(a), Timestamp::from_secs(a + len1)).unwrap();
        let second = Interval::closed(Timestamp::from_secs(a + len1), Timestamp::from_secs(a + len1 + len2)).unwrap();
        prop_assert!(overlapping_pairs(&[first, second]).is_empty());
    }
}
