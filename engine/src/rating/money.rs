//! Money: `Decimal` amounts rounded once, to the currency's minor unit, half away from zero.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::Currency;

/// Rounds an amount to the currency's minor unit, half away from zero (metering.md §8), and
/// writes it with exactly that many decimals (`900.00`, `0.00`, `1500` for JPY).
pub fn round_to_minor_unit(amount: Decimal, currency: Currency) -> Decimal {
    let digits = currency.minor_unit_digits();
    let mut r = amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(digits);
    r
}

/// One minor unit of the currency (`0.01` for EUR, `1` for JPY).
pub fn minor_unit(currency: Currency) -> Decimal {
    Decimal::new(1, currency.minor_unit_digits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn rounds_half_away_from_zero() {
        let eur = Currency::parse("EUR").unwrap();
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(round_to_minor_unit(d("2.345"), eur), d("2.35"));
        assert_eq!(round_to_minor_unit(d("-2.345"), eur), d("-2.35"));
        assert_eq!(round_to_minor_unit(d("2.3449999"), eur), d("2.34"));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(round_to_minor_unit(d("2.5"), jpy), d("3"));
        assert_eq!(minor_unit(eur), d("0.01"));
        assert_eq!(round_to_minor_unit(d("900"), eur).to_string(), "900.00");
        assert_eq!(round_to_minor_unit(d("-0.001"), eur).to_string(), "0.00");
    }
}
