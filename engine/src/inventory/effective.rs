//! What a service actually bills: each assignment clipped by the service's end and by the life of
//! the asset behind the resource. This is how an asset and its billable service stay one record:
//! retire the asset and every outlet, port or asset assignment serving it stops at that instant.

use crate::domain::{Asset, Assignment, ResourceRef, Service};
use crate::time::{Interval, Timestamp};

use super::Inventory;

impl Inventory {
    /// The asset a resource serves: the asset itself, or the asset named by a declared outlet or
    /// port. Racks serve no single asset.
    pub fn asset_behind(&self, r: &ResourceRef) -> Option<&Asset> {
        let id = match r {
            ResourceRef::Asset(id) => Some(id),
            ResourceRef::Outlet(o) => self
                .pdus
                .get(&o.pdu)
                .and_then(|p| p.outlets.iter().find(|d| d.index == o.index))
                .and_then(|d| d.asset.as_ref()),
            ResourceRef::Port(p) => self
                .switches
                .get(&p.switch)
                .and_then(|s| s.ports.iter().find(|d| d.name == p.name))
                .and_then(|d| d.asset.as_ref()),
            ResourceRef::Rack(_) => None,
        }?;
        self.assets.get(id)
    }

    /// The part of an assignment that bills: within the service's life and the asset's life.
    pub fn effective_interval(&self, service: &Service, a: &Assignment) -> Option<Interval> {
        let mut iv = a.interval;
        if let Some(end) = service.end {
            iv = iv.intersect(&Interval { from: Timestamp::MIN, to: Some(end) })?;
        }
        if let Some(asset) = self.asset_behind(&a.resource) {
            iv = iv.intersect(&asset.life()?)?;
        }
        Some(iv)
    }

    /// Every billing assignment of a service, clipped (see [`Inventory::effective_interval`]).
    pub fn effective_assignments(&self, service: &Service) -> Vec<(ResourceRef, Interval)> {
        service
            .resources
            .iter()
            .filter_map(|a| Some((a.resource.clone(), self.effective_interval(service, a)?)))
            .collect()
    }

    /// The service billing a resource at `t`, if any.
    pub fn service_billing(&self, r: &ResourceRef, t: Timestamp) -> Option<&Service> {
        self.services.values().find(|s| {
            s.resources
                .iter()
                .any(|a| &a.resource == r && self.effective_interval(s, a).is_some_and(|iv| iv.contains(t)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetKind, AssetStatus};
    use crate::id::{AssetId, CustomerId, OutletId, RatePlanId, ServiceId};

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn retiring_an_asset_stops_its_outlet_billing_at_that_instant() {
        let mut inv = Inventory::default();
        let asset = AssetId::new("srv-01").unwrap();
        inv.assets.insert(
            asset.clone(),
            Asset {
                id: asset.clone(),
                kind: AssetKind::Server,
                serial: None,
                model: None,
                warranty_end: None,
                rack: None,
                site: None,
                customer: None,
                status: AssetStatus::Retired { since: None, at: ts("2026-10-20T08:30:00Z") },
            },
        );
        let outlet = OutletId::parse("pdu-1/3").unwrap();
        inv.pdus.insert(
            outlet.pdu.clone(),
            crate::domain::Pdu {
                id: outlet.pdu.clone(),
                rack: None,
                site: None,
                snmp: None,
                interval: None,
                outlets: vec![crate::domain::OutletDecl { index: 3, name: None, asset: Some(asset) }],
            },
        );
        let svc = Service {
            id: ServiceId::new("svc").unwrap(),
            customer: CustomerId::new("c").unwrap(),
            plan: RatePlanId::new("p").unwrap(),
            end: None,
            resources: vec![Assignment {
                resource: ResourceRef::Outlet(outlet.clone()),
                interval: Interval::new(ts("2026-10-01T00:00:00Z"), None).unwrap(),
            }],
        };
        inv.services.insert(svc.id.clone(), svc.clone());
        assert_eq!(
            inv.effective_assignments(&svc),
            vec![(
                ResourceRef::Outlet(outlet.clone()),
                Interval::closed(ts("2026-10-01T00:00:00Z"), ts("2026-10-20T08:30:00Z")).unwrap()
            )]
        );
        let r = ResourceRef::Outlet(outlet);
        assert!(inv.service_billing(&r, ts("2026-10-20T08:29:59Z")).is_some());
        assert!(inv.service_billing(&r, ts("2026-10-20T08:30:00Z")).is_none());
    }
}
