//! `GET /api/v1/customers/{id}/usage?from=&to=` (or `?period=YYYY-MM`, the customer's billing
//! month in its timezone): the usage object of `contract.md`, with the 95th's evidence.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::id::CustomerId;
use engine::metering::bandwidth::mbps;
use engine::metering::bucket_table::Direction;
use engine::metering::read_models::month_to_date::MonthToDate;
use engine::metering::usage::{Quantity, Usage, UsageError};
use engine::period::BillingPeriod;
use engine::time::{Interval, Timestamp};
use serde::{Deserialize, Serialize};

use crate::app::{AppState, Derived, MeteringState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};

/// Longest window one request may ask for.
const MAX_WINDOW_DAYS: i64 = 400;

/// The usage route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/customers/{id}/usage", get(usage))
        .route("/api/v1/customers/{id}/month-to-date", get(month_to_date))
        .route("/api/v1/customers/{id}/history", get(super::history::history))
        .route("/api/v1/ports/month-to-date", get(ports_month_to_date))
}

/// A window as `from` and `to` (RFC 3339) or `period` (YYYY-MM, the customer's billing month).
#[derive(Debug, Deserialize)]
pub(crate) struct Params {
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
}

/// The window `p` names (`tz`: the customer's billing timezone), at most [`MAX_WINDOW_DAYS`].
fn window(p: &Params, tz: chrono_tz::Tz) -> Result<Interval, ApiError> {
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
    Ok(window)
}

/// What the usage and history endpoints start from: the customer (staff, or that customer's
/// own token; another customer's is `404`), the inventory, and the window in the customer's
/// billing timezone.
pub(crate) async fn customer_window(
    metering: &MeteringState,
    caller: &Caller,
    id: String,
    p: &Params,
) -> Result<(CustomerId, Arc<Derived>, Interval), ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing, Allow::Customer])?;
    let customer = CustomerId::new(id).map_err(|_| ApiError::NotFound)?;
    caller.see_customer(&customer)?;
    let derived = metering.derived().await?;
    let tz = derived.inventory.customers.get(&customer).ok_or(ApiError::NotFound)?.billing_timezone;
    let window = window(p, tz)?;
    Ok((customer, derived, window))
}

fn instant(name: &str, v: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(v).map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/usage", tag = "usage", params(("id" = String, Path, description = "Customer ID", example = "acme"), ("from" = Option<String>, Query, description = "RFC 3339, with `to`"), ("to" = Option<String>, Query, description = "RFC 3339, with `from`"), ("period" = Option<String>, Query, description = "YYYY-MM, instead of from/to", example = "2026-10")), responses((status = 200, description = "The usage object of contract.md", body = engine::metering::usage::Usage)))]
async fn usage(
    State(metering): State<MeteringState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(p): QueryParams<Params>,
) -> Result<Json<KeptUsage>, ApiError> {
    let (customer, derived, window) = customer_window(&metering, &caller, id, &p).await?;
    let (cache, generation) = (Arc::clone(&metering.usage_cache), derived.generation);
    // Settled already (nothing waits for the observer or a rebuild): a kept object is served
    // here, without a hand-over to the blocking pool.
    if metering.store.observer_lag() == 0
        && !metering.buckets.is_dirty()
        && let Some(kept) = cache.kept(&metering.store, &metering.buckets, generation, &customer, &window)
    {
        return Ok(Json(KeptUsage(kept)));
    }
    metering
        .metered(derived, "usage", move |src| cache.usage(src, generation, &customer, &window))
        .await?
        .map(|u| Json(KeptUsage(u)))
        .map_err(usage_error)
}

/// A usage object, possibly the cache's, serialized where it is.
pub(crate) struct KeptUsage(Arc<Usage>);

impl Serialize for KeptUsage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The problem a usage failure answers with.
pub(crate) fn usage_error(e: UsageError) -> ApiError {
    match e {
        UsageError::UnknownCustomer(_) => ApiError::NotFound,
        UsageError::Period(p) => ApiError::Unprocessable(p.to_string()),
        UsageError::Store(e) => ApiError::internal(e),
    }
}

/// `GET /api/v1/customers/{id}/month-to-date`: the customer's billing month so far (its
/// timezone), with month-end projections.
#[utoipa::path(get, path = "/api/v1/customers/{id}/month-to-date", tag = "usage", params(("id" = String, Path, description = "Customer ID", example = "acme")), responses((status = 200, description = "The billing month so far, with projections", body = engine::metering::read_models::month_to_date::MonthToDate)))]
async fn month_to_date(
    State(clock): State<SharedClock>,
    State(metering): State<MeteringState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<MonthToDate>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing, Allow::Customer])?;
    let customer = CustomerId::new(id).map_err(|_| ApiError::NotFound)?;
    caller.see_customer(&customer)?;
    let derived = metering.derived().await?;
    let now = clock.now();
    metering
        .metered(derived, "month-to-date", move |src| {
            engine::metering::read_models::month_to_date::month_to_date(src, &customer, now)
        })
        .await?
        .map(Json)
        .map_err(usage_error)
}

/// One port's running 95th this (UTC) month.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PortRunning {
    id: String,
    direction: &'static str,
    month_start: Timestamp,
    p95_mbps: Option<Quantity>,
    p95_bucket: Option<Timestamp>,
    samples: usize,
    discarded: usize,
}

/// `GET /api/v1/ports/month-to-date` (staff): every port's running 95th per direction this UTC
/// month, over its finished buckets, read from the running state.
#[utoipa::path(get, path = "/api/v1/ports/month-to-date", tag = "usage", responses((status = 200, description = "Every port's running 95th per direction this UTC month", body = Vec<PortRunning>)))]
async fn ports_month_to_date(
    State(metering): State<MeteringState>,
    caller: Caller,
) -> Result<Json<Vec<PortRunning>>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing])?;
    let (store, buckets) = (Arc::clone(&metering.store), Arc::clone(&metering.buckets));
    let running = tokio::task::spawn_blocking(move || {
        buckets.settle(&store)?;
        Ok::<_, engine::metering::bucket_table::BucketError>(buckets.month_to_date())
    })
    .await
    .map_err(|e| ApiError::internal_in("month-to-date task failed", e))?
    .map_err(ApiError::internal)?;
    let mut rows: Vec<PortRunning> = running
        .into_iter()
        .map(|r| PortRunning {
            id: format!("{}/{}", r.device, r.port),
            direction: if r.direction == Direction::In { "in" } else { "out" },
            month_start: r.month_start,
            p95_mbps: r.p95.map(|p| Quantity(mbps(p.value.0))),
            p95_bucket: r.p95.map(|p| p.value.1),
            samples: r.p95.map_or(0, |p| p.n),
            discarded: r.p95.map_or(0, |p| p.discarded),
        })
        .collect();
    rows.sort_by(|a, b| (&a.id, a.direction).cmp(&(&b.id, b.direction)));
    Ok(Json(rows))
}
