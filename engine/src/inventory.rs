//! The inventory: every site, device, customer, plan and service, as one aggregate.
//!
//! Documents (YAML, JSON, or one CSV per object type) are read by [`document`] into entries with
//! their paths, merged over the catalog's current inventory, checked as a whole by [`validate`],
//! and only then written, all or nothing ([`import`]). Import is an upsert keyed by ID: objects a
//! document does not mention are left as they are, and an object it does mention is replaced
//! whole (a service's resource list included). Importing the same document twice changes nothing.

pub mod csv;
pub mod document;
pub mod edit;
pub mod effective;
pub mod import;
pub mod reader;
pub mod scope;
pub mod source;
pub mod sql;
pub mod validate;

use std::collections::BTreeMap;

use crate::domain::{Asset, Customer, IntensityValue, Pdu, PueValue, Rack, RatePlan, Service, Site, Switch, Ticket};
use crate::id::{AssetId, CustomerId, PduId, RackId, RatePlanId, ServiceId, SiteId, SwitchId, TicketId};

pub use import::{ImportError, ImportPlan, ImportSummary};
pub use reader::{Problem, Problems};

/// The kinds of object, in document order (which is also dependency order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `sites`
    Site,
    /// `racks`
    Rack,
    /// `pdus`
    Pdu,
    /// `switches`
    Switch,
    /// `assets`
    Asset,
    /// `customers`
    Customer,
    /// `rate_plans`
    RatePlan,
    /// `services`
    Service,
    /// `tickets`
    Ticket,
    /// `grid_intensity`
    GridIntensity,
    /// `site_pue`
    SitePue,
}

impl Kind {
    /// Every kind, in document order.
    pub const ALL: [Kind; 11] = [
        Kind::Site,
        Kind::Rack,
        Kind::Pdu,
        Kind::Switch,
        Kind::Asset,
        Kind::Customer,
        Kind::RatePlan,
        Kind::Service,
        Kind::Ticket,
        Kind::GridIntensity,
        Kind::SitePue,
    ];

    /// The document's top-level key for this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Site => "sites",
            Kind::Rack => "racks",
            Kind::Pdu => "pdus",
            Kind::Switch => "switches",
            Kind::Asset => "assets",
            Kind::Customer => "customers",
            Kind::RatePlan => "rate_plans",
            Kind::Service => "services",
            Kind::Ticket => "tickets",
            Kind::GridIntensity => "grid_intensity",
            Kind::SitePue => "site_pue",
        }
    }

    /// The kind of a top-level key.
    pub fn from_section(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.section() == s)
    }
}

/// One object of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Object {
    Site(Site),
    Rack(Rack),
    Pdu(Pdu),
    Switch(Switch),
    Asset(Asset),
    Customer(Customer),
    RatePlan(RatePlan),
    Service(Service),
    Ticket(Ticket),
    GridIntensity(IntensityValue),
    SitePue(PueValue),
}

/// An object's identity: its kind and its ID (for series values, `REGION@FROM` or `SITE@FROM`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The kind.
    pub kind: Kind,
    /// The ID within the kind.
    pub id: String,
}

impl Object {
    /// The object's identity.
    pub fn key(&self) -> ObjectKey {
        let (kind, id) = match self {
            Object::Site(o) => (Kind::Site, o.id.to_string()),
            Object::Rack(o) => (Kind::Rack, o.id.to_string()),
            Object::Pdu(o) => (Kind::Pdu, o.id.to_string()),
            Object::Switch(o) => (Kind::Switch, o.id.to_string()),
            Object::Asset(o) => (Kind::Asset, o.id.to_string()),
            Object::Customer(o) => (Kind::Customer, o.id.to_string()),
            Object::RatePlan(o) => (Kind::RatePlan, o.id.to_string()),
            Object::Service(o) => (Kind::Service, o.id.to_string()),
            Object::Ticket(o) => (Kind::Ticket, o.id.to_string()),
            Object::GridIntensity(o) => (Kind::GridIntensity, format!("{}@{}", o.region, o.interval.from)),
            Object::SitePue(o) => (Kind::SitePue, format!("{}@{}", o.site, o.interval.from)),
        };
        ObjectKey { kind, id }
    }

    /// The object in the document format (the catalog stores exactly this).
    pub fn to_json(&self) -> serde_json::Value {
        let r = match self {
            Object::Site(o) => serde_json::to_value(o),
            Object::Rack(o) => serde_json::to_value(o),
            Object::Pdu(o) => serde_json::to_value(o),
            Object::Switch(o) => serde_json::to_value(o),
            Object::Asset(o) => serde_json::to_value(o),
            Object::Customer(o) => serde_json::to_value(o),
            Object::RatePlan(o) => serde_json::to_value(o),
            Object::Service(o) => serde_json::to_value(o),
            Object::Ticket(o) => serde_json::to_value(o),
            Object::GridIntensity(o) => serde_json::to_value(o),
            Object::SitePue(o) => serde_json::to_value(o),
        };
        // Every domain type serializes to a map of strings, numbers and lists: this cannot fail.
        r.unwrap_or(serde_json::Value::Null)
    }
}

/// Every object, by ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Inventory {
    pub sites: BTreeMap<SiteId, Site>,
    pub racks: BTreeMap<RackId, Rack>,
    pub pdus: BTreeMap<PduId, Pdu>,
    pub switches: BTreeMap<SwitchId, Switch>,
    pub assets: BTreeMap<AssetId, Asset>,
    pub customers: BTreeMap<CustomerId, Customer>,
    pub rate_plans: BTreeMap<RatePlanId, RatePlan>,
    pub services: BTreeMap<ServiceId, Service>,
    pub tickets: BTreeMap<TicketId, Ticket>,
    /// Keyed by `REGION@FROM`.
    pub grid_intensity: BTreeMap<String, IntensityValue>,
    /// Keyed by `SITE@FROM`.
    pub site_pue: BTreeMap<String, PueValue>,
}

impl Inventory {
    /// Inserts or replaces an object.
    pub fn upsert(&mut self, object: Object) {
        match object {
            Object::Site(o) => drop(self.sites.insert(o.id.clone(), o)),
            Object::Rack(o) => drop(self.racks.insert(o.id.clone(), o)),
            Object::Pdu(o) => drop(self.pdus.insert(o.id.clone(), o)),
            Object::Switch(o) => drop(self.switches.insert(o.id.clone(), o)),
            Object::Asset(o) => drop(self.assets.insert(o.id.clone(), o)),
            Object::Customer(o) => drop(self.customers.insert(o.id.clone(), o)),
            Object::RatePlan(o) => drop(self.rate_plans.insert(o.id.clone(), o)),
            Object::Service(o) => drop(self.services.insert(o.id.clone(), o)),
            Object::Ticket(o) => drop(self.tickets.insert(o.id.clone(), o)),
            o @ Object::GridIntensity(_) => {
                let key = o.key().id;
                if let Object::GridIntensity(v) = o {
                    self.grid_intensity.insert(key, v);
                }
            }
            o @ Object::SitePue(_) => {
                let key = o.key().id;
                if let Object::SitePue(v) = o {
                    self.site_pue.insert(key, v);
                }
            }
        }
    }

    /// The stored object with this key, if any.
    pub fn get(&self, key: &ObjectKey) -> Option<Object> {
        let id = key.id.as_str();
        macro_rules! lookup {
            ($map:expr, $ty:ty, $var:ident) => {
                <$ty>::new(id).ok().and_then(|k| $map.get(&k)).cloned().map(Object::$var)
            };
        }
        match key.kind {
            Kind::Site => lookup!(self.sites, SiteId, Site),
            Kind::Rack => lookup!(self.racks, RackId, Rack),
            Kind::Pdu => lookup!(self.pdus, PduId, Pdu),
            Kind::Switch => lookup!(self.switches, SwitchId, Switch),
            Kind::Asset => lookup!(self.assets, AssetId, Asset),
            Kind::Customer => lookup!(self.customers, CustomerId, Customer),
            Kind::RatePlan => lookup!(self.rate_plans, RatePlanId, RatePlan),
            Kind::Service => lookup!(self.services, ServiceId, Service),
            Kind::Ticket => lookup!(self.tickets, TicketId, Ticket),
            Kind::GridIntensity => self.grid_intensity.get(id).cloned().map(Object::GridIntensity),
            Kind::SitePue => self.site_pue.get(id).cloned().map(Object::SitePue),
        }
    }

    /// Every object, in document order.
    pub fn objects(&self) -> Vec<Object> {
        Kind::ALL.into_iter().flat_map(|k| self.objects_of(k)).collect()
    }

    /// The objects of one kind, in ID order.
    pub fn objects_of(&self, kind: Kind) -> Vec<Object> {
        fn all<K, V: Clone>(m: &BTreeMap<K, V>, wrap: fn(V) -> Object) -> Vec<Object> {
            m.values().cloned().map(wrap).collect()
        }
        match kind {
            Kind::Site => all(&self.sites, Object::Site),
            Kind::Rack => all(&self.racks, Object::Rack),
            Kind::Pdu => all(&self.pdus, Object::Pdu),
            Kind::Switch => all(&self.switches, Object::Switch),
            Kind::Asset => all(&self.assets, Object::Asset),
            Kind::Customer => all(&self.customers, Object::Customer),
            Kind::RatePlan => all(&self.rate_plans, Object::RatePlan),
            Kind::Service => all(&self.services, Object::Service),
            Kind::Ticket => all(&self.tickets, Object::Ticket),
            Kind::GridIntensity => all(&self.grid_intensity, Object::GridIntensity),
            Kind::SitePue => all(&self.site_pue, Object::SitePue),
        }
    }

    /// The whole inventory as one document (YAML- and JSON-ready).
    pub fn to_document(&self) -> serde_json::Value {
        let mut doc = serde_json::Map::new();
        for o in self.objects() {
            let section = o.key().kind.section();
            if let serde_json::Value::Array(items) =
                doc.entry(section).or_insert_with(|| serde_json::Value::Array(Vec::new()))
            {
                items.push(o.to_json());
            }
        }
        serde_json::Value::Object(doc)
    }
}
