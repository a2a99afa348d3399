//! Proration of recurring charges by seconds (metering.md §7):
//! `price * seconds_assigned / seconds_in_period`, unrounded; the line amount is rounded once.

use rust_decimal::Decimal;

use crate::time::Interval;

/// Why a proration cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProrationError {
    /// The period has no end.
    #[error("a billing period must be closed, found {0}")]
    OpenPeriod(Interval),
}

/// The assigned share of a period, in seconds (nanosecond precision, exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Seconds of the assignment inside the period.
    pub seconds_assigned: Decimal,
    /// Seconds in the period.
    pub seconds_in_period: Decimal,
}

impl Share {
    /// The share of `period` that `assigned` covers.
    pub fn of(assigned: &Interval, period: &Interval) -> Result<Self, ProrationError> {
        if period.to.is_none() {
            return Err(ProrationError::OpenPeriod(*period));
        }
        Ok(Self {
            seconds_assigned: nanos_to_seconds(assigned.overlap_nanos(period)),
            seconds_in_period: nanos_to_seconds(period.overlap_nanos(period)),
        })
    }

    /// The billed fraction of the period, `seconds_assigned / seconds_in_period`: the quantity
    /// (in months) of a prorated line. Exactly 1 for the whole period, 0 for an empty one.
    pub fn months(&self) -> Decimal {
        if self.seconds_in_period.is_zero() {
            return Decimal::ZERO;
        }
        if self.seconds_assigned == self.seconds_in_period {
            return Decimal::ONE;
        }
        self.seconds_assigned / self.seconds_in_period
    }

    /// `price × months`, unrounded (a line rounds it once).
    pub fn prorate(&self, price: Decimal) -> Decimal {
        self.months() * price
    }
}

/// Nanoseconds as exact decimal seconds (a period of centuries still fits in 28 digits).
fn nanos_to_seconds(ns: i128) -> Decimal {
    Decimal::from_i128_with_scale(ns, 9).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};
    use crate::time::Timestamp;
    use proptest::prelude::*;
    use std::str::FromStr;

    const OCT_START: i64 = 1_790_812_800; // 2026-10-01T00:00:00Z
    const OCT_SECONDS: i64 = 31 * 86_400;

    fn october() -> Interval {
        Interval::closed(Timestamp::from_secs(OCT_START), Timestamp::from_secs(OCT_START + OCT_SECONDS)).unwrap()
    }

    #[test]
    fn half_of_october_from_the_15th_noon() {
        let assigned = Interval::new(Timestamp::from_secs(OCT_START + 14 * 86_400 + 43_200), None).unwrap();
        let share = Share::of(&assigned, &october()).unwrap();
        assert_eq!(share.seconds_assigned, Decimal::from(16 * 86_400 + 43_200));
        let eur = Currency::parse("EUR").unwrap();
        // 900 * 1425600 / 2678400 = 479.0322580645... (the line: 0.532258… month × 900)
        assert_eq!(
            Money::rounded(share.prorate(Decimal::from(900)), eur).amount(),
            Decimal::from_str("479.03").unwrap()
        );
        assert_eq!(Share::of(&october(), &october()).unwrap().prorate(Decimal::from(900)), Decimal::from(900));
    }

    proptest! {
        /// Rounded prorations over any split of a period sum to the whole price within one minor
        /// unit per line, and no share exceeds the price.
        #[test]
        fn splits_sum_to_the_whole(
            cents in 0i64..10_000_000,
            mut cuts in proptest::collection::vec(1i64..OCT_SECONDS, 0..12),
        ) {
            let eur = Currency::parse("EUR").unwrap();
            let price = Decimal::new(cents, 2);
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(OCT_SECONDS);
            let mut total = Decimal::ZERO;
            let lines = bounds.len() - 1;
            for w in bounds.windows(2) {
                let part = Interval::closed(Timestamp::from_secs(OCT_START + w[0]), Timestamp::from_secs(OCT_START + w[1])).unwrap();
                let amount = Share::of(&part, &october()).unwrap().prorate(price);
                prop_assert!(amount <= price);
                total += Money::rounded(amount, eur).amount();
            }
            prop_assert!((total - price).abs() <= Money::minor_unit(eur).amount() * Decimal::from(lines as i64));
        }

        /// Assignments reaching outside the period only count their part inside it.
        #[test]
        fn outside_the_period_counts_nothing(from in -5_000_000i64..5_000_000, len in 1i64..10_000_000) {
            let assigned = Interval::closed(
                Timestamp::from_secs(OCT_START + from), Timestamp::from_secs(OCT_START + from + len)).unwrap();
            let share = Share::of(&assigned, &october()).unwrap();
            let inside = (from + len).min(OCT_SECONDS) - from.max(0);
            prop_assert_eq!(share.seconds_assigned, Decimal::from(inside.max(0)));
        }
    }
}
