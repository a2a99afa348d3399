//! Golden invoices for a small colo over October and November 2026, through the whole workflow:
//! billing runs (idempotent), finalize (gapless numbers), a dispute credited, a void and its
//! re-bill, a payment, and the audit chain. Every amount is worked out by hand in the comments;
//! the JSON snapshots in `tests/golden/` pin every other byte (`UPDATE_GOLDEN=1` rewrites them;
//! review the diff). The workflow runs on both catalog backends: the embedded SQLite file and a
//! throwaway PostgreSQL server (skipped, saying why, where PostgreSQL cannot run; failing then
//! when COLOMETER_REQUIRE_FIXTURES=1).
//!
//! The colo (UTC, polled every 300 s; readings from 2026-10-01 to 2026-12-01 inclusive):
//! - rack r1 stands at ams1 (PUE 1.5, NL 300 g/kWh) until Oct 16 00:00, then at ams2 (PUE 1.2,
//!   DE 400 g/kWh): a mid-month move. November has no intensity values: each region's last one
//!   applies, flagged.
//! - PDU p1 in r1: outlet 1 draws 1,200 W (100 Wh per poll), outlet 2 600 W (50 Wh). The PDU
//!   reboots at Oct 10 12:00 (counters restart at 0, uptime too; no power samples): that poll's
//!   energy is unknown (a hole). Outlet 2 has no power Oct 25 10:00 to 12:00 (its counter stands
//!   still): an SLA outage, credited on November's invoice. The PDU is unreachable Nov 20 00:00
//!   to 06:00 (a gap; the counter delta across it still counts).
//! - switch sw1, port Gi1: in 10 Mbps, out 20 Mbps, out 40 Mbps Oct 12 00:00 to Oct 15 00:00 (3
//!   days: more than the 5% the 95th discards). Unreachable Nov 5 00:00 to 02:00 (estimated
//!   buckets, same rate). Its ifOperStatus is reported with every poll: down (2) from Oct 28
//!   08:00, up again at 08:30 (a port-level SLA outage; traffic goes on counting, as a flapping
//!   port's counters do).
//! - acme (svc-a, plan colo): rack r1, outlet p1/1 until Oct 20 00:00 (then beta's), outlet
//!   p1/2 (server srv-2, retired Nov 10 12:00), port sw1/Gi1; tickets t1 (Oct 5, 20 min) and t2
//!   (Nov 3, 67 min).
//! - beta (svc-b, plan energy-only): outlet p1/1 from Oct 20 00:00.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use engine::catalog::LedgerError;
use engine::catalog::{Backend, PostgresCatalog, SqliteCatalog};
use engine::clock::FixedClock;
use engine::domain::{Currency, Money};
use engine::id::CustomerId;
use engine::inventory::{Inventory, document, import, source};
use engine::invoicing::audit;
use engine::invoicing::invoice::Status;
use engine::invoicing::record::InvoiceFilter;
use engine::invoicing::run::{rate_customer, rate_period, tickets_by_service};
use engine::metering::bucket_table::BucketTable;
use engine::metering::meter::Meter;
use engine::metering::plant::Plant;
use engine::metering::usage::Sources;
use engine::period::BillingPeriod;
use engine::store::reading::{SeriesKey, Value};
use engine::store::{PendingReading, Store, StoreConfig};
use engine::time::Timestamp;
use rust_decimal::Decimal;

const OCT1: i64 = 1_790_812_800; // 2026-10-01T00:00:00Z
const DAY: i64 = 86_400;
const POLL: i64 = 300;

const INVENTORY: &str = r#"
sites:
  - {id: ams1, name: Amsterdam 1, pue: "1.5", grid_region: NL}
  - {id: ams2, name: Amsterdam 2, pue: "1.2", grid_region: DE}
racks:
  - id: r1
    site: ams2
    power_budget_kw: "8"
    locations:
      - {site: ams1, from: "2026-01-01T00:00:00Z", to: "2026-10-16T00:00:00Z"}
      - {site: ams2, from: "2026-10-16T00:00:00Z"}
pdus:
  - {id: p1, rack: r1, interval: 300s, outlets: [{index: 1}, {index: 2, asset: srv-2}]}
switches:
  - {id: sw1, site: ams1, interval: 300s, ports: [{name: Gi1, speed_mbps: 1000}]}
assets:
  - {id: srv-2, kind: server, rack: r1, customer: acme, status: retired, active_from: "2026-01-01T00:00:00Z", retired_at: "2026-11-10T12:00:00Z"}
customers:
  - {id: acme, name: ACME Hosting BV, currency: EUR, billing_timezone: UTC, tax_rate: "0.21"}
  - {id: beta, name: Beta GmbH, currency: EUR, billing_timezone: UTC, tax_rate: "0.21"}
rate_plans:
  - id: colo
    currency: EUR
    charges:
      - {type: rack_rent, price_per_month: "900.00"}
      - {type: energy, price_per_kwh: "0.30", basis: facility_kwh}
      - {type: committed_power, committed_kw: "1", price_per_month: "100.00", overage_per_kwh: "0.50"}
      - {type: bandwidth_p95, commit_mbps: "10", price_per_month: "50.00", overage_per_mbps: "2.00", method: max_in_out}
      - {type: remote_hands, price_per_hour: "120.00", increment_minutes: 15, minimum_minutes: 30}
      - {type: sla_credit, threshold_minutes: 5, credit_percent_per_hour: "5", max_credit_percent: "50"}
  - id: energy-only
    currency: EUR
    charges:
      - {type: energy, price_per_kwh: "0.35", basis: it_kwh}
services:
  - id: svc-a
    customer: acme
    plan: colo
    resources:
      - {rack: r1, from: "2026-10-01T00:00:00Z"}
      - {outlet: p1/1, from: "2026-10-01T00:00:00Z", to: "2026-10-20T00:00:00Z"}
      - {outlet: p1/2, from: "2026-10-01T00:00:00Z"}
      - {port: sw1/Gi1, from: "2026-10-01T00:00:00Z"}
  - id: svc-b
    customer: beta
    plan: energy-only
    resources:
      - {outlet: p1/1, from: "2026-10-20T00:00:00Z"}
tickets:
  - {id: t1, customer: acme, service: svc-a, rack: r1, from: "2026-10-05T10:00:00Z", to: "2026-10-05T10:20:00Z", description: Reseat PSU}
  - {id: t2, customer: acme, service: svc-a, asset: srv-2, from: "2026-11-03T14:00:00Z", to: "2026-11-03T15:07:00Z", description: Decommission srv-2}
grid_intensity:
  - {region: NL, from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z", g_per_kwh: "300"}
  - {region: DE, from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z", g_per_kwh: "400"}
"#;

fn inventory() -> Inventory {
    let v = source::parse_yaml(INVENTORY).unwrap();
    let plan = import::plan(&Inventory::default(), document::read(&v));
    match plan {
        Ok(p) => p.result,
        Err(e) => panic!("the golden inventory is invalid: {e:?}"),
    }
}

fn reading(device: &str, res: &str, metric: &str, t: i64, v: Value, uptime: u64) -> PendingReading {
    PendingReading {
        key: SeriesKey { device: device.into(), resource: res.into(), metric: metric.into() },
        ts: Timestamp::from_secs(t),
        value: v,
        uptime_s: Some(uptime),
        discontinuity: None,
    }
}

/// Every reading of the two months, as described at the top.
fn readings() -> Vec<PendingReading> {
    let reboot = OCT1 + 9 * DAY + 12 * 3600;
    let pdu_gap = (OCT1 + 50 * DAY, OCT1 + 50 * DAY + 6 * 3600); // Nov 20 00:00 to 06:00
    let sw_gap = (OCT1 + 35 * DAY, OCT1 + 35 * DAY + 2 * 3600); // Nov 5 00:00 to 02:00
    let burst = (OCT1 + 11 * DAY, OCT1 + 14 * DAY); // Oct 12 00:00 to Oct 15 00:00
    let dark = OCT1 + 24 * DAY + 10 * 3600; // Oct 25 10:00, outlet 2 without power for 2 h
    let port_down = (OCT1 + 27 * DAY + 8 * 3600, OCT1 + 27 * DAY + 8 * 3600 + 1800); // Oct 28 08:00-08:30
    let mut out = Vec::new();
    let (mut inb, mut outb) = (0u64, 0u64);
    let end = OCT1 + 61 * DAY;
    let mut t = OCT1;
    while t <= end {
        // PDU: counters count polls since the last (re)boot; uptime likewise.
        let (since, booted) = if t < reboot { (t - OCT1, OCT1 - 1_000_000) } else { (t - reboot, reboot) };
        let polls = (since / POLL) as u64;
        let base = if t < reboot { 1_000_000 } else { 0 };
        if !(t > pdu_gap.0 && t < pdu_gap.1) {
            let up = (t - booted) as u64;
            out.push(reading("p1", "1", "energy_wh", t, Value::from_u64(base + 100 * polls), up));
            let unpowered = ((t - dark) / POLL).clamp(0, 24) as u64;
            out.push(reading("p1", "2", "energy_wh", t, Value::from_u64(base + 50 * (polls - unpowered)), up));
        }
        if t > OCT1 {
            inb += 1_250_000 * POLL as u64;
            let out_rate = if t > burst.0 && t <= burst.1 { 5_000_000 } else { 2_500_000 };
            outb += out_rate * POLL as u64;
        }
        if !(t > sw_gap.0 && t < sw_gap.1) {
            let up = (t - OCT1 + 5_000_000) as u64;
            out.push(reading("sw1", "Gi1", "in_octets", t, Value::from_u64(inb), up));
            out.push(reading("sw1", "Gi1", "out_octets", t, Value::from_u64(outb), up));
            let status = if t >= port_down.0 && t < port_down.1 { 2 } else { 1 };
            out.push(reading("sw1", "Gi1", "oper_status", t, Value::from_u64(status), up));
        }
        t += POLL;
    }
    out
}

struct Colo {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    inv: Inventory,
    plant: Plant,
    table: Arc<BucketTable>,
}

fn colo() -> Colo {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { checkpoint_interval: Duration::from_secs(3600), ..StoreConfig::default() };
    let clock = Arc::new(FixedClock::new(Timestamp::from_secs(OCT1 + 62 * DAY)));
    let (store, _) = Store::open(dir.path(), cfg, clock).unwrap();
    let store = Arc::new(store);
    let inv = inventory();
    let plant = Plant::new(&inv, 300);
    let table = Arc::new(BucketTable::new(Arc::new(plant.clone()).classifier()));
    table.build(&store).unwrap();
    store.observe(table.clone()).unwrap();
    for chunk in readings().chunks(20_000) {
        store.write(chunk.to_vec()).unwrap();
    }
    table.settle(&store).unwrap();
    Colo { _dir: dir, store, inv, plant, table }
}

fn bill(c: &Colo, ledger: &mut dyn Backend, period: &str, at: Timestamp) -> engine::invoicing::record::BillingRun {
    let src = Sources { inventory: &c.inv, plant: &c.plant, buckets: &c.table, store: &c.store };
    let (customers, rated) = rate_period(&src, BillingPeriod::parse(period).unwrap(), 2).unwrap();
    // The run loads outlet samples ahead; metering one customer alone scans: both agree.
    let meter = Meter::new(&src);
    let tickets = tickets_by_service(&c.inv);
    let alone: Vec<_> = customers
        .iter()
        .filter_map(|cust| rate_customer(&src, &meter, &tickets, cust, BillingPeriod::parse(period).unwrap()).unwrap())
        .collect();
    assert_eq!(alone, rated);
    ledger.apply_billing_run(BillingPeriod::parse(period).unwrap(), &customers, rated, "test", at).unwrap()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// An amount in euros.
fn eur(s: &str) -> Money {
    Money::new(d(s), Currency::parse("EUR").unwrap())
}

fn golden(name: &str, value: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "{name} differs from its golden file");
}

fn amounts(v: &engine::invoicing::record::InvoiceView) -> Vec<(String, Decimal)> {
    v.body.lines.iter().map(|l| (l.description.clone(), l.amount.amount())).collect()
}

#[test]
fn two_months_of_a_small_colo() {
    two_months(&mut SqliteCatalog::in_memory().unwrap());
}

#[test]
fn two_months_of_a_small_colo_on_postgresql() {
    let Some(pg) = tests::postgres::for_test("two_months_of_a_small_colo_on_postgresql") else { return };
    let url = pg.create_db("two_months").unwrap();
    two_months(&mut PostgresCatalog::connect(&url).unwrap());
}

fn two_months(ledger: &mut dyn Backend) {
    let c = colo();
    let t = |s: &str| Timestamp::parse(s).unwrap();

    let oct = bill(&c, ledger, "2026-10", t("2026-11-01T06:00:00Z"));
    assert_eq!(oct.id.as_str(), "run-2026-10-1");
    assert_eq!(oct.invoices.iter().map(|i| i.as_str()).collect::<Vec<_>>(), ["acme.2026-10", "beta.2026-10"]);
    let acme_oct = ledger.invoice(&iid("acme.2026-10")).unwrap();
    assert_eq!(acme_oct.status, Status::Draft);
    assert_eq!(acme_oct.body.number, None);
    // Rack rent: r1 at ams1 for 15 of 31 days, 900 x 15/31 = 435.4838… -> 435.48; at ams2 for 16
    // days, 464.5161… -> 464.52 (together exactly 900.00).
    // Energy p1/1 (facility): Oct 1-16 at ams1: 15 d x 28.8 kWh - 0.1 kWh (the reboot's poll)
    // = 431.9 x 1.5 = 647.85; Oct 16-20 at ams2: 4 d x 28.8 = 115.2 x 1.2 = 138.24; 786.09 kWh x
    // 0.30 = 235.827 -> 235.83.
    // Energy p1/2: (15 d x 14.4 - 0.05) x 1.5 = 323.925 and (16 d x 14.4 - 1.2 unpowered) x 1.2
    // = 275.04: 598.965 kWh x 0.30 = 179.6895 -> 179.69.
    // Committed power 1 kW, whole month: 100.00; IT energy 547.1 + 445.15 = 992.25 kWh against
    // 744 h x 1 kW = 744 kWh: 248.25 kWh x 0.50 = 124.125 -> 124.13 (half away from zero).
    // Bandwidth: 8,928 buckets, k = ceil(0.95 x 8,928) = 8,482; out has 864 buckets at 40 Mbps
    // above 8,064 at 20, so r_8482 = 40 Mbps (in: 10): commit 50.00, overage 30 x 2 = 60.00.
    // Remote hands t1: 20 min -> 30 min minimum = 0.5 h x 120 = 60.00.
    let want: Vec<(String, Decimal)> = [
        ("Rack rent r1 (ams1), 2026-10-01 00:00 to 2026-10-16 00:00", "435.48"),
        ("Rack rent r1 (ams2), 2026-10-16 00:00 to 2026-11-01 00:00", "464.52"),
        ("Energy p1/1 (facility kWh)", "235.83"),
        ("Energy p1/2 (facility kWh)", "179.69"),
        ("Committed power 1 kW", "100.00"),
        ("Committed power overage above 1 kW", "124.13"),
        ("Bandwidth commit 10 Mbps, 95th percentile", "50.00"),
        ("Bandwidth overage above 10 Mbps (95th percentile)", "60.00"),
        ("Remote hands t1: Reseat PSU", "60.00"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), d(b)))
    .collect();
    assert_eq!(amounts(&acme_oct), want);
    // 1,709.65 + 21% (359.0265 -> 359.03) = 2,068.68.
    assert_eq!(
        (acme_oct.body.subtotal, acme_oct.body.tax, acme_oct.body.total),
        (eur("1709.65"), eur("359.03"), eur("2068.68"))
    );
    assert_eq!(acme_oct.body.lines[2].quantity, d("786.09"));
    assert_eq!(acme_oct.body.lines[5].quantity, d("248.25"));
    assert_eq!(acme_oct.body.lines[7].quantity, d("30"));
    // Sustainability: p1/1 249.651 kg (647.85 x 0.3 + 138.24 x 0.4), p1/2 207.1935 kg (323.925 x
    // 0.3 + 275.04 x 0.4).
    let s = &acme_oct.body.sustainability;
    assert_eq!((s.it_kwh, s.facility_kwh, s.kg_co2e), (d("992.25"), d("1385.055"), d("456.8445")));
    // beta: p1/1 from Oct 20, 12 d x 28.8 = 345.6 kWh (IT) x 0.35 = 120.96; tax 25.4016 -> 25.40.
    let beta_oct = ledger.invoice(&iid("beta.2026-10")).unwrap();
    assert_eq!(amounts(&beta_oct), [("Energy p1/1 (IT kWh)".to_owned(), d("120.96"))]);
    assert_eq!(beta_oct.body.total, eur("146.36"));

    // The evidence names the hole, the factors, the rank and the bucket.
    let e = ledger.line_evidence(&iid("acme.2026-10"), 3).unwrap().evidence;
    assert_eq!(e["kind"], "energy");
    assert_eq!(e["outlet"]["holes"][0]["reason"], "reset");
    assert_eq!(e["outlet"]["holes"][0]["to"], "2026-10-10T12:00:00Z");
    assert_eq!(e["outlet"]["factors"].as_array().unwrap().len(), 2);
    let e = ledger.line_evidence(&iid("acme.2026-10"), 8).unwrap().evidence;
    assert_eq!((e["p95"]["samples"].as_u64(), e["p95"]["rank"].as_u64()), (Some(8928), Some(8482)));
    assert_eq!(e["p95"]["p95_mbps"], "40");
    assert!(matches!(ledger.line_evidence(&iid("acme.2026-10"), 10), Err(LedgerError::NotFound)));

    golden("acme.2026-10", &serde_json::to_value(&acme_oct.body).unwrap());
    golden(
        "acme.2026-10.evidence",
        &serde_json::to_value(ledger.line_evidence(&iid("acme.2026-10"), 6).unwrap()).unwrap(),
    );

    // A rerun rebuilds the same drafts, byte for byte, under the same IDs.
    let again = bill(&c, ledger, "2026-10", t("2026-11-01T07:00:00Z"));
    assert_eq!(again.unchanged.len(), 2);
    assert!(again.created.is_empty() && again.rebuilt.is_empty());
    assert_eq!(ledger.invoice(&iid("acme.2026-10")).unwrap(), acme_oct);

    // Finalize: numbers are gapless per year, and a finalized invoice refuses every change.
    let fin = ledger.finalize_invoice(&iid("acme.2026-10"), "billing-1", t("2026-11-02T09:00:00Z")).unwrap();
    assert_eq!((fin.status, fin.body.number.as_deref()), (Status::Finalized, Some("2026-000001")));
    assert_eq!(fin.balance, eur("2068.68"));
    let fin_b = ledger.finalize_invoice(&iid("beta.2026-10"), "billing-1", t("2026-11-02T09:01:00Z")).unwrap();
    assert_eq!(fin_b.body.number.as_deref(), Some("2026-000002"));
    assert!(matches!(
        ledger.finalize_invoice(&iid("acme.2026-10"), "x", t("2026-11-03T00:00:00Z")),
        Err(LedgerError::Conflict(_))
    ));
    let rerun = bill(&c, ledger, "2026-10", t("2026-11-02T10:00:00Z"));
    assert_eq!(rerun.kept.len(), 2);
    assert_eq!(ledger.invoice(&iid("acme.2026-10")).unwrap().body, fin.body);

    // A dispute: 10.00 of the energy line credited (tax 2.10 with it).
    let note = ledger
        .credit_invoice(
            &iid("acme.2026-10"),
            &[(3, d("10.00"))],
            "meter dispute".into(),
            "billing-1",
            t("2026-11-05T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        (note.number.as_str(), note.subtotal, note.tax, note.total),
        ("CN-2026-000001", eur("10.00"), eur("2.10"), eur("12.10"))
    );
    assert!(
        ledger
            .credit_invoice(
                &iid("acme.2026-10"),
                &[(3, d("300.00"))],
                "too much".into(),
                "billing-1",
                t("2026-11-05T00:00:00Z")
            )
            .is_err()
    );
    // Paid in full after the credit: 2,068.68 - 12.10 = 2,056.58.
    ledger.send_invoice(&iid("acme.2026-10"), "billing-1", t("2026-11-05T01:00:00Z")).unwrap();
    ledger
        .record_payment(
            &iid("acme.2026-10"),
            d("2056.58"),
            t("2026-11-20T00:00:00Z"),
            Some("SEPA 1".into()),
            "billing-1",
            t("2026-11-20T08:00:00Z"),
        )
        .unwrap();
    let paid = ledger.invoice(&iid("acme.2026-10")).unwrap();
    assert_eq!((paid.status, paid.balance, paid.paid), (Status::Paid, eur("0"), eur("2056.58")));

    // Void beta's: a credit note for all of it; the rerun bills the period again as a new draft.
    let void =
        ledger.void_invoice(&iid("beta.2026-10"), "wrong plan".into(), "billing-1", t("2026-11-06T00:00:00Z")).unwrap();
    assert_eq!((void.number.as_str(), void.total, void.voids), ("CN-2026-000002", eur("146.36"), true));
    assert!(matches!(
        ledger.void_invoice(&iid("beta.2026-10"), "again".into(), "x", t("2026-11-06T00:00:00Z")),
        Err(LedgerError::Conflict(_))
    ));
    let rebill = bill(&c, ledger, "2026-10", t("2026-11-06T01:00:00Z"));
    assert_eq!(rebill.created.iter().map(|i| i.as_str()).collect::<Vec<_>>(), ["beta.2026-10.2"]);
    assert_eq!(ledger.invoice(&iid("beta.2026-10.2")).unwrap().body.total, eur("146.36"));

    // November. acme: r1 at ams2 all month 900.00; p1/2 until srv-2 retired Nov 10 12:00: 9.5 d x
    // 14.4 = 136.8 kWh x 1.2 = 164.16 x 0.30 = 49.248 -> 49.25; commitment 100.00 (720 kWh
    // allowance, no overage); bandwidth 20 Mbps: 50.00 + 10 x 2 = 20.00; t2 67 min -> 75 min =
    // 1.25 h x 120 = 150.00. October's outages longer than 5 min: srv-2 without power for 2 h,
    // port Gi1 down for 30 min: 150 min, 3 started hours x 5% = 15% of October's recurring lines
    // of svc-a (435.48 + 464.52 + 100.00 + 50.00 = 1,050.00): -157.50. Subtotal 1,111.75, tax
    // 233.4675 -> 233.47, total 1,345.22.
    bill(&c, ledger, "2026-11", t("2026-12-01T06:00:00Z"));
    let acme_nov = ledger.invoice(&iid("acme.2026-11")).unwrap();
    // November cannot be finalized before it has ended.
    assert!(matches!(
        ledger.finalize_invoice(&iid("acme.2026-11"), "billing-1", t("2026-11-30T23:59:59Z")),
        Err(LedgerError::Rule(_))
    ));
    let want: Vec<(String, Decimal)> = [
        ("Rack rent r1 (ams2)", "900.00"),
        ("Energy p1/2 (facility kWh)", "49.25"),
        ("Committed power 1 kW", "100.00"),
        ("Bandwidth commit 10 Mbps, 95th percentile", "50.00"),
        ("Bandwidth overage above 10 Mbps (95th percentile)", "20.00"),
        ("Remote hands t2: Decommission srv-2", "150.00"),
        ("SLA credit for 2026-10: 150 min of outage (5% per started hour, at most 50%)", "-157.50"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), d(b)))
    .collect();
    assert_eq!(amounts(&acme_nov), want);
    assert_eq!(acme_nov.body.total, eur("1345.22"));
    let e = ledger.line_evidence(&iid("acme.2026-11"), 7).unwrap().evidence;
    assert_eq!(e["outages"][0]["from"], "2026-10-25T10:00:00Z");
    assert_eq!(e["outages"][0]["to"], "2026-10-25T12:00:00Z");
    assert_eq!(e["outages"][0]["outlets"], serde_json::json!(["p1/2"]));
    assert_eq!(e["outages"][0].get("ports"), None);
    assert_eq!(e["outages"][1]["from"], "2026-10-28T08:00:00Z");
    assert_eq!(e["outages"][1]["to"], "2026-10-28T08:30:00Z");
    assert_eq!(e["outages"][1]["ports"], serde_json::json!(["sw1/Gi1"]));
    assert_eq!(e["base"], "1050.00");
    let e = ledger.line_evidence(&iid("acme.2026-11"), 4).unwrap().evidence;
    assert_eq!(e["p95"]["flags"]["estimated"], 24);
    // The region's October value carries into November, flagged.
    let e = ledger.line_evidence(&iid("acme.2026-11"), 2).unwrap().evidence;
    assert_eq!(e["outlet"]["factors"][0]["defaulted"], true);
    // beta: the PDU's 6-hour gap is inside one counter delta, so nothing is lost: 30 d x 28.8 =
    // 864 kWh x 0.35 = 302.40; total 365.90.
    let beta_nov = ledger.invoice(&iid("beta.2026-11")).unwrap();
    assert_eq!(beta_nov.body.total, eur("365.90"));
    golden("acme.2026-11", &serde_json::to_value(&acme_nov.body).unwrap());

    // Committed against used in October: acme draws 992.25 kWh / 744 h = 1.333669 kW on a 1 kW
    // commitment (over), its 95th of 5-minute kW is 1.8; 40 Mbps on a 10 Mbps commit (over).
    // Rack r1: 8 kW budget, 1 kW committed; its outlets delivered 547.1 + 445.15 (acme) + 345.6
    // (beta) = 1,337.85 kWh / 744 h = 1.798185 kW, more than committed.
    let src = Sources { inventory: &c.inv, plant: &c.plant, buckets: &c.table, store: &c.store };
    let r = engine::capacity::report(&src, BillingPeriod::parse("2026-10").unwrap()).unwrap();
    let a = &r.services[0];
    assert_eq!((a.service.as_str(), a.power, a.bandwidth), ("svc-a", "over", "over"));
    assert_eq!((a.average_kw, a.p95_kw, a.utilisation), (d("1.333669"), d("1.8"), Some(d("1.333669"))));
    assert_eq!((r.services[1].power, r.services[1].bandwidth), ("none", "none"));
    let rack = &r.racks[0];
    assert_eq!((rack.committed_kw, rack.measured_kw), (d("1"), d("1.798185")));
    assert_eq!((rack.uncommitted_kw, rack.unused_commitment_kw), (d("7"), d("-0.798185")));

    // Lists by filter and cursor.
    let f = InvoiceFilter { customer: Some("beta".into()), limit: 2, ..Default::default() };
    let (page, next) = ledger.invoices(&f).unwrap();
    assert_eq!(page.iter().map(|v| v.body.id.as_str()).collect::<Vec<_>>(), ["beta.2026-10", "beta.2026-10.2"]);
    let (rest, end) = ledger.invoices(&InvoiceFilter { after: next, ..f }).unwrap();
    assert_eq!((rest.len(), end), (1, None));
    let _ = CustomerId::new("acme").unwrap();

    // Every change is in the audit chain, and the chain holds.
    let log = ledger.audit_log().unwrap();
    assert_eq!(audit::verify(&log), Ok(()));
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "billing_run",
            "billing_run",
            "invoice.finalize",
            "invoice.finalize",
            "billing_run",
            "credit_note.issue",
            "invoice.send",
            "invoice.payment",
            "credit_note.issue",
            "invoice.void",
            "billing_run",
            "billing_run"
        ]
    );
}

/// An invoice ID in a test.
fn iid(s: &str) -> engine::id::InvoiceId {
    engine::id::InvoiceId::new(s).unwrap()
}
