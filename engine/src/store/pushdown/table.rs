//! The one `TableProvider` of colometer's SQL tables: each table ([`PushdownSource`]) says its
//! schema and which time column its range filters are on, and turns the filters pushed down into
//! one record batch; [`PushdownTable`] does the DataFusion side once — filters pushed `Inexact`
//! (DataFusion applies them again, so a source may return more rows than asked, never fewer),
//! the projection applied to the batch in memory.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::Pushdown;

/// A table read whole per scan from the filters pushed down to it.
#[async_trait]
pub trait PushdownSource: std::fmt::Debug + Send + Sync + 'static {
    /// The time column whose range filters are pushed down.
    const TIME_COLUMN: &'static str;

    /// Its schema.
    fn table_schema(&self) -> SchemaRef;

    /// A base table or a view (what `information_schema` shows).
    fn table_type(&self) -> TableType {
        TableType::View
    }

    /// The rows the filters can match (all columns; the projection is applied after).
    async fn batch(&self, pushed: Pushdown) -> Result<RecordBatch>;
}

/// The DataFusion table over a [`PushdownSource`].
#[derive(Debug)]
pub struct PushdownTable<S>(pub S);

#[async_trait]
impl<S: PushdownSource> TableProvider for PushdownTable<S> {
    fn schema(&self) -> SchemaRef {
        self.0.table_schema()
    }

    fn table_type(&self) -> TableType {
        self.0.table_type()
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
        let batch = self.0.batch(Pushdown::from_filters(filters, S::TIME_COLUMN)).await?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.0.table_schema(), projection.cloned())?)
    }
}

/// A failure inside a source, for DataFusion (its source kept).
pub fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
