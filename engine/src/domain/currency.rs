//! ISO 4217 currencies, with the minor unit money is rounded to.

use std::fmt;

/// An ISO 4217 currency that has a minor unit (so amounts can be rounded to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

/// Why a code is not a usable currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// Not an ISO 4217 code.
    #[error("unknown currency {0:?} (expected an ISO 4217 code such as EUR)")]
    Unknown(String),
    /// A code without a minor unit (funds codes, precious metals): cannot be invoiced.
    #[error("currency {0} has no minor unit and cannot be invoiced")]
    NoMinorUnit(String),
}

#[cfg(feature = "openapi")]
string_schema!(Currency, "Currency", None, "An ISO 4217 currency code");

impl Currency {
    /// Parses an upper-case ISO 4217 code.
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        let c = iso_currency::Currency::from_code(code).ok_or_else(|| CurrencyError::Unknown(code.to_owned()))?;
        if c.exponent().is_none() {
            return Err(CurrencyError::NoMinorUnit(code.to_owned()));
        }
        Ok(Self(c))
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the minor unit (2 for EUR, 0 for JPY, 3 for BHD).
    pub fn minor_unit_digits(&self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies() {
        assert_eq!(Currency::parse("EUR").unwrap().minor_unit_digits(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_unit_digits(), 0);
        assert_eq!(Currency::parse("BHD").unwrap().minor_unit_digits(), 3);
        assert_eq!(Currency::parse("EURO"), Err(CurrencyError::Unknown("EURO".into())));
        assert_eq!(Currency::parse("XAU"), Err(CurrencyError::NoMinorUnit("XAU".into())));
    }
}
