//! `colometer serve`: health, token auth, problem+json, env overrides, clean SIGTERM shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::Duration;

use tests::{Scratch, Server, repo};

fn setup() -> (Scratch, String) {
    let s = Scratch::new();
    let inv = repo().join("deploy/inventory.example.yaml");
    assert!(s.run(&["inventory", "import", inv.to_str().unwrap()]).status.success());
    let out = s.run(&["token", "create", "--role", "customer", "--customer", "acme"]);
    (s, String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_identity_then_stops_cleanly_on_sigterm() {
    let (s, token) = setup();
    let mut server = Server::start(&s, &[]);
    let http = reqwest::Client::new();

    let r = http.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    let r = http.get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get(format!("{}/api/v1/whoami", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["status"], 401);
    assert_eq!(p["type"], "https://colometer.dev/problems/unauthorized");

    let r = http.get(format!("{}/api/v1/whoami", server.url)).bearer_auth("colo_wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);

    let r = http.get(format!("{}/api/v1/whoami", server.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["role"], "customer");
    assert_eq!(me["customer"], "acme");

    let r = http.get(format!("{}/no/such/thing", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = http.post(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(r.status(), 405);

    let status = server.terminate(Duration::from_secs(15)).expect("serve did not stop within 15 s of SIGTERM");
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn environment_overrides_the_config_file() {
    let s = Scratch::new();
    let other = s.path("elsewhere");
    let inv = repo().join("deploy/inventory.example.yaml");
    let out = s
        .command(&["inventory", "import", inv.to_str().unwrap()])
        .env("COLOMETER_STORAGE__DATA_DIR", &other)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(other.join("catalog.db").is_file());
    assert!(!s.path("data/catalog.db").exists());

    let out = s.command(&["serve"]).env("COLOMETER_SERVER__LISTEN", "not-an-address").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("colometer: invalid configuration:") && err.contains("SERVER.LISTEN"), "{err}");
}

#[test]
fn json_logs_are_json() {
    let s = Scratch::new();
    let inv = repo().join("deploy/inventory.example.yaml");
    let out = s
        .command(&["inventory", "import", inv.to_str().unwrap(), "--log-format", "json"])
        .env("COLOMETER_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let import = lines.iter().find(|l| l["message"] == "inventory import").expect("no import log line");
    assert_eq!(import["created"], 8);
    assert_eq!(import["level"], "INFO");
}
