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
