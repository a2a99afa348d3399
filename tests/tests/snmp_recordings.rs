//! The collectors against real recordings: snmpsim serves every file of
//! `../shared/fixtures/snmprec` (community = file name) and for each one the discovered ports or
//! outlets, their names and their polled values (after unit normalisation) must equal what the
//! recording holds.
//!
//! Switches are checked completely against the recording, read here independently of the
//! profiles: every ifIndex with ifHCInOctets is a port named by ifName (ifDescr when empty), with
//! its ifHighSpeed and both HC counters. PDUs are checked by count and by values read off the
//! recordings by hand (the unit conversions are worked in the comments).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use collectors::discovery::{self, Layout};
use collectors::poll::{self, MetricNames, Plan};
use collectors::profile::{DeviceKind, Profiles, Role};
use collectors::snmp::{Credentials, Session, Target};
use engine::clock::SystemClock;
use engine::store::PendingReading;
use tests::snmpsim::{self, Snmpsim};

/// `oid -> (tag, value)` of a recording.
fn read_recording(path: &std::path::Path) -> HashMap<String, (String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, '|');
            let (oid, tag, value) = (it.next()?, it.next()?, it.next().unwrap_or(""));
            let value = if tag == "4x" {
                let bytes: Vec<u8> = (0..value.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok())
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                value.to_owned()
            };
            Some((oid.to_owned(), (tag.to_owned(), value)))
        })
        .collect()
}

async fn session(addr: std::net::SocketAddr, community: &str) -> Session {
    let mut t = Target::new(addr, Credentials::V2c(community.as_bytes().to_vec()));
    t.timeout = Duration::from_secs(5);
    t.retries = 3;
    Session::new(t, 1)
}

/// Discovers and polls one recording.
async fn collect(
    addr: std::net::SocketAddr,
    community: &str,
    kind: DeviceKind,
) -> (Layout, BTreeMap<(String, String), String>) {
    let profiles = Profiles::builtin().unwrap();
    let mut s = session(addr, community).await;
    let layout =
        discovery::discover(&mut s, &profiles, kind, None).await.unwrap_or_else(|e| panic!("{community}: {e}"));
    let plan = Plan::new(&layout, 40);
    let device: std::sync::Arc<str> = community.into();
    let c = poll::run(&mut s, &device, &layout, &plan, &MetricNames::default(), &SystemClock, &mut Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{community}: {e}"));
    assert_eq!(c.missing, 0, "{community}: cells vanished between discovery and poll");
    assert_eq!(c.bad_values, 0, "{community}: values of the wrong type");
    let values = c
        .readings
        .iter()
        .map(|r: &PendingReading| {
            ((r.key.resource.to_string(), r.key.metric.to_string()), r.value.to_decimal().normalize().to_string())
        })
        .collect();
    (layout, values)
}

async fn wait_ready(addr: std::net::SocketAddr) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut t = Target::new(addr, Credentials::V2c(b"eatonpdu_2".to_vec()));
        t.timeout = Duration::from_millis(500);
        t.retries = 0;
        let mut s = Session::new(t, 1);
        let sys = collectors::oid::Oid::parse("1.3.6.1.2.1.1.2.0").unwrap();
        if s.get(&[sys]).await.is_ok() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "snmpsim did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

const SWITCHES: &[&str] = &[
    "ios_2960x",
    "nxos_n3k-3064pq",
    "junos_qfx5100",
    "arista_eos",
    "dnos_z9100-on",
    "arubaos-cx_10.07",
    "routeros_crs317",
];

/// One PDU's expectations: profile, outlet and inlet counts, and hand-read values.
struct PduCase {
    file: &'static str,
    profile: &'static str,
    outlets: usize,
    inlets: usize,
    /// (resource, metric, value in W or Wh)
    values: &'static [(&'static str, &'static str, &'static str)],
    /// (resource, name)
    names: &'static [(&'static str, &'static str)],
}

const PDUS: &[PduCase] = &[
    // PDU2-MIB: sensor type 5 = W, 8 = Wh, 0 decimal digits. Outlet 1 reads 143 W and
    // 5,812,658 Wh; the inlet 1,665 W and 74,057,676 Wh.
    PduCase {
        file: "raritan-pdu_px3",
        profile: "raritan-pdu2",
        outlets: 24,
        inlets: 1,
        values: &[
            ("1", "power_w", "143"),
            ("1", "energy_wh", "5812658"),
            ("inlet", "power_w", "1665"),
            ("inlet", "energy_wh", "74057676"),
        ],
        names: &[("2", "DEVICE 8:PS1:Planned"), ("1", "1")],
    },
    // EATON-EPDU-MIB: outletWatts W, outletWh Wh. Outlet 1 "Power strip + s-rw-lab-rack" 80 W,
    // 785,621 Wh; input 1,589 W, 8,185,553 Wh.
    PduCase {
        file: "eatonpdu_2",
        profile: "eaton-epdu",
        outlets: 24,
        inlets: 1,
        values: &[
            ("1", "power_w", "80"),
            ("1", "energy_wh", "785621"),
            ("2", "power_w", "142"),
            ("2", "energy_wh", "385352"),
            ("inlet", "power_w", "1589"),
            ("inlet", "energy_wh", "8185553"),
        ],
        names: &[("1", "Power strip + s-rw-lab-rack"), ("2", "DC Converter-1")],
    },
    // PowerNet cPDU: 40 rows with an outlet number; ResettableEnergy in 0.1 kWh: outlet 1 reads
    // 573 → 57,300 Wh; outlet 2 57 W. Unit: 258 W, 7,918 × 100 = 791,800 Wh.
    PduCase {
        file: "apc-cpdu",
        profile: "apc-cpdu",
        outlets: 40,
        inlets: 1,
        values: &[
            ("1", "energy_wh", "57300"),
            ("2", "power_w", "57"),
            ("2", "energy_wh", "109900"),
            ("inlet", "power_w", "258"),
            ("inlet", "energy_wh", "791800"),
        ],
        names: &[("1", "Test Name"), ("2", "OUTLET 2")],
    },
    // rPDU2 device status only: 27 × 0.01 kW = 270 W; 19,677 × 0.1 kWh = 1,967,700 Wh.
    PduCase {
        file: "apc_ap8959eu3",
        profile: "apc-rpdu2",
        outlets: 0,
        inlets: 1,
        values: &[("inlet", "power_w", "270"), ("inlet", "energy_wh", "1967700")],
        names: &[],
    },
    // DellrPDU: outlet power W (outlet 1: 250 W), no outlet energy; device 379 × 0.01 kW =
    // 3,790 W and 630,139 × 0.1 kWh = 63,013,900 Wh.
    PduCase {
        file: "dell-rpdu",
        profile: "dell-rpdu",
        outlets: 24,
        inlets: 1,
        values: &[("1", "power_w", "250"), ("inlet", "power_w", "3790"), ("inlet", "energy_wh", "63013900")],
        names: &[("1", "Outlet 1"), ("inlet", "2500-1 Rack PDU")],
    },
    // Sentry4: no outlet rows; two input cords, W and 0.1 kWh: 1,701 W / 893,700 Wh and
    // 1,265 W / 2,565,900 Wh.
    PduCase {
        file: "sentry4",
        profile: "sentry4",
        outlets: 0,
        inlets: 2,
        values: &[
            ("inlet-1", "power_w", "1701"),
            ("inlet-1", "energy_wh", "893700"),
            ("inlet-2", "power_w", "1265"),
            ("inlet-2", "energy_wh", "2565900"),
        ],
        names: &[("inlet-1", "Master_Cord_A"), ("inlet-2", "Link1_Cord_A")],
    },
    // RNX: 48 outlet meters (type 6) on modules 1-6 (module k → outlets k-1 × 1000 + meter),
    // Wh and W; the PDU total (type 1) 868 W, 12,718,314 Wh.
    PduCase {
        file: "rnx-updu_rn3214",
        profile: "rnx-updu",
        outlets: 48,
        inlets: 1,
        values: &[("inlet", "power_w", "868"), ("inlet", "energy_wh", "12718314")],
        names: &[("1", "CH1:1"), ("inlet", "PDU")],
    },
    // CPI: malformed sysObjectID → found by probing. 24 outlets with energy on the first unit;
    // deca-watt-seconds / 360: outlet 1 64,449 → 179.025 Wh, outlet 2 32,021 → 88.947222222 Wh
    // (88.9472222…, rounded once at 10^-9).
    PduCase {
        file: "chatsworth-pdu",
        profile: "chatsworth-cpi",
        outlets: 24,
        inlets: 0,
        values: &[("1", "energy_wh", "179.025"), ("2", "energy_wh", "88.947222222")],
        names: &[("1", "OutletName1")],
    },
    // VERTIV-V5: total 1,017 W and 8,483,906 Wh.
    PduCase {
        file: "vertiv-pdu_mg02e4w1",
        profile: "vertiv-v5",
        outlets: 0,
        inlets: 1,
        values: &[("inlet", "power_w", "1017"), ("inlet", "energy_wh", "8483906")],
        names: &[("inlet", "IMD PDU")],
    },
    // ENLOGIC: unit 1,120 W; 527,776 × 0.1 kWh = 52,777,600 Wh.
    PduCase {
        file: "enlogic-pdu_v2",
        profile: "enlogic",
        outlets: 0,
        inlets: 1,
        values: &[("inlet", "power_w", "1120"), ("inlet", "energy_wh", "52777600")],
        names: &[],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recording_is_discovered_and_read_exactly() {
    let Some(dir) = snmpsim::recordings() else {
        tests::skip_or_fail("../shared/fixtures/snmprec is absent (the shared fixtures are not checked out)");
        return;
    };
    let Some(responder) = snmpsim::responder() else {
        tests::skip_or_fail("snmpsim is not installed (scripts/test-deps installs it)");
        return;
    };
    let sim = Snmpsim::start(&responder, &dir);
    wait_ready(sim.addr).await;

    for &file in SWITCHES {
        let rec = read_recording(&dir.join(format!("{file}.snmprec")));
        let (layout, values) = collect(sim.addr, file, DeviceKind::Switch).await;
        assert_eq!(layout.profile.id, "if-mib", "{file}");
        let mut expected: BTreeMap<String, (String, String, Option<u64>)> = BTreeMap::new();
        for (oid, (_, v)) in &rec {
            let Some(idx) = oid.strip_prefix("1.3.6.1.2.1.31.1.1.1.6.") else { continue };
            let get =
                |col: &str| rec.get(&format!("{col}.{idx}")).map(|x| x.1.trim().to_owned()).filter(|s| !s.is_empty());
            let name = get("1.3.6.1.2.1.31.1.1.1.1")
                .or_else(|| get("1.3.6.1.2.1.2.2.1.2"))
                .unwrap_or_else(|| format!("ifIndex-{idx}"));
            let out = get("1.3.6.1.2.1.31.1.1.1.10").unwrap_or_default();
            let speed = get("1.3.6.1.2.1.31.1.1.1.15").and_then(|s| s.parse().ok());
            assert!(expected.insert(name.clone(), (v.clone(), out, speed)).is_none(), "{file}: {name} repeated");
        }
        assert!(!expected.is_empty(), "{file}");
        assert_eq!(layout.resources.len(), expected.len(), "{file}: port count");
        for r in &layout.resources {
            let (inn, out, speed) = expected.get(&*r.id).unwrap_or_else(|| panic!("{file}: unexpected port {}", r.id));
            assert_eq!(r.speed_mbps, *speed, "{file} {}: speed", r.id);
            assert_eq!(values.get(&(r.id.to_string(), "in_octets".into())), Some(inn), "{file} {}: in", r.id);
            if !out.is_empty() {
                assert_eq!(values.get(&(r.id.to_string(), "out_octets".into())), Some(out), "{file} {}: out", r.id);
            }
        }
    }

    for case in PDUS {
        let (layout, values) = collect(sim.addr, case.file, DeviceKind::Pdu).await;
        let file = case.file;
        assert_eq!(layout.profile.id, case.profile, "{file}");
        let count = |role| layout.resources.iter().filter(|r| r.role == role).count();
        assert_eq!((count(Role::Outlet), count(Role::Inlet)), (case.outlets, case.inlets), "{file}: outlets, inlets");
        for (res, metric, v) in case.values {
            assert_eq!(
                values.get(&(res.to_string(), metric.to_string())).map(String::as_str),
                Some(*v),
                "{file} {res} {metric}"
            );
        }
        for (res, name) in case.names {
            let r = layout.resources.iter().find(|r| &*r.id == *res).unwrap_or_else(|| panic!("{file}: no {res}"));
            assert_eq!(r.name.as_deref(), Some(*name), "{file} {res} name");
        }
    }
}
