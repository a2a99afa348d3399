//! Whole-inventory rules: references resolve, nothing is assigned twice at one instant, currencies
//! agree, series do not overlap. Run on the document merged over the catalog, so a document is
//! checked against what is already stored; a problem is reported at the path of the first
//! document object involved (objects only in the catalog were valid when they were stored).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::{Charge, ResourceRef};
use crate::id::{PortId, PortName};
use crate::time::{Interval, overlapping_pairs};

use super::reader::{Problem, Problems};
use super::{Inventory, Kind, ObjectKey};

/// Checks `inv` as a whole. `paths` holds the document path of every object the document
/// supplied; `declared` the keys of document objects that failed to read (not reported again
/// as unknown references).
pub fn validate(inv: &Inventory, paths: &HashMap<ObjectKey, String>, declared: &HashSet<ObjectKey>) -> Problems {
    let mut c = Checker { inv, paths, declared, probs: Vec::new() };
    c.plant();
    c.assets();
    c.commercial();
    c.assignments();
    c.series();
    c.probs
}

/// A resource and one use of it: (service, position in its resources, interval).
type Use<'u> = (&'u ResourceRef, &'u (ObjectKey, usize, Interval));

struct Checker<'a> {
    inv: &'a Inventory,
    paths: &'a HashMap<ObjectKey, String>,
    declared: &'a HashSet<ObjectKey>,
    probs: Problems,
}

fn key(kind: Kind, id: impl ToString) -> ObjectKey {
    ObjectKey { kind, id: id.to_string() }
}

impl Checker<'_> {
    /// Reports `message` at the first document object among `blame` (`(object, field suffix)`).
    fn report(&mut self, blame: &[(ObjectKey, String)], message: String) {
        if let Some(path) = blame.iter().find_map(|(k, suffix)| self.paths.get(k).map(|p| format!("{p}{suffix}"))) {
            self.probs.push(Problem { path, message });
        }
    }

    fn exists(&self, k: &ObjectKey) -> bool {
        self.declared.contains(k) || self.inv.get(k).is_some()
    }

    /// Reports a reference from `owner` (at `suffix`) to a missing object.
    fn reference(&mut self, owner: &ObjectKey, suffix: &str, target: ObjectKey, what: &str) {
        if !self.exists(&target) {
            self.report(&[(owner.clone(), suffix.to_owned())], format!("unknown {what} '{}'", target.id));
        }
    }

    fn plant(&mut self) {
        let inv = self.inv;
        for r in inv.racks.values() {
            let k = key(Kind::Rack, &r.id);
            self.reference(&k, ".site", key(Kind::Site, &r.site), "site");
            if let Some(c) = &r.customer {
                self.reference(&k, ".customer", key(Kind::Customer, c), "customer");
            }
            for (i, l) in r.locations.iter().enumerate() {
                self.reference(&k, &format!(".locations[{i}].site"), key(Kind::Site, &l.site), "site");
            }
            let ivs: Vec<Interval> = r.locations.iter().map(|l| l.interval).collect();
            for (a, b) in overlapping_pairs(&ivs) {
                self.report(
                    &[(k.clone(), format!(".locations[{b}]"))],
                    format!("overlaps locations[{a}]: a rack stands in one place at a time"),
                );
            }
            if let Some(last) = r.locations.iter().max_by_key(|l| l.interval.from)
                && (last.interval.to.is_some() || last.site != r.site)
            {
                self.report(
                    &[(k.clone(), ".locations".into())],
                    format!("the latest location must be open-ended and at the rack's site '{}'", r.site),
                );
            }
        }
        for p in inv.pdus.values() {
            let k = key(Kind::Pdu, &p.id);
            self.placement(&k, p.rack.as_ref().map(|r| r.to_string()), p.site.as_ref().map(|s| s.to_string()));
            let mut seen = HashMap::new();
            for (i, o) in p.outlets.iter().enumerate() {
                if let Some(first) = seen.insert(o.index, i) {
                    self.report(
                        &[(k.clone(), format!(".outlets[{i}].index"))],
                        format!("outlet {} is declared twice (also outlets[{first}])", o.index),
                    );
                }
                if let Some(a) = &o.asset {
                    self.reference(&k, &format!(".outlets[{i}].asset"), key(Kind::Asset, a), "asset");
                }
            }
        }
        for s in inv.switches.values() {
            let k = key(Kind::Switch, &s.id);
            self.placement(&k, s.rack.as_ref().map(|r| r.to_string()), s.site.as_ref().map(|s| s.to_string()));
            let names: HashMap<&PortName, usize> = s.ports.iter().enumerate().map(|(i, p)| (&p.name, i)).collect();
            for (i, p) in s.ports.iter().enumerate() {
                if names.get(&p.name) != Some(&i) {
                    self.report(
                        &[(k.clone(), format!(".ports[{i}].name"))],
                        format!("port '{}' is declared twice", p.name),
                    );
                }
                if let Some(lag) = &p.lag {
                    match names.get(lag).map(|&j| &s.ports[j]) {
                        None => self.report(
                            &[(k.clone(), format!(".ports[{i}].lag"))],
                            format!("unknown LAG port '{lag}' (declare it in ports)"),
                        ),
                        Some(l) if l.lag.is_some() || l.name == p.name => self.report(
                            &[(k.clone(), format!(".ports[{i}].lag"))],
                            format!("'{lag}' cannot be a LAG: it is itself a member or this port"),
                        ),
                        Some(_) => {}
                    }
                }
                if let Some(a) = &p.asset {
                    self.reference(&k, &format!(".ports[{i}].asset"), key(Kind::Asset, a), "asset");
                }
            }
        }
    }

    /// A device's rack and site must exist and agree.
    fn placement(&mut self, k: &ObjectKey, rack: Option<String>, site: Option<String>) {
        if let Some(r) = &rack {
            self.reference(k, ".rack", key(Kind::Rack, r), "rack");
        }
        if let Some(s) = &site {
            self.reference(k, ".site", key(Kind::Site, s), "site");
        }
        if let (Some(r), Some(s)) = (&rack, &site)
            && let Some(rack) = self.inv.racks.iter().find(|(id, _)| id.as_str() == r).map(|(_, v)| v)
            && rack.site.as_str() != s
        {
            self.report(
                &[(k.clone(), ".site".into())],
                format!("rack '{r}' stands in site '{}', not '{s}'", rack.site),
            );
        }
    }

    fn assets(&mut self) {
        for a in self.inv.assets.values() {
            let k = key(Kind::Asset, &a.id);
            self.placement(&k, a.rack.as_ref().map(|r| r.to_string()), a.site.as_ref().map(|s| s.to_string()));
            if let Some(c) = &a.customer {
                self.reference(&k, ".customer", key(Kind::Customer, c), "customer");
            }
        }
    }

    fn commercial(&mut self) {
        let inv = self.inv;
        for p in inv.rate_plans.values() {
            let k = key(Kind::RatePlan, &p.id);
            let mut once: HashMap<&'static str, usize> = HashMap::new();
            for (i, c) in p.charges.iter().enumerate() {
                let unique =
                    !matches!(c, Charge::CrossConnect { .. } | Charge::Recurring { .. } | Charge::OneOff { .. });
                if let (true, Some(first)) = (unique, once.insert(c.type_name(), i)) {
                    self.report(
                        &[(k.clone(), format!(".charges[{i}].type"))],
                        format!("a plan has at most one {} charge (also charges[{first}]); two would bill the same usage twice", c.type_name()),
                    );
                }
            }
        }
        for s in inv.services.values() {
            let k = key(Kind::Service, &s.id);
            self.reference(&k, ".customer", key(Kind::Customer, &s.customer), "customer");
            self.reference(&k, ".plan", key(Kind::RatePlan, &s.plan), "rate plan");
            if let (Some(c), Some(p)) = (inv.customers.get(&s.customer), inv.rate_plans.get(&s.plan))
                && c.currency != p.currency
            {
                self.report(
                    &[
                        (k.clone(), ".plan".into()),
                        (key(Kind::Customer, &c.id), ".currency".into()),
                        (key(Kind::RatePlan, &p.id), ".currency".into()),
                    ],
                    format!(
                        "plan '{}' is in {} but customer '{}' is invoiced in {}",
                        p.id, p.currency, c.id, c.currency
                    ),
                );
            }
            for (i, a) in s.resources.iter().enumerate() {
                let suffix = format!(".resources[{i}].{}", a.resource.kind());
                self.resource(&k, &suffix, &a.resource);
                if let Some(end) = s.end
                    && a.interval.end() > end
                {
                    self.report(
                        &[(k.clone(), format!(".resources[{i}].to"))],
                        format!("runs past the service's end ({end}); close the assignment by then"),
                    );
                }
            }
        }
        for t in inv.tickets.values() {
            let k = key(Kind::Ticket, &t.id);
            self.reference(&k, ".customer", key(Kind::Customer, &t.customer), "customer");
            self.reference(&k, ".service", key(Kind::Service, &t.service), "service");
            if let Some(s) = inv.services.get(&t.service)
                && s.customer != t.customer
            {
                self.report(
                    &[(k.clone(), ".service".into())],
                    format!("service '{}' belongs to customer '{}', not '{}'", s.id, s.customer, t.customer),
                );
            }
            if let Some(r) = &t.rack {
                self.reference(&k, ".rack", key(Kind::Rack, r), "rack");
            }
            if let Some(a) = &t.asset {
                self.reference(&k, ".asset", key(Kind::Asset, a), "asset");
            }
        }
    }

    /// A service's resource must exist. An outlet or port of a device that declares its outlets
    /// or ports, or that has no SNMP (so nothing can discover them), must be declared.
    fn resource(&mut self, owner: &ObjectKey, suffix: &str, r: &ResourceRef) {
        match r {
            ResourceRef::Rack(id) => self.reference(owner, suffix, key(Kind::Rack, id), "rack"),
            ResourceRef::Asset(id) => self.reference(owner, suffix, key(Kind::Asset, id), "asset"),
            ResourceRef::Outlet(o) => match self.inv.pdus.get(&o.pdu) {
                None => self.reference(owner, suffix, key(Kind::Pdu, &o.pdu), "PDU"),
                Some(p)
                    if (!p.outlets.is_empty() || p.snmp.is_none()) && !p.outlets.iter().any(|d| d.index == o.index) =>
                {
                    self.report(
                        &[(owner.clone(), suffix.into()), (key(Kind::Pdu, &p.id), ".outlets".into())],
                        format!("PDU '{}' has no outlet {}", p.id, o.index),
                    );
                }
                Some(_) => {}
            },
            ResourceRef::Port(pt) => match self.inv.switches.get(&pt.switch) {
                None => self.reference(owner, suffix, key(Kind::Switch, &pt.switch), "switch"),
                Some(s) if (!s.ports.is_empty() || s.snmp.is_none()) && !s.ports.iter().any(|d| d.name == pt.name) => {
                    self.report(
                        &[(owner.clone(), suffix.into()), (key(Kind::Switch, &s.id), ".ports".into())],
                        format!("switch '{}' has no port '{}'", s.id, pt.name),
                    );
                }
                Some(_) => {}
            },
        }
    }

    /// A resource belongs to at most one service at any instant; a LAG and its members are never
    /// assigned at the same instant (their traffic would be billed twice).
    fn assignments(&mut self) {
        let mut by_resource: BTreeMap<ResourceRef, Vec<(ObjectKey, usize, Interval)>> = BTreeMap::new();
        for s in self.inv.services.values() {
            for (i, a) in s.resources.iter().enumerate() {
                by_resource.entry(a.resource.clone()).or_default().push((key(Kind::Service, &s.id), i, a.interval));
            }
        }
        for (resource, uses) in &by_resource {
            let ivs: Vec<Interval> = uses.iter().map(|u| u.2).collect();
            for (a, b) in overlapping_pairs(&ivs) {
                let also = "is also assigned to";
                self.clash((resource, &uses[b]), (resource, &uses[a]), also, also);
            }
        }
        for s in self.inv.switches.values() {
            for member in s.ports.iter().filter(|p| p.lag.is_some()) {
                let Some(lag) = &member.lag else { continue };
                let m = ResourceRef::Port(PortId { switch: s.id.clone(), name: member.name.clone() });
                let l = ResourceRef::Port(PortId { switch: s.id.clone(), name: lag.clone() });
                let (Some(mu), Some(lu)) = (by_resource.get(&m), by_resource.get(&l)) else {
                    continue;
                };
                for x in mu {
                    for y in lu.iter().filter(|y| y.2.overlaps(&x.2)) {
                        self.clash(
                            (&m, x),
                            (&l, y),
                            "is a member of a LAG assigned to",
                            "is a LAG with a member assigned to",
                        );
                    }
                }
            }
        }
    }

    /// Reports two uses of resources that may not coincide. The problem is told from the side of
    /// a document object (the catalog's were valid alone), preferring `u1`, using `forward` when
    /// told from `u1`'s side and `backward` from `u2`'s.
    fn clash(&mut self, u1: Use<'_>, u2: Use<'_>, forward: &str, backward: &str) {
        let (here, there, verb) = if self.paths.contains_key(&u1.1.0) || !self.paths.contains_key(&u2.1.0) {
            (u1, u2, forward)
        } else {
            (u2, u1, backward)
        };
        let (r1, (k1, i1, iv1)) = here;
        let (_, (k2, i2, iv2)) = there;
        let during = iv1.intersect(iv2).map(|i| i.to_string()).unwrap_or_default();
        let other = match self.paths.get(k2) {
            Some(p) => format!("{p}.resources[{i2}]"),
            None => "in the catalog".into(),
        };
        let msg = format!("{} {verb} service '{}' ({other}) during {during}", r1.key(), k2.id);
        self.report(&[(k1.clone(), format!(".resources[{i1}].{}", r1.kind()))], msg);
    }

    fn series(&mut self) {
        let inv = self.inv;
        let mut regions: BTreeMap<String, Vec<(ObjectKey, Interval)>> = BTreeMap::new();
        for (id, v) in &inv.grid_intensity {
            regions.entry(v.region.to_string()).or_default().push((key(Kind::GridIntensity, id), v.interval));
        }
        let mut sites: BTreeMap<String, Vec<(ObjectKey, Interval)>> = BTreeMap::new();
        for (id, v) in &inv.site_pue {
            let k = key(Kind::SitePue, id);
            self.reference(&k, ".site", key(Kind::Site, &v.site), "site");
            sites.entry(v.site.to_string()).or_default().push((k, v.interval));
        }
        for (what, groups) in [("grid intensity for region", regions), ("PUE for site", sites)] {
            for (name, vals) in groups {
                let ivs: Vec<Interval> = vals.iter().map(|v| v.1).collect();
                for (a, b) in overlapping_pairs(&ivs) {
                    let during = ivs[a].intersect(&ivs[b]).map(|i| i.to_string()).unwrap_or_default();
                    self.report(
                        &[(vals[b].0.clone(), ".from".into()), (vals[a].0.clone(), ".from".into())],
                        format!("two values of {what} '{name}' cover {during}"),
                    );
                }
            }
        }
    }
}
