//! Assets: servers and other equipment, with their lifecycle.

use chrono::NaiveDate;

use crate::id::{AssetId, CustomerId, RackId, SiteId};
use crate::time::{Interval, Timestamp};

/// What kind of equipment an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// A server.
    Server,
    /// Storage equipment.
    Storage,
    /// Network equipment.
    Network,
    /// Anything else.
    Other,
}

impl AssetKind {
    /// Parses the inventory spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "server" => Self::Server,
            "storage" => Self::Storage,
            "network" => Self::Network,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

/// Lifecycle state. Billing follows it: a planned asset bills nothing, a retired one stops at the
/// instant it was retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetStatus {
    /// Not yet in service.
    Planned,
    /// In service since the given instant (or since forever when unknown).
    Active {
        /// When it went into service.
        since: Option<Timestamp>,
    },
    /// Out of service from `at` on.
    Retired {
        /// When it went into service.
        since: Option<Timestamp>,
        /// When it was retired.
        at: Timestamp,
    },
}

/// A piece of equipment. Services may assign an asset directly, and outlets and ports may name
/// the asset they serve; either way the asset's life bounds what is billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The asset's ID.
    pub id: AssetId,
    /// Kind of equipment.
    pub kind: AssetKind,
    /// Serial number.
    pub serial: Option<String>,
    /// Make and model.
    pub model: Option<String>,
    /// Last day of warranty.
    pub warranty_end: Option<NaiveDate>,
    /// The rack it is mounted in.
    pub rack: Option<RackId>,
    /// The site, for an asset not in a rack.
    pub site: Option<SiteId>,
    /// The customer who owns or rents it (used by reconciliation).
    pub customer: Option<CustomerId>,
    /// Lifecycle state.
    pub status: AssetStatus,
}

impl Asset {
    /// The interval in which the asset is in service (and so may be billed); `None` if planned.
    pub fn life(&self) -> Option<Interval> {
        match self.status {
            AssetStatus::Planned => None,
            AssetStatus::Active { since } => Some(Interval { from: since.unwrap_or(Timestamp::MIN), to: None }),
            AssetStatus::Retired { since, at } => Interval::new(since.unwrap_or(Timestamp::MIN), Some(at)).ok(),
        }
    }
}

impl serde::Serialize for Asset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("kind", &self.kind)?;
        if let Some(v) = &self.serial {
            m.serialize_entry("serial", v)?;
        }
        if let Some(v) = &self.model {
            m.serialize_entry("model", v)?;
        }
        if let Some(v) = &self.warranty_end {
            m.serialize_entry("warranty_end", &v.to_string())?;
        }
        if let Some(v) = &self.rack {
            m.serialize_entry("rack", v)?;
        }
        if let Some(v) = &self.site {
            m.serialize_entry("site", v)?;
        }
        if let Some(v) = &self.customer {
            m.serialize_entry("customer", v)?;
        }
        let (status, since, retired) = match self.status {
            AssetStatus::Planned => ("planned", None, None),
            AssetStatus::Active { since } => ("active", since, None),
            AssetStatus::Retired { since, at } => ("retired", since, Some(at)),
        };
        m.serialize_entry("status", status)?;
        if let Some(v) = since {
            m.serialize_entry("active_from", &v)?;
        }
        if let Some(v) = retired {
            m.serialize_entry("retired_at", &v)?;
        }
        m.end()
    }
}
