//! `GET /api/v1/devices/{id}` (contract.md) and `GET /api/v1/devices` (collector health): a
//! device's profile, last poll, last error and its discovered or declared resources with their
//! latest readings. Admin only.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use collectors::profile::Role;
use collectors::status::{DeviceStatus, StatusBoard};
use engine::inventory::Inventory;
use serde_json::{Value as JsonValue, json};

use crate::app::{AppState, MeteringState};
use crate::auth::{Allow, Caller};
use crate::collect::CollectorView;
use crate::error::ApiError;
use crate::extract::PathParams;

/// The device routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/devices", get(list)).route("/api/v1/devices/{id}", get(one))
}

fn ts(t: Option<engine::time::Timestamp>) -> JsonValue {
    t.map_or(JsonValue::Null, |t| json!(t.to_string()))
}

/// The contract's device object; `status` is `None` for a device the collectors do not poll.
fn render(id: &str, kind: &str, status: Option<&DeviceStatus>, declared: Vec<(String, Option<String>)>) -> JsonValue {
    let mut resources: BTreeMap<String, JsonValue> = BTreeMap::new();
    let rkind = |r: Role| match r {
        Role::Port => "port",
        Role::Outlet => "outlet",
        Role::Inlet => "inlet",
    };
    if let Some(layout) = status.and_then(|s| s.layout.as_ref()) {
        for (i, r) in layout.resources.iter().enumerate() {
            let last: BTreeMap<&str, String> = status
                .map(|s| StatusBoard::resource_values(s, i))
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.to_decimal().normalize().to_string()))
                .collect();
            let mut o = json!({"id": format!("{id}/{}", r.id), "kind": rkind(r.role), "name": r.name, "last": last});
            if r.role == Role::Port {
                o["speed_mbps"] = json!(r.speed_mbps);
                o["alias"] = json!(r.alias);
                o["oper_up"] = json!(r.oper_up);
            }
            resources.insert(r.id.to_string(), o);
        }
    }
    let dkind = if kind == "pdu" { "outlet" } else { "port" };
    for (res, name) in declared {
        resources
            .entry(res.clone())
            .or_insert_with(|| json!({"id": format!("{id}/{res}"), "kind": dkind, "name": name, "last": {}}));
    }
    let layout = status.and_then(|s| s.layout.as_ref());
    json!({
        "id": id,
        "kind": kind,
        "sys_object_id": layout.and_then(|l| l.sys_object_id.as_ref()).map(ToString::to_string),
        "profile": layout.map(|l| l.profile.id.clone()),
        "polled": status.is_some(),
        "last_poll": ts(status.and_then(|s| s.last_poll)),
        "last_error": status.and_then(|s| s.last_error.as_ref()).map(|(t, e)| json!({"at": t.to_string(), "error": e.to_string(), "kind": e.kind().as_str()})),
        "consecutive_failures": status.map_or(0, |s| s.consecutive_failures),
        "resources": resources.into_values().collect::<Vec<_>>(),
    })
}

fn device(inv: &Inventory, collectors: &Option<CollectorView>, id: &str) -> Option<JsonValue> {
    let status = collectors.as_ref().and_then(|c| c.status.get(id));
    if let Some(p) = inv.pdus.values().find(|p| p.id.as_str() == id) {
        let declared = p.outlets.iter().map(|o| (o.index.to_string(), o.name.clone())).collect();
        return Some(render(id, "pdu", status.as_ref(), declared));
    }
    if let Some(s) = inv.switches.values().find(|s| s.id.as_str() == id) {
        let declared = s.ports.iter().map(|p| (p.name.to_string(), None)).collect();
        return Some(render(id, "switch", status.as_ref(), declared));
    }
    None
}

#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "collectors", params(("id" = String, Path, description = "PDU or switch ID", example = "pdu-101a")), responses((status = 200, description = "The device: profile, last poll, resources with their latest readings (admin)", body = Object)))]
async fn one(
    State(collectors): State<Option<crate::collect::CollectorView>>,
    State(metering): State<MeteringState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<JsonValue>, ApiError> {
    caller.require(&[Allow::Admin])?;
    let d = metering.derived().await?;
    device(&d.inventory, &collectors, &id).map(Json).ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/devices", tag = "collectors", responses((status = 200, description = "Every device's collector health (admin)", body = Object)))]
async fn list(
    State(collectors): State<Option<crate::collect::CollectorView>>,
    State(metering): State<MeteringState>,
    caller: Caller,
) -> Result<Json<JsonValue>, ApiError> {
    caller.require(&[Allow::Admin])?;
    let d = metering.derived().await?;
    let mut ids: Vec<&str> = d.inventory.pdus.values().map(|p| p.id.as_str()).collect();
    ids.extend(d.inventory.switches.values().map(|s| s.id.as_str()));
    ids.sort_unstable();
    let items: Vec<JsonValue> = ids
        .into_iter()
        .filter_map(|id| device(&d.inventory, &collectors, id))
        .map(|mut d| {
            // The list is for health: resources are on the device's own page.
            let n = d["resources"].as_array().map_or(0, Vec::len);
            d["resources"] = json!(n);
            d
        })
        .collect();
    Ok(Json(json!({"items": items, "next": null})))
}
