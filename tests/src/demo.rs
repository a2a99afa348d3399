//! A running `colometer demo` (the README's first command) for end-to-end tests: its URL and
//! tokens as it printed them, the rest of its output line by line, stopped with SIGTERM on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A demo process.
pub struct Demo {
    child: Child,
    lines: Receiver<String>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin token it printed.
    pub admin: String,
    /// The customer token it printed (customer `acme`).
    pub customer: String,
}

impl Demo {
    /// Starts `colometer demo --listen 127.0.0.1:0 --data DATA` and reads its URL and tokens.
    pub fn start(data: &Path) -> Self {
        let mut child = Command::new(crate::bin())
            .args(["demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start colometer demo: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("demo has no stdout"));
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut demo = Self { child, lines, url: String::new(), admin: String::new(), customer: String::new() };
        while demo.customer.is_empty() {
            let line = demo.next_line(Duration::from_secs(120), "the customer token");
            if let Some(u) = line.strip_prefix("colometer listening on ") {
                demo.url = u.to_owned();
            }
            if let Some(t) = line.trim().strip_prefix("admin token:") {
                demo.admin = t.trim().to_owned();
            }
            if let Some(t) = line.trim().strip_prefix("customer token:") {
                demo.customer = t.split_whitespace().next().unwrap_or_default().to_owned();
            }
        }
        assert!(!demo.url.is_empty() && !demo.admin.is_empty(), "demo printed no URL or admin token");
        demo
    }

    fn next_line(&self, within: Duration, what: &str) -> String {
        self.lines.recv_timeout(within).unwrap_or_else(|_| panic!("colometer demo printed no {what} within {within:?}"))
    }

    /// Waits for a printed line starting with `prefix` and returns it.
    pub fn wait_for(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left, prefix);
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Stops it with SIGTERM and waits (at most `limit`); the exit status, if it stopped.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        crate::sigterm(&mut self.child, limit)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.terminate(Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
