//! The `colometer` subcommands. Each returns `anyhow::Result`; `main` turns an error into one
//! line on stderr and an exit status (3 for an invalid inventory, 1 otherwise).

pub mod bill;
pub mod catalog;
pub mod demo;
pub mod inventory;
pub mod reconcile;
pub mod serve;
pub mod simulate;
pub mod token;

use std::path::Path;

use engine::catalog::Backend;

use crate::config::Config;

/// An inventory document had problems (already printed, one per line, on stderr).
#[derive(Debug, thiserror::Error)]
#[error("the inventory has {0} problem(s); nothing was written")]
pub struct InvalidInventory(pub usize);

/// Loads the configuration and opens the catalog it points at.
pub fn open(config: Option<&Path>) -> anyhow::Result<(Config, Box<dyn Backend>)> {
    let cfg = Config::load(config)?;
    let catalog = cfg.open_catalog()?;
    tracing::debug!(catalog = %catalog.describe(), "catalog opened");
    Ok((cfg, catalog))
}
