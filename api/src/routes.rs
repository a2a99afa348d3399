//! One module per resource of the HTTP API.

pub mod health;
pub mod whoami;
