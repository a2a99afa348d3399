//! `colometer inventory import FILE` and `colometer inventory export`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use engine::catalog::Backend;
use engine::clock::{Clock, SystemClock};
use engine::inventory::{ImportError, ImportSummary, document, import, source};

use super::InvalidInventory;

/// Inventory subcommands.
#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Load or replace inventory from YAML, JSON, a CSV file or a directory of CSV files.
    /// All or nothing: every problem is listed with its path and nothing is written unless the
    /// whole document is valid. Objects are upserted by ID; others are left as they are.
    Import {
        /// The document (.yaml, .yml, .json, .csv) or a directory of CSV files.
        file: PathBuf,
        /// Validate and show what would change, without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the whole inventory as one document.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: ExportFormat,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Runs an inventory subcommand.
pub fn run(cmd: InventoryCommand, config: Option<&Path>) -> anyhow::Result<()> {
    let (_, mut catalog) = super::open(config)?;
    match cmd {
        InventoryCommand::Import { file, dry_run } => {
            let summary = import_file(&mut *catalog, &file, dry_run, &SystemClock)?;
            let verb = if dry_run { "would import" } else { "imported" };
            outln!(
                "{verb} {}: {} created, {} updated, {} unchanged",
                file.display(),
                summary.created,
                summary.updated,
                summary.unchanged
            )?;
            Ok(())
        }
        InventoryCommand::Export { format } => {
            let doc = catalog.inventory()?.to_document();
            let text = match format {
                ExportFormat::Yaml => serde_yaml_ng::to_string(&doc)?,
                ExportFormat::Json => serde_json::to_string_pretty(&doc)? + "\n",
            };
            out!("{text}")?;
            Ok(())
        }
    }
}

/// Reads, validates and (unless `dry_run`) applies one document. Problems are printed on stderr,
/// one per line, with their paths in the source.
pub fn import_file(
    catalog: &mut dyn Backend,
    file: &Path,
    dry_run: bool,
    clock: &dyn Clock,
) -> anyhow::Result<ImportSummary> {
    let src = source::load(file)?;
    let mut doc = document::read(&src.tree);
    doc.problems.splice(0..0, src.problems.iter().cloned());
    let generation = catalog.generation()?;
    let current = catalog.inventory()?;
    match import::plan(&current, doc) {
        Err(ImportError::Invalid(mut problems)) => {
            src.locate_all(&mut problems);
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            Err(InvalidInventory(problems.len()).into())
        }
        Ok(plan) => {
            if !dry_run {
                catalog
                    .apply(&plan, generation, &file.display().to_string(), clock.now())
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            tracing::info!(file = %file.display(), created = plan.summary.created, updated = plan.summary.updated,
                unchanged = plan.summary.unchanged, dry_run, "inventory import");
            Ok(plan.summary)
        }
    }
}
