//! colometer's collectors: async SNMP pollers, device profiles as data files, discovery, the
//! scheduler and its lock-free handoff to the store, self-monitoring, and the built-in fleet
//! simulator (`colometer simulate`).
//!
//! Data flow: [`scheduler`] ticks each device → [`discovery`] (when due) picks a [`profile`] and
//! finds resources → [`poll`] reads every cell over [`snmp`] → readings go through [`handoff`]
//! (bounded crossbeam queue) to one writer thread → the store.

pub mod discovery;
pub mod fleet;
pub mod handoff;
pub mod metrics;
pub mod oid;
pub mod poll;
pub mod poll_error;
pub mod profile;
pub mod scheduler;
pub mod simulator;
pub mod snmp;
pub mod status;
