//! `POST /api/v1/write?precision=ns|us|ms|s`: line protocol in, `204` once every line is durable.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::post;
use engine::cluster::publish::{Keying, PublishError, Publisher};
use engine::ingest::{self, Precision, Window};
use engine::store::StoreError;
use serde::Deserialize;

use crate::app::{AppState, IngestState, MeteringState, SharedClock};
use crate::auth::{Allow, Caller};
use crate::error::ApiError;
use crate::extract::QueryParams;

/// The write route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/write", post(write))
}

#[derive(Debug, Deserialize)]
struct Params {
    precision: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/write", tag = "readings", params(("precision" = Option<String>, Query, description = "ns (default), us, ms or s")), request_body(content = String, content_type = "text/plain", description = "InfluxDB line protocol (`outlet` and `port_counters`)"), responses((status = 204, description = "Every line is durable")))]
async fn write(
    State(clock): State<SharedClock>,
    State(ingest): State<IngestState>,
    State(metering): State<MeteringState>,
    caller: Caller,
    QueryParams(params): QueryParams<Params>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Allow::Ingest, Allow::Admin])?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(ingest.limits.body_limit_bytes),
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let p = params.precision.as_deref().unwrap_or("ns");
    let precision = Precision::parse(p)
        .ok_or_else(|| ApiError::BadRequest(format!("precision {p:?} is not one of ns, us, ms, s")))?;
    let known = metering.known_resources().await?;
    let window =
        Window { now: clock.now(), retention_ns: i64::try_from(ingest.retention.as_nanos()).unwrap_or(i64::MAX) };
    if let Some(publisher) = &ingest.publisher {
        return publish(publisher, body, precision, window, known).await;
    }
    let store = metering.store.clone();
    let tee = ingest.tee.clone();
    tokio::task::spawn_blocking(move || {
        let text =
            std::str::from_utf8(&body).map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8: {e}")))?;
        let bad_line = |e: ingest::LineError| ApiError::BadLine { line: e.line, message: e.message };
        let refused = |e: StoreError| match e {
            StoreError::DiskFull(_) => ApiError::InsufficientStorage(e.to_string()),
            StoreError::Closed => ApiError::Unavailable(e.to_string()),
            other => ApiError::internal(other),
        };
        // The tee needs each reading's key; without it, known series are resolved while parsing.
        let Some(tee) = tee else {
            let batch = ingest::parse_batch(text, precision, window, &known, &store).map_err(bad_line)?;
            if !batch.is_empty() {
                store.write_batch(batch).map_err(refused)?;
            }
            return Ok::<(), ApiError>(());
        };
        let readings = ingest::parse(text, precision, window, &known).map_err(bad_line)?;
        if readings.is_empty() {
            return Ok(());
        }
        let copy = readings.clone();
        store.write(readings).map_err(refused)?;
        tee.offer(copy);
        Ok(())
    })
    .await
    .map_err(|e| ApiError::internal_in("write task", e))??;
    Ok(StatusCode::NO_CONTENT)
}

/// Cluster mode: the lines are parsed and checked here as on a single node, then appended to
/// the log; `204` once the log has acknowledged every shard's part (#23's durability point).
async fn publish(
    publisher: &Publisher,
    body: Bytes,
    precision: Precision,
    window: Window,
    known: std::sync::Arc<ingest::KnownResources>,
) -> Result<StatusCode, ApiError> {
    let readings = tokio::task::spawn_blocking(move || {
        let text =
            std::str::from_utf8(&body).map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8: {e}")))?;
        ingest::parse(text, precision, window, &known)
            .map_err(|e| ApiError::BadLine { line: e.line, message: e.message })
    })
    .await
    .map_err(|e| ApiError::internal_in("write task", e))??;
    if !readings.is_empty() {
        publisher.publish(readings, Keying::Content).await.map_err(|e| match e {
            PublishError::Log(e) => ApiError::Unavailable(e.to_string()),
            PublishError::Batch(e) => ApiError::internal(e),
        })?;
    }
    Ok(StatusCode::NO_CONTENT)
}
