//! Typed identifiers. Every ID in the domain comes from [`typed_id!`], so a `RackId` can never be
//! passed where a `CustomerId` is expected, and every ID is validated once, at construction.

use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("must not be empty")]
    Empty,
    /// The string is longer than [`MAX_ID_LEN`] bytes.
    #[error("is {len} characters long; at most {MAX_ID_LEN} are allowed")]
    TooLong {
        /// The length found.
        len: usize,
    },
    /// The string holds a character outside `A-Z a-z 0-9 . _ : -`.
    #[error("contains {found:?}; only letters, digits and . _ : - are allowed")]
    BadChar {
        /// The first offending character.
        found: char,
    },
}

/// The longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Checks the identifier alphabet shared by every typed ID.
///
/// `/` is deliberately excluded: resource keys such as `pdu-101a/1` and `sw-core1/Gi1/0/1` split
/// at the first `/` into a device ID and the rest.
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { len: s.len() });
    }
    match s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))) {
        Some(found) => Err(IdError::BadChar { found }),
        None => Ok(()),
    }
}

/// Declares a typed identifier: string-backed and validated (`typed_id!(RackId)`), or an integer
/// (`typed_id!(int SeriesId: u32)`: dense IDs, sequence and file numbers) that cannot be mixed
/// up with another integer or used in arithmetic by accident.
#[macro_export]
macro_rules! typed_id {
    (int $(#[$meta:meta])* $name:ident: $t:ty) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $t);

        impl $name {
            /// The number.
            pub const fn get(self) -> $t {
                self.0
            }

            /// The number after this one.
            pub const fn next(self) -> Self {
                Self(self.0.saturating_add(1))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }
    };
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates an identifier.
            pub fn new(s: impl Into<String>) -> Result<Self, $crate::id::IdError> {
                let s = s.into();
                $crate::id::check_id(&s)?;
                Ok(Self(s))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::id::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::string(None, "An identifier: 1 to 64 of A-Z a-z 0-9 . _ : -")
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                $crate::openapi::id_name(stringify!($name))
            }
        }
    };
}

typed_id!(
    /// A data-centre site (`ams1`).
    SiteId
);
typed_id!(
    /// A rack (`ams1-r101`).
    RackId
);
typed_id!(
    /// A power distribution unit (`pdu-101a`).
    PduId
);
typed_id!(
    /// A switch (`sw-core1`).
    SwitchId
);
typed_id!(
    /// A piece of equipment: server, storage, network gear.
    AssetId
);
typed_id!(
    /// A customer of the operator (`acme`).
    CustomerId
);
typed_id!(
    /// A rate plan (`colo-std`).
    RatePlanId
);
typed_id!(
    /// A billable service (`svc-acme-1`).
    ServiceId
);
typed_id!(
    /// A remote-hands ticket.
    TicketId
);
typed_id!(
    /// A grid region for carbon intensity (`NL`).
    GridRegion
);
typed_id!(
    /// An API token's public identifier (never the secret).
    TokenId
);
typed_id!(
    /// An invoice (`acme.2026-10`).
    InvoiceId
);
typed_id!(
    /// A credit note (`cn-2026-000001`).
    CreditNoteId
);
typed_id!(
    /// A recorded payment.
    PaymentId
);
typed_id!(
    /// A billing run (`run-2026-10-3`).
    BillingRunId
);

/// A PDU outlet: the PDU and the outlet's 1-based index, written `pdu-101a/1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutletId {
    /// The PDU the outlet belongs to.
    pub pdu: PduId,
    /// The outlet's index on the PDU (as the device numbers it, from 1).
    pub index: u32,
}

/// A switch port: the switch and the port's `ifName`, written `sw-core1/Gi1/0/1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId {
    /// The switch the port belongs to.
    pub switch: SwitchId,
    /// The port's `ifName`; it may itself contain `/`.
    pub name: PortName,
}

/// A port's `ifName`: non-empty, at most 128 bytes, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PortName(String);

/// Why a resource key (`PDU/INDEX`, `SWITCH/IFNAME`) or a port name is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceKeyError {
    /// No `/` separates the device from the rest.
    #[error("expected DEVICE/{1}, found {0:?}")]
    MissingSlash(String, &'static str),
    /// The device part is not a valid ID.
    #[error("device {0:?} {1}")]
    Device(String, IdError),
    /// The outlet index is not a positive integer.
    #[error("outlet index {0:?} is not a positive integer")]
    OutletIndex(String),
    /// The port name is empty, too long or has control characters.
    #[error("port name {0:?} must be 1 to 128 characters without control characters")]
    PortName(String),
}

impl PortName {
    /// Validates a port name.
    pub fn new(s: impl Into<String>) -> Result<Self, ResourceKeyError> {
        let s = s.into();
        if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
            return Err(ResourceKeyError::PortName(s));
        }
        Ok(Self(s))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl OutletId {
    /// Parses `PDU/INDEX`.
    pub fn parse(s: &str) -> Result<Self, ResourceKeyError> {
        let (dev, idx) = s.split_once('/').ok_or_else(|| ResourceKeyError::MissingSlash(s.to_owned(), "INDEX"))?;
        let pdu = PduId::new(dev).map_err(|e| ResourceKeyError::Device(dev.to_owned(), e))?;
        let index =
            idx.parse::<u32>().ok().filter(|i| *i > 0).ok_or_else(|| ResourceKeyError::OutletIndex(idx.to_owned()))?;
        Ok(Self { pdu, index })
    }
}

impl fmt::Display for OutletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pdu, self.index)
    }
}

impl PortId {
    /// Parses `SWITCH/IFNAME`, splitting at the first `/` (ifNames contain slashes).
    pub fn parse(s: &str) -> Result<Self, ResourceKeyError> {
        let (dev, name) = s.split_once('/').ok_or_else(|| ResourceKeyError::MissingSlash(s.to_owned(), "IFNAME"))?;
        let switch = SwitchId::new(dev).map_err(|e| ResourceKeyError::Device(dev.to_owned(), e))?;
        Ok(Self { switch, name: PortName::new(name)? })
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.switch, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_bad_text() {
        assert_eq!(SiteId::new(""), Err(IdError::Empty));
        assert_eq!(SiteId::new("a b"), Err(IdError::BadChar { found: ' ' }));
        assert_eq!(SiteId::new("a/b"), Err(IdError::BadChar { found: '/' }));
        assert_eq!(SiteId::new("x".repeat(65)), Err(IdError::TooLong { len: 65 }));
        assert_eq!(SiteId::new("ams1-r1.x_y:z").map(|s| s.to_string()).as_deref(), Ok("ams1-r1.x_y:z"));
    }

    #[test]
    fn resource_keys_split_at_first_slash() {
        let p = PortId::parse("sw-core1/Gi1/0/1").unwrap();
        assert_eq!(p.switch.as_str(), "sw-core1");
        assert_eq!(p.name.as_str(), "Gi1/0/1");
        assert_eq!(p.to_string(), "sw-core1/Gi1/0/1");
        let o = OutletId::parse("pdu-101a/12").unwrap();
        assert_eq!((o.pdu.as_str(), o.index), ("pdu-101a", 12));
        assert!(matches!(OutletId::parse("pdu/0"), Err(ResourceKeyError::OutletIndex(_))));
        assert!(matches!(OutletId::parse("pdu"), Err(ResourceKeyError::MissingSlash(..))));
        assert!(matches!(PortId::parse("sw/"), Err(ResourceKeyError::PortName(_))));
    }
}
