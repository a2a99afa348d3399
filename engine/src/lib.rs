//! colometer's engine: the domain, the catalog and the inventory, and (as they land) the store,
//! metering, rating and invoicing. It knows nothing of HTTP or SNMP and never reads the
//! environment or the system clock directly (see [`clock`]).

// First, so that its `string_schema!` macro is in scope in the modules below.
#[cfg(feature = "openapi")]
#[macro_use]
pub mod openapi;

pub mod access;
pub mod billing;
pub mod capacity;
pub mod catalog;
pub mod clock;
pub mod cluster;
pub mod domain;
pub mod id;
pub mod ingest;
pub mod inventory;
pub mod invoicing;
pub mod metering;
pub mod period;
pub mod rating;
pub mod reconcile;
pub mod store;
pub mod time;
