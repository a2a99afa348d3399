//! colometer's benchmarks. Each bench binary runs a real peer on the same data in the same run and
//! prints the ratio; BENCHMARKS.md records the figures and the command.
//!
//! This library holds what the binaries share: process accounting from `/proc`, and finding or
//! building the release `colometer` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

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
