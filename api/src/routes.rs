//! One module per resource of the HTTP API.

pub mod billing;
pub mod cluster;
pub mod devices;
pub mod health;
pub mod history;
pub mod inventory;
pub mod invoices;
pub mod lifecycle;
pub mod live;
pub mod metrics;
pub mod query;
pub mod tokens;
pub mod usage;
pub mod whoami;
pub mod write;
