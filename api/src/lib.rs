//! colometer's HTTP API and command line: configuration, authentication, routes and the
//! `colometer` binary's commands. Domain logic lives in `engine`; this crate only adapts it.

pub mod app;
pub mod auth;
pub mod body;
pub mod cli;
pub mod cluster;
pub mod collect;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod invoice_doc;
pub mod logging;
pub mod openapi;
pub mod portal;
pub mod query;
pub mod routes;
pub mod server;
pub mod tee;
