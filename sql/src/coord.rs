//! The coordinator: owns the catalog, the storage and the engine, sequences writes
//! and chooses timestamps.
//!
//! ```text
//!  write:  lock ─▶ plan (DataFusion) ─▶ compute row changes over snapshots ─▶ check
//!          constraints ─▶ commit to redb (durable) ─▶ engine.update at `upper` ─▶
//!          engine.advance_to(next) ─▶ unlock ─▶ acknowledge
//!  read:   plan ─▶ lock: peek every scanned relation at `upper - 1` ─▶ unlock ─▶
//!          await the peeks ─▶ DataFusion executes over the snapshots
//! ```
//!
//! `upper` is the engine's input frontier: every time before it is closed, so a read
//! at `upper - 1` sees every acknowledged write. Writes are serialized by the state
//! lock; peeks and subscriptions are sent while holding it, so compaction (which
//! follows `advance_to`) never overtakes a read. A ticker advances `upper` with the
//! clock: the wall clock, or a manual one that `ADVANCE CLOCK` moves (the ticker
//! then only steps past it when sources have read records). `upper` stays one past
//! the clock's reading, so reads see views as of `now()`. Under load (a source with a
//! backlog, or dataflows still busy with closed times) the ticker holds `upper` for
//! up to a second, so a load lands in a few large batches.
//!
//! Materialized views keep `RETAIN HISTORY` (an hour by default) for subscriptions
//! as of past times; a sink's progress (what it delivered) lives beside the catalog.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::empty::EmptyTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableType, WriteOp};
use datafusion::sql::sqlparser::ast::{
    self, ColumnOption, CommentObject, CopySource, CopyTarget, CreateTable, CreateView,
    ExactNumberInfo, ObjectName, Statement, TableConstraint,
};
use tokio::sync::Mutex;
use vigil_changelog::{ChangeLog, EmbeddedLog, LogError, Message, Retention, TopicSpec};
use vigil_engine::plan::Plan;
use vigil_engine::repr::arrow::{
    batch_to_rows, datum_to_scalar_value, desc_of_schema, rows_to_batch, scalar_type_of_field,
    to_arrow_schema, to_arrow_type,
};
use vigil_engine::repr::text::canonical_jsonb;
use vigil_engine::repr::{Column, DEFAULT_NUMERIC, Datum, RelationDesc, Row, ScalarType};
use vigil_engine::source::json::{JsonColumn, JsonFormat};
use vigil_engine::source::{Envelope, SourceSpec, SourceStatus};
use vigil_engine::{Diff, Engine, GlobalId, SubscribeTarget as EngineTarget, Time};

use crate::SqlError;
use crate::catalog::{Catalog, Entry, ItemDef, ItemKind};
use crate::context::{PlanContext, VigilTable, scanned_relations};
use crate::copy::{self, CopyFormat, Lineage, SourceEncoder};
use crate::introspection::{self, Introspection};
use crate::lower::{check_deterministic, lower};
use crate::pg_catalog::{Comments, Settings};
use crate::session::{ClockMode, CommandTag, Config, ExecuteResponse, default_vars};
use crate::sink::{CreateSink, SinkCheck, SinkDef, SinkErrorLog, SinkProgress, SinkStatus};
use crate::source::{CreateSource, SourceEnvelope};
use crate::storage::{RowKey, Storage, WriteBatch};
use crate::subscribe::{SubscribeOptions, SubscribeTarget, Subscription};

pub(crate) struct Inner {
    engine: Engine,
    clock: Clock,
    storage: Storage,
    state: Mutex<State>,
    /// `COMMENT ON` texts; changed under the state lock, read by every statement.
    comments: std::sync::Mutex<Comments>,
    /// What the `vigil_*` system relations read; holds the change log sources read.
    introspection: Introspection,
    /// Checks sink options that only the delivering side understands.
    sink_check: std::sync::OnceLock<SinkCheck>,
    /// Bumped whenever a sink is created or dropped, for whoever runs sinks.
    sinks_changed: tokio::sync::watch::Sender<u64>,
}

struct State {
    catalog: Catalog,
    next_id: GlobalId,
    /// Every time before `upper` is closed in the engine.
    upper: Time,
}

/// A `COPY … FROM STDIN` waiting for its data.
#[derive(Clone, Debug)]
pub(crate) struct PendingCopy {
    /// The table or source loaded.
    table: GlobalId,
    /// Positions in the relation of the columns the data holds.
    positions: Vec<usize>,
    columns: Vec<Column>,
    /// Whether the statement listed its columns; if not, a source's HEADER picks them.
    listed: bool,
    format: CopyFormat,
}

/// How long `COPY` into a source waits for the source to read what it published, so
/// that a query right after the COPY sees the rows. The records are durable either
/// way; a source that is behind (a slow broker) only makes the wait end early.
const COPY_READ_WAIT: Duration = Duration::from_secs(10);

/// Where the manual clock's reading is kept in storage.
const CLOCK_KEY: &str = "manual_clock";

/// The clock the engine's timeline follows.
enum Clock {
    Wall,
    /// Milliseconds since the Unix epoch, moved by `ADVANCE CLOCK`.
    Manual(std::sync::atomic::AtomicU64),
}

impl Clock {
    fn now(&self) -> Time {
        match self {
            Clock::Wall => vigil_engine::wall_clock_ms(),
            Clock::Manual(ms) => ms.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

/// How much history a materialized view keeps unless it says otherwise.
pub(crate) const DEFAULT_RETAIN_MS: Time = 60 * 60 * 1000;

/// How often the ticker advances the engine's clock.
const TICK: Duration = Duration::from_millis(10);

/// The longest the ticker holds time under load: while sources have more to read
/// than one batch, or the dataflows are still busy with the times already closed. Each new time costs every aggregate that changed in it an update (a
/// retraction and an insertion downstream), so under load the ticker lets input
/// gather at one time, for up to this long.
const BUSY_TICK: Duration = Duration::from_secs(1);

impl Inner {
    pub(crate) fn open(config: &Config) -> Result<Arc<Inner>, SqlError> {
        let storage = Storage::open(&config.data_dir)?;
        let log: Arc<dyn ChangeLog> = match &config.log {
            Some(log) => log.clone(),
            None => Arc::new(
                EmbeddedLog::open(&config.data_dir.join("changelog")).map_err(change_log_error)?,
            ),
        };
        let engine = Engine::start(config.workers).map_err(|e| SqlError::Engine(e.to_string()))?;
        let clock = match config.clock {
            ClockMode::Wall => Clock::Wall,
            ClockMode::Manual { start } => Clock::Manual(std::sync::atomic::AtomicU64::new(
                storage
                    .meta(CLOCK_KEY)?
                    .or(start)
                    .unwrap_or_else(vigil_engine::wall_clock_ms),
            )),
        };
        let (items, next_id) = storage.catalog::<ItemDef>()?;
        let comments = std::sync::Mutex::new(storage.comments()?);
        let introspection = Introspection {
            dataflow_errors: engine.errors().clone(),
            source_errors: engine.source_errors().clone(),
            frontiers: engine.frontiers().clone(),
            sources: Arc::default(),
            log,
            sinks: Arc::default(),
            sink_errors: SinkErrorLog::default(),
        };
        let inner = Arc::new(Inner {
            engine,
            clock,
            storage,
            comments,
            introspection,
            sink_check: std::sync::OnceLock::new(),
            sinks_changed: tokio::sync::watch::Sender::new(0),
            state: Mutex::new(State {
                catalog: Catalog::default(),
                next_id,
                upper: 1,
            }),
        });
        {
            // Nothing else holds the state yet: the ticker starts once this returns.
            let mut state = inner
                .state
                .try_lock()
                .map_err(|_| SqlError::Engine("coordinator state is busy during startup".into()))?;
            for (id, def) in items {
                let name = def.name.clone();
                futures::executor::block_on(inner.install(&mut state, id, def, true))
                    .map_err(|e| SqlError::Storage(format!("cannot restore {name}: {e}")))?;
            }
            inner.advance(&mut state)?;
        }
        Ok(inner)
    }

    /// Makes a catalog item live: registers it for planning and, for tables and
    /// materialized views, builds its dataflow. `restore` loads a table's stored rows.
    async fn install(
        &self,
        state: &mut State,
        id: GlobalId,
        def: ItemDef,
        restore: bool,
    ) -> Result<(), SqlError> {
        let provider: Arc<dyn datafusion::catalog::TableProvider> = match &def.kind {
            ItemKind::Table { .. } => {
                self.engine
                    .create_table(id, &def.name)
                    .map_err(engine_error)?;
                if restore {
                    let rows = self.storage.table_rows(id)?;
                    self.engine.update(id, rows).map_err(engine_error)?;
                }
                Arc::new(VigilTable {
                    id,
                    schema: to_arrow_schema(&def.desc),
                    table_type: TableType::Base,
                })
            }
            ItemKind::Source {
                topic,
                envelope,
                primary_key,
                paths,
                partitions,
            } => {
                let format = JsonFormat {
                    columns: def
                        .desc
                        .columns
                        .iter()
                        .zip(paths)
                        .map(|(column, path)| match path {
                            Some(path) => JsonColumn::at_path(column.clone(), path),
                            None => JsonColumn::named(column.clone()),
                        })
                        .collect(),
                };
                let envelope = match envelope {
                    SourceEnvelope::Upsert => Envelope::Upsert {
                        key: primary_key.clone(),
                    },
                    SourceEnvelope::Append => Envelope::Append,
                    SourceEnvelope::Debezium => Envelope::Debezium {
                        key: primary_key.clone(),
                    },
                };
                let status = Arc::new(SourceStatus::default());
                let spec = SourceSpec {
                    topic: topic.clone(),
                    log: self.introspection.log.clone(),
                    partitions: *partitions,
                    format,
                    envelope,
                    status: status.clone(),
                };
                self.engine
                    .create_source(id, &def.name, spec)
                    .map_err(engine_error)?;
                self.introspection
                    .sources
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, status);
                Arc::new(VigilTable {
                    id,
                    schema: to_arrow_schema(&def.desc),
                    table_type: TableType::Base,
                })
            }
            ItemKind::View { query } => {
                let ctx = self.context(&state.catalog);
                let plan = ctx.plan(crate::parse::parse_one(query)?).await?;
                Arc::new(ViewTable::new(plan, Some(def.create_sql.clone())))
            }
            ItemKind::Sink { .. } => {
                // The server runs sinks; queries never read them.
                self.sinks_changed.send_modify(|n| *n += 1);
                Arc::new(EmptyTable::new(to_arrow_schema(&def.desc)))
            }
            ItemKind::MaterializedView { query, retain_ms } => {
                let ctx = self.context(&state.catalog);
                let (dataflow, schema) = dataflow_plan(&ctx, query).await?;
                self.engine
                    .create_view(id, &def.name, dataflow, *retain_ms)
                    .map_err(engine_error)?;
                Arc::new(VigilTable {
                    id,
                    schema,
                    table_type: TableType::View,
                })
            }
        };
        state.catalog.insert(Entry { id, def, provider });
        Ok(())
    }

    /// A DataFusion session over `catalog` for one statement, with default settings.
    fn context(&self, catalog: &Catalog) -> PlanContext {
        self.session_context(catalog, &default_vars())
    }

    /// A DataFusion session over `catalog` for one statement of a session whose
    /// settings are `vars` (which `current_setting()` and pg_settings report).
    fn session_context(&self, catalog: &Catalog, vars: &Settings) -> PlanContext {
        let comments = self
            .comments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        PlanContext::new(
            catalog,
            &self.introspection,
            comments,
            vars.clone(),
            self.clock.now(),
        )
    }

    /// Closes the current time: later writes happen at a later time. The clock's
    /// reading itself is closed, so reads (at `upper - 1`) see the views as of
    /// `now()`. Each advance moves at least a millisecond, so under a manual clock
    /// writes run ahead of it by a millisecond each.
    fn advance(&self, state: &mut State) -> Result<(), SqlError> {
        let next = (self.clock.now() + 1).max(state.upper + 1);
        self.engine.advance_to(next).map_err(engine_error)?;
        state.upper = next;
        Ok(())
    }

    async fn catalog(&self) -> Catalog {
        self.state.lock().await.catalog.clone()
    }

    /// Peeks every relation `plan` scans at one time and hands the rows to `ctx`: only
    /// the rows a filter pins where it pins leading columns ([`crate::lookup`]).
    /// With `state` given (a write in progress) the caller already holds the lock.
    async fn read_snapshots(
        &self,
        ctx: &PlanContext,
        catalog: &Catalog,
        plan: &LogicalPlan,
        state: Option<&State>,
    ) -> Result<(), SqlError> {
        let mut ids = scanned_relations(plan).map_err(from_datafusion)?;
        ids.retain(|id| !ctx.snapshots.contains(*id));
        if ids.is_empty() {
            return Ok(());
        }
        let pending = {
            let guard;
            let state = match state {
                Some(state) => state,
                None => {
                    guard = self.state.lock().await;
                    &*guard
                }
            };
            let time = state.upper - 1;
            let prefixes = crate::lookup::prefixes(plan, catalog);
            ids.iter()
                .map(|&id| {
                    let peek = match prefixes.get(&id) {
                        Some(prefix) => self.engine.peek_prefix(id, time, prefix.clone()),
                        None => self.engine.peek(id, time),
                    };
                    Ok((id, peek.map_err(engine_error)?))
                })
                .collect::<Result<Vec<_>, SqlError>>()?
        };
        for (id, peek) in pending {
            let rows = peek.rows().await.map_err(engine_error)?;
            let entry = catalog
                .get(id)
                .ok_or_else(|| SqlError::UnknownRelation(format!("u{id}")))?;
            let batches = snapshot_batches(&entry.provider.schema(), rows)?;
            ctx.snapshots.insert(id, batches);
        }
        Ok(())
    }

    /// Runs a query plan over snapshots and returns its rows.
    async fn query(
        &self,
        ctx: &PlanContext,
        catalog: &Catalog,
        plan: LogicalPlan,
        state: Option<&State>,
    ) -> Result<(RelationDesc, Vec<Row>), SqlError> {
        self.read_snapshots(ctx, catalog, &plan, state).await?;
        let (schema, batches) = ctx.execute(plan).await.map_err(from_datafusion)?;
        result_rows(&schema, &batches)
    }

    pub(crate) async fn select(
        &self,
        statement: Statement,
        params: Option<&[Datum]>,
        vars: &Settings,
    ) -> Result<ExecuteResponse, SqlError> {
        let catalog = self.catalog().await;
        let ctx = self.session_context(&catalog, vars);
        let plan = bind(ctx.plan(statement).await?, params)?;
        let (desc, rows) = self.query(&ctx, &catalog, plan, None).await?;
        Ok(ExecuteResponse::Rows { desc, rows })
    }

    pub(crate) async fn describe(
        &self,
        statement: Statement,
        vars: &Settings,
    ) -> Result<(Vec<Option<ScalarType>>, Option<RelationDesc>), SqlError> {
        let returns_rows = matches!(statement, Statement::Query(_));
        let cast_types = placeholder_casts(&statement);
        let ctx = self.session_context(&self.catalog().await, vars);
        let plan = ctx.plan(statement).await?;
        // Fields, not types: a jsonb column's field carries the metadata that says so.
        let fields = plan.get_parameter_fields().map_err(from_datafusion)?;
        let count = fields
            .keys()
            .filter_map(|k| k.trim_start_matches('$').parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        let count = count.max(cast_types.keys().copied().max().unwrap_or(0));
        let params = (1..=count)
            .map(|n| {
                let inferred = fields
                    .get(&format!("${n}"))
                    .cloned()
                    .flatten()
                    .and_then(|field| scalar_type_of_field(&field).ok());
                // PostgreSQL types `$1::T` as T; DataFusion leaves it unknown.
                inferred.or_else(|| cast_types.get(&n).copied())
            })
            .collect();
        let desc = if returns_rows {
            Some(output_desc(plan.schema().as_arrow()))
        } else {
            None
        };
        Ok((params, desc))
    }

    pub(crate) async fn dml(
        &self,
        statement: Statement,
        params: Option<&[Datum]>,
        vars: &Settings,
    ) -> Result<ExecuteResponse, SqlError> {
        let mut state = self.state.lock().await;
        let catalog = for_writes(&state.catalog);
        let ctx = self.session_context(&catalog, vars);
        let plan = bind(ctx.plan(statement).await?, params)?;
        let LogicalPlan::Dml(dml) = plan else {
            return Err(SqlError::Unsupported(format!(
                "statement {}",
                plan.display()
            )));
        };
        let entry = table_entry(&catalog, dml.table_name.table())?;
        let input = dml.input.as_ref().clone();
        if matches!(dml.op, WriteOp::Update | WriteOp::Delete) {
            self.read_by_primary_key(&ctx, &entry, &input)?;
        }
        let (tag, updates) = match &dml.op {
            WriteOp::Insert(InsertOp::Append) => {
                let (_, rows) = self.query(&ctx, &catalog, input, Some(&state)).await?;
                (
                    "INSERT",
                    rows.into_iter().map(|r| (r, 1)).collect::<Vec<_>>(),
                )
            }
            WriteOp::Delete => {
                let (_, rows) = self.query(&ctx, &catalog, input, Some(&state)).await?;
                ("DELETE", rows.into_iter().map(|r| (r, -1)).collect())
            }
            WriteOp::Update => {
                let plan = old_and_new(&input, entry.def.desc.arity())?;
                let (_, rows) = self.query(&ctx, &catalog, plan, Some(&state)).await?;
                let arity = entry.def.desc.arity();
                let mut updates = Vec::with_capacity(rows.len() * 2);
                for mut row in rows {
                    let new = row.split_off(arity);
                    updates.push((row, -1));
                    updates.push((new, 1));
                }
                ("UPDATE", updates)
            }
            other => return Err(SqlError::Unsupported(format!("{other}"))),
        };
        let count = updates
            .iter()
            .filter(|(_, d)| if tag == "UPDATE" { *d > 0 } else { true })
            .count() as u64;
        self.write(&mut state, &entry, updates)?;
        let command = if tag == "INSERT" {
            "INSERT 0".to_string()
        } else {
            tag.to_string()
        };
        Ok(ExecuteResponse::Command(CommandTag {
            command,
            rows: Some(count),
        }))
    }

    /// When an UPDATE or DELETE pins every primary key column to a constant, reads that
    /// one row from storage instead of peeking the whole table; the statement's own
    /// filter still applies on top. Storage and the arrangement agree, because writes
    /// are serialized by the state lock the caller holds.
    fn read_by_primary_key(
        &self,
        ctx: &PlanContext,
        entry: &Entry,
        input: &LogicalPlan,
    ) -> Result<(), SqlError> {
        let ItemKind::Table { primary_key } = &entry.def.kind else {
            return Ok(());
        };
        if primary_key.is_empty() {
            return Ok(());
        }
        let Some(key) = pinned_key(input, entry, primary_key) else {
            return Ok(());
        };
        let rows: Vec<(Row, Diff)> = self
            .storage
            .lookup(entry.id, &key)?
            .map(|row| (row, 1))
            .into_iter()
            .collect();
        ctx.snapshots
            .insert(entry.id, snapshot_batches(&entry.provider.schema(), rows)?);
        Ok(())
    }

    /// Checks constraints, then makes the changes durable and visible.
    fn write(
        &self,
        state: &mut State,
        entry: &Entry,
        updates: Vec<(Row, Diff)>,
    ) -> Result<(), SqlError> {
        let ItemKind::Table { primary_key } = &entry.def.kind else {
            return Err(SqlError::WrongObjectType {
                name: entry.def.name.clone(),
                expected: "table",
            });
        };
        let desc = &entry.def.desc;
        let updates = updates
            .into_iter()
            .map(|(row, diff)| Ok((conform(row, desc, &entry.def.name, diff > 0)?, diff)))
            .collect::<Result<Vec<_>, SqlError>>()?;
        if updates.is_empty() {
            return Ok(());
        }
        let row_key = if primary_key.is_empty() {
            RowKey::WholeRow
        } else {
            self.check_unique(entry, primary_key, &updates)?;
            RowKey::Primary(primary_key.clone())
        };
        let mut batch = WriteBatch::default();
        batch.update_rows(entry.id, row_key, updates.clone());
        self.storage.commit(batch)?;
        self.engine
            .update(entry.id, updates)
            .map_err(engine_error)?;
        self.advance(state)
    }

    fn check_unique(
        &self,
        entry: &Entry,
        primary_key: &[usize],
        updates: &[(Row, Diff)],
    ) -> Result<(), SqlError> {
        let mut delta: BTreeMap<Row, Diff> = BTreeMap::new();
        for (row, diff) in updates {
            let key: Row = primary_key.iter().map(|&c| row[c].clone()).collect();
            *delta.entry(key).or_default() += diff;
        }
        for (key, diff) in delta {
            if diff <= 0 {
                continue;
            }
            let existing = Diff::from(self.storage.lookup(entry.id, &key)?.is_some());
            if existing + diff > 1 {
                let columns: Vec<&str> = primary_key
                    .iter()
                    .map(|&c| entry.def.desc.columns[c].name.as_str())
                    .collect();
                let values: Vec<String> = key
                    .iter()
                    .map(|d| {
                        vigil_engine::repr::text::datum_to_text(d).unwrap_or_else(|| "NULL".into())
                    })
                    .collect();
                return Err(SqlError::UniqueViolation {
                    constraint: format!("{}_pkey", entry.def.name),
                    key: format!("({})=({})", columns.join(", "), values.join(", ")),
                });
            }
        }
        Ok(())
    }

    pub(crate) async fn create_table(
        &self,
        create: CreateTable,
        sql: &str,
    ) -> Result<ExecuteResponse, SqlError> {
        let name = object_name(&create.name)?;
        let mut state = self.state.lock().await;
        if state.catalog.resolve(&name).is_some() {
            if create.if_not_exists {
                return Ok(command("CREATE TABLE"));
            }
            return Err(SqlError::DuplicateRelation(name));
        }
        let (columns, primary_key) = table_columns(&name, &create)?;
        let def = ItemDef {
            name,
            kind: ItemKind::Table { primary_key },
            desc: RelationDesc::new(columns),
            create_sql: sql.to_string(),
            depends_on: Vec::new(),
        };
        self.create_item(&mut state, def).await?;
        Ok(command("CREATE TABLE"))
    }

    /// The change log that sources read.
    pub(crate) fn log(&self) -> Arc<dyn ChangeLog> {
        self.introspection.log.clone()
    }

    /// `CREATE SOURCE`: creates the topic if it is missing (compacted for upsert and
    /// Debezium envelopes), then starts reading it.
    pub(crate) async fn create_source(
        &self,
        create: CreateSource,
        sql: &str,
    ) -> Result<ExecuteResponse, SqlError> {
        let name = object_name(&create.table.name)?;
        let mut state = self.state.lock().await;
        if state.catalog.resolve(&name).is_some() {
            if create.table.if_not_exists {
                return Ok(command("CREATE SOURCE"));
            }
            return Err(SqlError::DuplicateRelation(name));
        }
        let (columns, primary_key) = table_columns(&name, &create.table)?;
        let desc = RelationDesc::new(columns);
        let envelope = match (create.envelope, primary_key.is_empty()) {
            (Some(SourceEnvelope::Upsert | SourceEnvelope::Debezium), true) => {
                return Err(SqlError::InvalidOption {
                    option: "envelope".into(),
                    message: "upsert and debezium envelopes need a PRIMARY KEY to know which row a record replaces".into(),
                });
            }
            (Some(envelope), _) => envelope,
            (None, true) => SourceEnvelope::Append,
            (None, false) => SourceEnvelope::Upsert,
        };
        let mut paths = vec![None; desc.arity()];
        for (column, path) in &create.paths {
            let position = desc
                .position(column)
                .ok_or_else(|| SqlError::UnknownColumn {
                    relation: name.clone(),
                    column: column.clone(),
                })?;
            paths[position] = Some(path.clone());
        }
        let spec = TopicSpec {
            partitions: create.partitions.unwrap_or(1),
            retention: match envelope {
                SourceEnvelope::Append => Retention::All,
                SourceEnvelope::Upsert | SourceEnvelope::Debezium => Retention::Compact,
            },
        };
        let log = self.log();
        let topic = create.topic.clone();
        let partitions = tokio::task::spawn_blocking(move || log.ensure_topic(&topic, &spec))
            .await
            .map_err(|e| SqlError::ChangeLog(e.to_string()))?
            .map_err(change_log_error)?;
        let def = ItemDef {
            name,
            kind: ItemKind::Source {
                topic: create.topic,
                envelope,
                primary_key,
                paths,
                partitions,
            },
            desc,
            create_sql: sql.to_string(),
            depends_on: Vec::new(),
        };
        self.create_item(&mut state, def).await?;
        Ok(command("CREATE SOURCE"))
    }

    /// Persists a new item, then makes it live.
    async fn create_item(&self, state: &mut State, def: ItemDef) -> Result<GlobalId, SqlError> {
        if def.name.starts_with(introspection::RESERVED_PREFIX) {
            return Err(SqlError::ReservedName(def.name));
        }
        let id = state.next_id;
        let mut batch = WriteBatch::default();
        batch.put_catalog_item(id, &def)?;
        batch.set_next_id(id + 1);
        self.storage.commit(batch)?;
        state.next_id = id + 1;
        self.install(state, id, def, false).await?;
        Ok(id)
    }

    /// `CREATE [MATERIALIZED] VIEW`; `retain_ms` is a materialized view's `RETAIN
    /// HISTORY`, if given.
    pub(crate) async fn create_view(
        &self,
        create: CreateView,
        sql: &str,
        retain_ms: Option<Time>,
    ) -> Result<ExecuteResponse, SqlError> {
        let name = object_name(&create.name)?;
        let tag = if create.materialized {
            "CREATE MATERIALIZED VIEW"
        } else {
            "CREATE VIEW"
        };
        if create.or_replace {
            return Err(SqlError::Unsupported("CREATE OR REPLACE VIEW".into()));
        }
        let mut state = self.state.lock().await;
        if state.catalog.resolve(&name).is_some() {
            if create.if_not_exists {
                return Ok(command(tag));
            }
            return Err(SqlError::DuplicateRelation(name));
        }
        let query = view_query(&create);
        let ctx = self.context(&state.catalog);
        let plan = ctx.plan(crate::parse::parse_one(&query)?).await?;
        let depends_on = ctx.named_relations();
        let schema = plan.schema().as_arrow().clone();
        let mut desc = desc_of_schema(&schema).map_err(|e| SqlError::Unsupported(e.to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for column in &mut desc.columns {
            // Marked names are PostgreSQL's duplicates (see `crate::names`).
            let name = crate::names::display_name(&column.name);
            if !seen.insert(name.to_string()) {
                return Err(SqlError::DuplicateColumn(name.to_string()));
            }
        }
        let kind = if create.materialized {
            check_deterministic(&plan)?;
            let optimized = ctx.optimize(&plan).map_err(from_datafusion)?;
            // Fail here, not in the dataflow, if the plan cannot be maintained.
            lower(&optimized)?;
            desc = desc_of_schema(optimized.schema().as_arrow())
                .map_err(|e| SqlError::Unsupported(e.to_string()))?;
            ItemKind::MaterializedView {
                query,
                retain_ms: retain_ms.unwrap_or(DEFAULT_RETAIN_MS),
            }
        } else {
            if retain_ms.is_some() {
                return Err(SqlError::InvalidOption {
                    option: "retain history".into(),
                    message: "only materialized views keep history".into(),
                });
            }
            ItemKind::View { query }
        };
        let def = ItemDef {
            name,
            kind,
            desc,
            create_sql: sql.to_string(),
            depends_on,
        };
        self.create_item(&mut state, def).await?;
        Ok(command(tag))
    }

    /// `DROP <expected> names`, where `expected` is the noun of the items' kind
    /// (see [`ItemKind::noun`]).
    pub(crate) async fn drop_items(
        &self,
        expected: &'static str,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
    ) -> Result<ExecuteResponse, SqlError> {
        let tag = format!("DROP {}", expected.to_uppercase());
        let mut state = self.state.lock().await;
        let mut batch = WriteBatch::default();
        let mut to_drop: Vec<GlobalId> = Vec::new();
        for name in names {
            let name = object_name(name)?;
            let Some(entry) = state.catalog.resolve(&name) else {
                if if_exists {
                    continue;
                }
                return Err(SqlError::UnknownRelation(name));
            };
            if entry.def.kind.noun() != expected {
                return Err(SqlError::WrongObjectType { name, expected });
            }
            let order = state.catalog.drop_order(entry.id);
            if order.len() > 1 && !cascade {
                let dependents = order
                    .iter()
                    .filter(|&&id| id != entry.id)
                    .filter_map(|&id| state.catalog.get(id))
                    .map(|e| format!("{} {}", e.def.kind.noun(), e.def.name))
                    .collect();
                return Err(SqlError::DependentObjects {
                    name: format!("{expected} {name}"),
                    dependents,
                });
            }
            for id in order {
                if !to_drop.contains(&id) {
                    to_drop.push(id);
                }
            }
        }
        for &id in &to_drop {
            batch.delete_catalog_item(id);
            if matches!(
                state.catalog.get(id).map(|e| &e.def.kind),
                Some(ItemKind::Sink { .. })
            ) {
                batch.delete_meta(&crate::sink::frontier_key(id));
                batch.delete_meta(&crate::sink::created_key(id));
            }
        }
        self.storage.commit(batch)?;
        {
            let mut comments = self.comments.lock().unwrap_or_else(|e| e.into_inner());
            for &id in &to_drop {
                comments.remove_relation(id);
            }
        }
        for id in to_drop {
            let Some(entry) = state.catalog.remove(id) else {
                continue;
            };
            if let ItemKind::Sink { .. } = entry.def.kind {
                self.introspection
                    .sinks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                self.introspection.sink_errors.remove_sink(&entry.def.name);
                self.sinks_changed.send_modify(|n| *n += 1);
                continue;
            }
            if let ItemKind::Source { .. } = entry.def.kind {
                self.introspection
                    .sources
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                self.introspection
                    .source_errors
                    .remove_source(&entry.def.name);
            }
            if !matches!(entry.def.kind, ItemKind::View { .. }) {
                self.engine.drop_relation(id).map_err(engine_error)?;
            }
        }
        Ok(command(&tag))
    }

    /// `COMMENT ON TABLE | VIEW | MATERIALIZED VIEW | COLUMN … IS '…'`; `IS NULL`
    /// removes the comment. Stored durably beside the catalog, not in the item's
    /// definition, and dropped with the relation.
    pub(crate) async fn comment(
        &self,
        object_type: CommentObject,
        name: &ObjectName,
        comment: Option<String>,
        if_exists: bool,
    ) -> Result<ExecuteResponse, SqlError> {
        let (relation, column, expected) = match object_type {
            CommentObject::Table => (name.clone(), None, Some("table")),
            CommentObject::View => (name.clone(), None, Some("view")),
            CommentObject::MaterializedView => (name.clone(), None, Some("materialized view")),
            CommentObject::Column => {
                let mut parts = name.0.clone();
                let column = parts
                    .pop()
                    .and_then(|part| part.as_ident().map(normalize))
                    .filter(|_| !parts.is_empty())
                    .ok_or_else(|| {
                        SqlError::Parse(format!("column name \"{name}\" must be qualified"))
                    })?;
                (ObjectName(parts), Some(column), None)
            }
            other => return Err(SqlError::Unsupported(format!("COMMENT ON {other}"))),
        };
        let relation_name = object_name(&relation)?;
        let state = self.state.lock().await;
        let Some(entry) = state.catalog.relation(&relation_name) else {
            if if_exists {
                return Ok(command("COMMENT"));
            }
            return Err(SqlError::UnknownRelation(relation_name));
        };
        if let Some(expected) = expected
            && comment_noun(&entry.def.kind) != expected
        {
            return Err(SqlError::WrongObjectType {
                name: relation_name,
                expected,
            });
        }
        let number = match &column {
            None => 0,
            Some(column) => {
                let position =
                    entry
                        .def
                        .desc
                        .position(column)
                        .ok_or_else(|| SqlError::UnknownColumn {
                            relation: relation_name.clone(),
                            column: column.clone(),
                        })?;
                position as i32 + 1
            }
        };
        let mut batch = WriteBatch::default();
        batch.set_comment(entry.id, number, comment.clone());
        self.storage.commit(batch)?;
        self.comments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set(entry.id, number, comment);
        Ok(command("COMMENT"))
    }

    pub(crate) async fn start_copy(
        &self,
        statement: Statement,
    ) -> Result<(ExecuteResponse, PendingCopy), SqlError> {
        let Statement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } = statement
        else {
            return Err(SqlError::Unsupported("this COPY".into()));
        };
        let CopySource::Table {
            table_name,
            columns,
        } = source
        else {
            return Err(SqlError::Unsupported("COPY (query)".into()));
        };
        if to || !matches!(target, CopyTarget::Stdin) {
            return Err(SqlError::Unsupported(
                "COPY other than FROM STDIN (use SELECT or SUBSCRIBE to read data)".into(),
            ));
        }
        let format = CopyFormat::from_options(&options, &legacy_options)?;
        let catalog = self.catalog().await;
        let entry = copy_entry(&catalog, &object_name(&table_name)?)?;
        let desc = &entry.def.desc;
        let positions = if columns.is_empty() {
            (0..desc.arity()).collect()
        } else {
            columns
                .iter()
                .map(|ident| {
                    let name = normalize(ident);
                    desc.position(&name).ok_or_else(|| SqlError::UnknownColumn {
                        relation: entry.def.name.clone(),
                        column: name,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let copy_columns: Vec<Column> =
            positions.iter().map(|&p| desc.columns[p].clone()).collect();
        let response = ExecuteResponse::CopyIn {
            table: entry.def.name.clone(),
            columns: copy_columns.clone(),
        };
        Ok((
            response,
            PendingCopy {
                table: entry.id,
                positions,
                columns: copy_columns,
                listed: !columns.is_empty(),
                format,
            },
        ))
    }

    pub(crate) async fn finish_copy(
        &self,
        copy: &PendingCopy,
        data: &[u8],
    ) -> Result<u64, SqlError> {
        let entry = self
            .catalog()
            .await
            .get(copy.table)
            .cloned()
            .ok_or_else(|| SqlError::UnknownRelation(format!("u{}", copy.table)))?;
        match &entry.def.kind {
            ItemKind::Table { .. } => self.copy_into_table(copy, data).await,
            ItemKind::Source {
                topic,
                envelope,
                primary_key,
                paths,
                ..
            } => {
                let key = match envelope {
                    SourceEnvelope::Upsert => Some(primary_key.clone()),
                    SourceEnvelope::Append => None,
                    SourceEnvelope::Debezium => return Err(copy_into_debezium(&entry.def.name)),
                };
                let encoder = SourceEncoder::new(&entry.def.desc, paths, key);
                self.copy_into_source(&entry, topic, &encoder, copy, data)
                    .await
            }
            ItemKind::View { .. } | ItemKind::MaterializedView { .. } | ItemKind::Sink { .. } => {
                Err(SqlError::WrongObjectType {
                    name: entry.def.name.clone(),
                    expected: "table or source",
                })
            }
        }
    }

    async fn copy_into_table(&self, copy: &PendingCopy, data: &[u8]) -> Result<u64, SqlError> {
        let decoded = copy.format.decode(data, &copy.columns)?;
        let mut state = self.state.lock().await;
        let entry = state
            .catalog
            .get(copy.table)
            .cloned()
            .ok_or_else(|| SqlError::UnknownRelation(format!("u{}", copy.table)))?;
        let arity = entry.def.desc.arity();
        let count = decoded.len() as u64;
        let updates = decoded
            .into_iter()
            .map(|values| {
                let mut row = vec![Datum::Null; arity];
                for (value, &position) in values.into_iter().zip(&copy.positions) {
                    row[position] = value;
                }
                (row, 1)
            })
            .collect();
        self.write(&mut state, &entry, updates)?;
        Ok(count)
    }

    /// Decodes every row first (a bad one fails the COPY and publishes nothing), then
    /// publishes them all in one call, which the embedded log appends atomically, and
    /// waits (briefly) for the source to read them.
    async fn copy_into_source(
        &self,
        entry: &Entry,
        topic: &str,
        encoder: &SourceEncoder,
        copy: &PendingCopy,
        data: &[u8],
    ) -> Result<u64, SqlError> {
        let desc = &entry.def.desc;
        let split = copy.format.split(data)?;
        let positions = match (&split.header, copy.listed) {
            (Some(header), false) => copy::header_positions(header, &entry.def.name, desc)?,
            (Some(header), true) => {
                copy::check_header(header, &copy.columns)?;
                copy.positions.clone()
            }
            (None, _) => copy.positions.clone(),
        };
        let columns: Vec<Column> = positions.iter().map(|&p| desc.columns[p].clone()).collect();
        let batch = copy::new_batch_id("stdin");
        let mut messages = Vec::with_capacity(split.lines.len());
        for line in &split.lines {
            if line.is_empty() && columns.len() != 1 {
                continue;
            }
            let mut row = vec![Datum::Null; desc.arity()];
            for (value, &position) in line.decode(&columns)?.into_iter().zip(&positions) {
                row[position] = value;
            }
            let raw = data.get(line.raw.clone()).unwrap_or_default();
            Lineage {
                source_system: "csv".into(),
                source_record_id: format!("stdin:{}", line.line),
                ingest_batch_id: batch.clone(),
                payload_sha256: copy::sha256_hex(raw),
            }
            .fill(desc, &mut row);
            if let Some(column) = desc
                .columns
                .iter()
                .zip(&row)
                .find_map(|(c, d)| (!c.nullable && d.is_null()).then_some(c))
            {
                return Err(SqlError::NotNullViolation {
                    relation: entry.def.name.clone(),
                    column: column.name.clone(),
                });
            }
            messages.push((encoder.key(desc, &row), encoder.value(&row)));
        }
        let count = messages.len() as u64;
        if messages.is_empty() {
            return Ok(0);
        }
        let log = self.log();
        let topic_name = topic.to_owned();
        let landed = tokio::task::spawn_blocking(move || {
            let messages: Vec<Message<'_>> = messages
                .iter()
                .map(|(key, value)| Message {
                    key: key.as_deref(),
                    value: Some(value),
                })
                .collect();
            log.publish(&topic_name, &messages)
        })
        .await
        .map_err(|e| SqlError::ChangeLog(e.to_string()))?
        .map_err(change_log_error)?;
        self.await_source_read(entry.id, &landed).await;
        Ok(count)
    }

    /// Waits until source `id` has read past every offset in `landed`, or
    /// [`COPY_READ_WAIT`] has passed.
    async fn await_source_read(&self, id: GlobalId, landed: &[(u32, u64)]) {
        let mut needed: BTreeMap<u32, u64> = BTreeMap::new();
        for &(partition, offset) in landed {
            let next = needed.entry(partition).or_default();
            *next = (*next).max(offset + 1);
        }
        let Some(status) = self
            .introspection
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
        else {
            return;
        };
        // Past the wait the rows still arrive; the statement just does not wait for them.
        let _ = tokio::time::timeout(COPY_READ_WAIT, status.read_through(&needed)).await;
    }

    pub(crate) async fn explain(&self, query: &str) -> Result<ExecuteResponse, SqlError> {
        let catalog = self.catalog().await;
        let ctx = self.context(&catalog);
        let plan = ctx.plan(crate::parse::parse_one(query)?).await?;
        check_deterministic(&plan)?;
        let optimized = ctx.optimize(&plan).map_err(from_datafusion)?;
        let dataflow = lower(&optimized)?;
        Ok(text_rows(
            "QUERY PLAN",
            dataflow.to_string().lines().map(str::to_string).collect(),
        ))
    }

    pub(crate) async fn explain_view(&self, name: &str) -> Result<ExecuteResponse, SqlError> {
        let catalog = self.catalog().await;
        let entry = catalog
            .resolve(name)
            .ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
        match &entry.def.kind {
            ItemKind::MaterializedView { query, .. } => self.explain(query).await,
            _ => Err(SqlError::WrongObjectType {
                name: name.to_string(),
                expected: "materialized view",
            }),
        }
    }

    pub(crate) async fn await_current(&self, name: &str) -> Result<(), SqlError> {
        let pending = {
            let state = self.state.lock().await;
            let entry = state
                .catalog
                .relation(name)
                .ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
            if matches!(entry.def.kind, ItemKind::View { .. }) {
                return Err(SqlError::WrongObjectType {
                    name: name.to_string(),
                    expected: "table or materialized view",
                });
            }
            self.engine
                .await_complete(entry.id, state.upper - 1)
                .map_err(engine_error)?
        };
        pending.rows().await.map_err(engine_error)?;
        Ok(())
    }

    /// `CREATE SINK`: checks the view and the options, then records the sink; the
    /// server starts it when it sees the catalog change.
    pub(crate) async fn create_sink(
        &self,
        create: CreateSink,
        sql: &str,
    ) -> Result<ExecuteResponse, SqlError> {
        let mut state = self.state.lock().await;
        if state.catalog.resolve(&create.name).is_some() {
            if create.if_not_exists {
                return Ok(command("CREATE SINK"));
            }
            return Err(SqlError::DuplicateRelation(create.name));
        }
        let from = state
            .catalog
            .relation(&create.from)
            .ok_or_else(|| SqlError::UnknownRelation(create.from.clone()))?
            .clone();
        if let Some(check) = self.sink_check.get() {
            check(&create.target, &create.options, &from.def.desc).map_err(|message| {
                SqlError::InvalidOption {
                    option: "sink".into(),
                    message,
                }
            })?;
        }
        let def = ItemDef {
            name: create.name,
            kind: ItemKind::Sink {
                from: from.id,
                target: create.target,
                options: create.options,
            },
            desc: from.def.desc.clone(),
            create_sql: sql.to_string(),
            depends_on: vec![from.id],
        };
        let created = state.upper - 1;
        let id = self.create_item(&mut state, def).await?;
        let mut batch = WriteBatch::default();
        batch.set_meta(&crate::sink::created_key(id), created);
        self.storage.commit(batch)?;
        Ok(command("CREATE SINK"))
    }

    pub(crate) fn set_sink_check(&self, check: SinkCheck) {
        let _ = self.sink_check.set(check);
    }

    pub(crate) fn watch_sinks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sinks_changed.subscribe()
    }

    /// Every sink in the catalog.
    pub(crate) async fn sinks(&self) -> Vec<SinkDef> {
        let catalog = self.catalog().await;
        catalog
            .entries()
            .filter_map(|entry| {
                let ItemKind::Sink {
                    from,
                    target,
                    options,
                } = &entry.def.kind
                else {
                    return None;
                };
                Some(SinkDef {
                    id: entry.id,
                    name: entry.def.name.clone(),
                    from: catalog.get(*from)?.def.name.clone(),
                    from_desc: entry.def.desc.clone(),
                    target: target.clone(),
                    options: options.clone(),
                })
            })
            .collect()
    }

    /// What sink `id` has delivered.
    pub(crate) fn sink_progress(&self, id: GlobalId) -> Result<SinkProgress, SqlError> {
        Ok(SinkProgress {
            created: self.storage.meta(&crate::sink::created_key(id))?,
            frontier: self.storage.meta(&crate::sink::frontier_key(id))?,
            delivered: self.storage.table_rows(id)?,
        })
    }

    /// Records durably that sink `id` delivered `changes` and everything before
    /// `frontier`.
    pub(crate) fn commit_sink(
        &self,
        id: GlobalId,
        changes: Vec<(Row, Diff)>,
        frontier: Time,
    ) -> Result<(), SqlError> {
        let mut batch = WriteBatch::default();
        if !changes.is_empty() {
            batch.update_rows(id, RowKey::WholeRow, changes);
        }
        batch.set_meta(&crate::sink::frontier_key(id), frontier);
        self.storage.commit(batch)
    }

    /// Sink `id`'s counters, registered for `vigil_sinks`.
    pub(crate) fn sink_status(&self, id: GlobalId) -> Arc<SinkStatus> {
        self.introspection
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    pub(crate) fn sink_errors(&self) -> SinkErrorLog {
        self.introspection.sink_errors.clone()
    }

    /// Every source's progress.
    fn source_statuses(&self) -> Vec<Arc<SourceStatus>> {
        let sources = self
            .introspection
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sources.values().cloned().collect()
    }

    /// Whether some source's last read filled a whole batch: a load is under way.
    fn sources_backlogged(&self) -> bool {
        self.source_statuses()
            .iter()
            .any(|status| status.backlogged.load(std::sync::atomic::Ordering::Relaxed) > 0)
    }

    /// Records read by every source so far.
    fn records_read(&self) -> u64 {
        self.source_statuses()
            .iter()
            .flat_map(|status| status.partitions().into_values())
            .map(|p| p.records)
            .sum()
    }

    /// Starts following `target` (see [`crate::subscribe`]).
    pub(crate) async fn subscribe(
        &self,
        target: SubscribeTarget,
        options: SubscribeOptions,
    ) -> Result<Subscription, SqlError> {
        // The lock keeps compaction from overtaking the as-of before the
        // subscription reaches the workers.
        let state = self.state.lock().await;
        let ctx = self.context(&state.catalog);
        let (engine_target, desc) = match &target {
            SubscribeTarget::Relation(name) => {
                let entry = state
                    .catalog
                    .relation(name)
                    .ok_or_else(|| SqlError::UnknownRelation(name.clone()))?;
                match &entry.def.kind {
                    ItemKind::View { query } => {
                        let (plan, _) = dataflow_plan(&ctx, query).await?;
                        (EngineTarget::Plan(Arc::new(plan)), entry.def.desc.clone())
                    }
                    _ => (EngineTarget::Relation(entry.id), entry.def.desc.clone()),
                }
            }
            SubscribeTarget::Query(query) => {
                let (plan, schema) = dataflow_plan(&ctx, query).await?;
                let mut desc =
                    desc_of_schema(&schema).map_err(|e| SqlError::Unsupported(e.to_string()))?;
                for column in &mut desc.columns {
                    column.name = crate::names::display_name(&column.name).to_string();
                }
                (EngineTarget::Plan(Arc::new(plan)), desc)
            }
        };
        let reads = match &engine_target {
            EngineTarget::Relation(id) => vec![*id],
            EngineTarget::Plan(plan) => plan.depends_on(),
        };
        // What every relation read still holds (the engine compacts no further,
        // see `vigil_engine::runtime`), so a too-old as-of fails here, at once.
        let retained = reads
            .iter()
            .map(|id| match state.catalog.get(*id).map(|e| &e.def.kind) {
                Some(ItemKind::MaterializedView { retain_ms, .. }) => *retain_ms,
                _ => 0,
            })
            .min()
            .unwrap_or(0);
        let since = (state.upper - 1).saturating_sub(retained);
        // Without an AS OF, a snapshot is read at the latest complete time; changes
        // only start one past it, which needs no history before what is current, so
        // it works on relations that retain none.
        let as_of = options.as_of.unwrap_or(if options.snapshot {
            state.upper - 1
        } else {
            state.upper
        });
        let needed = if options.snapshot {
            as_of
        } else {
            as_of.saturating_sub(1)
        };
        if needed < since {
            return Err(SqlError::HistoryCompacted { as_of, since });
        }
        let inner = self
            .engine
            .subscribe(engine_target, as_of, options.snapshot)
            .map_err(engine_error)?;
        Ok(Subscription {
            desc,
            as_of,
            options,
            inner,
        })
    }

    /// `ADVANCE CLOCK TO ts | BY interval`: moves the manual clock forward, then the
    /// engine's timeline with it, so temporal filters fire with no new input.
    pub(crate) async fn advance_clock(&self, to: ClockTarget) -> Result<ExecuteResponse, SqlError> {
        let Clock::Manual(reading) = &self.clock else {
            return Err(SqlError::ClockError(
                "the clock is the wall clock; start the server with --clock manual to advance it by hand".into(),
            ));
        };
        let mut state = self.state.lock().await;
        let current = reading.load(std::sync::atomic::Ordering::SeqCst);
        let target = match to {
            ClockTarget::To(ms) => ms,
            ClockTarget::By(ms) => current.saturating_add(ms),
        };
        if target < current {
            return Err(SqlError::ClockError(format!(
                "the clock cannot go back: it reads {} and {} is earlier",
                format_ms(current),
                format_ms(target)
            )));
        }
        let mut batch = WriteBatch::default();
        batch.set_meta(CLOCK_KEY, target);
        self.storage.commit(batch)?;
        reading.store(target, std::sync::atomic::Ordering::SeqCst);
        self.advance(&mut state)?;
        Ok(command("ADVANCE CLOCK"))
    }

    pub(crate) async fn show_relations(&self, noun: &str) -> Result<ExecuteResponse, SqlError> {
        let catalog = self.catalog().await;
        let mut names: Vec<String> = catalog
            .entries()
            .filter(|e| e.def.kind.noun() == noun)
            .map(|e| e.def.name.clone())
            .collect();
        names.sort();
        Ok(text_rows("name", names))
    }

    pub(crate) async fn show_columns(&self, name: &str) -> Result<ExecuteResponse, SqlError> {
        let catalog = self.catalog().await;
        let entry = catalog
            .relation(name)
            .ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
        let desc = RelationDesc::new(vec![
            text_column("name"),
            Column {
                name: "nullable".into(),
                ty: ScalarType::Bool,
                nullable: false,
            },
            text_column("type"),
        ]);
        let rows = entry
            .def
            .desc
            .columns
            .iter()
            .map(|c| {
                vec![
                    Datum::Text(c.name.clone()),
                    Datum::Bool(c.nullable),
                    Datum::Text(c.ty.pg_name()),
                ]
            })
            .collect();
        Ok(ExecuteResponse::Rows { desc, rows })
    }

    pub(crate) async fn show_create(&self, name: &str) -> Result<ExecuteResponse, SqlError> {
        let catalog = self.catalog().await;
        let entry = catalog
            .resolve(name)
            .ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
        let desc = RelationDesc::new(vec![text_column("name"), text_column("create_sql")]);
        let rows = vec![vec![
            Datum::Text(entry.def.name.clone()),
            Datum::Text(entry.def.create_sql.clone()),
        ]];
        Ok(ExecuteResponse::Rows { desc, rows })
    }
}

/// Plans, optimizes and lowers `query` into a dataflow plan, with the schema of what
/// it produces.
async fn dataflow_plan(ctx: &PlanContext, query: &str) -> Result<(Plan, SchemaRef), SqlError> {
    let plan = ctx.plan(crate::parse::parse_one(query)?).await?;
    check_deterministic(&plan)?;
    let optimized = ctx.optimize(&plan).map_err(from_datafusion)?;
    let dataflow = lower(&optimized)?;
    Ok((dataflow, Arc::new(optimized.schema().as_arrow().clone())))
}

/// Where `ADVANCE CLOCK` moves the manual clock (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClockTarget {
    To(Time),
    By(Time),
}

/// A time on the timeline as PostgreSQL prints a timestamptz.
fn format_ms(ms: Time) -> String {
    let micros = i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1000);
    vigil_engine::repr::text::datum_to_text(&Datum::TimestampTz(micros)).unwrap_or_default()
}

/// The thread that advances the engine's clock; dropping it stops the thread and
/// waits for it, so the ticker never holds the coordinator past its last handle
/// (and a data directory reopened right after is free).
pub(crate) struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Advances the engine's clock with the wall clock, so times keep moving without
/// writes, until the returned [`Ticker`] is dropped.
///
/// Under a manual clock the timeline stands still between `ADVANCE CLOCK`s, except
/// that it moves a millisecond past the reading when sources have read new
/// records, so what they read becomes visible without waiting for the clock.
///
/// Under load (a source behind its log, or workers busy with closed times) the
/// ticker waits up to [`BUSY_TICK`], so a load lands in a few large batches rather
/// than one small one per tick; a trickle of changes still moves every tick.
pub(crate) fn spawn_ticker(inner: &Arc<Inner>) -> Ticker {
    let inner: Weak<Inner> = Arc::downgrade(inner);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("vigil-ticker".into())
        .spawn(move || {
            let mut records_read = 0;
            let mut sources_moved = false;
            let mut advanced = std::time::Instant::now();
            loop {
                std::thread::sleep(TICK);
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Some(inner) = inner.upgrade() else { return };
                let Ok(mut state) = inner.state.try_lock() else {
                    continue;
                };
                // The wall clock moves every tick anyway; only a manual clock needs
                // to know whether sources read anything.
                if matches!(inner.clock, Clock::Manual(_)) {
                    let read = inner.records_read();
                    sources_moved |= read != records_read;
                    records_read = read;
                }
                let due = inner.clock.now() >= state.upper || sources_moved;
                let loading =
                    inner.sources_backlogged() || inner.engine.busy_through(state.upper - 1);
                let held = loading && advanced.elapsed() < BUSY_TICK;
                if !due || held {
                    continue;
                }
                if inner.advance(&mut state).is_err() {
                    return;
                }
                sources_moved = false;
                advanced = std::time::Instant::now();
            }
        });
    let thread = match spawned {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::error!("cannot start the clock ticker: {e}");
            None
        }
    };
    Ticker { stop, thread }
}

/// The catalog as write statements see it: every table column nullable, so NOT NULL
/// is checked by Vigil (23502, naming the column) rather than failing inside
/// DataFusion.
fn for_writes(catalog: &Catalog) -> Catalog {
    let mut writable = catalog.clone();
    for entry in catalog.entries() {
        if let ItemKind::Table { .. } = entry.def.kind {
            let mut desc = entry.def.desc.clone();
            desc.columns.iter_mut().for_each(|c| c.nullable = true);
            let mut entry = entry.as_ref().clone();
            entry.provider = Arc::new(VigilTable {
                id: entry.id,
                schema: to_arrow_schema(&desc),
                table_type: TableType::Base,
            });
            writable.insert(entry);
        }
    }
    writable
}

/// A completed command without a row count.
pub(crate) fn command(tag: &str) -> ExecuteResponse {
    ExecuteResponse::Command(CommandTag {
        command: tag.to_string(),
        rows: None,
    })
}

pub(crate) fn text_column(name: &str) -> Column {
    Column {
        name: name.to_string(),
        ty: ScalarType::Text,
        nullable: true,
    }
}

/// A one-column text result.
pub(crate) fn text_rows(column: &str, values: Vec<String>) -> ExecuteResponse {
    ExecuteResponse::Rows {
        desc: RelationDesc::new(vec![text_column(column)]),
        rows: values.into_iter().map(|v| vec![Datum::Text(v)]).collect(),
    }
}

fn change_log_error(e: LogError) -> SqlError {
    match e {
        LogError::InvalidTopicName(_) => SqlError::InvalidOption {
            option: "topic".into(),
            message: e.to_string(),
        },
        LogError::InvalidPartitionCount(_) => SqlError::InvalidOption {
            option: "partitions".into(),
            message: e.to_string(),
        },
        LogError::UnknownTopic(_)
        | LogError::MissingKey(_)
        | LogError::UnknownPartition { .. }
        | LogError::Storage(_)
        | LogError::Kafka(_) => SqlError::ChangeLog(e.to_string()),
    }
}

fn engine_error(e: vigil_engine::EngineError) -> SqlError {
    SqlError::Engine(e.to_string())
}

fn normalize(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The relation name of `name`, which may be qualified by the `public` schema.
fn object_name(name: &ObjectName) -> Result<String, SqlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(normalize)
                .ok_or_else(|| SqlError::Parse(format!("invalid name {name}")))
        })
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [relation] => Ok(relation.clone()),
        [schema, relation] if schema == "public" => Ok(relation.clone()),
        [catalog, schema, relation]
            if schema == "public" && (catalog == "vigil" || catalog == "materialize") =>
        {
            Ok(relation.clone())
        }
        _ => Err(SqlError::UnknownRelation(name.to_string())),
    }
}

/// What `COMMENT ON <noun>` calls an item; exhaustive, so a new kind of item says
/// which noun names it.
fn comment_noun(kind: &ItemKind) -> &'static str {
    match kind {
        ItemKind::Table { .. } => "table",
        ItemKind::View { .. } => "view",
        ItemKind::MaterializedView { .. } => "materialized view",
        ItemKind::Source { .. } => "table",
        ItemKind::Sink { .. } => "sink",
    }
}

/// The columns and primary key (column positions) a `CREATE TABLE` declares; a
/// primary key's columns are NOT NULL.
fn table_columns(name: &str, create: &CreateTable) -> Result<(Vec<Column>, Vec<usize>), SqlError> {
    let mut columns: Vec<Column> = Vec::new();
    let mut primary_key: Vec<usize> = Vec::new();
    for def in &create.columns {
        let column_name = normalize(&def.name);
        if columns.iter().any(|c| c.name == column_name) {
            return Err(SqlError::DuplicateColumn(column_name));
        }
        let mut nullable = true;
        for option in &def.options {
            match &option.option {
                ColumnOption::Null => {}
                ColumnOption::NotNull => nullable = false,
                ColumnOption::PrimaryKey(_) => {
                    nullable = false;
                    primary_key.push(columns.len());
                }
                other => return Err(SqlError::Unsupported(format!("column option {other}"))),
            }
        }
        columns.push(Column {
            name: column_name,
            ty: scalar_type_of_sql(&def.data_type)?,
            nullable,
        });
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                if !primary_key.is_empty() {
                    return Err(SqlError::Plan(format!(
                        "multiple primary keys for table \"{name}\" are not allowed"
                    )));
                }
                for index_column in &pk.columns {
                    let column_name = match &index_column.column.expr {
                        ast::Expr::Identifier(ident) => normalize(ident),
                        other => {
                            return Err(SqlError::Unsupported(format!(
                                "primary key expression {other}"
                            )));
                        }
                    };
                    let position = columns
                        .iter()
                        .position(|c| c.name == column_name)
                        .ok_or_else(|| SqlError::UnknownColumn {
                            relation: name.to_string(),
                            column: column_name.clone(),
                        })?;
                    columns[position].nullable = false;
                    primary_key.push(position);
                }
            }
            other => return Err(SqlError::Unsupported(format!("constraint {other}"))),
        }
    }
    Ok((columns, primary_key))
}

/// What `COPY … FROM STDIN` can load: a table, or a source with an upsert or append
/// envelope (a Debezium source's records are change events that a row cannot spell).
fn copy_entry(catalog: &Catalog, name: &str) -> Result<Arc<Entry>, SqlError> {
    let entry = catalog
        .relation(name)
        .ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
    match &entry.def.kind {
        ItemKind::Table { .. } => Ok(entry.clone()),
        ItemKind::Source { envelope, .. } => match envelope {
            SourceEnvelope::Upsert | SourceEnvelope::Append => Ok(entry.clone()),
            SourceEnvelope::Debezium => Err(copy_into_debezium(name)),
        },
        ItemKind::View { .. } | ItemKind::MaterializedView { .. } | ItemKind::Sink { .. } => {
            Err(SqlError::WrongObjectType {
                name: name.to_string(),
                expected: "table or source",
            })
        }
    }
}

fn copy_into_debezium(name: &str) -> SqlError {
    SqlError::Unsupported(format!(
        "COPY into source \"{name}\" with the debezium envelope (publish Debezium change events to its topic instead)"
    ))
}

fn table_entry(catalog: &Catalog, name: &str) -> Result<Arc<Entry>, SqlError> {
    let entry = catalog
        .relation(name)
        .ok_or_else(|| SqlError::UnknownRelation(name.to_string()))?;
    match entry.def.kind {
        ItemKind::Table { .. } => Ok(entry.clone()),
        _ => Err(SqlError::WrongObjectType {
            name: name.to_string(),
            expected: "table",
        }),
    }
}

/// The view's query text, with its column list applied as aliases.
fn view_query(create: &CreateView) -> String {
    if create.columns.is_empty() {
        return create.query.to_string();
    }
    let aliases: Vec<String> = create.columns.iter().map(|c| c.name.to_string()).collect();
    format!(
        "SELECT * FROM ({}) AS __vigil_view ({})",
        create.query,
        aliases.join(", ")
    )
}

/// Maps a SQL type name to a Vigil type.
pub(crate) fn scalar_type_of_sql(data_type: &ast::DataType) -> Result<ScalarType, SqlError> {
    use ast::DataType as T;
    Ok(match data_type {
        T::Boolean | T::Bool => ScalarType::Bool,
        T::SmallInt(_) | T::Int2(_) => ScalarType::Int16,
        T::Int(_) | T::Integer(_) | T::Int4(_) => ScalarType::Int32,
        T::BigInt(_) | T::Int8(_) => ScalarType::Int64,
        T::Real | T::Float4 | T::Float(_) | T::Double(_) | T::DoublePrecision | T::Float8 => {
            ScalarType::Float64
        }
        T::Numeric(info) | T::Decimal(info) | T::Dec(info) => match info {
            ExactNumberInfo::None => DEFAULT_NUMERIC,
            ExactNumberInfo::Precision(p) => numeric(*p, 0)?,
            ExactNumberInfo::PrecisionAndScale(p, s) => numeric(*p, *s)?,
        },
        T::Text
        | T::Varchar(_)
        | T::CharVarying(_)
        | T::CharacterVarying(_)
        | T::Char(_)
        | T::Character(_)
        | T::String(_) => ScalarType::Text,
        T::Date => ScalarType::Date,
        T::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => ScalarType::TimestampTz,
            _ => ScalarType::Timestamp,
        },
        T::Interval { .. } => ScalarType::Interval,
        T::JSONB => ScalarType::Jsonb,
        T::JSON => ScalarType::Json,
        T::Array(ast::ArrayElemTypeDef::SquareBracket(inner, None))
        | T::Array(ast::ArrayElemTypeDef::AngleBracket(inner))
            if matches!(scalar_type_of_sql(inner), Ok(ScalarType::Text)) =>
        {
            ScalarType::TextArray
        }
        T::Custom(name, modifiers) if modifiers.is_empty() => {
            match name.to_string().to_lowercase().as_str() {
                "timestamptz" => ScalarType::TimestampTz,
                "jsonb" => ScalarType::Jsonb,
                "json" => ScalarType::Json,
                other => return Err(SqlError::Unsupported(format!("type \"{other}\""))),
            }
        }
        other => return Err(SqlError::Unsupported(format!("type {other}"))),
    })
}

fn numeric(precision: u64, scale: i64) -> Result<ScalarType, SqlError> {
    if !(1..=38).contains(&precision) || scale < 0 || scale as u64 > precision {
        return Err(SqlError::OutOfRange(format!(
            "NUMERIC precision {precision} and scale {scale} must satisfy 1 <= precision <= 38 and 0 <= scale <= precision"
        )));
    }
    Ok(ScalarType::Numeric {
        precision: precision as u8,
        scale: scale as i8,
    })
}

/// Brings a computed row to the table's types and checks NOT NULL.
fn conform(
    mut row: Row,
    desc: &RelationDesc,
    table: &str,
    check_not_null: bool,
) -> Result<Row, SqlError> {
    if row.len() != desc.arity() {
        return Err(SqlError::Plan(format!(
            "row has {} values, table {table} has {} columns",
            row.len(),
            desc.arity()
        )));
    }
    for (datum, column) in row.iter_mut().zip(&desc.columns) {
        if datum.is_null() {
            if check_not_null && !column.nullable {
                return Err(SqlError::NotNullViolation {
                    relation: table.to_string(),
                    column: column.name.clone(),
                });
            }
            continue;
        }
        if column.ty == ScalarType::Jsonb
            && let Datum::Text(text) | Datum::Json(text) = datum
        {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| SqlError::InvalidText {
                    ty: ScalarType::Jsonb,
                    value: text.clone(),
                    reason: e.to_string(),
                })?;
            *datum = Datum::Jsonb(canonical_jsonb(&value));
        }
        // json keeps the text as written; jsonb's canonical text is valid json.
        if column.ty == ScalarType::Json {
            match datum {
                Datum::Text(text) => {
                    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
                        SqlError::InvalidText {
                            ty: ScalarType::Json,
                            value: text.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    *datum = Datum::Json(std::mem::take(text));
                }
                Datum::Jsonb(text) => *datum = Datum::Json(std::mem::take(text)),
                _ => {}
            }
        }
    }
    Ok(row)
}

/// For an UPDATE's input (a projection of the new rows over the matched old rows),
/// a plan that yields each old row followed by its new row.
fn old_and_new(input: &LogicalPlan, arity: usize) -> Result<LogicalPlan, SqlError> {
    let LogicalPlan::Projection(projection) = input else {
        return Err(SqlError::Unsupported("this UPDATE".into()));
    };
    let source = projection.input.as_ref();
    if source.schema().fields().len() != arity {
        return Err(SqlError::Unsupported("UPDATE … FROM".into()));
    }
    let old = source.schema().columns().into_iter().map(Expr::Column);
    let new = projection
        .expr
        .iter()
        .enumerate()
        .map(|(i, e)| e.clone().alias(format!("__vigil_new_{i}")));
    LogicalPlanBuilder::from(source.clone())
        .project(old.chain(new))
        .and_then(|b| b.build())
        .map_err(from_datafusion)
}

/// The primary key an UPDATE's or DELETE's filter pins with `column = constant`
/// conjuncts, if it pins every key column.
fn pinned_key(input: &LogicalPlan, entry: &Entry, primary_key: &[usize]) -> Option<Row> {
    let filter = match input {
        LogicalPlan::Filter(filter) => filter,
        LogicalPlan::Projection(projection) => match projection.input.as_ref() {
            LogicalPlan::Filter(filter) => filter,
            _ => return None,
        },
        _ => return None,
    };
    if !matches!(filter.input.as_ref(), LogicalPlan::TableScan(_)) {
        return None;
    }
    let mut pinned = crate::lookup::pinned_columns(&filter.predicate, &entry.def.desc);
    primary_key.iter().map(|c| pinned.remove(c)).collect()
}

/// Replaces `$n` placeholders with the bound values.
fn bind(plan: LogicalPlan, params: Option<&[Datum]>) -> Result<LogicalPlan, SqlError> {
    let Some(params) = params else {
        return Ok(plan);
    };
    let types = plan.get_parameter_types().map_err(from_datafusion)?;
    let values = params
        .iter()
        .enumerate()
        .map(|(i, datum)| {
            let inferred = types.get(&format!("${}", i + 1)).cloned().flatten();
            bind_value(datum, inferred)
        })
        .collect::<Result<Vec<ScalarValue>, _>>()?;
    if values.len() < types.len() {
        return Err(SqlError::ParameterCount {
            expected: types.len(),
            given: values.len(),
        });
    }
    plan.with_param_values(values).map_err(from_datafusion)
}

/// A parameter's value for the type the plan inferred. A client may declare another
/// type than the one planning inferred (psycopg sends `%s::INTEGER` with an int2),
/// or planning may infer none: the value then keeps its own type and is cast, as
/// PostgreSQL would coerce it.
fn bind_value(datum: &Datum, inferred: Option<DataType>) -> Result<ScalarValue, SqlError> {
    let own = datum_type(datum).map_or(DataType::Utf8, to_arrow_type);
    let Some(ty) = inferred else {
        return datum_to_scalar_value(datum, &own).map_err(|e| SqlError::Plan(e.to_string()));
    };
    match datum_to_scalar_value(datum, &ty) {
        Ok(value) => Ok(value),
        Err(e) => datum_to_scalar_value(datum, &own)
            .ok()
            .and_then(|value| value.cast_to(&ty).ok())
            .ok_or_else(|| SqlError::Plan(e.to_string())),
    }
}

/// Placeholders that the statement casts explicitly (`$1::jsonb`), by number, with
/// the type they are cast to.
fn placeholder_casts(statement: &Statement) -> BTreeMap<usize, ScalarType> {
    let mut casts = BTreeMap::new();
    let _ = ast::visit_expressions(statement, |expr| {
        if let ast::Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let ast::Expr::Value(value) = inner.as_ref()
            && let ast::Value::Placeholder(name) = &value.value
            && let Some(n) = name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && let Ok(ty) = scalar_type_of_sql(data_type)
        {
            casts.entry(n).or_insert(ty);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    casts
}

/// The type a datum carries, `None` for NULL.
fn datum_type(datum: &Datum) -> Option<ScalarType> {
    Some(match datum {
        Datum::Null => return None,
        Datum::Bool(_) => ScalarType::Bool,
        Datum::Int16(_) => ScalarType::Int16,
        Datum::Int32(_) => ScalarType::Int32,
        Datum::Int64(_) => ScalarType::Int64,
        Datum::Float64(_) => ScalarType::Float64,
        Datum::Numeric(n) => ScalarType::Numeric {
            precision: 38,
            scale: n.scale,
        },
        Datum::Text(_) => ScalarType::Text,
        Datum::Date(_) => ScalarType::Date,
        Datum::Timestamp(_) => ScalarType::Timestamp,
        Datum::TimestampTz(_) => ScalarType::TimestampTz,
        Datum::Interval(_) => ScalarType::Interval,
        Datum::Jsonb(_) => ScalarType::Jsonb,
        Datum::TextArray(_) => ScalarType::TextArray,
        Datum::Json(_) => ScalarType::Json,
    })
}

/// The description of a query's result, with PostgreSQL's column names (duplicates
/// included, see `crate::names`); types Vigil does not model are sent as text.
fn output_desc(schema: &Schema) -> RelationDesc {
    RelationDesc::new(
        schema
            .fields()
            .iter()
            .map(|f| Column {
                name: crate::names::display_name(f.name()).to_string(),
                ty: scalar_type_of_field(f).unwrap_or(ScalarType::Text),
                nullable: f.is_nullable(),
            })
            .collect(),
    )
}

/// Result batches as rows; columns of types Vigil does not model are cast to text.
fn result_rows(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(RelationDesc, Vec<Row>), SqlError> {
    let desc = output_desc(schema);
    let text_fields: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| scalar_type_of_field(f).is_err())
        .map(|(i, _)| i)
        .collect();
    let mut rows = Vec::new();
    for batch in batches {
        let batch = if text_fields.is_empty() {
            batch.clone()
        } else {
            let mut columns = batch.columns().to_vec();
            let mut fields: Vec<Field> =
                schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            for &i in &text_fields {
                columns[i] = cast(&columns[i], &DataType::Utf8)
                    .map_err(|e| SqlError::Execution(e.to_string()))?;
                fields[i] = Field::new(fields[i].name(), DataType::Utf8, true);
            }
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .map_err(|e| SqlError::Execution(e.to_string()))?
        };
        rows.extend(batch_to_rows(&batch).map_err(|e| SqlError::Execution(e.to_string()))?);
    }
    Ok((desc, rows))
}

/// A relation's peeked rows as record batches, each row repeated by its multiplicity.
fn snapshot_batches(
    schema: &SchemaRef,
    rows: Vec<(Row, Diff)>,
) -> Result<Vec<RecordBatch>, SqlError> {
    const BATCH_ROWS: usize = 8192;
    let mut expanded = Vec::with_capacity(rows.len());
    for (row, diff) in rows {
        for _ in 1..diff.max(0) {
            expanded.push(row.clone());
        }
        if diff > 0 {
            expanded.push(row);
        }
    }
    expanded
        .chunks(BATCH_ROWS)
        .map(|chunk| rows_to_batch(schema, chunk).map_err(|e| SqlError::Execution(e.to_string())))
        .collect()
}

/// Maps errors of the data model (text input, conversions) to SQL errors.
pub(crate) fn from_repr(e: vigil_engine::repr::text::ReprError) -> SqlError {
    use vigil_engine::repr::text::ReprError;
    let is_datetime = |ty: &ScalarType| {
        matches!(
            ty,
            ScalarType::Date
                | ScalarType::Timestamp
                | ScalarType::TimestampTz
                | ScalarType::Interval
        )
    };
    match e {
        ReprError::InvalidText { ty, value, reason } if is_datetime(&ty) => {
            SqlError::InvalidDatetime { ty, value, reason }
        }
        ReprError::InvalidText { ty, value, reason } => SqlError::InvalidText { ty, value, reason },
        ReprError::OutOfRange { ty, value } if is_datetime(&ty) => {
            SqlError::DatetimeOverflow(value)
        }
        e @ ReprError::OutOfRange { .. } => SqlError::OutOfRange(e.to_string()),
        ReprError::TypeMismatch { expected, found } => SqlError::DatatypeMismatch {
            column: String::new(),
            expected,
            found,
        },
        ReprError::UnsupportedType(ty) => SqlError::Unsupported(format!("type {ty}")),
    }
}

/// Maps DataFusion's errors to SQL errors with the SQLSTATE PostgreSQL would use.
pub(crate) fn from_datafusion(e: DataFusionError) -> SqlError {
    use datafusion::arrow::error::ArrowError;
    use datafusion::common::SchemaError;
    let root = e.find_root();
    let message = root.to_string();
    if message.contains("Can't cast value") || message.contains("too large to store in a Decimal") {
        return SqlError::OutOfRange(message);
    }
    if message.contains("Inconsistent data length across values list") {
        return SqlError::Parse(format!(
            "VALUES lists and INSERT targets must have the same length: {message}"
        ));
    }
    match root {
        DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
            SchemaError::FieldNotFound { field, .. } => SqlError::UnknownColumn {
                relation: field
                    .relation
                    .as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
                column: field.name.clone(),
            },
            other => SqlError::Plan(other.to_string()),
        },
        DataFusionError::ArrowError(arrow_error, _) => match arrow_error.as_ref() {
            ArrowError::DivideByZero => SqlError::DivisionByZero,
            ArrowError::CastError(message) | ArrowError::ParseError(message) => {
                SqlError::DataException(message.clone())
            }
            ArrowError::ArithmeticOverflow(message) => SqlError::OutOfRange(message.clone()),
            ArrowError::ComputeError(message)
                if message.contains("Overflow") || message.contains("overflow") =>
            {
                SqlError::OutOfRange(message.clone())
            }
            other => SqlError::Execution(other.to_string()),
        },
        DataFusionError::NotImplemented(message) => SqlError::Unsupported(message.clone()),
        DataFusionError::Plan(message)
            if message.contains("Column count doesn't match insert query") =>
        {
            SqlError::TooManyValues
        }
        DataFusionError::Plan(message) => {
            if let Some(name) = message
                .strip_prefix("table '")
                .and_then(|m| m.split('\'').next())
            {
                let relation = name.rsplit('.').next().unwrap_or(name).to_string();
                return SqlError::UnknownRelation(relation);
            }
            SqlError::Plan(message.clone())
        }
        DataFusionError::SQL(parser_error, _) => SqlError::Parse(parser_error.to_string()),
        DataFusionError::Execution(message) if message.contains("Divide by zero") => {
            SqlError::DivisionByZero
        }
        other => SqlError::Execution(other.to_string()),
    }
}
