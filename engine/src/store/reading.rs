//! Readings as the store keeps them: one value of one series at one instant, exact.

use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::time::Timestamp;

/// Decimal places of stored values: values are `i128` units of 10^-9 (Arrow `Decimal128(38, 9)`),
/// which holds every u64 counter and every gauge to the nano-unit exactly.
pub const VALUE_SCALE: u32 = 9;

crate::typed_id!(
    int
    /// A series' compact identifier (dense, from 0).
    SeriesId: u32
);

/// What a series measures: `(device, resource, metric)`, e.g. `(sw-core1, Gi1/0/1, in_octets)`.
/// The parts are shared strings: every reading of a line shares its device and resource, so a
/// key costs reference counts, not allocations (ingest's largest cost was allocation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Device ID.
    pub device: Arc<str>,
    /// Resource on the device: a port's ifName or an outlet's index; empty for the device itself.
    pub resource: Arc<str>,
    /// Metric: a line-protocol field name (`in_octets`, `out_octets`, `uptime_s`, `energy_wh`,
    /// `power_w`).
    pub metric: Arc<str>,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.device, self.resource, self.metric)
    }
}

/// An exact stored value in units of 10^-9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(pub i128);

/// Why a number cannot be stored exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// More than 9 decimal places, or too large.
    #[error("{0} cannot be stored exactly (at most 9 decimal places and 29 integer digits)")]
    Inexact(String),
    /// NaN or infinite.
    #[error("{0} is not a finite number")]
    NotFinite(String),
}

impl Value {
    /// From an unsigned integer (counters).
    pub fn from_u64(v: u64) -> Self {
        Self(i128::from(v) * 1_000_000_000)
    }

    /// From a signed integer.
    pub fn from_i64(v: i64) -> Self {
        Self(i128::from(v) * 1_000_000_000)
    }

    /// From a decimal, if it has at most 9 decimal places and fits.
    pub fn from_decimal(d: Decimal) -> Result<Self, ValueError> {
        let scaled =
            d.checked_mul(Decimal::from(1_000_000_000u64)).ok_or_else(|| ValueError::Inexact(d.to_string()))?;
        if !scaled.fract().is_zero() {
            return Err(ValueError::Inexact(d.to_string()));
        }
        Ok(Self(scaled.mantissa() / 10i128.pow(scaled.scale())))
    }

    /// From a float as its shortest round-trip decimal text (`412.5` stays `412.5`, `0.1` stays
    /// `0.1`): line-protocol parsers hand floats over as `f64`, and the text a device sent has at
    /// most 17 significant digits, which this recovers.
    pub fn from_f64(v: f64) -> Result<Self, ValueError> {
        if !v.is_finite() {
            return Err(ValueError::NotFinite(v.to_string()));
        }
        let text = format!("{v}");
        let d = Decimal::from_str_exact(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| ValueError::Inexact(text.clone()))?;
        Self::from_decimal(d)
    }

    /// As a decimal (normalized: no trailing zeros).
    pub fn to_decimal(self) -> Decimal {
        Decimal::from_i128_with_scale(self.0, VALUE_SCALE).normalize()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

/// One reading to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The series.
    pub series: SeriesId,
    /// When it was measured.
    pub ts: Timestamp,
    /// The raw value, exactly as read (counters are not "fixed up" here).
    pub value: Value,
    /// The device's uptime in seconds with this sample, when known (counter reset evidence).
    pub uptime_s: Option<u64>,
    /// The port's counter-discontinuity marker with this sample, when known.
    pub discontinuity: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn values_are_exact() {
        assert_eq!(Value::from_u64(u64::MAX).to_decimal().to_string(), "18446744073709551615");
        assert_eq!(Value::from_f64(412.5).unwrap().to_string(), "412.5");
        assert_eq!(Value::from_f64(0.1).unwrap().to_string(), "0.1");
        assert_eq!(Value::from_f64(152340.5).unwrap().to_string(), "152340.5");
        assert_eq!(Value::from_f64(-3.0).unwrap().to_string(), "-3");
        assert_eq!(Value::from_decimal(Decimal::from_str("1.123456789").unwrap()).unwrap().0, 1_123_456_789);
        assert!(matches!(Value::from_decimal(Decimal::from_str("1.1234567891").unwrap()), Err(ValueError::Inexact(_))));
        assert!(matches!(Value::from_f64(f64::NAN), Err(ValueError::NotFinite(_))));
        assert!(matches!(Value::from_f64(1e-12), Err(ValueError::Inexact(_))));
    }
}
