//! `colometer demo` (the README's first command): starts, prints working tokens, stops on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use tests::demo::Demo;
use tests::get_json;

#[tokio::test(flavor = "multi_thread")]
async fn demo_prints_a_url_and_tokens_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data");
    let mut demo = Demo::start(&data);
    let (url, admin, customer) = (demo.url.clone(), demo.admin.clone(), demo.customer.clone());
    let http = reqwest::Client::new();
    for (token, role) in [(&admin, "admin"), (&customer, "customer")] {
        let me: serde_json::Value = get_json(&http, &format!("{url}/api/v1/whoami"), token).await;
        assert_eq!(me["role"], role);
    }
    assert!(data.join("catalog.db").is_file());
    // The collectors poll the built-in simulator: the device view fills and readings reach the
    // store (the first 10 s tick, discovery, a poll).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let device = loop {
        let d: serde_json::Value = get_json(&http, &format!("{url}/api/v1/devices/pdu-0001"), &admin).await;
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
    // The first start backfilled the billed outlets and ports and billed the previous month.
    let billed = demo.wait_for("billed ", Duration::from_secs(60));
    let period = billed.split([' ', ':']).nth(1).unwrap().to_owned();
    assert_eq!(billed, format!("billed {period}: 3 draft invoices (see the portal's invoices)"));
    let page: serde_json::Value =
        get_json(&http, &format!("{url}/api/v1/invoices?period={period}&status=draft"), &admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
    let usage: serde_json::Value =
        get_json(&http, &format!("{url}/api/v1/customers/acme/usage?period={period}"), &customer).await;
    // Every 5-minute bucket of the month has data (a sample every 5 minutes), none estimated.
    let at = |k: &str| engine::time::Timestamp::parse(usage[k].as_str().unwrap()).unwrap().as_nanos() / 1_000_000_000;
    let span_s = at("to") - at("from");
    assert_eq!(usage["bandwidth"]["samples"].as_i64(), Some(span_s / 300), "{usage}");
    assert_eq!(usage["bandwidth"]["flags"]["estimated"], 0, "{usage}");
    assert_eq!(usage["resources"].as_array().unwrap().len(), 5, "3 outlets and 2 ports: {usage}");
    let status = tokio::task::spawn_blocking(move || demo.terminate(Duration::from_secs(30))).await.unwrap();
    assert!(status.is_some_and(|s| s.success()), "demo did not stop cleanly: {status:?}");
}
