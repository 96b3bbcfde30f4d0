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
//!
//! Beside `public`, the catalog has `pg_catalog` and `information_schema`, computed
//! from the same catalog (see [`crate::pg_catalog`]); PostgreSQL's functions, type
//! names and the session's settings come with every context.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
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

use crate::SqlError;
use crate::catalog::Catalog;
use crate::information_schema::InformationSchema;
use crate::introspection::{self, Introspection};
use crate::jsonb::JsonbOperators;
use crate::pg_catalog::{Comments, PgCatalogSchema, PgContext, PgSnapshot, PgTypes, Settings};

/// The catalog name DataFusion sees; relations live in its `public` schema, next to
/// `pg_catalog` and `information_schema`.
pub const CATALOG_NAME: &str = "vigil";
pub const SCHEMA_NAME: &str = "public";
pub const PG_CATALOG_SCHEMA: &str = "pg_catalog";
pub const INFORMATION_SCHEMA: &str = "information_schema";

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

/// Vigil's catalog as a DataFusion schema; remembers which relations planning named.
/// Names it does not have are looked up in Vigil's system relations, then in
/// pg_catalog, which PostgreSQL searches implicitly.
#[derive(Debug)]
struct CatalogSchema {
    catalog: Catalog,
    named: Mutex<BTreeSet<GlobalId>>,
    introspection: Introspection,
    system: Arc<PgCatalogSchema>,
}

#[async_trait]
impl SchemaProvider for CatalogSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .catalog
            .relations()
            .map(|e| e.def.name.clone())
            .collect();
        names.extend(introspection::NAMES.map(String::from));
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(relation) = self.introspection.relation(name, &self.catalog)? {
            return Ok(Some(relation));
        }
        match self.catalog.relation(name) {
            Some(entry) => {
                self.named
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(entry.id);
                Ok(Some(entry.provider.clone()))
            }
            None => self.system.relation(name),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        introspection::NAMES.contains(&name)
            || self.catalog.relation(name).is_some()
            || PgCatalogSchema::has(name)
    }
}

/// A DataFusion session for one statement.
pub struct PlanContext {
    pub ctx: SessionContext,
    schema: Arc<CatalogSchema>,
    pub snapshots: Arc<Snapshots>,
    /// What pg_catalog, information_schema and PostgreSQL's functions report.
    pg: Arc<PgSnapshot>,
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
    /// A context over `catalog`; `comments` and `settings` (the session's) are what
    /// the PostgreSQL catalogs and functions report, and `now_ms` the clock's reading
    /// that `now()` returns.
    pub fn new(
        catalog: &Catalog,
        introspection: &Introspection,
        comments: Comments,
        settings: Settings,
        now_ms: u64,
    ) -> PlanContext {
        let pg = Arc::new(PgSnapshot::new(catalog, comments, settings).at(now_ms));
        let snapshots = Arc::new(Snapshots::default());
        let mut config = session_config().with_extension(snapshots.clone());
        config
            .options_mut()
            .extensions
            .insert(PgContext(pg.clone()));
        let mut expr_planners: Vec<Arc<dyn ExprPlanner>> = vec![Arc::new(JsonbOperators)];
        expr_planners.extend(SessionStateDefaults::default_expr_planners());
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_expr_planners(expr_planners)
            .with_type_planner(Arc::new(PgTypes))
            .build();
        let ctx = SessionContext::new_with_state(state);
        for function in crate::pg_catalog::functions::all() {
            ctx.register_udf(function.as_ref().clone());
        }
        ctx.register_udf(crate::temporal::Now::udf());
        let system = Arc::new(PgCatalogSchema::new(pg.clone()));
        let schema = Arc::new(CatalogSchema {
            catalog: catalog.clone(),
            named: Mutex::default(),
            introspection: introspection.clone(),
            system: system.clone(),
        });
        let provider = MemoryCatalogProvider::new();
        // Registering into a fresh in-memory catalog cannot fail.
        let _ = provider.register_schema(SCHEMA_NAME, schema.clone());
        let _ = provider.register_schema(PG_CATALOG_SCHEMA, system);
        let _ = provider.register_schema(
            INFORMATION_SCHEMA,
            Arc::new(InformationSchema::new(pg.clone())),
        );
        ctx.register_catalog(CATALOG_NAME, Arc::new(provider));
        PlanContext {
            ctx,
            schema,
            snapshots,
            pg,
        }
    }

    /// Plans a statement into DataFusion's unoptimized logical plan, with
    /// PostgreSQL's names for result columns (see [`crate::names`]), syntax for
    /// catalog queries (see [`crate::pg_catalog::rewrite`]) and semantics for
    /// literals (see [`crate::pg`]).
    pub async fn plan(&self, mut statement: Statement) -> Result<LogicalPlan, SqlError> {
        // Names come from the statement as written, before rewrites change its shape.
        let catalog = &self.schema.catalog;
        crate::names::name_columns(&mut statement, &|name| {
            let entry = catalog.relation(name)?;
            Some(
                entry
                    .def
                    .desc
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect(),
            )
        });
        let query = matches!(statement, Statement::Query(_));
        let state = self.ctx.state();
        crate::pg_catalog::rewrite::rewrite(&mut statement, &self.pg, &|name| {
            state.table_functions().contains_key(name)
        })?;
        crate::pg::rewrite_interval_literals(&mut statement);
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await
            .map_err(crate::coord::from_datafusion)?;
        let plan = crate::pg::apply(plan)?;
        if query {
            crate::names::unmark_output(plan).map_err(crate::coord::from_datafusion)
        } else {
            Ok(plan)
        }
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
