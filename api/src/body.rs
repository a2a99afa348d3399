//! `JsonBody<T>`: a JSON request body whose rejections are problem+json like every other error
//! (any content type is accepted: `curl -d` sends a form content type with JSON in it).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::error::ApiError;

/// A JSON body of type `T`; an empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e.status().as_u16() {
            413 => ApiError::PayloadTooLarge(state.ingest.limits.body_limit_bytes),
            _ => ApiError::BadRequest(e.body_text()),
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
    }
}
