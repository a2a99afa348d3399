//! SNMP over tokio with `snmp2`: sessions with per-request timeouts, retries with backoff and a
//! fresh socket after any failure (so a late reply can never be taken for the next request's),
//! GET with many varbinds, GETBULK and table walks.

pub mod session;
pub mod value;

pub use session::{Credentials, Prepared, Session, SnmpError, Target, decode_response};
pub use value::SnmpValue;
