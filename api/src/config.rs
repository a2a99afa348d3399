//! The TOML configuration (`contract.md`), with `COLOMETER_<SECTION>__<KEY>` environment overrides
//! (`COLOMETER_SERVER__LISTEN=0.0.0.0:8080`, `COLOMETER_STORAGE__DATA_DIR=/var/lib/colometer`).
//!
//! Relative paths in the file are relative to the file's own directory, so a service reads the
//! same data directory whatever its working directory; relative paths from the environment or the
//! defaults are relative to the working directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::domain::PollInterval;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::magic::RelativePathBuf;
use serde::{Deserialize, Deserializer, Serialize};

pub mod cluster;

pub use cluster::{ClusterConfig, Role};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The given config file does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// A value is malformed or a key unknown (figment names the key and its source).
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[derive(Default)]
pub struct Config {
    /// `[server]`
    #[serde(default)]
    pub server: ServerConfig,
    /// `[storage]`
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[collectors]`
    #[serde(default)]
    pub collectors: CollectorsConfig,
    /// `[catalog]`
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// `[cluster]`: absent on a single node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
}

/// `[catalog]`: where the catalog and ledger live.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// `postgres://USER[:PASS]@HOST[:PORT][,HOST2[:PORT2]]/DB?target_session_attrs=read-write`
    /// (also `COLOMETER_CATALOG_URL`); none: the embedded SQLite file in the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl std::fmt::Debug for CatalogConfig {
    /// Never prints the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogConfig").field("url", &self.url.as_ref().map(|_| "<set>")).finish()
    }
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest accepted request body, bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// Longest a request may take before `408`.
    #[serde(default = "default_request_timeout", deserialize_with = "duration", serialize_with = "show_duration")]
    pub request_timeout: Duration,
    /// Longest shutdown waits for in-flight requests.
    #[serde(default = "default_shutdown_timeout", deserialize_with = "duration", serialize_with = "show_duration")]
    pub shutdown_timeout: Duration,
}

/// `[storage]`: where data lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// WAL, Parquet segments and `catalog.db`.
    #[serde(default = "default_data_dir")]
    pub data_dir: RelativePathBuf,
    /// How long raw readings are kept (invoices are disputed months later).
    #[serde(default = "default_retention", deserialize_with = "duration", serialize_with = "show_duration")]
    pub retention: Duration,
    /// Readings held in memory before a checkpoint writes them to segments; writers wait at
    /// twice this, so memory is bounded by it.
    #[serde(default = "default_max_buffered_rows")]
    pub max_buffered_rows: usize,
    /// Longest time between checkpoints.
    #[serde(default = "default_checkpoint_interval", deserialize_with = "duration", serialize_with = "show_duration")]
    pub checkpoint_interval: Duration,
    /// UTC months of 5-minute port buckets held in memory: the current month and the
    /// `bucket_open_months - 1` before it (at least 1). Closed months are read from the bucket
    /// archive (`<data_dir>/store/buckets`), kept forever.
    #[serde(default = "default_bucket_open_months")]
    pub bucket_open_months: u32,
    /// Memory for archived buckets decoded for reads of closed months, bytes.
    #[serde(default = "default_bucket_cache_bytes")]
    pub bucket_cache_bytes: usize,
    /// Memory a single SQL query may use, bytes.
    #[serde(default = "default_query_memory")]
    pub query_memory_bytes: usize,
    /// `[storage.questdb]`: optional tee of every acknowledged reading to QuestDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questdb: Option<crate::tee::TeeConfig>,
    /// Cluster mode's segments: `s3://BUCKET/PREFIX` (credentials from `AWS_*`) or `file:///DIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store: Option<String>,
    /// The S3 endpoint (`http://127.0.0.1:8333` for SeaweedFS or MinIO; none: AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `[collectors]`: polling defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorsConfig {
    /// Poll interval of devices that set none (also the gap-detection interval of pushed readings).
    #[serde(default = "default_interval", deserialize_with = "poll_interval", serialize_with = "show_interval")]
    pub default_interval: PollInterval,
    /// Poll the inventory's SNMP devices (off: only pushed readings are stored).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Polls in flight at once, fleet-wide.
    #[serde(default = "default_concurrent_polls")]
    pub max_concurrent_polls: usize,
    /// Per-attempt SNMP timeout.
    #[serde(default = "default_snmp_timeout", deserialize_with = "duration", serialize_with = "show_duration")]
    pub timeout: Duration,
    /// Retries per SNMP request (with exponential backoff, on a fresh socket).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Varbinds per GET request.
    #[serde(default = "default_max_varbinds")]
    pub max_varbinds: usize,
    /// Rediscover each device this often (also after a reboot or a vanished value).
    #[serde(default = "default_rediscover", deserialize_with = "duration", serialize_with = "show_duration")]
    pub rediscover: Duration,
    /// Poll batches that may wait for the store writer before pollers wait.
    #[serde(default = "default_queue_batches")]
    pub queue_batches: usize,
    /// v1/v2c devices that keep their socket between polls (128 KiB each; the rest reopen).
    #[serde(default = "default_keep_sessions")]
    pub keep_sessions: usize,
}

// Defaults live once, with the component that uses them (`StoreConfig`, `ArchiveConfig`, the
// collectors' `Settings`); the configuration reads them from there. Only what no component
// owns (the server's, the data directory, the poll interval) is defined here.
fn collector_defaults() -> collectors::scheduler::Settings {
    collectors::scheduler::Settings::default()
}
fn default_keep_sessions() -> usize {
    collector_defaults().keep_sessions
}

fn yes() -> bool {
    true
}
fn default_concurrent_polls() -> usize {
    collector_defaults().max_concurrent_polls
}
fn default_snmp_timeout() -> Duration {
    collector_defaults().timeout
}
fn default_retries() -> u32 {
    collector_defaults().retries
}
fn default_max_varbinds() -> usize {
    collector_defaults().max_varbinds
}
fn default_rediscover() -> Duration {
    collector_defaults().rediscover
}
fn default_queue_batches() -> usize {
    4096
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_body_limit() -> usize {
    16 * 1024 * 1024
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_data_dir() -> RelativePathBuf {
    RelativePathBuf::from(PathBuf::from("./colometer-data"))
}
fn default_retention() -> Duration {
    engine::store::StoreConfig::default().retention
}
fn default_bucket_open_months() -> u32 {
    engine::metering::bucket_archive::ArchiveConfig::default().open_months
}
fn default_bucket_cache_bytes() -> usize {
    engine::metering::bucket_archive::ArchiveConfig::default().cache_bytes
}
fn default_max_buffered_rows() -> usize {
    engine::store::StoreConfig::default().max_buffered_rows
}
fn default_checkpoint_interval() -> Duration {
    engine::store::StoreConfig::default().checkpoint_interval
}
fn default_query_memory() -> usize {
    1 << 30
}
/// `[collectors] default_interval` when unset, seconds.
pub const DEFAULT_POLL_S: u32 = 10;

fn default_interval() -> PollInterval {
    PollInterval::from_duration(Duration::from_secs(u64::from(DEFAULT_POLL_S)))
        .unwrap_or_else(|| unreachable!("10 s is in range"))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            body_limit_bytes: default_body_limit(),
            request_timeout: default_request_timeout(),
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}
impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            retention: default_retention(),
            max_buffered_rows: default_max_buffered_rows(),
            bucket_open_months: default_bucket_open_months(),
            bucket_cache_bytes: default_bucket_cache_bytes(),
            checkpoint_interval: default_checkpoint_interval(),
            query_memory_bytes: default_query_memory(),
            questdb: None,
            object_store: None,
            endpoint: None,
            region: None,
        }
    }
}
impl Default for CollectorsConfig {
    fn default() -> Self {
        Self {
            default_interval: default_interval(),
            enabled: true,
            max_concurrent_polls: default_concurrent_polls(),
            timeout: default_snmp_timeout(),
            retries: default_retries(),
            max_varbinds: default_max_varbinds(),
            rediscover: default_rediscover(),
            queue_batches: default_queue_batches(),
            keep_sessions: default_keep_sessions(),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a duration such as 30s: {e}")))
}
fn show_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}
fn poll_interval<'de, D: Deserializer<'de>>(d: D) -> Result<PollInterval, D::Error> {
    let s = String::deserialize(d)?;
    PollInterval::parse(&s).map_err(serde::de::Error::custom)
}
fn show_interval<S: serde::Serializer>(d: &PollInterval, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// The environment variable naming the catalog database (`[catalog] url`).
pub const CATALOG_URL_ENV: &str = "COLOMETER_CATALOG_URL";

impl Config {
    /// Opens the catalog `[catalog] url` names (PostgreSQL), else the embedded SQLite file in the
    /// data directory.
    pub fn open_catalog(&self) -> Result<Box<dyn engine::catalog::Backend>, engine::catalog::CatalogError> {
        engine::catalog::open(self.catalog.url.as_deref(), &self.data_dir())
    }

    /// Loads defaults, then the file (if any), then `COLOMETER_*__*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.is_file() {
                return Err(ConfigError::Missing(f.to_owned()));
            }
            fig = fig.merge(Toml::file_exact(f));
        }
        // Only double-underscore names are config keys: COLOMETER_CONFIG, COLOMETER_LOG and the
        // like are not, and must not trip `deny_unknown_fields`.
        fig = fig.merge(Env::prefixed("COLOMETER_").filter(|k| k.as_str().contains("__")).split("__"));
        let mut cfg: Config = fig.extract().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        // The name for the catalog URL (single underscore), beside COLOMETER_CATALOG__URL.
        if let Ok(url) = std::env::var(CATALOG_URL_ENV)
            && !url.is_empty()
        {
            cfg.catalog.url = Some(url);
        }
        if cfg.storage.bucket_open_months == 0 {
            return Err(ConfigError::Invalid(
                "storage.bucket_open_months: at least 1 (the current month is always in memory)".into(),
            ));
        }
        if let Some(c) = &cfg.cluster {
            let problems = c.problems(cfg.catalog.url.as_deref(), cfg.storage.object_store.as_deref());
            if !problems.is_empty() {
                return Err(ConfigError::Invalid(problems.join("; ")));
            }
        }
        Ok(cfg)
    }

    /// How much of the bucket table memory holds.
    pub fn bucket_archive(&self) -> engine::metering::bucket_archive::ArchiveConfig {
        engine::metering::bucket_archive::ArchiveConfig {
            open_months: self.storage.bucket_open_months,
            cache_bytes: self.storage.bucket_cache_bytes,
        }
    }

    /// The data directory, resolved.
    pub fn data_dir(&self) -> PathBuf {
        self.storage.data_dir.relative()
    }

    /// The store's settings.
    pub fn store_config(&self) -> engine::store::StoreConfig {
        engine::store::StoreConfig {
            retention: self.storage.retention,
            max_buffered_rows: self.storage.max_buffered_rows.max(1),
            checkpoint_interval: self.storage.checkpoint_interval,
            ..engine::store::StoreConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server]\nlisten = \"127.0.0.1:9\"\n[storage]\ndata_dir = \"./d\"\n[collectors]\ndefault_interval = \"30s\"\n").unwrap();
        let c = Config::load(Some(&f)).unwrap();
        assert_eq!(c.server.listen.port(), 9);
        assert_eq!(c.data_dir(), dir.path().join("./d"));
        assert_eq!(c.collectors.default_interval.interval_s(), 30);
    }

    #[test]
    fn bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server]\nlisten = \"nowhere\"\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("server.listen"), "{e}");
        std::fs::write(&f, "[storage]\ndata_dri = \"x\"\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("data_dri"), "{e}");
        std::fs::write(&f, "[collectors]\ndefault_interval = \"2h\"\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("from 1s to 1h"), "{e}");
        assert!(matches!(Config::load(Some(&dir.path().join("none.toml"))), Err(ConfigError::Missing(_))));
    }

    #[test]
    fn cluster_mode_is_checked_and_defaulted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[cluster]\nnode_id = \"n1\"\nnats = []\nshards = 0\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        for key in ["cluster.nats", "cluster.shards: 1 to 65536, got 0", "catalog.url", "storage.object_store"] {
            assert!(e.contains(key), "{key}: {e}");
        }
        std::fs::write(
            &f,
            "[catalog]\nurl = \"postgres://u@h/db\"\n[storage]\nobject_store = \"s3://b/p\"\n\
             [cluster]\nnode_id = \"n1\"\nnats = [\"nats://a:4222\", \"nats://b:4222\", \"nats://c:4222\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&f)).unwrap().cluster.unwrap();
        assert_eq!((c.shards, c.replicas(), c.roles.len()), (256, 3, 3));
        assert_eq!((c.lease_ttl, c.renew_every), (Duration::from_secs(30), Duration::from_secs(10)));
        assert!(c.has(Role::Ingest));
        std::fs::write(
            &f,
            "[catalog]\nurl = \"postgres://u@h/db\"\n[storage]\nobject_store = \"s3://b/p\"\n\
             [cluster]\nnode_id = \"n1\"\nnats = [\"nats://a:4222\"]\nroles = [\"store\"]\n",
        )
        .unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("store") && e.contains("cluster.roles"), "{e}");
        std::fs::write(
            &f,
            "[catalog]\nurl = \"postgres://u@h/db\"\n[storage]\nobject_store = \"s3://b/p\"\n\
             [cluster]\nnode_id = \"n1\"\nnats = [\"nats://a:4222\"]\nlease_ttl = \"9s\"\nrenew_every = \"4s\"\n",
        )
        .unwrap();
        let e = Config::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("cluster.renew_every"), "{e}");
    }

    #[test]
    fn the_cluster_examples_load() {
        let dir = tempfile::tempdir().unwrap();
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster");
        for (role, want) in [("collect", Role::Collect), ("ingest", Role::Ingest), ("serve", Role::Serve)] {
            // The catalog URL comes from the environment file in production.
            let text = std::fs::read_to_string(deploy.join(format!("{role}.toml"))).unwrap()
                + "[catalog]\nurl = \"postgres://colometer@db1/colometer\"\n";
            let f = dir.path().join(format!("{role}.toml"));
            std::fs::write(&f, text).unwrap();
            let c = Config::load(Some(&f)).unwrap_or_else(|e| panic!("{role}.toml: {e}"));
            let cluster = c.cluster.unwrap();
            assert_eq!((cluster.replicas(), cluster.shards, cluster.roles), (3, 256, vec![want]), "{role}");
            assert_eq!(c.collectors.enabled, want == Role::Collect, "{role}");
        }
    }
}
