//! Bearer-token authentication (or, for safe requests, a portal session; see
//! [`crate::portal::session`]) and role checks. A customer token sees only its own customer:
//! anything else answers `404`, exactly as if it did not exist.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use engine::access::{Role, TokenHash};
use engine::id::{CustomerId, TokenId};

use crate::app::AppState;
use crate::error::ApiError;
use crate::portal::session;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token used.
    pub token: TokenId,
    /// Its role.
    pub role: Role,
}

/// Role names, for [`Caller::require`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// `admin`
    Admin,
    /// `billing`
    Billing,
    /// `customer` (any; pair with [`Caller::see_customer`])
    Customer,
    /// `ingest`
    Ingest,
}

impl Caller {
    /// `403` unless the caller's role is one of `allowed`.
    pub fn require(&self, allowed: &[Allow]) -> Result<(), ApiError> {
        let ok = allowed.iter().any(|a| {
            matches!(
                (a, &self.role),
                (Allow::Admin, Role::Admin)
                    | (Allow::Billing, Role::Billing)
                    | (Allow::Customer, Role::Customer(_))
                    | (Allow::Ingest, Role::Ingest)
            )
        });
        if ok { Ok(()) } else { Err(ApiError::Forbidden(self.role.name())) }
    }

    /// `404` if the caller is a customer token of another customer.
    pub fn see_customer(&self, customer: &CustomerId) -> Result<(), ApiError> {
        match &self.role {
            Role::Customer(own) if own != customer => Err(ApiError::NotFound),
            _ => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let hash = match parts.headers.get(AUTHORIZATION) {
            Some(header) => {
                let header = header.to_str().map_err(|_| ApiError::Unauthorized)?;
                let (scheme, secret) = header.split_once(' ').ok_or(ApiError::Unauthorized)?;
                if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
                    return Err(ApiError::Unauthorized);
                }
                TokenHash::of(secret.trim())
            }
            // A portal session stands in for the token on safe requests only (no CSRF surface).
            None if parts.method == Method::GET || parts.method == Method::HEAD => session::cookie(&parts.headers)
                .and_then(|id| state.portal.sessions.token(&id))
                .ok_or(ApiError::Unauthorized)?,
            None => return Err(ApiError::Unauthorized),
        };
        let record =
            state.catalog.catalog_lookup(move |c| c.token_by_hash(&hash)).await?.ok_or(ApiError::Unauthorized)?;
        Ok(Caller { token: record.id, role: record.role })
    }
}
