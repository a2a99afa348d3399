//! The `readings(device, resource, metric, ts, value, uptime_s, discontinuity)` table for
//! DataFusion, over buffers and segments. Time-range and series filters are pushed down (and
//! re-applied by DataFusion: pushdown is `Inexact`), so segments and row groups outside them are
//! never read.

use std::sync::Arc;

use arrow::array::{Decimal128Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};

use super::Store;
use super::pushdown::{Pushdown, PushdownSource, external};

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

#[async_trait]
impl PushdownSource for ReadingsTable {
    const TIME_COLUMN: &'static str = "ts";

    fn table_schema(&self) -> SchemaRef {
        Self::table_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn batch(&self, pushed: Pushdown) -> Result<RecordBatch> {
        let filter = pushed.scan_filter(self.store.registry());
        let store = Arc::clone(&self.store);
        let rows =
            tokio::task::spawn_blocking(move || store.scan(&filter)).await.map_err(external)?.map_err(external)?;
        let mut ids: Vec<u32> = rows.series.clone();
        ids.dedup();
        let keys = self.store.registry().keys_of(ids.into_iter());
        let key = |i: usize| keys.get(&rows.series[i]);
        let n = rows.len();
        let device: StringArray = (0..n).map(|i| key(i).map(|k| &*k.device)).collect();
        let resource: StringArray = (0..n).map(|i| key(i).map(|k| &*k.resource)).collect();
        let metric: StringArray = (0..n).map(|i| key(i).map(|k| &*k.metric)).collect();
        RecordBatch::try_new(
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
        )
        .map_err(DataFusionError::from)
    }
}
