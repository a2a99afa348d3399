//! One-object edits over the contract's example inventory.

use serde_json::json;

use super::*;
use crate::inventory::document::tests::EXAMPLE;
use crate::inventory::source::parse_yaml;

fn example() -> Inventory {
    plan(&Inventory::default(), document::read(&parse_yaml(EXAMPLE).unwrap())).unwrap().result
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn problems(e: EditError) -> Vec<String> {
    match e {
        EditError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other}"),
    }
}

fn with_server() -> Inventory {
    let body = json!({"kind": "server", "rack": "ams1-r101", "customer": "acme", "status": "active",
        "active_from": "2026-10-01T00:00:00Z"});
    put(&example(), Kind::Asset, "srv-01", body).unwrap().result
}

#[test]
fn put_creates_then_replaces_and_reports_body_paths() {
    let inv = example();
    let created = put(&inv, Kind::Site, "fra1", json!({"name": "Frankfurt 1", "pue": "1.4", "grid_region": "DE"}));
    let created = created.unwrap();
    assert_eq!(created.summary.created, 1);
    assert_eq!(created.result.sites.len(), 2);
    let same = put(
        &created.result,
        Kind::Site,
        "fra1",
        json!({"id": "fra1", "name": "Frankfurt 1", "pue": "1.4",
        "grid_region": "DE"}),
    )
    .unwrap();
    assert_eq!(same.changes, vec![], "putting the stored object again changes nothing");
    let bad = put(&inv, Kind::Rack, "ams1-r102", json!({"site": "nowhere", "power_budget_kw": "-1"})).unwrap_err();
    assert_eq!(
        problems(bad),
        ["body.power_budget_kw: must be greater than zero, found -1"],
        "field problems first; references are checked once the object reads"
    );
    let unknown = put(&inv, Kind::Rack, "ams1-r102", json!({"site": "nowhere", "power_budget_kw": "4"})).unwrap_err();
    assert_eq!(problems(unknown), ["body.site: unknown site 'nowhere'"]);
    let mismatch = put(&inv, Kind::Site, "fra1", json!({"id": "fra2", "name": "x", "pue": "1.4"})).unwrap_err();
    assert_eq!(mismatch.to_string(), "the body's id 'fra2' is not the path's 'fra1'");
}

#[test]
fn create_refuses_a_taken_id() {
    let e = create(&example(), Kind::Site, json!({"id": "ams1", "name": "again", "pue": "1.2"})).unwrap_err();
    assert_eq!(e.to_string(), "sites 'ams1' exists already (PUT replaces an object)");
    assert!(matches!(create(&example(), Kind::Site, json!({"name": "x"})), Err(EditError::MissingId)));
}

#[test]
fn asset_lifecycle() {
    let inv = with_server();
    let id = AssetId::new("srv-01").unwrap();
    let early = retire_asset(&inv, &id, ts("2026-09-30T00:00:00Z")).unwrap_err();
    assert_eq!(
        early.to_string(),
        "asset 'srv-01' went into service at 2026-10-01T00:00:00Z; it cannot be retired before that (2026-09-30T00:00:00Z)"
    );
    let retired = retire_asset(&inv, &id, ts("2026-10-20T08:00:00Z")).unwrap().result;
    let life = retired.assets[&id].life().unwrap();
    assert_eq!((life.from, life.to), (ts("2026-10-01T00:00:00Z"), Some(ts("2026-10-20T08:00:00Z"))));
    assert!(matches!(retire_asset(&retired, &id, ts("2026-10-21T00:00:00Z")), Err(EditError::AlreadyRetired(_))));
    assert!(matches!(activate_asset(&inv, &id, ts("2026-10-21T00:00:00Z")), Err(EditError::NotPlanned(_))));

    let planned = put(&inv, Kind::Asset, "srv-02", json!({"kind": "server", "status": "planned", "site": "ams1"}));
    let planned = planned.unwrap().result;
    let id2 = AssetId::new("srv-02").unwrap();
    assert!(matches!(retire_asset(&planned, &id2, ts("2026-10-21T00:00:00Z")), Err(EditError::NeverActive(_))));
    let active = activate_asset(&planned, &id2, ts("2026-10-21T00:00:00Z")).unwrap().result;
    assert_eq!(active.assets[&id2].status, AssetStatus::Active { since: Some(ts("2026-10-21T00:00:00Z")) });

    let moved = move_asset(&active, &id2, Placement::Rack(RackId::new("ams1-r101").unwrap())).unwrap().result;
    assert_eq!(
        (moved.assets[&id2].rack.as_ref().map(|r| r.as_str()), moved.assets[&id2].site.as_ref()),
        (Some("ams1-r101"), None)
    );
    let nowhere = move_asset(&active, &id2, Placement::Rack(RackId::new("r-9").unwrap())).unwrap_err();
    assert_eq!(problems(nowhere), ["body.rack: unknown rack 'r-9'"]);
    assert!(matches!(
        move_asset(&active, &AssetId::new("x").unwrap(), Placement::Site(SiteId::new("ams1").unwrap())),
        Err(EditError::NotFound { kind: "assets", .. })
    ));
}

#[test]
fn rack_moves_keep_a_history() {
    let inv = put(&example(), Kind::Site, "fra1", json!({"name": "Frankfurt 1", "pue": "1.4"})).unwrap().result;
    let rack = RackId::new("ams1-r101").unwrap();
    let (ams, fra) = (SiteId::new("ams1").unwrap(), SiteId::new("fra1").unwrap());
    assert!(matches!(move_rack(&inv, &rack, ams.clone(), ts("2026-10-10T00:00:00Z")), Err(EditError::SameSite { .. })));
    let moved = move_rack(&inv, &rack, fra.clone(), ts("2026-10-10T00:00:00Z")).unwrap().result;
    let r = &moved.racks[&rack];
    assert_eq!(r.site, fra);
    assert_eq!(r.site_at(ts("2026-10-09T23:59:59Z")), Some(&ams));
    assert_eq!(r.site_at(ts("2026-10-10T00:00:00Z")), Some(&fra));
    assert_eq!(r.site_at(ts("2000-01-01T00:00:00Z")), Some(&ams), "an empty history meant 'always at site'");
    let back_early = move_rack(&moved, &rack, ams.clone(), ts("2026-10-05T00:00:00Z")).unwrap_err();
    assert_eq!(
        back_early.to_string(),
        "rack 'ams1-r101' has stood in its current site since 2026-10-10T00:00:00Z; a move must come after that (2026-10-05T00:00:00Z)"
    );
    let back = move_rack(&moved, &rack, ams.clone(), ts("2026-10-20T00:00:00Z")).unwrap().result;
    assert_eq!(back.racks[&rack].locations.len(), 3);
    assert_eq!(back.racks[&rack].site_at(ts("2026-10-15T00:00:00Z")), Some(&fra));
    assert_eq!(back.racks[&rack].site_at(ts("2026-10-25T00:00:00Z")), Some(&ams));
}

#[test]
fn snmp_secrets_are_redacted_and_kept_on_a_round_trip() {
    let inv = example();
    let pdu = inv.get(&ObjectKey { kind: Kind::Pdu, id: "pdu-101a".into() }).unwrap();
    let shown = redacted(&pdu);
    assert_eq!(shown["snmp"]["community"], REDACTED);
    let mut body = shown.clone();
    body["interval"] = json!("30s");
    let p = put(&inv, Kind::Pdu, "pdu-101a", body).unwrap();
    let stored = p.result.get(&ObjectKey { kind: Kind::Pdu, id: "pdu-101a".into() }).unwrap().to_json();
    assert_eq!(stored["snmp"]["community"], "public", "the stored secret is kept");
    assert_eq!(stored["interval"], "30s");
}
