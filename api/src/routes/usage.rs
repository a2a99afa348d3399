//! `GET /api/v1/customers/{id}/usage?from=&to=` (or `?period=YYYY-MM`, the customer's billing
//! month in its timezone): the usage object of `contract.md`, with the 95th's evidence.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use engine::id::CustomerId;
use engine::metering::usage::{Sources, Usage, UsageError, customer_usage};
use engine::period::BillingPeriod;
use engine::time::{Interval, Timestamp};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{Allow, Caller};
use crate::error::ApiError;

/// Longest window one request may ask for.
const MAX_WINDOW_DAYS: i64 = 400;

/// The usage route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/customers/{id}/usage", get(usage))
}

#[derive(Debug, Deserialize)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
}

fn instant(name: &str, v: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(v).map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
}

async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<Usage>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing, Allow::Customer])?;
    let customer = CustomerId::new(id).map_err(|_| ApiError::NotFound)?;
    caller.see_customer(&customer)?;
    let derived = state.derived().await?;
    let tz = derived.inventory.customers.get(&customer).ok_or(ApiError::NotFound)?.billing_timezone;
    let window = match (p.from.as_deref(), p.to.as_deref(), p.period.as_deref()) {
        (Some(f), Some(t), None) => {
            let (from, to) = (instant("from", f)?, instant("to", t)?);
            Interval::closed(from, to).map_err(|e| ApiError::Unprocessable(format!("from/to: {e}")))?
        }
        (None, None, Some(period)) => BillingPeriod::parse(period)
            .and_then(|p| p.interval(tz))
            .map_err(|e| ApiError::BadRequest(format!("period: {e}")))?,
        _ => return Err(ApiError::BadRequest("give either `from` and `to` (RFC 3339) or `period` (YYYY-MM)".into())),
    };
    if window.end().as_nanos() - window.from.as_nanos() > MAX_WINDOW_DAYS * 86_400 * 1_000_000_000 {
        return Err(ApiError::Unprocessable(format!("a usage window is at most {MAX_WINDOW_DAYS} days")));
    }
    let (store, buckets) = (Arc::clone(&state.store), Arc::clone(&state.buckets));
    let joined = tokio::task::spawn_blocking(move || {
        buckets.settle(&store).map_err(UsageError::Store)?;
        let src = Sources { inventory: &derived.inventory, plant: &derived.plant, buckets: &buckets, store: &store };
        customer_usage(&src, &customer, &window)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("usage task failed: {e}")))?;
    match joined {
        Ok(u) => Ok(Json(u)),
        Err(UsageError::UnknownCustomer(_)) => Err(ApiError::NotFound),
        Err(UsageError::Store(e)) => Err(ApiError::Internal(e.to_string())),
    }
}
