//! `colometer catalog migrate --to postgres://…`: copies the embedded catalog (`catalog.db` in
//! the data directory) into an empty PostgreSQL database, then prints the rows per table on both
//! sides. Stop `colometer serve` first: the copy reads one consistent state only if nothing
//! writes meanwhile. Afterwards, set `[catalog] url` (or `COLOMETER_CATALOG_URL`) to the target.

use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};
use engine::catalog::{PostgresCatalog, SqliteCatalog};

use crate::config::Config;

/// Catalog subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Copy the embedded catalog into an empty PostgreSQL database.
    Migrate(MigrateArgs),
}

/// Options of `catalog migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The target: `postgres://USER[:PASS]@HOST[:PORT][,HOST2[:PORT2]]/DB?target_session_attrs=read-write`.
    #[arg(long)]
    pub to: String,
}

/// Runs a catalog subcommand.
pub fn run(cmd: CatalogCommand, config: Option<&Path>) -> anyhow::Result<()> {
    match cmd {
        CatalogCommand::Migrate(args) => migrate(&args, config),
    }
}

fn migrate(args: &MigrateArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let file = cfg.data_dir().join(engine::catalog::sqlite::CATALOG_FILE);
    anyhow::ensure!(file.is_file(), "no embedded catalog at {}: nothing to copy", file.display());
    let source = SqliteCatalog::open(&cfg.data_dir())?;
    let mut target = PostgresCatalog::connect(&args.to)?;
    let report = engine::catalog::copy::copy_to_postgres(&source, &mut target)
        .with_context(|| format!("copying {} to {}", file.display(), target.target()))?;
    outln!("copied {} to {}", file.display(), target.target())?;
    outln!("{:<14} {:>10} {:>10}", "TABLE", "SQLITE", "POSTGRES")?;
    for (table, s, d) in &report.tables {
        outln!("{table:<14} {s:>10} {d:>10}")?;
    }
    outln!("audit chain: {} entries, verified on the target", report.audit_entries)?;
    Ok(())
}
