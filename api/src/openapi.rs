//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API, generated from the handlers'
//! `#[utoipa::path]` annotations and the types they take and return. Every operation also lists
//! the problem+json answers of [`ApiError`](crate::error::ApiError)'s one mapping, added here in
//! one place rather than on each handler.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::app::AppState;
use crate::error::Problem;
use crate::routes;

/// The document's source.
#[derive(OpenApi)]
#[openapi(
    info(title = "colometer", description = "Metering and billing for colocation and hosting operators."),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::metrics::metrics,
        routes::cluster::cluster,
        routes::whoami::whoami,
        routes::devices::list,
        routes::devices::one,
        routes::write::write,
        routes::query::query,
        routes::usage::usage,
        routes::usage::month_to_date,
        routes::history::history,
        routes::usage::ports_month_to_date,
        routes::live::stream,
        routes::billing::create,
        routes::billing::list,
        routes::billing::commitments,
        routes::billing::reconciliation,
        routes::billing::audit_log,
        routes::invoices::list,
        routes::invoices::one,
        routes::invoices::evidence,
        routes::invoices::document,
        routes::invoices::pdf,
        routes::invoices::finalize,
        routes::invoices::send,
        routes::invoices::void,
        routes::invoices::credit,
        routes::invoices::pay,
        routes::invoices::credit_note,
        routes::inventory::sites::list,
        routes::inventory::sites::one,
        routes::inventory::sites::put,
        routes::inventory::sites::create,
        routes::inventory::racks::list,
        routes::inventory::racks::one,
        routes::inventory::racks::put,
        routes::inventory::racks::create,
        routes::inventory::pdus::list,
        routes::inventory::pdus::one,
        routes::inventory::pdus::put,
        routes::inventory::pdus::create,
        routes::inventory::switches::list,
        routes::inventory::switches::one,
        routes::inventory::switches::put,
        routes::inventory::switches::create,
        routes::inventory::assets::list,
        routes::inventory::assets::one,
        routes::inventory::assets::put,
        routes::inventory::assets::create,
        routes::inventory::customers::list,
        routes::inventory::customers::one,
        routes::inventory::customers::put,
        routes::inventory::customers::create,
        routes::inventory::rate_plans::list,
        routes::inventory::rate_plans::one,
        routes::inventory::rate_plans::put,
        routes::inventory::rate_plans::create,
        routes::inventory::services::list,
        routes::inventory::services::one,
        routes::inventory::services::put,
        routes::inventory::services::create,
        routes::inventory::tickets::list,
        routes::inventory::tickets::one,
        routes::inventory::tickets::put,
        routes::inventory::tickets::create,
        routes::lifecycle::activate,
        routes::lifecycle::retire,
        routes::lifecycle::move_asset,
        routes::lifecycle::move_rack,
        routes::lifecycle::resources,
        routes::tokens::list,
        routes::tokens::create,
        routes::tokens::revoke,
        openapi_json,
    ),
    components(schemas(Problem, engine::metering::read_models::live::Live)),
    modifiers(&Conventions),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The bearer scheme and the problem answers of every operation.
struct Conventions;

/// The problem answers: status and when it is given.
const PROBLEMS: &[(&str, &str)] = &[
    ("400", "Malformed request (problem+json)"),
    ("401", "No valid bearer token"),
    ("403", "The token's role may not do this"),
    ("404", "Does not exist, or belongs to another customer"),
    ("409", "A change to something that no longer changes, or an Idempotency-Key still in flight"),
    ("413", "Body over the limit"),
    ("422", "Well-formed, but breaks a rule"),
    ("500", "A fault of ours (details logged)"),
    ("503", "Not ready, over a limit, or the request ran out of time"),
    ("507", "The disk is full; nothing of the request was stored"),
];

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("colo_…").build()),
        );
        let problem = Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem"))));
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete].into_iter().flatten() {
                add_problems(op, &problem);
            }
        }
    }
}

fn add_problems(op: &mut Operation, problem: &Content) {
    for (status, why) in PROBLEMS {
        op.responses.responses.entry((*status).to_owned()).or_insert_with(|| {
            RefOr::T(Response::builder().description(*why).content("application/problem+json", problem.clone()).build())
        });
    }
}

/// The route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}

/// The OpenAPI document (no token needed).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document", body = Object)))]
async fn openapi_json() -> Json<Document> {
    Json(ApiDoc::openapi())
}
