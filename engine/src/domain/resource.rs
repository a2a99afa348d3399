//! What a service can be assigned: racks, outlets, ports and assets.

use std::fmt;

use crate::id::{AssetId, OutletId, PortId, RackId};

/// A billable resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceRef {
    /// A rack (rack rent, committed power).
    Rack(RackId),
    /// A PDU outlet (energy).
    Outlet(OutletId),
    /// A switch port (bandwidth).
    Port(PortId),
    /// An asset (equipment rented or hosted).
    Asset(AssetId),
}

impl ResourceRef {
    /// `rack`, `outlet`, `port` or `asset`: the inventory field name and the API `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            ResourceRef::Rack(_) => "rack",
            ResourceRef::Outlet(_) => "outlet",
            ResourceRef::Port(_) => "port",
            ResourceRef::Asset(_) => "asset",
        }
    }

    /// The resource's key as written in the inventory (`pdu-101a/1`, `sw-core1/Gi1/0/1`).
    pub fn key(&self) -> String {
        match self {
            ResourceRef::Rack(id) => id.to_string(),
            ResourceRef::Outlet(id) => id.to_string(),
            ResourceRef::Port(id) => id.to_string(),
            ResourceRef::Asset(id) => id.to_string(),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.key())
    }
}
