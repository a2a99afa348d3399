//! The one mapping from failures to HTTP: RFC 9457 `application/problem+json`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An API failure. Each variant is one HTTP status with its meaning in `contract.md`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400`: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// `401`: no valid token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// `403`: the token's role may not do this.
    #[error("role {0} may not do this")]
    Forbidden(&'static str),
    /// `404`: does not exist, or belongs to another customer.
    #[error("not found")]
    NotFound,
    /// `405`: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `409`: a change to something that no longer changes (a finalized invoice).
    #[error("{0}")]
    Conflict(String),
    /// `413`: the body is over the limit.
    #[error("request body over the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// `422`: well-formed, but breaks a rule.
    #[error("{0}")]
    Unprocessable(String),
    /// `400`: a line of a line-protocol body is bad; nothing of the request was stored.
    #[error("line {line}: {message}; nothing of this request was stored")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `422`: an inventory change would leave the inventory invalid; every problem is listed in
    /// the problem document's `problems` member.
    #[error("the change has {} problem(s); nothing was written", .0.len())]
    Invalid(engine::inventory::Problems),
    /// `507`: the disk is full; nothing of the request was stored.
    #[error("{0}")]
    InsufficientStorage(String),
    /// `500`: a query failed while running (its message is shown: only staff may query).
    #[error("{0}")]
    QueryFailed(String),
    /// `500`: a fault of ours; its source chain is logged once (by [`ApiError::log`], where the
    /// response is made), never shown.
    #[error("internal error")]
    Internal(#[source] Internal),
    /// `503`: not ready (a dependency is down).
    #[error("{0}")]
    Unavailable(String),
}

/// A fault of ours: what was being done, and the error that stopped it (kept, not flattened to
/// text, so the log shows the whole chain).
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct Internal {
    context: std::borrow::Cow<'static, str>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// A fault of ours caused by `source`.
    pub fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::internal_in("internal error", source)
    }

    /// A fault of ours while doing `context`, caused by `source`.
    pub fn internal_in(
        context: impl Into<std::borrow::Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ApiError::Internal(Internal { context: context.into(), source: Some(Box::new(source)) })
    }

    /// A fault of ours with no underlying error (a broken invariant, a poisoned lock).
    pub fn bug(context: &'static str) -> Self {
        ApiError::Internal(Internal { context: context.into(), source: None })
    }

    /// Logs a fault of ours with its whole source chain; the one place errors are logged on the
    /// way out (the API's and the portal's responses both call it). Others are the caller's
    /// fault and are not logged as errors.
    pub(crate) fn log(&self, surface: &'static str) {
        if let ApiError::Internal(internal) = self {
            let mut chain = internal.context.to_string();
            let mut next = std::error::Error::source(internal);
            while let Some(e) = next {
                chain.push_str(": ");
                chain.push_str(&e.to_string());
                next = e.source();
            }
            tracing::error!(surface, cause = %chain, "internal error");
        }
    }
}

/// `Retry-After` of every `503`, seconds.
pub const RETRY_AFTER_S: &str = "5";

/// The problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// For a bad line-protocol line: its 1-based number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For an invalid inventory change: every problem, with its path (`body.site`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub problems: Option<engine::inventory::Problems>,
}

impl ApiError {
    pub(crate) fn status_and_slug(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            ApiError::BadLine { .. } => (StatusCode::BAD_REQUEST, "bad-line"),
            ApiError::InsufficientStorage(_) => (StatusCode::INSUFFICIENT_STORAGE, "insufficient-storage"),
            ApiError::QueryFailed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "query-failed"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-inventory"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug) = self.status_and_slug();
        self.log("api");
        let problem = Problem {
            kind: format!("https://colometer.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            line: match &self {
                ApiError::BadLine { line, .. } => Some(*line),
                _ => None,
            },
            problems: match &self {
                ApiError::Invalid(p) => Some(p.clone()),
                _ => None,
            },
        };
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/problem+json"));
        if matches!(self, ApiError::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if matches!(self, ApiError::Unavailable(_)) {
            // A failover or restart takes seconds; the request timeout is longer.
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static(RETRY_AFTER_S));
        }
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (status, headers, body).into_response()
    }
}

impl From<engine::catalog::LedgerError> for ApiError {
    fn from(e: engine::catalog::LedgerError) -> Self {
        use engine::catalog::LedgerError as L;
        match e {
            L::NotFound => ApiError::NotFound,
            L::Conflict(m) => ApiError::Conflict(m),
            L::Rule(m) => ApiError::Unprocessable(m),
            L::Credit(c) => ApiError::Unprocessable(c.to_string()),
            L::Id(e) => ApiError::Unprocessable(format!("identifier: {e}")),
            L::Postgres(p) if p.is_unavailable() => {
                ApiError::Unavailable(format!("the catalog database is unavailable: {p}"))
            }
            L::Query(_)
            | L::Corrupt(_)
            | L::Document(_)
            | L::Draft(_)
            | L::Currency(_)
            | L::Unreadable(_)
            | L::Postgres(_) => ApiError::internal(e),
        }
    }
}

impl From<engine::billing::BillingError> for ApiError {
    fn from(e: engine::billing::BillingError) -> Self {
        use engine::billing::BillingError as B;
        use engine::invoicing::run::RunError;
        match e {
            B::InProgress(_) => ApiError::Conflict(e.to_string()),
            B::Rating(RunError::Period(p)) => ApiError::Unprocessable(p.to_string()),
            B::Rating(other) => ApiError::internal(other),
            B::Ledger(l) => ApiError::from(l),
            B::Catalog(c) => ApiError::from(c),
            B::Poisoned => ApiError::bug("the catalog lock is poisoned"),
        }
    }
}

impl From<engine::catalog::CatalogError> for ApiError {
    fn from(e: engine::catalog::CatalogError) -> Self {
        use engine::catalog::CatalogError as C;
        match e {
            C::Concurrent { .. } => ApiError::Conflict(e.to_string()),
            C::DuplicateToken(_) => ApiError::Conflict(e.to_string()),
            C::Ledger(l) => ApiError::from(*l),
            ref other if other.is_unavailable() => {
                ApiError::Unavailable(format!("the catalog database is unavailable: {other}"))
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<engine::inventory::edit::EditError> for ApiError {
    fn from(e: engine::inventory::edit::EditError) -> Self {
        use engine::inventory::edit::EditError as E;
        match e {
            E::NotFound { .. } => ApiError::NotFound,
            E::Invalid(p) => ApiError::Invalid(p),
            E::Exists { .. } | E::NotPlanned(_) | E::NeverActive(_) | E::AlreadyRetired(_) | E::SameSite { .. } => {
                ApiError::Conflict(e.to_string())
            }
            E::IdMismatch { .. } | E::MissingId | E::RetiredBeforeActive { .. } | E::MoveBeforeStay { .. } => {
                ApiError::Unprocessable(e.to_string())
            }
        }
    }
}
