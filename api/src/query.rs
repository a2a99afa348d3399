//! SQL over the store through DataFusion, on a runtime of its own: query work never runs on the
//! IO runtime that serves HTTP. Read-only (no DDL, DML or statements), memory-bounded.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use engine::metering::bucket_table::BucketTable;
use engine::metering::plant::Plant;
use engine::metering::sql::udaf::NearestRank;
use engine::metering::sql::views::{OutletEnergyView, PortBucketsView};
use engine::store::Store;
use engine::store::pushdown::PushdownTable;
use engine::store::table::ReadingsTable;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL is malformed or refers to what does not exist.
    #[error("{0}")]
    Invalid(String),
    /// The query needs more memory than allowed.
    #[error("the query needs more memory than the configured limit: {0}")]
    TooBig(String),
    /// Execution failed (a corrupt segment, I/O).
    #[error("{0}")]
    Failed(String),
    /// The engine could not be set up.
    #[error("query engine: {0}")]
    Setup(String),
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => QueryError::Invalid(e.to_string()),
            DataFusionError::ResourcesExhausted(_) => QueryError::TooBig(e.to_string()),
            // A store failure (a corrupt segment, I/O): its own message is the useful one.
            DataFusionError::External(inner) => QueryError::Failed(inner.to_string()),
            _ => QueryError::Failed(e.to_string()),
        }
    }
}

/// The query engine.
pub struct QueryEngine {
    ctx: SessionContext,
    runtime: Option<tokio::runtime::Runtime>,
}

impl QueryEngine {
    /// An engine over `store`, with `threads` worker threads and at most `memory_limit` bytes.
    pub fn new(store: Arc<Store>, threads: usize, memory_limit: usize) -> Result<Self, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("colometer-query")
            .enable_all()
            .build()
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        let env = RuntimeEnvBuilder::new()
            .with_memory_limit(memory_limit, 1.0)
            .build_arc()
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        let config = SessionConfig::new().with_target_partitions(threads.max(1)).with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, env);
        ctx.register_table("readings", Arc::new(PushdownTable(ReadingsTable::new(store))))
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        ctx.register_udaf(AggregateUDF::from(NearestRank::default()));
        Ok(Self { ctx, runtime: Some(runtime) })
    }

    /// Registers `port_buckets` over the bucket table.
    pub fn set_port_buckets(&self, table: Arc<BucketTable>, store: Arc<Store>) -> Result<(), QueryError> {
        self.replace("port_buckets", Arc::new(PushdownTable(PortBucketsView::new(table, store))))
    }

    /// Replaces `outlet_energy` (the inventory's poll intervals changed).
    pub fn set_outlet_energy(&self, store: Arc<Store>, plant: Arc<Plant>) -> Result<(), QueryError> {
        self.replace("outlet_energy", Arc::new(PushdownTable(OutletEnergyView::new(store, plant))))
    }

    fn replace(&self, name: &str, table: Arc<dyn datafusion::datasource::TableProvider>) -> Result<(), QueryError> {
        self.ctx.deregister_table(name).map_err(|e| QueryError::Setup(e.to_string()))?;
        self.ctx.register_table(name, table).map_err(|e| QueryError::Setup(e.to_string()))?;
        Ok(())
    }

    /// Replaces the `assignments` table (the inventory changed).
    pub fn set_assignments(&self, batch: RecordBatch) -> Result<(), QueryError> {
        let table = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        self.ctx.deregister_table("assignments").map_err(|e| QueryError::Setup(e.to_string()))?;
        self.ctx.register_table("assignments", Arc::new(table)).map_err(|e| QueryError::Setup(e.to_string()))?;
        Ok(())
    }

    /// Runs one read-only SQL statement and collects its result.
    pub async fn run(&self, sql: String) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let ctx = self.ctx.clone();
        let handle = self.runtime.as_ref().ok_or_else(|| QueryError::Setup("shut down".into()))?.handle().clone();
        handle
            .spawn(async move {
                let opts = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
                let df = ctx.sql_with_options(&sql, opts).await?;
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                let batches = df.collect().await?;
                Ok((schema, batches))
            })
            .await
            .map_err(|e| QueryError::Failed(format!("query task: {e}")))?
    }
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's thread would panic: let it go quietly.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
