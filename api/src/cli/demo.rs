//! `colometer demo`: the embedded default. Starts the built-in SNMP simulator on a loopback
//! port, loads the demo inventory (`deploy/demo.yaml`: its PDUs and switches are the
//! simulator's) into a data directory, creates an admin and a customer token, prints them with
//! the URL, and serves: collectors, store and API in one process. (The portal and a backfilled
//! month of history come with their issue.)

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use clap::Args;
use collectors::simulator::{self, Simulator};
use engine::access::{self, Role};
use engine::catalog::{Catalog, SqliteCatalog};
use engine::clock::{Clock, SystemClock};
use engine::id::CustomerId;
use engine::inventory::{document, import, source};
use figment::value::magic::RelativePathBuf;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The demo inventory; `SIM_PORT` stands for the simulator's UDP port.
pub const DEMO_INVENTORY: &str = include_str!("../../../deploy/demo.yaml");

/// Simulated devices the demo inventory uses.
const DEMO_PDUS: u32 = 8;
/// Simulated switches the demo inventory uses.
const DEMO_SWITCHES: u32 = 4;

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
    let doc = DEMO_INVENTORY.replace("SIM_PORT", &sim_addr.port().to_string());
    let tree = source::parse_yaml(&doc).map_err(anyhow::Error::msg)?;
    let plan = import::plan(&current, document::read(&tree)).map_err(|e| match e {
        import::ImportError::Invalid(p) => anyhow::anyhow!("demo inventory invalid: {p:?}"),
    })?;
    let now = SystemClock.now();
    catalog.apply(&plan, generation, "demo", now)?;
    let admin = access::generate(Role::Admin, Some("demo admin".into()), now)?;
    let customer =
        access::generate(Role::Customer(CustomerId::new(DEMO_CUSTOMER)?), Some("demo customer".into()), now)?;
    catalog.insert_token(&admin.record)?;
    catalog.insert_token(&customer.record)?;
    let (admin, customer) = (admin.secret, customer.secret);
    super::serve::run_with(cfg, catalog, shutdown, move |url| {
        println!();
        println!("colometer demo is running (data in {})", args.data.display());
        println!("  API:             {url}/api/v1/whoami");
        println!("  health:          {url}/healthz");
        println!("  simulator:       udp://{sim_addr} ({DEMO_SWITCHES} switches, {DEMO_PDUS} PDUs, polled every 10 s)");
        println!("  devices:         curl -H 'Authorization: Bearer {admin}' {url}/api/v1/devices/sw-0001");
        println!("  admin token:     {admin}");
        println!("  customer token:  {customer}   (customer '{DEMO_CUSTOMER}')");
        println!("  try:             curl -H 'Authorization: Bearer {customer}' {url}/api/v1/whoami");
        println!("Stop with Ctrl-C.");
    })
    .await
}
