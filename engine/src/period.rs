//! Billing periods: calendar months in the customer's timezone (metering.md §1).

use std::fmt;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::time::{Interval, Timestamp};

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

/// Why a period cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// Not `YYYY-MM`.
    #[error("{0:?} is not a period (expected YYYY-MM, e.g. 2026-10)")]
    Syntax(String),
    /// Outside the representable range.
    #[error("period {0} is outside the supported range")]
    Range(String),
}

impl BillingPeriod {
    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Self, PeriodError> {
        let err = || PeriodError::Syntax(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year: i32 = y.parse().map_err(|_| err())?;
        let month: u32 = m.parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) {
            return Err(err());
        }
        Ok(Self { year, month })
    }

    /// The period holding instant `t` in `tz`.
    pub fn containing(t: Timestamp, tz: Tz) -> Self {
        use chrono::Datelike;
        let local = t.to_datetime().with_timezone(&tz);
        Self { year: local.year(), month: local.month() }
    }

    /// The following month.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self { year: self.year + 1, month: 1 }
        } else {
            Self { year: self.year, month: self.month + 1 }
        }
    }

    /// The month before.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self { year: self.year - 1, month: 12 }
        } else {
            Self { year: self.year, month: self.month - 1 }
        }
    }

    /// The period as `[first midnight, next first midnight)` in `tz`, in UTC.
    ///
    /// Where local midnight does not exist (a DST jump at midnight) the period starts at the first
    /// local instant of the day; where it occurs twice, at the earlier one.
    pub fn interval(self, tz: Tz) -> Result<Interval, PeriodError> {
        let from = first_instant(self, tz)?;
        let to = first_instant(self.next(), tz)?;
        Interval::closed(from, to).map_err(|_| PeriodError::Range(self.to_string()))
    }
}

fn first_instant(p: BillingPeriod, tz: Tz) -> Result<Timestamp, PeriodError> {
    let range = || PeriodError::Range(p.to_string());
    let day = NaiveDate::from_ymd_opt(p.year, p.month, 1).ok_or_else(range)?;
    // Try midnight, then each minute after it, until the local time exists (gaps are < 1 day).
    for minute in 0..(24 * 60) {
        let local = day.and_hms_opt(0, 0, 0).ok_or_else(range)? + chrono::Duration::minutes(minute);
        if let Some(dt) = tz.from_local_datetime(&local).earliest() {
            return Timestamp::from_datetime(dt.with_timezone(&chrono::Utc)).ok_or_else(range);
        }
    }
    Err(range())
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// On the wire and in stored documents: `YYYY-MM`.
impl serde::Serialize for BillingPeriod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BillingPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
string_schema!(BillingPeriod, "BillingPeriod", None, "A calendar month, YYYY-MM");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amsterdam_october_is_the_contract_example() {
        let p = BillingPeriod::parse("2026-10").unwrap();
        let iv = p.interval(chrono_tz::Europe::Amsterdam).unwrap();
        assert_eq!(iv.from.to_string(), "2026-09-30T22:00:00Z");
        assert_eq!(iv.end().to_string(), "2026-10-31T23:00:00Z");
        let utc = p.interval(chrono_tz::UTC).unwrap();
        assert_eq!(utc.overlap_nanos(&utc), 31 * 86_400 * 1_000_000_000);
        assert_eq!(BillingPeriod::parse("2026-12").unwrap().next().to_string(), "2027-01");
        assert_eq!(BillingPeriod::parse("2027-01").unwrap().previous().to_string(), "2026-12");
        assert!(BillingPeriod::parse("2026-13").is_err());
        assert!(BillingPeriod::parse("26-10").is_err());
    }
}
