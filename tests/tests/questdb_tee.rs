//! The QuestDB tee: acknowledged readings reach an ILP-over-HTTP endpoint, failures are retried,
//! and an unreachable QuestDB never slows or fails the primary store's writes.
//!
//! No QuestDB server can be installed on this machine (it ships only from its own site), and
//! InfluxDB 1.x rejects questdb-rs's `/write` without a `db` parameter, so the endpoint here is a
//! minimal HTTP/1.1 receiver that records what it is sent, and refuses the first two requests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tests::{Scratch, Server, repo};

type Shared<T> = Arc<Mutex<T>>;

/// Accepts HTTP/1.1 requests (keep-alive), answers `POST /write*` with 500 twice, then 204, and
/// records the bodies it accepted.
fn receiver() -> (u16, Shared<Vec<String>>, Shared<u32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(2));
    let (g, f) = (got.clone(), failures.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (g, f) = (g.clone(), f.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                loop {
                    let mut request = String::new();
                    if r.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h == "\r\n" || h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let status = if request.starts_with("POST /write") {
                        let mut left = f.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            "500 Internal Server Error"
                        } else {
                            g.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                            "204 No Content"
                        }
                    } else {
                        "404 Not Found"
                    };
                    let resp = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, got, failures)
}

const LINES: &str = "port_counters,device=sw-core1,port=Gi1/0/1 in_octets=123456u,out_octets=654321u,uptime_s=86400u 1791763200000000000\n\
outlet,device=pdu-101a,outlet=1 energy_wh=152340.5,power_w=412.5 1791763200000000000\n";

async fn metric(http: &reqwest::Client, url: &str, name: &str) -> f64 {
    let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map_or(-1.0, |v| v.parse().unwrap())
}

fn setup(addr: &str) -> (Scratch, String) {
    let s = Scratch::with_config("", &format!("[storage.questdb]\naddr = \"{addr}\""));
    s.import(&std::fs::read_to_string(repo().join("deploy/inventory.example.yaml")).unwrap());
    let token = s.token("ingest", None);
    (s, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn readings_reach_questdb_after_retries() {
    let (port, got, failures_left) = receiver();
    let (s, token) = setup(&format!("127.0.0.1:{port}"));
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/api/v1/write", server.url)).bearer_auth(&token).body(LINES).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let start = Instant::now();
    while metric(&http, &server.url, "colometer_questdb_sent_rows_total").await < 5.0 {
        assert!(start.elapsed() < Duration::from_secs(20), "the tee never delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both refused requests were retried (by questdb-rs itself, within its retry timeout).
    assert_eq!(*failures_left.lock().unwrap(), 0);
    let body = got.lock().unwrap().concat();
    let mut lines: Vec<&str> = body.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        vec![
            "readings,device=pdu-101a,resource=1,metric=energy_wh value=152340.5 1791763200000000000",
            "readings,device=pdu-101a,resource=1,metric=power_w value=412.5 1791763200000000000",
            "readings,device=sw-core1,resource=Gi1/0/1,metric=in_octets value=123456.0,uptime_s=86400i 1791763200000000000",
            "readings,device=sw-core1,resource=Gi1/0/1,metric=out_octets value=654321.0,uptime_s=86400i 1791763200000000000",
            "readings,device=sw-core1,resource=Gi1/0/1,metric=uptime_s value=86400.0,uptime_s=86400i 1791763200000000000",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_questdb_never_holds_up_writes() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again at once
    let (s, token) = setup(&format!("127.0.0.1:{dead}"));
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    for i in 0..20 {
        let started = Instant::now();
        let body = LINES.replace("1791763200000000000", &format!("{}", 1_791_763_200_000_000_000i64 + i));
        let r = http.post(format!("{}/api/v1/write", server.url)).bearer_auth(&token).body(body).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert!(started.elapsed() < Duration::from_secs(2), "a write waited for QuestDB");
    }
    assert_eq!(metric(&http, &server.url, "colometer_store_rows_written_total").await, 100.0);
    assert_eq!(metric(&http, &server.url, "colometer_questdb_sent_rows_total").await, 0.0);
}
