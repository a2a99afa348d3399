//! `[cluster]`: the roles this node plays in a cluster (#23) and where the log is. Absent: the
//! single-node embedded default, where none of this runs.
//!
//! Readings where #23 is silent, and how:
//! - `roles` defaults to all three; a node with none of them is refused.
//! - `replicas` defaults to 3 when `nats` lists at least 3 servers, else 1 (JetStream refuses
//!   more replicas than servers).
//! - Nodes of a role share the work: each holds at most `ceil(work / live nodes of the role)`
//!   shards or devices (`engine::cluster::membership`); `max_shards` and `max_devices` cap that
//!   further (default: no cap). A node that dies leaves its share to the others within a TTL.
//! - Cluster mode needs the PostgreSQL catalog (`[catalog] url`) and `[storage] object_store`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, show_duration};

/// A role a node plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Polls the devices it holds leases on, publishing to the log.
    Collect,
    /// Owns shards: log → Parquet segments on object storage.
    Ingest,
    /// The API and portal over its copy of the committed segments; writes go to the log.
    Serve,
}

impl Role {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Collect => "collect",
            Role::Ingest => "ingest",
            Role::Serve => "serve",
        }
    }
}

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (the holder of its leases).
    pub node_id: String,
    /// What it does.
    #[serde(default = "all_roles")]
    pub roles: Vec<Role>,
    /// NATS servers (`nats://HOST:PORT`).
    pub nats: Vec<String>,
    /// Shards (fixed for the cluster's life: a device's shard is its name's hash modulo this).
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// The JetStream stream.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Stream replicas (see the module docs for the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
    /// Shards an ingest node holds at most, below its fair share (default: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shards: Option<usize>,
    /// Devices a collect node polls at most, below its fair share (default: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_devices: Option<usize>,
    /// Lease time-to-live.
    #[serde(default = "default_ttl", deserialize_with = "duration", serialize_with = "show_duration")]
    pub lease_ttl: Duration,
    /// How often leases are renewed (at most a third of the TTL).
    #[serde(default = "default_renew", deserialize_with = "duration", serialize_with = "show_duration")]
    pub renew_every: Duration,
    /// How long the log keeps a batch (when this node creates the stream): an ingest backlog
    /// older than this is lost, so alert on lag long before.
    #[serde(default = "default_log_retention", deserialize_with = "duration", serialize_with = "show_duration")]
    pub log_retention: Duration,
    /// How often a serve node looks for newly committed segments.
    #[serde(default = "default_follow", deserialize_with = "duration", serialize_with = "show_duration")]
    pub follow_every: Duration,
}

fn all_roles() -> Vec<Role> {
    vec![Role::Collect, Role::Ingest, Role::Serve]
}
fn default_shards() -> u32 {
    256
}
fn default_stream() -> String {
    "READINGS".into()
}
fn default_ttl() -> Duration {
    Duration::from_secs(30)
}
fn default_renew() -> Duration {
    Duration::from_secs(10)
}
fn default_log_retention() -> Duration {
    engine::store::log::jetstream::RETENTION
}
fn default_follow() -> Duration {
    Duration::from_secs(1)
}

impl ClusterConfig {
    /// Whether this node plays `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Stream replicas.
    pub fn replicas(&self) -> usize {
        self.replicas.unwrap_or(if self.nats.len() >= 3 { 3 } else { 1 })
    }

    /// What is wrong with it, named by key; `catalog_url` and `object_store` are the other
    /// sections' settings cluster mode needs.
    pub fn problems(&self, catalog_url: Option<&str>, object_store: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        if self.node_id.trim().is_empty() {
            out.push("cluster.node_id: empty".into());
        }
        if self.roles.is_empty() {
            out.push("cluster.roles: at least one of collect, ingest, serve".into());
        }
        if self.nats.is_empty() {
            out.push("cluster.nats: at least one nats://HOST:PORT".into());
        }
        if !(1..=65_536).contains(&self.shards) {
            out.push(format!("cluster.shards: 1 to 65536, got {}", self.shards));
        }
        if self.replicas() == 0 || self.replicas() > 5 {
            out.push(format!("cluster.replicas: 1 to 5, got {}", self.replicas()));
        }
        if self.renew_every.saturating_mul(3) > self.lease_ttl || self.lease_ttl < Duration::from_secs(1) {
            out.push(format!(
                "cluster.renew_every ({:?}) must be at most a third of cluster.lease_ttl ({:?}, at least 1s)",
                self.renew_every, self.lease_ttl
            ));
        }
        if self.log_retention < Duration::from_secs(3600) {
            out.push(format!("cluster.log_retention: at least 1h, got {:?}", self.log_retention));
        }
        if !catalog_url.is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            out.push("catalog.url: cluster mode needs the PostgreSQL catalog (postgres://…)".into());
        }
        if object_store.is_none() {
            out.push("storage.object_store: cluster mode needs s3://BUCKET/PREFIX (or file:///DIR)".into());
        }
        out
    }
}
