//! `colometer reconcile`: where inventory and billing disagree, as a table or as JSON.

use std::path::Path;

use clap::Args;
use engine::clock::{Clock, SystemClock};
use engine::reconcile::{Finding, reconcile};
use engine::time::Timestamp;

/// Options of `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Reconcile as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
    /// Exit with status 4 when there are findings (for scripts and cron).
    #[arg(long)]
    pub fail_on_findings: bool,
}

/// Exit status of `--fail-on-findings` when something was found.
pub const FINDINGS_EXIT: u8 = 4;

/// Runs reconciliation; returns whether anything was found.
pub fn run(args: ReconcileArgs, config: Option<&Path>) -> anyhow::Result<bool> {
    let (_, catalog) = super::open(config)?;
    let at = match &args.at {
        Some(s) => Timestamp::parse(s)?,
        None => SystemClock.now(),
    };
    let findings = reconcile(&catalog.inventory()?, at);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({"at": at, "findings": findings}))?)?;
    } else {
        out!("{}", table(&findings))?;
    }
    Ok(!findings.is_empty())
}

/// The findings as an aligned text table.
pub fn table(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings\n".into();
    }
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            let check =
                serde_json::to_value(f.check).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            [
                check,
                f.subject.clone(),
                f.customer.as_ref().map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                f.detail.clone(),
            ]
        })
        .collect();
    let header = ["CHECK", "SUBJECT", "CUSTOMER", "DETAIL"].map(str::to_owned);
    let widths: Vec<usize> =
        (0..3).map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in [&header].into_iter().chain(rows.iter()) {
        out += &format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    out
}
