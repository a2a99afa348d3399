//! Pushed readings: InfluxDB line protocol (`contract.md`) to store-ready readings. No HTTP here:
//! the route hands the body over. A request is all or nothing, so the whole body is parsed and
//! checked before anything is written; the first bad line is reported with its number.

pub mod known;
pub mod line_protocol;

pub use known::KnownResources;
pub use line_protocol::{LineError, Precision, Window, parse, parse_batch};
