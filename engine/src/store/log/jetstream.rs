//! [`ReadingLog`] on NATS JetStream: one stream (file storage, `replicas` copies: 3 on a 3-server
//! cluster), subject `readings.<shard>`, JetStream's deduplication window keyed by `Nats-Msg-Id`.
//! A shard's reader is a durable pull consumer `shard-<n>` filtered to its subject; a new owner
//! replaces it with one starting at its replay point, and acknowledges with `AckPolicy::All`, so
//! one acknowledgement covers every batch up to the one committed last.
//!
//! Every call is bounded: connecting by [`CONNECT_TIMEOUT`], an append's acknowledgement by
//! [`ACK_TIMEOUT`] (then the caller retries with the same key), a read by its own `wait`.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::{self as js, Message};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::{Appended, Entry, LogError, LogSeq, ReadingLog, Shard, ShardReader};

/// Longest wait for a server to accept the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for an append's acknowledgement.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long JetStream remembers a batch key: a retry within it is answered as a duplicate.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(120);
/// How long the stream keeps a batch when the stream is created by [`JetStreamLog::open`]: the
/// log is a buffer between writers and ingest nodes, bounded by age; an ingest backlog older
/// than this would be lost, so `colometer_cluster_*` lag must alert long before (see
/// ARCHITECTURE.md for the bounded-by-backlog design that would remove this limit).
pub const RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// The stream's subjects: `readings.<shard>`.
const SUBJECT_PREFIX: &str = "readings";

/// The log on a JetStream stream.
pub struct JetStreamLog {
    js: js::Context,
    stream: String,
    servers: String,
}

impl JetStreamLog {
    /// Connects to `servers` and opens (creating) the stream `stream` with `replicas` copies,
    /// keeping batches for [`RETENTION`].
    pub async fn open(servers: &[String], stream: &str, replicas: usize) -> Result<Self, LogError> {
        Self::open_with(servers, stream, replicas, RETENTION).await
    }

    /// The same, keeping batches for `retention` (an existing stream keeps its own settings:
    /// change them with the `nats` CLI).
    pub async fn open_with(
        servers: &[String],
        stream: &str,
        replicas: usize,
        retention: Duration,
    ) -> Result<Self, LogError> {
        let list = servers.join(",");
        let unavailable = |reason: String| LogError::Unavailable { servers: list.clone(), reason };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(servers)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let context = js::new(client);
        let config = Config {
            name: stream.to_owned(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            storage: StorageType::File,
            num_replicas: replicas.max(1),
            duplicate_window: DEDUP_WINDOW,
            max_age: retention,
            ..Config::default()
        };
        context.get_or_create_stream(config).await.map_err(|e| unavailable(e.to_string()))?;
        Ok(Self { js: context, stream: stream.to_owned(), servers: list })
    }
}

impl JetStreamLog {
    async fn stream(&self) -> Result<js::stream::Stream, LogError> {
        self.js
            .get_stream(&self.stream)
            .await
            .map_err(|e| LogError::Unavailable { servers: self.servers.clone(), reason: e.to_string() })
    }
}

fn subject(shard: Shard) -> String {
    format!("{SUBJECT_PREFIX}.{shard}")
}

#[async_trait]
impl ReadingLog for JetStreamLog {
    async fn append(&self, shard: Shard, key: &str, batch: Bytes) -> Result<Appended, LogError> {
        let failed = |reason: String| LogError::Append { shard, reason };
        let publish = PublishMessage::build().payload(batch).message_id(key);
        let pending = self.js.send_publish(subject(shard), publish).await.map_err(|e| failed(e.to_string()))?;
        let ack = tokio::time::timeout(ACK_TIMEOUT, pending)
            .await
            .map_err(|_| failed(format!("no acknowledgement within {} s", ACK_TIMEOUT.as_secs())))?
            .map_err(|e| failed(e.to_string()))?;
        Ok(Appended { seq: LogSeq(ack.sequence), duplicate: ack.duplicate })
    }

    async fn reader(&self, shard: Shard, from: LogSeq) -> Result<Box<dyn ShardReader>, LogError> {
        let failed = |reason: String| LogError::Read { shard, reason };
        let stream = self.stream().await?;
        let name = format!("shard-{shard}");
        // A previous owner's consumer remembers its own position: start over from ours.
        if let Err(e) = stream.delete_consumer(&name).await {
            let gone =
                matches!(e.kind(), ConsumerErrorKind::JetStream(j) if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND);
            if !gone {
                return Err(failed(e.to_string()));
            }
        }
        let config = pull::Config {
            durable_name: Some(name),
            filter_subject: subject(shard),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from.get().max(1) },
            ack_policy: AckPolicy::All,
            ..pull::Config::default()
        };
        let consumer = stream.create_consumer(config).await.map_err(|e| failed(e.to_string()))?;
        Ok(Box::new(JetStreamReader { shard, consumer, delivered: VecDeque::new() }))
    }

    async fn pending(&self, shard: Shard) -> Result<Option<u64>, LogError> {
        let failed = |reason: String| LogError::Read { shard, reason };
        let stream = self.stream().await?;
        match stream.consumer_info(format!("shard-{shard}")).await {
            Ok(info) => Ok(Some(info.num_pending + info.num_ack_pending as u64)),
            Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::NotFound) => Ok(None),
            Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::JetStream(j) if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND) => {
                Ok(None)
            }
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

/// A shard's durable pull consumer, with the messages read but not yet acknowledged.
struct JetStreamReader {
    shard: Shard,
    consumer: PullConsumer,
    delivered: VecDeque<(LogSeq, Message)>,
}

#[async_trait]
impl ShardReader for JetStreamReader {
    async fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<Entry>, LogError> {
        let failed = |reason: String| LogError::Read { shard: self.shard, reason };
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max.max(1))
            .expires(wait)
            .messages()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut out = Vec::new();
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| failed(e.to_string()))?;
            let seq = LogSeq(m.info().map_err(|e| failed(e.to_string()))?.stream_sequence);
            out.push(Entry { seq, payload: m.payload.clone() });
            self.delivered.push_back((seq, m));
        }
        Ok(out)
    }

    async fn ack_through(&mut self, seq: LogSeq) -> Result<(), LogError> {
        let mut last = None;
        while self.delivered.front().is_some_and(|(s, _)| *s <= seq) {
            last = self.delivered.pop_front();
        }
        if let Some((_, m)) = last {
            // Acknowledged with a reply: the server has recorded it when this returns.
            m.double_ack().await.map_err(|e| LogError::Read { shard: self.shard, reason: e.to_string() })?;
        }
        Ok(())
    }
}
