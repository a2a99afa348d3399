//! The store over HTTP: line protocol in, SQL out, exactly; atomic requests; roles; limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use serde_json::{Value, json};
use tests::{Scratch, Server, repo};

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn write(&self, token: &str, body: &str, precision: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/write?precision={precision}", self.url))
            .bearer_auth(token)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn query(&self, token: &str, sql: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/query", self.url))
            .bearer_auth(token)
            .json(&json!({"sql": sql}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn setup(server_cfg: &str) -> (Scratch, Server, Api, String, String) {
    let s = Scratch::with_config(server_cfg, "");
    s.import(&std::fs::read_to_string(repo().join("deploy/inventory.example.yaml")).unwrap());
    let admin = s.token("admin", None);
    let ingest = s.token("ingest", None);
    let server = Server::start(&s, &[]);
    let api = Api { http: reqwest::Client::new(), url: server.url.clone() };
    (s, server, api, admin, ingest)
}

const CONTRACT_LINES: &str = "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=123456u,out_octets=654321u,uptime_s=86400u 1791763200000000000\n\
outlet,device=pdu-101a,outlet=1 energy_wh=152340.5,power_w=412.5 1791763200000000000\n";

const ALL: &str =
    "SELECT device, resource, metric, ts, value, uptime_s FROM readings ORDER BY device, resource, metric, ts";

#[tokio::test(flavor = "multi_thread")]
async fn contract_lines_round_trip_exactly_and_rewrites_replace() {
    let (_s, _server, api, admin, ingest) = setup("");
    assert_eq!(api.write(&ingest, CONTRACT_LINES, "ns").await.0, 204);
    let (status, body) = api.query(&admin, ALL).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["columns"], json!(["device", "resource", "metric", "ts", "value", "uptime_s"]));
    assert_eq!(
        body["rows"],
        json!([
            ["pdu-101a", "1", "energy_wh", "2026-10-12T00:00:00Z", "152340.5", null],
            ["pdu-101a", "1", "power_w", "2026-10-12T00:00:00Z", "412.5", null],
            ["sw-core1", "Gi1/0/1", "in_octets", "2026-10-12T00:00:00Z", "123456", 86400],
            ["sw-core1", "Gi1/0/1", "out_octets", "2026-10-12T00:00:00Z", "654321", 86400],
            ["sw-core1", "Gi1/0/1", "uptime_s", "2026-10-12T00:00:00Z", "86400", 86400],
        ])
    );
    // The exact nearest-rank percentile is there for staff: 3 values, k = ceil(2.85) = 3.
    let (_, body) =
        api.query(&admin, "SELECT nearest_rank(value, 0.95) AS p95 FROM readings WHERE device = 'sw-core1'").await;
    assert_eq!(body, json!({"columns": ["p95"], "rows": [["654321"]]}));
    // The same (series, ts) written again, in seconds precision: the later write wins, n stays.
    assert_eq!(api.write(&ingest, "outlet,device=pdu-101a,outlet=1 power_w=399 1791763200", "s").await.0, 204);
    let (_, body) = api.query(&admin, "SELECT value FROM readings WHERE metric = 'power_w'").await;
    assert_eq!(body["rows"], json!([["399"]]));
    let (_, body) = api.query(&admin, "SELECT count(*) AS n FROM readings").await;
    assert_eq!(body["rows"], json!([[5]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_line_rejects_the_whole_request() {
    let (_s, _server, api, admin, ingest) = setup("");
    let body = format!("{CONTRACT_LINES}port_counters,device=sw-core1,port=Gi9/9 in_octets=1u 1791763200000000000\n");
    let (status, problem) = api.write(&ingest, &body, "ns").await;
    assert_eq!(status, 400);
    assert_eq!(problem["line"], 3);
    assert_eq!(problem["detail"], "line 3: switch 'sw-core1' has no port 'Gi9/9'; nothing of this request was stored");
    let (_, rows) = api.query(&admin, "SELECT count(*) FROM readings").await;
    assert_eq!(rows["rows"], json!([[0]]));
    let (status, problem) = api.write(&ingest, CONTRACT_LINES, "fortnights").await;
    assert_eq!(
        (status, problem["detail"].as_str()),
        (400, Some("precision \"fortnights\" is not one of ns, us, ms, s"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_limits_and_sql_errors() {
    let (s, _server, api, admin, ingest) = setup("body_limit_bytes = 4096");
    let customer = s.token("customer", Some("acme"));
    let billing = s.token("billing", None);
    assert_eq!(api.write(&customer, CONTRACT_LINES, "ns").await.0, 403);
    assert_eq!(api.write(&billing, CONTRACT_LINES, "ns").await.0, 403);
    assert_eq!(api.write(&admin, CONTRACT_LINES, "ns").await.0, 204);
    assert_eq!(api.query(&ingest, ALL).await.0, 403);
    assert_eq!(api.query(&customer, ALL).await.0, 403);
    assert_eq!(
        api.query(&billing, "SELECT count(*) FROM readings").await,
        (200, json!({"columns": ["count(*)"], "rows": [[5]]}))
    );
    let big = CONTRACT_LINES.repeat(40);
    let (status, problem) = api.write(&ingest, &big, "ns").await;
    assert_eq!((status, problem["detail"].as_str()), (413, Some("request body over the limit of 4096 bytes")));
    let (status, problem) = api.query(&admin, "SELECT nope FROM readings").await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(api.query(&admin, "DROP TABLE readings").await.0, 400);
    assert_eq!(api.query(&admin, "INSERT INTO readings VALUES ('a','b','c', now(), 1, null, null)").await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_assignments_view_shows_raw_and_billing_intervals() {
    let (s, _server, api, admin, _ingest) = setup("");
    let sql = "SELECT service, customer, kind, resource, \"from\", \"to\", effective_from, effective_to FROM assignments ORDER BY kind, resource";
    let (status, body) = api.query(&admin, sql).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rows"],
        json!([
            [
                "svc-acme-1",
                "acme",
                "outlet",
                "pdu-101a/1",
                "2026-10-01T00:00:00Z",
                "2026-10-15T12:00:00Z",
                "2026-10-01T00:00:00Z",
                "2026-10-15T12:00:00Z"
            ],
            [
                "svc-acme-1",
                "acme",
                "port",
                "sw-core1/Gi1/0/1",
                "2026-10-01T00:00:00Z",
                null,
                "2026-10-01T00:00:00Z",
                null
            ],
            ["svc-acme-1", "acme", "rack", "ams1-r101", "2026-10-01T00:00:00Z", null, "2026-10-01T00:00:00Z", null],
        ])
    );
    // Retire the server behind the outlet: the view follows the catalog at once, and the
    // outlet's billing interval ends when the server was retired.
    s.import(
        "assets: [{id: srv-01, rack: ams1-r101, status: retired, retired_at: \"2026-10-10T08:00:00Z\"}]\n\
         pdus:\n  - id: pdu-101a\n    rack: ams1-r101\n    snmp: {host: 127.0.0.1, port: 1161, version: v2c, community: public}\n    interval: 10s\n    outlets: [{index: 1, name: srv-01-psu-a, asset: srv-01}]\n",
    );
    let (_, body) = api.query(&admin, "SELECT effective_to FROM assignments WHERE kind = 'outlet'").await;
    assert_eq!(body["rows"], json!([["2026-10-10T08:00:00Z"]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn arrow_ipc_out() {
    let (_s, _server, api, admin, ingest) = setup("");
    assert_eq!(api.write(&ingest, CONTRACT_LINES, "ns").await.0, 204);
    let r = api
        .http
        .post(format!("{}/api/v1/query", api.url))
        .bearer_auth(&admin)
        .header("accept", "application/vnd.apache.arrow.stream")
        .json(&json!({"sql": "SELECT metric, value FROM readings WHERE device = 'sw-core1' ORDER BY metric"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apache.arrow.stream");
    let bytes = r.bytes().await.unwrap();
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None).unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
    assert_eq!(
        text,
        "+------------+------------------+\n\
         | metric     | value            |\n\
         +------------+------------------+\n\
         | in_octets  | 123456.000000000 |\n\
         | out_octets | 654321.000000000 |\n\
         | uptime_s   | 86400.000000000  |\n\
         +------------+------------------+"
    );
}
