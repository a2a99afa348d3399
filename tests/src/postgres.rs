//! A throwaway PostgreSQL server (Debian's binaries) on a Unix socket in a temporary directory
//! and on a free loopback TCP port, for tests that compare colometer with PostgreSQL and for the
//! PostgreSQL catalog's tests. Stopped (by `pg_ctl`, which signals the postmaster's PID) when
//! dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running server.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    port: u16,
    /// Extra server options (`-F`: no fsync, for tests).
    options: String,
}

/// A free loopback TCP port (bound, then released for the server to take).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Whether tests must not skip for a missing server (CI).
pub fn required() -> bool {
    std::env::var("COLOMETER_REQUIRE_FIXTURES").is_ok_and(|v| v == "1")
}

/// Starts a server for a test, or says why not: `None` (after printing the reason) when
/// PostgreSQL cannot run here and fixtures are not required; a panic when they are.
pub fn for_test(test: &str) -> Option<Postgres> {
    started_for(test, "PostgreSQL", Postgres::start())
}

/// `started` for `test`: the server, or `None` after saying why `what` cannot run here; a panic
/// instead when fixtures are required (CI).
pub fn started_for<T>(test: &str, what: &str, started: Result<T, String>) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(e) if required() => panic!("{test}: {what} is required (COLOMETER_REQUIRE_FIXTURES=1): {e}"),
        Err(e) => {
            eprintln!("{test}: skipped: {e}");
            None
        }
    }
}

/// Where Debian's server binaries are: `initdb`'s directory on `PATH` (symlinks followed), else
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("initdb").exists() && d.join("pg_ctl").exists() {
                // A symlink on PATH (`/usr/local/bin/initdb`) stands for the real directory,
                // which has the other tools (pg_basebackup, psql) too.
                let real = std::fs::canonicalize(d.join("initdb")).ok();
                return Some(real.and_then(|r| r.parent().map(Path::to_path_buf)).unwrap_or(d));
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// Starts a server for tests (no fsync: a test's data need not survive the machine); `Err`
    /// says why it cannot (no binaries, no `postgres` user as root).
    pub fn start() -> Result<Self, String> {
        Self::start_with("-F")
    }

    /// Starts a server that fsyncs its commits, as a production one does (benchmarks).
    pub fn start_durable() -> Result<Self, String> {
        Self::start_with("")
    }

    /// Starts a server with extra `postgres` options (`-F`, `-c name=value` …).
    pub fn start_with(options: &str) -> Result<Self, String> {
        let bin = bin_dir().ok_or("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // initdb refuses to run as root: run the server as Debian's `postgres` user then.
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown").arg("postgres").arg(dir.path()).status().is_ok_and(|s| s.success());
            if !ok {
                return Err("running as root and cannot hand a directory to the postgres user".into());
            }
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700));
        }
        let port = free_port()?;
        let mut pg = Self { dir, bin, as_postgres, port, options: options.to_owned() };
        let data = pg.dir.path().join("data");
        pg.run("initdb", &["-D", &data.to_string_lossy(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])?;
        pg.start_on_a_free_port()?;
        Ok(pg)
    }

    /// A streaming replica of this server (`pg_basebackup -R` over loopback TCP), started on a
    /// free port with this server's options; the database's contents at the copy come along.
    pub fn standby(&self) -> Result<Postgres, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if self.as_postgres {
            let ok = Command::new("chown").arg("postgres").arg(dir.path()).status().is_ok_and(|s| s.success());
            if !ok {
                return Err("cannot hand a directory to the postgres user".into());
            }
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700));
        }
        let mut standby = Self {
            dir,
            bin: self.bin.clone(),
            as_postgres: self.as_postgres,
            port: free_port()?,
            options: self.options.clone(),
        };
        let data = standby.dir.path().join("data");
        let port = self.port.to_string();
        standby.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data.to_string_lossy(),
                "-R",
                "-X",
                "stream",
                // An immediate checkpoint: a spread one makes the copy wait minutes.
                "-c",
                "fast",
            ],
        )?;
        standby.start_on_a_free_port()?;
        Ok(standby)
    }

    /// Makes TCP logins check passwords (`scram-sha-256`; the Unix socket stays `trust` for the
    /// tests' own psql) and creates `role` with `password`.
    pub fn require_passwords(&self, role: &str, password: &str) -> Result<(), String> {
        let hba = self.dir.path().join("data/pg_hba.conf");
        std::fs::write(&hba, "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
            .map_err(|e| format!("{}: {e}", hba.display()))?;
        self.psql(&format!("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'"), "")?;
        self.psql("SELECT pg_reload_conf()", "").map(drop)
    }

    /// Serves TLS (`ssl = on`) with a certificate for `127.0.0.1` and `localhost` signed by a
    /// throwaway CA (openssl); returns the CA's certificate, the root a client must trust.
    pub fn enable_tls(&self) -> Result<PathBuf, String> {
        let data = self.dir.path().join("data");
        let at = |name: &str| data.join(name).to_string_lossy().into_owned();
        let ext = data.join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl").args(args).output().map_err(|e| format!("openssl: {e}"))?;
            if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
        };
        let (ca_key, ca_crt, key, csr, crt) =
            (at("ca.key"), at("ca.crt"), at("server.key"), at("server.csr"), at("server.crt"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=colometer test CA",
            "-keyout",
            &ca_key,
            "-out",
            &ca_crt,
        ])?;
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", &key, "-out", &csr])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &ext.to_string_lossy(),
        ])?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
        if self.as_postgres {
            let ok = Command::new("chown").args(["postgres", &key, &crt]).status().is_ok_and(|s| s.success());
            if !ok {
                return Err("cannot hand the key to the postgres user".into());
            }
        }
        self.psql("ALTER SYSTEM SET ssl = on", "")?;
        self.psql("SELECT pg_reload_conf()", "")?;
        Ok(PathBuf::from(ca_crt))
    }

    /// Promotes a standby to primary (`pg_ctl promote`, waiting until it accepts writes).
    pub fn promote(&self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-w", "promote"]).map(drop)
    }

    /// Kills the server as a lost machine would lose it: the postmaster frozen, every process of
    /// it SIGKILLed (no shutdown, no checkpoint, no goodbye to clients or standbys).
    pub fn kill(&self) -> Result<(), String> {
        let pidfile = self.dir.path().join("data/postmaster.pid");
        let text = std::fs::read_to_string(&pidfile).map_err(|e| format!("{}: {e}", pidfile.display()))?;
        let pid = text.lines().next().map(str::trim).filter(|p| !p.is_empty()).ok_or("no PID")?.to_owned();
        let signal = |args: &[&str]| Command::new(args[0]).args(&args[1..]).status().map_err(|e| e.to_string());
        signal(&["kill", "-STOP", &pid])?;
        signal(&["pkill", "-KILL", "-P", &pid])?;
        signal(&["kill", "-KILL", &pid])?;
        Ok(())
    }

    /// Starts the server; another test's server may take the free port between its release and
    /// this start: then it tries another (three tries).
    fn start_on_a_free_port(&mut self) -> Result<(), String> {
        let mut tries = 0;
        while let Err(e) = self.restart() {
            tries += 1;
            if tries == 3 {
                return Err(e);
            }
            self.port = free_port()?;
        }
        Ok(())
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: as a crash, no checkpoint).
    pub fn stop_now(&self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]).map(drop)
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        let opts =
            format!("-k {} -c listen_addresses=127.0.0.1 -p {} {}", self.dir.path().display(), self.port, self.options);
        let log = self.dir.path().join("log");
        self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-o", &opts, "-l", &log.to_string_lossy(), "-w", "start"])
            .map(drop)
    }

    /// The loopback TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `postgres://` URL of database `db` over loopback TCP.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_db(&self, db: &str) -> Result<String, String> {
        self.psql(&format!("CREATE DATABASE \"{db}\""), "")?;
        Ok(self.url(db))
    }

    /// Runs `sql` in database `db` with `psql -At`; `Err` carries the server's message.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, String> {
        self.psql_with(db, sql, "")
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        let out = self.command(&self.bin.join(tool)).args(args).output().map_err(|e| format!("{tool}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `sql` with `psql -At` (unaligned, tuples only) in database `postgres`, feeding
    /// `stdin` (for `\copy`).
    pub fn psql(&self, sql: &str, stdin: &str) -> Result<String, String> {
        self.psql_with("postgres", sql, stdin).map_err(|e| format!("psql failed: {e}"))
    }

    fn psql_with(&self, db: &str, sql: &str, stdin: &str) -> Result<String, String> {
        use std::io::Write;
        let psql = self.bin.join("psql");
        let psql = if psql.exists() { psql } else { PathBuf::from("psql") };
        let mut child = self
            .command(&psql)
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-c", sql])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("psql: {e}"))?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(stdin.as_bytes()).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]);
    }
}
