//! `colometer demo` (the README's first command): starts, prints working tokens, stops on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn demo_prints_a_url_and_tokens_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data");
    let mut child = Command::new(tests::bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut url, mut admin, mut customer) = (None, None, None);
    while customer.is_none() {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("demo printed no customer token");
        if let Some(u) = line.strip_prefix("colometer listening on ") {
            url = Some(u.to_owned());
        }
        if let Some(t) = line.trim().strip_prefix("admin token:") {
            admin = Some(t.trim().to_owned());
        }
        if let Some(t) = line.trim().strip_prefix("customer token:") {
            customer = t.split_whitespace().next().map(str::to_owned);
        }
    }
    let (url, admin, customer) = (url.unwrap(), admin.unwrap(), customer.unwrap());
    let http = reqwest::Client::new();
    for (token, role) in [(&admin, "admin"), (&customer, "customer")] {
        let me: serde_json::Value =
            http.get(format!("{url}/api/v1/whoami")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["role"], role);
    }
    assert!(data.join("catalog.db").is_file());
    // The collectors poll the built-in simulator: the device view fills and readings reach the
    // store (the first 10 s tick, discovery, a poll).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let device = loop {
        let d: serde_json::Value = http
            .get(format!("{url}/api/v1/devices/pdu-0001"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !d["last_poll"].is_null() {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "pdu-0001 not polled within 60 s: {d}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(device["profile"], "raritan-pdu2");
    assert_eq!(device["sys_object_id"], "1.3.6.1.4.1.13742.6");
    assert_eq!(device["resources"].as_array().unwrap().len(), 25, "24 outlets and the inlet");
    assert_eq!(device["resources"][0]["id"], "pdu-0001/1");
    assert!(device["resources"][0]["last"]["energy_wh"].is_string());
    let q: serde_json::Value = http
        .post(format!("{url}/api/v1/query"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"sql": "SELECT count(*) AS n FROM readings WHERE device = 'pdu-0001' AND resource = '1'"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(q["rows"][0][0].as_i64().unwrap_or(0) >= 2, "{q}");
    let forbidden = http.get(format!("{url}/api/v1/devices/pdu-0001")).bearer_auth(&customer).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}
