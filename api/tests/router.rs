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
    app(AppState::new(Box::new(catalog), store, query, clock, limits, Default::default()).unwrap(), limits)
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
    answer(router, req.body(Body::empty()).unwrap()).await
}

/// The status, content type and JSON body (`null` if none) of `req`'s answer.
async fn answer(router: &axum::Router, req: Request<Body>) -> (StatusCode, String, serde_json::Value) {
    let resp = router.clone().oneshot(req).await.unwrap();
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
async fn the_cluster_page_is_for_admins_and_absent_on_a_single_node() {
    let (router, admin, customer) = router_with_tokens();
    let (s, _, _) = get(&router, "/api/v1/cluster", Some(&customer)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, ctype, body) = get(&router, "/api/v1/cluster", Some(&admin)).await;
    assert_eq!((s, ctype.as_str()), (StatusCode::NOT_FOUND, "application/problem+json"));
    assert_eq!(body["type"], "https://colometer.dev/problems/not-found");
    let (s, _, _) = get(&router, "/api/v1/cluster", None).await;
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

/// Tokens of an example-inventory router.
struct Tokens {
    admin: String,
    admin_id: String,
    billing: String,
    acme: String,
}

/// A router over the contract's example inventory, with admin, billing and `acme` tokens.
fn example_router() -> (axum::Router, Tokens) {
    use engine::inventory::{document, import, source};
    let mut catalog = SqliteCatalog::in_memory().unwrap();
    let now = Timestamp::from_secs(1_790_812_800);
    let tree = source::parse_yaml(include_str!("../../deploy/inventory.example.yaml")).unwrap();
    let plan = import::plan(&catalog.inventory().unwrap(), document::read(&tree)).unwrap();
    let generation = catalog.generation().unwrap();
    catalog.apply(&plan, generation, "test", now).unwrap();
    let admin = access::generate(Role::Admin, None, now).unwrap();
    let billing = access::generate(Role::Billing, None, now).unwrap();
    let cust = access::generate(Role::Customer(CustomerId::new("acme").unwrap()), None, now).unwrap();
    for t in [&admin, &billing, &cust] {
        catalog.insert_token(&t.record).unwrap();
    }
    let tokens = Tokens {
        admin_id: admin.record.id.to_string(),
        admin: admin.secret,
        billing: billing.secret,
        acme: cust.secret,
    };
    (router(catalog, now), tokens)
}

/// Sends `method path` with a JSON body; answers status, content type and the JSON body.
async fn send(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, String, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    answer(router, req).await
}

#[tokio::test]
async fn devices_show_declared_resources_to_admins_only() {
    let (router, t) = example_router();
    let (admin, cust) = (&t.admin, &t.acme);
    // No collectors run in this router: the device is known, not polled, its declared outlet shown.
    let (s, _, d) = get(&router, "/api/v1/devices/pdu-101a", Some(admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["kind"], "pdu");
    assert_eq!(d["polled"], false);
    assert_eq!(d["last_poll"], serde_json::Value::Null);
    assert_eq!(d["profile"], serde_json::Value::Null);
    assert_eq!(
        d["resources"],
        serde_json::json!([{"id": "pdu-101a/1", "kind": "outlet", "name": "srv-01-psu-a", "last": {}}])
    );
    let (s, _, d) = get(&router, "/api/v1/devices/sw-core1", Some(admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["kind"], "switch");
    assert_eq!(d["resources"][0]["id"], "sw-core1/Gi1/0/1");
    let (s, _, list) = get(&router, "/api/v1/devices", Some(admin)).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pdu-101a", "sw-core1"]);

    assert_eq!(get(&router, "/api/v1/devices/pdu-9", Some(admin)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/api/v1/devices/pdu-101a", Some(cust)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&router, "/api/v1/devices", Some(cust)).await.0, StatusCode::FORBIDDEN);
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
        "DELETE /api/v1/tokens/{id}",
        "GET /api/v1/assets",
        "GET /api/v1/assets/{id}",
        "GET /api/v1/audit",
        "GET /api/v1/billing-runs",
        "GET /api/v1/cluster",
        "GET /api/v1/credit-notes/{id}",
        "GET /api/v1/customers",
        "GET /api/v1/customers/{id}",
        "GET /api/v1/customers/{id}/history",
        "GET /api/v1/customers/{id}/live",
        "GET /api/v1/customers/{id}/month-to-date",
        "GET /api/v1/customers/{id}/resources",
        "GET /api/v1/customers/{id}/usage",
        "GET /api/v1/devices",
        "GET /api/v1/devices/{id}",
        "GET /api/v1/invoices",
        "GET /api/v1/invoices/{id}",
        "GET /api/v1/invoices/{id}/document",
        "GET /api/v1/invoices/{id}/lines/{n}/evidence",
        "GET /api/v1/invoices/{id}/pdf",
        "GET /api/v1/openapi.json",
        "GET /api/v1/pdus",
        "GET /api/v1/pdus/{id}",
        "GET /api/v1/ports/month-to-date",
        "GET /api/v1/racks",
        "GET /api/v1/racks/{id}",
        "GET /api/v1/rate-plans",
        "GET /api/v1/rate-plans/{id}",
        "GET /api/v1/reports/commitments",
        "GET /api/v1/reports/reconciliation",
        "GET /api/v1/services",
        "GET /api/v1/services/{id}",
        "GET /api/v1/sites",
        "GET /api/v1/sites/{id}",
        "GET /api/v1/switches",
        "GET /api/v1/switches/{id}",
        "GET /api/v1/tickets",
        "GET /api/v1/tickets/{id}",
        "GET /api/v1/tokens",
        "GET /api/v1/whoami",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "POST /api/v1/assets",
        "POST /api/v1/assets/{id}/activate",
        "POST /api/v1/assets/{id}/move",
        "POST /api/v1/assets/{id}/retire",
        "POST /api/v1/billing-runs",
        "POST /api/v1/customers",
        "POST /api/v1/invoices/{id}/credit-notes",
        "POST /api/v1/invoices/{id}/finalize",
        "POST /api/v1/invoices/{id}/payments",
        "POST /api/v1/invoices/{id}/send",
        "POST /api/v1/invoices/{id}/void",
        "POST /api/v1/pdus",
        "POST /api/v1/query",
        "POST /api/v1/racks",
        "POST /api/v1/racks/{id}/move",
        "POST /api/v1/rate-plans",
        "POST /api/v1/services",
        "POST /api/v1/sites",
        "POST /api/v1/switches",
        "POST /api/v1/tickets",
        "POST /api/v1/tokens",
        "POST /api/v1/write",
        "PUT /api/v1/assets/{id}",
        "PUT /api/v1/customers/{id}",
        "PUT /api/v1/pdus/{id}",
        "PUT /api/v1/racks/{id}",
        "PUT /api/v1/rate-plans/{id}",
        "PUT /api/v1/services/{id}",
        "PUT /api/v1/sites/{id}",
        "PUT /api/v1/switches/{id}",
        "PUT /api/v1/tickets/{id}",
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

#[tokio::test]
async fn inventory_objects_are_read_created_replaced_and_validated() {
    use serde_json::json;
    let (router, t) = example_router();
    let (s, _, page) = get(&router, "/api/v1/sites", Some(&t.admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        page,
        json!({"items": [{"id": "ams1", "name": "Amsterdam 1", "pue": "1.35", "grid_region": "NL"}], "next": null})
    );

    let fra = json!({"name": "Frankfurt 1", "pue": "1.4", "grid_region": "DE"});
    let (s, _, site) = send(&router, "PUT", "/api/v1/sites/fra1", &t.admin, fra.clone()).await;
    assert_eq!((s, site["id"].as_str()), (StatusCode::CREATED, Some("fra1")));
    let (s, _, again) = send(&router, "PUT", "/api/v1/sites/fra1", &t.admin, fra).await;
    assert_eq!((s, again), (StatusCode::OK, site));
    let (s, _, p) =
        send(&router, "POST", "/api/v1/sites", &t.admin, json!({"id": "ams1", "name": "x", "pue": "1.2"})).await;
    assert_eq!(
        (s, p["detail"].as_str()),
        (StatusCode::CONFLICT, Some("sites 'ams1' exists already (PUT replaces an object)"))
    );

    // Every problem, with its path in the body; nothing written.
    let bad = json!({"site": "nowhere", "power_budget_kw": "4", "colour": "red"});
    let (s, ctype, p) = send(&router, "PUT", "/api/v1/racks/fra1-r1", &t.admin, bad).await;
    assert_eq!((s, ctype.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "application/problem+json"));
    assert_eq!(p["type"], "https://colometer.dev/problems/invalid-inventory");
    assert_eq!(
        p["problems"],
        json!([{"path": "body.colour", "message": "unknown field (expected one of: id, site, power_budget_kw, customer, locations)"}])
    );
    let (s, _, p) =
        send(&router, "PUT", "/api/v1/racks/fra1-r1", &t.admin, json!({"site": "nowhere", "power_budget_kw": "4"}))
            .await;
    assert_eq!(
        (s, &p["problems"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!([{"path": "body.site", "message": "unknown site 'nowhere'"}]))
    );
    assert_eq!(get(&router, "/api/v1/racks/fra1-r1", Some(&t.admin)).await.0, StatusCode::NOT_FOUND);
    let (s, _, p) =
        send(&router, "PUT", "/api/v1/sites/fra1", &t.admin, json!({"id": "fra2", "name": "x", "pue": "1.2"})).await;
    assert_eq!(
        (s, p["detail"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("the body's id 'fra2' is not the path's 'fra1'"))
    );

    // Filters and cursor pages.
    for id in ["fra1-r1", "fra1-r2", "fra1-r3"] {
        let (s, _, _) =
            send(&router, "POST", "/api/v1/racks", &t.admin, json!({"id": id, "site": "fra1", "power_budget_kw": "6"}))
                .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, _, page) = get(&router, "/api/v1/racks?site=fra1&limit=2", Some(&t.billing)).await;
    assert_eq!(
        (ids(&page), page["next"].as_str()),
        (vec!["fra1-r1".to_owned(), "fra1-r2".to_owned()], Some("fra1-r2"))
    );
    let (_, _, page) = get(&router, "/api/v1/racks?site=fra1&limit=2&cursor=fra1-r2", Some(&t.billing)).await;
    assert_eq!((ids(&page), &page["next"]), (vec!["fra1-r3".to_owned()], &serde_json::Value::Null));
    let (s, _, p) = get(&router, "/api/v1/racks?colour=red", Some(&t.admin)).await;
    assert_eq!(
        (s, p["detail"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown filter `colour` for racks (filters: cursor, limit, site, customer)"))
    );
    assert_eq!(get(&router, "/api/v1/racks?limit=0", Some(&t.admin)).await.0, StatusCode::BAD_REQUEST);

    // Roles: billing edits the commercial side only; SNMP secrets never leave.
    let (s, _, _) = send(&router, "PUT", "/api/v1/sites/x", &t.billing, json!({"name": "x", "pue": "1.2"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let globex = json!({"name": "Globex", "currency": "EUR", "billing_timezone": "UTC", "tax_rate": "0.21"});
    assert_eq!(send(&router, "PUT", "/api/v1/customers/globex", &t.billing, globex).await.0, StatusCode::CREATED);
    let (_, _, pdu) = get(&router, "/api/v1/pdus/pdu-101a", Some(&t.billing)).await;
    assert_eq!(pdu["snmp"]["community"], "(redacted)");
    let mut edited = pdu.clone();
    edited["interval"] = json!("30s");
    let (s, _, pdu) = send(&router, "PUT", "/api/v1/pdus/pdu-101a", &t.admin, edited).await;
    assert_eq!((s, &pdu["interval"], &pdu["snmp"]["community"]), (StatusCode::OK, &json!("30s"), &json!("(redacted)")));

    // A customer sees its own objects only, and no plant.
    let (_, _, page) = get(&router, "/api/v1/customers", Some(&t.acme)).await;
    assert_eq!(ids(&page), ["acme"]);
    let (_, _, page) = get(&router, "/api/v1/racks", Some(&t.acme)).await;
    assert_eq!(ids(&page), ["ams1-r101"]);
    assert_eq!(get(&router, "/api/v1/customers/globex", Some(&t.acme)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/api/v1/sites/fra1", Some(&t.acme)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/api/v1/pdus", Some(&t.acme)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&router, "PUT", "/api/v1/customers/acme", &t.acme, json!({})).await.0, StatusCode::FORBIDDEN);

    // Every write is audited with the token that made it.
    let (_, _, audit) = get(&router, "/api/v1/audit", Some(&t.admin)).await;
    assert_eq!(audit["chain"], "intact");
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["object"].as_str()),
        (Some(t.admin_id.as_str()), Some("PUT /api/v1/pdus/pdu-101a"))
    );
}

#[tokio::test]
async fn asset_and_rack_lifecycle_actions() {
    use serde_json::json;
    let (router, t) = example_router();
    let server = json!({"id": "srv-01", "kind": "server", "rack": "ams1-r101", "customer": "acme", "status": "active",
        "active_from": "2026-10-01T00:00:00Z"});
    assert_eq!(send(&router, "POST", "/api/v1/assets", &t.admin, server).await.0, StatusCode::CREATED);
    let (s, _, p) =
        send(&router, "POST", "/api/v1/assets/srv-01/retire", &t.admin, json!({"at": "2026-09-01T00:00:00Z"})).await;
    assert_eq!(
        (s, p["detail"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(
                "asset 'srv-01' went into service at 2026-10-01T00:00:00Z; it cannot be retired before that (2026-09-01T00:00:00Z)"
            )
        )
    );
    let (s, _, a) =
        send(&router, "POST", "/api/v1/assets/srv-01/retire", &t.admin, json!({"at": "2026-10-20T08:00:00Z"})).await;
    assert_eq!(
        (s, &a["status"], &a["retired_at"]),
        (StatusCode::OK, &json!("retired"), &json!("2026-10-20T08:00:00Z"))
    );
    let (s, _, _) = send(&router, "POST", "/api/v1/assets/srv-01/retire", &t.admin, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        send(&router, "POST", "/api/v1/assets/srv-9/retire", &t.admin, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&router, "POST", "/api/v1/assets/srv-01/retire", &t.billing, json!({})).await.0,
        StatusCode::FORBIDDEN
    );

    let (s, _, a) = send(&router, "POST", "/api/v1/assets/srv-01/move", &t.admin, json!({"site": "ams1"})).await;
    assert_eq!((s, &a["site"], a.get("rack")), (StatusCode::OK, &json!("ams1"), None));
    let (s, _, p) =
        send(&router, "POST", "/api/v1/assets/srv-01/move", &t.admin, json!({"site": "ams1", "rack": "ams1-r101"}))
            .await;
    assert_eq!(
        (s, p["detail"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("give exactly one of `rack` and `site`"))
    );

    let fra = json!({"name": "Frankfurt 1", "pue": "1.4", "grid_region": "DE"});
    assert_eq!(send(&router, "PUT", "/api/v1/sites/fra1", &t.admin, fra).await.0, StatusCode::CREATED);
    let (s, _, rack) = send(
        &router,
        "POST",
        "/api/v1/racks/ams1-r101/move",
        &t.admin,
        json!({"site": "fra1", "at": "2026-10-10T00:00:00Z"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        rack["locations"],
        json!([{"site": "ams1", "from": "1970-01-01T00:00:00Z", "to": "2026-10-10T00:00:00Z"},
               {"site": "fra1", "from": "2026-10-10T00:00:00Z"}])
    );

    // What acme is billed for, and where it is now.
    let (s, _, r) = get(&router, "/api/v1/customers/acme/resources", Some(&t.acme)).await;
    assert_eq!(s, StatusCode::OK);
    let summary: Vec<String> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} {} {} {}", i["kind"], i["resource"], i["site"], i["to"]))
        .collect();
    assert_eq!(
        summary,
        [
            r#""rack" "ams1-r101" "fra1" null"#,
            r#""outlet" "pdu-101a/1" "fra1" "2026-10-15T12:00:00Z""#,
            r#""port" "sw-core1/Gi1/0/1" "ams1" null"#,
        ]
    );
    assert_eq!(get(&router, "/api/v1/customers/globex/resources", Some(&t.acme)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/api/v1/customers/globex/resources", Some(&t.admin)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_are_managed_over_http() {
    use serde_json::json;
    let (router, t) = example_router();
    let (s, _, created) = send(
        &router,
        "POST",
        "/api/v1/tokens",
        &t.admin,
        json!({"role": "customer", "customer": "acme", "label": "acme scripts"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!((secret.len(), &created["role"], &created["customer"]), (69, &json!("customer"), &json!("acme")));
    let (_, _, me) = get(&router, "/api/v1/whoami", Some(&secret)).await;
    assert_eq!(me["customer"], "acme");
    let (_, _, list) = get(&router, "/api/v1/tokens", Some(&t.admin)).await;
    let listed = list.as_array().unwrap().iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!((listed.get("secret"), &listed["label"]), (None, &json!("acme scripts")));

    let (s, _, p) =
        send(&router, "POST", "/api/v1/tokens", &t.admin, json!({"role": "customer", "customer": "nobody"})).await;
    assert_eq!((s, p["detail"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown customer 'nobody'")));
    assert_eq!(
        send(&router, "POST", "/api/v1/tokens", &t.admin, json!({"role": "root"})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        send(&router, "POST", "/api/v1/tokens", &t.billing, json!({"role": "admin"})).await.0,
        StatusCode::FORBIDDEN
    );

    let path = format!("/api/v1/tokens/{id}");
    assert_eq!(send(&router, "DELETE", &path, &t.admin, json!(null)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(&router, "/api/v1/whoami", Some(&secret)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&router, "DELETE", &path, &t.admin, json!(null)).await.0, StatusCode::NOT_FOUND);
    let (_, _, audit) = get(&router, "/api/v1/audit", Some(&t.admin)).await;
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["action"], last["actor"].as_str(), last["object"].as_str()),
        (&json!("token.revoke"), Some(t.admin_id.as_str()), Some(id.as_str()))
    );
}

#[tokio::test]
async fn reconciliation_over_http() {
    let (router, t) = example_router();
    let (s, _, r) = get(&router, "/api/v1/reports/reconciliation?at=2026-10-20T00:00:00Z", Some(&t.billing)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r, serde_json::json!({"at": "2026-10-20T00:00:00Z", "findings": []}));
    assert_eq!(
        get(&router, "/api/v1/reports/reconciliation?at=yesterday", Some(&t.admin)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get(&router, "/api/v1/reports/reconciliation", Some(&t.acme)).await.0, StatusCode::FORBIDDEN);
}

/// A form POST; answers the response's status, `location` and `set-cookie` headers.
async fn post_form(router: &axum::Router, path: &str, form: &str) -> (StatusCode, String, String) {
    let req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let header = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (resp.status(), header("location"), header("set-cookie"))
}

/// A GET carrying a session cookie; answers status, `location` and the body as text.
async fn page(router: &axum::Router, path: &str, cookie: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
    (status, location, String::from_utf8_lossy(&bytes).into_owned())
}

/// Logs in through the form; the `name=value` cookie to send back.
async fn login(router: &axum::Router, token: &str) -> String {
    let (s, location, set_cookie) = post_form(router, "/portal/login", &format!("token={token}")).await;
    assert_eq!((s, location.as_str()), (StatusCode::SEE_OTHER, "/portal"));
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn portal_sessions_roles_and_isolation() {
    let (router, t) = example_router();
    // No session: pages send to the login form; a wrong token or an ingest token is refused.
    assert_eq!(page(&router, "/portal", None).await.1, "/portal/login");
    assert_eq!(page(&router, "/portal/customers/acme", None).await.1, "/portal/login");
    let (s, _, html) = page(&router, "/portal/login", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"<label for="token">Access token</label>"#), "{html}");
    assert_eq!(post_form(&router, "/portal/login", "token=colo_nope").await.0, StatusCode::UNAUTHORIZED);
    // Another site's form cannot log a visitor in (login CSRF); the same site's can.
    let from = |origin: &str| {
        Request::post("/portal/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "colo.example")
            .header("origin", origin)
            .body(Body::from(format!("token={}", t.acme)))
            .unwrap()
    };
    assert_eq!(router.clone().oneshot(from("https://evil.example")).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(router.clone().oneshot(from("https://colo.example")).await.unwrap().status(), StatusCode::SEE_OTHER);

    // A customer: its own pages, nobody else's (404 like a missing page), no operator dashboard.
    let acme = login(&router, &t.acme).await;
    assert_eq!(page(&router, "/portal", Some(&acme)).await.1, "/portal/customers/acme");
    for path in ["", "/history?range=day", "/inventory", "/invoices", "/tickets"] {
        let (s, _, html) = page(&router, &format!("/portal/customers/acme{path}"), Some(&acme)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("customer acme"), "{path}");
    }
    let (_, _, inventory) = page(&router, "/portal/customers/acme/inventory", Some(&acme)).await;
    assert!(inventory.contains("<td>pdu-101a&#x2f;1 (srv-01-psu-a)</td>"), "{inventory}");
    let (s, _, html) = page(&router, "/portal/customers/initech", Some(&acme)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(html.contains("There is no such page, or it is not yours."));
    assert_eq!(page(&router, "/portal/invoices/initech.2026-10", Some(&acme)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(page(&router, "/portal/ops", Some(&acme)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        page(&router, "/portal/customers/acme/history?range=year", Some(&acme)).await.0,
        StatusCode::BAD_REQUEST
    );

    // The session reads the API (GET only): a cookie-borne write is unauthenticated.
    let (s, _, me) = page(&router, "/api/v1/whoami", Some(&acme)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(me.contains(r#""role":"customer""#), "{me}");
    let req = Request::post("/api/v1/tickets").header("cookie", &acme).body(Body::from("{}")).unwrap();
    assert_eq!(answer(&router, req).await.0, StatusCode::UNAUTHORIZED);

    // Staff: the operator dashboard and any customer's pages.
    let admin = login(&router, &t.admin).await;
    assert_eq!(page(&router, "/portal", Some(&admin)).await.1, "/portal/ops");
    let (s, _, ops) = page(&router, "/portal/ops", Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    for needle in ["<td>ams1-r101</td>", "The collectors are disabled", "No billing runs yet.", "ACME Hosting BV"] {
        assert!(ops.contains(needle), "{needle} missing in {ops}");
    }
    assert_eq!(page(&router, "/portal/customers/acme", Some(&admin)).await.0, StatusCode::OK);

    // Logging out ends the session; so does revoking its token.
    let req = Request::post("/portal/logout").header("cookie", &admin).body(Body::empty()).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(
        resp.headers()["set-cookie"].to_str().unwrap(),
        "colometer_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    );
    assert_eq!(page(&router, "/portal/ops", Some(&admin)).await.1, "/portal/login");
    let (_, _, list) = get(&router, "/api/v1/tokens", Some(&t.admin)).await;
    let acme_id = list.as_array().unwrap().iter().find(|x| x["customer"] == "acme").unwrap()["id"].clone();
    let (s, _, _) = send(
        &router,
        "DELETE",
        &format!("/api/v1/tokens/{}", acme_id.as_str().unwrap()),
        &t.admin,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(page(&router, "/portal/customers/acme", Some(&acme)).await.1, "/portal/login");

    // Assets are embedded and public.
    let (s, _, js) = page(&router, "/portal/assets/uplot/uPlot.iife.min.js", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(js.starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.32) */"), "{}", &js[..80]);
    assert_eq!(page(&router, "/portal/assets/nope.js", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn history_has_one_bucket_per_five_minutes_and_the_commitments() {
    let (router, t) = example_router();
    let q = "from=2026-10-01T00:00:00Z&to=2026-10-01T01:00:00Z";
    let (s, _, h) = get(&router, &format!("/api/v1/customers/acme/history?{q}"), Some(&t.acme)).await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h["ts"].as_array().unwrap().len(), 12);
    assert_eq!(h["ts"][1].as_i64(), Some(1_790_812_800 + 300));
    // No readings: every bucket is null, not zero.
    assert!(h["power_w"].as_array().unwrap().iter().all(serde_json::Value::is_null));
    assert_eq!((h["commit_mbps"].as_str(), h["committed_kw"].as_str()), (Some("100"), Some("4.0")));
    let long = "from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z";
    assert_eq!(
        get(&router, &format!("/api/v1/customers/acme/history?{long}"), Some(&t.acme)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        get(&router, &format!("/api/v1/customers/initech/history?{q}"), Some(&t.acme)).await.0,
        StatusCode::NOT_FOUND
    );
}
