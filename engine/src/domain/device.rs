//! Polled devices: PDUs with outlets and switches with ports, and how to reach them over SNMP.

use std::fmt;
use std::time::Duration;

use crate::id::{AssetId, PduId, PortName, RackId, SiteId, SwitchId};

/// A power distribution unit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pdu {
    /// The PDU's ID.
    pub id: PduId,
    /// The rack it is mounted in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackId>,
    /// The site, for a PDU not (yet) in a rack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    /// How to poll it; `None` means it only receives pushed readings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpTarget>,
    /// Poll interval; `None` means the configured default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<PollInterval>,
    /// Declared outlets (others are discovered when `snmp` is set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outlets: Vec<OutletDecl>,
}

/// A declared outlet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutletDecl {
    /// 1-based index as the PDU numbers it.
    pub index: u32,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The asset the outlet feeds: its billing stops when the asset is retired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetId>,
}

/// A switch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Switch {
    /// The switch's ID.
    pub id: SwitchId,
    /// The site it stands in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    /// The rack it is mounted in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rack: Option<RackId>,
    /// How to poll it; `None` means it only receives pushed readings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpTarget>,
    /// Poll interval; `None` means the configured default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<PollInterval>,
    /// Declared ports (others are discovered when `snmp` is set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortDecl>,
}

/// A declared port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortDecl {
    /// The port's `ifName`.
    pub name: PortName,
    /// Contract speed in Mbps; overrides `ifHighSpeed` for plausibility checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u64>,
    /// The aggregate (LAG) this port is a member of; a LAG and its members are never both billed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<PortName>,
    /// The asset the port serves: its billing stops when the asset is retired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetId>,
}

/// A poll interval between 1 s and 1 h, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PollInterval(u32);

/// Why a text is not a poll interval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollIntervalError {
    /// Not a duration such as `10s`, `1m`, `1h`.
    #[error("{0:?} is not a duration such as 10s, 1m or 1h")]
    Syntax(String),
    /// Not a whole number of seconds between 1 s and 1 h.
    #[error("{0:?} must be a whole number of seconds from 1s to 1h")]
    Range(String),
}

impl PollInterval {
    /// Parses `10s`, `1m`, `1h` and the like.
    pub fn parse(s: &str) -> Result<Self, PollIntervalError> {
        let d = humantime::parse_duration(s).map_err(|_| PollIntervalError::Syntax(s.to_owned()))?;
        Self::from_duration(d).ok_or_else(|| PollIntervalError::Range(s.to_owned()))
    }

    /// From a duration, if it is whole seconds within 1 s..=1 h.
    pub fn from_duration(d: Duration) -> Option<Self> {
        if d.subsec_nanos() != 0 || !(1..=3600).contains(&d.as_secs()) {
            return None;
        }
        u32::try_from(d.as_secs()).ok().map(Self)
    }

    /// The interval in seconds.
    pub fn interval_s(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for PollInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl serde::Serialize for PollInterval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where and how to reach a device over SNMP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnmpTarget {
    /// Host name or address.
    pub host: String,
    /// UDP port (161 when not given).
    pub port: u16,
    /// Protocol version and credentials.
    #[serde(flatten)]
    pub version: SnmpVersion,
}

/// SNMP protocol version with its credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum SnmpVersion {
    /// SNMPv1 with a community string.
    V1 {
        /// Community string.
        community: String,
    },
    /// SNMPv2c with a community string.
    V2c {
        /// Community string.
        community: String,
    },
    /// SNMPv3 user-based security.
    V3 {
        /// USM user name.
        user: String,
        /// Authentication protocol, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        auth: Option<AuthProtocol>,
        /// Authentication pass phrase.
        #[serde(skip_serializing_if = "Option::is_none")]
        auth_key: Option<String>,
        /// Privacy protocol, if any (requires `auth`).
        #[serde(skip_serializing_if = "Option::is_none")]
        privacy: Option<PrivProtocol>,
        /// Privacy pass phrase.
        #[serde(skip_serializing_if = "Option::is_none")]
        priv_key: Option<String>,
    },
}

/// SNMPv3 authentication protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    /// HMAC-MD5-96 (legacy devices only).
    Md5,
    /// HMAC-SHA-96.
    Sha1,
    /// HMAC-SHA-224.
    Sha224,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

/// SNMPv3 privacy protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivProtocol {
    /// CBC-DES (legacy devices only).
    Des,
    /// CFB-AES-128.
    Aes128,
    /// CFB-AES-192.
    Aes192,
    /// CFB-AES-256.
    Aes256,
}

impl AuthProtocol {
    /// Parses the inventory spelling (`sha` is accepted for `sha1`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "md5" => Self::Md5,
            "sha" | "sha1" => Self::Sha1,
            "sha224" => Self::Sha224,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            _ => return None,
        })
    }
}

impl PrivProtocol {
    /// Parses the inventory spelling (`aes` is accepted for `aes128`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "des" => Self::Des,
            "aes" | "aes128" => Self::Aes128,
            "aes192" => Self::Aes192,
            "aes256" => Self::Aes256,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_intervals() {
        assert_eq!(PollInterval::parse("10s").unwrap().interval_s(), 10);
        assert_eq!(PollInterval::parse("1h").unwrap().interval_s(), 3600);
        assert!(matches!(PollInterval::parse("2h"), Err(PollIntervalError::Range(_))));
        assert!(matches!(PollInterval::parse("1500ms"), Err(PollIntervalError::Range(_))));
        assert!(matches!(PollInterval::parse("ten"), Err(PollIntervalError::Syntax(_))));
    }
}
