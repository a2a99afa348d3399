//! Changes to one object at a time (the HTTP API's inventory endpoints): put an object whole, or
//! apply a lifecycle action (activate, retire or move an asset; move a rack to another site).
//!
//! Every change becomes a one-object document planned exactly like an import
//! ([`super::import::plan`]): the whole inventory is validated with the change in it, so an edit
//! can never store what an import would refuse. Problems found in the request body are reported
//! with paths starting at `body` (`body.power_budget_kw: must be greater than 0`).
//!
//! Objects are never deleted: invoices and evidence refer to them for years. An asset is retired,
//! a service's assignment ends (`to`), a token is revoked.
//!
//! SNMP secrets (`community`, `auth_key`, `priv_key`) are shown as [`REDACTED`]; a body that
//! carries [`REDACTED`] back keeps the stored secret, so a read-modify-write round trip works.

use std::collections::HashSet;

use serde_json::Value;

use super::document::{self, Document, Entry};
use super::import::{ImportError, ImportPlan, plan};
use super::reader::Problems;
use super::{Inventory, Kind, Object, ObjectKey};
use crate::domain::{AssetStatus, RackLocation};
use crate::id::{AssetId, RackId, SiteId};
use crate::time::{Interval, Timestamp};

/// What an SNMP secret reads as through the API.
pub const REDACTED: &str = "(redacted)";

/// The fields of an `snmp` block that are secrets.
const SECRET_FIELDS: [&str; 3] = ["community", "auth_key", "priv_key"];

/// Why an edit cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// No object of this kind has this ID.
    #[error("no {kind} '{id}'")]
    NotFound {
        /// The kind's section name.
        kind: &'static str,
        /// The ID asked for.
        id: String,
    },
    /// A create named an ID that exists already.
    #[error("{kind} '{id}' exists already (PUT replaces an object)")]
    Exists {
        /// The kind's section name.
        kind: &'static str,
        /// The ID.
        id: String,
    },
    /// The body names another ID than the path.
    #[error("the body's id '{body}' is not the path's '{path}'")]
    IdMismatch {
        /// The path's ID.
        path: String,
        /// The body's ID.
        body: String,
    },
    /// The body has no `id` (a create needs one).
    #[error("the body has no `id`")]
    MissingId,
    /// The change would make the inventory invalid; every problem is listed.
    #[error("the change has {} problem(s); nothing was written", .0.len())]
    Invalid(Problems),
    /// Only a planned asset can be put into service.
    #[error("asset '{0}' is not planned: it went into service already")]
    NotPlanned(AssetId),
    /// A planned asset was never in service, so it cannot be retired (edit it instead).
    #[error("asset '{0}' is planned: it was never in service, so it cannot be retired")]
    NeverActive(AssetId),
    /// The asset is retired already.
    #[error("asset '{0}' is retired already")]
    AlreadyRetired(AssetId),
    /// A lifecycle instant before the asset went into service.
    #[error("asset '{asset}' went into service at {since}; it cannot be retired before that ({at})")]
    RetiredBeforeActive {
        /// The asset.
        asset: AssetId,
        /// When it went into service.
        since: Timestamp,
        /// The instant asked for.
        at: Timestamp,
    },
    /// A rack move to the site it stands in.
    #[error("rack '{rack}' stands in site '{site}' already")]
    SameSite {
        /// The rack.
        rack: RackId,
        /// Its site.
        site: SiteId,
    },
    /// A rack move at or before the start of the rack's current stay.
    #[error("rack '{rack}' has stood in its current site since {since}; a move must come after that ({at})")]
    MoveBeforeStay {
        /// The rack.
        rack: RackId,
        /// Start of the current stay.
        since: Timestamp,
        /// The instant asked for.
        at: Timestamp,
    },
}

/// Plans putting `body` (an object in the document format) as the `kind` object `id`: creates it
/// or replaces it whole. A body without `id` takes the path's.
pub fn put(current: &Inventory, kind: Kind, id: &str, mut body: Value) -> Result<ImportPlan, EditError> {
    match body.get("id") {
        None => {
            if let Value::Object(map) = &mut body {
                map.insert("id".into(), Value::String(id.to_owned()));
            }
        }
        Some(Value::String(b)) if b == id => {}
        Some(other) => {
            let body = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
            return Err(EditError::IdMismatch { path: id.to_owned(), body });
        }
    }
    let stored = current.get(&ObjectKey { kind, id: id.to_owned() });
    if let Some(stored) = &stored {
        restore_secrets(&mut body, &stored.to_json());
    }
    plan_body(current, kind, body)
}

/// Plans creating the `kind` object described by `body`; [`EditError::Exists`] if its ID is taken.
pub fn create(current: &Inventory, kind: Kind, body: Value) -> Result<ImportPlan, EditError> {
    let id = body.get("id").and_then(Value::as_str).ok_or(EditError::MissingId)?.to_owned();
    if current.get(&ObjectKey { kind, id: id.clone() }).is_some() {
        return Err(EditError::Exists { kind: kind.section(), id });
    }
    plan_body(current, kind, body)
}

/// Plans putting a planned asset into service at `at`.
pub fn activate_asset(current: &Inventory, id: &AssetId, at: Timestamp) -> Result<ImportPlan, EditError> {
    let mut asset = current.assets.get(id).cloned().ok_or_else(|| not_found(Kind::Asset, id.as_str()))?;
    if asset.status != AssetStatus::Planned {
        return Err(EditError::NotPlanned(id.clone()));
    }
    asset.status = AssetStatus::Active { since: Some(at) };
    plan_object(current, Object::Asset(asset))
}

/// Plans retiring an asset at `at`: from that instant nothing it powers or connects is billed.
pub fn retire_asset(current: &Inventory, id: &AssetId, at: Timestamp) -> Result<ImportPlan, EditError> {
    let mut asset = current.assets.get(id).cloned().ok_or_else(|| not_found(Kind::Asset, id.as_str()))?;
    asset.status = match asset.status {
        AssetStatus::Planned => return Err(EditError::NeverActive(id.clone())),
        AssetStatus::Retired { .. } => return Err(EditError::AlreadyRetired(id.clone())),
        AssetStatus::Active { since: Some(since) } if at <= since => {
            return Err(EditError::RetiredBeforeActive { asset: id.clone(), since, at });
        }
        AssetStatus::Active { since } => AssetStatus::Retired { since, at },
    };
    plan_object(current, Object::Asset(asset))
}

/// Where an asset is moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Mounted in a rack.
    Rack(RackId),
    /// At a site, in no rack (a store room).
    Site(SiteId),
}

/// Plans moving an asset to another rack or site. An asset keeps no location history (billing
/// follows outlets, ports and racks, whose assignments carry their own intervals); the audit log
/// records when it moved.
pub fn move_asset(current: &Inventory, id: &AssetId, to: Placement) -> Result<ImportPlan, EditError> {
    let mut asset = current.assets.get(id).cloned().ok_or_else(|| not_found(Kind::Asset, id.as_str()))?;
    match to {
        Placement::Rack(r) => (asset.rack, asset.site) = (Some(r), None),
        Placement::Site(s) => (asset.rack, asset.site) = (None, Some(s)),
    }
    plan_object(current, Object::Asset(asset))
}

/// Plans moving a rack to `site` at `at`: its location history gains a stay from `at` on, so its
/// rent and energy bill at the new site from that instant.
///
/// A rack without a history "always stood at `site`"; its first recorded stay therefore starts
/// at the Unix epoch, which keeps that meaning for every instant colometer can bill.
pub fn move_rack(current: &Inventory, id: &RackId, site: SiteId, at: Timestamp) -> Result<ImportPlan, EditError> {
    let mut rack = current.racks.get(id).cloned().ok_or_else(|| not_found(Kind::Rack, id.as_str()))?;
    if rack.site == site {
        return Err(EditError::SameSite { rack: id.clone(), site });
    }
    if rack.locations.is_empty() {
        let since = Interval { from: Timestamp::from_nanos(0), to: None };
        rack.locations.push(RackLocation { site: rack.site.clone(), interval: since });
    }
    if let Some(last) = rack.locations.iter_mut().max_by_key(|l| l.interval.from) {
        if at <= last.interval.from {
            return Err(EditError::MoveBeforeStay { rack: id.clone(), since: last.interval.from, at });
        }
        if last.interval.to.is_none_or(|to| to > at) {
            last.interval.to = Some(at);
        }
    }
    rack.locations.push(RackLocation { site: site.clone(), interval: Interval { from: at, to: None } });
    rack.site = site;
    plan_object(current, Object::Rack(rack))
}

/// An object as the API shows it: the document format with SNMP secrets redacted.
pub fn redacted(object: &Object) -> Value {
    let mut v = object.to_json();
    if let Some(Value::Object(snmp)) = v.get_mut("snmp") {
        for field in SECRET_FIELDS {
            if let Some(secret) = snmp.get_mut(field).filter(|s| !s.is_null()) {
                *secret = Value::String(REDACTED.into());
            }
        }
    }
    v
}

/// Puts the stored secrets back where the body carries [`REDACTED`].
fn restore_secrets(body: &mut Value, stored: &Value) {
    let (Some(Value::Object(snmp)), Some(Value::Object(old))) = (body.get_mut("snmp"), stored.get("snmp")) else {
        return;
    };
    for field in SECRET_FIELDS {
        if snmp.get(field).and_then(Value::as_str) == Some(REDACTED)
            && let Some(secret) = old.get(field)
        {
            snmp.insert(field.to_owned(), secret.clone());
        }
    }
}

fn not_found(kind: Kind, id: &str) -> EditError {
    EditError::NotFound { kind: kind.section(), id: id.to_owned() }
}

/// Reads `body` as one object of `kind` and plans it; problems are reported under `body`.
fn plan_body(current: &Inventory, kind: Kind, body: Value) -> Result<ImportPlan, EditError> {
    let section = kind.section();
    let mut doc = document::read(&serde_json::json!({ section: [body] }));
    let prefix = format!("{section}[0]");
    for p in &mut doc.problems {
        if let Some(rest) = p.path.strip_prefix(&prefix) {
            p.path = format!("body{rest}");
        }
    }
    for e in &mut doc.entries {
        e.path = "body".into();
    }
    run(current, doc)
}

fn plan_object(current: &Inventory, object: Object) -> Result<ImportPlan, EditError> {
    let declared: HashSet<ObjectKey> = [object.key()].into_iter().collect();
    run(current, Document { entries: vec![Entry { path: "body".into(), object }], declared, problems: Vec::new() })
}

fn run(current: &Inventory, doc: Document) -> Result<ImportPlan, EditError> {
    plan(current, doc).map_err(|ImportError::Invalid(p)| EditError::Invalid(p))
}

#[cfg(test)]
mod tests;
