//! A profile's unit conversion: an exact rational factor, applied once and rounded once (half
//! away from zero) to the store's 10^-9 resolution.
//!
//! Most vendors' units are decimal (0.1 kWh, 0.01 kW, W), so the result is exact. Chatsworth
//! counts energy in deca-watt-seconds (1/360 Wh): such a value is rounded to 10^-9 Wh, far below
//! any billing precision (an invoice shows kWh to 6 places).

use rust_decimal::Decimal;

/// `numerator / denominator`, both positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    numerator: i128,
    denominator: i128,
}

impl Default for Scale {
    fn default() -> Self {
        Self::ONE
    }
}

/// Why a text is not a scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scale {0:?} is not a positive decimal (\"0.1\") or fraction (\"1/360\")")]
pub struct ScaleError(String);

impl Scale {
    /// Unity.
    pub const ONE: Scale = Scale { numerator: 1, denominator: 1 };

    /// Parses `"0.1"`, `"100"` or `"1/360"`.
    pub fn parse(s: &str) -> Result<Self, ScaleError> {
        let bad = || ScaleError(s.to_owned());
        let dec = |t: &str| -> Result<(i128, i128), ScaleError> {
            let d: Decimal = t.trim().parse().map_err(|_| bad())?;
            if d <= Decimal::ZERO {
                return Err(bad());
            }
            Ok((d.mantissa(), 10i128.pow(d.scale())))
        };
        let (n, d) = match s.split_once('/') {
            Some((a, b)) => {
                let (an, ad) = dec(a)?;
                let (bn, bd) = dec(b)?;
                (an * bd, ad * bn)
            }
            None => dec(s)?,
        };
        Ok(Self { numerator: n, denominator: d })
    }

    /// `raw × scale / 10^digits`, rounded to 10^-9; `None` if it does not fit.
    pub fn apply(&self, raw: i128, digits: u32) -> Option<Decimal> {
        let den = self.denominator.checked_mul(10i128.checked_pow(digits)?)?;
        let num = raw.checked_mul(self.numerator)?.checked_mul(1_000_000_000)?;
        let (q, r) = (num / den, num % den);
        // Half away from zero: |r| * 2 >= den.
        let nanos = if r.unsigned_abs() * 2 >= den.unsigned_abs() { q + num.signum() } else { q };
        let d = Decimal::try_from_i128_with_scale(nanos, 9).ok()?;
        Some(d.normalize())
    }
}

impl<'de> serde::Deserialize<'de> for Scale {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Scale::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn vendor_units() {
        // APC: 0.1 kWh → Wh.
        assert_eq!(Scale::parse("100").unwrap().apply(7918, 0), Some(dec("791800")));
        // APC rPDU2: 0.01 kW → W.
        assert_eq!(Scale::parse("10").unwrap().apply(27, 0), Some(dec("270")));
        // Raritan: decimal digits.
        assert_eq!(Scale::ONE.apply(1234, 1), Some(dec("123.4")));
        // Chatsworth: deca-watt-seconds → Wh, rounded once at 10^-9.
        assert_eq!(Scale::parse("1/360").unwrap().apply(14_234_216, 0), Some(dec("39539.488888889")));
        assert_eq!(Scale::parse("0.5").unwrap().apply(3, 0), Some(dec("1.5")));
        assert!(Scale::parse("0").is_err());
        assert!(Scale::parse("-1").is_err());
        assert!(Scale::parse("1/x").is_err());
    }
}
