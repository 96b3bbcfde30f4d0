//! Vigil's own system relations, computed when a statement reads them:
//!
//! - `vigil_dataflow_errors`: rows that views could not compute;
//! - `vigil_sources`: per source and partition, how far reading has come (offset, end
//!   of the log, lag), what it read (records, bytes, errors) and when the newest
//!   record was appended;
//! - `vigil_source_errors`: records that did not decode, with where they are in the
//!   log, their key and the start of their payload;
//! - `vigil_frontiers`: per relation, the time through which it is complete and how
//!   far that is behind the wall clock;
//! - `vigil_sinks`: per sink, what it has delivered, given up on and retried, the
//!   time it has delivered through and what keeps it from delivering;
//! - `vigil_sink_errors`: changes a sink gave up delivering, with their payloads.
//!
//! Names starting with `vigil_` are reserved for these.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use datafusion::catalog::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use vigil_changelog::ChangeLog;
use vigil_engine::render::ErrorLog;
use vigil_engine::repr::arrow::{rows_to_batch, to_arrow_schema};
use vigil_engine::repr::{Column, Datum, RelationDesc, Row, ScalarType};
use vigil_engine::runtime::Frontiers;
use vigil_engine::source::{SourceErrorLog, SourceStatus};
use vigil_engine::{GlobalId, Time};

use crate::catalog::{Catalog, ItemKind};
use crate::sink::{SinkErrorLog, SinkStatus};

/// The prefix of system relation names, which user relations may not use.
pub const RESERVED_PREFIX: &str = "vigil_";

pub const DATAFLOW_ERRORS: &str = "vigil_dataflow_errors";
pub const SOURCES: &str = "vigil_sources";
pub const SOURCE_ERRORS: &str = "vigil_source_errors";
pub const FRONTIERS: &str = "vigil_frontiers";
pub const SINKS: &str = "vigil_sinks";
pub const SINK_ERRORS: &str = "vigil_sink_errors";

/// Every system relation's name.
pub const NAMES: [&str; 6] = [
    DATAFLOW_ERRORS,
    SOURCES,
    SOURCE_ERRORS,
    FRONTIERS,
    SINKS,
    SINK_ERRORS,
];

/// What the system relations read: shared with the engine and the coordinator.
#[derive(Clone)]
pub struct Introspection {
    pub dataflow_errors: ErrorLog,
    pub source_errors: SourceErrorLog,
    pub frontiers: Frontiers,
    /// Live sources' progress, by id.
    pub sources: Arc<Mutex<BTreeMap<GlobalId, Arc<SourceStatus>>>>,
    pub log: Arc<dyn ChangeLog>,
    /// Live sinks' progress, by id.
    pub sinks: Arc<Mutex<BTreeMap<GlobalId, Arc<SinkStatus>>>>,
    pub sink_errors: SinkErrorLog,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection").finish_non_exhaustive()
    }
}

impl Introspection {
    /// The system relation `name` as of now, if it is one.
    pub fn relation(
        &self,
        name: &str,
        catalog: &Catalog,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let (desc, rows) = match name {
            DATAFLOW_ERRORS => self.dataflow_errors(),
            SOURCES => self.sources(catalog),
            SOURCE_ERRORS => self.source_errors(),
            FRONTIERS => self.frontiers(catalog),
            SINKS => self.sinks(catalog),
            SINK_ERRORS => self.sink_errors(),
            _ => return Ok(None),
        };
        let schema = to_arrow_schema(&desc);
        let batch =
            rows_to_batch(&schema, &rows).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(Arc::new(MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)))
    }

    fn dataflow_errors(&self) -> (RelationDesc, Vec<Row>) {
        let desc = desc(&[
            ("occurred_at", ScalarType::TimestampTz, false),
            ("view", ScalarType::Text, false),
            ("message", ScalarType::Text, false),
        ]);
        let rows = self
            .dataflow_errors
            .snapshot()
            .into_iter()
            .map(|e| {
                vec![
                    millis(e.at_ms as i64),
                    Datum::Text(e.dataflow),
                    Datum::Text(e.message),
                ]
            })
            .collect();
        (desc, rows)
    }

    fn sources(&self, catalog: &Catalog) -> (RelationDesc, Vec<Row>) {
        let desc = desc(&[
            ("source", ScalarType::Text, false),
            ("topic", ScalarType::Text, false),
            ("partition", ScalarType::Int32, false),
            ("offset", ScalarType::Int64, false),
            ("end_offset", ScalarType::Int64, true),
            ("lag", ScalarType::Int64, true),
            ("records", ScalarType::Int64, false),
            ("bytes", ScalarType::Int64, false),
            ("errors", ScalarType::Int64, false),
            ("last_event_at", ScalarType::TimestampTz, true),
            ("status", ScalarType::Text, false),
        ]);
        let statuses = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut rows = Vec::new();
        for (id, status) in statuses {
            let Some(entry) = catalog.get(id) else {
                continue;
            };
            let ItemKind::Source { topic, .. } = &entry.def.kind else {
                continue;
            };
            // A broker that does not answer leaves the end and the lag unknown.
            let ends = self.log.end_offsets(topic).ok();
            let state = match status.problem() {
                Some(problem) => problem,
                None if status.replaying.load(Ordering::Relaxed) > 0 => "replaying".into(),
                None => "running".into(),
            };
            for (partition, p) in status.partitions() {
                let end = ends
                    .as_ref()
                    .and_then(|e| e.get(partition as usize).copied());
                rows.push(vec![
                    Datum::Text(entry.def.name.clone()),
                    Datum::Text(topic.clone()),
                    Datum::Int32(partition as i32),
                    int(p.next_offset),
                    end.map_or(Datum::Null, int),
                    end.map_or(Datum::Null, |end| int(end.saturating_sub(p.next_offset))),
                    int(p.records),
                    int(p.bytes),
                    int(p.errors),
                    p.last_event_ms.map_or(Datum::Null, millis),
                    Datum::Text(state.clone()),
                ]);
            }
        }
        (desc, rows)
    }

    fn source_errors(&self) -> (RelationDesc, Vec<Row>) {
        let desc = desc(&[
            ("occurred_at", ScalarType::TimestampTz, false),
            ("source", ScalarType::Text, false),
            ("partition", ScalarType::Int32, false),
            ("offset", ScalarType::Int64, false),
            ("key", ScalarType::Text, true),
            ("payload", ScalarType::Text, true),
            ("message", ScalarType::Text, false),
        ]);
        let text = |s: Option<String>| s.map_or(Datum::Null, Datum::Text);
        let rows = self
            .source_errors
            .snapshot()
            .into_iter()
            .map(|e| {
                vec![
                    millis(e.at_ms as i64),
                    Datum::Text(e.source),
                    Datum::Int32(e.partition as i32),
                    int(e.offset),
                    text(e.key),
                    text(e.payload),
                    Datum::Text(e.message),
                ]
            })
            .collect();
        (desc, rows)
    }

    fn sinks(&self, catalog: &Catalog) -> (RelationDesc, Vec<Row>) {
        let desc = desc(&[
            ("sink", ScalarType::Text, false),
            ("from", ScalarType::Text, false),
            ("target", ScalarType::Text, false),
            ("delivered", ScalarType::Int64, false),
            ("failed", ScalarType::Int64, false),
            ("retries", ScalarType::Int64, false),
            ("delivered_through", ScalarType::TimestampTz, true),
            ("status", ScalarType::Text, false),
        ]);
        let statuses = self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut rows = Vec::new();
        for entry in catalog.entries() {
            let ItemKind::Sink { from, target, .. } = &entry.def.kind else {
                continue;
            };
            let from = catalog
                .get(*from)
                .map_or(String::new(), |e| e.def.name.clone());
            let status = statuses.get(&entry.id);
            let counter = |f: fn(&SinkStatus) -> &std::sync::atomic::AtomicU64| {
                status.map_or(0, |s| f(s).load(Ordering::Relaxed))
            };
            let through = counter(|s| &s.through);
            let state = match status {
                None => "starting".to_string(),
                Some(status) => status.problem().unwrap_or_else(|| "running".into()),
            };
            rows.push(vec![
                Datum::Text(entry.def.name.clone()),
                Datum::Text(from),
                Datum::Text(target.redacted()),
                int(counter(|s| &s.delivered)),
                int(counter(|s| &s.failed)),
                int(counter(|s| &s.retries)),
                if through == 0 {
                    Datum::Null
                } else {
                    millis(through as i64)
                },
                Datum::Text(state),
            ]);
        }
        (desc, rows)
    }

    fn sink_errors(&self) -> (RelationDesc, Vec<Row>) {
        let desc = desc(&[
            ("occurred_at", ScalarType::TimestampTz, false),
            ("sink", ScalarType::Text, false),
            ("idempotency_key", ScalarType::Text, false),
            ("change_time", ScalarType::TimestampTz, false),
            ("attempts", ScalarType::Int32, false),
            ("http_status", ScalarType::Int32, true),
            ("message", ScalarType::Text, false),
            ("payload", ScalarType::Text, false),
        ]);
        let rows = self
            .sink_errors
            .snapshot()
            .into_iter()
            .map(|e| {
                vec![
                    millis(e.at_ms as i64),
                    Datum::Text(e.sink),
                    Datum::Text(e.key),
                    millis(e.time as i64),
                    Datum::Int32(i32::try_from(e.attempts).unwrap_or(i32::MAX)),
                    e.status.map_or(Datum::Null, |s| Datum::Int32(i32::from(s))),
                    Datum::Text(e.message),
                    Datum::Text(e.payload),
                ]
            })
            .collect();
        (desc, rows)
    }

    fn frontiers(&self, catalog: &Catalog) -> (RelationDesc, Vec<Row>) {
        let desc = desc(&[
            ("name", ScalarType::Text, false),
            ("kind", ScalarType::Text, false),
            ("complete_through", ScalarType::TimestampTz, true),
            ("lag_ms", ScalarType::Int64, true),
        ]);
        let now = i64::try_from(vigil_engine::wall_clock_ms()).unwrap_or(i64::MAX);
        let frontiers = self.frontiers.complete_through();
        let rows = catalog
            .entries()
            .filter_map(|entry| {
                let through: Option<Time> = frontiers.get(&entry.id).copied();
                let through = through.filter(|t| *t > 0 && *t < Time::MAX - 1);
                match &entry.def.kind {
                    ItemKind::View { .. } | ItemKind::Sink { .. } => None,
                    ItemKind::Table { .. }
                    | ItemKind::MaterializedView { .. }
                    | ItemKind::Source { .. } => Some(vec![
                        Datum::Text(entry.def.name.clone()),
                        Datum::Text(entry.def.kind.noun().into()),
                        through.map_or(Datum::Null, |t| millis(t as i64)),
                        through.map_or(Datum::Null, |t| Datum::Int64(now.saturating_sub(t as i64))),
                    ]),
                }
            })
            .collect();
        (desc, rows)
    }
}

fn desc(columns: &[(&str, ScalarType, bool)]) -> RelationDesc {
    RelationDesc::new(
        columns
            .iter()
            .map(|(name, ty, nullable)| Column {
                name: name.to_string(),
                ty: *ty,
                nullable: *nullable,
            })
            .collect(),
    )
}

fn millis(ms: i64) -> Datum {
    Datum::TimestampTz(ms.saturating_mul(1_000))
}

fn int(n: u64) -> Datum {
    Datum::Int64(i64::try_from(n).unwrap_or(i64::MAX))
}
