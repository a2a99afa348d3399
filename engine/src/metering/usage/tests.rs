//! A small colo for two hours: an outlet reassigned mid-interval between two customers, a port
//! with a burst and a switch reboot, partial grid-intensity data. Every figure is worked out in
//! the comments.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::FixedClock;
use crate::inventory::{Inventory, document, import, source};
use crate::store::reading::Value;
use crate::store::{PendingReading, StoreConfig};

/// 2027-01-15T06:00:00Z: hour- and bucket-aligned, a little before the fixed clock.
const T0: i64 = 1_799_992_800;

fn yaml() -> String {
    let t = |s: i64| Timestamp::from_secs(T0 + s).to_string();
    format!(
        r#"
sites: [{{id: ams1, name: A, pue: "1.5", grid_region: NL}}]
racks: [{{id: r1, site: ams1, power_budget_kw: "8"}}]
pdus: [{{id: p1, rack: r1, interval: 10s, outlets: [{{index: 1}}]}}]
switches: [{{id: sw1, site: ams1, interval: 10s, ports: [{{name: Gi1, speed_mbps: 1000}}]}}]
customers:
  - {{id: acme, name: Acme, currency: EUR, tax_rate: "0.21"}}
  - {{id: beta, name: Beta, currency: EUR, tax_rate: "0.21"}}
rate_plans:
  - id: plan
    currency: EUR
    charges:
      - {{type: energy, price_per_kwh: "0.30", basis: it_kwh}}
      - {{type: bandwidth_p95, commit_mbps: "10", price_per_month: "1", overage_per_mbps: "1", method: max_in_out}}
services:
  - id: svc-a
    customer: acme
    plan: plan
    resources:
      - {{outlet: p1/1, from: "{a}", to: "{mid}"}}
      - {{port: sw1/Gi1, from: "{a}"}}
  - id: svc-b
    customer: beta
    plan: plan
    resources: [{{outlet: p1/1, from: "{mid}"}}]
grid_intensity: [{{region: NL, from: "{a}", to: "{h1}", g_per_kwh: "300"}}]
"#,
        a = t(0),
        mid = t(3605),
        h1 = t(3600),
    )
}

fn inventory() -> Inventory {
    let v = source::parse_yaml(&yaml()).unwrap();
    import::plan(&Inventory::default(), document::read(&v)).unwrap().result
}

fn reading(device: &str, res: &str, metric: &str, ts_s: i64, v: Value, uptime: Option<u64>) -> PendingReading {
    PendingReading {
        key: SeriesKey { device: device.into(), resource: res.into(), metric: metric.into() },
        ts: Timestamp::from_secs(T0 + ts_s),
        value: v,
        uptime_s: uptime,
        discontinuity: None,
    }
}

/// Every 10 s from T0-60 to T0+7260: energy +1 Wh per 10 s (360 W); port in 1,000 B/s (10,000
/// B/s during bucket 5), out 2,000 B/s; the switch reboots between T0+3600 and T0+3610.
fn readings() -> Vec<PendingReading> {
    let mut out = Vec::new();
    let (mut inb, mut outb) = (1_000_000u64, 5_000_000u64);
    for t in (-60..=7260).step_by(10) {
        let k = (t + 60) / 10;
        out.push(reading("p1", "1", "energy_wh", t, Value::from_u64(1_000 + k as u64), None));
        if t == 3610 {
            (inb, outb) = (10_000, 20_000); // counters restart with the switch
        } else if t > -60 {
            let rate = if (1510..=1800).contains(&t) { 10_000 } else { 1_000 };
            inb += rate * 10;
            outb += 2_000 * 10;
        }
        let uptime = if t >= 3610 { (t - 3600) as u64 } else { (100_000 + t) as u64 };
        out.push(reading("sw1", "Gi1", "in_octets", t, Value::from_u64(inb), Some(uptime)));
        out.push(reading("sw1", "Gi1", "out_octets", t, Value::from_u64(outb), Some(uptime)));
    }
    out
}

fn setup() -> (tempfile::TempDir, Arc<Store>, Inventory, Plant, Arc<BucketTable>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { checkpoint_interval: Duration::from_secs(3600), ..StoreConfig::default() };
    let (store, _) = Store::open(dir.path(), cfg, Arc::new(FixedClock::new(Timestamp::from_secs(T0 + 8_000)))).unwrap();
    let store = Arc::new(store);
    let inv = inventory();
    let plant = Plant::new(&inv, 10);
    let table = Arc::new(BucketTable::new(Arc::new(plant.clone()).classifier()));
    table.build(&store).unwrap();
    store.observe(table.clone()).unwrap();
    (dir, store, inv, plant, table)
}

fn q(s: &str) -> Quantity {
    Quantity(s.parse().unwrap())
}

#[test]
fn two_customers_one_outlet_a_port_with_a_burst_and_a_reboot() {
    let (_dir, store, inv, plant, table) = setup();
    store.write(readings()).unwrap();
    table.settle(&store).unwrap();
    let window = Interval::closed(Timestamp::from_secs(T0), Timestamp::from_secs(T0 + 7_200)).unwrap();
    let src = Sources { inventory: &inv, plant: &plant, buckets: &table, store: &store };
    let acme = customer_usage(&src, &CustomerId::new("acme").unwrap(), &window).unwrap();

    // Energy: the outlet is acme's for [T0, T0+3605 s): 360.5 Wh, split mid-interval by time.
    // Facility x1.5 = 0.54075 kWh. Carbon: hour 1 0.54 kWh x 300 g = 0.162 kg; hour 2 has no
    // intensity value, so the region's last one (300 g) applies, flagged: 0.00075 x 300 / 1000.
    assert_eq!(acme.energy.it_kwh, q("0.3605"));
    assert_eq!(acme.energy.facility_kwh, q("0.54075"));
    assert_eq!(acme.carbon.kg_co2e, q("0.162225"));
    assert_eq!(acme.carbon.default_intensity_hours, 1);

    // Bandwidth: 24 buckets; k = ceil(0.95 x 24) = 23, one discarded.
    // In: 22 x 300,000 B, bucket 12 290,000 B (reboot: 290 s valid, flagged), bucket 5 3,000,000
    // B: rank 23 is 300,000 B = 0.008 Mbps. Out: 23 x 600,000 B and 580,000 B: 0.016 Mbps.
    let bw = &acme.bandwidth;
    assert_eq!((bw.samples, bw.discarded), (24, 1));
    assert_eq!(bw.p95_in_mbps, Some(q("0.008")));
    assert_eq!(bw.p95_out_mbps, Some(q("0.016")));
    assert_eq!(bw.p95_mbps, q("0.016"));
    assert_eq!(bw.flags, Flags { estimated: 0, missing: 0, reset: 1, implausible: 0 });
    // Ties rank by bucket start: the 23rd of (value, start) is the 22nd 600,000-byte bucket (the
    // buckets 0..=11 and 13..=23 hold 600,000): bucket 22.
    assert_eq!(bw.p95_bucket, Some(Timestamp::from_secs(T0 + 22 * 300)));

    let json = serde_json::to_value(&acme).unwrap();
    assert_eq!(json["energy"]["it_kwh"], "0.360500");
    assert_eq!(json["bandwidth"]["p95_mbps"], "0.016000");
    assert_eq!(json["bandwidth"]["p95_bucket"], Timestamp::from_secs(T0 + 6_600).to_string());
    assert_eq!(json["resources"][0]["id"], "p1/1");
    assert_eq!(json["resources"][1]["id"], "sw1/Gi1");
    assert_eq!(json["resources"][1]["p95_mbps"], "0.016000");

    // Beta has the outlet from T0+3605 s: 359.5 Wh, all in hour 2 (default intensity).
    let beta = customer_usage(&src, &CustomerId::new("beta").unwrap(), &window).unwrap();
    assert_eq!(beta.energy.it_kwh, q("0.3595"));
    assert_eq!(beta.carbon.kg_co2e, q("0.161775"));
    assert_eq!(beta.bandwidth.samples, 0);

    // A duplicate write of everything changes nothing, n included.
    store.write(readings()).unwrap();
    table.settle(&store).unwrap();
    assert_eq!(customer_usage(&src, &CustomerId::new("acme").unwrap(), &window).unwrap(), acme);

    assert!(matches!(
        customer_usage(&src, &CustomerId::new("nobody").unwrap(), &window),
        Err(UsageError::UnknownCustomer(_))
    ));
}

#[test]
fn month_to_date_projects_energy_linearly_and_keeps_the_95th() {
    let (_dir, store, inv, plant, table) = setup();
    store.write(readings()).unwrap();
    table.settle(&store).unwrap();
    let src = Sources { inventory: &inv, plant: &plant, buckets: &table, store: &store };
    let now = Timestamp::from_secs(T0 + 7_200); // 2027-01-15T08:00:00Z
    let m = crate::metering::read_models::month_to_date::month_to_date(&src, &CustomerId::new("acme").unwrap(), now)
        .unwrap();
    assert_eq!(m.period, "2027-01");
    assert_eq!(m.period_end.to_string(), "2027-02-01T00:00:00Z");
    assert_eq!(m.usage.from.to_string(), "2027-01-01T00:00:00Z");
    // 360.5 Wh so far, 14 d 8 h (1,238,400 s) into a 31-day month (2,678,400 s):
    // 0.3605 x 2,678,400 / 1,238,400 = 0.77968604... kWh.
    assert_eq!(m.usage.energy.it_kwh, q("0.3605"));
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["projected"]["it_kwh"], "0.779686");
    assert_eq!(json["projected"]["p95_mbps"], "0.016000");
    assert_eq!(json["projected"]["commit_mbps"], "10.000000");
    assert_eq!(json["projected"]["overage_mbps"], "0.000000");
    assert_eq!(m.usage.bandwidth.samples, 24);
}

#[test]
fn the_cache_serves_a_window_again_until_something_in_its_reach_changes() {
    use crate::metering::read_models::usage_cache::UsageCache;
    use std::sync::atomic::Ordering;
    let (_dir, store, inv, plant, table) = setup();
    store.write(readings()).unwrap();
    table.settle(&store).unwrap();
    let window = Interval::closed(Timestamp::from_secs(T0), Timestamp::from_secs(T0 + 7_200)).unwrap();
    let src = Sources { inventory: &inv, plant: &plant, buckets: &table, store: &store };
    let acme = CustomerId::new("acme").unwrap();
    let cache = UsageCache::default();
    let counts = || (cache.hits.load(Ordering::Relaxed), cache.misses.load(Ordering::Relaxed));
    let first = cache.usage(&src, 1, &acme, &window).unwrap();
    assert_eq!(*first, customer_usage(&src, &acme, &window).unwrap());
    assert!(Arc::ptr_eq(&first, &cache.usage(&src, 1, &acme, &window).unwrap()));
    assert_eq!(counts(), (1, 1));

    // "Now" readings two days on (past the outlet's one-day look-around) change nothing it read.
    store.write(vec![reading("p1", "1", "power_w", 7_200 + 2 * 86_400, Value::from_u64(500), None)]).unwrap();
    table.settle(&store).unwrap();
    assert!(Arc::ptr_eq(&first, &cache.usage(&src, 1, &acme, &window).unwrap()));
    assert_eq!(counts(), (2, 1));

    // A late energy reading inside the window: the counter at T0+1800 s rewritten 10 Wh higher.
    // (1790, 1800] now holds 11 Wh and (1800, 1810] is a reset (no power samples: 0 Wh): acme's
    // 360.5 Wh become 369.5 Wh, with one reset.
    store.write(vec![reading("p1", "1", "energy_wh", 1_800, Value::from_u64(1_000 + 186 + 10), None)]).unwrap();
    table.settle(&store).unwrap();
    let late = cache.usage(&src, 1, &acme, &window).unwrap();
    assert_eq!(counts(), (2, 2));
    assert_eq!((late.energy.it_kwh, late.energy.flags.resets), (q("0.3695"), 1));
    assert_eq!(*late, customer_usage(&src, &acme, &window).unwrap());

    // A late port sample: in_octets at T0+3000 s rewritten 1,000,000 higher, so the bucket
    // before it gains 1,000,000 B and the next interval is a reset. The bucket table rebuilds
    // the range on settle; its change log tells the cache.
    assert!(Arc::ptr_eq(&late, &cache.usage(&src, 1, &acme, &window).unwrap()));
    // 306 intervals of 10 s since T0-60 s, 30 of them at 10,000 B/s.
    let in_at_3000 = 1_000_000 + 1_000 * 10 * 306 + 9_000 * 10 * 30;
    store
        .write(vec![reading("sw1", "Gi1", "in_octets", 3_000, Value::from_u64(in_at_3000 + 1_000_000), Some(103_000))])
        .unwrap();
    table.settle(&store).unwrap();
    let rebuilt = cache.usage(&src, 1, &acme, &window).unwrap();
    assert_eq!(counts(), (3, 3));
    // In: bucket 5 3,000,000 B, bucket 9 1,300,000 B, buckets 10 and 12 290,000 B (resets),
    // 20 x 300,000 B: rank 23 of 24 is 1,300,000 B = 0.034667 Mbps, above out's 0.016.
    assert_eq!(rebuilt.bandwidth.flags.reset, 2);
    let json = serde_json::to_value(&*rebuilt).unwrap();
    assert_eq!(
        (&json["bandwidth"]["p95_in_mbps"], &json["bandwidth"]["p95_mbps"]),
        (&"0.034667".into(), &"0.034667".into())
    );
    assert_eq!(*rebuilt, customer_usage(&src, &acme, &window).unwrap());

    // Another inventory generation: computed afresh.
    let again = cache.usage(&src, 2, &acme, &window).unwrap();
    assert!(!Arc::ptr_eq(&rebuilt, &again));
    assert_eq!((counts(), cache.len()), ((3, 4), 1));
}
