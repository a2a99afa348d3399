//! The portal end to end in headless Chromium (Debian's `chromium`), driven by Playwright
//! (`playwright-core` from npm, no browser download) running `tests/e2e/portal.cjs` against a real
//! `colometer demo`: log in as a customer, see live data update, the month's history charts, open
//! the draft invoice, a line's evidence and the PDF; another customer's pages are 404; the
//! operator dashboard shows as failing a device this test stopped (a PDU added over the API,
//! served by a second `colometer simulate` that the test kills).
//!
//! Screenshots and the downloaded PDF are kept in `$COLOMETER_ARTIFACTS/portal` (default
//! `<target dir>/artifacts/portal`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tests::demo::Demo;
use tests::{get_json, repo, skip_or_fail};

fn playwright_core() -> Option<PathBuf> {
    let tools = std::env::var("COLOMETER_TOOLS").unwrap_or_else(|_| "/var/tmp/colometer-tools".into());
    let p = PathBuf::from(tools).join("playwright/node_modules/playwright-core");
    p.join("package.json").exists().then_some(p)
}

fn artifacts() -> PathBuf {
    if let Some(dir) = std::env::var_os("COLOMETER_ARTIFACTS") {
        return PathBuf::from(dir).join("portal");
    }
    // <target>/<profile>/deps/<test-exe>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("artifacts/portal")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_portal_in_a_real_browser() {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        skip_or_fail("Chromium is not installed (scripts/test-deps installs Debian's chromium)");
        return;
    }
    let Some(playwright) = playwright_core() else {
        skip_or_fail("playwright-core is not installed (scripts/test-deps installs it with npm)");
        return;
    };
    if Command::new("node").arg("--version").output().is_err() {
        skip_or_fail("Node.js is not installed (playwright-core runs on it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(&dir.path().join("demo-data"));
    let billed = demo.wait_for("billed ", Duration::from_secs(60));
    let period = billed.split([' ', ':']).nth(1).unwrap().to_owned();

    // A PDU served by a second simulator, added over the API, polled, then stopped.
    let mut sim = Command::new(tests::bin())
        .args(["simulate", "--pdus", "1", "--switches", "0", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // "… on udp://127.0.0.1:PORT; community = device id"
    let addr = first.split("udp://").nth(1).and_then(|r| r.split(';').next()).unwrap_or_else(|| panic!("{first}"));
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let http = reqwest::Client::new();
    let added = http
        .post(format!("{}/api/v1/pdus", demo.url))
        .bearer_auth(&demo.admin)
        .json(&json!({"id": "pdu-spare", "rack": "ams1-r104", "interval": "2s",
            "snmp": {"host": "127.0.0.1", "port": port, "version": "v2c", "community": "pdu-0001"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201, "{}", added.text().await.unwrap());
    let device = |want_failing: bool| {
        let (http, url, admin) = (http.clone(), demo.url.clone(), demo.admin.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let d: serde_json::Value = get_json(&http, &format!("{url}/api/v1/devices/pdu-spare"), &admin).await;
                let failing = d["consecutive_failures"].as_u64().unwrap_or(0) > 0;
                let polled = !d["last_poll"].is_null();
                if (want_failing && failing) || (!want_failing && polled && !failing) {
                    return d;
                }
                assert!(
                    Instant::now() < deadline,
                    "pdu-spare never became {}: {d}",
                    if want_failing { "failing" } else { "polled" }
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    device(false).await;
    tests::sigterm(&mut sim, Duration::from_secs(10)).expect("the second simulator did not stop");
    let failing = device(true).await;
    assert!(failing["last_error"]["error"].is_string(), "{failing}");

    let shots = artifacts();
    let out = Command::new("node")
        .arg(repo().join("tests/e2e/portal.cjs"))
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", &chromium)
        .env("COLOMETER_URL", &demo.url)
        .env("CUSTOMER_TOKEN", &demo.customer)
        .env("ADMIN_TOKEN", &demo.admin)
        .env("OTHER_CUSTOMER", "globex")
        .env("PERIOD", &period)
        .env("FAILING_DEVICE", "pdu-spare")
        .env("SHOTS", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "portal e2e failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok - ")).count(), 28, "every step ran:\n{stdout}");
    for shot in ["1-overview", "2-history-month", "3-invoice", "4-evidence", "5-foreign-404", "6-operator", "7-phone"] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "screenshot {shot} missing in {}", shots.display());
    }
}
