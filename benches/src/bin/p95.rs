//! Exact 95th percentile for a month of 5-minute buckets of many ports, colometer against DuckDB
//! `quantile_disc` on the same data in the same run.
//!
//! `p95 [PORTS] [DAYS] [THREADS]` (defaults 10000 30 2). The data: per port a deterministic
//! month of bucket byte counts (a daily shape, noise, bursts, flat stretches with ties, a few
//! missing buckets). It goes into colometer's bucket table (the materialised table metering
//! reads) and into one Parquet file (port, bucket_start, bytes) that DuckDB and colometer's
//! DataFusion `nearest_rank` read. Every engine's 95th for every port must agree before a time is
//! printed. Times are the best of 5 runs, in this process for colometer and inside DuckDB for
//! DuckDB (its Python start-up and file open are not counted).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use arrow::array::{RecordBatch, TimestampNanosecondArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use engine::domain::{BandwidthMethod, MissingBuckets, Pooling};
use engine::metering::bandwidth::{PortBuckets, service_p95};
use engine::metering::bucket::{BUCKET_NS, Bucket};
use engine::metering::bucket_chunks::BucketChunks;

/// Buckets per day.
const PER_DAY: usize = 288;
use engine::metering::bucket_table::BucketError;
use engine::metering::bucket_table::{BucketTable, Direction, PortMeta};
use engine::metering::counter::CounterWidth;
use engine::store::reading::SeriesKey;
use engine::time::{Interval, Timestamp};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};

/// The allocator of the `colometer` binary, so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 2026-10-01T00:00:00Z.
const MONTH_START: Timestamp = Timestamp::from_secs(1_790_812_800);

fn port_name(p: u32) -> String {
    format!("Gi{}/0/{}", p / 48, p % 48)
}

/// One port's month: bytes per bucket (`None` = missing).
fn month(port: u32, n: usize) -> Vec<Option<u64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(port) * 7919 + 1);
    let base: u64 = rng.random_range(1_000_000..3_000_000_000);
    let flat: u64 = base / 2;
    (0..n)
        .map(|i| {
            let r = rng.random_range(0..1000);
            if r < 2 {
                return None; // a missing bucket now and then
            }
            let hour = (i % PER_DAY) / 12;
            let shape = if (8..20).contains(&hour) { 3 } else { 1 };
            Some(match r {
                2..=20 => base * 10 + rng.random_range(0..base), // bursts
                21..=300 => flat,                                // ties
                _ => base * shape / 2 + rng.random_range(0..base / 4),
            })
        })
        .collect()
}

fn write_parquet(path: &std::path::Path, ports: u32, n: usize) -> anyhow::Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("port", DataType::UInt32, false),
        Field::new("bucket_start", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("bytes", DataType::UInt64, false),
    ]));
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?)).build();
    let file = std::fs::File::create(path)?;
    let mut w = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
    let mut rows = 0u64;
    for chunk in (0..ports).collect::<Vec<_>>().chunks(64) {
        let (mut p, mut t, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for &port in chunk {
            for (i, v) in month(port, n).into_iter().enumerate() {
                if let Some(v) = v {
                    p.push(port);
                    t.push(MONTH_START.plus_ns(i as i64 * BUCKET_NS).as_nanos());
                    b.push(v);
                }
            }
        }
        rows += p.len() as u64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(UInt32Array::from(p)),
                Arc::new(TimestampNanosecondArray::from(t).with_timezone("UTC")),
                Arc::new(UInt64Array::from(b)),
            ],
        )?;
        w.write(&batch)?;
    }
    w.close()?;
    Ok(rows)
}

fn load_table(ports: u32, n: usize) -> BucketTable {
    let table = BucketTable::new(Arc::new(|_: &SeriesKey| None));
    let meta =
        PortMeta { direction: Direction::In, poll_ns: 10_000_000_000, speed_bps: None, width: CounterWidth::Bits64 };
    for port in 0..ports {
        let mut days = BucketChunks::default();
        for (i, v) in month(port, n).into_iter().enumerate() {
            if let Some(bytes) = v {
                days.set(
                    MONTH_START.plus_ns(i as i64 * BUCKET_NS),
                    Bucket { bytes, covered_ns: BUCKET_NS, ..Bucket::default() },
                );
            }
        }
        let key = SeriesKey { device: "sw1".into(), resource: port_name(port).into(), metric: "in_octets".into() };
        table.restore(port, &key, meta, days);
    }
    table
}

/// colometer: every port's 95th from the bucket table, `threads` threads.
fn colometer_p95(table: &BucketTable, ports: u32, n: usize, threads: usize) -> anyhow::Result<Vec<u64>> {
    let to = MONTH_START.plus_ns(n as i64 * BUCKET_NS);
    let names: Vec<String> = (0..ports).map(port_name).collect();
    let chunk = (ports as usize).div_ceil(threads.max(1));
    let mut out = vec![0u64; ports as usize];
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .zip(out.chunks_mut(chunk))
            .map(|(names, out)| {
                s.spawn(move || {
                    let mut scratch = Vec::with_capacity(n);
                    for (name, o) in names.iter().zip(out.iter_mut()) {
                        *o = table
                            .port_p95("sw1", name, Direction::In, MONTH_START, to, &mut scratch)?
                            .map_or(0, |r| r.value.0);
                    }
                    Ok::<_, BucketError>(())
                })
            })
            .collect();
        joined(handles)
    })?;
    Ok(out)
}

/// Waits for every thread: the first error or panic.
fn joined(handles: Vec<std::thread::ScopedJoinHandle<'_, Result<(), BucketError>>>) -> anyhow::Result<()> {
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
    }
    Ok(())
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    Ok((best, last.context("no run")?))
}

async fn datafusion_p95(path: &std::path::Path, threads: usize) -> anyhow::Result<(f64, Vec<u64>)> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    ctx.register_udaf(
        datafusion::logical_expr::AggregateUDF::from(engine::metering::sql::udaf::NearestRank::default()),
    );
    ctx.register_parquet("b", path.to_string_lossy().as_ref(), ParquetReadOptions::default()).await?;
    let mut best = f64::MAX;
    let mut result = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let batches = ctx
            .sql("SELECT port, nearest_rank(bytes, 0.95) AS p FROM b GROUP BY port ORDER BY port")
            .await?
            .collect()
            .await?;
        best = best.min(t.elapsed().as_secs_f64());
        result.clear();
        for b in &batches {
            let p = b.column(1).as_any().downcast_ref::<UInt64Array>().context("u64 result")?;
            result.extend(p.values().iter().copied());
        }
    }
    Ok((best, result))
}

/// Pooled 95th of customers of 4 ports each (a billing run's bandwidth figures), through the
/// production path: dense buckets of the customer's ports, `service_p95` (pooled, exclude).
fn colometer_billing_run(table: &BucketTable, ports: u32, n: usize, threads: usize) -> anyhow::Result<Vec<u64>> {
    let window = Interval { from: MONTH_START, to: Some(MONTH_START.plus_ns(n as i64 * BUCKET_NS)) };
    let customers: Vec<u32> = (0..ports / 4).collect();
    let chunk = customers.len().div_ceil(threads.max(1)).max(1);
    let mut out = vec![0u64; customers.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = customers
            .chunks(chunk)
            .zip(out.chunks_mut(chunk))
            .map(|(cs, out)| {
                let window = &window;
                s.spawn(move || {
                    for (c, o) in cs.iter().zip(out.iter_mut()) {
                        let pb = (c * 4..c * 4 + 4)
                            .map(|p| {
                                let (inbound, outbound) = table.port_dense("sw1", &port_name(p), MONTH_START, n)?;
                                Ok(PortBuckets {
                                    port: port_name(p),
                                    first: MONTH_START,
                                    inbound,
                                    outbound,
                                    assigned: vec![*window],
                                })
                            })
                            .collect::<Result<Vec<PortBuckets>, BucketError>>()?;
                        *o = service_p95(&pb, window, BandwidthMethod::In, Pooling::Pooled, MissingBuckets::Exclude)
                            .bytes;
                    }
                    Ok::<_, BucketError>(())
                })
            })
            .collect();
        joined(handles)
    })?;
    Ok(out)
}

const DUCK_PER_PORT: &str =
    "SELECT port, quantile_disc(bytes, 0.95) FROM read_parquet('{path}') GROUP BY port ORDER BY port";
const DUCK_POOLED: &str = "WITH pooled AS (SELECT port // 4 AS c, bucket_start, sum(bytes) AS b FROM read_parquet('{path}') \
     GROUP BY ALL) SELECT c, quantile_disc(b, 0.95) FROM pooled GROUP BY c ORDER BY c";

fn duckdb_p95(path: &std::path::Path, threads: usize, sql: &str) -> anyhow::Result<(f64, Vec<u64>)> {
    let sql = sql.replace("{path}", &path.display().to_string());
    let script = format!(
        "import duckdb, time\n\
         con = duckdb.connect()\n\
         con.execute('SET threads={threads}')\n\
         con.execute('SET enable_progress_bar=false')\n\
         best = 1e9\n\
         for _ in range(5):\n\
         \x20   t = time.perf_counter()\n\
         \x20   rows = con.execute(\"{sql}\").fetchall()\n\
         \x20   best = min(best, time.perf_counter() - t)\n\
         print(best)\n\
         print(' '.join(str(r[1]) for r in rows))\n"
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().context("running python3")?;
    ensure!(out.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    let secs: f64 = lines.next().context("DuckDB time")?.trim().parse()?;
    let values =
        lines.next().unwrap_or_default().split_whitespace().map(str::parse).collect::<Result<Vec<u64>, _>>()?;
    Ok((secs, values))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let ports: u32 = args.get(1).map_or(Ok(10_000), |s| s.parse())?;
    let days: usize = args.get(2).map_or(Ok(30), |s| s.parse())?;
    let threads: usize = args.get(3).map_or(Ok(2), |s| s.parse())?;
    let n = days * PER_DAY;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("buckets.parquet");
    let t = Instant::now();
    let rows = write_parquet(&path, ports, n)?;
    println!(
        "data: {ports} ports x {n} buckets, {rows} with data, Parquet {:.0} MiB (written in {:.1} s)",
        std::fs::metadata(&path)?.len() as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let table = load_table(ports, n);
    println!("bucket table loaded in {:.1} s", t.elapsed().as_secs_f64());

    let (ours_s, ours) = best_of(5, || colometer_p95(&table, ports, n, threads))?;
    // Month to date: the running 95th of every port, read (the month is complete here, so it must
    // equal the full computation).
    let (mtd_s, mtd) = best_of(5, || Ok(table.month_to_date().len()))?;
    let index: std::collections::HashMap<String, usize> = (0..ports).map(|p| (port_name(p), p as usize)).collect();
    let mut running = vec![0u64; ports as usize];
    for r in table.month_to_date() {
        if let Some(i) = index.get(&*r.port) {
            running[*i] = r.p95.map_or(0, |x| x.value.0);
        }
    }
    ensure!(mtd == ports as usize && running == ours, "the running month-to-date 95th disagrees");
    let (df_s, df) = datafusion_p95(&path, threads).await?;
    let (duck_s, duck) = duckdb_p95(&path, threads, DUCK_PER_PORT)?;
    let (bill_s, bill) = best_of(5, || colometer_billing_run(&table, ports, n, threads))?;
    let (duck_bill_s, duck_bill) = duckdb_p95(&path, threads, DUCK_POOLED)?;
    ensure!(bill == duck_bill, "pooled 95ths disagree between colometer and DuckDB");
    ensure!(ours == duck, "colometer and DuckDB disagree");
    ensure!(df == duck, "colometer's DataFusion nearest_rank and DuckDB disagree");
    let mut report = String::new();
    writeln!(report, "every port's 95th agrees across the three ({} ports)", ours.len())?;
    writeln!(report, "colometer, bucket table, {threads} threads: {ours_s:.3} s")?;
    writeln!(report, "colometer, month-to-date 95th of every port (running state, read): {:.3} ms", mtd_s * 1000.0)?;
    writeln!(report, "colometer, DataFusion nearest_rank over the Parquet file: {df_s:.3} s")?;
    writeln!(report, "DuckDB quantile_disc over the Parquet file, {threads} threads: {duck_s:.3} s")?;
    writeln!(report, "ratio DuckDB / colometer (bucket table): {:.1}x", duck_s / ours_s)?;
    writeln!(report, "ratio DuckDB / colometer (DataFusion over Parquet): {:.2}x", duck_s / df_s)?;
    writeln!(
        report,
        "billing run, {} customers x 4 ports pooled: colometer {bill_s:.3} s, DuckDB {duck_bill_s:.3} s, ratio {:.1}x",
        bill.len(),
        duck_bill_s / bill_s
    )?;
    print!("{report}");
    Ok(())
}
