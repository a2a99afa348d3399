//! The router through `tower::ServiceExt::oneshot`: no socket, same behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;

use api::app::{AppState, Limits, app};
use api::query::QueryEngine;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use engine::access::{self, Role};
use engine::catalog::{Catalog, SqliteCatalog};
use engine::clock::FixedClock;
use engine::id::CustomerId;
use engine::store::{Store, StoreConfig};
use engine::time::Timestamp;
use tower::ServiceExt;

/// A router over `catalog` and a store in a fresh temporary directory (kept for the process).
fn router(catalog: SqliteCatalog, now: Timestamp) -> axum::Router {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let clock = Arc::new(FixedClock::new(now));
    let (store, _) = Store::open(dir.path(), StoreConfig::default(), clock.clone()).unwrap();
    let store = Arc::new(store);
    let query = Arc::new(QueryEngine::new(store.clone(), 1, 1 << 28).unwrap());
    let limits = Limits { body_limit_bytes: 1024, request_timeout: std::time::Duration::from_secs(5) };
    app(AppState::new(catalog, store, query, clock, limits), limits)
}

fn router_with_tokens() -> (axum::Router, String, String) {
    let mut catalog = SqliteCatalog::in_memory().unwrap();
    let now = Timestamp::from_secs(1_790_812_800);
    let admin = access::generate(Role::Admin, None, now).unwrap();
    let cust = access::generate(Role::Customer(CustomerId::new("acme").unwrap()), None, now).unwrap();
    catalog.insert_token(&admin.record).unwrap();
    catalog.insert_token(&cust.record).unwrap();
    (router(catalog, now), admin.secret, cust.secret)
}

async fn get(router: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String, serde_json::Value) {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, ctype, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn whoami_per_role_and_problem_documents() {
    let (router, admin, customer) = router_with_tokens();
    let (s, _, body) = get(&router, "/api/v1/whoami", Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["role"], "admin");
    assert_eq!(body["customer"], serde_json::Value::Null);
    let (s, _, body) = get(&router, "/api/v1/whoami", Some(&customer)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["customer"], "acme");

    for bad in [None, Some("colo_nope"), Some("")] {
        let (s, ctype, body) = get(&router, "/api/v1/whoami", bad).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(body["title"], "Unauthorized");
        assert_eq!(body["detail"], "a valid bearer token is required");
    }
    let (s, ctype, body) = get(&router, "/api/v1/nothing-here", Some(&admin)).await;
    assert_eq!((s, ctype.as_str()), (StatusCode::NOT_FOUND, "application/problem+json"));
    assert_eq!(body["type"], "https://colometer.dev/problems/not-found");
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let mut catalog = SqliteCatalog::in_memory().unwrap();
    let now = Timestamp::from_secs(0);
    let t = access::generate(Role::Billing, None, now).unwrap();
    catalog.insert_token(&t.record).unwrap();
    catalog.revoke_token(&t.record.id, now).unwrap();
    let router = router(catalog, now);
    let (s, _, _) = get(&router, "/api/v1/whoami", Some(&t.secret)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_needs_no_token() {
    let (router, _, _) = router_with_tokens();
    let (s, _, body) = get(&router, "/healthz", None).await;
    assert_eq!((s, body), (StatusCode::OK, serde_json::json!({"status": "ok"})));
    let (s, _, body) = get(&router, "/readyz", None).await;
    assert_eq!((s, body), (StatusCode::OK, serde_json::json!({"status": "ready"})));
}

#[tokio::test]
async fn devices_show_declared_resources_to_admins_only() {
    use engine::inventory::{document, import, source};
    let mut catalog = SqliteCatalog::in_memory().unwrap();
    let now = Timestamp::from_secs(1_790_812_800);
    let tree = source::parse_yaml(include_str!("../../deploy/inventory.example.yaml")).unwrap();
    let plan = import::plan(&catalog.inventory().unwrap(), document::read(&tree)).unwrap();
    let generation = catalog.generation().unwrap();
    catalog.apply(&plan, generation, "test", now).unwrap();
    let admin = access::generate(Role::Admin, None, now).unwrap();
    let cust = access::generate(Role::Customer(CustomerId::new("acme").unwrap()), None, now).unwrap();
    catalog.insert_token(&admin.record).unwrap();
    catalog.insert_token(&cust.record).unwrap();
    let router = router(catalog, now);

    // No collectors run in this router: the device is known, not polled, its declared outlet shown.
    let (s, _, d) = get(&router, "/api/v1/devices/pdu-101a", Some(&admin.secret)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["kind"], "pdu");
    assert_eq!(d["polled"], false);
    assert_eq!(d["last_poll"], serde_json::Value::Null);
    assert_eq!(d["profile"], serde_json::Value::Null);
    assert_eq!(
        d["resources"],
        serde_json::json!([{"id": "pdu-101a/1", "kind": "outlet", "name": "srv-01-psu-a", "last": {}}])
    );
    let (s, _, d) = get(&router, "/api/v1/devices/sw-core1", Some(&admin.secret)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["kind"], "switch");
    assert_eq!(d["resources"][0]["id"], "sw-core1/Gi1/0/1");
    let (s, _, list) = get(&router, "/api/v1/devices", Some(&admin.secret)).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pdu-101a", "sw-core1"]);

    assert_eq!(get(&router, "/api/v1/devices/pdu-9", Some(&admin.secret)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/api/v1/devices/pdu-101a", Some(&cust.secret)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&router, "/api/v1/devices", Some(&cust.secret)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&router, "/api/v1/devices/pdu-101a", None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_lists_every_operation() {
    let (router, _, _) = router_with_tokens();
    let (s, ctype, doc) = get(&router, "/api/v1/openapi.json", None).await;
    assert_eq!((s, ctype.as_str()), (StatusCode::OK, "application/json"));
    if let Ok(path) = std::env::var("COLOMETER_DUMP_OPENAPI") {
        std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }
    let mut ops: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| item.as_object().unwrap().keys().map(move |m| format!("{} {p}", m.to_uppercase())))
        .collect();
    ops.sort();
    let expected = [
        "GET /api/v1/audit",
        "GET /api/v1/billing-runs",
        "GET /api/v1/credit-notes/{id}",
        "GET /api/v1/customers/{id}/live",
        "GET /api/v1/customers/{id}/month-to-date",
        "GET /api/v1/customers/{id}/usage",
        "GET /api/v1/devices",
        "GET /api/v1/devices/{id}",
        "GET /api/v1/invoices",
        "GET /api/v1/invoices/{id}",
        "GET /api/v1/invoices/{id}/document",
        "GET /api/v1/invoices/{id}/lines/{n}/evidence",
        "GET /api/v1/invoices/{id}/pdf",
        "GET /api/v1/openapi.json",
        "GET /api/v1/ports/month-to-date",
        "GET /api/v1/reports/commitments",
        "GET /api/v1/whoami",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "POST /api/v1/billing-runs",
        "POST /api/v1/invoices/{id}/credit-notes",
        "POST /api/v1/invoices/{id}/finalize",
        "POST /api/v1/invoices/{id}/payments",
        "POST /api/v1/invoices/{id}/send",
        "POST /api/v1/invoices/{id}/void",
        "POST /api/v1/query",
        "POST /api/v1/write",
    ];
    assert_eq!(ops, expected);
    // Errors are problem documents everywhere; tokens are bearer tokens.
    let finalize = &doc["paths"]["/api/v1/invoices/{id}/finalize"]["post"];
    assert_eq!(
        finalize["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], serde_json::json!([{}]));
    // The contract's invoice object is described field by field (its content is `Body`,
    // flattened into the lifecycle fields).
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["InvoiceView"]["allOf"][0]["$ref"], "#/components/schemas/Body");
    let lifecycle = schemas["InvoiceView"]["allOf"][1]["properties"].as_object().unwrap();
    let body = schemas["Body"]["properties"].as_object().unwrap();
    for field in ["id", "number", "customer", "period", "status", "currency", "lines", "subtotal", "tax", "total"] {
        assert!(lifecycle.contains_key(field) || body.contains_key(field), "the invoice lacks {field}");
    }
    let line = schemas["Line"]["properties"].as_object().unwrap();
    for field in ["description", "charge_type", "resource", "quantity", "unit", "unit_price", "amount"] {
        assert!(line.contains_key(field), "a line lacks {field}");
    }
    assert_eq!(schemas["Line"]["properties"]["amount"]["type"], "string");
    assert_eq!(
        doc["components"]["schemas"]["Status"]["enum"],
        serde_json::json!(["draft", "finalized", "sent", "paid", "void"])
    );
}
