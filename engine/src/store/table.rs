//! The `readings(device, resource, metric, ts, value, uptime_s, discontinuity)` table for
//! DataFusion, over buffers and segments. Time-range and series filters are pushed down (and
//! re-applied by DataFusion: pushdown is `Inexact`), so segments and row groups outside them are
//! never read.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Decimal128Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::Store;
use super::buffer::ScanFilter;
use super::reading::SeriesKey;
use super::registry::Registry;

/// The `readings` table.
#[derive(Debug)]
pub struct ReadingsTable {
    store: Arc<Store>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.shared.dir).finish()
    }
}

impl ReadingsTable {
    /// The table over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Its schema.
    pub fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("device", DataType::Utf8, false),
            Field::new("resource", DataType::Utf8, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
            Field::new("value", DataType::Decimal128(38, 9), false),
            Field::new("uptime_s", DataType::UInt64, true),
            Field::new("discontinuity", DataType::UInt64, true),
        ]))
    }
}

/// Filters recognised for pushdown, collected from the conjuncts of a query's filters.
#[derive(Debug, Default)]
struct Pushdown {
    from: Option<i64>,
    to: Option<i64>,
    device: Option<HashSet<String>>,
    resource: Option<HashSet<String>>,
    metric: Option<HashSet<String>>,
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn ts_nanos(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampNanosecond(Some(n), _) => Some(*n),
        ScalarValue::TimestampMicrosecond(Some(n), _) => n.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(n), _) => n.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(n), _) => n.checked_mul(1_000_000_000),
        _ => None,
    }
}

fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn narrow(slot: &mut Option<HashSet<String>>, values: HashSet<String>) {
    *slot = Some(match slot.take() {
        Some(s) => s.intersection(&values).cloned().collect(),
        None => values,
    });
}

impl Pushdown {
    fn from_filters(filters: &[Expr]) -> Self {
        let mut p = Pushdown::default();
        for f in filters.iter().flat_map(split_conjunction) {
            p.add(f);
        }
        p
    }

    fn add(&mut self, e: &Expr) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, op, lit) = match (column_name(left), literal(right), column_name(right), literal(left)) {
                    (Some(c), Some(l), _, _) => (c, *op, l),
                    (_, _, Some(c), Some(l)) => match op.swap() {
                        Some(op) => (c, op, l),
                        None => return,
                    },
                    _ => return,
                };
                if col == "ts" {
                    let Some(n) = ts_nanos(lit) else { return };
                    match op {
                        Operator::GtEq => self.from = Some(self.from.map_or(n, |f| f.max(n))),
                        Operator::Gt => self.from = Some(self.from.map_or(n + 1, |f| f.max(n + 1))),
                        Operator::Lt => self.to = Some(self.to.map_or(n, |t| t.min(n))),
                        Operator::LtEq => self.to = Some(self.to.map_or(n + 1, |t| t.min(n + 1))),
                        Operator::Eq => {
                            self.from = Some(self.from.map_or(n, |f| f.max(n)));
                            self.to = Some(self.to.map_or(n + 1, |t| t.min(n + 1)));
                        }
                        _ => {}
                    }
                } else if op == Operator::Eq
                    && let Some(s) = text(lit)
                {
                    self.add_key(col, HashSet::from([s]));
                }
            }
            Expr::InList(list) if !list.negated => {
                let Some(col) = column_name(&list.expr) else { return };
                let values: Option<HashSet<String>> = list.list.iter().map(|e| literal(e).and_then(text)).collect();
                if let Some(values) = values {
                    self.add_key(col, values);
                }
            }
            Expr::Between(b) if !b.negated && column_name(&b.expr) == Some("ts") => {
                if let (Some(lo), Some(hi)) = (literal(&b.low).and_then(ts_nanos), literal(&b.high).and_then(ts_nanos))
                {
                    self.from = Some(self.from.map_or(lo, |f| f.max(lo)));
                    self.to = Some(self.to.map_or(hi + 1, |t| t.min(hi + 1)));
                }
            }
            _ => {}
        }
    }

    fn add_key(&mut self, col: &str, values: HashSet<String>) {
        match col {
            "device" => narrow(&mut self.device, values),
            "resource" => narrow(&mut self.resource, values),
            "metric" => narrow(&mut self.metric, values),
            _ => {}
        }
    }

    fn scan_filter(&self, registry: &Registry) -> ScanFilter {
        let series = match (&self.device, &self.resource, &self.metric) {
            (None, None, None) => None,
            // Every part pinned: look the few keys up instead of walking the registry.
            (Some(d), Some(r), Some(m)) => {
                let keys: Vec<SeriesKey> = d
                    .iter()
                    .flat_map(|d| r.iter().flat_map(move |r| m.iter().map(move |m| (d, r, m))))
                    .map(|(d, r, m)| SeriesKey {
                        device: d.as_str().into(),
                        resource: r.as_str().into(),
                        metric: m.as_str().into(),
                    })
                    .collect();
                Some(Arc::new(registry.lookup(keys.iter()).into_iter().flatten().map(|id| id.0).collect()))
            }
            _ => {
                let ok = |set: &Option<HashSet<String>>, v: &str| set.as_ref().is_none_or(|s| s.contains(v));
                Some(Arc::new(registry.select(|k| {
                    ok(&self.device, &k.device) && ok(&self.resource, &k.resource) && ok(&self.metric, &k.metric)
                })))
            }
        };
        ScanFilter { series, from: self.from, to: self.to }
    }
}

#[async_trait]
impl TableProvider for ReadingsTable {
    fn schema(&self) -> SchemaRef {
        Self::table_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let filter = Pushdown::from_filters(filters).scan_filter(self.store.registry());
        let store = Arc::clone(&self.store);
        let rows = tokio::task::spawn_blocking(move || store.scan(&filter))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut ids: Vec<u32> = rows.series.clone();
        ids.dedup();
        let keys = self.store.registry().keys_of(ids.into_iter());
        let key = |i: usize| keys.get(&rows.series[i]);
        let n = rows.len();
        let device: StringArray = (0..n).map(|i| key(i).map(|k| &*k.device)).collect();
        let resource: StringArray = (0..n).map(|i| key(i).map(|k| &*k.resource)).collect();
        let metric: StringArray = (0..n).map(|i| key(i).map(|k| &*k.metric)).collect();
        let batch = RecordBatch::try_new(
            Self::table_schema(),
            vec![
                Arc::new(device),
                Arc::new(resource),
                Arc::new(metric),
                Arc::new(TimestampNanosecondArray::from(rows.ts).with_timezone("UTC")),
                Arc::new(Decimal128Array::from(rows.value).with_precision_and_scale(38, 9)?),
                Arc::new(UInt64Array::from(rows.uptime_s)),
                Arc::new(UInt64Array::from(rows.discontinuity)),
            ],
        )?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], Self::table_schema(), projection.cloned())?)
    }
}
