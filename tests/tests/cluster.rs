//! Cluster mode end to end (#23) with the real binary on real engines: PostgreSQL 15 (catalog and
//! leases), NATS JetStream (the log) and SeaweedFS (S3 segments), each started on loopback and
//! stopped by PID (skipped, saying why, where one cannot run; failing then when
//! COLOMETER_REQUIRE_FIXTURES=1):
//! - a `serve` node takes writes into the log and answers from the segments an `ingest` node
//!   committed; the `ingest` node answers only `/healthz`, `/readyz` and `/metrics`;
//! - SIGKILL the ingest node between two writes: a second one takes its shards within a lease
//!   TTL, and every acknowledged reading is in exactly one committed segment;
//! - the month's usage and its invoice equal, to the cent, those of a single node given the same
//!   readings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Scratch, Server, example_lines};

const S3_ENV: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
/// Readings in [`example_lines`]: 733 instants × (1 energy + 3 port fields).
const READINGS: u64 = 733 * 4;

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: &str, token: &str, body: String) -> u16 {
    let r = http.post(url).bearer_auth(token).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 204, "{url}: {}", r.text().await.unwrap());
    status
}

/// A node's scratch directory: the shared catalog, log and object store, `roles`, 3 s leases.
fn node(catalog: &str, nats: &str, s3: &str, id: &str, roles: &str) -> Scratch {
    let storage = format!(
        "bucket_open_months = 240\nobject_store = \"s3://colometer/segments\"\nendpoint = \"{s3}\"\nregion = \"us-east-1\""
    );
    let s = Scratch::with_config("request_timeout = \"10s\"", &storage);
    let cfg = std::fs::read_to_string(s.config()).unwrap()
        + &format!(
            "[catalog]\nurl = \"{catalog}\"\n[collectors]\nenabled = false\n[cluster]\nnode_id = \"{id}\"\n\
             roles = {roles}\nnats = [\"{nats}\"]\nshards = 8\nlease_ttl = \"3s\"\nrenew_every = \"1s\"\n\
             follow_every = \"200ms\"\n"
        );
    std::fs::write(s.config(), cfg).unwrap();
    s
}

/// The usage of October's window and the invoice of a single node given every line at once.
async fn single_node(http: &reqwest::Client) -> (Value, Value) {
    let s = Scratch::with_config("", "bucket_open_months = 240");
    s.import(&tests::example_inventory_with_globex());
    let (admin, ingest) = (s.token("admin", None), s.token("ingest", None));
    let server = Server::start(&s, &[]);
    post(http, &format!("{}/api/v1/write", server.url), &ingest, example_lines()).await;
    settle(http, &server.url, &admin).await
}

/// The month's usage, then the invoice of a billing run.
async fn settle(http: &reqwest::Client, url: &str, admin: &str) -> (Value, Value) {
    let (st, usage) = get(http, &format!("{url}/api/v1/customers/acme/usage?period=2026-10"), admin).await;
    assert_eq!(st, 200, "{usage}");
    let run = http.post(format!("{url}/api/v1/billing-runs")).bearer_auth(admin).json(&json!({"period": "2026-10"}));
    let run = run.send().await.unwrap();
    assert_eq!(run.status().as_u16(), 201, "{}", run.text().await.unwrap());
    let (st, invoice) = get(http, &format!("{url}/api/v1/invoices/acme.2026-10"), admin).await;
    assert_eq!(st, 200, "{invoice}");
    (usage, invoice)
}

/// What of an invoice must match across deployments: its lines and totals, not its ids or times.
fn priced(invoice: &Value) -> Value {
    let lines: Vec<Value> = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!([l["description"], l["quantity"], l["unit_price"], l["amount"]]))
        .collect();
    json!({"lines": lines, "subtotal": invoice["subtotal"], "tax": invoice["tax"], "total": invoice["total"]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_bills_what_a_single_node_bills_through_an_ingest_node_killed_midway() {
    let test = "a_cluster_bills_what_a_single_node_bills_through_an_ingest_node_killed_midway";
    let Some(pg) = tests::postgres::for_test(test) else { return };
    let Some(nats) = tests::nats::for_test(test) else { return };
    let Some(weed) = tests::seaweed::for_test(test) else { return };
    weed.create_bucket("colometer").unwrap();
    let http = reqwest::Client::new();
    let (want_usage, want_invoice) = single_node(&http).await;
    // The outlet is acme's from the first reading (10:59) until 12:00: 366 increments of 1 Wh.
    assert_eq!(want_usage["energy"]["it_kwh"], "0.366000", "{want_usage}");

    let catalog = pg.create_db("cluster").unwrap();
    let (url, ep) = (nats.url(), weed.endpoint());
    let front = node(&catalog, &url, &ep, "front", "[\"serve\"]");
    front.import(&tests::example_inventory_with_globex());
    let (admin, ingest) = (front.token("admin", None), front.token("ingest", None));
    let first = node(&catalog, &url, &ep, "ingest-1", "[\"ingest\"]");
    let mut ingest1 = Server::start_env(&first, &[], &S3_ENV);
    let serve = Server::start_env(&front, &[], &S3_ENV);

    // The ingest node answers operations only.
    let (st, health) = get(&http, &format!("{}/healthz", ingest1.url), &admin).await;
    assert_eq!((st, &health["status"]), (200, &json!("ok")));
    let (st, _) = get(&http, &format!("{}/api/v1/customers/acme/usage?period=2026-10", ingest1.url), &admin).await;
    assert_eq!(st, 404);
    assert_eq!(http.get(format!("{}/metrics", ingest1.url)).send().await.unwrap().status().as_u16(), 200);

    // Half the lines, then the ingest node dies and another takes over, then the rest.
    let lines: Vec<String> = example_lines().lines().map(|l| format!("{l}\n")).collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let write = format!("{}/api/v1/write", serve.url);
    post(&http, &write, &ingest, a.concat()).await;
    ingest1.child.kill().unwrap();
    ingest1.child.wait().unwrap();
    let second = node(&catalog, &url, &ep, "ingest-2", "[\"ingest\"]");
    let _ingest2 = Server::start_env(&second, &[], &S3_ENV);
    post(&http, &write, &ingest, b.concat()).await;

    // Every acknowledged reading ends in exactly one committed segment.
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let out = pg.psql_in("cluster", "SELECT coalesce(sum(rows), 0) FROM cluster_segments").unwrap();
        let rows: u64 = out.trim().parse().unwrap();
        if rows >= READINGS || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(rows, READINGS);
    let holders = pg
        .psql_in("cluster", "SELECT DISTINCT holder FROM cluster_leases WHERE kind = 'shard' AND holder IS NOT NULL")
        .unwrap();
    assert_eq!(holders.trim(), "ingest-2");

    // The serve node's copy reaches every segment; then usage and the invoice match a single node's.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, usage) = get(&http, &format!("{}/api/v1/customers/acme/usage?period=2026-10", serve.url), &admin).await;
        if usage == want_usage {
            break;
        }
        assert!(Instant::now() < deadline, "the serve node's usage {usage} never became {want_usage}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (usage, invoice) = settle(&http, &serve.url, &admin).await;
    assert_eq!(usage, want_usage);
    assert_eq!(priced(&invoice), priced(&want_invoice));
    assert_ne!(priced(&invoice)["total"], Value::Null, "{invoice}");
}
