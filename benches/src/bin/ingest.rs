//! Ingest benchmark: the same line-protocol payload (N series) posted over HTTP to `colometer
//! serve` and to InfluxDB 1.x (Debian's `influxd`, started here on loopback, WAL fsync on every
//! write), plus colometer's in-process path (parse + durable write, no HTTP). Prints rows/s,
//! CPU-seconds per million rows, peak memory, the ratio, and how soon an acknowledged reading is
//! queryable.
//!
//! `cargo run --release -p benches --bin ingest -- [SERIES] [ROUNDS] [LINES_PER_REQUEST] [CLIENTS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use benches::{Influxd, Served, cpu_seconds, peak_rss_bytes};
use serde_json::json;

/// Ports per switch in the generated fleet.
const PORTS: usize = 500;
/// First timestamp (s): a day before now, inside any retention.
fn base_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) - 86_400
}

struct Run {
    name: &'static str,
    rows: usize,
    wall_s: f64,
    cpu_s: f64,
    peak_bytes: u64,
}

impl Run {
    fn print(&self) {
        println!(
            "{:<28} {:>12.0} rows/s {:>8.2} CPU-s/M rows {:>8} MiB peak   ({} rows in {:.2} s)",
            self.name,
            self.rows as f64 / self.wall_s,
            self.cpu_s / (self.rows as f64 / 1e6),
            self.peak_bytes / (1 << 20),
            self.rows,
            self.wall_s
        );
    }
}

/// Request bodies: `rounds` passes over every port, two counters (two series) per line. Integers
/// carry the `i` suffix: InfluxDB 1.6 (Debian's) does not accept unsigned `u` fields.
fn payload(series: usize, rounds: usize, lines_per_request: usize) -> (Vec<String>, usize) {
    let ports = series / 2;
    let base = base_s();
    let mut bodies = Vec::new();
    let mut body = String::new();
    let mut lines = 0;
    for round in 0..rounds {
        for p in 0..ports {
            let (sw, port) = (p / PORTS, p % PORTS);
            let v = (round * 1_000_003 + p) as u64;
            body.push_str(&format!(
                "port_counters,device=sw{sw},port=Et{port} in_octets={}i,out_octets={}i {}\n",
                v * 1500,
                v * 900,
                (base + round as u64 * 10) * 1_000_000_000
            ));
            lines += 1;
            if lines % lines_per_request == 0 {
                bodies.push(std::mem::take(&mut body));
            }
        }
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    (bodies, lines * 2)
}

async fn post_all(url: &str, token: Option<&str>, bodies: Arc<Vec<String>>, clients: usize) -> anyhow::Result<f64> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, next, bodies, url, token) =
            (http.clone(), next.clone(), bodies.clone(), url.to_owned(), token.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = bodies.get(i) else { return Ok::<(), anyhow::Error>(()) };
                let mut req = http.post(&url).body(b.clone());
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await?;
                let status = r.status();
                if status != 204 {
                    let text: String = r.text().await.unwrap_or_default().chars().take(300).collect();
                    bail!("write {i} answered {status}: {text}");
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed().as_secs_f64())
}

async fn colometer_http(
    series: usize,
    bodies: Arc<Vec<String>>,
    rows: usize,
    clients: usize,
) -> anyhow::Result<(Run, Vec<f64>)> {
    let switches = series / 2 / PORTS + 1;
    let mut inv = String::from("sites: [{id: s1, pue: \"1.3\"}]\nswitches:\n");
    for s in 0..switches {
        inv.push_str(&format!("  - {{id: sw{s}, site: s1, snmp: {{host: 127.0.0.1, version: v2c, community: c}}}}\n"));
    }
    let served = Served::start(&inv, "max_buffered_rows = 2000000")?;
    let (url, token) = (served.url.clone(), served.admin.clone());
    let pid = served.child.id();
    let cpu0 = cpu_seconds(pid)?;
    let wall = post_all(&format!("{url}/api/v1/write"), Some(&token), bodies, clients).await?;
    let cpu = cpu_seconds(pid)? - cpu0;
    let peak = peak_rss_bytes(pid)?;
    // Every row is there.
    let http = reqwest::Client::new();
    let q = |sql: String| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let r =
                http.post(format!("{url}/api/v1/query")).bearer_auth(token).json(&json!({ "sql": sql })).send().await?;
            anyhow::Ok(r.json::<serde_json::Value>().await?)
        }
    };
    let count = q("SELECT count(*) FROM readings".into()).await?;
    anyhow::ensure!(count["rows"][0][0] == json!(rows), "colometer stored {count} rows, expected {rows}");
    // How soon is an acknowledged reading queryable?
    let mut lat = Vec::new();
    for i in 0..20u64 {
        let ts = (base_s() + 50_000 + i) * 1_000_000_000;
        let line = format!("port_counters,device=sw0,port=Probe in_octets={i}u {ts}");
        let r = http.post(format!("{url}/api/v1/write")).bearer_auth(&token).body(line).send().await?;
        anyhow::ensure!(r.status() == 204, "probe write failed");
        let acked = Instant::now();
        loop {
            let v = q(format!("SELECT count(*) FROM readings WHERE device = 'sw0' AND resource = 'Probe' AND ts = to_timestamp_nanos({ts})")).await?;
            if v["rows"][0][0] == json!(1) {
                break;
            }
            anyhow::ensure!(acked.elapsed() < Duration::from_secs(5), "probe {i} never became visible");
        }
        lat.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    drop(served);
    Ok((Run { name: "colometer over HTTP", rows, wall_s: wall, cpu_s: cpu, peak_bytes: peak }, lat))
}

async fn influxdb_http(bodies: Arc<Vec<String>>, rows: usize, clients: usize) -> anyhow::Result<Run> {
    let influx = Influxd::start().await?;
    let pid = influx.child.id();
    let cpu0 = cpu_seconds(pid)?;
    let wall = post_all(&format!("{}/write?db=bench&precision=ns", influx.url), None, bodies, clients).await?;
    let cpu = cpu_seconds(pid)? - cpu0;
    let peak = peak_rss_bytes(pid)?;
    Ok(Run { name: "InfluxDB 1.x over HTTP", rows, wall_s: wall, cpu_s: cpu, peak_bytes: peak })
}

fn in_process(series: usize, bodies: &[String], rows: usize) -> anyhow::Result<Run> {
    use engine::ingest::{KnownResources, Precision, Window, parse_batch};
    use engine::inventory::{document, import, source};
    use engine::store::{Store, StoreConfig};
    let switches = series / 2 / PORTS + 1;
    let mut inv = String::from("sites: [{id: s1, pue: \"1.3\"}]\nswitches:\n");
    for s in 0..switches {
        inv.push_str(&format!("  - {{id: sw{s}, site: s1, snmp: {{host: 127.0.0.1, version: v2c, community: c}}}}\n"));
    }
    let tree = source::parse_yaml(&inv).map_err(anyhow::Error::msg)?;
    let inventory =
        import::plan(&Default::default(), document::read(&tree)).map_err(|e| anyhow::anyhow!("{e}"))?.result;
    let known = KnownResources::from_inventory(&inventory);
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(engine::clock::SystemClock);
    let (store, _) = Store::open(dir.path(), StoreConfig::default(), clock)?;
    let window =
        Window { now: engine::clock::Clock::now(&engine::clock::SystemClock), retention_ns: 400 * 86_400_000_000_000 };
    let cpu0 = cpu_seconds(std::process::id())?;
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = bodies.get(i) else { return };
                    let batch = parse_batch(b, Precision::Ns, window, &known, &store).unwrap_or_else(|e| panic!("{e}"));
                    store.write_batch(batch).unwrap_or_else(|e| panic!("{e}"));
                }
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(std::process::id())? - cpu0;
    Ok(Run {
        name: "colometer in-process",
        rows,
        wall_s: wall,
        cpu_s: cpu,
        peak_bytes: peak_rss_bytes(std::process::id())?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let series = args.first().copied().unwrap_or(1_000_000);
    let rounds = args.get(1).copied().unwrap_or(3);
    let per_request = args.get(2).copied().unwrap_or(5_000);
    let clients = args.get(3).copied().unwrap_or(4);
    println!("ingest: {series} series, {rounds} rounds, {per_request} lines (x2 rows) per request, {clients} clients");
    let (bodies, rows) = payload(series, rounds, per_request);
    let bodies = Arc::new(bodies);
    let (colo, latency) = colometer_http(series, bodies.clone(), rows, clients).await?;
    colo.print();
    let influx = influxdb_http(bodies.clone(), rows, clients).await?;
    influx.print();
    let local = in_process(series, &bodies, rows)?;
    local.print();
    println!("ratio colometer/InfluxDB rows/s over HTTP: {:.2}x", influx.wall_s / colo.wall_s);
    let mut sorted = latency.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "acknowledged -> queryable: median {:.1} ms, max {:.1} ms (20 probes, including the query itself)",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    Ok(())
}
