//! `colometer inventory import`, `export`, `reconcile` and `token create` through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::Output;

use tests::{Scratch, repo};

fn example() -> String {
    std::fs::read_to_string(repo().join("deploy/inventory.example.yaml")).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn import(s: &Scratch, file: &str, body: &str) -> Output {
    let path = s.path(file);
    std::fs::write(&path, body).unwrap();
    s.run(&["inventory", "import", path.to_str().unwrap()])
}

#[test]
fn help_lists_the_commands() {
    let out = Scratch::new().run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["demo", "serve", "inventory", "token", "reconcile"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(cmd)), "{cmd} missing from:\n{help}");
    }
}

#[test]
fn the_contract_example_imports_and_a_second_import_changes_nothing() {
    let s = Scratch::new();
    let out = import(&s, "inv.yaml", &example());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("imported {}: 8 created, 0 updated, 0 unchanged\n", s.path("inv.yaml").display())
    );
    let before = s.catalog_dump();
    let out = import(&s, "inv.yaml", &example());
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        format!("imported {}: 0 created, 0 updated, 8 unchanged\n", s.path("inv.yaml").display())
    );
    assert_eq!(s.catalog_dump(), before);
    // The data directory is relative to the config file, not to the working directory.
    assert!(s.path("data/catalog.db").is_file());
}

#[test]
fn one_bad_reference_fails_names_the_path_and_leaves_the_catalog_exactly_as_it_was() {
    let s = Scratch::new();
    assert!(import(&s, "inv.yaml", &example()).status.success());
    let before = s.catalog_dump();
    // The bad document also adds a site and changes a price: neither may be written.
    let bad = example()
        .replace("{outlet: pdu-101a/1,", "{outlet: pdu-9/1,")
        .replace("price_per_month: \"900.00\"", "price_per_month: \"950.00\"")
        .replace("sites:\n", "sites:\n  - {id: ams2, name: Amsterdam 2, pue: \"1.2\"}\n");
    let out = import(&s, "bad.yaml", &bad);
    assert_eq!(out.status.code(), Some(3));
    let bad_path = s.path("bad.yaml").display().to_string();
    assert_eq!(
        text(&out.stderr),
        format!(
            "{bad_path}: services[0].resources[1].outlet: unknown PDU 'pdu-9'\n\
             colometer: the inventory has 1 problem(s); nothing was written\n"
        )
    );
    assert_eq!(s.catalog_dump(), before);
}

#[test]
fn each_kind_of_bad_input_has_a_clear_message_and_a_failing_status() {
    let s = Scratch::new();
    assert!(import(&s, "inv.yaml", &example()).status.success());
    let before = s.catalog_dump();
    let cases: &[(&str, &str, &str)] = &[
        ("malformed YAML", "sites: [ {id: x", "malformed YAML"),
        (
            "unknown currency",
            "customers: [{id: c, name: C, currency: EURO, tax_rate: \"0\"}]",
            "customers[0].currency: unknown currency \"EURO\"",
        ),
        (
            "negative price",
            "rate_plans: [{id: p, currency: EUR, charges: [{type: rack_rent, price_per_month: \"-1\"}]}]",
            "rate_plans[0].charges[0].price_per_month: must not be negative, found -1",
        ),
        (
            "to before from",
            "services: [{id: s, customer: acme, plan: colo-std, resources: [{rack: ams1-r101, from: \"2026-11-02T00:00:00Z\", to: \"2026-11-01T00:00:00Z\"}]}]",
            "services[0].resources[0].to: `to` (2026-11-01T00:00:00Z) must be after `from` (2026-11-02T00:00:00Z)",
        ),
        (
            "overlapping assignment",
            "services: [{id: s, customer: acme, plan: colo-std, resources: [{rack: ams1-r101, from: \"2026-10-20T00:00:00Z\"}]}]",
            "services[0].resources[0].rack: ams1-r101 is also assigned to service 'svc-acme-1' (in the catalog) during [2026-10-20T00:00:00Z, open)",
        ),
        (
            "unknown reference",
            "racks: [{id: r9, site: nowhere, power_budget_kw: \"2\"}]",
            "racks[0].site: unknown site 'nowhere'",
        ),
    ];
    for (what, doc, expected) in cases {
        let out = import(&s, "case.yaml", doc);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(stderr.contains(expected), "{what}: expected {expected:?} in:\n{stderr}");
        assert_eq!(s.catalog_dump(), before, "{what}: catalog changed");
    }
    let out = s.run(&["inventory", "import", s.path("missing.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("colometer: cannot read "), "{}", text(&out.stderr));
}

#[test]
fn json_and_a_csv_directory_give_the_same_catalog_as_yaml() {
    let yaml = Scratch::new();
    assert!(import(&yaml, "inv.yaml", &example()).status.success());
    let export = yaml.run(&["inventory", "export", "--format", "json"]);
    assert!(export.status.success());
    let want = text(&export.stdout);

    let json = Scratch::new();
    let out = import(&json, "inv.json", &want);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&json.run(&["inventory", "export", "--format", "json"]).stdout), want);

    let csv = Scratch::new();
    let dir = csv.path("csv");
    std::fs::create_dir(&dir).unwrap();
    let files = [
        ("sites.csv", "id,name,pue,grid_region\nams1,Amsterdam 1,1.35,NL\n"),
        ("racks.csv", "id,site,power_budget_kw\nams1-r101,ams1,8.0\n"),
        (
            "pdus.csv",
            "id,rack,snmp.host,snmp.port,snmp.version,snmp.community,interval\npdu-101a,ams1-r101,127.0.0.1,1161,v2c,public,10s\n",
        ),
        ("outlets.csv", "pdu,index,name\npdu-101a,1,srv-01-psu-a\n"),
        (
            "switches.csv",
            "id,site,snmp.host,snmp.port,snmp.version,snmp.community\nsw-core1,ams1,127.0.0.1,1161,v2c,public\n",
        ),
        ("ports.csv", "switch,name,speed_mbps\nsw-core1,Gi1/0/1,1000\n"),
        ("customers.csv", "id,name,currency,billing_timezone,tax_rate\nacme,ACME Hosting BV,EUR,UTC,0.21\n"),
        ("rate_plans.csv", "id,currency\ncolo-std,EUR\n"),
        (
            "charges.csv",
            "plan,type,price_per_month,price_per_kwh,basis,committed_kw,overage_per_kwh,commit_mbps,overage_per_mbps,method,pooling,missing_buckets,price_per_hour,increment_minutes,minimum_minutes\n\
             colo-std,rack_rent,900.00,,,,,,,,,,,,\n\
             colo-std,energy,,0.32,facility_kwh,,,,,,,,,,\n\
             colo-std,committed_power,150.00,,,4.0,0.45,,,,,,,,\n\
             colo-std,bandwidth_p95,200.00,,,,,100,1.20,max_in_out,pooled,exclude,,,\n\
             colo-std,remote_hands,,,,,,,,,,,120.00,15,30\n",
        ),
        ("services.csv", "id,customer,plan\nsvc-acme-1,acme,colo-std\n"),
        (
            "resources.csv",
            "service,rack,outlet,port,from,to\n\
             svc-acme-1,ams1-r101,,,2026-10-01T00:00:00Z,\n\
             svc-acme-1,,pdu-101a/1,,2026-10-01T00:00:00Z,2026-10-15T12:00:00Z\n\
             svc-acme-1,,,sw-core1/Gi1/0/1,2026-10-01T00:00:00Z,\n",
        ),
        ("grid_intensity.csv", "region,from,to,g_per_kwh\nNL,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,328\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let out = csv.run(&["inventory", "import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&csv.run(&["inventory", "export", "--format", "json"]).stdout), want);

    // A bad CSV cell is reported at its file and line.
    std::fs::write(dir.join("resources.csv"), "service,rack,from\nsvc-acme-1,ams1-r101,2026-10-01T00:00:00Z\nsvc-nope,ams1-r101,2026-10-01T00:00:00Z\nsvc-acme-1,r-x,yesterday\n").unwrap();
    let out = csv.run(&["inventory", "import", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let d = dir.display();
    assert_eq!(
        text(&out.stderr),
        format!(
            "{d}: resources.csv:3.service: unknown service 'svc-nope' (not in services.csv)\n\
             {d}: resources.csv:4.from: \"yesterday\" is not an RFC 3339 time with offset (e.g. 2026-10-01T00:00:00Z)\n\
             colometer: the inventory has 2 problem(s); nothing was written\n"
        )
    );
}

#[test]
fn reconcile_reports_what_disagrees_as_a_table_and_as_json() {
    let s = Scratch::new();
    let doc = r#"
sites: [{id: ams1, name: A, pue: "1.3"}]
racks:
  - {id: r1, site: ams1, power_budget_kw: "5", customer: acme}
  - {id: r2, site: ams1, power_budget_kw: "5"}
pdus: [{id: p1, outlets: [{index: 1, asset: srv1}]}]
assets: [{id: srv1, rack: r2, customer: acme, status: active}]
customers: [{id: acme, name: ACME, currency: EUR, tax_rate: "0.21"}]
rate_plans: [{id: p, currency: EUR, charges: [{type: rack_rent, price_per_month: "100"}]}]
services:
  - {id: s-old, customer: acme, plan: p, resources: [{rack: r2, from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z"}]}
"#;
    assert!(import(&s, "inv.yaml", doc).status.success());
    let out = s.run(&["reconcile", "--at", "2026-10-01T00:00:00Z"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        concat!(
            "CHECK                      SUBJECT        CUSTOMER  DETAIL\n",
            "service_without_resources  service s-old  acme      active, but no resource is assigned to it at 2026-10-01T00:00:00Z\n",
            "resource_without_service   asset srv1     acme      in service for customer acme, but neither it nor its rack is billed to that customer at 2026-10-01T00:00:00Z\n",
            "resource_without_service   outlet p1/1    acme      feeds srv1 of customer acme, but no active service bills it at 2026-10-01T00:00:00Z\n",
            "resource_without_service   rack r1        acme      dedicated rack of customer acme, but no active service bills it at 2026-10-01T00:00:00Z\n",
            "device_without_location    pdu p1         -         has neither rack nor site\n"
        )
    );
    let out = s.run(&["reconcile", "--json", "--at", "2026-10-01T00:00:00Z", "--fail-on-findings"]);
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["at"], "2026-10-01T00:00:00Z");
    assert_eq!(v["findings"].as_array().unwrap().len(), 5);
    assert_eq!(
        v["findings"][4],
        serde_json::json!({
            "check": "device_without_location", "subject": "pdu p1", "customer": null, "detail": "has neither rack nor site"
        })
    );
}

#[test]
fn tokens_print_alone_and_are_stored_hashed() {
    let s = Scratch::new();
    assert!(import(&s, "inv.yaml", &example()).status.success());
    let out = s.run(&["token", "create", "--role", "customer", "--customer", "acme"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout);
    assert_eq!(token.lines().count(), 1);
    let token = token.trim();
    assert!(token.starts_with("colo_") && token.len() == 69, "{token}");
    assert!(!s.catalog_dump().contains(&token[5..]), "the secret is stored in clear");
    let bad = s.run(&["token", "create", "--role", "customer"]);
    assert_eq!(text(&bad.stderr), "colometer: role customer needs a customer id\n");
    let bad = s.run(&["token", "create", "--role", "customer", "--customer", "ghost"]);
    assert_eq!(text(&bad.stderr), "colometer: unknown customer 'ghost' (import it first)\n");
    let bad = s.run(&["token", "create", "--role", "root"]);
    assert_eq!(text(&bad.stderr), "colometer: unknown role \"root\" (expected admin, billing, customer or ingest)\n");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `colometer inventory export | head -0`: the reader is gone before the first write.
    let s = Scratch::new();
    assert!(import(&s, "inv.yaml", &example()).status.success());
    let mut child = s
        .command(&["inventory", "export", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closes the pipe's only reader
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stderr), "", "nothing on stderr (no panic, no backtrace)");
    assert_eq!(out.status.code(), Some(0));
    // Any other failure is one line on stderr and status 1.
    let out = s.run(&["inventory", "import", s.path("missing.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("colometer: ") && err.contains("missing.yaml"), "{err}");
}
