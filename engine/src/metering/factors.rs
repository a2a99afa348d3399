//! PUE and grid intensity per site, gathered once per computation: every outlet-hour of usage and
//! rating looks them up (metering.md §5, §6).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::carbon::{self, Factors};
use crate::id::{OutletId, SiteId};
use crate::inventory::Inventory;
use crate::time::{Interval, Timestamp};

/// One site's PUE and its region's intensity series, sorted by start (validation keeps each
/// series free of overlaps).
pub(crate) struct SiteFactors {
    pue: Vec<(Interval, Decimal)>,
    default_pue: Decimal,
    intensity: Vec<(Interval, Decimal)>,
}

/// Where an outlet is: in a rack (which may move), or at a site.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// Its PDU's rack.
    Rack(&'a crate::domain::Rack),
    /// Its PDU's site, if any.
    Site(Option<&'a SiteId>),
}

impl<'a> Place<'a> {
    /// The site at `t`.
    pub fn site_at(self, t: Timestamp) -> Option<&'a SiteId> {
        match self {
            Place::Rack(r) => r.site_at(t),
            Place::Site(s) => s,
        }
    }
}

/// Per-site factors, gathered once per usage or rating computation (every outlet-hour looks them up).
pub struct Factorbook<'a> {
    inv: &'a Inventory,
    sites: BTreeMap<SiteId, SiteFactors>,
}

impl<'a> Factorbook<'a> {
    /// Gathers every site's PUE series and its region's intensity series.
    pub fn new(inv: &'a Inventory) -> Self {
        let sites = inv
            .sites
            .values()
            .map(|site| {
                let mut pue: Vec<(Interval, Decimal)> =
                    inv.site_pue.values().filter(|v| v.site == site.id).map(|v| (v.interval, v.pue)).collect();
                let mut intensity: Vec<(Interval, Decimal)> = inv
                    .grid_intensity
                    .values()
                    .filter(|v| Some(&v.region) == site.grid_region.as_ref())
                    .map(|v| (v.interval, v.g_per_kwh))
                    .collect();
                pue.sort_by_key(|(iv, _)| iv.from);
                intensity.sort_by_key(|(iv, _)| iv.from);
                (site.id.clone(), SiteFactors { pue, default_pue: site.pue, intensity })
            })
            .collect();
        Self { inv, sites }
    }

    /// The site an outlet stood in at `t`: its PDU's rack's site then (racks move), else the
    /// PDU's own site.
    pub fn site_of_outlet(&self, outlet: &OutletId, t: Timestamp) -> Option<SiteId> {
        self.place(outlet).site_at(t).cloned()
    }

    /// Where an outlet is, looked up once for many hours.
    pub fn place(&self, outlet: &OutletId) -> Place<'a> {
        match self.inv.pdus.get(&outlet.pdu) {
            Some(pdu) => match pdu.rack.as_ref().and_then(|r| self.inv.racks.get(r)) {
                Some(rack) => Place::Rack(rack),
                None => Place::Site(pdu.site.as_ref()),
            },
            None => Place::Site(None),
        }
    }

    /// PUE and intensity for `hour` at `site` (PUE 1 and intensity 0, flagged, for no site).
    /// An hour without an intensity value uses the region's last value before it, else its first.
    pub fn factors(&self, site: Option<&SiteId>, hour: Timestamp) -> Factors {
        let Some(f) = site.and_then(|s| self.sites.get(s)) else {
            return Factors { pue: Decimal::ONE, g_per_kwh: Decimal::ZERO, defaulted: true };
        };
        // The region's default: its last value ending by this hour, else its first value.
        let ended = f.intensity.partition_point(|(iv, _)| iv.end() <= hour);
        let default = f.intensity[..ended].last().or_else(|| f.intensity.first()).map_or(Decimal::ZERO, |(_, g)| *g);
        carbon::factors_at(&f.pue, f.default_pue, &f.intensity, default, hour)
    }
}
