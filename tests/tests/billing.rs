//! Billing end to end on a real port: readings in over HTTP, a billing run, the invoice and its
//! evidence, HTML and PDF, finalize, the 409s of an issued invoice, void and re-bill, payments,
//! `colometer bill run` (through the running server, then alone) and `bill compare`, the audit
//! chain; roles and customer isolation on every route.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use serde_json::{Value, json};
use tests::{Scratch, Server, example_lines as lines, repo};

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_period_billed_finalized_voided_and_billed_again() {
    let s = Scratch::new();
    s.import(&tests::example_inventory_with_globex());
    let admin = s.token("admin", None);
    let billing = s.token("billing", None);
    let ingest = s.token("ingest", None);
    let acme = s.token("customer", Some("acme"));
    let globex = s.token("customer", Some("globex"));
    let mut server = Server::start(&s, &[]);
    let api = Api { http: reqwest::Client::new(), url: server.url.clone() };
    let w = api.http.post(format!("{}/api/v1/write", api.url)).bearer_auth(&ingest).body(lines()).send().await.unwrap();
    assert_eq!(w.status().as_u16(), 204);

    // Roles: only staff run billing.
    let period = json!({"period": "2026-10"});
    assert_eq!(api.call("POST", "/api/v1/billing-runs", None, Some(period.clone())).await.0, 401);
    for t in [&acme, &ingest] {
        assert_eq!(api.call("POST", "/api/v1/billing-runs", Some(t), Some(period.clone())).await.0, 403);
    }
    let (st, bad) = api.call("POST", "/api/v1/billing-runs", Some(&billing), Some(json!({"period": "2026-13"}))).await;
    assert_eq!((st, bad["status"].as_u64()), (422, Some(422)), "{bad}");
    let (st, run) = api.call("POST", "/api/v1/billing-runs", Some(&billing), Some(period.clone())).await;
    assert_eq!(st, 201, "{run}");
    assert_eq!((run["id"].as_str(), run["period"].as_str()), (Some("run-2026-10-1"), Some("2026-10")));
    assert_eq!(run["invoices"], json!(["acme.2026-10"]));

    // The invoice: the rack all month 900.00; the outlet is acme's until Oct 15 12:00, which holds
    // 61 min of readings (10:59 to 12:00): 366 Wh x 1.35 = 0.4941 kWh x 0.32 = 0.158112 -> 0.16;
    // commitment 4 kW 150.00 (2,976 kWh allowance, no overage); bandwidth commit 200.00 (95th
    // 0.016 Mbps, no overage). 1,250.16 + 21% (262.5336 -> 262.53) = 1,512.69.
    let (st, inv) = api.call("GET", "/api/v1/invoices/acme.2026-10", Some(&acme), None).await;
    assert_eq!(st, 200, "{inv}");
    let amounts: Vec<(&str, &str, &str)> = inv["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["charge_type"].as_str().unwrap(), l["quantity"].as_str().unwrap(), l["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(
        amounts,
        [
            ("rack_rent", "1", "900.00"),
            ("energy", "0.4941", "0.16"),
            ("committed_power", "1", "150.00"),
            ("bandwidth_p95", "1", "200.00"),
        ]
    );
    assert_eq!(inv["lines"][1]["resource"], "pdu-101a/1");
    assert_eq!(
        (inv["subtotal"].as_str(), inv["tax"].as_str(), inv["total"].as_str()),
        (Some("1250.16"), Some("262.53"), Some("1512.69"))
    );
    assert_eq!((inv["status"].as_str(), inv["number"].clone()), (Some("draft"), Value::Null));
    assert_eq!(inv["sustainability"]["it_kwh"], "0.366");
    // Isolation: another customer's invoice does not exist for them; lists are their own.
    for path in [
        "/api/v1/invoices/acme.2026-10",
        "/api/v1/invoices/acme.2026-10/lines/1/evidence",
        "/api/v1/invoices/acme.2026-10/document",
        "/api/v1/invoices/acme.2026-10/pdf",
    ] {
        assert_eq!(api.call("GET", path, Some(&globex), None).await.0, 404, "{path}");
        assert_eq!(api.call("GET", path, None, None).await.0, 401, "{path}");
        assert_eq!(api.call("GET", path, Some(&ingest), None).await.0, 403, "{path}");
    }
    let (_, list) = api.call("GET", "/api/v1/invoices?customer=acme", Some(&globex), None).await;
    assert_eq!(list, json!({"items": [], "next": null}));
    let (_, list) = api.call("GET", "/api/v1/invoices?period=2026-10", Some(&acme), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // A month without invoices is an empty page; a malformed month or status is the caller's error.
    let (_, list) = api.call("GET", "/api/v1/invoices?period=2025-10", Some(&acme), None).await;
    assert_eq!(list, json!({"items": [], "next": null}));
    for bad in ["period=2026-1", "period=october", "status=open"] {
        let (st, problem) = api.call("GET", &format!("/api/v1/invoices?{bad}"), Some(&billing), None).await;
        assert_eq!(st, 400, "{bad}: {problem}");
    }

    // Evidence: the energy line names its readings, split at the assignment's end.
    let (st, ev) = api.call("GET", "/api/v1/invoices/acme.2026-10/lines/2/evidence", Some(&acme), None).await;
    assert_eq!(st, 200, "{ev}");
    assert_eq!(
        ev["evidence"]["outlet"]["intervals"],
        json!([{"from": "2026-10-01T00:00:00Z", "to": "2026-10-15T12:00:00Z"}])
    );
    assert_eq!(ev["evidence"]["outlet"]["sources"], json!([{"source": "counter", "intervals": 366, "wh": "366"}]));
    assert_eq!(api.call("GET", "/api/v1/invoices/acme.2026-10/lines/9/evidence", Some(&acme), None).await.0, 404);
    // The evidence's SQL fetches the readings behind the line: the 367 samples from 10:59:00 to
    // 12:00:00 inclusive, whose 366 deltas are the line's counter intervals.
    let sql = ev["evidence"]["outlet"]["readings_sql"].as_str().unwrap().to_owned();
    let (st, rows) = api.call("POST", "/api/v1/query", Some(&billing), Some(json!({"sql": sql}))).await;
    assert_eq!(st, 200, "{rows}");
    assert_eq!(rows["rows"].as_array().unwrap().len(), 367, "{sql}");
    // Documents.
    let html = api
        .http
        .get(format!("{}/api/v1/invoices/acme.2026-10/document", api.url))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    let html = html.text().await.unwrap();
    assert!(html.contains("Draft invoice acme.2026-10") && html.contains("1512.69"), "{html}");
    let pdf =
        api.http.get(format!("{}/api/v1/invoices/acme.2026-10/pdf", api.url)).bearer_auth(&acme).send().await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 1000, "{} bytes", pdf.len());

    // Finalize (staff only); the number is the first of the year; every change after is 409.
    assert_eq!(api.call("POST", "/api/v1/invoices/acme.2026-10/finalize", Some(&acme), None).await.0, 403);
    let (st, fin) = api.call("POST", "/api/v1/invoices/acme.2026-10/finalize", Some(&billing), None).await;
    assert_eq!(st, 200, "{fin}");
    assert_eq!(
        (fin["status"].as_str(), fin["number"].as_str(), fin["balance"].as_str()),
        (Some("finalized"), Some("2026-000001"), Some("1512.69"))
    );
    let (st, again) = api.call("POST", "/api/v1/invoices/acme.2026-10/finalize", Some(&billing), None).await;
    assert_eq!((st, again["status"].as_u64()), (409, Some(409)), "{again}");
    let (_, rerun) = api.call("POST", "/api/v1/billing-runs", Some(&billing), Some(period.clone())).await;
    assert_eq!(rerun["kept"], json!(["acme.2026-10"]));
    assert_eq!(api.call("GET", "/api/v1/invoices/acme.2026-10", Some(&billing), None).await.1["lines"], fin["lines"]);

    // A partial credit, a payment over the balance refused, then void: a credit note for the rest.
    let credit = json!({"reason": "dispute", "lines": [{"line": 1, "amount": "100.00"}]});
    let (st, note) = api.call("POST", "/api/v1/invoices/acme.2026-10/credit-notes", Some(&billing), Some(credit)).await;
    assert_eq!(st, 201, "{note}");
    assert_eq!((note["number"].as_str(), note["total"].as_str()), (Some("CN-2026-000001"), Some("121.00")));
    let over = json!({"amount": "5000.00"});
    assert_eq!(api.call("POST", "/api/v1/invoices/acme.2026-10/payments", Some(&billing), Some(over)).await.0, 422);
    let (st, void) = api
        .call("POST", "/api/v1/invoices/acme.2026-10/void", Some(&billing), Some(json!({"reason": "re-bill"})))
        .await;
    assert_eq!(st, 201, "{void}");
    // 1,512.69 - 121.00 = 1,391.69 left.
    assert_eq!(
        (void["number"].as_str(), void["total"].as_str(), void["voids"].as_bool()),
        (Some("CN-2026-000002"), Some("1391.69"), Some(true))
    );
    let (_, voided) = api.call("GET", "/api/v1/invoices/acme.2026-10", Some(&acme), None).await;
    assert_eq!((voided["status"].as_str(), voided["balance"].as_str()), (Some("void"), Some("0.00")));
    for (path, body) in [
        ("finalize", None),
        ("send", None),
        ("void", None),
        ("payments", Some(json!({"amount": "1.00"}))),
        ("credit-notes", Some(json!({"reason": "x", "lines": [{"line": 1, "amount": "1.00"}]}))),
    ] {
        let (st, p) = api.call("POST", &format!("/api/v1/invoices/acme.2026-10/{path}"), Some(&billing), body).await;
        assert_eq!(st, 409, "{path}: {p}");
    }
    let (st, cn) = api.call("GET", "/api/v1/credit-notes/cn-2026-000002", Some(&acme), None).await;
    assert_eq!((st, cn["invoice"].as_str()), (200, Some("acme.2026-10")));
    assert_eq!(api.call("GET", "/api/v1/credit-notes/cn-2026-000002", Some(&globex), None).await.0, 404);

    // `bill run` while the server holds the store: it goes through the server.
    let out = s.run(&["bill", "run", "--period", "2026-10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((run["id"].as_str(), run["created"].clone()), (Some("run-2026-10-3"), json!(["acme.2026-10.2"])));
    let (_, rebilled) = api.call("GET", "/api/v1/invoices/acme.2026-10.2", Some(&billing), None).await;
    assert_eq!((rebilled["status"].as_str(), rebilled["total"].as_str()), (Some("draft"), Some("1512.69")));

    // Parallel billing against a legacy export.
    let legacy = s.path("legacy.csv");
    std::fs::write(
        &legacy,
        "customer,description,quantity,amount\nacme,Rack rent ams1-r101 (ams1),1,900.00\nacme,Power,0.5,0.20\n",
    )
    .unwrap();
    let out = s.run(&["bill", "compare", "--legacy", legacy.to_str().unwrap(), "--period", "2026-10", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cmp: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (cmp["legacy_total"].as_str(), cmp["colometer_total"].as_str(), cmp["difference"].as_str()),
        (Some("900.20"), Some("1250.16"), Some("349.96"))
    );
    assert_eq!(cmp["differing_rows"], 4);

    // Committed against used: 0.366 kWh over the month is far under 4 kW (under); the rack's
    // 8 kW budget has 4 kW committed.
    let (st, rep) = api.call("GET", "/api/v1/reports/commitments?period=2026-10", Some(&billing), None).await;
    assert_eq!(st, 200, "{rep}");
    assert_eq!(
        (rep["services"][0]["power"].as_str(), rep["services"][0]["bandwidth"].as_str()),
        (Some("under"), Some("under"))
    );
    assert_eq!(
        (rep["racks"][0]["committed_kw"].as_str(), rep["racks"][0]["uncommitted_kw"].as_str()),
        (Some("4"), Some("4.0"))
    );
    assert_eq!(api.call("GET", "/api/v1/reports/commitments?period=2026-10", Some(&acme), None).await.0, 403);

    // The audit chain holds and names who did what.
    assert_eq!(api.call("GET", "/api/v1/audit", Some(&billing), None).await.0, 403);
    let (_, log) = api.call("GET", "/api/v1/audit", Some(&admin), None).await;
    assert_eq!(log["chain"], "intact");
    let actions: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    // Imports and tokens are in it too; `bill run` through the server made and revoked its token.
    assert_eq!(actions[0], "inventory.import");
    assert!(actions.ends_with(&["invoice.void", "token.create", "billing_run", "token.revoke"]), "{actions:?}");

    // And alone, once the server has stopped.
    server.terminate(Duration::from_secs(20)).expect("server stops");
    let out = s.run(&["bill", "run", "--period", "2026-10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((run["id"].as_str(), run["unchanged"].clone()), (Some("run-2026-10-4"), json!(["acme.2026-10.2"])));
}

/// A POST with an `Idempotency-Key`: the first response, its status and body, replayed.
async fn keyed(api: &Api, path: &str, token: &str, key: &str, body: Value) -> (u16, bool, Value) {
    let r = api
        .http
        .post(format!("{}{path}", api.url))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    (status, replayed, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_with_an_idempotency_key_never_create_twice() {
    let s = Scratch::new();
    s.import(&std::fs::read_to_string(repo().join("deploy/inventory.example.yaml")).unwrap());
    let billing = s.token("billing", None);
    let other = s.token("billing", None);
    let ingest = s.token("ingest", None);
    let server = Server::start(&s, &[]);
    let api = Api { http: reqwest::Client::new(), url: server.url.clone() };
    let w = api.http.post(format!("{}/api/v1/write", api.url)).bearer_auth(&ingest).body(lines()).send().await.unwrap();
    assert_eq!(w.status().as_u16(), 204);

    // A billing run retried: one run, the same answer.
    let period = json!({"period": "2026-10"});
    let first = keyed(&api, "/api/v1/billing-runs", &billing, "run-oct", period.clone()).await;
    assert_eq!((first.0, first.1, first.2["id"].as_str()), (201, false, Some("run-2026-10-1")), "{first:?}");
    let again = keyed(&api, "/api/v1/billing-runs", &billing, "run-oct", period.clone()).await;
    assert_eq!((again.0, again.1, &again.2), (201, true, &first.2));
    // The same key for another body is refused; another caller's key of that name is its own.
    let other_body = keyed(&api, "/api/v1/billing-runs", &billing, "run-oct", json!({"period": "2026-09"})).await;
    assert_eq!((other_body.0, other_body.1), (422, false), "{other_body:?}");
    let theirs = keyed(&api, "/api/v1/billing-runs", &other, "run-oct", period).await;
    assert_eq!((theirs.0, theirs.1, theirs.2["id"].as_str()), (201, false, Some("run-2026-10-2")));

    // A payment retried is recorded once.
    assert_eq!(api.call("POST", "/api/v1/invoices/acme.2026-10/finalize", Some(&billing), None).await.0, 200);
    let pay = json!({"amount": "12.69", "reference": "bank 4711"});
    let p1 = keyed(&api, "/api/v1/invoices/acme.2026-10/payments", &billing, "pay-4711", pay.clone()).await;
    assert_eq!(p1.0, 201, "{p1:?}");
    let p2 = keyed(&api, "/api/v1/invoices/acme.2026-10/payments", &billing, "pay-4711", pay).await;
    assert_eq!((p2.0, p2.1, &p2.2), (201, true, &p1.2));
    let (_, inv) = api.call("GET", "/api/v1/invoices/acme.2026-10", Some(&billing), None).await;
    assert_eq!((inv["payments"].as_array().map(Vec::len), inv["balance"].as_str()), (Some(1), Some("1500.00")));

    // A credit note retried is issued once (one number); a refusal is replayed as it was.
    let credit = json!({"reason": "dispute", "lines": [{"line": 1, "amount": "100.00"}]});
    let c1 = keyed(&api, "/api/v1/invoices/acme.2026-10/credit-notes", &billing, "cn-1", credit.clone()).await;
    let c2 = keyed(&api, "/api/v1/invoices/acme.2026-10/credit-notes", &billing, "cn-1", credit).await;
    assert_eq!((c1.0, c1.2["number"].as_str()), (201, Some("CN-2026-000001")), "{c1:?}");
    assert_eq!((c2.0, c2.1, &c2.2), (201, true, &c1.2));
    let big = json!({"amount": "99999.00"});
    let r1 = keyed(&api, "/api/v1/invoices/acme.2026-10/payments", &billing, "pay-big", big.clone()).await;
    let r2 = keyed(&api, "/api/v1/invoices/acme.2026-10/payments", &billing, "pay-big", big).await;
    assert_eq!((r1.0, r2.0, r2.1, &r2.2), (422, 422, true, &r1.2));
    let (_, inv) = api.call("GET", "/api/v1/invoices/acme.2026-10", Some(&billing), None).await;
    assert_eq!((inv["credit_notes"].as_array().map(Vec::len), inv["balance"].as_str()), (Some(1), Some("1379.00")));

    // A malformed key is a bad request; nothing runs.
    let long = "k".repeat(256);
    let bad = keyed(&api, "/api/v1/invoices/acme.2026-10/payments", &billing, &long, json!({"amount": "1.00"})).await;
    assert_eq!((bad.0, bad.2["status"].as_u64()), (400, Some(400)), "{bad:?}");
}
