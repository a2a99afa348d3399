//! `Idempotency-Key` on POSTs that create or change things (billing runs, payments, credit notes,
//! finalizing, voiding…): a retry with the same key returns the first response, byte for byte,
//! with `Idempotent-Replayed: true`, and never runs the request a second time.
//!
//! - Keys are per caller (scoped by the hash of the bearer token) and kept 24 hours.
//! - The same key with a different method, path or body answers `422`; a key whose first request
//!   has not completed answers `409` (still running, or the server stopped while it ran: its
//!   outcome is unknown, so it is not run again).
//! - Answers that say the request did not run (`401`, `403`, `408`, `429`, any `5xx`) are not
//!   kept: a retry runs again. Every other answer, success or refusal, is.
//! - Line-protocol writes and SQL queries are exempt: a write is idempotent by itself (last write
//!   wins) and a query creates nothing.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::access::TokenHash;
use engine::catalog::idempotency::{Claim, StoredResponse};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::ApiError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header marking a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// Largest response kept for replay; a larger one is answered but not kept (and its key
/// released), since these POSTs answer with one object.
const MAX_KEPT_BYTES: usize = 8 * 1024 * 1024;

/// Paths whose POSTs are exempt (see the module documentation).
const EXEMPT: &[&str] = &["/api/v1/write", "/api/v1/query"];

/// The middleware.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match run(&state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    if req.method() != Method::POST || EXEMPT.contains(&req.uri().path()) {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get(HEADER) else { return Ok(next.run(req).await) };
    let key = parse_key(key)?;
    // Without a bearer token the request is refused anyway; let the route say so.
    let Some(scope) = scope(&req) else { return Ok(next.run(req).await) };
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, state.ingest.limits.body_limit_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(state.ingest.limits.body_limit_bytes))?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path_and_query().map_or("", |p| p.as_str()), &body);
    let now = state.clock.now();
    let k = key.clone();
    match state.catalog.catalog(move |c| c.claim_idempotency_key(&scope, &k, &fingerprint, now)).await? {
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::InProgress => {
            return Err(ApiError::Conflict(format!(
                "a request with Idempotency-Key '{key}' has not completed (still running, or the server stopped \
                 while it ran); its outcome is unknown: check before retrying with a new key"
            )));
        }
        Claim::Mismatch => {
            return Err(ApiError::Unprocessable(format!(
                "Idempotency-Key '{key}' was used for a different request (method, path or body)"
            )));
        }
        Claim::Claimed => {}
    }
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = resp.status();
    if !kept(status) {
        let k = key.clone();
        state.catalog.catalog(move |c| c.release_idempotency_key(&scope, &k)).await?;
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_KEPT_BYTES).await else {
        state.catalog.catalog(move |c| c.release_idempotency_key(&scope, &key)).await?;
        return Err(ApiError::bug("a response over the replay limit lost its body"));
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        content_type: parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: bytes.to_vec(),
    };
    state.catalog.catalog(move |c| c.complete_idempotency_key(&scope, &key, &stored)).await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn parse_key(v: &HeaderValue) -> Result<String, ApiError> {
    let s = v.to_str().map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?;
    let s = s.trim();
    // The IETF draft carries the key as a structured-field string; accept it quoted or bare.
    let s = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
    if s.is_empty() || s.len() > MAX_KEY_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(s.to_owned())
}

fn scope(req: &Request) -> Option<[u8; 32]> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = header.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty()).then(|| TokenHash::of(secret.trim()).0)
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

fn kept(status: StatusCode) -> bool {
    !(status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
        ))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, stored.body).into_response();
    if let Some(ct) = stored.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(CONTENT_TYPE, ct);
    }
    resp.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}
