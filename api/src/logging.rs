//! `tracing` set-up: human-readable by default, JSON lines with `--log-format json`. Logs go to
//! stderr so that stdout carries only a command's result (a token, a table, JSON).

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line, fields as keys.
    Json,
}

/// Installs the global subscriber. The level comes from `COLOMETER_LOG` (or `RUST_LOG`), else
/// `default_level`.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = std::env::var("COLOMETER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
