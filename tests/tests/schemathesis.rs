//! schemathesis (PyPI, installed by `scripts/test-deps`) against the served OpenAPI document:
//! property-based requests to every operation with an admin token and with a customer's, over a
//! billed period; no answer may be a 5xx or contradict the document (status, content type,
//! schema). The live stream is left out (it never ends; `tests/live.rs` covers it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;
use tests::{Scratch, Server, example_lines as lines, repo, skip_or_fail};

fn schemathesis() -> Option<PathBuf> {
    let tools = std::env::var("COLOMETER_TOOLS").unwrap_or_else(|_| "/var/tmp/colometer-tools".into());
    let st = PathBuf::from(tools).join("schemathesis/bin/st");
    st.exists().then_some(st)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_served_api_keeps_to_its_openapi_document() {
    let Some(st) = schemathesis() else {
        skip_or_fail("schemathesis is not installed (scripts/test-deps installs it)");
        return;
    };
    let s = Scratch::new();
    s.import(&std::fs::read_to_string(repo().join("deploy/inventory.example.yaml")).unwrap());
    let admin = s.token("admin", None);
    let acme = s.token("customer", Some("acme"));
    let server = Server::start(&s, &[]);
    let http = reqwest::Client::new();
    let w = http.post(format!("{}/api/v1/write", server.url)).bearer_auth(&admin).body(lines()).send().await.unwrap();
    assert_eq!(w.status().as_u16(), 204);
    let run = http
        .post(format!("{}/api/v1/billing-runs", server.url))
        .bearer_auth(&admin)
        .json(&json!({"period": "2026-10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status().as_u16(), 201);

    for (who, token) in [("admin", &admin), ("customer", &acme)] {
        let out = Command::new(&st)
            .args(["run", &format!("{}/api/v1/openapi.json", server.url)])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--exclude-path", "/api/v1/customers/{id}/live"])
            .args(["--max-examples", "25", "--seed", "1", "--workers", "2", "--request-timeout", "30"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .env("NO_COLOR", "1")
            .current_dir(s.path(""))
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "schemathesis as {who} found problems:\n{text}");
    }
}
