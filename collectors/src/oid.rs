//! Object identifiers as owned sub-identifier lists: parsed from profiles and compared while
//! walking tables. snmp2's borrowed `Oid` is converted at the edge (`snmp::session`).

use std::fmt;

/// An object identifier such as `1.3.6.1.2.1.1.3.0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(Vec<u32>);

/// Why a text is not an OID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidError {
    /// Empty, or a part that is not a decimal sub-identifier.
    #[error("{0:?} is not an OID (dotted decimal sub-identifiers, such as 1.3.6.1.2.1.1.3.0)")]
    Syntax(String),
}

impl Oid {
    /// Parses dotted decimal; one leading dot is accepted (`.1.3.6…`, as some devices report).
    pub fn parse(s: &str) -> Result<Self, OidError> {
        let t = s.strip_prefix('.').unwrap_or(s);
        if t.is_empty() {
            return Err(OidError::Syntax(s.to_owned()));
        }
        t.split('.')
            .map(|p| p.parse::<u32>().map_err(|_| OidError::Syntax(s.to_owned())))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// From sub-identifiers.
    pub fn from_parts(parts: Vec<u32>) -> Self {
        Self(parts)
    }

    /// The sub-identifiers.
    pub fn parts(&self) -> &[u32] {
        &self.0
    }

    /// Whether `self` lies under `prefix` (or equals it).
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The sub-identifiers after `prefix`, if `self` lies strictly under it.
    pub fn suffix_after(&self, prefix: &Oid) -> Option<&[u32]> {
        if self.0.len() > prefix.0.len() && self.starts_with(prefix) { Some(&self.0[prefix.0.len()..]) } else { None }
    }

    /// `self` followed by `tail`.
    pub fn join(&self, tail: &[u32]) -> Oid {
        let mut v = Vec::with_capacity(self.0.len() + tail.len());
        v.extend_from_slice(&self.0);
        v.extend_from_slice(tail);
        Oid(v)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Oid::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Well-known OIDs every poll uses.
pub mod well_known {
    /// `sysObjectID.0`.
    pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
    /// `sysUpTime.0` (TimeTicks, hundredths of a second).
    pub const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_suffix() {
        let o = Oid::parse(".1.3.6.1.4.1.674").unwrap();
        assert_eq!(o.to_string(), "1.3.6.1.4.1.674");
        let col = Oid::parse("1.3.6.1.2.1.31.1.1.1.6").unwrap();
        let cell = Oid::parse("1.3.6.1.2.1.31.1.1.1.6.10101").unwrap();
        assert_eq!(cell.suffix_after(&col), Some(&[10101u32][..]));
        assert_eq!(col.suffix_after(&col), None);
        assert_eq!(col.join(&[7, 8]).to_string(), "1.3.6.1.2.1.31.1.1.1.6.7.8");
        assert!(Oid::parse("1.3.x").is_err());
        assert!(Oid::parse("").is_err());
        assert!(Oid::parse("1..3").is_err());
    }
}
