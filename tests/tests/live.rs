//! The live stream (`GET /api/v1/customers/{id}/live`, Server-Sent Events) on a real port: the
//! first event at once with the newest readings, the next one after readings arrive; roles and
//! customer isolation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tests::{Scratch, Server};

const INVENTORY: &str = r#"
sites: [{id: ams1, name: A, pue: "1.5", grid_region: NL}]
racks: [{id: r1, site: ams1, power_budget_kw: "8"}]
pdus: [{id: pdu-1, rack: r1, interval: 10s, outlets: [{index: 1}]}]
switches: [{id: sw-1, site: ams1, interval: 10s, ports: [{name: Gi0/1, speed_mbps: 1000}]}]
customers:
  - {id: acme, name: Acme, currency: EUR, billing_timezone: UTC, tax_rate: "0.21"}
  - {id: globex, name: Globex, currency: EUR, billing_timezone: UTC, tax_rate: "0.21"}
rate_plans: [{id: p, currency: EUR, charges: [{type: rack_rent, price_per_month: "1.00"}]}]
services:
  - id: s1
    customer: acme
    plan: p
    resources:
      - {rack: r1, from: "2026-01-01T00:00:00Z"}
      - {outlet: pdu-1/1, from: "2026-01-01T00:00:00Z"}
      - {port: sw-1/Gi0/1, from: "2026-01-01T00:00:00Z"}
"#;

/// One SSE event: its name, id and JSON data.
#[derive(Debug)]
struct Event {
    name: String,
    id: String,
    data: Value,
}

/// Reads events off a streaming response (comments and keep-alives skipped).
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn next(&mut self) -> Event {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return Event { name, id, data: serde_json::from_str(&data).unwrap() };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.resp.chunk())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .expect("the stream stays open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn live_events_follow_the_readings() {
    let s = Scratch::new();
    s.import(INVENTORY);
    let ingest = s.token("ingest", None);
    let acme = s.token("customer", Some("acme"));
    let globex = s.token("customer", Some("globex"));
    let billing = s.token("billing", None);
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    let write = |body: String| {
        let (http, url, ingest) = (http.clone(), server.url.clone(), ingest.clone());
        async move {
            let r = http.post(format!("{url}/api/v1/write")).bearer_auth(ingest).body(body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
        }
    };
    // Two polls 10 s apart: 1,250,000 bytes in (1 Mbps) and 2,500,000 out (2 Mbps).
    let t0 = now_ns() - 20_000_000_000;
    let t1 = t0 + 10_000_000_000;
    write(format!(
        "outlet,device=pdu-1,outlet=1 power_w=250.5,energy_wh=1000 {t0}\n\
         outlet,device=pdu-1,outlet=1 power_w=251.25,energy_wh=1001 {t1}\n\
         port_counters,device=sw-1,port=Gi0/1 in_octets=10000000u,out_octets=20000000u {t0}\n\
         port_counters,device=sw-1,port=Gi0/1 in_octets=11250000u,out_octets=22500000u {t1}\n"
    ))
    .await;

    let path = format!("{}/api/v1/customers/acme/live", server.url);
    // Roles and isolation.
    assert_eq!(http.get(&path).send().await.unwrap().status().as_u16(), 401);
    assert_eq!(http.get(&path).bearer_auth(&ingest).send().await.unwrap().status().as_u16(), 403);
    assert_eq!(http.get(&path).bearer_auth(&globex).send().await.unwrap().status().as_u16(), 404);
    let nobody = format!("{}/api/v1/customers/nobody/live", server.url);
    assert_eq!(http.get(&nobody).bearer_auth(&billing).send().await.unwrap().status().as_u16(), 404);

    let resp = http.get(&path).bearer_auth(&acme).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = Events { resp, buf: String::new() };
    let first = events.next().await;
    assert_eq!(first.name, "live", "{first:?}");
    let d = &first.data;
    assert_eq!(d["customer"], "acme");
    assert_eq!(d["power"][0]["outlet"], "pdu-1/1");
    assert_eq!(d["power"][0]["power_w"], "251.25");
    assert_eq!(d["bandwidth"][0]["port"], "sw-1/Gi0/1");
    assert_eq!((d["bandwidth"][0]["in_mbps"].as_str(), d["bandwidth"][0]["out_mbps"].as_str()), (Some("1"), Some("2")));
    // 1 Wh over the 10 s the month has of this outlet: 0.001 kWh.
    assert_eq!(d["month_to_date"]["usage"]["energy"]["it_kwh"], "0.001000");

    // New readings: the next event shows them (sent within a second or so, not after 5 s).
    let t2 = now_ns();
    write(format!(
        "outlet,device=pdu-1,outlet=1 power_w=300,energy_wh=1002 {t2}\n\
         port_counters,device=sw-1,port=Gi0/1 in_octets=11250000u,out_octets=22500000u {t2}\n"
    ))
    .await;
    let mut next = events.next().await;
    // An event may already have been due before the write landed; the one after it shows it.
    if next.data["power"][0]["power_w"] != "300" {
        next = events.next().await;
    }
    assert_eq!(next.name, "live");
    assert_eq!(next.data["power"][0]["power_w"], "300");
    assert_eq!(next.data["bandwidth"][0]["in_mbps"], "0");
    assert!(next.id.parse::<u64>().unwrap() > first.id.parse::<u64>().unwrap(), "{} then {}", first.id, next.id);
    assert_eq!(next.data["month_to_date"]["usage"]["energy"]["it_kwh"], "0.002000");
}
