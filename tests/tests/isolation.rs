//! The isolation matrix on a real port: every endpoint, with no token (401), with each role that
//! may not use it (403), and, for what belongs to a customer, with another customer's token
//! (404, exactly as for what does not exist); the roles that may get what they ask for.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use serde_json::{Value, json};
use tests::{Scratch, Server, example_lines as lines};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Admin,
    Billing,
    Ingest,
    /// The customer the object belongs to (acme).
    Owner,
    /// Another customer (globex).
    Other,
}

use Who::*;

struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    /// Who may use it (any other role: 403; the other customer: 404 when `Owner` may).
    allowed: &'static [Who],
}

fn case(method: &'static str, path: &'static str, body: Option<Value>, allowed: &'static [Who]) -> Case {
    Case { method, path, body, allowed }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_refuses_the_wrong_caller() {
    let s = Scratch::new();
    s.import(&tests::example_inventory_with_globex());
    let tokens = [
        (Admin, s.token("admin", None)),
        (Billing, s.token("billing", None)),
        (Ingest, s.token("ingest", None)),
        (Owner, s.token("customer", Some("acme"))),
        (Other, s.token("customer", Some("globex"))),
    ];
    let token = |w: Who| tokens.iter().find(|(x, _)| *x == w).map(|(_, t)| t.clone()).unwrap();
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    let w = http
        .post(format!("{}/api/v1/write", server.url))
        .bearer_auth(token(Ingest))
        .body(lines())
        .send()
        .await
        .unwrap();
    assert_eq!(w.status().as_u16(), 204);
    let run = http
        .post(format!("{}/api/v1/billing-runs", server.url))
        .bearer_auth(token(Billing))
        .json(&json!({"period": "2026-10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status().as_u16(), 201);

    const READ_CUSTOMER: &[Who] = &[Admin, Billing, Owner];
    const STAFF: &[Who] = &[Admin, Billing];
    const ANY_READER: &[Who] = &[Admin, Billing, Owner, Other];
    let cases = [
        case("GET", "/api/v1/whoami", None, &[Admin, Billing, Ingest, Owner, Other]),
        case("GET", "/api/v1/customers/acme/usage?period=2026-10", None, READ_CUSTOMER),
        case("GET", "/api/v1/customers/acme/month-to-date", None, READ_CUSTOMER),
        case("GET", "/api/v1/customers/acme/history?period=2026-10", None, READ_CUSTOMER),
        // A stream: its status comes with its headers.
        case("GET", "/api/v1/customers/acme/live", None, READ_CUSTOMER),
        case("GET", "/api/v1/invoices/acme.2026-10", None, READ_CUSTOMER),
        case("GET", "/api/v1/invoices/acme.2026-10/lines/1/evidence", None, READ_CUSTOMER),
        case("GET", "/api/v1/invoices/acme.2026-10/document", None, READ_CUSTOMER),
        case("GET", "/api/v1/invoices/acme.2026-10/pdf", None, READ_CUSTOMER),
        case("GET", "/api/v1/invoices", None, &[Admin, Billing, Owner, Other]),
        case("GET", "/api/v1/billing-runs", None, STAFF),
        case("GET", "/api/v1/reports/commitments?period=2026-10", None, STAFF),
        case("GET", "/api/v1/ports/month-to-date", None, STAFF),
        case("GET", "/api/v1/audit", None, &[Admin]),
        case("GET", "/api/v1/devices", None, &[Admin]),
        case("GET", "/api/v1/devices/pdu-101a", None, &[Admin]),
        case("POST", "/api/v1/query", Some(json!({"sql": "SELECT 1 AS one"})), STAFF),
        // Changes: only the refusals are exercised (the allowed calls change state).
        case("POST", "/api/v1/billing-runs", Some(json!({"period": "2026-10"})), STAFF),
        case("POST", "/api/v1/invoices/acme.2026-10/finalize", None, STAFF),
        case("POST", "/api/v1/invoices/acme.2026-10/send", None, STAFF),
        case("POST", "/api/v1/invoices/acme.2026-10/void", Some(json!({"reason": "x"})), STAFF),
        case(
            "POST",
            "/api/v1/invoices/acme.2026-10/credit-notes",
            Some(json!({"reason": "x", "lines": [{"line": 1, "amount": "1.00"}]})),
            STAFF,
        ),
        case("POST", "/api/v1/invoices/acme.2026-10/payments", Some(json!({"amount": "1.00"})), STAFF),
        case("POST", "/api/v1/write", None, &[Admin, Ingest]),
        // The inventory: a customer reads its own objects (lists are filtered to them), never
        // another's, never the plant.
        case("GET", "/api/v1/customers/acme", None, READ_CUSTOMER),
        case("GET", "/api/v1/customers/acme/resources", None, READ_CUSTOMER),
        case("GET", "/api/v1/services/svc-acme-1", None, READ_CUSTOMER),
        case("GET", "/api/v1/racks/ams1-r101", None, READ_CUSTOMER),
        case("GET", "/api/v1/rate-plans/colo-std", None, READ_CUSTOMER),
        case("GET", "/api/v1/sites/ams1", None, READ_CUSTOMER),
        case("GET", "/api/v1/customers", None, ANY_READER),
        case("GET", "/api/v1/services", None, ANY_READER),
        case("GET", "/api/v1/racks", None, ANY_READER),
        case("GET", "/api/v1/sites", None, ANY_READER),
        case("GET", "/api/v1/assets", None, ANY_READER),
        case("GET", "/api/v1/tickets", None, ANY_READER),
        case("GET", "/api/v1/rate-plans", None, ANY_READER),
        case("GET", "/api/v1/pdus", None, STAFF),
        case("GET", "/api/v1/pdus/pdu-101a", None, STAFF),
        case("GET", "/api/v1/switches", None, STAFF),
        case("GET", "/api/v1/switches/sw-core1", None, STAFF),
        case("GET", "/api/v1/reports/reconciliation", None, STAFF),
        case("GET", "/api/v1/tokens", None, &[Admin]),
        case("PUT", "/api/v1/sites/ams1", Some(json!({"name": "x", "pue": "1.2"})), &[Admin]),
        case("PUT", "/api/v1/customers/acme", Some(json!({"name": "x"})), STAFF),
        case("POST", "/api/v1/tickets", Some(json!({"id": "t-1"})), STAFF),
        case("POST", "/api/v1/racks", Some(json!({"id": "r-1"})), &[Admin]),
        case("POST", "/api/v1/assets/srv-1/retire", None, &[Admin]),
        case("POST", "/api/v1/racks/ams1-r101/move", Some(json!({"site": "ams1"})), &[Admin]),
        case("POST", "/api/v1/tokens", Some(json!({"role": "admin"})), &[Admin]),
        case("DELETE", "/api/v1/tokens/tok-000000000000", None, &[Admin]),
    ];
    let send = |method: &str, path: &str, who: Option<Who>, body: Option<Value>| {
        let url = format!("{}{path}", server.url);
        let mut req = http.request(method.parse().unwrap(), url);
        if let Some(w) = who {
            req = req.bearer_auth(token(w));
        }
        if let Some(b) = body {
            req = req.json(&b);
        } else if path == "/api/v1/write" {
            req = req.body(lines());
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let mut checked = 0;
    for c in &cases {
        assert_eq!(send(c.method, c.path, None, c.body.clone()).await, 401, "{} {} without a token", c.method, c.path);
        for who in [Admin, Billing, Ingest, Owner, Other] {
            let expected = if c.allowed.contains(&who) {
                if c.method != "GET" {
                    continue;
                }
                200
            } else if who == Other && c.allowed.contains(&Owner) {
                404
            } else {
                403
            };
            let got = send(c.method, c.path, Some(who), c.body.clone()).await;
            assert_eq!(got, expected, "{} {} as {who:?}", c.method, c.path);
            checked += 1;
        }
    }
    // Objects that do not exist answer as another customer's do.
    for path in [
        "/api/v1/invoices/nobody.2026-10",
        "/api/v1/customers/nobody/usage?period=2026-10",
        "/api/v1/customers/nobody/history?period=2026-10",
        "/api/v1/customers/nobody",
        "/api/v1/customers/nobody/resources",
    ] {
        assert_eq!(send("GET", path, Some(Owner), None).await, 404, "{path}");
        assert_eq!(send("GET", path, Some(Billing), None).await, 404, "{path}");
    }
    // Another customer's listing holds nothing of acme's.
    let list: Value = http
        .get(format!("{}/api/v1/invoices?customer=acme", server.url))
        .bearer_auth(token(Other))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!({"items": [], "next": null}));
    // 51 endpoints x 5 callers, less the 26 allowed changes not made.
    assert_eq!(checked, 229);
}
