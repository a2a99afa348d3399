//! A full disk: writers get `507` and nothing partial is stored; the server keeps serving reads.
//! The data directory is a 4 MiB tmpfs (needs root to mount; skipped otherwise, failed in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Command;

use serde_json::{Value, json};
use tests::{Scratch, Server};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_with_507_and_keeps_serving_reads() {
    let s = Scratch::new();
    let data = s.path("data");
    std::fs::create_dir(&data).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"]).arg(&data).output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        tests::skip_or_fail("cannot mount a tmpfs (needs root) to fill a disk");
        return;
    }
    let _guard = Mount(data.clone());
    s.import(
        "sites: [{id: s1, pue: \"1.2\"}]\npdus: [{id: p, site: s1, snmp: {host: h, version: v2c, community: c}}]\n",
    );
    let admin = s.token("admin", None);
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 86_400;
    let mut acked = 0u64;
    let mut refused = None;
    for b in 0..400u64 {
        let body: String = (0..2000)
            .map(|i| {
                format!("outlet,device=p,outlet={} power_w={}.5 {}\n", i % 48 + 1, b * 10_000 + i, now - b * 3000 - i)
            })
            .collect();
        let r = http
            .post(format!("{}/api/v1/write?precision=s", server.url))
            .bearer_auth(&admin)
            .body(body)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            204 => acked += 2000,
            507 => {
                refused = Some(r.json::<Value>().await.unwrap());
                break;
            }
            other => panic!("unexpected status {other}: {}", r.text().await.unwrap()),
        }
    }
    let problem = refused.expect("the disk never filled");
    assert_eq!(problem["type"], "https://colometer.dev/problems/insufficient-storage");
    assert!(problem["detail"].as_str().unwrap().starts_with("disk full: the write was not stored"), "{problem}");
    assert!(acked > 0);
    // Reads still work and see exactly what was acknowledged.
    let r = http
        .post(format!("{}/api/v1/query", server.url))
        .bearer_auth(&admin)
        .json(&json!({"sql": "SELECT count(*) FROM readings"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["rows"], json!([[acked]]));
    assert_eq!(http.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
    // And a second attempt is refused the same way, not half-stored.
    let r = http
        .post(format!("{}/api/v1/write?precision=s", server.url))
        .bearer_auth(&admin)
        .body((0..5000).map(|i| format!("outlet,device=p,outlet=1 power_w={i} {}\n", now - i)).collect::<String>())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    drop(server);
}
