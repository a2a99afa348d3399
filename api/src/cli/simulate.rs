//! `colometer simulate --pdus N --switches M --listen ADDR [--seed S]`: the SNMP fleet simulator
//! alone (community string = device id: `sw-0001`…, `pdu-0001`…).

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use collectors::simulator::{self, Simulator};
use engine::clock::SystemClock;
use tokio_util::sync::CancellationToken;

use crate::server::cancel_on_signals;

/// Options of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Simulated PDUs (Raritan PX, 24 outlets each).
    #[arg(long, default_value_t = 10)]
    pub pdus: u32,
    /// Simulated switches (IF-MIB, 48 ports each).
    #[arg(long, default_value_t = 4)]
    pub switches: u32,
    /// UDP address to answer on.
    #[arg(long, default_value = "127.0.0.1:1161")]
    pub listen: SocketAddr,
    /// Seed of the traffic and power profiles (same seed, same numbers).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Tasks answering requests (default: one per CPU).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Runs the simulator until SIGTERM or SIGINT.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let fleet = simulator::fleet(args.pdus, args.switches, args.seed);
    let sim = Simulator::bind(args.listen, fleet, Arc::new(SystemClock)).await?;
    let addr = sim.local_addr()?;
    outln!(
        "colometer simulator: {} switches (sw-0001…), {} PDUs (pdu-0001…) on udp://{addr}; community = device id",
        args.switches,
        args.pdus
    )?;
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    sim.run(workers, cancel).await;
    Ok(())
}
