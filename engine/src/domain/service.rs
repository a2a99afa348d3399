//! Services: what a customer buys under a rate plan, and the resources assigned to it.

use crate::id::{CustomerId, OutletId, RatePlanId, ServiceId};
use crate::time::{Interval, Timestamp};

use super::resource::ResourceRef;

/// A billable service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service's ID.
    pub id: ServiceId,
    /// Who is billed.
    pub customer: CustomerId,
    /// Under which plan.
    pub plan: RatePlanId,
    /// When the service ends (exclusive); `None` while it runs. No assignment may run past it.
    pub end: Option<Timestamp>,
    /// Assigned resources.
    pub resources: Vec<Assignment>,
}

/// A resource assigned to a service for `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The resource.
    pub resource: ResourceRef,
    /// When it is assigned.
    pub interval: Interval,
}

impl Service {
    /// Whether the service is running at `t`.
    pub fn is_active_at(&self, t: Timestamp) -> bool {
        self.end.is_none_or(|end| t < end)
    }

    /// The outlets ever assigned to it (with repeats when assigned more than once).
    pub fn outlets(&self) -> impl Iterator<Item = &OutletId> {
        self.resources.iter().filter_map(|a| match &a.resource {
            ResourceRef::Outlet(o) => Some(o),
            _ => None,
        })
    }
}

impl serde::Serialize for Assignment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.resource.kind(), &self.resource.key())?;
        m.serialize_entry("from", &self.interval.from)?;
        if let Some(to) = self.interval.to {
            m.serialize_entry("to", &to)?;
        }
        m.end()
    }
}

impl serde::Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("customer", &self.customer)?;
        m.serialize_entry("plan", &self.plan)?;
        if let Some(end) = self.end {
            m.serialize_entry("end", &end)?;
        }
        m.serialize_entry("resources", &self.resources)?;
        m.end()
    }
}
