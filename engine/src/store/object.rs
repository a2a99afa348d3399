//! Cluster mode's segments on object storage (#23): `[storage] object_store = "s3://BUCKET/PREFIX"`
//! with `endpoint` and `region` (credentials from the usual `AWS_*` variables), or
//! `file:///PATH` for a single machine. Objects are written once under unique keys (the writer
//! names them after its shard, epoch and stream sequences), so a retried PUT that had in fact
//! succeeded rewrites identical bytes and nothing is ever overwritten with other content.
//!
//! Every operation is bounded and retried: each attempt times out (after [`ATTEMPT_TIMEOUT`]), a
//! failed or timed-out attempt is retried after an exponential backoff (100 ms doubling, at most
//! 2 s) up to [`ATTEMPTS`] attempts in all; what cannot succeed by retrying (a missing object,
//! refused credentials, an unsupported operation) is reported at once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::time::Timestamp;

/// Attempts per operation.
pub const ATTEMPTS: u32 = 5;
/// Longest one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The `object_store` URL or its settings are not usable.
    #[error("object store {url:?}: {reason}")]
    Config {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The operation failed for good (not retryable, or every attempt failed).
    #[error("object {key:?}: {what} failed after {attempts} attempt(s): {reason}")]
    Failed {
        /// The object's key.
        key: String,
        /// `put`, `get`, `list` or `delete`.
        what: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
}

/// Where segments are kept: a store and the prefix inside it.
#[derive(Clone)]
pub struct ObjectSegments {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    attempt_timeout: Duration,
}

impl std::fmt::Debug for ObjectSegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSegments").field("store", &self.store.to_string()).field("prefix", &self.prefix).finish()
    }
}

fn retryable(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    !matches!(
        e,
        E::NotFound { .. }
            | E::InvalidPath { .. }
            | E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. }
    )
}

impl ObjectSegments {
    /// Opens `url` (`s3://BUCKET[/PREFIX]` or `file:///PATH`); for S3, `endpoint` (an `http://`
    /// one is allowed: a local SeaweedFS or MinIO) and `region` override the environment's.
    pub fn open(url: &str, endpoint: Option<&str>, region: Option<&str>) -> Result<Self, ObjectError> {
        let config = |reason: String| ObjectError::Config { url: url.to_owned(), reason };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(config("no bucket (expected s3://BUCKET/PREFIX)".into()));
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
            }
            if let Some(r) = region {
                b = b.with_region(r);
            }
            let store = b.build().map_err(|e| config(e.to_string()))?;
            return Ok(Self::on(Arc::new(store), prefix));
        }
        if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path).map_err(|e| config(e.to_string()))?;
            let store = LocalFileSystem::new_with_prefix(path).map_err(|e| config(e.to_string()))?;
            return Ok(Self::on(Arc::new(store), ""));
        }
        Err(config("expected s3://BUCKET/PREFIX or file:///PATH".into()))
    }

    /// Segments in `store` under `prefix`.
    pub fn on(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self { store, prefix: prefix.trim_matches('/').to_owned(), attempt_timeout: ATTEMPT_TIMEOUT }
    }

    /// The same, each attempt timing out after `timeout` instead of [`ATTEMPT_TIMEOUT`].
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() { Path::from(key) } else { Path::from(format!("{}/{key}", self.prefix)) }
    }

    /// Stores `bytes` as `key`, retrying as the module docs say.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), ObjectError> {
        let path = self.path(key);
        self.retry(key, "put", || {
            let payload = PutPayload::from_bytes(bytes.clone());
            let (store, path) = (Arc::clone(&self.store), path.clone());
            async move { store.put(&path, payload).await.map(|_| ()) }
        })
        .await
    }

    /// The bytes stored as `key`, retrying as the module docs say.
    pub async fn get(&self, key: &str) -> Result<Bytes, ObjectError> {
        let path = self.path(key);
        self.retry(key, "get", || {
            let (store, path) = (Arc::clone(&self.store), path.clone());
            async move { store.get(&path).await?.bytes().await }
        })
        .await
    }

    /// Every object whose key starts with `dir` (say `shard-5/`), with when it was written,
    /// retrying as the module docs say.
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, Timestamp)>, ObjectError> {
        let path = self.path(dir.trim_end_matches('/'));
        let metas = self
            .retry(dir, "list", || {
                let (store, path) = (Arc::clone(&self.store), path.clone());
                async move { store.list(Some(&path)).try_collect::<Vec<_>>().await }
            })
            .await?;
        let skip = if self.prefix.is_empty() { 0 } else { self.prefix.len() + 1 };
        Ok(metas
            .into_iter()
            .map(|m| {
                let key = m.location.as_ref().get(skip..).unwrap_or_default().to_owned();
                (key, Timestamp::from_nanos(m.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX)))
            })
            .collect())
    }

    /// Deletes `key` (already gone is fine), retrying as the module docs say.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.path(key);
        self.retry(key, "delete", || {
            let (store, path) = (Arc::clone(&self.store), path.clone());
            async move {
                match store.delete(&path).await {
                    Err(object_store::Error::NotFound { .. }) => Ok(()),
                    other => other,
                }
            }
        })
        .await
    }

    async fn retry<T, F, Fut>(&self, key: &str, what: &'static str, mut attempt: F) -> Result<T, ObjectError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = object_store::Result<T>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut n = 0;
        loop {
            n += 1;
            let reason = match tokio::time::timeout(self.attempt_timeout, attempt()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if !retryable(&e) => {
                    return Err(ObjectError::Failed { key: key.to_owned(), what, attempts: n, reason: e.to_string() });
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", self.attempt_timeout),
            };
            if n >= ATTEMPTS {
                return Err(ObjectError::Failed { key: key.to_owned(), what, attempts: n, reason });
            }
            tracing::warn!(key, what, attempt = n, %reason, "object store operation failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
