//! `colometer demo`: the embedded default. Loads the demo inventory into a data directory,
//! creates an admin and a customer token, prints them with the URL, and serves.
//!
//! Today the demo is the foundation only: inventory, tokens and the API's health and identity
//! routes. The simulated fleet, collectors, store and portal join as those issues land.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use engine::access::{self, Role};
use engine::catalog::{Catalog, SqliteCatalog};
use engine::clock::{Clock, SystemClock};
use engine::id::CustomerId;
use engine::inventory::{document, import, source};
use figment::value::magic::RelativePathBuf;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The demo inventory (today: the contract's example document).
pub const DEMO_INVENTORY: &str = include_str!("../../../deploy/inventory.example.yaml");

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
    let tree = source::parse_yaml(DEMO_INVENTORY).map_err(anyhow::Error::msg)?;
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
    super::serve::run_with(cfg, catalog, CancellationToken::new(), move |url| {
        println!();
        println!("colometer demo is running (data in {})", args.data.display());
        println!("  API:             {url}/api/v1/whoami");
        println!("  health:          {url}/healthz");
        println!("  admin token:     {admin}");
        println!("  customer token:  {customer}   (customer '{DEMO_CUSTOMER}')");
        println!("  try:             curl -H 'Authorization: Bearer {customer}' {url}/api/v1/whoami");
        println!("Stop with Ctrl-C.");
    })
    .await
}
