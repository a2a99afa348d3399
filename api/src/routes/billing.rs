//! Billing runs and the audit log:
//! - `POST /api/v1/billing-runs` `{"period":"2026-10"}` (admin, billing): rates every customer
//!   for the period (each in its own timezone) and stores drafts; idempotent: a rerun rebuilds
//!   drafts under the same IDs, never touches an issued invoice, never duplicates.
//! - `GET /api/v1/billing-runs` (admin, billing): past runs, newest first.
//! - `GET /api/v1/audit` (admin): the audit log and whether its hash chain holds.
//! - `GET /api/v1/reports/commitments?period=` (admin, billing): committed against used per
//!   service, stranded capacity per rack.
//! - `GET /api/v1/reports/reconciliation?at=` (admin, billing): where inventory and billing
//!   disagree as of `at` (default now), as `colometer reconcile --json`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use engine::billing;
use engine::invoicing::audit;
use engine::invoicing::record::BillingRun;
use engine::period::BillingPeriod;
use serde::Deserialize;

use crate::app::{AppState, CatalogState, MeteringState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::QueryParams;

/// The billing routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/billing-runs", get(list).post(create))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/reports/commitments", get(commitments))
        .route("/api/v1/reports/reconciliation", get(reconciliation))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// The billing period, `YYYY-MM`.
    #[schema(example = "2026-10")]
    period: String,
}

/// Rates `period` and stores the run through the engine's billing service (the path `colometer
/// bill run` takes too), over the server's settled metering sources. One run of a period at a
/// time among every process sharing the catalog: another request meanwhile gets `409` (a retry
/// after it finished runs again and finds the drafts unchanged).
pub async fn run_period(
    catalog: &CatalogState,
    metering: &MeteringState,
    clock: &SharedClock,
    period: BillingPeriod,
    actor: String,
) -> Result<BillingRun, ApiError> {
    let derived = metering.derived().await?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (catalog, clock) = (catalog.shared(), std::sync::Arc::clone(clock));
    Ok(metering
        .metered(derived, "billing", move |src| billing::run_period(&catalog, src, period, &actor, &*clock, threads))
        .await??)
}

#[utoipa::path(post, path = "/api/v1/billing-runs", tag = "billing", request_body = RunRequest, params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the first response")), responses((status = 201, description = "The run: drafts created, rebuilt, unchanged; finalized invoices kept", body = engine::invoicing::record::BillingRun)))]
async fn create(
    State(catalog): State<CatalogState>,
    State(clock): State<SharedClock>,
    State(metering): State<MeteringState>,
    State(cluster): State<Option<std::sync::Arc<crate::cluster::ClusterView>>>,
    caller: Caller,
    JsonBody(req): JsonBody<RunRequest>,
) -> Result<(StatusCode, Json<BillingRun>), ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing])?;
    let period = BillingPeriod::parse(&req.period).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    if let Some(c) = &cluster {
        c.caught_up().await?;
    }
    let run = run_period(&catalog, &metering, &clock, period, caller.token.to_string()).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/api/v1/billing-runs", tag = "billing", responses((status = 200, description = "Every billing run", body = Vec<engine::invoicing::record::BillingRun>)))]
async fn list(State(catalog): State<CatalogState>, caller: Caller) -> Result<Json<Vec<BillingRun>>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing])?;
    Ok(Json(catalog.ledger(|c| c.billing_runs()).await?))
}

#[derive(Debug, Deserialize)]
struct PeriodParam {
    period: String,
}

/// `GET /api/v1/reports/commitments?period=YYYY-MM` (admin, billing): committed against used per
/// service, and stranded capacity per rack.
#[utoipa::path(get, path = "/api/v1/reports/commitments", tag = "billing", params(("period" = String, Query, description = "YYYY-MM", example = "2026-10")), responses((status = 200, description = "Committed against used per service; stranded capacity per rack", body = engine::capacity::Report)))]
async fn commitments(
    State(metering): State<MeteringState>,
    caller: Caller,
    QueryParams(p): QueryParams<PeriodParam>,
) -> Result<Json<engine::capacity::Report>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing])?;
    let period = BillingPeriod::parse(&p.period).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let derived = metering.derived().await?;
    let report = metering
        .metered(derived, "report", move |src| engine::capacity::report(src, period))
        .await?
        .map_err(ApiError::internal)?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
struct AtParam {
    at: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/reconciliation", tag = "billing",
    params(("at" = Option<String>, Query, description = "RFC 3339; now when absent", example = "2026-10-20T00:00:00Z")),
    responses((status = 200, description = "`{\"at\", \"findings\": [{check, subject, customer, detail}]}`", body = Object)))]
async fn reconciliation(
    State(clock): State<SharedClock>,
    State(metering): State<MeteringState>,
    caller: Caller,
    QueryParams(p): QueryParams<AtParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing])?;
    let at = match p.at {
        Some(s) => engine::time::Timestamp::parse(&s).map_err(|e| ApiError::BadRequest(format!("at: {e}")))?,
        None => clock.now(),
    };
    let derived = metering.derived().await?;
    let findings = engine::reconcile::reconcile(&derived.inventory, at);
    Ok(Json(serde_json::json!({"at": at, "findings": findings})))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "billing", responses((status = 200, description = "The hash-chained audit log and whether the chain is intact (admin)", body = Object)))]
async fn audit_log(State(catalog): State<CatalogState>, caller: Caller) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[Allow::Admin])?;
    let entries = catalog.ledger(|c| c.audit_log()).await?;
    let verified = audit::verify(&entries);
    Ok(Json(serde_json::json!({
        "chain": match &verified { Ok(()) => "intact".to_owned(), Err(e) => e.to_string() },
        "entries": entries,
    })))
}
