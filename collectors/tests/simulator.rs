//! The collectors against the built-in simulator: discovery through the real profiles, exact
//! values at a fixed instant, v1 without Counter64, GETBULK walks, and a reboot between polls.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::HashSet;
use std::sync::Arc;

use collectors::discovery;
use collectors::poll::{self, MetricNames, Plan};
use collectors::profile::{DeviceKind, Profiles, Role};
use collectors::simulator::{self, Simulator, model};
use collectors::snmp::{Credentials, Session, Target};
use engine::clock::FixedClock;
use engine::store::reading::Value;
use engine::time::Timestamp;
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_790_000_000_000_000_000;

async fn start(clock: Arc<FixedClock>) -> (std::net::SocketAddr, CancellationToken, Vec<model::Device>) {
    let fleet = simulator::fleet(1, 1, 7);
    let sim = Simulator::bind("127.0.0.1:0".parse().unwrap(), fleet.clone(), clock).await.unwrap();
    let addr = sim.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(sim.run(1, cancel.clone()));
    (addr, cancel, fleet)
}

fn value(readings: &[engine::store::PendingReading], res: &str, metric: &str) -> Option<Value> {
    readings.iter().find(|r| &*r.key.resource == res && &*r.key.metric == metric).map(|r| r.value)
}

#[tokio::test]
async fn switch_and_pdu_discovered_and_polled_exactly() {
    let clock = Arc::new(FixedClock::new(Timestamp::from_nanos(T0)));
    let (addr, cancel, fleet) = start(Arc::clone(&clock)).await;
    let profiles = Profiles::builtin().unwrap();
    let shape = model::Shape::default();
    let t_ms = (T0 / 1_000_000) as u64;
    let names = MetricNames::default();

    // Switch over v2c: 48 ports named Ethernet1..48 with ifHighSpeed, polled in 3 requests.
    let sw = &fleet[0];
    let mut s = Session::new(Target::new(addr, Credentials::V2c(b"sw-0001".to_vec())), 1);
    let layout = discovery::discover(&mut s, &profiles, DeviceKind::Switch, None).await.unwrap();
    assert_eq!(layout.profile.id, "if-mib");
    assert_eq!(layout.sys_object_id.as_ref().map(ToString::to_string).as_deref(), Some("1.3.6.1.4.1.8072.3.2.10"));
    assert!(layout.has_uptime);
    assert_eq!(layout.resources.len(), 48);
    assert_eq!(&*layout.resources[4].id, "Ethernet5");
    assert_eq!(layout.resources[4].speed_mbps, Some(10_000));
    assert_eq!(layout.resources[4].alias.as_deref(), Some("customer port 5"));
    assert_eq!(layout.cells.len(), 144, "in, out and oper status per port");
    let plan = Plan::new(&layout, 40);
    assert_eq!(plan.requests(), 4);
    let mut last = Vec::new();
    let c = poll::run(&mut s, &sw.id, &layout, &plan, &names, clock.as_ref(), &mut last).await.unwrap();
    assert_eq!(c.readings.len(), 144);
    let down = (1..=48).filter(|&p| sw.oper_status(p) == 2).count();
    assert!(down > 0 && down < 48, "the fleet has ports down and up: {down}");
    for port in 1..=48u32 {
        let res = format!("Ethernet{port}");
        assert_eq!(value(&c.readings, &res, "oper_status"), Some(Value::from_u64(u64::from(sw.oper_status(port)))));
    }
    for port in [1u32, 5, 48] {
        let res = format!("Ethernet{port}");
        assert_eq!(value(&c.readings, &res, "in_octets"), Some(Value::from_u64(sw.octets(&shape, port, 0, t_ms))));
        assert_eq!(value(&c.readings, &res, "out_octets"), Some(Value::from_u64(sw.octets(&shape, port, 1, t_ms))));
    }
    let uptime = (t_ms - sw.boot_ms(t_ms)) / 1000;
    assert!(c.readings.iter().all(|r| r.uptime_s == Some(uptime) && r.ts == Timestamp::from_nanos(T0)));

    // After the device's next reboot the counters restart and the poll says so through uptime.
    let boot = sw.boot_ms(t_ms + 40 * 86_400_000);
    clock.set(Timestamp::from_nanos(i64::try_from(boot + 60_000).unwrap() * 1_000_000));
    let c2 = poll::run(&mut s, &sw.id, &layout, &plan, &names, clock.as_ref(), &mut last).await.unwrap();
    assert!(c2.readings.iter().all(|r| r.uptime_s == Some(60)));
    assert_eq!(c2.regressions, 0, "a reboot is not a regression");

    // PDU over v1 (no Counter64 involved): Raritan profile, 24 outlets + the inlet.
    clock.set(Timestamp::from_nanos(T0));
    let pdu = &fleet[1];
    let mut s = Session::new(Target::new(addr, Credentials::V1(b"pdu-0001".to_vec())), 1);
    let layout = discovery::discover(&mut s, &profiles, DeviceKind::Pdu, None).await.unwrap();
    assert_eq!(layout.profile.id, "raritan-pdu2");
    let outlets = layout.resources.iter().filter(|r| r.role == Role::Outlet).count();
    assert_eq!(outlets, 24);
    assert_eq!(&*layout.resources[24].id, "inlet");
    assert_eq!(layout.resources[2].name.as_deref(), Some("pdu-0001-outlet-3"));
    let plan = Plan::new(&layout, 40);
    let c = poll::run(&mut s, &pdu.id, &layout, &plan, &names, clock.as_ref(), &mut Vec::new()).await.unwrap();
    assert_eq!(c.readings.len(), 50);
    for o in [1u32, 3, 24] {
        let res = o.to_string();
        assert_eq!(value(&c.readings, &res, "power_w"), Some(Value::from_u64(pdu.power_w(&shape, o, t_ms))));
        assert_eq!(value(&c.readings, &res, "energy_wh"), Some(Value::from_u64(pdu.energy_wh(&shape, o, t_ms))));
    }

    // Declared resources limit what is polled.
    let declared: HashSet<String> = ["2".to_string(), "7".to_string()].into();
    let layout = discovery::discover(&mut s, &profiles, DeviceKind::Pdu, Some(&declared)).await.unwrap();
    let ids: Vec<&str> = layout.resources.iter().map(|r| &*r.id).collect();
    assert_eq!(ids, ["2", "7"]);

    // An unknown community is never answered: a timeout, counted.
    let mut t = Target::new(addr, Credentials::V2c(b"nobody".to_vec()));
    t.timeout = std::time::Duration::from_millis(100);
    t.retries = 1;
    let mut s = Session::new(t, 1);
    let e = discovery::discover(&mut s, &profiles, DeviceKind::Switch, None).await.unwrap_err();
    assert_eq!(e.to_string(), "no response after 2 attempts");
    assert_eq!(s.take_counts().timeouts, 2);
    cancel.cancel();
}

#[tokio::test]
async fn idle_sessions_keep_their_socket_only_within_the_budget() {
    let clock = Arc::new(FixedClock::new(Timestamp::from_nanos(T0)));
    let (addr, cancel, _) = start(clock).await;
    let budget = Arc::new(tokio::sync::Semaphore::new(1));
    let up = [collectors::oid::Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()];
    let mut a =
        Session::new(Target::new(addr, Credentials::V2c(b"sw-0001".to_vec())), 1).with_keep_budget(budget.clone());
    let mut b =
        Session::new(Target::new(addr, Credentials::V2c(b"pdu-0001".to_vec())), 1).with_keep_budget(budget.clone());
    a.get(&up).await.unwrap();
    b.get(&up).await.unwrap();
    a.idle();
    b.idle();
    assert!(format!("{a:?}").contains("open: true"), "{a:?}");
    assert!(format!("{b:?}").contains("open: false"), "the budget of one is spent: {b:?}");
    assert_eq!(budget.available_permits(), 0);
    drop(a);
    assert_eq!(budget.available_permits(), 1, "a dropped session gives its permit back");
    cancel.cancel();
}
