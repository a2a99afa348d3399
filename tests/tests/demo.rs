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
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}
