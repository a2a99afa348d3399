//! colometer's benchmarks. Each bench binary runs a real peer on the same data in the same run and
//! prints the ratio; BENCHMARKS.md records the figures and the command.
//!
//! This library holds what the binaries share: process accounting from `/proc`, finding or
//! building the release `colometer` binary, reading a child's address off its stdout, and
//! starting InfluxDB 1.x (the ingest peer).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    Ok((ticks(11) + ticks(12)) / 100.0)
}

/// Peak resident memory of a process, bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(kb * 1024)
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The release `colometer` binary, built if needed (benchmarks always measure release builds).
/// `COLOMETER_BIN` names an already built one (building `-p api` alone after `-p benches -p api`
/// can rebuild dependencies with other features).
pub fn colometer_release() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("COLOMETER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "api", "--bin", "colometer"])
        .env("CARGO_TARGET_DIR", dir.parent().unwrap_or(&dir))
        .current_dir(repo())
        .status()?;
    anyhow::ensure!(status.success(), "building colometer --release failed");
    Ok(dir.join("colometer"))
}

/// Reads `child`'s stdout until a line starts with `prefix`; returns the rest of that line (the
/// remaining output is drained on a thread so the child never blocks on a full pipe).
pub fn wait_for_line(child: &mut Child, prefix: &str) -> anyhow::Result<String> {
    let out = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.strip_prefix(prefix) {
            let rest = rest.to_owned();
            std::thread::spawn(move || for _ in lines {});
            return Ok(rest);
        }
    }
    bail!("process exited before printing {prefix:?}")
}

/// InfluxDB 1.x (Debian's `influxd`) on loopback in a temporary directory, WAL fsync on every
/// write, with database `bench`; killed on drop.
pub struct Influxd {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Influxd {
    /// Starts it and creates the database.
    pub async fn start() -> anyhow::Result<Self> {
        let influxd = ["/usr/bin/influxd", "/usr/sbin/influxd"].into_iter().find(|p| Path::new(p).exists());
        let Some(influxd) = influxd else { bail!("influxd not found: apt-get install influxdb") };
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let d = dir.path().display();
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  wal-fsync-delay = \"0s\"\n  index-version = \"inmem\"\n  max-series-per-database = 0\n  max-values-per-tag = 0\n[http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n  max-body-size = 0\n[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n",
            port + 1
        );
        std::fs::write(dir.path().join("influxdb.conf"), conf)?;
        let child = Command::new(influxd)
            .args(["-config"])
            .arg(dir.path().join("influxdb.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let me = Self { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let http = reqwest::Client::new();
        let start = Instant::now();
        while http.get(format!("{}/ping", me.url)).send().await.is_err() {
            anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "influxd did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        http.post(format!("{}/query", me.url)).form(&[("q", "CREATE DATABASE bench")]).send().await?;
        Ok(me)
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A release `colometer serve` over a fresh data directory with an imported inventory and an
/// admin token; killed on drop.
pub struct Served {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// An admin token.
    pub admin: String,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Imports `inventory` (YAML), creates an admin token and starts the server with `storage`
    /// lines added to `[storage]` (a 64 MiB body limit).
    pub fn start(inventory: &str, storage: &str) -> anyhow::Result<Self> {
        let bin = colometer_release()?;
        let dir = tempfile::tempdir()?;
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nbody_limit_bytes = 67108864\n[storage]\ndata_dir = \"./data\"\n{storage}\n"
            ),
        )?;
        std::fs::write(dir.path().join("inv.yaml"), inventory)?;
        let run = |args: &[&str]| -> anyhow::Result<String> {
            let o = Command::new(&bin).args(args).arg("--config").arg(&cfg).output()?;
            anyhow::ensure!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        run(&["inventory", "import", dir.path().join("inv.yaml").to_str().unwrap_or_default()])?;
        let admin = run(&["token", "create", "--role", "admin"])?;
        let mut child = Command::new(&bin)
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("COLOMETER_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let url = wait_for_line(&mut child, "colometer listening on ")?;
        Ok(Self { child, url, admin, _dir: dir })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
