//! API tokens over HTTP (admin only), as `colometer token create|list|revoke` on the command line:
//! - `GET /api/v1/tokens` — every token, revoked ones included; never a secret.
//! - `POST /api/v1/tokens` `{"role", "customer"?, "label"?}` — `201` with the secret, shown this
//!   once (only its hash is stored).
//! - `DELETE /api/v1/tokens/{id}` — revokes it (`204`; `404` if there is no live token so named).
//!
//! Each change is audited with the calling token's ID.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use engine::access::{self, Role, TokenRecord};
use engine::id::{CustomerId, TokenId};
use engine::time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::app::{AppState, CatalogState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::PathParams;

/// The token routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/tokens", get(list).post(create)).route("/api/v1/tokens/{id}", delete(revoke))
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenView {
    /// `tok-…`
    id: String,
    /// admin, billing, customer or ingest.
    role: &'static str,
    /// The customer a `customer` token is bound to.
    customer: Option<String>,
    /// Who or what uses it.
    label: Option<String>,
    /// When it was created.
    #[schema(value_type = String)]
    created_at: Timestamp,
    /// When it was revoked.
    #[schema(value_type = Option<String>)]
    revoked_at: Option<Timestamp>,
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> Self {
        Self {
            id: t.id.to_string(),
            role: t.role.name(),
            customer: t.role.customer().map(ToString::to_string),
            label: t.label.clone(),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new token with its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatedToken {
    /// The secret (`colo_…`): shown once, never again.
    secret: String,
    /// The stored token.
    #[serde(flatten)]
    token: TokenView,
}

/// What token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTokenRequest {
    /// admin, billing, customer or ingest.
    #[schema(example = "billing")]
    role: String,
    /// The customer of a `customer` token.
    customer: Option<String>,
    /// Who or what will use it.
    label: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, description = "Every token (no secrets)", body = Vec<TokenView>)))]
async fn list(State(catalog): State<CatalogState>, caller: Caller) -> Result<Json<Vec<TokenView>>, ApiError> {
    caller.require(&[Allow::Admin])?;
    let tokens = catalog.catalog(|c| c.tokens()).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewTokenRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first response")),
    responses((status = 201, description = "The token with its secret, shown once", body = CreatedToken)))]
async fn create(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    JsonBody(req): JsonBody<NewTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require(&[Allow::Admin])?;
    let customer =
        req.customer.map(CustomerId::new).transpose().map_err(|e| ApiError::Unprocessable(format!("customer: {e}")))?;
    let role = Role::new(&req.role, customer).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let token = access::generate(role, req.label, clock.now()).map_err(ApiError::internal)?;
    let actor = caller.token.to_string();
    let record = token.record.clone();
    catalog
        .with_catalog(move |c| {
            if let Some(customer) = record.role.customer()
                && !c.inventory()?.customers.contains_key(customer)
            {
                return Err(ApiError::Unprocessable(format!("unknown customer '{customer}'")));
            }
            Ok(c.insert_token_as(&record, &actor)?)
        })
        .await?;
    tracing::info!(actor = %caller.token, token = %token.record.id, role = token.record.role.name(), "token created");
    Ok((StatusCode::CREATED, Json(CreatedToken { secret: token.secret, token: TokenView::from(&token.record) })))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path, example = "tok-000000000000")),
    responses((status = 204, description = "Revoked: the token no longer authenticates")))]
async fn revoke(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Allow::Admin])?;
    let id = TokenId::new(id).map_err(|_| ApiError::NotFound)?;
    let (actor, now, revoked) = (caller.token.to_string(), clock.now(), id.clone());
    if !catalog.with_catalog(move |c| Ok(c.revoke_token_as(&revoked, &actor, now)?)).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(actor = %caller.token, token = %id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
