//! `colometer bill run --period P` and `colometer bill compare --legacy FILE.csv --period P`.
//!
//! `bill run` rates the period against the store itself when no server has it open (the engine's
//! billing service, as the API's route; no HTTP state is built); when a running server holds the
//! store (its lock), it asks that server instead, with a one-off admin
//! token created for the call and revoked after it (both audited). Either way the result is the
//! same billing run, printed as JSON.

use std::path::Path;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use engine::access::{self, Role};
use engine::billing::{self, OneShot};
use engine::clock::{Clock, SystemClock};
use engine::invoicing::compare::{Comparison, LegacyLine, compare, read_legacy};
use engine::invoicing::invoice::Status;
use engine::invoicing::record::{BillingRun, InvoiceFilter};
use engine::period::BillingPeriod;
use engine::store::StoreError;

use crate::config::Config;

/// Billing subcommands.
#[derive(Debug, Subcommand)]
pub enum BillCommand {
    /// Rate a period and store its draft invoices (idempotent; issued invoices are kept).
    Run(RunArgs),
    /// Compare the period's invoices with the system being replaced, line by line.
    Compare(CompareArgs),
}

/// Options of `bill run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The period, `YYYY-MM` (each customer's month in its billing timezone).
    #[arg(long)]
    pub period: String,
}

/// Options of `bill compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// CSV with the columns customer, description, quantity, amount (before tax).
    #[arg(long)]
    pub legacy: std::path::PathBuf,
    /// The period, `YYYY-MM`.
    #[arg(long)]
    pub period: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 4 when anything differs.
    #[arg(long)]
    pub fail_on_difference: bool,
}

/// Exit status of `--fail-on-difference` when something differs.
pub const DIFFERENCE_EXIT: u8 = 4;

/// Runs a billing subcommand; `Ok(true)` means "differences found" for `compare`.
pub fn run(cmd: BillCommand, config: Option<&Path>) -> anyhow::Result<bool> {
    match cmd {
        BillCommand::Run(args) => {
            let period = BillingPeriod::parse(&args.period)?;
            let cfg = Config::load(config)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("colometer-io").build()?;
            let run = rt.block_on(bill_period(cfg, period))?;
            outln!("{}", serde_json::to_string_pretty(&run)?)?;
            Ok(false)
        }
        BillCommand::Compare(args) => compare_period(&args, config),
    }
}

async fn bill_period(cfg: Config, period: BillingPeriod) -> anyhow::Result<BillingRun> {
    match crate::cli::serve::open_store(&cfg) {
        Ok(store) => {
            // No server holds the store: the engine's billing service over sources built here.
            let catalog = crate::cli::serve::open_catalog(&cfg).await?;
            let (poll_s, archive) = (cfg.collectors.default_interval.interval_s(), cfg.bucket_archive());
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            tokio::task::spawn_blocking(move || -> anyhow::Result<BillingRun> {
                let metering = OneShot::build(&store, catalog.inventory()?, poll_s, archive)?;
                let catalog = std::sync::Mutex::new(catalog);
                let src = metering.sources(&store);
                billing::run_period(&catalog, &src, period, "cli:bill-run", &SystemClock, threads)
                    .map_err(|e| anyhow::anyhow!("billing run failed: {e}"))
            })
            .await?
        }
        Err(e) if e.downcast_ref::<StoreError>().is_some_and(|s| matches!(s, StoreError::InUse(_))) => {
            via_server(&cfg, period).await
        }
        Err(e) => Err(e),
    }
}

/// Asks the running server (it holds the store) with a one-off admin token.
async fn via_server(cfg: &Config, period: BillingPeriod) -> anyhow::Result<BillingRun> {
    // The catalog blocks (PostgreSQL drives its own runtime): off the async workers.
    let mut catalog = crate::cli::serve::open_catalog(cfg).await?;
    let token = access::generate(Role::Admin, Some("cli:bill-run".into()), SystemClock.now())?;
    let record = token.record.clone();
    let mut catalog = tokio::task::spawn_blocking(move || catalog.insert_token(&record).map(|()| catalog)).await??;
    let recorded = std::fs::read_to_string(cfg.data_dir().join(crate::cli::serve::SERVER_URL_FILE)).ok();
    let base = recorded.map_or_else(|| format!("http://{}", cfg.server.listen), |u| u.trim().to_owned());
    let url = format!("{base}/api/v1/billing-runs");
    let result = async {
        let resp = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token.secret)
            .json(&serde_json::json!({"period": period.to_string()}))
            .timeout(cfg.server.request_timeout)
            .send()
            .await
            .with_context(|| format!("the store is in use, and the server at {url} cannot be reached"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("the server answered {status}: {text}");
        }
        Ok(serde_json::from_str::<BillingRun>(&text)?)
    }
    .await;
    let id = token.record.id;
    tokio::task::spawn_blocking(move || catalog.revoke_token(&id, SystemClock.now())).await??;
    result
}

fn compare_period(args: &CompareArgs, config: Option<&Path>) -> anyhow::Result<bool> {
    let period = BillingPeriod::parse(&args.period)?;
    let text = std::fs::read_to_string(&args.legacy).with_context(|| format!("reading {}", args.legacy.display()))?;
    let legacy = read_legacy(&text).with_context(|| args.legacy.display().to_string())?;
    let (_, catalog) = super::open(config)?;
    let _ = catalog.generation()?;
    let mut ours = Vec::new();
    let mut after = None;
    loop {
        let f = InvoiceFilter { period: Some(period), after: after.clone(), limit: 1000, ..Default::default() };
        let (page, next) = catalog.invoices(&f)?;
        for v in page.into_iter().filter(|v| v.status != Status::Void) {
            ours.extend(v.body.lines.into_iter().map(|l| LegacyLine {
                customer: v.body.customer.to_string(),
                description: l.description,
                quantity: l.quantity,
                amount: l.amount.amount(),
            }));
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    if ours.is_empty() {
        bail!("no invoices for {period}: run `colometer bill run --period {period}` first");
    }
    let c = compare(&legacy, &ours);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&c)?)?;
    } else {
        out!("{}", table(&c))?;
    }
    Ok(args.fail_on_difference && c.differing_rows > 0)
}

/// The comparison as an aligned text table.
pub fn table(c: &Comparison) -> String {
    let opt = |d: Option<rust_decimal::Decimal>| d.map_or_else(|| "-".to_owned(), |d| d.normalize().to_string());
    let mut rows: Vec<[String; 7]> = vec![[
        "CUSTOMER".into(),
        "DESCRIPTION".into(),
        "LEGACY QTY".into(),
        "LEGACY AMOUNT".into(),
        "QTY".into(),
        "AMOUNT".into(),
        "DIFFERENCE".into(),
    ]];
    for r in &c.rows {
        let q = r.quantity.map(|q| q.round_dp(6));
        rows.push([
            r.customer.clone(),
            r.description.chars().take(60).collect(),
            opt(r.legacy_quantity),
            opt(r.legacy_amount),
            opt(q),
            opt(r.amount),
            r.difference.to_string(),
        ]);
    }
    for t in &c.customers {
        rows.push([
            t.customer.clone(),
            "total".into(),
            String::new(),
            t.legacy.to_string(),
            String::new(),
            t.colometer.to_string(),
            t.difference.to_string(),
        ]);
    }
    rows.push([
        "ALL".into(),
        "total".into(),
        String::new(),
        c.legacy_total.to_string(),
        String::new(),
        c.colometer_total.to_string(),
        c.difference.to_string(),
    ]);
    let widths: Vec<usize> = (0..7).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, s)| if i >= 2 { format!("{s:>w$}", w = widths[i]) } else { format!("{s:<w$}", w = widths[i]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} line(s) differ\n", c.differing_rows));
    out
}
