//! Racks, and where they stood when.

use rust_decimal::Decimal;

use crate::id::{CustomerId, RackId, SiteId};
use crate::time::{Interval, Timestamp};

/// A rack. `site` is where it stands now; `locations`, when given, is its history as
/// `[from, to)` intervals, so a moved rack bills at its new site from the instant of the move.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rack {
    /// The rack's ID.
    pub id: RackId,
    /// The site the rack stands in now.
    pub site: SiteId,
    /// Contracted power budget of the rack, kW (> 0).
    pub power_budget_kw: Decimal,
    /// The customer the rack is dedicated to, if any (used by reconciliation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// Past and present locations; empty means "always at `site`".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<RackLocation>,
}

/// One stay of a rack at a site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RackLocation {
    /// The site.
    pub site: SiteId,
    /// When the rack stood there.
    #[serde(flatten)]
    pub interval: Interval,
}

impl Rack {
    /// The site the rack stood in at `t`: `None` only when a location history exists and no
    /// entry of it covers `t`.
    pub fn site_at(&self, t: Timestamp) -> Option<&SiteId> {
        if self.locations.is_empty() {
            return Some(&self.site);
        }
        self.locations.iter().find(|l| l.interval.contains(t)).map(|l| &l.site)
    }
}
