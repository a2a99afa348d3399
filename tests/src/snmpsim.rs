//! A throwaway snmpsim (PyPI) serving the recordings in `../shared/fixtures/snmprec` on a
//! loopback UDP port; the community string is the file name. `scripts/test-deps` installs it in
//! a venv under `$COLOMETER_TOOLS` (default `/var/tmp/colometer-tools`).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The recordings folder, if present.
pub fn recordings() -> Option<PathBuf> {
    let p = crate::repo().join("../shared/fixtures/snmprec");
    p.is_dir().then_some(p)
}

/// snmpsim's responder, if installed.
pub fn responder() -> Option<PathBuf> {
    let tools =
        std::env::var_os("COLOMETER_TOOLS").map_or_else(|| PathBuf::from("/var/tmp/colometer-tools"), PathBuf::from);
    let p = tools.join("snmpsim/bin/snmpsim-command-responder");
    p.is_file().then_some(p)
}

/// A running snmpsim (killed on drop).
pub struct Snmpsim {
    child: Child,
    /// Where it answers.
    pub addr: SocketAddr,
    _dirs: tempfile::TempDir,
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Snmpsim {
    /// Serves a copy of `recordings` (readable by `nobody`, whom snmpsim becomes as root).
    pub fn start(responder: &Path, recordings: &Path) -> Self {
        let dirs =
            tempfile::Builder::new().prefix("colometer-snmpsim").tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let data = dirs.path().join("data");
        let cache = dirs.path().join("cache");
        std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("mkdir: {e}"));
        std::fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("mkdir: {e}"));
        for e in std::fs::read_dir(recordings).unwrap_or_else(|e| panic!("read {}: {e}", recordings.display())) {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            if e.path().extension().is_some_and(|x| x == "snmprec") {
                std::fs::copy(e.path(), data.join(e.file_name())).unwrap_or_else(|e| panic!("copy: {e}"));
            }
        }
        let root = is_root();
        if root {
            let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(dirs.path()).status();
        }
        let port = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).unwrap_or(1161);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(responder);
        cmd.arg(format!("--data-dir={}", data.display()))
            .arg(format!("--agent-udpv4-endpoint={addr}"))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("--logging-method=null")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            cmd.args(["--process-user=nobody", "--process-group=nogroup"]);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start snmpsim: {e}"));
        Self { child, addr, _dirs: dirs }
    }
}
