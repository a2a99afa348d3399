//! The inventory over HTTP, one object at a time, for sites, racks, PDUs, switches, assets,
//! customers, rate plans, services and tickets:
//! - `GET /api/v1/{kind}?cursor=&limit=&FILTER=` — a page of objects in ID order, `{"items",
//!   "next"}`; filters compare one field (`/api/v1/racks?site=ams1`). A customer token lists only
//!   what it may see ([`engine::inventory::scope`]); PDUs and switches are staff only.
//! - `GET /api/v1/{kind}/{id}` — one object in the document format of `contract.md`.
//! - `PUT /api/v1/{kind}/{id}` — creates (`201`) or replaces (`200`) the object whole.
//! - `POST /api/v1/{kind}` — creates it (`201`; `409` if the ID is taken; honours `Idempotency-Key`).
//!
//! Writes are validated against the whole inventory exactly like an import
//! ([`engine::inventory::edit`]): `422` with every problem listed, nothing written. They are
//! audited with the caller's token. Admin writes everything; billing writes customers, rate
//! plans, services and tickets. Nothing is deleted (invoices refer to it): assets retire,
//! assignments end. SNMP secrets read as `(redacted)`, and a body carrying that keeps them.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use engine::access::Role;
use engine::inventory::edit::{self, EditError};
use engine::inventory::import::Change;
use engine::inventory::{ImportPlan, Inventory, Kind, ObjectKey, scope};
use serde::Serialize;
use serde_json::Value;

use crate::app::{AppState, CatalogState, MeteringState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};

/// Largest page.
const MAX_LIMIT: usize = 1000;
/// Page size when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// A page of objects.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectPage {
    /// Objects in the document format, in ID order.
    items: Vec<Value>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next: Option<String>,
}

/// `403` unless the caller may read `kind` at all.
fn may_read(caller: &Caller, kind: Kind) -> Result<(), ApiError> {
    match kind {
        Kind::Pdu | Kind::Switch => caller.require(&[Allow::Admin, Allow::Billing]),
        _ => caller.require(&[Allow::Admin, Allow::Billing, Allow::Customer]),
    }
}

/// `403` unless the caller may write `kind`.
fn may_write(caller: &Caller, kind: Kind) -> Result<(), ApiError> {
    match kind {
        Kind::Customer | Kind::RatePlan | Kind::Service | Kind::Ticket => {
            caller.require(&[Allow::Admin, Allow::Billing])
        }
        _ => caller.require(&[Allow::Admin]),
    }
}

/// The keys a customer caller may see; `None` for staff (everything).
fn scope_of(caller: &Caller, inv: &Inventory) -> Option<std::collections::HashSet<ObjectKey>> {
    match &caller.role {
        Role::Customer(c) => Some(scope::visible_to(inv, c)),
        _ => None,
    }
}

async fn list(
    metering: &MeteringState,
    caller: &Caller,
    kind: Kind,
    allowed: &[&str],
    mut query: BTreeMap<String, String>,
) -> Result<Json<ObjectPage>, ApiError> {
    may_read(caller, kind)?;
    let limit = match query.remove("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::BadRequest(format!("limit must be 1 to {MAX_LIMIT}, found {l:?}")))?,
    };
    let cursor = query.remove("cursor");
    if let Some(bad) = query.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown filter `{bad}` for {} (filters: cursor, limit, {})",
            kind.section(),
            allowed.join(", ")
        )));
    }
    let derived = metering.derived().await?;
    let inv = &derived.inventory;
    let visible = scope_of(caller, inv);
    let mut items = Vec::new();
    let mut next = None;
    for object in inv.objects_of(kind) {
        let key = object.key();
        if cursor.as_ref().is_some_and(|c| key.id.as_str() <= c.as_str())
            || visible.as_ref().is_some_and(|v| !v.contains(&key))
        {
            continue;
        }
        let shown = edit::redacted(&object);
        if !query.iter().all(|(field, want)| shown.get(field).and_then(Value::as_str) == Some(want.as_str())) {
            continue;
        }
        if items.len() == limit {
            next = items.last().and_then(|o: &Value| o.get("id")).and_then(Value::as_str).map(str::to_owned);
            break;
        }
        items.push(shown);
    }
    Ok(Json(ObjectPage { items, next }))
}

async fn one(metering: &MeteringState, caller: &Caller, kind: Kind, id: String) -> Result<Json<Value>, ApiError> {
    may_read(caller, kind)?;
    let derived = metering.derived().await?;
    let key = ObjectKey { kind, id };
    if scope_of(caller, &derived.inventory).is_some_and(|v| !v.contains(&key)) {
        return Err(ApiError::NotFound);
    }
    let object = derived.inventory.get(&key).ok_or(ApiError::NotFound)?;
    Ok(Json(edit::redacted(&object)))
}

/// Plans a change with the catalog locked, applies it audited as the caller, and answers the
/// object as stored (`201` when it was created).
pub(crate) async fn apply<F>(
    catalog: &CatalogState,
    clock: &SharedClock,
    caller: &Caller,
    source: String,
    key: ObjectKey,
    change: F,
) -> Result<(StatusCode, Json<Value>), ApiError>
where
    F: FnOnce(&Inventory) -> Result<ImportPlan, EditError> + Send + 'static,
{
    let actor = caller.token.to_string();
    let now = clock.now();
    let logged = source.clone();
    let (created, changed, shown) = catalog
        .with_catalog(move |c| {
            let generation = c.generation()?;
            let plan = change(&c.inventory()?)?;
            let created = plan.changes.iter().any(|ch| matches!(ch, Change::Create(o) if o.key() == key));
            c.apply_as(&plan, generation, &source, &actor, now)?;
            let object = plan.result.get(&key).ok_or(ApiError::NotFound)?;
            Ok((created, !plan.changes.is_empty(), edit::redacted(&object)))
        })
        .await?;
    if changed {
        catalog.inventory_changed();
    }
    tracing::info!(actor = %caller.token, source = %logged, created, changed, "inventory edit");
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(shown)))
}

async fn put(
    (catalog, clock): (&CatalogState, &SharedClock),
    caller: &Caller,
    kind: Kind,
    id: String,
    body: Value,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    may_write(caller, kind)?;
    let source = format!("PUT {}/{id}", collection(kind));
    let key = ObjectKey { kind, id: id.clone() };
    apply(catalog, clock, caller, source, key, move |inv| edit::put(inv, kind, &id, body)).await
}

async fn create(
    (catalog, clock): (&CatalogState, &SharedClock),
    caller: &Caller,
    kind: Kind,
    body: Value,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    may_write(caller, kind)?;
    let id = body.get("id").and_then(Value::as_str).ok_or(EditError::MissingId)?.to_owned();
    let source = format!("POST {}", collection(kind));
    apply(catalog, clock, caller, source, ObjectKey { kind, id }, move |inv| edit::create(inv, kind, body)).await
}

/// The collection path of `kind`.
fn collection(kind: Kind) -> String {
    format!("/api/v1/{}", kind.section().replace('_', "-"))
}

/// Generates the four routes of one kind, each with its OpenAPI annotation.
macro_rules! kind_routes {
    ($module:ident, $kind:expr, $list:tt, $one:tt, $what:tt, $example:tt, [$($filter:tt),*]) => {
        pub(crate) mod $module {
            use super::*;

            #[doc = concat!("`GET ", $list, "`")]
            #[utoipa::path(get, path = $list, tag = "inventory",
                params($(($filter = Option<String>, Query, description = "Only objects whose field has this value")),*,
                    ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
                    ("limit" = Option<usize>, Query, description = "At most this many (default 100, at most 1000)")),
                responses((status = 200, description = concat!("A page of ", $what), body = ObjectPage)))]
            pub(crate) async fn list(
                State(metering): State<MeteringState>,
                caller: Caller,
                QueryParams(q): QueryParams<BTreeMap<String, String>>,
            ) -> Result<Json<ObjectPage>, ApiError> {
                super::list(&metering, &caller, $kind, &[$($filter),*], q).await
            }

            #[doc = concat!("`GET ", $one, "`")]
            #[utoipa::path(get, path = $one, tag = "inventory", params(("id" = String, Path, example = $example)),
                responses((status = 200, description = "The object in the inventory document format", body = Object)))]
            pub(crate) async fn one(
                State(metering): State<MeteringState>,
                caller: Caller,
                PathParams(id): PathParams<String>,
            ) -> Result<Json<Value>, ApiError> {
                super::one(&metering, &caller, $kind, id).await
            }

            #[doc = concat!("`PUT ", $one, "`")]
            #[utoipa::path(put, path = $one, tag = "inventory", params(("id" = String, Path, example = $example)), request_body = Object,
                responses((status = 200, description = "Replaced (or unchanged)", body = Object),
                    (status = 201, description = "Created", body = Object)))]
            pub(crate) async fn put(
                State(catalog): State<CatalogState>,
                State(clock): State<SharedClock>,
                caller: Caller,
                PathParams(id): PathParams<String>,
                JsonBody(body): JsonBody<Value>,
            ) -> Result<(StatusCode, Json<Value>), ApiError> {
                super::put((&catalog, &clock), &caller, $kind, id, body).await
            }

            #[doc = concat!("`POST ", $list, "`")]
            #[utoipa::path(post, path = $list, tag = "inventory", request_body = Object,
                params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first response")),
                responses((status = 201, description = "Created", body = Object)))]
            pub(crate) async fn create(
                State(catalog): State<CatalogState>,
                State(clock): State<SharedClock>,
                caller: Caller,
                JsonBody(body): JsonBody<Value>,
            ) -> Result<(StatusCode, Json<Value>), ApiError> {
                super::create((&catalog, &clock), &caller, $kind, body).await
            }

            /// The routes.
            pub(crate) fn router() -> Router<AppState> {
                Router::new().route($list, get(list).post(create)).route($one, get(one).put(put))
            }
        }
    };
}

kind_routes!(sites, Kind::Site, "/api/v1/sites", "/api/v1/sites/{id}", "sites", "ams1", ["grid_region"]);
kind_routes!(racks, Kind::Rack, "/api/v1/racks", "/api/v1/racks/{id}", "racks", "ams1-r101", ["site", "customer"]);
kind_routes!(pdus, Kind::Pdu, "/api/v1/pdus", "/api/v1/pdus/{id}", "PDUs", "pdu-101a", ["rack", "site"]);
kind_routes!(
    switches,
    Kind::Switch,
    "/api/v1/switches",
    "/api/v1/switches/{id}",
    "switches",
    "sw-core1",
    ["site", "rack"]
);
kind_routes!(
    assets,
    Kind::Asset,
    "/api/v1/assets",
    "/api/v1/assets/{id}",
    "assets",
    "srv-01",
    ["kind", "status", "site", "rack", "customer"]
);
kind_routes!(
    customers,
    Kind::Customer,
    "/api/v1/customers",
    "/api/v1/customers/{id}",
    "customers",
    "acme",
    ["currency"]
);
kind_routes!(
    rate_plans,
    Kind::RatePlan,
    "/api/v1/rate-plans",
    "/api/v1/rate-plans/{id}",
    "rate plans",
    "colo-std",
    ["currency"]
);
kind_routes!(
    services,
    Kind::Service,
    "/api/v1/services",
    "/api/v1/services/{id}",
    "services",
    "svc-acme-1",
    ["customer", "plan"]
);
kind_routes!(
    tickets,
    Kind::Ticket,
    "/api/v1/tickets",
    "/api/v1/tickets/{id}",
    "remote-hands tickets",
    "rh-1",
    ["customer", "service", "rack", "asset"]
);

/// Every kind's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(sites::router())
        .merge(racks::router())
        .merge(pdus::router())
        .merge(switches::router())
        .merge(assets::router())
        .merge(customers::router())
        .merge(rate_plans::router())
        .merge(services::router())
        .merge(tickets::router())
}
