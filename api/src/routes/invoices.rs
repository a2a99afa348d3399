//! Invoices and their lifecycle (`contract.md`):
//! - `GET /api/v1/invoices?customer=&period=&status=&cursor=&limit=` — staff see all, a customer
//!   token its own only (another customer's filter gives an empty page, never their data);
//! - `GET /api/v1/invoices/{id}`, `GET /api/v1/invoices/{id}/lines/{n}/evidence`;
//! - `GET /api/v1/invoices/{id}/document` (printable HTML) and `GET /api/v1/invoices/{id}/pdf`;
//! - `POST /api/v1/invoices/{id}/finalize | send | void | credit-notes | payments` (admin,
//!   billing); an issued invoice refuses every change of its content with `409`;
//! - `GET /api/v1/credit-notes/{id}`.
//!
//! Reading where the contract is silent: a customer sees its drafts too (a preview of what will
//! be billed); a period is finalized only once it has ended (`422` before).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::access::Role;
use engine::id::{CreditNoteId, InvoiceId};
use engine::invoicing::credit_note::CreditNote;
use engine::invoicing::invoice::Status;
use engine::invoicing::record::{InvoiceFilter, InvoiceView, LineEvidence, Payment};
use engine::period::BillingPeriod;
use engine::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::app::{AppState, CatalogState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};

/// The invoice routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/invoices", get(list))
        .route("/api/v1/invoices/{id}", get(one))
        .route("/api/v1/invoices/{id}/lines/{n}/evidence", get(evidence))
        .route("/api/v1/invoices/{id}/document", get(document))
        .route("/api/v1/invoices/{id}/pdf", get(pdf))
        .route("/api/v1/invoices/{id}/finalize", post(finalize))
        .route("/api/v1/invoices/{id}/send", post(send))
        .route("/api/v1/invoices/{id}/void", post(void))
        .route("/api/v1/invoices/{id}/credit-notes", post(credit))
        .route("/api/v1/invoices/{id}/payments", post(pay))
        .route("/api/v1/credit-notes/{id}", get(credit_note))
}

const READERS: &[Allow] = &[Allow::Admin, Allow::Billing, Allow::Customer];
const STAFF: &[Allow] = &[Allow::Admin, Allow::Billing];

#[derive(Debug, Deserialize)]
struct ListParams {
    customer: Option<String>,
    period: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// A page of invoices.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Page {
    items: Vec<InvoiceView>,
    next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/invoices", tag = "invoices", params(("customer" = Option<String>, Query), ("period" = Option<String>, Query, description = "YYYY-MM", example = "2026-10"), ("status" = Option<String>, Query, description = "draft, finalized, sent, paid or void"), ("cursor" = Option<String>, Query, description = "`next` of the previous page"), ("limit" = Option<usize>, Query, description = "At most this many (default 100)")), responses((status = 200, description = "A page of invoices", body = Page), (status = 400, description = "A malformed period or status")))]
async fn list(
    State(catalog): State<CatalogState>,
    caller: Caller,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<Page>, ApiError> {
    caller.require(READERS)?;
    let status = match p.status.as_deref() {
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!("status {s:?}: expected draft, finalized, sent, paid or void"))
        })?),
        None => None,
    };
    // A malformed period is refused like a malformed status (it was an empty page: a typo such
    // as `2026-1` read as "no invoices"); a well-formed month without invoices is an empty page.
    let period = match p.period.as_deref().map(BillingPeriod::parse) {
        Some(Ok(period)) => Some(period),
        Some(Err(e)) => return Err(ApiError::BadRequest(format!("period: {e}"))),
        None => None,
    };
    let mut filter =
        InvoiceFilter { customer: p.customer, period, status, after: p.cursor, limit: p.limit.unwrap_or(100) };
    if let Role::Customer(own) = &caller.role {
        if filter.customer.as_deref().is_some_and(|c| c != own.as_str()) {
            return Ok(Json(Page { items: vec![], next: None }));
        }
        filter.customer = Some(own.to_string());
    }
    let (items, next) = catalog.ledger(move |c| c.invoices(&filter)).await?;
    Ok(Json(Page { items, next }))
}

/// An invoice ID from a path: one that is not a valid ID names no invoice (`404`).
pub(crate) fn invoice_id(id: String) -> Result<InvoiceId, ApiError> {
    InvoiceId::new(id).map_err(|_| ApiError::NotFound)
}

/// The invoice, if the caller may see it (`404` otherwise, as if it did not exist).
pub(crate) async fn visible(catalog: &CatalogState, caller: &Caller, id: String) -> Result<InvoiceView, ApiError> {
    let id = invoice_id(id)?;
    let view = catalog.ledger(move |c| c.invoice(&id)).await?;
    caller.see_customer(&view.body.customer)?;
    Ok(view)
}

#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10")), responses((status = 200, description = "The invoice", body = InvoiceView)))]
async fn one(
    State(catalog): State<CatalogState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    caller.require(READERS)?;
    Ok(Json(visible(&catalog, &caller, id).await?))
}

#[utoipa::path(get, path = "/api/v1/invoices/{id}/lines/{n}/evidence", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10"), ("n" = u32, Path, description = "Line number, from 1", example = 1)), responses((status = 200, description = "The readings and computation behind line n", body = LineEvidence)))]
async fn evidence(
    State(catalog): State<CatalogState>,
    caller: Caller,
    PathParams((id, n)): PathParams<(String, String)>,
) -> Result<Json<LineEvidence>, ApiError> {
    caller.require(READERS)?;
    let n: u32 = n.parse().map_err(|_| ApiError::NotFound)?;
    visible(&catalog, &caller, id.clone()).await?;
    let id = invoice_id(id)?;
    Ok(Json(catalog.ledger(move |c| c.line_evidence(&id, n)).await?))
}

#[utoipa::path(get, path = "/api/v1/invoices/{id}/document", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10")), responses((status = 200, description = "Printable HTML", body = String, content_type = "text/html")))]
async fn document(
    State(catalog): State<CatalogState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    caller.require(READERS)?;
    let view = visible(&catalog, &caller, id).await?;
    let html = crate::invoice_doc::html(&view).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

#[utoipa::path(get, path = "/api/v1/invoices/{id}/pdf", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10")), responses((status = 200, description = "The invoice as PDF", body = Vec<u8>, content_type = "application/pdf")))]
async fn pdf(
    State(catalog): State<CatalogState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    caller.require(READERS)?;
    let view = visible(&catalog, &caller, id).await?;
    let name = format!("attachment; filename=\"{}.pdf\"", view.body.id);
    let bytes = tokio::task::spawn_blocking(move || crate::invoice_doc::pdf(&view))
        .await
        .map_err(|e| ApiError::internal_in("pdf task failed", e))?
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, name)], bytes)
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/invoices/{id}/finalize", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10"), ("Idempotency-Key" = Option<String>, Header)), responses((status = 200, description = "The finalized invoice (number assigned)", body = InvoiceView)))]
async fn finalize(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    caller.require(STAFF)?;
    let now = clock.now();
    let actor = caller.token.to_string();
    let id = invoice_id(id)?;
    Ok(Json(catalog.ledger(move |c| c.finalize_invoice(&id, &actor, now)).await?))
}

#[utoipa::path(post, path = "/api/v1/invoices/{id}/send", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10"), ("Idempotency-Key" = Option<String>, Header)), responses((status = 200, description = "The invoice, marked sent", body = InvoiceView)))]
async fn send(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    caller.require(STAFF)?;
    let (actor, now) = (caller.token.to_string(), clock.now());
    let id = invoice_id(id)?;
    Ok(Json(catalog.ledger(move |c| c.send_invoice(&id, &actor, now)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VoidRequest {
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/invoices/{id}/void", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10"), ("Idempotency-Key" = Option<String>, Header)), request_body = VoidRequest, responses((status = 201, description = "The credit note cancelling what is left", body = CreditNote)))]
async fn void(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<VoidRequest>,
) -> Result<(StatusCode, Json<CreditNote>), ApiError> {
    caller.require(STAFF)?;
    let (actor, now) = (caller.token.to_string(), clock.now());
    let reason = req.reason.unwrap_or_else(|| "void".into());
    let id = invoice_id(id)?;
    Ok((StatusCode::CREATED, Json(catalog.ledger(move |c| c.void_invoice(&id, reason, &actor, now)).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreditLineRequest {
    line: u32,
    amount: Decimal,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreditRequest {
    reason: String,
    lines: Vec<CreditLineRequest>,
}

#[utoipa::path(post, path = "/api/v1/invoices/{id}/credit-notes", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10"), ("Idempotency-Key" = Option<String>, Header)), request_body = CreditRequest, responses((status = 201, description = "A partial credit note", body = CreditNote)))]
async fn credit(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<CreditRequest>,
) -> Result<(StatusCode, Json<CreditNote>), ApiError> {
    caller.require(STAFF)?;
    let (actor, now) = (caller.token.to_string(), clock.now());
    let amounts: Vec<(u32, Decimal)> = req.lines.iter().map(|l| (l.line, l.amount)).collect();
    let id = invoice_id(id)?;
    let note = catalog.ledger(move |c| c.credit_invoice(&id, &amounts, req.reason, &actor, now)).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentRequest {
    amount: Decimal,
    paid_at: Option<String>,
    reference: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/invoices/{id}/payments", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10"), ("Idempotency-Key" = Option<String>, Header)), request_body = PaymentRequest, responses((status = 201, description = "The payment recorded", body = Payment)))]
async fn pay(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<PaymentRequest>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    caller.require(STAFF)?;
    let now = clock.now();
    let paid_at = match req.paid_at.as_deref() {
        Some(s) => Timestamp::parse(s).map_err(|e| ApiError::BadRequest(format!("paid_at: {e}")))?,
        None => now,
    };
    let actor = caller.token.to_string();
    let id = invoice_id(id)?;
    let p = catalog.ledger(move |c| c.record_payment(&id, req.amount, paid_at, req.reference, &actor, now)).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(get, path = "/api/v1/credit-notes/{id}", tag = "invoices", params(("id" = String, Path, example = "acme.2026-10")), responses((status = 200, description = "The credit note", body = CreditNote)))]
async fn credit_note(
    State(catalog): State<CatalogState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<CreditNote>, ApiError> {
    caller.require(READERS)?;
    let id = CreditNoteId::new(id).map_err(|_| ApiError::NotFound)?;
    let note = catalog.ledger(move |c| c.credit_note(&id)).await?;
    caller.see_customer(&note.customer)?;
    Ok(Json(note))
}
