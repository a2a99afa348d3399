//! `GET /api/v1/whoami`: what the presented token is (lets scripts check a token).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Caller;

/// The whoami route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/whoami", get(whoami))
}

#[utoipa::path(get, path = "/api/v1/whoami", tag = "access", responses((status = 200, description = "The caller's token: ID, role and customer", body = Object)))]
async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({
        "token": caller.token,
        "role": caller.role.name(),
        "customer": caller.role.customer(),
    }))
}
