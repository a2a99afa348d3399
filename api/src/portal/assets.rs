//! The portal's static assets, embedded in the binary: its own stylesheet and script, and uPlot
//! (npm `uplot` 1.6.32, MIT, vendored under `api/assets/vendor/uplot`; see its README).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::PathParams;

/// `(path, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("portal.css", "text/css; charset=utf-8", include_bytes!("../../assets/portal.css")),
    ("portal.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/portal.js")),
    (
        "uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    ("uplot/uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../../assets/vendor/uplot/uPlot.min.css")),
];

/// `GET /portal/assets/{path}`: public (no secrets in them), cached for an hour.
pub async fn asset(PathParams(path): PathParams<String>) -> Result<Response, ApiError> {
    let &(_, kind, bytes) = ASSETS.iter().find(|a| a.0 == path).ok_or(ApiError::NotFound)?;
    Ok(([(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=3600")], bytes).into_response())
}
