//! `GET /api/v1/customers/{id}/history?from=&to=` (or `?period=YYYY-MM`): what the portal's
//! charts draw, per 5-minute bucket (`engine::metering::read_models::history`); at most a month at once.

use axum::Json;
use axum::extract::State;
use engine::metering::read_models::history::{History, HistoryError, customer_history};

use super::usage::{Params, customer_window, usage_error};
use crate::app::MeteringState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};

/// The customer's chart series.
#[utoipa::path(get, path = "/api/v1/customers/{id}/history", tag = "usage", params(("id" = String, Path, description = "Customer ID", example = "acme"), ("from" = Option<String>, Query, description = "RFC 3339, with `to`"), ("to" = Option<String>, Query, description = "RFC 3339, with `from`"), ("period" = Option<String>, Query, description = "YYYY-MM, instead of from/to", example = "2026-10")), responses((status = 200, description = "Power and pooled bandwidth per 5-minute bucket, with the plans' commitments", body = History)))]
pub(crate) async fn history(
    State(metering): State<MeteringState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<History>, ApiError> {
    let (customer, derived, window) = customer_window(&metering, &caller, id, &p).await?;
    metering.metered(derived, "history", move |src| customer_history(src, &customer, &window)).await?.map(Json).map_err(
        |e| match e {
            HistoryError::Usage(u) => usage_error(u),
            e @ HistoryError::TooLong(_) => ApiError::Unprocessable(e.to_string()),
        },
    )
}
