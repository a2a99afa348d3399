//! Remote-hands tickets.

use crate::id::{AssetId, CustomerId, RackId, ServiceId, TicketId};
use crate::time::Interval;

/// A remote-hands job: billed under the remote-hands charge of the service's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The ticket's ID.
    pub id: TicketId,
    /// The customer who asked for it.
    pub customer: CustomerId,
    /// The service whose plan prices it.
    pub service: ServiceId,
    /// The rack the work was done at.
    pub rack: Option<RackId>,
    /// The asset the work was done on.
    pub asset: Option<AssetId>,
    /// When the work started and ended.
    pub work: Interval,
    /// What was done.
    pub description: String,
}

impl serde::Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("customer", &self.customer)?;
        m.serialize_entry("service", &self.service)?;
        if let Some(v) = &self.rack {
            m.serialize_entry("rack", v)?;
        }
        if let Some(v) = &self.asset {
            m.serialize_entry("asset", v)?;
        }
        m.serialize_entry("from", &self.work.from)?;
        m.serialize_entry("to", &self.work.to)?;
        m.serialize_entry("description", &self.description)?;
        m.end()
    }
}
