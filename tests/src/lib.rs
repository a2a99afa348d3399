//! Helpers for colometer's end-to-end tests: the real `colometer` binary in a fresh data
//! directory, and the repository's shipped files.

pub mod demo;
pub mod nats;
pub mod postgres;
pub mod seaweed;
pub mod snmpsim;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A tool `scripts/test-deps` installs in the venv `venv` under `$COLOMETER_TOOLS` (default
/// `/var/tmp/colometer-tools`), else `name` on `PATH`.
pub fn installed_tool(venv: &str, name: &str) -> Option<PathBuf> {
    let tools =
        std::env::var_os("COLOMETER_TOOLS").map_or_else(|| PathBuf::from("/var/tmp/colometer-tools"), PathBuf::from);
    let in_venv = tools.join(venv).join("bin").join(name);
    if in_venv.exists() {
        return Some(in_venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.exists())
}

/// The repository root: from `CARGO_MANIFEST_DIR` as cargo sets it when running the tests, not as
/// it was when they were compiled. Cargo does not hash a workspace member's path into its
/// artifacts, so clones at other paths sharing a target directory can run a test binary compiled
/// elsewhere; the runtime value keeps the tests (and the binary they build) on this checkout.
pub fn repo() -> PathBuf {
    let dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The `colometer` binary, built (or found fresh) once per test process. Cargo only builds a
/// package's own binaries for its tests, so this crate asks cargo for them itself, with the same
/// command shape as `scripts/test` (`cargo test --workspace`): the same feature unification, so
/// inside a test run it is a no-op, and run alone it builds exactly what the suite would.
pub fn bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        // <target>/<profile>/deps/<test-exe>
        let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
        let target_dir = profile_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["test", "--workspace", "--no-run", "--quiet"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(repo());
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo to build colometer: {e}"));
        assert!(status.success(), "building colometer failed");
        profile_dir.join("colometer")
    })
    .clone()
}

/// A scratch directory with a config file whose data directory is inside it.
pub struct Scratch {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// A new scratch directory with `config.toml` (`listen` on port 0, `data_dir = "./data"`).
    pub fn new() -> Self {
        Self::with_config("", "")
    }

    /// Like [`Scratch::new`], with extra lines in `[server]` and `[storage]`.
    pub fn with_config(server: &str, storage: &str) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let cfg =
            format!("[server]\nlisten = \"127.0.0.1:0\"\n{server}\n[storage]\ndata_dir = \"./data\"\n{storage}\n");
        std::fs::write(dir.path().join("config.toml"), cfg).unwrap_or_else(|e| panic!("config: {e}"));
        Self { dir }
    }

    /// Like [`Scratch::new`], with the catalog in the PostgreSQL database at `url` (`[catalog]
    /// url`) and a 10 s request timeout.
    pub fn on_catalog(url: &str) -> Self {
        let s = Self::with_config("request_timeout = \"10s\"", "");
        let cfg = std::fs::read_to_string(s.config()).unwrap_or_else(|e| panic!("config: {e}"))
            + &format!("[catalog]\nurl = \"{url}\"\n");
        std::fs::write(s.config(), cfg).unwrap_or_else(|e| panic!("config: {e}"));
        s
    }

    /// Imports an inventory document given as YAML text; panics if it is refused.
    pub fn import(&self, yaml: &str) {
        let path = self.path("inventory.yaml");
        std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("write inventory: {e}"));
        let out = self.run(&["inventory", "import", path.to_str().unwrap_or_default()]);
        assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Creates a token and returns its secret.
    pub fn token(&self, role: &str, customer: Option<&str>) -> String {
        let mut args = vec!["token", "create", "--role", role];
        if let Some(c) = customer {
            args.extend(["--customer", c]);
        }
        let out = self.run(&args);
        assert!(out.status.success(), "token create failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// `colometer ARGS --config config.toml`, run from another directory (to prove paths are
    /// relative to the config file), with `COLOMETER_*` cleared.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).arg("--config").arg(self.config()).current_dir(std::env::temp_dir());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("COLOMETER_") || k == "RUST_LOG") {
            cmd.env_remove(k);
        }
        cmd
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap_or_else(|e| panic!("running colometer {args:?}: {e}"))
    }

    /// Every row of every catalog table, as text: equal dumps mean an unchanged catalog.
    pub fn catalog_dump(&self) -> String {
        let path = self.path("data/catalog.db");
        let conn = rusqlite::Connection::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut out = String::new();
        for table in ["objects", "assignments", "imports", "tokens", "audit_log", "invoices"] {
            let mut stmt =
                conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2")).unwrap_or_else(|e| panic!("{e}"));
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap_or_else(|e| panic!("{e}"));
            while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{e}")) {
                let cells: Vec<String> =
                    (0..n).map(|i| format!("{:?}", row.get_ref(i).map(|v| format!("{v:?}")))).collect();
                out += &format!("{table}: {}\n", cells.join(" | "));
            }
        }
        out
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether tests that need something this machine may lack (a fixture, root) must fail rather
/// than skip: CI sets `COLOMETER_REQUIRE_FIXTURES=1`.
pub fn required() -> bool {
    std::env::var("COLOMETER_REQUIRE_FIXTURES").is_ok_and(|v| v == "1")
}

/// Skips (returns `false` after saying why) or, when [`required`], fails.
pub fn skip_or_fail(why: &str) -> bool {
    assert!(!required(), "COLOMETER_REQUIRE_FIXTURES=1 but {why}");
    eprintln!("SKIPPED: {why}");
    false
}

/// A running `colometer serve` (killed on drop if still running).
pub struct Server {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Server {
    /// Starts `colometer serve` and waits until it prints its address.
    pub fn start(scratch: &Scratch, extra: &[&str]) -> Self {
        Self::start_env(scratch, extra, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_env(scratch: &Scratch, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut cmd = scratch.command(&args);
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .env("COLOMETER_LOG", std::env::var("COLOMETER_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn serve: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("colometer listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("server did not start: {e}"));
        Self { child, url }
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        sigterm(&mut self.child, limit)
    }
}

/// `GET url` with a bearer token: the JSON body (a test helper: panics on any failure).
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let resp = http.get(url).bearer_auth(token).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    resp.json().await.unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// Sends SIGTERM to `child` and waits (at most `limit`) for its exit status.
pub fn sigterm(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 2026-10-15T10:59:00Z.
const EXAMPLE_START_S: i64 = 1_792_061_940;

/// `deploy/inventory.example.yaml` with a second customer, `globex`, who holds nothing (the other
/// customer of the isolation checks).
pub fn example_inventory_with_globex() -> String {
    let inv = std::fs::read_to_string(repo().join("deploy/inventory.example.yaml"))
        .unwrap_or_else(|e| panic!("deploy/inventory.example.yaml: {e}"));
    inv.replacen(
        "customers:\n",
        "customers:\n  - {id: globex, name: Globex, currency: EUR, billing_timezone: UTC, tax_rate: \"0.21\"}\n",
        1,
    )
}

/// Line protocol for `deploy/inventory.example.yaml`'s devices, every 10 s for 2 h 2 min from
/// 2026-10-15T10:59:00Z: outlet `pdu-101a/1` +1 Wh per 10 s (360 W) from 5,000 Wh, port
/// `sw-core1/Gi1/0/1` 1,000 B/s in and 2,000 B/s out, uptime rising.
pub fn example_lines() -> String {
    let mut out = String::new();
    for k in 0..=732i64 {
        let ts = (EXAMPLE_START_S + k * 10) * 1_000_000_000;
        out.push_str(&format!("outlet,device=pdu-101a,outlet=1 energy_wh={} {ts}\n", 5_000 + k));
        out.push_str(&format!(
            "port_counters,device=sw-core1,port=Gi1/0/1 in_octets={}u,out_octets={}u,uptime_s={}u {ts}\n",
            1_000_000 + k * 10_000,
            9_000_000 + k * 20_000,
            500_000 + k * 10
        ));
    }
    out
}
