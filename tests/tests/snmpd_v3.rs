//! The collectors against net-snmp's snmpd (Debian) over SNMPv3 authPriv with SHA-256 and
//! AES-128: the real `lo` interface is discovered through IF-MIB and its 64-bit octet counters
//! increase between two polls; wrong keys are refused, never read.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use collectors::discovery;
use collectors::fleet::credentials;
use collectors::poll::{self, MetricNames, Plan};
use collectors::profile::{DeviceKind, Profiles};
use collectors::snmp::{Session, Target};
use engine::clock::SystemClock;
use engine::domain::device::{AuthProtocol, PrivProtocol, SnmpVersion};

const SNMPD: &str = "/usr/sbin/snmpd";

struct Snmpd(std::process::Child);

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn v3(auth_key: &str, priv_key: &str) -> SnmpVersion {
    SnmpVersion::V3 {
        user: "colouser".into(),
        auth: Some(AuthProtocol::Sha256),
        auth_key: Some(auth_key.into()),
        privacy: Some(PrivProtocol::Aes128),
        priv_key: Some(priv_key.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_auth_priv_reads_increasing_lo_counters() {
    if !std::path::Path::new(SNMPD).is_file() {
        tests::skip_or_fail("net-snmp's snmpd is not installed (scripts/test-deps installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.path().join("snmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "agentAddress udp:127.0.0.1:{port}\n\
             createUser colouser SHA-256 \"auth-secret-1\" AES \"priv-secret-2\"\n\
             rouser colouser priv\n"
        ),
    )
    .unwrap();
    let _snmpd = Snmpd(
        Command::new(SNMPD)
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.path().join("pid"))
            .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let profiles = Profiles::builtin().unwrap();
    let target = |v: &SnmpVersion| {
        let mut t = Target::new(addr, credentials(v));
        t.timeout = Duration::from_secs(2);
        t
    };
    // snmpd takes a moment to start: retry discovery for up to 20 s.
    let mut session = Session::new(target(&v3("auth-secret-1", "priv-secret-2")), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let layout = loop {
        match discovery::discover(&mut session, &profiles, DeviceKind::Switch, None).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "snmpd over v3: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    assert_eq!(layout.profile.id, "if-mib");
    let lo = layout.resources.iter().find(|r| &*r.id == "lo").expect("the lo interface");
    assert_eq!(lo.row, [1]);
    let plan = Plan::new(&layout, 40);
    let device: Arc<str> = "linux".into();
    let names = MetricNames::default();
    let read = |c: &poll::Cycle, metric: &str| {
        c.readings.iter().find(|r| &*r.key.resource == "lo" && &*r.key.metric == metric).map(|r| r.value).unwrap()
    };
    let mut last = Vec::new();
    let a = poll::run(&mut session, &device, &layout, &plan, &names, &SystemClock, &mut last).await.unwrap();
    // snmpd caches interface statistics for a few seconds: poll (which crosses lo itself) until
    // the counters move, for up to 20 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let b = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let b = poll::run(&mut session, &device, &layout, &plan, &names, &SystemClock, &mut last).await.unwrap();
        if read(&b, "in_octets") != read(&a, "in_octets") || std::time::Instant::now() > deadline {
            break b;
        }
    };
    assert!(read(&b, "in_octets") > read(&a, "in_octets"), "lo in_octets did not increase");
    assert!(read(&b, "out_octets") > read(&a, "out_octets"), "lo out_octets did not increase");
    assert!(a.uptime_s.is_some() && b.readings.iter().all(|r| r.uptime_s.is_some()));
    assert_eq!(b.regressions, 0);

    // A wrong privacy key never yields values.
    let mut t = target(&v3("auth-secret-1", "wrong-priv-key"));
    t.retries = 0;
    t.timeout = Duration::from_millis(500);
    let mut bad = Session::new(t, 1);
    assert!(discovery::discover(&mut bad, &profiles, DeviceKind::Switch, None).await.is_err());
}
