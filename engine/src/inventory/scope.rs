//! What of the inventory one customer may see, and which resources are billed to it where.
//!
//! A customer sees itself, its services and their rate plans, its tickets, the racks and assets
//! it is billed for or that are dedicated to it, and the sites these stand in. It never sees
//! PDUs or switches (plant, with SNMP credentials) nor anything of another customer.

use std::collections::HashSet;

use serde::Serialize;

use super::{Inventory, Kind, ObjectKey};
use crate::domain::ResourceRef;
use crate::id::{AssetId, CustomerId, RackId, ServiceId, SiteId};
use crate::time::Timestamp;

/// The keys of every object `customer` may see.
pub fn visible_to(inv: &Inventory, customer: &CustomerId) -> HashSet<ObjectKey> {
    let key = |kind: Kind, id: &str| ObjectKey { kind, id: id.to_owned() };
    let mut out = HashSet::new();
    if inv.customers.contains_key(customer) {
        out.insert(key(Kind::Customer, customer.as_str()));
    }
    let mut racks: HashSet<RackId> =
        inv.racks.values().filter(|r| r.customer.as_ref() == Some(customer)).map(|r| r.id.clone()).collect();
    let mut assets: HashSet<AssetId> =
        inv.assets.values().filter(|a| a.customer.as_ref() == Some(customer)).map(|a| a.id.clone()).collect();
    for s in inv.services.values().filter(|s| &s.customer == customer) {
        out.insert(key(Kind::Service, s.id.as_str()));
        out.insert(key(Kind::RatePlan, s.plan.as_str()));
        for a in &s.resources {
            match &a.resource {
                ResourceRef::Rack(r) => drop(racks.insert(r.clone())),
                ResourceRef::Asset(x) => drop(assets.insert(x.clone())),
                ResourceRef::Outlet(_) | ResourceRef::Port(_) => {}
            }
        }
    }
    for t in inv.tickets.values().filter(|t| &t.customer == customer) {
        out.insert(key(Kind::Ticket, t.id.as_str()));
    }
    let mut sites: HashSet<SiteId> = HashSet::new();
    for r in racks.iter().filter_map(|r| inv.racks.get(r)) {
        sites.insert(r.site.clone());
        sites.extend(r.locations.iter().map(|l| l.site.clone()));
        out.insert(key(Kind::Rack, r.id.as_str()));
    }
    for a in assets.iter().filter_map(|a| inv.assets.get(a)) {
        sites.extend(a.site.clone());
        sites.extend(a.rack.as_ref().and_then(|r| inv.racks.get(r)).map(|r| r.site.clone()));
        out.insert(key(Kind::Asset, a.id.as_str()));
    }
    out.extend(sites.iter().map(|s| key(Kind::Site, s.as_str())));
    out
}

/// One resource billed to a customer, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BilledResource {
    /// The service it is assigned to.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub service: ServiceId,
    /// `rack`, `outlet`, `port` or `asset`.
    pub kind: &'static str,
    /// The resource's key (`pdu-101a/1`, `sw-core1/Gi1/0/1`).
    pub resource: String,
    /// The declared name of an outlet, the port name of a port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A port's declared speed, Mbps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u64>,
    /// The rack it is in (an outlet's PDU's rack, a switch's rack, an asset's rack).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rack: Option<RackId>,
    /// The site it is in now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub site: Option<SiteId>,
    /// The asset an outlet powers or a port connects.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub asset: Option<AssetId>,
    /// Assigned from (inclusive).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Timestamp,
    /// Assigned until (exclusive); `null` while open.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub to: Option<Timestamp>,
}

/// Every assignment of the customer's services, in service then document order.
pub fn billed_resources(inv: &Inventory, customer: &CustomerId) -> Vec<BilledResource> {
    let rack_site = |r: &RackId| inv.racks.get(r).map(|r| r.site.clone());
    let mut out = Vec::new();
    for s in inv.services.values().filter(|s| &s.customer == customer) {
        for a in &s.resources {
            let mut b = BilledResource {
                service: s.id.clone(),
                kind: a.resource.kind(),
                resource: a.resource.key(),
                name: None,
                speed_mbps: None,
                rack: None,
                site: None,
                asset: None,
                from: a.interval.from,
                to: a.interval.to,
            };
            match &a.resource {
                ResourceRef::Rack(r) => b.site = rack_site(r),
                ResourceRef::Asset(x) => {
                    let asset = inv.assets.get(x);
                    b.rack = asset.and_then(|a| a.rack.clone());
                    b.site = asset.and_then(|a| a.site.clone()).or_else(|| b.rack.as_ref().and_then(rack_site));
                }
                ResourceRef::Outlet(o) => {
                    let pdu = inv.pdus.get(&o.pdu);
                    let decl = pdu.and_then(|p| p.outlets.iter().find(|d| d.index == o.index));
                    b.name = decl.and_then(|d| d.name.clone());
                    b.asset = decl.and_then(|d| d.asset.clone());
                    b.rack = pdu.and_then(|p| p.rack.clone());
                    b.site = pdu.and_then(|p| p.site.clone()).or_else(|| b.rack.as_ref().and_then(rack_site));
                }
                ResourceRef::Port(p) => {
                    let switch = inv.switches.get(&p.switch);
                    let decl = switch.and_then(|s| s.ports.iter().find(|d| d.name == p.name));
                    b.name = Some(p.name.to_string());
                    b.speed_mbps = decl.and_then(|d| d.speed_mbps);
                    b.asset = decl.and_then(|d| d.asset.clone());
                    b.rack = switch.and_then(|s| s.rack.clone());
                    b.site = switch.and_then(|s| s.site.clone()).or_else(|| b.rack.as_ref().and_then(rack_site));
                }
            }
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::document::{read, tests::EXAMPLE};
    use crate::inventory::import::plan;
    use crate::inventory::source::parse_yaml;

    fn example() -> Inventory {
        plan(&Inventory::default(), read(&parse_yaml(EXAMPLE).unwrap())).unwrap().result
    }

    #[test]
    fn a_customer_sees_its_own_objects_only() {
        let inv = example();
        let mut seen: Vec<String> = visible_to(&inv, &CustomerId::new("acme").unwrap())
            .into_iter()
            .map(|k| format!("{}/{}", k.kind.section(), k.id))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            ["customers/acme", "racks/ams1-r101", "rate_plans/colo-std", "services/svc-acme-1", "sites/ams1"]
        );
        assert!(visible_to(&inv, &CustomerId::new("globex").unwrap()).is_empty());
    }

    #[test]
    fn billed_resources_say_where() {
        let inv = example();
        let got = billed_resources(&inv, &CustomerId::new("acme").unwrap());
        let summary: Vec<String> = got
            .iter()
            .map(|b| {
                let opt = |o: Option<&str>| o.unwrap_or("-").to_owned();
                let rack = b.rack.as_ref().map(|r| r.as_str());
                let site = b.site.as_ref().map(|s| s.as_str());
                format!("{} {} {} {} {}", b.kind, b.resource, opt(b.name.as_deref()), opt(rack), opt(site))
            })
            .collect();
        assert_eq!(
            summary,
            [
                "rack ams1-r101 - - ams1",
                "outlet pdu-101a/1 srv-01-psu-a ams1-r101 ams1",
                "port sw-core1/Gi1/0/1 Gi1/0/1 - ams1",
            ]
        );
        assert_eq!(got[1].to, Some(Timestamp::parse("2026-10-15T12:00:00Z").unwrap()));
        assert_eq!(got[2].speed_mbps, Some(1000));
    }
}
