//! `GET /healthz` (the process answers) and `GET /readyz` (the catalog answers too).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::{AppState, CatalogState};
use crate::error::ApiError;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, description = "Alive", body = Object)))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses((status = 200, description = "Ready: the catalog and the store answer", body = Object)))]
async fn readyz(State(catalog): State<CatalogState>) -> Result<Json<Value>, ApiError> {
    catalog
        .catalog(|c| c.imports().map(drop))
        .await
        .map_err(|_| ApiError::Unavailable("the catalog does not answer".into()))?;
    Ok(Json(json!({"status": "ready"})))
}
