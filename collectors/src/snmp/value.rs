//! Owned SNMP values: what the pollers keep from a response after its buffer is reused.

/// A varbind's value, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpValue {
    /// INTEGER.
    Integer(i64),
    /// OCTET STRING.
    Text(Vec<u8>),
    /// OBJECT IDENTIFIER.
    Oid(crate::oid::Oid),
    /// Counter32.
    Counter32(u32),
    /// Gauge32 / Unsigned32.
    Gauge32(u32),
    /// TimeTicks (hundredths of a second).
    Timeticks(u32),
    /// Counter64.
    Counter64(u64),
    /// NULL, IpAddress, Opaque and other types the collectors do not read.
    Other,
    /// noSuchObject / noSuchInstance: the agent has no such value.
    NoSuch,
    /// endOfMibView: a walk has reached the end.
    EndOfMibView,
}

impl SnmpValue {
    /// From snmp2's borrowed value.
    pub fn from_snmp2(v: &snmp2::Value<'_>) -> Self {
        use snmp2::Value as V;
        match v {
            V::Integer(i) => Self::Integer(*i),
            V::OctetString(s) => Self::Text(s.to_vec()),
            V::ObjectIdentifier(o) => match o.iter() {
                Some(it) => it
                    .map(u32::try_from)
                    .collect::<Result<Vec<_>, _>>()
                    .map_or(Self::Other, |p| Self::Oid(crate::oid::Oid::from_parts(p))),
                None => Self::Other,
            },
            V::Counter32(n) => Self::Counter32(*n),
            V::Unsigned32(n) => Self::Gauge32(*n),
            V::Timeticks(n) => Self::Timeticks(*n),
            V::Counter64(n) => Self::Counter64(*n),
            V::NoSuchObject | V::NoSuchInstance => Self::NoSuch,
            V::EndOfMibView => Self::EndOfMibView,
            _ => Self::Other,
        }
    }

    /// A non-negative integer value (counters, gauges, time ticks, non-negative INTEGERs).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::Integer(i) => u64::try_from(i).ok(),
            Self::Counter32(n) | Self::Gauge32(n) | Self::Timeticks(n) => Some(u64::from(n)),
            Self::Counter64(n) => Some(n),
            _ => None,
        }
    }

    /// A signed integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Integer(i) => Some(i),
            Self::Counter64(n) => i64::try_from(n).ok(),
            _ => self.as_u64().and_then(|n| i64::try_from(n).ok()),
        }
    }

    /// Text as UTF-8 (lossy), trimmed of NULs and surrounding whitespace.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Self::Text(b) => {
                Some(String::from_utf8_lossy(b).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_owned())
            }
            _ => None,
        }
    }

    /// Whether the agent has a value here at all.
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::NoSuch | Self::EndOfMibView)
    }
}
