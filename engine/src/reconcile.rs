//! Reconciliation: where the inventory and billing disagree, as of an instant.
//!
//! - an active service with no resource billing at that instant;
//! - a resource that belongs to a customer (a dedicated rack, a customer's asset, or an outlet or
//!   port serving one) with no active service of that customer billing it: unbilled usage;
//! - such a resource billed to another customer's service;
//! - a device or asset with neither rack nor site.

use crate::domain::ResourceRef;
use crate::id::{CustomerId, OutletId, PortId};
use crate::inventory::Inventory;
use crate::time::Timestamp;

/// What kind of disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// An active service bills no resource.
    ServiceWithoutResources,
    /// A customer's resource is billed by no active service.
    ResourceWithoutService,
    /// A customer's resource is billed to another customer.
    ResourceBilledToOtherCustomer,
    /// A device or asset has neither rack nor site.
    DeviceWithoutLocation,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Which check found it.
    pub check: Check,
    /// What it is about (`service svc-1`, `outlet pdu-101a/3`).
    pub subject: String,
    /// The customer concerned, if any.
    pub customer: Option<CustomerId>,
    /// Explanation.
    pub detail: String,
}

/// Runs every check as of `now`.
pub fn reconcile(inv: &Inventory, now: Timestamp) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in inv.services.values().filter(|s| s.is_active_at(now)) {
        let billing_now = inv.effective_assignments(s).iter().any(|(_, iv)| iv.contains(now));
        if !billing_now {
            out.push(Finding {
                check: Check::ServiceWithoutResources,
                subject: format!("service {}", s.id),
                customer: Some(s.customer.clone()),
                detail: format!("active, but no resource is assigned to it at {now}"),
            });
        }
    }
    let mut owned: Vec<(ResourceRef, CustomerId, String)> = Vec::new();
    for r in inv.racks.values() {
        if let Some(c) = &r.customer {
            owned.push((ResourceRef::Rack(r.id.clone()), c.clone(), "dedicated rack".into()));
        }
    }
    let live_owner = |asset: &Option<crate::id::AssetId>| {
        let a = inv.assets.get(asset.as_ref()?)?;
        a.life().filter(|l| l.contains(now))?;
        Some((a.id.clone(), a.customer.clone()?))
    };
    for p in inv.pdus.values() {
        for o in &p.outlets {
            if let Some((asset, c)) = live_owner(&o.asset) {
                let id = OutletId { pdu: p.id.clone(), index: o.index };
                owned.push((ResourceRef::Outlet(id), c, format!("feeds {asset}")));
            }
        }
    }
    for s in inv.switches.values() {
        for pt in &s.ports {
            if let Some((asset, c)) = live_owner(&pt.asset) {
                let id = PortId { switch: s.id.clone(), name: pt.name.clone() };
                owned.push((ResourceRef::Port(id), c, format!("serves {asset}")));
            }
        }
    }
    for (r, c, why) in owned {
        match inv.service_billing(&r, now) {
            None => out.push(Finding {
                check: Check::ResourceWithoutService,
                subject: r.to_string(),
                customer: Some(c.clone()),
                detail: format!("{why} of customer {c}, but no active service bills it at {now}"),
            }),
            Some(s) if s.customer != c => out.push(Finding {
                check: Check::ResourceBilledToOtherCustomer,
                subject: r.to_string(),
                customer: Some(c.clone()),
                detail: format!("{why} of customer {c}, but billed to service {} of customer {}", s.id, s.customer),
            }),
            Some(_) => {}
        }
    }
    for a in inv.assets.values().filter(|a| a.life().is_some_and(|l| l.contains(now))) {
        let Some(c) = &a.customer else { continue };
        let direct = inv.service_billing(&ResourceRef::Asset(a.id.clone()), now);
        let via_rack = a.rack.as_ref().and_then(|r| inv.service_billing(&ResourceRef::Rack(r.clone()), now));
        if !direct.into_iter().chain(via_rack).any(|s| &s.customer == c) {
            out.push(Finding {
                check: Check::ResourceWithoutService,
                subject: format!("asset {}", a.id),
                customer: Some(c.clone()),
                detail: format!(
                    "in service for customer {c}, but neither it nor its rack is billed to that customer at {now}"
                ),
            });
        }
    }
    let unplaced = inv
        .pdus
        .values()
        .filter(|p| p.rack.is_none() && p.site.is_none())
        .map(|p| format!("pdu {}", p.id))
        .chain(
            inv.switches.values().filter(|s| s.rack.is_none() && s.site.is_none()).map(|s| format!("switch {}", s.id)),
        )
        .chain(inv.assets.values().filter(|a| a.rack.is_none() && a.site.is_none()).map(|a| format!("asset {}", a.id)));
    for subject in unplaced {
        out.push(Finding {
            check: Check::DeviceWithoutLocation,
            subject,
            customer: None,
            detail: "has neither rack nor site".into(),
        });
    }
    out.sort_by(|a, b| (a.check, &a.subject).cmp(&(b.check, &b.subject)));
    out
}
