//! Cluster mode end to end (#23) with the real binary on real engines: PostgreSQL 15 (catalog and
//! leases), NATS JetStream (the log) and SeaweedFS (S3 segments), each started on loopback and
//! stopped by PID (skipped, saying why, where one cannot run; failing then when
//! COLOMETER_REQUIRE_FIXTURES=1):
//! - a `serve` node takes writes into the log and answers from the segments an `ingest` node
//!   committed; the `ingest` node answers only `/healthz`, `/readyz` and `/metrics`;
//! - SIGKILL the ingest node and the serve node between two writes: a second ingest node takes
//!   the shards within a lease TTL, the serve node comes back on its data directory, and every
//!   acknowledged reading is in exactly one committed segment;
//! - the month's usage and its invoice equal, to the cent, those of a single node given the same
//!   readings; `GET /api/v1/cluster` shows the nodes, the shards' holder and progress;
//! - two `collect` nodes over six snmpsim devices split them three and three; SIGKILL one and
//!   the other polls all six, no device missing more than 3 polls; every published poll is in
//!   exactly one committed segment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Scratch, Server, example_lines};

const S3_ENV: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")];
/// The two tests start a whole cluster each: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// A billing run's invoice, then the month's usage.
async fn bill_then_usage(http: &reqwest::Client, url: &str, admin: &str) -> (Value, Value) {
    let run = http.post(format!("{url}/api/v1/billing-runs")).bearer_auth(admin).json(&json!({"period": "2026-10"}));
    let run = run.send().await.unwrap();
    assert_eq!(run.status().as_u16(), 201, "{}", run.text().await.unwrap());
    let (st, invoice) = get(http, &format!("{url}/api/v1/invoices/acme.2026-10"), admin).await;
    assert_eq!(st, 200, "{invoice}");
    let (st, usage) = get(http, &format!("{url}/api/v1/customers/acme/usage?period=2026-10"), admin).await;
    assert_eq!(st, 200, "{usage}");
    (invoice, usage)
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
    let _serial = SERIAL.lock().await;
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
    let mut serve = Server::start_env(&front, &[], &S3_ENV);

    // The ingest node answers operations only.
    let (st, health) = get(&http, &format!("{}/healthz", ingest1.url), &admin).await;
    assert_eq!((st, &health["status"]), (200, &json!("ok")));
    let (st, _) = get(&http, &format!("{}/api/v1/customers/acme/usage?period=2026-10", ingest1.url), &admin).await;
    assert_eq!(st, 404);
    assert_eq!(http.get(format!("{}/metrics", ingest1.url)).send().await.unwrap().status().as_u16(), 200);

    // Half the lines, then the ingest node dies and another takes over, and the serve node dies
    // and comes back on its data directory (its copy resumes from its cursor); then the rest.
    let lines: Vec<String> = example_lines().lines().map(|l| format!("{l}\n")).collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    post(&http, &format!("{}/api/v1/write", serve.url), &ingest, a.concat()).await;
    ingest1.child.kill().unwrap();
    ingest1.child.wait().unwrap();
    let second = node(&catalog, &url, &ep, "ingest-2", "[\"ingest\"]");
    let _ingest2 = Server::start_env(&second, &[], &S3_ENV);
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    serve = Server::start_env(&front, &[], &S3_ENV);
    post(&http, &format!("{}/api/v1/write", serve.url), &ingest, b.concat()).await;

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

    // A billing run right away: it waits for the serve node's copy to hold every committed
    // segment, so the invoice and then the usage match a single node's at once.
    let (invoice, usage) = bill_then_usage(&http, &serve.url, &admin).await;
    assert_eq!(priced(&invoice), priced(&want_invoice));
    assert_eq!(usage, want_usage);
    assert_ne!(priced(&invoice)["total"], Value::Null, "{invoice}");

    // The cluster as the serve node shows it: admin only.
    let customer = front.token("customer", Some("acme"));
    let (st, _) = get(&http, &format!("{}/api/v1/cluster", serve.url), &customer).await;
    assert_eq!(st, 403);
    let (st, status) = get(&http, &format!("{}/api/v1/cluster", serve.url), &admin).await;
    assert_eq!(st, 200, "{status}");
    assert_eq!(status["node"], "front");
    assert_eq!(
        status["nodes"],
        json!([{"node": "front", "roles": ["serve"]}, {"node": "ingest-2", "roles": ["ingest"]}]),
        "{status}"
    );
    let shards = status["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 8);
    assert!(shards.iter().all(|s| s["holder"] == "ingest-2" && s["lag_batches"] == 0), "{status}");
    let rows: u64 = shards.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows, READINGS);
    let metrics = http.get(format!("{}/metrics", _ingest2.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("colometer_cluster_ingest_rows_total {READINGS}\n")), "{metrics}");
    assert!(metrics.contains("colometer_cluster_shards_held 8\n"), "{metrics}");
}

/// Six snmpsim devices (community = recording), polled every 5 s.
fn fleet(agent: std::net::SocketAddr) -> String {
    let snmp = |c: &str| format!("{{host: {}, port: {}, version: v2c, community: {c}}}", agent.ip(), agent.port());
    let mut out = String::from("sites: [{id: s1, pue: \"1.2\"}]\npdus:\n");
    for p in ["raritan-pdu_px3", "sentry4"] {
        out += &format!("  - {{id: {p}, site: s1, interval: 5s, snmp: {}}}\n", snmp(p));
    }
    out += "switches:\n";
    for s in ["ios_2960x", "junos_qfx5100", "arista_eos", "nxos_n3k-3064pq"] {
        out += &format!("  - {{id: {s}, site: s1, interval: 5s, snmp: {}}}\n", snmp(s));
    }
    out
}

/// Rows of a SQL query on a serve node.
async fn query(http: &reqwest::Client, url: &str, admin: &str, sql: &str) -> Vec<Value> {
    let r =
        http.post(format!("{url}/api/v1/query")).bearer_auth(admin).json(&json!({"sql": sql})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    body["rows"].as_array().unwrap().clone()
}

/// Device leases by holder.
fn device_holders(pg: &tests::postgres::Postgres) -> std::collections::BTreeMap<String, usize> {
    let out = pg
        .psql_in(
            "collect",
            "SELECT holder FROM cluster_leases WHERE kind = 'device' AND holder IS NOT NULL
             AND expires_ns > (extract(epoch FROM clock_timestamp()) * 1e9)::bigint",
        )
        .unwrap();
    out.lines().fold(std::collections::BTreeMap::new(), |mut m, h| {
        *m.entry(h.to_owned()).or_insert(0) += 1;
        m
    })
}

async fn wait_for<T>(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn collect_nodes_share_devices_and_one_takes_over_a_dead_ones() {
    let test = "collect_nodes_share_devices_and_one_takes_over_a_dead_ones";
    let _serial = SERIAL.lock().await;
    let Some(dir) = tests::snmpsim::recordings() else {
        tests::skip_or_fail("../shared/fixtures/snmprec is absent (the shared fixtures are not checked out)");
        return;
    };
    let Some(responder) = tests::snmpsim::responder() else {
        tests::skip_or_fail("snmpsim is not installed (scripts/test-deps installs it)");
        return;
    };
    let Some(pg) = tests::postgres::for_test(test) else { return };
    let Some(nats) = tests::nats::for_test(test) else { return };
    let Some(weed) = tests::seaweed::for_test(test) else { return };
    weed.create_bucket("colometer").unwrap();
    let sim = tests::snmpsim::Snmpsim::start(&responder, &dir);
    let http = reqwest::Client::new();
    let catalog = pg.create_db("collect").unwrap();
    let (url, ep) = (nats.url(), weed.endpoint());
    let hub = node(&catalog, &url, &ep, "hub", "[\"serve\", \"ingest\"]");
    hub.import(&fleet(sim.addr));
    let admin = hub.token("admin", None);
    let enable = |s: Scratch| {
        let cfg = std::fs::read_to_string(s.config()).unwrap().replace("enabled = false", "enabled = true");
        std::fs::write(s.config(), cfg).unwrap();
        s
    };
    let hub_server = Server::start_env(&hub, &[], &S3_ENV);
    let (c1, c2) = (
        enable(node(&catalog, &url, &ep, "c1", "[\"collect\"]")),
        enable(node(&catalog, &url, &ep, "c2", "[\"collect\"]")),
    );
    let mut first = Server::start_env(&c1, &[], &S3_ENV);
    let mut second = Server::start_env(&c2, &[], &S3_ENV);

    // Fair shares: three devices each once both are up.
    let want: std::collections::BTreeMap<String, usize> = [("c1".into(), 3), ("c2".into(), 3)].into();
    wait_for("the devices split 3/3", Duration::from_secs(30), async || (device_holders(&pg) == want).then_some(()))
        .await;
    let distinct = "SELECT DISTINCT device FROM readings ORDER BY device";
    wait_for("readings of all six devices on the serve node", Duration::from_secs(60), async || {
        (query(&http, &hub_server.url, &admin, distinct).await.len() == 6).then_some(())
    })
    .await;

    // c1 dies; c2 takes its devices within a TTL and polls all six.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let killed = Instant::now();
    let all: std::collections::BTreeMap<String, usize> = [("c2".into(), 6)].into();
    wait_for("c2 holds all six devices", Duration::from_secs(20), async || (device_holders(&pg) == all).then_some(()))
        .await;
    eprintln!("c2 held every device {:?} after the kill", killed.elapsed());
    // Every device polls on after the takeover: wait for three more polls' worth of time, then
    // look at each device's poll instants (any one series of it).
    tokio::time::sleep(Duration::from_secs(20)).await;
    second.terminate(Duration::from_secs(20));
    let gaps = "SELECT device, max(gap) FROM (SELECT device, CAST(ts AS BIGINT) - LAG(CAST(ts AS BIGINT)) \
                OVER (PARTITION BY device ORDER BY ts) AS gap FROM (SELECT DISTINCT device, ts FROM readings)) \
                GROUP BY device ORDER BY device";
    // Every published poll is in exactly one committed segment (after the log drains).
    let count = "SELECT count(*) FROM readings";
    let stored = wait_for("the serve node copies every segment", Duration::from_secs(30), async || {
        let committed: u64 = pg
            .psql_in("collect", "SELECT coalesce(sum(rows), 0) FROM cluster_segments")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let here = query(&http, &hub_server.url, &admin, count).await[0][0].as_u64().unwrap();
        (committed == here && here > 0).then_some(here)
    })
    .await;
    assert!(stored > 0);
    let rows = query(&http, &hub_server.url, &admin, gaps).await;
    assert_eq!(rows.len(), 6, "{rows:?}");
    for r in rows {
        // At most 3 polls missed: no two consecutive polls more than 4 intervals apart.
        let gap_s = r[1].as_i64().unwrap() / 1_000_000_000;
        assert!(gap_s <= 20, "{} went {gap_s} s between polls", r[0]);
    }
}
