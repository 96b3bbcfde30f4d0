//! DataFusion glue: the planning context each statement gets, with Vigil's catalog
//! as its schema and snapshots of arrangements as its data.
//!
//! ```text
//!  statement ─▶ SqlToRel (resolves names through CatalogSchema) ─▶ LogicalPlan
//!     ad-hoc query: peek the scanned relations at one time ─▶ Snapshots ─▶ execute
//!     materialized view: optimize ─▶ lower (crate::lower) ─▶ dataflow plan
//! ```
//!
//! Tables and materialized views are [`VigilTable`]s: a schema and an id. Their
//! `scan` reads the rows that the coordinator peeked for this statement from the
//! [`Snapshots`] extension of the session config, so every relation of a query is read
//! at the same timestamp. Views are DataFusion `ViewTable`s, inlined when planned.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{
    CatalogProvider, MemTable, MemoryCatalogProvider, SchemaProvider, Session, TableProvider,
};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SessionStateBuilder, SessionStateDefaults};
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use vigil_engine::GlobalId;
use vigil_engine::render::ErrorLog;

use crate::SqlError;
use crate::catalog::Catalog;
use crate::jsonb::{JsonbOperators, JsonbTypes};

/// The catalog name DataFusion sees; relations live in its `public` schema.
pub const CATALOG_NAME: &str = "vigil";
pub const SCHEMA_NAME: &str = "public";

/// A table or materialized view as DataFusion sees it.
#[derive(Debug)]
pub struct VigilTable {
    pub id: GlobalId,
    pub schema: SchemaRef,
    pub table_type: TableType,
}

#[async_trait]
impl TableProvider for VigilTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.table_type
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshots = state
            .config()
            .get_extension::<Snapshots>()
            .ok_or_else(|| DataFusionError::Internal("no snapshots in this session".into()))?;
        let batches = snapshots.get(self.id).ok_or_else(|| {
            DataFusionError::Internal(format!("relation u{} was not read for this query", self.id))
        })?;
        let table = MemTable::try_new(self.schema.clone(), vec![batches])?;
        table.scan(state, projection, filters, limit).await
    }
}

/// The rows a statement reads, per relation, all at one timestamp.
#[derive(Debug, Default)]
pub struct Snapshots {
    batches: Mutex<BTreeMap<GlobalId, Vec<RecordBatch>>>,
}

impl Snapshots {
    pub fn insert(&self, id: GlobalId, batches: Vec<RecordBatch>) {
        self.lock().insert(id, batches);
    }

    pub fn contains(&self, id: GlobalId) -> bool {
        self.lock().contains_key(&id)
    }

    fn get(&self, id: GlobalId) -> Option<Vec<RecordBatch>> {
        self.lock().get(&id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<GlobalId, Vec<RecordBatch>>> {
        self.batches.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The system relation listing rows that views could not compute.
pub const DATAFLOW_ERRORS: &str = "vigil_dataflow_errors";

/// Vigil's catalog as a DataFusion schema; remembers which relations planning named.
#[derive(Debug)]
struct CatalogSchema {
    catalog: Catalog,
    named: Mutex<BTreeSet<GlobalId>>,
    errors: ErrorLog,
}

impl CatalogSchema {
    /// `vigil_dataflow_errors` as of now: when, which view, and why.
    fn dataflow_errors(&self) -> DfResult<Arc<dyn TableProvider>> {
        let errors = self.errors.snapshot();
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "occurred_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                false,
            ),
            Field::new("view", DataType::Utf8, false),
            Field::new("message", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(
                        errors.iter().map(|e| e.at_ms as i64),
                    )
                    .with_timezone("+00:00"),
                ),
                Arc::new(StringArray::from_iter_values(
                    errors.iter().map(|e| e.dataflow.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    errors.iter().map(|e| e.message.as_str()),
                )),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[async_trait]
impl SchemaProvider for CatalogSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.catalog.names().cloned().collect();
        names.push(DATAFLOW_ERRORS.to_string());
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name == DATAFLOW_ERRORS && self.catalog.resolve(name).is_none() {
            return self.dataflow_errors().map(Some);
        }
        Ok(self.catalog.resolve(name).map(|entry| {
            self.named
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(entry.id);
            entry.provider.clone()
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == DATAFLOW_ERRORS || self.catalog.resolve(name).is_some()
    }
}

/// A DataFusion session for one statement.
pub struct PlanContext {
    pub ctx: SessionContext,
    schema: Arc<CatalogSchema>,
    pub snapshots: Arc<Snapshots>,
}

/// DataFusion settings that make it read and type SQL the way PostgreSQL clients
/// expect.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false)
        .with_target_partitions(2);
    let options = config.options_mut();
    options.sql_parser.enable_ident_normalization = true;
    options.sql_parser.support_varchar_with_length = true;
    options.sql_parser.map_string_types_to_utf8view = false;
    options.execution.time_zone = Some("+00:00".to_string());
    options.optimizer.skip_failed_rules = false;
    config.set_str("datafusion.sql_parser.dialect", "PostgreSQL")
}

impl PlanContext {
    pub fn new(catalog: &Catalog, errors: &ErrorLog) -> PlanContext {
        let snapshots = Arc::new(Snapshots::default());
        let config = session_config().with_extension(snapshots.clone());
        let mut expr_planners: Vec<Arc<dyn ExprPlanner>> = vec![Arc::new(JsonbOperators)];
        expr_planners.extend(SessionStateDefaults::default_expr_planners());
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_expr_planners(expr_planners)
            .with_type_planner(Arc::new(JsonbTypes))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let schema = Arc::new(CatalogSchema {
            catalog: catalog.clone(),
            named: Mutex::default(),
            errors: errors.clone(),
        });
        let provider = MemoryCatalogProvider::new();
        // Registering into a fresh in-memory catalog cannot fail.
        let _ = provider.register_schema(SCHEMA_NAME, schema.clone());
        ctx.register_catalog(CATALOG_NAME, Arc::new(provider));
        PlanContext {
            ctx,
            schema,
            snapshots,
        }
    }

    /// Plans a statement into DataFusion's unoptimized logical plan, with
    /// PostgreSQL's semantics for literals (see [`crate::pg`]).
    pub async fn plan(&self, mut statement: Statement) -> Result<LogicalPlan, SqlError> {
        crate::pg::rewrite_interval_literals(&mut statement);
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await
            .map_err(crate::coord::from_datafusion)?;
        crate::pg::apply(plan)
    }

    /// Runs DataFusion's analyzer and optimizer.
    pub fn optimize(&self, plan: &LogicalPlan) -> DfResult<LogicalPlan> {
        self.ctx.state().optimize(plan)
    }

    /// Relations that planning resolved by name, views included.
    pub fn named_relations(&self) -> Vec<GlobalId> {
        self.schema
            .named
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Executes an optimized plan over the snapshots inserted so far.
    pub async fn execute(&self, plan: LogicalPlan) -> DfResult<(SchemaRef, Vec<RecordBatch>)> {
        let state = self.ctx.state();
        let physical = state.create_physical_plan(&plan).await?;
        let schema = physical.schema();
        let batches = datafusion::physical_plan::collect(physical, self.ctx.task_ctx()).await?;
        Ok((schema, batches))
    }
}

/// The tables and materialized views a plan scans, subqueries included.
pub fn scanned_relations(plan: &LogicalPlan) -> DfResult<BTreeSet<GlobalId>> {
    let mut ids = BTreeSet::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            if let Some(table) = provider.downcast_ref::<VigilTable>() {
                ids.insert(table.id);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(ids)
}

/// The Vigil relation a table scan reads, if it is one.
pub fn scan_target(source: &Arc<dyn datafusion::logical_expr::TableSource>) -> Option<GlobalId> {
    let provider = source_as_provider(source).ok()?;
    provider.downcast_ref::<VigilTable>().map(|t| t.id)
}
