//! Lifecycle actions on assets and racks, and what is billed to a customer where:
//! - `POST /api/v1/assets/{id}/activate` `{"at"?}` — a planned asset goes into service.
//! - `POST /api/v1/assets/{id}/retire` `{"at"?}` — from `at` on nothing it powers or connects is
//!   billed (`409` if planned or retired already, `422` before it went into service).
//! - `POST /api/v1/assets/{id}/move` `{"rack"}` or `{"site"}` — mounted elsewhere.
//! - `POST /api/v1/racks/{id}/move` `{"site", "at"?}` — the rack bills at the new site from `at`.
//! - `GET /api/v1/customers/{id}/resources` — every assignment of the customer's services with
//!   its rack and site (admin, billing, that customer).
//!
//! `at` defaults to now; actions are admin only and audited with the caller's token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::id::{AssetId, CustomerId, RackId, SiteId};
use engine::inventory::edit::{self, EditError, Placement};
use engine::inventory::scope::{self, BilledResource};
use engine::inventory::{ImportPlan, Inventory, Kind, ObjectKey};
use engine::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::{AppState, CatalogState, MeteringState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::PathParams;
use crate::routes::inventory::apply;

/// The lifecycle routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/assets/{id}/activate", post(activate))
        .route("/api/v1/assets/{id}/retire", post(retire))
        .route("/api/v1/assets/{id}/move", post(move_asset))
        .route("/api/v1/racks/{id}/move", post(move_rack))
        .route("/api/v1/customers/{id}/resources", get(resources))
}

/// When an action takes effect.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct At {
    /// RFC 3339; now when absent.
    #[schema(value_type = Option<String>, example = "2026-10-20T08:00:00Z")]
    at: Option<Timestamp>,
}

/// Where an asset goes: exactly one of `rack` and `site`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AssetMove {
    /// The rack it is mounted in from now on.
    rack: Option<String>,
    /// The site it is kept at, in no rack.
    site: Option<String>,
}

/// Where a rack goes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RackMove {
    /// The site it stands in from `at` on.
    site: String,
    /// RFC 3339; now when absent.
    #[schema(value_type = Option<String>, example = "2026-10-20T08:00:00Z")]
    at: Option<Timestamp>,
}

fn asset_id(id: &str) -> Result<AssetId, ApiError> {
    AssetId::new(id).map_err(|_| ApiError::NotFound)
}

fn key(kind: Kind, id: &str) -> ObjectKey {
    ObjectKey { kind, id: id.to_owned() }
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/activate", tag = "inventory", params(("id" = String, Path)), request_body = At,
    responses((status = 200, description = "The asset, in service", body = Object)))]
async fn activate(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<At>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    dated_action((&catalog, &clock), &caller, &id, body, "activate", edit::activate_asset).await
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/retire", tag = "inventory", params(("id" = String, Path)), request_body = At,
    responses((status = 200, description = "The asset, retired: billing stops at `at`", body = Object)))]
async fn retire(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<At>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    dated_action((&catalog, &clock), &caller, &id, body, "retire", edit::retire_asset).await
}

/// An asset's lifecycle step taking effect at `at` (default now), admin only.
async fn dated_action(
    (catalog, clock): (&CatalogState, &SharedClock),
    caller: &Caller,
    id: &str,
    body: At,
    verb: &str,
    step: fn(&Inventory, &AssetId, Timestamp) -> Result<ImportPlan, EditError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Allow::Admin])?;
    let (asset, at) = (asset_id(id)?, body.at.unwrap_or_else(|| clock.now()));
    let source = format!("POST /api/v1/assets/{id}/{verb}");
    apply(catalog, clock, caller, source, key(Kind::Asset, id), move |inv| step(inv, &asset, at)).await
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/move", tag = "inventory", params(("id" = String, Path)), request_body = AssetMove,
    responses((status = 200, description = "The asset at its new place", body = Object)))]
async fn move_asset(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<AssetMove>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Allow::Admin])?;
    let asset = asset_id(&id)?;
    let bad = |e: engine::id::IdError| ApiError::Unprocessable(e.to_string());
    let to = match (body.rack, body.site) {
        (Some(r), None) => Placement::Rack(RackId::new(r).map_err(bad)?),
        (None, Some(s)) => Placement::Site(SiteId::new(s).map_err(bad)?),
        _ => return Err(ApiError::Unprocessable("give exactly one of `rack` and `site`".into())),
    };
    let source = format!("POST /api/v1/assets/{id}/move");
    apply(&catalog, &clock, &caller, source, key(Kind::Asset, &id), move |inv| edit::move_asset(inv, &asset, to)).await
}

#[utoipa::path(post, path = "/api/v1/racks/{id}/move", tag = "inventory", params(("id" = String, Path)), request_body = RackMove,
    responses((status = 200, description = "The rack with its new stay in its location history", body = Object)))]
async fn move_rack(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<RackMove>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Allow::Admin])?;
    let rack = RackId::new(&id).map_err(|_| ApiError::NotFound)?;
    let site = SiteId::new(body.site).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let at = body.at.unwrap_or_else(|| clock.now());
    let source = format!("POST /api/v1/racks/{id}/move");
    apply(&catalog, &clock, &caller, source, key(Kind::Rack, &id), move |inv| edit::move_rack(inv, &rack, site, at))
        .await
}

/// What is billed to a customer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Resources {
    /// The customer.
    customer: String,
    /// Every assignment of its services, with where the resource is.
    items: Vec<BilledResource>,
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/resources", tag = "inventory", params(("id" = String, Path, example = "acme")),
    responses((status = 200, description = "Every resource assigned to the customer's services, with rack and site", body = Resources)))]
async fn resources(
    State(metering): State<MeteringState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<Resources>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing, Allow::Customer])?;
    let customer = CustomerId::new(&id).map_err(|_| ApiError::NotFound)?;
    caller.see_customer(&customer)?;
    let derived = metering.derived().await?;
    if !derived.inventory.customers.contains_key(&customer) {
        return Err(ApiError::NotFound);
    }
    Ok(Json(Resources { customer: id, items: scope::billed_resources(&derived.inventory, &customer) }))
}
