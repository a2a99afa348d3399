//! `POST /api/v1/query {"sql": "..."}`: SQL over the store. JSON `{"columns", "rows"}` by
//! default; Arrow IPC stream with `Accept: application/vnd.apache.arrow.stream`.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use engine::time::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{AppState, MeteringState};
use crate::auth::{Allow, Caller};
use crate::error::ApiError;
use crate::query::QueryError;

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The query route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/query", post(query))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct QueryRequest {
    /// The SQL.
    #[schema(example = "SELECT device, count(*) AS n FROM readings GROUP BY device")]
    sql: String,
}

#[utoipa::path(post, path = "/api/v1/query", tag = "readings", request_body = QueryRequest, responses((status = 200, description = "`{\"columns\": [..], \"rows\": [[..]]}`, or Arrow IPC with `Accept: application/vnd.apache.arrow.stream`", body = Object)))]
async fn query(
    State(metering): State<MeteringState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Allow::Admin, Allow::Billing])?;
    // Any content type: `curl -d` sends form-encoded headers with a JSON body.
    let body = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let body: QueryRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"sql\": \"...\"}}: {e}")))?;
    metering.derived().await?;
    let (schema, batches) = metering.query.run(body.sql).await.map_err(|e| match e {
        QueryError::Invalid(m) => ApiError::BadRequest(m),
        QueryError::TooBig(m) => ApiError::Unprocessable(m),
        QueryError::Failed(m) | QueryError::Setup(m) => ApiError::QueryFailed(m),
    })?;
    let wants_arrow =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains(ARROW_STREAM));
    if wants_arrow {
        let bytes = ipc(&schema, &batches).map_err(|e| ApiError::QueryFailed(e.to_string()))?;
        return Ok(([(header::CONTENT_TYPE, ARROW_STREAM)], bytes).into_response());
    }
    Ok(Json(to_json(&schema, &batches)?).into_response())
}

fn ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.into_inner()
}

/// `{"columns": [...], "rows": [[...]]}`: decimals as strings (exact), timestamps as RFC 3339.
pub fn to_json(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Value, ApiError> {
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let row: Result<Vec<Value>, ApiError> = b.columns().iter().map(|c| cell(c, i)).collect();
            rows.push(Value::Array(row?));
        }
    }
    Ok(json!({"columns": columns, "rows": rows}))
}

fn cell(col: &ArrayRef, i: usize) -> Result<Value, ApiError> {
    use arrow::datatypes::*;
    if col.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match col.data_type() {
        DataType::Boolean => json!(col.as_boolean().value(i)),
        DataType::Int8 => json!(col.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => json!(col.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => json!(col.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => json!(col.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => json!(col.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => json!(col.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => json!(col.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => json!(col.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => json!(col.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => json!(col.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => json!(col.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => json!(col.as_string::<i64>().value(i)),
        DataType::Utf8View => json!(col.as_string_view().value(i)),
        DataType::Decimal128(_, scale) => {
            let v = col.as_primitive::<Decimal128Type>().value(i);
            match rust_decimal::Decimal::try_from_i128_with_scale(v, (*scale).max(0) as u32) {
                Ok(d) => json!(d.normalize().to_string()),
                Err(_) => json!(display(col, i)?),
            }
        }
        DataType::Timestamp(unit, _) => {
            let raw = match unit {
                TimeUnit::Second => col.as_primitive::<TimestampSecondType>().value(i).checked_mul(1_000_000_000),
                TimeUnit::Millisecond => col.as_primitive::<TimestampMillisecondType>().value(i).checked_mul(1_000_000),
                TimeUnit::Microsecond => col.as_primitive::<TimestampMicrosecondType>().value(i).checked_mul(1_000),
                TimeUnit::Nanosecond => Some(col.as_primitive::<TimestampNanosecondType>().value(i)),
            };
            match raw {
                Some(ns) => json!(Timestamp::from_nanos(ns).to_string()),
                None => json!(display(col, i)?),
            }
        }
        _ => json!(display(col, i)?),
    })
}

fn display(col: &ArrayRef, i: usize) -> Result<String, ApiError> {
    let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map_err(|e| ApiError::QueryFailed(e.to_string()))?;
    Ok(f.value(i).to_string())
}
