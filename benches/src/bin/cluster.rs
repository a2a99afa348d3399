//! Cluster mode's write path (#23) against a single node's, on the same readings in the same run:
//! - single node: each poll written to the embedded store (`Store::write`: WAL + fsync), 16
//!   writers at once, as the collectors' writer and HTTP writes do;
//! - cluster, publish: each poll appended to NATS JetStream (`Publisher`, the collectors' path:
//!   one part per device, deduplication key, acknowledged = durable), 64 in flight;
//! - cluster, ingest: the published log turned into Parquet segments on SeaweedFS S3 and
//!   committed in PostgreSQL by 1 ingest node, then (on a fresh stream and database) by 2 nodes
//!   at once: rows/s from the first pass to the last commit.
//!
//! `cluster [DEVICES] [POLLS] [SERIES]` (defaults 2000 20 48): DEVICES devices polled POLLS times,
//! SERIES readings per poll (a 48-port switch's counters, say). The engines are throwaway servers
//! on loopback (`scripts/test-deps` installs them); 64 shards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use engine::catalog::PostgresCatalog;
use engine::cluster::node::{IngestSettings, run_ingest};
use engine::cluster::publish::{Keying, Publisher};
use engine::store::log::ReadingLog;
use engine::store::log::jetstream::JetStreamLog;
use engine::store::object::ObjectSegments;
use engine::store::reading::{SeriesKey, Value};
use engine::store::{PendingReading, Store, StoreConfig};
use engine::time::Timestamp;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// The allocator of the `colometer` binary, so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHARDS: u32 = 64;
const T0: i64 = 1_796_000_000;

fn polls(devices: u32, rounds: u32, series: u32) -> Vec<Vec<PendingReading>> {
    let mut out = Vec::with_capacity((devices * rounds) as usize);
    for r in 0..rounds {
        for d in 0..devices {
            let device: Arc<str> = format!("sw-{d:05}").into();
            out.push(
                (0..series)
                    .map(|s| PendingReading {
                        key: SeriesKey {
                            device: Arc::clone(&device),
                            resource: format!("port{s}").into(),
                            metric: "in_octets".into(),
                        },
                        ts: Timestamp::from_secs(T0 + 10 * i64::from(r)),
                        value: Value(i128::from(r * 1_000_000 + s * 1_000 + d) * 1_000_000_000),
                        uptime_s: Some(86_400 + 10 * u64::from(r)),
                        discontinuity: None,
                    })
                    .collect(),
            );
        }
    }
    out
}

fn single_node(polls: &[Vec<PendingReading>], rows: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(engine::clock::FixedClock::new(Timestamp::from_secs(T0)));
    let (store, _) = Store::open(dir.path(), StoreConfig::default(), clock)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = polls.get(i) else { return Ok::<(), engine::store::StoreError>(()) };
                        store.write(p.clone())?;
                    }
                })
            })
            .collect();
        writers.into_iter().try_for_each(|w| -> anyhow::Result<()> {
            w.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
            Ok(())
        })
    })?;
    let secs = start.elapsed().as_secs_f64();
    store.close();
    Ok(rows as f64 / secs)
}

async fn publish(log: Arc<dyn ReadingLog>, polls: &[Vec<PendingReading>], rows: u64) -> anyhow::Result<f64> {
    let publisher = Publisher::new(log, SHARDS);
    let start = Instant::now();
    let results: Vec<_> = futures::stream::iter(polls.iter().cloned())
        .map(|p| {
            let publisher = publisher.clone();
            async move { publisher.publish(p, Keying::Poll).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(rows as f64 / start.elapsed().as_secs_f64())
}

/// Rows per second for `nodes` ingest nodes to commit `rows` readings already in the log.
fn ingest(
    rt: &tokio::runtime::Runtime,
    catalog: &Arc<PostgresCatalog>,
    log: Arc<dyn ReadingLog>,
    objects: &Arc<ObjectSegments>,
    nodes: usize,
    rows: u64,
) -> anyhow::Result<f64> {
    let cancel = CancellationToken::new();
    let start = Instant::now();
    let handles: Vec<_> = (0..nodes)
        .map(|n| {
            let (c, l, o, k, h) =
                (Arc::clone(catalog), Arc::clone(&log), Arc::clone(objects), cancel.clone(), rt.handle().clone());
            let settings = IngestSettings {
                wait: Duration::from_millis(100),
                ..IngestSettings::new(format!("i{n}"), SHARDS, usize::MAX)
            };
            std::thread::spawn(move || run_ingest(&h, &c, l.as_ref(), &o, &settings, &k))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let done: u64 = catalog.shard_progress()?.iter().map(|p| p.rows).sum();
        if done >= rows {
            ensure!(done == rows, "{done} rows committed for {rows} published");
            break;
        }
        ensure!(Instant::now() < deadline, "ingest did not finish: {done} of {rows}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = start.elapsed().as_secs_f64();
    cancel.cancel();
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("an ingest node panicked"))??;
    }
    Ok(rows as f64 / secs)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<u32> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (devices, rounds, series) =
        (args.first().copied().unwrap_or(2000), args.get(1).copied().unwrap_or(20), args.get(2).copied().unwrap_or(48));
    let polls = polls(devices, rounds, series);
    let rows = u64::from(devices * rounds * series);
    println!("{devices} devices x {rounds} polls x {series} readings = {rows} readings, {SHARDS} shards");
    // Sizes for the sizing on paper: a logged poll, and a segment of a shard's share of a round.
    let logged = engine::cluster::batch::encode(&polls[0])?.len();
    let sample: Vec<_> = polls
        .iter()
        .take(1000)
        .enumerate()
        .map(|(i, p)| (engine::store::log::LogSeq(i as u64 + 1), p.clone()))
        .collect();
    let (segment, stats) = engine::cluster::batch::segment(&sample)?;
    println!(
        "sizes         logged poll {logged} B ({:.1} B/reading); segment {:.1} B/reading",
        logged as f64 / f64::from(series),
        segment.len() as f64 / stats.rows as f64
    );

    let single = single_node(&polls, rows)?;
    println!("single node   Store::write, 16 writers         {single:>12.0} readings/s");

    let pg = tests::postgres::Postgres::start_durable().map_err(anyhow::Error::msg)?;
    let weed = tests::seaweed::Seaweed::start().map_err(anyhow::Error::msg)?;
    weed.create_bucket("bench").map_err(anyhow::Error::msg)?;
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("bench")
        .with_endpoint(weed.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("bench")
        .with_secret_access_key("bench")
        .build()?;
    let objects = Arc::new(ObjectSegments::on(Arc::new(s3), "segments"));
    let rt = tokio::runtime::Runtime::new()?;
    let mut ingest_rates = Vec::new();
    for nodes in [1usize, 2] {
        // A fresh server per run: a stream owns the subjects `readings.>`.
        let nats = tests::nats::Nats::start().map_err(anyhow::Error::msg)?;
        let log: Arc<dyn ReadingLog> = Arc::new(rt.block_on(JetStreamLog::open(&[nats.url()], "READINGS", 1))?);
        let url = pg.create_db(&format!("bench{nodes}")).map_err(anyhow::Error::msg)?;
        let catalog = Arc::new(PostgresCatalog::connect(&url).context("catalog")?);
        let published = rt.block_on(publish(Arc::clone(&log), &polls, rows))?;
        println!(
            "cluster       publish to JetStream, 64 in flight {published:>12.0} readings/s ({:.2}x single node)",
            published / single
        );
        let rate = ingest(&rt, &catalog, log, &objects, nodes, rows)?;
        println!(
            "cluster       {nodes} ingest node(s) → S3 + PostgreSQL {rate:>12.0} readings/s ({:.2}x single node)",
            rate / single
        );
        ingest_rates.push(rate);
    }
    println!("scaling       2 ingest nodes / 1                {:>12.2}x", ingest_rates[1] / ingest_rates[0]);
    Ok(())
}
