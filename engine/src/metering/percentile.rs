//! The exact nearest-rank percentile (metering.md §4): sort ascending, `k = ceil(p * n)`, the
//! value is `r_k`. Equivalently: discard the `n - k` highest and take the highest left. Equals
//! PostgreSQL `percentile_disc(p)` and DuckDB `quantile_disc(x, p)`.

/// A percentile as a fraction `num / den` (exact: 0.95 is 95/100, 19/20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    /// Numerator.
    pub num: u64,
    /// Denominator (> 0).
    pub den: u64,
}

/// The 95th percentile.
pub const P95: Fraction = Fraction { num: 95, den: 100 };

/// The 1-based rank `k = ceil(p * n)` (at least 1 for `n > 0`); `None` for `n = 0`.
pub fn rank(n: usize, p: Fraction) -> Option<usize> {
    if n == 0 || p.den == 0 {
        return None;
    }
    let n = n as u128;
    let k = (n * u128::from(p.num)).div_ceil(u128::from(p.den));
    Some(k.clamp(1, n) as usize)
}

/// The result of a nearest-rank selection, with its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked<T> {
    /// The selected value (with whatever it carries, e.g. its bucket).
    pub value: T,
    /// Values ranked.
    pub n: usize,
    /// Values discarded above it (`n - k`).
    pub discarded: usize,
}

/// Selects the nearest-rank `p` percentile of `values` in `O(n)` (the slice is reordered).
/// Ties are broken by the values' own order, so `(rate, bucket_start)` pairs select a definite
/// bucket.
pub fn nearest_rank<T: Ord + Copy>(values: &mut [T], p: Fraction) -> Option<Ranked<T>> {
    let n = values.len();
    let k = rank(n, p)?;
    let (_, v, _) = values.select_nth_unstable(k - 1);
    Some(Ranked { value: *v, n, discarded: n - k })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn discard_counts_of_the_four_month_lengths() {
        for (days, discarded) in [(28, 403), (29, 417), (30, 432), (31, 446)] {
            let n = days * 288;
            assert_eq!(n - rank(n, P95).unwrap(), discarded, "{days} days");
        }
        assert_eq!(rank(0, P95), None);
        assert_eq!(rank(1, P95), Some(1));
        assert_eq!(rank(20, P95), Some(19));
        assert_eq!(rank(21, P95), Some(20));
    }

    proptest! {
        #[test]
        fn selection_equals_sorting(mut v in proptest::collection::vec(0u64..1000, 1..500)) {
            let mut sorted = v.clone();
            sorted.sort_unstable();
            let r = nearest_rank(&mut v, P95).unwrap();
            let k = (sorted.len() * 95).div_ceil(100);
            prop_assert_eq!(r.value, sorted[k - 1]);
            prop_assert_eq!(r.discarded, sorted.len() - k);
            // At most 5 % of the values lie above it, and it is one of them.
            prop_assert!(sorted.iter().filter(|x| **x > r.value).count() * 20 <= sorted.len());
        }
    }
}
