//! SQL views for staff (`/api/v1/query`), next to `readings` and `assignments`:
//!
//! - `port_buckets(device, port, direction, bucket_start, bytes, rate_bps, coverage, reset,
//!   implausible)`: the materialised 5-minute buckets. `bytes` is exact; `rate_bps` is
//!   `bytes * 8 / 300` to 9 decimal places (rank on `bytes`: `nearest_rank(bytes, 0.95)` is exact).
//! - `outlet_energy(device, outlet, bucket_start, energy_wh, source, gap, reset)`: each outlet's
//!   measured energy per 5-minute bucket (energy counter, else trapezoid of power; gaps left
//!   out), computed from raw readings when queried, so a `bucket_start` range is required (at
//!   most 400 days).
//!
//! Both push `bucket_start`, `device` and `port`/`outlet` filters down.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{BooleanArray, Decimal128Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::error::{DataFusionError, Result};
use rust_decimal::Decimal;

use crate::domain::GapFill;
use crate::domain::metric;
use crate::id::{OutletId, PduId};
use crate::metering::bucket::{BUCKET_NS, Coverage, bucket_start};
use crate::metering::bucket_table::{BucketTable, Direction};
use crate::metering::energy::{HoleReason, Source};
use crate::metering::plant::Plant;
use crate::metering::usage::outlet_energy;
use crate::store::Store;
use crate::store::pushdown::{Pushdown, PushdownSource, external};
use crate::time::Timestamp;

fn ts_field(name: &str) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false)
}

/// The `port_buckets` view.
#[derive(Debug)]
pub struct PortBucketsView {
    table: Arc<BucketTable>,
    store: Arc<Store>,
}

impl PortBucketsView {
    /// Over the bucket table (settled against `store` before each scan).
    pub fn new(table: Arc<BucketTable>, store: Arc<Store>) -> Self {
        Self { table, store }
    }

    /// Its schema.
    pub fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("device", DataType::Utf8, false),
            Field::new("port", DataType::Utf8, false),
            Field::new("direction", DataType::Utf8, false),
            ts_field("bucket_start"),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("rate_bps", DataType::Decimal128(38, 9), false),
            Field::new("coverage", DataType::Utf8, false),
            Field::new("reset", DataType::Boolean, false),
            Field::new("implausible", DataType::Boolean, false),
        ]))
    }
}

fn coverage_name(c: Coverage) -> &'static str {
    match c {
        Coverage::Complete => "complete",
        Coverage::Partial => "partial",
        Coverage::Estimated => "estimated",
        Coverage::Missing => "missing",
    }
}

/// `bytes * 8 / 300` in units of 10^-9, rounded half away from zero.
fn rate_nano_bps(bytes: u64) -> i128 {
    let num = i128::from(bytes) * 8 * 1_000_000_000;
    (num + 150) / 300
}

#[async_trait]
impl PushdownSource for PortBucketsView {
    const TIME_COLUMN: &'static str = "bucket_start";

    fn table_schema(&self) -> SchemaRef {
        Self::table_schema()
    }

    async fn batch(&self, p: Pushdown) -> Result<RecordBatch> {
        let (table, store) = (Arc::clone(&self.table), Arc::clone(&self.store));
        let (from, to) = (p.from.unwrap_or(Timestamp::MIN), p.to.unwrap_or(Timestamp::MAX));
        let mut rows = tokio::task::spawn_blocking(move || {
            table.settle(&store)?;
            table.rows(from, to)
        })
        .await
        .map_err(external)?
        .map_err(external)?;
        rows.retain(|r| {
            p.device.as_ref().is_none_or(|d| d.contains(&*r.device))
                && p.resource.as_ref().is_none_or(|s| s.contains(&*r.port))
        });
        let batch = RecordBatch::try_new(
            Self::table_schema(),
            vec![
                Arc::new(rows.iter().map(|r| Some(&*r.device)).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(&*r.port)).collect::<StringArray>()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some(if r.direction == Direction::In { "in" } else { "out" }))
                        .collect::<StringArray>(),
                ),
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.start.as_nanos()))
                        .with_timezone("UTC"),
                ),
                Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.bucket.bytes))),
                Arc::new(
                    Decimal128Array::from_iter_values(rows.iter().map(|r| rate_nano_bps(r.bucket.bytes)))
                        .with_precision_and_scale(38, 9)?,
                ),
                Arc::new(rows.iter().map(|r| Some(coverage_name(r.bucket.coverage()))).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.bucket.reset)).collect::<BooleanArray>()),
                Arc::new(rows.iter().map(|r| Some(r.bucket.implausible)).collect::<BooleanArray>()),
            ],
        )?;
        Ok(batch)
    }
}

/// The `outlet_energy` view.
#[derive(Debug)]
pub struct OutletEnergyView {
    store: Arc<Store>,
    plant: Arc<Plant>,
}

/// Longest `bucket_start` range of one `outlet_energy` query.
const MAX_ENERGY_RANGE_NS: i64 = 400 * 86_400 * 1_000_000_000;

impl OutletEnergyView {
    /// Over the store's raw readings, with the inventory's poll intervals.
    pub fn new(store: Arc<Store>, plant: Arc<Plant>) -> Self {
        Self { store, plant }
    }

    /// Its schema.
    pub fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("device", DataType::Utf8, false),
            Field::new("outlet", DataType::Utf8, false),
            ts_field("bucket_start"),
            Field::new("energy_wh", DataType::Decimal128(38, 9), false),
            Field::new("source", DataType::Utf8, false),
            Field::new("gap", DataType::Boolean, false),
            Field::new("reset", DataType::Boolean, false),
        ]))
    }
}

/// One outlet bucket: energy and what it came from.
#[derive(Debug, Default, Clone)]
struct EnergyBucket {
    wh: Decimal,
    sources: [bool; 4],
    gap: bool,
    reset: bool,
}

fn source_index(s: Source) -> usize {
    match s {
        Source::Counter => 0,
        Source::Integrated => 1,
        Source::ResetEstimated => 2,
        Source::HeldLast => 3,
    }
}

fn source_names(b: &EnergyBucket) -> String {
    let names = ["counter", "power", "reset_estimated", "held_last"];
    let used: Vec<&str> = names.iter().zip(b.sources).filter(|(_, u)| *u).map(|(n, _)| *n).collect();
    if used.is_empty() { "none".into() } else { used.join("+") }
}

/// An outlet's energy per bucket in `[from, to)`.
fn outlet_buckets(
    store: &Store,
    outlet: &OutletId,
    poll_ns: i64,
    from: Timestamp,
    to: Timestamp,
) -> std::result::Result<BTreeMap<Timestamp, EnergyBucket>, crate::store::StoreError> {
    let e = outlet_energy(store, outlet, from, to, poll_ns, GapFill::None)?;
    let mut out: BTreeMap<Timestamp, EnergyBucket> = BTreeMap::new();
    for p in &e.pieces {
        let (a, b) = (p.from.max(from), p.to.min(to));
        let mut s = bucket_start(a);
        while s < b {
            let share = p.share(s.max(a), s.plus_ns(BUCKET_NS).min(b));
            let eb = out.entry(s).or_default();
            eb.wh += share;
            eb.sources[source_index(p.source)] = true;
            s = s.plus_ns(BUCKET_NS);
        }
    }
    for h in &e.holes {
        let (a, b) = (h.from.max(from), h.to.min(to));
        let mut s = bucket_start(a);
        while s < b {
            let eb = out.entry(s).or_default();
            match h.reason {
                HoleReason::Gap => eb.gap = true,
                HoleReason::Reset => eb.reset = true,
            }
            s = s.plus_ns(BUCKET_NS);
        }
    }
    Ok(out)
}

#[async_trait]
impl PushdownSource for OutletEnergyView {
    const TIME_COLUMN: &'static str = "bucket_start";

    fn table_schema(&self) -> SchemaRef {
        Self::table_schema()
    }

    async fn batch(&self, p: Pushdown) -> Result<RecordBatch> {
        let (Some(from), Some(to)) = (p.from, p.to) else {
            return Err(DataFusionError::Plan(
                "outlet_energy is computed from raw readings: give a bucket_start range (at most 400 days)".into(),
            ));
        };
        if to.nanos_since(from) > MAX_ENERGY_RANGE_NS {
            return Err(DataFusionError::Plan("outlet_energy: a bucket_start range is at most 400 days".into()));
        }
        // Whole buckets: a bucket starting in range is computed entirely.
        let (from, to) = (bucket_start(from), bucket_start(to.minus_ns(1)).plus_ns(BUCKET_NS));
        let outlets: Vec<(String, String)> = {
            let ok =
                |set: &Option<std::collections::HashSet<String>>, v: &str| set.as_ref().is_none_or(|s| s.contains(v));
            let reg = self.store.registry();
            let ids = reg.select(|k| {
                matches!(&*k.metric, metric::ENERGY_WH | metric::POWER_W)
                    && ok(&p.device, &k.device)
                    && ok(&p.resource, &k.resource)
            });
            let mut v: Vec<(String, String)> = reg
                .keys_of(ids.into_iter())
                .into_values()
                .map(|k| (k.device.to_string(), k.resource.to_string()))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let (store, plant) = (Arc::clone(&self.store), Arc::clone(&self.plant));
        let rows = tokio::task::spawn_blocking(move || {
            let mut rows = Vec::new();
            for (device, outlet) in outlets {
                let (Ok(pdu), Ok(index)) = (PduId::new(device.clone()), outlet.parse::<u32>()) else { continue };
                let id = OutletId { pdu, index };
                let poll = plant.pdu_poll_ns(&id.pdu);
                for (start, b) in outlet_buckets(&store, &id, poll, from, to)? {
                    rows.push((device.clone(), outlet.clone(), start, b));
                }
            }
            Ok::<_, crate::store::StoreError>(rows)
        })
        .await
        .map_err(external)?
        .map_err(external)?;
        let wh: Vec<i128> = rows
            .iter()
            .map(|r| {
                let mut d = r.3.wh.round_dp_with_strategy(9, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
                d.rescale(9);
                d.mantissa()
            })
            .collect();
        let batch = RecordBatch::try_new(
            Self::table_schema(),
            vec![
                Arc::new(rows.iter().map(|r| Some(r.0.as_str())).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.1.as_str())).collect::<StringArray>()),
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.2.as_nanos()))
                        .with_timezone("UTC"),
                ),
                Arc::new(Decimal128Array::from_iter_values(wh).with_precision_and_scale(38, 9)?),
                Arc::new(rows.iter().map(|r| Some(source_names(&r.3))).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.3.gap)).collect::<BooleanArray>()),
                Arc::new(rows.iter().map(|r| Some(r.3.reset)).collect::<BooleanArray>()),
            ],
        )?;
        Ok(batch)
    }
}
