//! Instants and half-open intervals: UTC, integer nanoseconds since the Unix epoch.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Why a text is not an instant or an interval is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an RFC 3339 date-time with an offset.
    #[error("{0:?} is not an RFC 3339 time with offset (e.g. 2026-10-01T00:00:00Z)")]
    NotRfc3339(String),
    /// Outside the range representable in i64 nanoseconds (years 1677 to 2262).
    #[error("{0:?} is outside the supported range (1678 to 2261)")]
    OutOfRange(String),
    /// `to` is not after `from`.
    #[error("`to` ({to}) must be after `from` ({from})")]
    Reversed {
        /// Start of the interval.
        from: Timestamp,
        /// End of the interval.
        to: Timestamp,
    },
}

/// An instant: UTC nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest representable instant.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable instant; used as "open end".
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }

    /// From whole seconds since the epoch (saturating).
    pub const fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(NANOS_PER_SECOND))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// `ns` nanoseconds later (earlier when negative), saturating at the representable range.
    #[must_use]
    pub const fn plus_ns(self, ns: i64) -> Self {
        Self(self.0.saturating_add(ns))
    }

    /// `ns` nanoseconds earlier, saturating at the representable range.
    #[must_use]
    pub const fn minus_ns(self, ns: i64) -> Self {
        Self(self.0.saturating_sub(ns))
    }

    /// Nanoseconds from `earlier` to `self` (negative when `earlier` is later), saturating.
    pub const fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The start of the `step_ns`-long slot (counted from the epoch) holding this instant:
    /// the largest multiple of `step_ns` not after it. `step_ns` must be positive.
    #[must_use]
    pub const fn floor_to(self, step_ns: i64) -> Self {
        Self(self.0.div_euclid(step_ns) * step_ns)
    }

    /// Parses RFC 3339 (any offset; converted to UTC).
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|_| TimeError::NotRfc3339(s.to_owned()))?;
        dt.timestamp_nanos_opt().map(Self).ok_or_else(|| TimeError::OutOfRange(s.to_owned()))
    }

    /// From a chrono UTC date-time, if representable.
    pub fn from_datetime(dt: DateTime<Utc>) -> Option<Self> {
        dt.timestamp_nanos_opt().map(Self)
    }

    /// As a chrono UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }
}

#[cfg(feature = "openapi")]
string_schema!(
    Timestamp,
    "Timestamp",
    Some(utoipa::openapi::schema::KnownFormat::DateTime),
    "An instant, RFC 3339 in UTC with up to nanoseconds"
);

impl fmt::Display for Timestamp {
    /// RFC 3339 UTC with `Z`, with as many fractional digits as needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_datetime().to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A half-open interval `[from, to)`; `to = None` means "until further notice".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// Inclusive start.
    pub from: Timestamp,
    /// Exclusive end, or open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
}

impl Interval {
    /// A validated interval: `to`, when given, must be strictly after `from`.
    pub fn new(from: Timestamp, to: Option<Timestamp>) -> Result<Self, TimeError> {
        match to {
            Some(t) if t <= from => Err(TimeError::Reversed { from, to: t }),
            _ => Ok(Self { from, to }),
        }
    }

    /// A closed interval `[from, to)` with `from < to`.
    pub fn closed(from: Timestamp, to: Timestamp) -> Result<Self, TimeError> {
        Self::new(from, Some(to))
    }

    /// The exclusive end, `Timestamp::MAX` when open.
    pub fn end(&self) -> Timestamp {
        self.to.unwrap_or(Timestamp::MAX)
    }

    /// Whether `t` lies in `[from, to)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.end()
    }

    /// Whether the two intervals share at least one instant.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.from < other.end() && other.from < self.end()
    }

    /// The common part of two intervals, if any.
    pub fn intersect(&self, other: &Interval) -> Option<Interval> {
        let from = self.from.max(other.from);
        let to = match (self.to, other.to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match to {
            Some(t) if t <= from => None,
            _ => Some(Interval { from, to }),
        }
    }

    /// Length in nanoseconds of the overlap with a closed window, as i128 (never overflows).
    pub fn overlap_nanos(&self, window: &Interval) -> i128 {
        match self.intersect(window) {
            Some(i) => i128::from(i.end().as_nanos()) - i128::from(i.from.as_nanos()),
            None => 0,
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to {
            Some(t) => write!(f, "[{}, {})", self.from, t),
            None => write!(f, "[{}, open)", self.from),
        }
    }
}

/// Every pair `(i, j)` with `i < j` of intervals that share an instant, each pair once, ordered.
///
/// Sorts by start and scans forward from each interval only while later starts fall before its
/// end: `O(n log n + pairs)`.
pub fn overlapping_pairs(intervals: &[Interval]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by_key(|&i| (intervals[i].from, i));
    let mut pairs = Vec::new();
    for (pos, &a) in order.iter().enumerate() {
        let end = intervals[a].end();
        for &b in &order[pos + 1..] {
            if intervals[b].from >= end {
                break;
            }
            pairs.push((a.min(b), a.max(b)));
        }
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_rfc3339_utc() {
        assert_eq!(ts("2026-10-01T00:00:00Z").as_nanos(), 1_790_812_800_000_000_000);
        assert_eq!(ts("2026-10-01T02:00:00+02:00"), ts("2026-10-01T00:00:00Z"));
        assert_eq!(ts("2026-10-01T00:00:00.5Z").to_string(), "2026-10-01T00:00:00.500Z");
        assert_eq!(ts("2026-10-01T00:00:00Z").to_string(), "2026-10-01T00:00:00Z");
        assert!(matches!(Timestamp::parse("2026-10-01"), Err(TimeError::NotRfc3339(_))));
        assert!(matches!(Timestamp::parse("2300-01-01T00:00:00Z"), Err(TimeError::OutOfRange(_))));
    }

    #[test]
    fn arithmetic_saturates_and_floors_toward_the_past() {
        let t = Timestamp::from_nanos(-7);
        assert_eq!(t.floor_to(5), Timestamp::from_nanos(-10));
        assert_eq!(Timestamp::from_nanos(12).floor_to(5), Timestamp::from_nanos(10));
        assert_eq!(Timestamp::MAX.plus_ns(1), Timestamp::MAX);
        assert_eq!(Timestamp::MIN.minus_ns(1), Timestamp::MIN);
        assert_eq!(Timestamp::from_nanos(3).nanos_since(Timestamp::from_nanos(10)), -7);
        assert_eq!(Timestamp::MAX.nanos_since(Timestamp::MIN), i64::MAX);
    }

    #[test]
    fn intervals_are_half_open() {
        let a = Interval::closed(ts("2026-10-01T00:00:00Z"), ts("2026-10-02T00:00:00Z")).unwrap();
        let b = Interval::new(ts("2026-10-02T00:00:00Z"), None).unwrap();
        assert!(!a.overlaps(&b));
        assert!(!a.contains(ts("2026-10-02T00:00:00Z")));
        assert!(b.contains(ts("2026-10-02T00:00:00Z")));
        assert_eq!(a.intersect(&b), None);
        let c = Interval::new(ts("2026-10-01T12:00:00Z"), None).unwrap();
        assert_eq!(
            a.intersect(&c),
            Some(Interval::closed(ts("2026-10-01T12:00:00Z"), ts("2026-10-02T00:00:00Z")).unwrap())
        );
        assert_eq!(a.overlap_nanos(&c), 12 * 3600 * NANOS_PER_SECOND as i128);
        assert!(matches!(
            Interval::closed(ts("2026-10-02T00:00:00Z"), ts("2026-10-02T00:00:00Z")),
            Err(TimeError::Reversed { .. })
        ));
    }
}
