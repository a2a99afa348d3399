//! Money: an exact `Decimal` amount in one [`Currency`]. Amounts of two currencies cannot be
//! added or compared: the arithmetic is checked and says [`CurrencyMismatch`] instead.
//!
//! Rounding happens once, where metering.md §8 says (a line's amount, the tax), through
//! [`Money::rounded`]: to the currency's minor unit, half away from zero, written with exactly
//! that many decimals (`900.00`, `0.00`, `1500` for JPY). Everything else is exact.
//!
//! Reading where #29 is silent, and how: a record states its currency once (an invoice's or a
//! credit note's `currency`), so `Money` serializes as its amount alone, exactly as the bare
//! `Decimal` it replaces did: the JSON of invoices, credit notes and the API is unchanged. It
//! has no `Deserialize`: an amount read from outside (a request, a stored document) becomes
//! money only together with the currency of the record it belongs to ([`Money::new`]).

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

use super::currency::Currency;

/// An amount in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

/// Two currencies met where one was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amounts in {expected} and {found} cannot be combined")]
pub struct CurrencyMismatch {
    /// The currency of the total being formed.
    pub expected: Currency,
    /// The other one.
    pub found: Currency,
}

impl Money {
    /// `amount` in `currency`, exact (not rounded).
    pub const fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Nothing, in `currency`, written with the minor unit's decimals (`0.00`).
    pub fn zero(currency: Currency) -> Self {
        Self::rounded(Decimal::ZERO, currency)
    }

    /// `amount` rounded to the currency's minor unit, half away from zero (metering.md §8).
    pub fn rounded(amount: Decimal, currency: Currency) -> Self {
        let digits = currency.minor_unit_digits();
        let mut r = amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
        r.rescale(digits);
        Self { amount: r, currency }
    }

    /// One minor unit of `currency` (`0.01` EUR, `1` JPY).
    pub fn minor_unit(currency: Currency) -> Self {
        Self { amount: Decimal::new(1, currency.minor_unit_digits()), currency }
    }

    /// This amount rounded once to its minor unit.
    #[must_use]
    pub fn round(self) -> Self {
        Self::rounded(self.amount, self.currency)
    }

    /// The amount.
    pub const fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// Whether the amount is in whole minor units (`12.34` EUR, not `12.345`).
    pub fn in_minor_units(&self) -> bool {
        Self::rounded(self.amount, self.currency).amount == self.amount
    }

    /// `self × factor`, exact (a quantity times a unit price, a subtotal times a tax rate).
    #[must_use]
    pub fn times(self, factor: Decimal) -> Self {
        Self { amount: self.amount * factor, currency: self.currency }
    }

    fn same(&self, other: &Money) -> Result<(), CurrencyMismatch> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(CurrencyMismatch { expected: self.currency, found: other.currency })
        }
    }

    /// `self + other`, in one currency.
    pub fn checked_add(self, other: Money) -> Result<Money, CurrencyMismatch> {
        self.same(&other)?;
        Ok(Self { amount: self.amount + other.amount, currency: self.currency })
    }

    /// `self − other`, in one currency.
    pub fn checked_sub(self, other: Money) -> Result<Money, CurrencyMismatch> {
        self.same(&other)?;
        Ok(Self { amount: self.amount - other.amount, currency: self.currency })
    }

    /// Whether `self > other`, in one currency.
    pub fn exceeds(&self, other: &Money) -> Result<bool, CurrencyMismatch> {
        self.same(other)?;
        Ok(self.amount > other.amount)
    }

    /// The sum of `amounts`, all in `currency` (exact; zero when there are none).
    pub fn sum(currency: Currency, amounts: impl IntoIterator<Item = Money>) -> Result<Money, CurrencyMismatch> {
        amounts.into_iter().try_fold(Money::new(Decimal::ZERO, currency), Money::checked_add)
    }
}

impl std::ops::Neg for Money {
    type Output = Money;

    fn neg(self) -> Money {
        Self { amount: -self.amount, currency: self.currency }
    }
}

impl fmt::Display for Money {
    /// The amount alone (`900.00`), as the bare `Decimal` it replaces printed: documents, PDFs
    /// and messages state the currency once, beside it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.amount, f)
    }
}

impl serde::Serialize for Money {
    /// The amount alone, as a bare `Decimal` serializes (see the module docs).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.amount, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn rounds_once_half_away_from_zero_to_the_minor_unit() {
        let eur = cur("EUR");
        let r = |s| Money::rounded(d(s), eur).amount();
        assert_eq!((r("2.345"), r("-2.345"), r("2.3449999")), (d("2.35"), d("-2.35"), d("2.34")));
        assert_eq!(Money::rounded(d("2.5"), cur("JPY")).amount(), d("3"));
        assert_eq!(Money::rounded(d("0.0005"), cur("BHD")).amount().to_string(), "0.001");
        assert_eq!(Money::rounded(d("900"), eur).amount().to_string(), "900.00");
        assert_eq!(Money::rounded(d("-0.001"), eur).amount().to_string(), "0.00");
        assert_eq!(Money::zero(eur).to_string(), "0.00");
        assert_eq!((Money::minor_unit(eur).amount(), Money::minor_unit(cur("JPY")).amount()), (d("0.01"), d("1")));
        assert!(Money::new(d("12.34"), eur).in_minor_units() && !Money::new(d("12.345"), eur).in_minor_units());
    }

    #[test]
    fn two_currencies_never_add() {
        let (eur, usd) = (cur("EUR"), cur("USD"));
        let a = Money::new(d("10.00"), eur);
        assert_eq!(a.checked_add(Money::new(d("2.50"), eur)), Ok(Money::new(d("12.50"), eur)));
        let mismatch = CurrencyMismatch { expected: eur, found: usd };
        assert_eq!(a.checked_add(Money::new(d("1"), usd)), Err(mismatch));
        assert_eq!(a.checked_sub(Money::new(d("1"), usd)), Err(mismatch));
        assert_eq!(a.exceeds(&Money::new(d("1"), usd)), Err(mismatch));
        assert_eq!(Money::sum(eur, [a, Money::new(d("1"), usd)]), Err(mismatch));
        assert_eq!(Money::sum(eur, [a, -a, a]), Ok(a));
        assert_eq!(mismatch.to_string(), "amounts in EUR and USD cannot be combined");
    }

    #[test]
    fn serializes_as_the_bare_amount_did() {
        let m = Money::rounded(d("1234.5"), cur("EUR"));
        assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&d("1234.50")).unwrap());
    }
}
