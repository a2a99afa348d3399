//! Corrupt bytes on disk, through the real binary: a damaged segment fails the queries that touch
//! it with a problem naming it; a damaged WAL record is set aside at start-up without manual
//! repair. Neither is ever returned as data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Scratch, Server};

const INVENTORY: &str =
    "sites: [{id: s1, pue: \"1.2\"}]\npdus: [{id: p, site: s1, outlets: [{index: 1}, {index: 2}]}]\n";

fn lines(outlet: u32, n: u64) -> String {
    // Inside one hour (one hourly partition, so one segment) of the previous hour: `n` stays
    // below 1,000.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let base = now / 3600 * 3600 - 3600 + 1000;
    (0..n).map(|i| format!("outlet,device=p,outlet={outlet} power_w={i} {}\n", base - i)).collect()
}

async fn metric(http: &reqwest::Client, url: &str, name: &str) -> f64 {
    let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map_or(-1.0, |v| v.parse().unwrap())
}

async fn query(http: &reqwest::Client, url: &str, token: &str, sql: &str) -> (u16, Value) {
    let r =
        http.post(format!("{url}/api/v1/query")).bearer_auth(token).json(&json!({"sql": sql})).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_segment_is_reported_by_the_queries_that_read_it() {
    let s = Scratch::with_config("", "checkpoint_interval = \"1s\"");
    s.import(INVENTORY);
    let token = s.token("admin", None);
    let http = reqwest::Client::new();
    let mut server = Server::start(&s, &[]);
    let r = http
        .post(format!("{}/api/v1/write?precision=s", server.url))
        .bearer_auth(&token)
        .body(lines(1, 500))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let start = Instant::now();
    while metric(&http, &server.url, "colometer_store_segments").await < 1.0 {
        assert!(start.elapsed() < Duration::from_secs(20), "no checkpoint happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.terminate(Duration::from_secs(15)).unwrap().success());
    let segs = s.path("data/store/segments");
    let seg = std::fs::read_dir(&segs).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x04;
    std::fs::write(&seg, bytes).unwrap();

    let server = Server::start(&s, &[]);
    let (status, problem) = query(&http, &server.url, &token, "SELECT count(*) FROM readings").await;
    assert_eq!(status, 500, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        detail.starts_with("segment ") && detail.contains(&format!("{name} is corrupt: row group 0 has CRC-32")),
        "{detail}"
    );
    assert_eq!(metric(&http, &server.url, "colometer_store_corruptions_total").await, 1.0);
    // New readings still go in and can be read where they do not touch the damage.
    let r = http
        .post(format!("{}/api/v1/write?precision=s", server.url))
        .bearer_auth(&token)
        .body(lines(2, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_wal_record_is_set_aside_at_start_up() {
    let s = Scratch::new();
    s.import(INVENTORY);
    let token = s.token("admin", None);
    let http = reqwest::Client::new();
    let mut server = Server::start(&s, &[]);
    for outlet in [1, 2] {
        let r = http
            .post(format!("{}/api/v1/write?precision=s", server.url))
            .bearer_auth(&token)
            .body(lines(outlet, 50))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let wal_dir = s.path("data/store/wal");
    let wal = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .expect("a WAL file with records");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[40] ^= 0x01; // inside the first record's payload
    std::fs::write(&wal, bytes).unwrap();

    let server = Server::start(&s, &[]);
    let (status, body) = query(&http, &server.url, &token, "SELECT count(*) FROM readings").await;
    assert_eq!((status, &body["rows"]), (200, &json!([[0]])), "{body}");
    assert_eq!(metric(&http, &server.url, "colometer_store_corruptions_total").await, 1.0);
    let aside: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wal.corrupt"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}
