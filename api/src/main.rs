//! The `colometer` binary: subcommands only; each lives in `api::cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use api::cli::{
    self, demo::DemoArgs, inventory::InventoryCommand, reconcile::ReconcileArgs, simulate::SimulateArgs,
    token::TokenCommand,
};
use api::logging::{self, LogFormat};
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: ingest allocates per reading, and glibc's malloc and
/// free took about a fifth of its CPU under load (perf, 1M series).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Metering and billing for colocation and hosting operators.
#[derive(Debug, Parser)]
#[command(
    name = "colometer",
    version,
    about = "Metering and billing for colocation and hosting operators",
    propagate_version = true
)]
struct Cli {
    /// The TOML configuration file (default: built-in defaults).
    #[arg(long, global = true, env = "COLOMETER_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything in one process on a demo inventory and print the URL and tokens.
    Demo(DemoArgs),
    /// Run the production server.
    Serve,
    /// Run the SNMP fleet simulator alone (community string = device id).
    Simulate(SimulateArgs),
    /// Import or export the inventory.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Billing: rate a period into draft invoices, or compare with the system being replaced.
    #[command(subcommand)]
    Bill(cli::bill::BillCommand),
    /// The catalog database: copy the embedded one into PostgreSQL.
    #[command(subcommand)]
    Catalog(cli::catalog::CatalogCommand),
    /// Report services without resources, customer resources without a service, devices without
    /// a rack or site.
    Reconcile(ReconcileArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running commands log their progress; one-shot commands only warnings, so that their
    // output is the result alone.
    let long_running = matches!(cli.command, Command::Demo(_) | Command::Serve | Command::Simulate(_));
    logging::init(cli.log_format, if long_running { "info" } else { "warn" });
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Demo(args) => runtime().and_then(|rt| rt.block_on(cli::demo::run(args))).map(|()| ExitCode::SUCCESS),
        Command::Serve => runtime().and_then(|rt| rt.block_on(cli::serve::run(config))).map(|()| ExitCode::SUCCESS),
        Command::Simulate(args) => {
            runtime().and_then(|rt| rt.block_on(cli::simulate::run(args))).map(|()| ExitCode::SUCCESS)
        }
        Command::Inventory(cmd) => cli::inventory::run(cmd, config).map(|()| ExitCode::SUCCESS),
        Command::Token(cmd) => cli::token::run(cmd, config).map(|()| ExitCode::SUCCESS),
        Command::Catalog(cmd) => cli::catalog::run(cmd, config).map(|()| ExitCode::SUCCESS),
        Command::Bill(cmd) => cli::bill::run(cmd, config)
            .map(|differs| if differs { ExitCode::from(cli::bill::DIFFERENCE_EXIT) } else { ExitCode::SUCCESS }),
        Command::Reconcile(args) => {
            let fail = args.fail_on_findings;
            cli::reconcile::run(args, config).map(|found| {
                if found && fail { ExitCode::from(cli::reconcile::FINDINGS_EXIT) } else { ExitCode::SUCCESS }
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) if cli::output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("colometer: {}", format!("{e:#}").replace('\n', " "));
            if e.downcast_ref::<cli::InvalidInventory>().is_some() { ExitCode::from(3) } else { ExitCode::FAILURE }
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("colometer-io").build()?)
}
