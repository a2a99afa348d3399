//! `colometer demo`: the embedded default. Starts the built-in SNMP simulator on a loopback
//! port, loads the demo inventory (`deploy/demo.yaml`: its PDUs and switches are the
//! simulator's) into a data directory, creates an admin and a customer token, prints them with
//! the URL, and serves: collectors, store, API and portal in one process.
//!
//! On the first start (an empty data directory), once the server listens, the outlets and ports
//! the demo's services bill get their history backfilled from the simulator's own model, every
//! 30 seconds (3 poll intervals: still measured, not a gap) from two days before the previous
//! month to now, and then the previous month is billed through the API: within about a minute
//! the portal has two months of graphs and a draft invoice per customer. The rest of the
//! fleet has history from the demo's start (backfilling every port and outlet for two months
//! would write ~16M readings before the first page shows). A later start reuses the directory:
//! the time it was stopped is a real gap.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use std::collections::HashSet;

use chrono::Datelike;
use clap::Args;
use collectors::simulator::{self, Simulator, backfill};
use engine::access::{self, Role};
use engine::catalog::{Catalog, SqliteCatalog};
use engine::clock::{Clock, SystemClock};
use engine::domain::ResourceRef;
use engine::id::CustomerId;
use engine::inventory::Inventory;
use engine::inventory::{document, import, source};
use engine::period::BillingPeriod;
use engine::store::Store;
use engine::time::Timestamp;
use figment::value::magic::RelativePathBuf;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The demo inventory; `SIM_PORT` stands for the simulator's UDP port, `PREV_MONTH` for the
/// month before the current one.
pub const DEMO_INVENTORY: &str = include_str!("../../../deploy/demo.yaml");

/// Simulated devices the demo inventory uses.
const DEMO_PDUS: u32 = 24;
/// Simulated switches the demo inventory uses.
const DEMO_SWITCHES: u32 = 8;
/// Backfilled history's sampling step: 3 × the demo's 10 s poll interval, the longest step the
/// metering rules still integrate as measured (a longer one would be a gap, estimated).
const BACKFILL_STEP_MS: u64 = 30_000;

/// The demo's customer.
pub const DEMO_CUSTOMER: &str = "acme";

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory (created if missing; reused if present).
    #[arg(long, default_value = "./colometer-demo")]
    pub data: PathBuf,
}

/// Runs the demo until SIGTERM or SIGINT.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut cfg = Config::default();
    cfg.server.listen = args.listen;
    cfg.storage.data_dir = RelativePathBuf::from(args.data.clone());
    let mut catalog = SqliteCatalog::open(&args.data)?;
    let generation = catalog.generation()?;
    let current = catalog.inventory()?;
    let sim = Simulator::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        simulator::fleet(DEMO_PDUS, DEMO_SWITCHES, 1),
        Arc::new(SystemClock),
    )
    .await?;
    let sim_addr = sim.local_addr()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(sim.run(1, shutdown.clone()));
    let now = SystemClock.now();
    let previous = previous_month(now)?;
    let doc =
        DEMO_INVENTORY.replace("SIM_PORT", &sim_addr.port().to_string()).replace("PREV_MONTH", &previous.to_string());
    let tree = source::parse_yaml(&doc).map_err(anyhow::Error::msg)?;
    let plan = import::plan(&current, document::read(&tree)).map_err(|e| match e {
        import::ImportError::Invalid(p) => anyhow::anyhow!("demo inventory invalid: {p:?}"),
    })?;
    let first_start = current.customers.is_empty();
    catalog.apply(&plan, generation, "demo", now)?;
    let store = super::serve::open_store(&cfg)?;
    // The first start fills history in the background once the server listens.
    let history = if first_start { Some((catalog.inventory()?, Arc::clone(&store))) } else { None };
    let admin = access::generate(Role::Admin, Some("demo admin".into()), now)?;
    let customer =
        access::generate(Role::Customer(CustomerId::new(DEMO_CUSTOMER)?), Some("demo customer".into()), now)?;
    catalog.insert_token(&admin.record)?;
    catalog.insert_token(&customer.record)?;
    let (admin, customer) = (admin.secret, customer.secret);
    let token = admin.clone();
    super::serve::run_on(cfg, Box::new(catalog), store, shutdown, move |url| {
        // A server's banner: a closed stdout must not stop the server, so a failed write is
        // ignored (the log on stderr says the same).
        outln!().ok();
        outln!("colometer demo is running (data in {})", args.data.display()).ok();
        outln!("  API:             {url}/api/v1/whoami").ok();
        outln!("  health:          {url}/healthz").ok();
        outln!("  simulator:       udp://{sim_addr} ({DEMO_SWITCHES} switches, {DEMO_PDUS} PDUs, polled every 10 s)")
            .ok();
        outln!("  devices:         curl -H 'Authorization: Bearer {admin}' {url}/api/v1/devices/sw-0001").ok();
        outln!("  admin token:     {admin}").ok();
        outln!("  customer token:  {customer}   (customer '{DEMO_CUSTOMER}')").ok();
        outln!("  try:             curl -H 'Authorization: Bearer {customer}' {url}/api/v1/whoami").ok();
        outln!("  portal:          {url}/portal  (log in with a token above)").ok();
        outln!("Stop with Ctrl-C.").ok();
        if let Some((inventory, store)) = history {
            outln!("Backfilling {previous} and this month so far; the draft invoices follow (about a minute).").ok();
            tokio::spawn(fill_history(url.to_owned(), token, store, inventory, previous, now));
        }
    })
    .await
}

/// The UTC month before the one holding `now`.
fn previous_month(now: Timestamp) -> anyhow::Result<BillingPeriod> {
    let d = now.to_datetime().date_naive();
    let (y, m) = if d.month() == 1 { (d.year() - 1, 12) } else { (d.year(), d.month() - 1) };
    Ok(BillingPeriod::parse(&format!("{y:04}-{m:02}"))?)
}

/// Writes the simulator's readings of every outlet and port the inventory's services hold, every
/// [`BACKFILL_STEP_MS`] from two days before `month` (customers bill in their own timezone) to
/// `now`. Returns the readings written.
fn backfill(store: &Store, inventory: &Inventory, month: &BillingPeriod, now: Timestamp) -> anyhow::Result<u64> {
    let wanted: HashSet<(String, String)> = inventory
        .services
        .values()
        .flat_map(|s| s.resources.iter())
        .filter_map(|a| match &a.resource {
            ResourceRef::Outlet(o) => Some((o.pdu.to_string(), o.index.to_string())),
            ResourceRef::Port(p) => Some((p.switch.to_string(), p.name.to_string())),
            _ => None,
        })
        .collect();
    let history = backfill::Backfill::new(&simulator::fleet(DEMO_PDUS, DEMO_SWITCHES, 1), |d, r| {
        wanted.contains(&(d.to_owned(), r.to_owned()))
    });
    let from = month.interval(chrono_tz::UTC)?.from.as_nanos() / 1_000_000 - 2 * 86_400_000;
    let to = now.as_nanos() / 1_000_000;
    let mut rows = 0u64;
    let mut batch = Vec::new();
    for t in backfill::times(u64::try_from(from)?, u64::try_from(to)?, BACKFILL_STEP_MS) {
        history.readings_at(t, &mut batch);
        if batch.len() >= 100_000 {
            rows += batch.len() as u64;
            store.write(std::mem::take(&mut batch))?;
        }
    }
    rows += batch.len() as u64;
    if !batch.is_empty() {
        store.write(batch)?;
    }
    // Into day segments now rather than at the next maintenance tick: two months of hourly
    // segments make the first month's queries seconds slower until they are merged.
    store.checkpoint()?;
    store.maintain()?;
    Ok(rows)
}

/// Backfills (off the async threads: the store's writes wait for their fsync), then bills.
async fn fill_history(
    url: String,
    token: String,
    store: Arc<Store>,
    inventory: Inventory,
    month: BillingPeriod,
    now: Timestamp,
) {
    match tokio::task::spawn_blocking(move || backfill(&store, &inventory, &month, now)).await {
        Ok(Ok(rows)) => tracing::info!(rows, "demo history backfilled"),
        Ok(Err(e)) => return tracing::error!(error = %e, "the demo's backfill failed"),
        Err(e) => return tracing::error!(error = %e, "the demo's backfill task failed"),
    }
    bill_previous_month(url, token, month.to_string()).await;
}

/// Bills `period` through the server's own API, as an operator would, and says what it made.
async fn bill_previous_month(url: String, token: String, period: String) {
    let res = reqwest::Client::new()
        .post(format!("{url}/api/v1/billing-runs"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "period": period }))
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => {
            let n = r.json::<serde_json::Value>().await.ok().and_then(|v| v["invoices"].as_array().map(Vec::len));
            outln!("billed {period}: {} draft invoices (see the portal's invoices)", n.unwrap_or(0)).ok();
        }
        Ok(r) => tracing::warn!(status = %r.status(), %period, "the demo's billing run failed"),
        Err(e) => tracing::warn!(error = %e, %period, "the demo's billing run failed"),
    }
}
