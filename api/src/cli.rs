//! The `colometer` subcommands. Each returns `anyhow::Result`; `main` turns an error into one
//! line on stderr (`colometer: what failed: why`) and an exit status. Every command prints its
//! result through `outln!`, so output into a closed pipe ends it quietly.
//!
//! Exit statuses (also in README.md):
//! - `0`: done; also when stdout's reader went away (`colometer inventory export | head`);
//! - `1`: failed (the line on stderr says why);
//! - `2`: the command line is wrong (clap's usage message);
//! - `3`: an inventory document has problems (each printed on stderr with its path);
//! - [`bill::DIFFERENCE_EXIT`]: `bill compare` found differences;
//! - [`reconcile::FINDINGS_EXIT`]: `reconcile --fail-on-findings` found something.

// First, so that its `outln!` and `out!` are in scope in every command below.
#[macro_use]
pub mod output;

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
