//! SNMP collection: colometer's collectors against Debian's `prometheus-snmp-exporter`, both
//! reading the same agents for the same OIDs (ifHCInOctets, ifHCOutOctets), in one run.
//!
//! 1. The built-in simulator (`colometer simulate`, a separate process) serving `N` switches.
//!    a. colometer polling 1,000 devices at 1 s vs the exporter scraping 100 of them back to
//!    back (16 at once), comparable loads; values per CPU-second of each process.
//!    b. all `N` devices (default 10,000, ~1M values per 10 s) at a 10 s interval: values/s,
//!    CPU-seconds per million values, missed cycles.
//! 2. net-snmp's snmpd: 1,000 pollers (devices) against one snmpd, the same comparison.
//!
//! `cargo run --release -p benches --bin snmp -- [devices] [seconds]`

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use benches::{colometer_release, cpu_seconds, peak_rss_bytes};
use collectors::handoff::{self, Sink, SinkError};
use collectors::metrics::CollectorMetrics;
use collectors::profile::{DeviceKind, Profiles};
use collectors::scheduler::{Collectors, DeviceSpec, Settings};
use collectors::status::StatusBoard;
use engine::clock::SystemClock;
use engine::store::PendingReading;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port()
        .max(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()))
}

#[derive(Clone, Default)]
struct Counting(Arc<AtomicU64>);

impl Sink for Counting {
    fn write(&mut self, readings: Vec<PendingReading>) -> Result<(), SinkError> {
        self.0.fetch_add(readings.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

struct Figures {
    what: String,
    values: u64,
    wall_s: f64,
    cpu_s: f64,
    missed: u64,
    failed: u64,
}

impl Figures {
    fn per_cpu_s(&self) -> f64 {
        self.values as f64 / self.cpu_s.max(1e-9)
    }

    fn print(&self) {
        println!(
            "{:<58} {:>10} values in {:>5.1} s = {:>9.0} values/s; {:>6.2} CPU-s = {:>7.2} CPU-s per M values ({:>9.0} values per CPU-s); missed cycles {}, failed polls {}",
            self.what,
            self.values,
            self.wall_s,
            self.values as f64 / self.wall_s,
            self.cpu_s,
            self.cpu_s * 1e6 / self.values.max(1) as f64,
            self.per_cpu_s(),
            self.missed,
            self.failed
        );
    }
}

fn spec(id: &str, community: &str, addr: SocketAddr, interval_s: u32) -> DeviceSpec {
    DeviceSpec::v2c(id, DeviceKind::Switch, community, addr, interval_s)
}

/// Polls `specs` with colometer's scheduler; measures a window after every device was read once.
async fn colometer(what: &str, specs: Vec<DeviceSpec>, window: Duration) -> anyhow::Result<Figures> {
    let metrics = Arc::new(CollectorMetrics::default());
    let status = Arc::new(StatusBoard::default());
    let count = Counting::default();
    let (handoff, writer) = handoff::start(count.clone(), 4096, 50_000, Arc::clone(&metrics))?;
    let cancel = CancellationToken::new();
    let settings = Settings { max_varbinds: 40, ..Settings::default() };
    let collectors = Collectors::new(
        settings,
        Profiles::builtin()?,
        Arc::new(SystemClock),
        handoff,
        Arc::clone(&metrics),
        Arc::clone(&status),
        cancel.clone(),
    );
    let ids: Vec<Arc<str>> = specs.iter().map(|s| Arc::clone(&s.id)).collect();
    let interval = specs.first().map_or(10, |s| s.interval_s);
    collectors.apply(specs);
    // Warm-up: every device discovered and polled once.
    let deadline = Instant::now() + Duration::from_secs(u64::from(interval) * 6 + 30);
    while ids.iter().any(|id| status.get(id).is_none_or(|s| s.last_poll.is_none())) {
        anyhow::ensure!(Instant::now() < deadline, "{what}: devices not polled after warm-up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let totals = |m: &CollectorMetrics| {
        m.snapshot().values().fold((0, 0), |(a, b), s| (a + s.missed_cycles, b + s.polls_failed))
    };
    let (missed0, failed0) = totals(&metrics);
    let (v0, c0, t0) = (count.0.load(Ordering::Relaxed), cpu_seconds(std::process::id())?, Instant::now());
    tokio::time::sleep(window).await;
    let (v1, c1, wall) =
        (count.0.load(Ordering::Relaxed), cpu_seconds(std::process::id())?, t0.elapsed().as_secs_f64());
    let (missed1, failed1) = totals(&metrics);
    collectors.stop();
    drop(collectors);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    Ok(Figures {
        what: what.into(),
        values: v1 - v0,
        wall_s: wall,
        cpu_s: c1 - c0,
        missed: missed1 - missed0,
        failed: failed1 - failed0,
    })
}

/// The exporter's config: one module per community (0.21 keeps auth in the module).
fn exporter_config(communities: &[String]) -> String {
    let mut y = String::new();
    for c in communities {
        let _ = write!(
            y,
            "m-{c}:\n  walk: [1.3.6.1.2.1.31.1.1.1.6, 1.3.6.1.2.1.31.1.1.1.10]\n  metrics:\n  \
             - {{name: ifHCInOctets, oid: 1.3.6.1.2.1.31.1.1.1.6, type: counter, indexes: [{{labelname: ifIndex, type: gauge}}]}}\n  \
             - {{name: ifHCOutOctets, oid: 1.3.6.1.2.1.31.1.1.1.10, type: counter, indexes: [{{labelname: ifIndex, type: gauge}}]}}\n  \
             version: 2\n  max_repetitions: 25\n  retries: 2\n  timeout: 5s\n  auth:\n    community: {c}\n"
        );
    }
    y
}

/// Scrapes `targets` (community per scrape) through the exporter, 16 at once, for `window`.
async fn exporter(
    what: &str,
    agent: SocketAddr,
    communities: Vec<String>,
    window: Duration,
) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let mut uniq = communities.clone();
    uniq.sort();
    uniq.dedup();
    std::fs::write(dir.path().join("snmp.yml"), exporter_config(&uniq))?;
    let port = free_port()?;
    let child = Killed(
        Command::new("prometheus-snmp-exporter")
            .arg(format!("--config.file={}", dir.path().join("snmp.yml").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting prometheus-snmp-exporter (Debian package prometheus-snmp-exporter)")?,
    );
    let pid = child.0.id();
    let http = reqwest::Client::new();
    let url = |c: &str| format!("http://127.0.0.1:{port}/snmp?target={agent}&module=m-{c}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http.get(url(&communities[0])).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
        anyhow::ensure!(Instant::now() < deadline, "the exporter did not answer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let values = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let communities = Arc::new(communities);
    let next = Arc::new(AtomicU64::new(0));
    let (c0, t0) = (cpu_seconds(pid)?, Instant::now());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, values, failed, stop, communities, next) = (
            http.clone(),
            Arc::clone(&values),
            Arc::clone(&failed),
            Arc::clone(&stop),
            Arc::clone(&communities),
            Arc::clone(&next),
        );
        let base = url("");
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize % communities.len();
                match http.get(format!("{base}{}", communities[i])).send().await {
                    Ok(r) if r.status().is_success() => {
                        let body = r.text().await.unwrap_or_default();
                        let n = body
                            .lines()
                            .filter(|l| l.starts_with("ifHCInOctets{") || l.starts_with("ifHCOutOctets{"))
                            .count();
                        values.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let (c1, wall) = (cpu_seconds(pid)?, t0.elapsed().as_secs_f64());
    Ok(Figures {
        what: what.into(),
        values: values.load(Ordering::Relaxed),
        wall_s: wall,
        cpu_s: c1 - c0,
        missed: 0,
        failed: failed.load(Ordering::Relaxed),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let devices = args.first().copied().unwrap_or(10_000) as u32;
    let seconds = args.get(1).copied().unwrap_or(60);
    let bin = colometer_release()?;
    let port = free_port()?;
    let mut sim = Killed(
        Command::new(&bin)
            .args([
                "simulate",
                "--pdus",
                "0",
                "--switches",
                &devices.to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let mut line = String::new();
    if let Some(out) = sim.0.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    let agent: SocketAddr = ([127, 0, 0, 1], port).into();
    println!("snmp: simulator with {devices} switches (48 ports, 96 counters each) at {agent}; nproc 2");

    // Comparable loads: ~96k values/s from colometer (1,000 devices at 1 s), the exporter as
    // fast as 16 concurrent scrapes of 100 devices go (~100k values/s).
    let many: Vec<String> = (1..=1000.min(devices)).map(|i| format!("sw-{i:04}")).collect();
    let few: Vec<String> = many.iter().take(100).cloned().collect();
    let window = Duration::from_secs(20);
    let a = colometer(
        &format!("colometer, simulator, {} devices at 1 s", many.len()),
        many.iter().map(|c| spec(c, c, agent, 1)).collect(),
        window,
    )
    .await?;
    a.print();
    let b = exporter("prometheus-snmp-exporter 0.21, simulator, 100 devices, 16 at once", agent, few.clone(), window)
        .await?;
    b.print();
    println!("ratio colometer/exporter values per CPU-second (simulator): {:.1}x", a.per_cpu_s() / b.per_cpu_s());

    let all: Vec<DeviceSpec> = (1..=devices).map(|i| format!("sw-{i:04}")).map(|c| spec(&c, &c, agent, 10)).collect();
    let c = colometer(&format!("colometer, simulator, {devices} devices at 10 s"), all, Duration::from_secs(seconds))
        .await?;
    c.print();
    println!(
        "collector peak RSS {:.0} MiB; simulator CPU {:.1} s in all",
        peak_rss_bytes(std::process::id())? as f64 / 1048576.0,
        cpu_seconds(sim.0.id())?
    );
    drop(sim);

    // net-snmp's snmpd.
    let dir = tempfile::tempdir()?;
    let sport = free_port()?;
    std::fs::write(
        dir.path().join("snmpd.conf"),
        format!("agentAddress udp:127.0.0.1:{sport}\nrocommunity public 127.0.0.1\n"),
    )?;
    let snmpd = Killed(
        Command::new("/usr/sbin/snmpd")
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(dir.path().join("snmpd.conf"))
            .arg("-p")
            .arg(dir.path().join("pid"))
            .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting /usr/sbin/snmpd (Debian package snmpd)")?,
    );
    let snmpd_addr: SocketAddr = ([127, 0, 0, 1], sport).into();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = colometer(
        "colometer, snmpd, 1000 pollers at 1 s",
        (1..=1000).map(|i| spec(&format!("linux-{i}"), "public", snmpd_addr, 1)).collect(),
        window,
    )
    .await?;
    d.print();
    let e =
        exporter("prometheus-snmp-exporter 0.21, snmpd, 16 at once", snmpd_addr, vec!["public".into()], window).await?;
    e.print();
    println!("ratio colometer/exporter values per CPU-second (snmpd): {:.1}x", d.per_cpu_s() / e.per_cpu_s());
    println!("snmpd CPU {:.1} s in all", cpu_seconds(snmpd.0.id())?);
    Ok(())
}
