//! Reading documents: the contract's example, and each kind of bad input with its path.

use super::*;
use crate::catalog::{Backend, Catalog, SqliteCatalog};
use crate::inventory::import::plan;
use crate::inventory::source::parse_yaml;
use crate::inventory::{ImportError, Inventory};
use crate::time::Timestamp;

pub(crate) const EXAMPLE: &str = include_str!("../../../../deploy/inventory.example.yaml");

fn problems_of(yaml: &str, current: &Inventory) -> Vec<String> {
    let doc = read(&parse_yaml(yaml).unwrap());
    match plan(current, doc) {
        Ok(_) => vec![],
        Err(ImportError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_contract_example_reads_whole() {
    let doc = read(&parse_yaml(EXAMPLE).unwrap());
    assert_eq!(doc.problems, vec![]);
    assert_eq!(doc.entries.len(), 8);
    let plan = plan(&Inventory::default(), doc).unwrap();
    assert_eq!(plan.summary.created, 8);
    let inv = plan.result;
    let svc = inv.services.values().next().unwrap();
    assert_eq!(svc.resources.len(), 3);
    assert_eq!(svc.resources[1].resource.key(), "pdu-101a/1");
    assert_eq!(svc.resources[1].interval.to, Some(Timestamp::parse("2026-10-15T12:00:00Z").unwrap()));
    assert_eq!(svc.resources[2].resource.key(), "sw-core1/Gi1/0/1");
    let plan_charges = &inv.rate_plans.values().next().unwrap().charges;
    assert_eq!(
        plan_charges.iter().map(|c| c.type_name()).collect::<Vec<_>>(),
        ["rack_rent", "energy", "committed_power", "bandwidth_p95", "remote_hands"]
    );
}

#[test]
fn json_and_yaml_are_the_same_document() {
    let yaml = parse_yaml(EXAMPLE).unwrap();
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&yaml).unwrap()).unwrap();
    let a = plan(&Inventory::default(), read(&yaml)).unwrap().result;
    let b = plan(&Inventory::default(), read(&json)).unwrap().result;
    assert_eq!(a, b);
}

#[test]
fn catalog_round_trip_and_second_import_changes_nothing() {
    round_trip(&mut SqliteCatalog::in_memory().unwrap());
}

#[test]
fn catalog_round_trip_and_second_import_changes_nothing_on_postgresql() {
    let Some(pg) = ::tests::postgres::for_test("catalog_round_trip_on_postgresql") else { return };
    round_trip(&mut crate::catalog::PostgresCatalog::connect(&pg.create_db("round_trip").unwrap()).unwrap());
}

/// The catalog's contract on one backend: imports, generations, export, tokens, their audit.
fn round_trip(cat: &mut dyn Backend) {
    let first = plan(&cat.inventory().unwrap(), read(&parse_yaml(EXAMPLE).unwrap())).unwrap();
    cat.apply(&first, 0, "example.yaml", Timestamp::from_secs(1)).unwrap();
    let stored = cat.inventory().unwrap();
    assert_eq!(stored, first.result);
    let second = plan(&stored, read(&parse_yaml(EXAMPLE).unwrap())).unwrap();
    assert_eq!(second.changes, vec![]);
    assert_eq!(second.summary.unchanged, 8);
    cat.apply(&second, 1, "example.yaml", Timestamp::from_secs(2)).unwrap();
    assert_eq!(cat.imports().unwrap().len(), 1, "an import without changes writes nothing");
    assert_eq!(cat.generation().unwrap(), 1);
    // A plan made against generation 0 is refused once generation 1 exists.
    let stale = plan(&Inventory::default(), read(&parse_yaml("sites: [{id: x, pue: \"1.1\"}]").unwrap())).unwrap();
    assert!(matches!(
        cat.apply(&stale, 0, "stale", Timestamp::from_secs(3)),
        Err(crate::catalog::CatalogError::Concurrent { planned: 0, found: 1 })
    ));
    // The stored inventory, exported as a document, imports back to itself.
    let exported = stored.to_document();
    let again = plan(&stored, read(&exported)).unwrap();
    assert_eq!(again.changes, vec![]);
    // Tokens: stored by hash, a duplicate refused, revoked once; each change audited.
    let t = crate::access::generate(crate::access::Role::Admin, Some("ops".into()), Timestamp::from_secs(4)).unwrap();
    cat.insert_token_as(&t.record, "admin-1").unwrap();
    assert!(matches!(cat.insert_token(&t.record), Err(crate::catalog::CatalogError::DuplicateToken(_))));
    assert_eq!(cat.token_by_hash(&t.record.hash).unwrap(), Some(t.record.clone()));
    assert_eq!(cat.tokens().unwrap(), std::slice::from_ref(&t.record));
    assert!(cat.revoke_token(&t.record.id, Timestamp::from_secs(5)).unwrap());
    assert!(!cat.revoke_token(&t.record.id, Timestamp::from_secs(6)).unwrap(), "revoked once");
    assert_eq!(cat.token_by_hash(&t.record.hash).unwrap(), None);
    assert_eq!(cat.tokens().unwrap()[0].revoked_at, Some(Timestamp::from_secs(5)));
    let log = cat.audit_log().unwrap();
    let actions: Vec<(&str, &str)> = log.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
    assert_eq!(actions, [("inventory.import", "cli"), ("token.create", "admin-1"), ("token.revoke", "cli")]);
    assert_eq!(crate::invoicing::audit::verify(&log), Ok(()));
}

#[test]
fn one_bad_reference_names_its_path() {
    let bad = EXAMPLE.replace("{outlet: pdu-101a/1,", "{outlet: pdu-9/1,");
    assert_eq!(problems_of(&bad, &Inventory::default()), vec!["services[0].resources[1].outlet: unknown PDU 'pdu-9'"]);
}

#[test]
fn every_problem_is_listed_with_its_path() {
    let bad = r#"
sites:
  - {id: ams1, name: A, pue: "0.9", grid_region: NL}
  - {id: "bad id", name: B, pue: 1.35}
racks:
  - {id: r1, site: ams9, power_budget_kw: "-1"}
  - {id: r2, site: ams1, power_budget_kw: "8", colour: red}
customers:
  - {id: acme, name: ACME, currency: EURO, tax_rate: "0.21"}
  - {id: beta, name: Beta, currency: USD, tax_rate: "1.5", billing_timezone: Mars/Olympus}
  - {id: gamma, name: Gamma, currency: USD, tax_rate: "0"}
rate_plans:
  - id: p1
    currency: EUR
    charges:
      - {type: rack_rent, price_per_month: "-900.00"}
      - {type: teleport, price: "1"}
      - {type: bandwidth_p95, commit_mbps: "100", price_per_month: "1", overage_per_mbps: "1", method: avg}
services:
  - id: s1
    customer: gamma
    plan: p1
    resources:
      - {rack: r2, from: "2026-10-02T00:00:00Z", to: "2026-10-01T00:00:00Z"}
      - {rack: r2, from: "2026-10-01T00:00:00Z"}
  - id: s2
    customer: gamma
    plan: p1
    resources:
      - {rack: r2, from: "2026-10-20T00:00:00Z", to: "2026-11-01T00:00:00Z"}
      - {port: sw-x/Gi1, from: "2026-10-01"}
"#;
    let got = problems_of(bad, &Inventory::default());
    let want = [
        "sites[0].pue: PUE must be at least 1, found 0.9",
        "sites[1].id: \"bad id\" contains ' '; only letters, digits and . _ : - are allowed",
        "sites[1].pue: write decimals as strings (\"1.35\") so they stay exact",
        "racks[0].power_budget_kw: must be greater than zero, found -1",
        "racks[1].colour: unknown field (expected one of: id, site, power_budget_kw, customer, locations)",
        "customers[0].currency: unknown currency \"EURO\" (expected an ISO 4217 code such as EUR)",
        "customers[1].billing_timezone: \"Mars/Olympus\" is not an IANA timezone (e.g. Europe/Amsterdam)",
        "customers[1].tax_rate: must be a fraction in [0, 1) such as \"0.21\", found 1.5",
        "rate_plans[0].charges[0].price_per_month: must not be negative, found -900.00",
        "rate_plans[0].charges[1].type: \"teleport\" is not one of: rack_rent, energy, committed_power, bandwidth_p95, remote_hands, cross_connect, recurring, one_off, sla_credit",
        "rate_plans[0].charges[2].method: \"avg\" is not one of: max_in_out, sum, in, out",
        "services[0].resources[0].to: `to` (2026-10-01T00:00:00Z) must be after `from` (2026-10-02T00:00:00Z)",
        "services[1].resources[1].from: \"2026-10-01\" is not an RFC 3339 time with offset (e.g. 2026-10-01T00:00:00Z)",
    ];
    assert_eq!(got, want);
}

#[test]
fn semantic_problems_of_a_well_formed_document() {
    let bad = r#"
sites: [{id: ams1, name: A, pue: "1.3"}]
racks:
  - {id: r1, site: ams9, power_budget_kw: "8"}
  - {id: r2, site: ams1, power_budget_kw: "8"}
customers:
  - {id: gamma, name: Gamma, currency: USD, tax_rate: "0"}
rate_plans:
  - {id: p1, currency: EUR, charges: [{type: rack_rent, price_per_month: "1"}, {type: rack_rent, price_per_month: "2"}]}
services:
  - id: s1
    customer: gamma
    plan: p1
    resources:
      - {rack: r2, from: "2026-10-01T00:00:00Z"}
  - id: s2
    customer: nobody
    plan: p1
    resources:
      - {rack: r2, from: "2026-10-20T00:00:00Z", to: "2026-11-01T00:00:00Z"}
"#;
    let got = problems_of(bad, &Inventory::default());
    let want = [
        "racks[0].site: unknown site 'ams9'",
        "rate_plans[0].charges[1].type: a plan has at most one rack_rent charge (also charges[0]); two would bill the same usage twice",
        "services[0].plan: plan 'p1' is in EUR but customer 'gamma' is invoiced in USD",
        "services[1].customer: unknown customer 'nobody'",
        "services[1].resources[0].rack: r2 is also assigned to service 's1' (services[0].resources[0]) during [2026-10-20T00:00:00Z, 2026-11-01T00:00:00Z)",
    ];
    assert_eq!(got, want);
}

#[test]
fn a_document_is_checked_against_what_the_catalog_holds() {
    let current = plan(&Inventory::default(), read(&parse_yaml(EXAMPLE).unwrap())).unwrap().result;
    // A second service taking the port the example's service already has.
    let doc = r#"
services:
  - id: svc-other
    customer: acme
    plan: colo-std
    resources: [{port: sw-core1/Gi1/0/1, from: "2026-10-31T00:00:00Z"}]
"#;
    assert_eq!(
        problems_of(doc, &current),
        vec![
            "services[0].resources[0].port: sw-core1/Gi1/0/1 is also assigned to service 'svc-acme-1' (in the catalog) during [2026-10-31T00:00:00Z, open)"
        ]
    );
    // Changing the customer's currency breaks the stored service: reported at the customer.
    let doc = "customers: [{id: acme, name: ACME Hosting BV, currency: USD, tax_rate: \"0.21\"}]";
    assert_eq!(
        problems_of(doc, &current),
        vec!["customers[0].currency: plan 'colo-std' is in EUR but customer 'acme' is invoiced in USD"]
    );
}

#[test]
fn malformed_shapes_are_reported_not_panicked_on() {
    assert_eq!(
        problems_of("[1, 2]", &Inventory::default()),
        vec!["expected a document with sections such as `sites:`, found a list"]
    );
    assert_eq!(
        problems_of("sites: {id: x}\nwidgets: []", &Inventory::default()),
        vec![
            "sites: expected a list, found an object",
            "widgets: unknown section (expected one of: sites, racks, pdus, switches, assets, customers, rate_plans, services, tickets, grid_intensity, site_pue)",
        ]
    );
    assert!(parse_yaml("sites: [ {id: x").is_err());
}

#[test]
fn snmp_v3_and_lag_rules() {
    let doc = r#"
sites: [{id: s, pue: "1.2"}]
pdus:
  - {id: p1, site: s, snmp: {host: h, version: v3, user: u, privacy: aes128, priv_key: "12345678"}}
  - {id: p2, site: s, snmp: {host: h, version: v2c, community: c, user: u}}
  - {id: p3, site: s, snmp: {host: h, version: v3, user: u, auth: sha256, auth_key: "short"}}
switches:
  - id: sw
    site: s
    ports: [{name: Po1}, {name: Eth1, lag: Po1}, {name: Eth2, lag: Po9}]
customers: [{id: c, name: C, currency: EUR, tax_rate: "0"}]
rate_plans: [{id: p, currency: EUR, charges: [{type: rack_rent, price_per_month: "1"}]}]
services:
  - {id: a, customer: c, plan: p, resources: [{port: sw/Po1, from: "2026-10-01T00:00:00Z"}]}
  - {id: b, customer: c, plan: p, resources: [{port: sw/Eth1, from: "2026-10-05T00:00:00Z"}]}
"#;
    assert_eq!(
        problems_of(doc, &Inventory::default()),
        vec![
            "pdus[0].snmp.privacy: requires auth (SNMPv3 has no privacy without authentication)",
            "pdus[1].snmp.user: is only for v3",
            "pdus[2].snmp.auth_key: must be at least 8 characters (RFC 3414), found 5",
            "switches[0].ports[2].lag: unknown LAG port 'Po9' (declare it in ports)",
            "services[1].resources[0].port: sw/Eth1 is a member of a LAG assigned to service 'a' (services[0].resources[0]) during [2026-10-05T00:00:00Z, open)",
        ]
    );
}

#[test]
fn nothing_is_written_when_anything_is_invalid() {
    let mut cat = SqliteCatalog::in_memory().unwrap();
    let ok = plan(&cat.inventory().unwrap(), read(&parse_yaml(EXAMPLE).unwrap())).unwrap();
    cat.apply(&ok, 0, "example", Timestamp::from_secs(1)).unwrap();
    let before = cat.inventory().unwrap();
    // A valid new site plus a bad reference: the site must not be written either.
    let doc = format!(
        "{}\n  - {{id: ams2, name: A2, pue: \"1.2\"}}\n",
        EXAMPLE
            .replace("{outlet: pdu-101a/1,", "{outlet: pdu-9/1,")
            .replace("sites:\n", "sites:\n  - {id: ams3, name: A3, pue: \"1.2\"}\n")
    );
    assert!(plan(&before, read(&parse_yaml(&doc).unwrap())).is_err());
    assert_eq!(cat.inventory().unwrap(), before);
}
