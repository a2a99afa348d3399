//! `GET /api/v1/customers/{id}/live`: Server-Sent Events of the customer's live view (power per
//! outlet, rate per port, month-to-date kWh, kgCO2e, running 95th and projections; see
//! `engine::metering::read_models::live`). Admin, billing, or that customer (another customer: 404).
//!
//! - The first event is sent at once; then one whenever readings arrived (the store's commit
//!   sequence moved), at most every [`MIN_INTERVAL`], and at least every [`MAX_QUIET`] (the month
//!   so far moves with time too). Each event is `event: live`, `id:` the commit sequence it saw,
//!   `data:` the live view as JSON. A failure to compute one is sent as `event: error` with a
//!   problem document, and the stream goes on.
//! - At most [`MAX_STREAMS`] streams are open at once (each recomputes the month so far):
//!   beyond that, `503`. Streams end when the server stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use engine::id::CustomerId;
use engine::metering::read_models::live::{Live, live};
use engine::metering::usage::{Sources, UsageError};
use futures::Stream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::app::{AppState, LiveState, MeteringState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::error::ApiError;
use crate::extract::PathParams;

/// Live streams open at once.
pub const MAX_STREAMS: usize = 64;
/// Shortest time between two events of a stream.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest time without an event.
pub const MAX_QUIET: Duration = Duration::from_secs(5);

/// The live route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/customers/{id}/live", get(stream))
}

struct Feed {
    metering: MeteringState,
    live: LiveState,
    clock: SharedClock,
    customer: CustomerId,
    seen_seq: Option<engine::store::CommitSeq>,
    last: Option<Instant>,
    _permit: OwnedSemaphorePermit,
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/live", tag = "usage", params(("id" = String, Path, description = "Customer ID")), responses((status = 200, description = "Server-Sent Events: `event: live`, `data:` a Live object", body = String, content_type = "text/event-stream")))]
async fn stream(
    State(metering): State<MeteringState>,
    State(live): State<LiveState>,
    State(clock): State<SharedClock>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing, Allow::Customer])?;
    let customer = CustomerId::new(id).map_err(|_| ApiError::NotFound)?;
    caller.see_customer(&customer)?;
    if !metering.derived().await?.inventory.customers.contains_key(&customer) {
        return Err(ApiError::NotFound);
    }
    let permit = Arc::clone(&live.streams)
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable(format!("{MAX_STREAMS} live streams are open; try again later")))?;
    let feed = Feed { metering, live, clock, customer, seen_seq: None, last: None, _permit: permit };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let seq = next_moment(&feed).await?;
        feed.seen_seq = Some(seq);
        feed.last = Some(Instant::now());
        let event = match compute(&feed).await {
            Ok(view) => Event::default().event("live").id(seq.to_string()).json_data(&view),
            Err(e) => Event::default().event("error").json_data(problem(&e)),
        };
        let event = event.unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
        Some((Ok(event), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Waits until the next event is due and returns the commit sequence it will show; `None` when
/// the server stops.
async fn next_moment(feed: &Feed) -> Option<engine::store::CommitSeq> {
    let Some(last) = feed.last else { return Some(feed.metering.store.committed_seq()) };
    let mut at = last + MIN_INTERVAL;
    loop {
        tokio::select! {
            _ = feed.live.shutdown.cancelled() => return None,
            _ = tokio::time::sleep_until(at) => {}
        }
        let seq = feed.metering.store.committed_seq();
        if Some(seq) != feed.seen_seq || last.elapsed() >= MAX_QUIET {
            return Some(seq);
        }
        at = Instant::now() + Duration::from_millis(250);
    }
}

async fn compute(feed: &Feed) -> Result<Live, ApiError> {
    let derived = feed.metering.derived().await?;
    let now = feed.clock.now();
    let (store, buckets, customer) =
        (Arc::clone(&feed.metering.store), Arc::clone(&feed.metering.buckets), feed.customer.clone());
    tokio::task::spawn_blocking(move || {
        buckets.settle(&store).map_err(UsageError::Store)?;
        let src = Sources { inventory: &derived.inventory, plant: &derived.plant, buckets: &buckets, store: &store };
        live(&src, &customer, now)
    })
    .await
    .map_err(|e| ApiError::internal_in("live task failed", e))?
    .map_err(|e| match e {
        UsageError::UnknownCustomer(_) => ApiError::NotFound,
        other => ApiError::internal(other),
    })
}

fn problem(e: &ApiError) -> serde_json::Value {
    serde_json::json!({"title": "live view failed", "detail": e.to_string()})
}
