//! Runs: one pass of one connector over one scope (a repository, a board), from the
//! stored cursor to what the source holds now.
//!
//! ```text
//!  connector.cursors ──cursor──▶ run_once ──fetch(since = cursor − overlap)──▶ Connector
//!                                   │            keep_raw ──▶ raw.{connector}
//!                                   │            publish  ──▶ eng.pull_requests, eng.pr_reviews, …
//!                                   ├──▶ eng.connector_runs  (running, then succeeded | failed)
//!                                   └──▶ connector.cursors   (only after everything is published)
//! ```
//!
//! The contract that makes runs safe to fail and to repeat:
//!
//! - every canonical topic is compacted and keyed by the relation's primary key, so
//!   a record fetched twice (the overlap margin, a retried run) is an upsert of the
//!   same row, never a duplicate;
//! - the raw payload is kept before it is mapped, in a raw topic keyed by source
//!   record id, so mapping can be replayed without fetching and a record that cannot
//!   be mapped is still there to look at;
//! - the cursor moves only after a run has published everything, so a run that fails
//!   midway leaves the old cursor and the next run fetches from it again: no gaps.
//!   What the failed run published stays published.
//!
//! A cursor is the highest `updated_at` a run saw. The next run asks for records
//! updated since the cursor minus [`RunSettings::overlap`], which absorbs clock skew
//! and records that moved between pages while the source was paged.
//!
//! The change log's publish is synchronous; a run calls it between fetches, on the
//! task that runs it.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use vigil_changelog::{ChangeLog, LogError, Message, Partition, Record, Retention, TopicSpec};

use crate::config::StatusCategory;
use crate::http::{HttpError, HttpStats};

/// The compacted topic of cursors, keyed by `{connector}:{tenant}:{scope}`.
pub const CURSORS_TOPIC: &str = "connector.cursors";

/// How long reading a cursor back may take before the run gives up (Kafka readers
/// poll; the embedded log answers at once).
const CURSOR_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Pending records are published once this many have piled up, so memory stays
/// bounded on a large first run.
const FLUSH_THRESHOLD: usize = 1000;

/// A canonical relation: the topic it is published to and the columns of its
/// primary key (see `views/sql/engineering/sources.sql`).
#[derive(Debug, PartialEq, Eq)]
pub struct Relation {
    pub name: &'static str,
    pub topic: &'static str,
    pub key: &'static [&'static str],
}

pub const BOARDS: Relation = Relation {
    name: "boards",
    topic: "eng.boards",
    key: &["tenant_id", "board_id"],
};
pub const WORK_ITEMS: Relation = Relation {
    name: "work_items",
    topic: "eng.work_items",
    key: &["tenant_id", "item_id"],
};
pub const STATUS_CHANGES: Relation = Relation {
    name: "status_changes",
    topic: "eng.status_changes",
    key: &["tenant_id", "change_id"],
};
pub const SPRINTS: Relation = Relation {
    name: "sprints",
    topic: "eng.sprints",
    key: &["tenant_id", "sprint_id"],
};
pub const SPRINT_MEMBERSHIPS: Relation = Relation {
    name: "sprint_memberships",
    topic: "eng.sprint_memberships",
    key: &["tenant_id", "sprint_id", "item_id"],
};
pub const ITEM_LINKS: Relation = Relation {
    name: "item_links",
    topic: "eng.item_links",
    key: &["tenant_id", "from_item_id", "to_item_id", "link_type"],
};
pub const PULL_REQUESTS: Relation = Relation {
    name: "pull_requests",
    topic: "eng.pull_requests",
    key: &["tenant_id", "pr_id"],
};
pub const PR_REVIEWS: Relation = Relation {
    name: "pr_reviews",
    topic: "eng.pr_reviews",
    key: &["tenant_id", "review_id"],
};
pub const CONNECTOR_RUNS: Relation = Relation {
    name: "connector_runs",
    topic: "eng.connector_runs",
    key: &["tenant_id", "run_id"],
};
pub const MAPPINGS: Relation = Relation {
    name: "mappings",
    topic: "eng.mappings",
    key: &["tenant_id", "connector", "scope_id", "version"],
};

// The CRDC relations (see `views/sql/crdc/sources.sql`): the tenant is the district,
// so their keys start with `district_id`, which the connector sets.
pub const CRDC_SCHOOLS: Relation = Relation {
    name: "schools",
    topic: "crdc.schools",
    key: &["district_id", "school_id"],
};
pub const CRDC_STUDENTS: Relation = Relation {
    name: "students",
    topic: "crdc.students",
    key: &["district_id", "student_id"],
};
pub const CRDC_ENROLLMENTS: Relation = Relation {
    name: "enrollments",
    topic: "crdc.enrollments",
    key: &["district_id", "enrollment_id"],
};
pub const CRDC_PROGRAM_ENROLLMENTS: Relation = Relation {
    name: "program_enrollments",
    topic: "crdc.program_enrollments",
    key: &["district_id", "student_id", "program", "start_date"],
};
pub const CRDC_DISCIPLINE_INCIDENTS: Relation = Relation {
    name: "discipline_incidents",
    topic: "crdc.discipline_incidents",
    key: &["district_id", "incident_id"],
};

/// How a scope's records are mapped: what `eng.mappings` holds for a scope and
/// mapping version, published at the start of every run, so the
/// `mapping_version` of every record names a row that says how it was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// The board the scope is (`jira:10`); `None` for a repository.
    pub board_id: Option<String>,
    pub story_points_field: Option<String>,
    pub sprint_field: Option<String>,
    pub flagged_field: Option<String>,
    /// The status names whose category the mapping sets, with that category.
    pub status_categories: BTreeMap<String, StatusCategory>,
    pub blocked_statuses: Vec<String>,
    pub blocked_tags: Vec<String>,
    pub pr_key_pattern: Option<String>,
}

/// The raw topic of a connector: `raw.github`, `raw.jira`, …
pub fn raw_topic(connector: &str) -> String {
    format!("raw.{connector}")
}

/// The key of a scope's cursor in [`CURSORS_TOPIC`].
pub fn cursor_key(connector: &str, tenant_id: &str, scope: &str) -> String {
    format!("{connector}:{tenant_id}:{scope}")
}

/// What every connector's runs need from its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSettings {
    pub tenant_id: String,
    /// Stamped on every canonical record and run.
    pub mapping_version: i64,
    /// How far before the cursor a run starts fetching.
    pub overlap: Duration,
}

/// A source connector: it fetches one scope from `since` on and hands what it fetched
/// to the [`Run`], which keeps, publishes and counts it.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The source system: `github`, `jira`, … It names the raw topic, the cursors and
    /// the `source_system` of every record.
    fn name(&self) -> &'static str;

    fn settings(&self) -> &RunSettings;

    /// The relations this connector publishes to, so their topics exist before the
    /// first record.
    fn relations(&self) -> &'static [&'static Relation];

    /// How `scope`'s records are mapped; [`RunError::Scope`] for a scope the config
    /// does not name.
    fn mapping(&self, scope: &str) -> Result<Mapping, RunError>;

    /// Fetches the records of `scope` updated at or after `since` (everything when
    /// `None`), calling [`Run::keep_raw`] on each payload before mapping it,
    /// [`Run::publish`] or [`Run::reject`] on what it maps, and [`Run::observe`] on
    /// each record's update time. An error fails the run; what was published stays.
    async fn fetch(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError>;
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("change log: {0}")]
    Log(#[from] LogError),
    #[error("cursor {key} is unreadable: {reason}")]
    Cursor { key: String, reason: String },
    #[error("reading topic {topic} did not catch up within {timeout:?}")]
    ReadTimeout { topic: String, timeout: Duration },
    #[error("unexpected answer from {path}: {reason}")]
    Shape { path: String, reason: String },
    #[error("invalid scope {scope:?}: {reason}")]
    Scope { scope: String, reason: String },
    #[error("raw payload {source_record_id} is not json: {error}")]
    RawPayload {
        source_record_id: String,
        #[source]
        error: serde_json::Error,
    },
    #[error("{relation} record lacks its key column {column}")]
    MissingKeyColumn {
        relation: &'static str,
        column: &'static str,
    },
}

/// Where the next run of a scope starts: the highest update time seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub updated_at: DateTime<Utc>,
}

impl Cursor {
    /// `{"updated_at":"2024-05-10T09:00:00Z"}`
    pub fn to_json(&self) -> String {
        serde_json::json!({ "updated_at": timestamp(self.updated_at) }).to_string()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Cursor, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let text = value
            .get("updated_at")
            .and_then(Value::as_str)
            .ok_or_else(|| "it has no updated_at string".to_owned())?;
        let updated_at = DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("updated_at {text:?}: {e}"))?
            .with_timezone(&Utc);
        Ok(Cursor { updated_at })
    }
}

/// How a run ended, or that it has not yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

/// What a run did; the same facts go to `eng.connector_runs`.
#[derive(Debug)]
pub struct RunReport {
    pub run_id: String,
    pub connector: &'static str,
    pub tenant_id: String,
    pub scope: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    /// Why the run failed; `None` when it succeeded.
    pub error: Option<RunError>,
    /// Raw payloads kept.
    pub fetched: u64,
    /// Canonical records published.
    pub published: u64,
    /// Records that could not be mapped (their payloads are in the raw topic).
    pub rejected: u64,
    /// What the run could not fetch without failing (a grant the source refused),
    /// in the order noted; `warnings` of its `eng.connector_runs` row.
    pub warnings: Vec<String>,
    /// The cursor the run started from.
    pub cursor_before: Option<Cursor>,
    /// What the run asked the source for: the cursor minus the overlap.
    pub since: Option<DateTime<Utc>>,
    /// The cursor after the run: moved on success, unchanged on failure.
    pub cursor: Option<Cursor>,
    /// Requests, retries, `304`s and rate-limit waits.
    pub http: HttpStats,
}

/// A payload as kept in the raw topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRef {
    pub source_record_id: String,
    /// Hex SHA-256 of the payload as received: the `payload_sha256` of what is mapped
    /// from it.
    pub sha256: String,
}

/// A canonical row before the run adds tenant, lineage and mapping version.
#[derive(Clone, Debug, PartialEq)]
pub struct CanonicalRecord {
    pub relation: &'static Relation,
    /// The record's id in the source system.
    pub source_record_id: String,
    /// The relation's own columns.
    pub columns: Map<String, Value>,
}

/// A run in progress: what a [`Connector`] hands its payloads and records to.
pub struct Run<'a> {
    log: &'a dyn ChangeLog,
    connector: &'static str,
    settings: RunSettings,
    scope: String,
    run_id: String,
    started_at: DateTime<Utc>,
    raw_topic: String,
    pending: Vec<Pending>,
    fetched: u64,
    published: u64,
    rejected: u64,
    warnings: Vec<String>,
    high_water: Option<DateTime<Utc>>,
    http: HttpStats,
}

struct Pending {
    topic: &'static str,
    key: Vec<u8>,
    /// `None` is a tombstone.
    value: Option<Vec<u8>>,
}

/// Marks pending raw records; their topic name is the run's own.
const RAW: &str = "";

impl Run<'_> {
    pub fn id(&self) -> &str {
        &self.run_id
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    pub fn tenant_id(&self) -> &str {
        &self.settings.tenant_id
    }

    /// The counters the connector's HTTP client adds to.
    pub fn http(&mut self) -> &mut HttpStats {
        &mut self.http
    }

    /// Keeps `payload` (JSON bytes as received) in the raw topic under
    /// `source_record_id`, as `{"fetched_at", "scope", "sha256", "payload"}`.
    pub fn keep_raw(&mut self, source_record_id: &str, payload: &[u8]) -> Result<RawRef, RunError> {
        // The payload goes in verbatim, so it must be one JSON value.
        serde_json::from_slice::<serde::de::IgnoredAny>(payload).map_err(|error| {
            RunError::RawPayload {
                source_record_id: source_record_id.to_owned(),
                error,
            }
        })?;
        let sha256 = sha256_hex(payload);
        let head = format!(
            "{{\"fetched_at\":{},\"scope\":{},\"sha256\":{},\"payload\":",
            Value::from(timestamp(Utc::now())),
            Value::from(self.scope.as_str()),
            Value::from(sha256.as_str()),
        );
        let mut value = Vec::with_capacity(head.len() + payload.len() + 1);
        value.extend_from_slice(head.as_bytes());
        value.extend_from_slice(payload);
        value.push(b'}');
        self.pending.push(Pending {
            topic: RAW,
            key: source_record_id.as_bytes().to_vec(),
            value: Some(value),
        });
        self.fetched += 1;
        self.flush_if_full()?;
        Ok(RawRef {
            source_record_id: source_record_id.to_owned(),
            sha256,
        })
    }

    /// Publishes `record`, mapped from `raw`, with the run's tenant, lineage and
    /// mapping version, keyed by its relation's primary key.
    pub fn publish(&mut self, raw: &RawRef, record: CanonicalRecord) -> Result<(), RunError> {
        let mut columns = record.columns;
        columns.insert("tenant_id".into(), self.settings.tenant_id.clone().into());
        columns.insert("source_system".into(), self.connector.into());
        columns.insert("source_record_id".into(), record.source_record_id.into());
        columns.insert("ingest_batch_id".into(), self.run_id.clone().into());
        columns.insert("payload_sha256".into(), raw.sha256.clone().into());
        columns.insert(
            "mapping_version".into(),
            self.settings.mapping_version.into(),
        );
        let key = key_of(record.relation, &columns)?;
        self.pending.push(Pending {
            topic: record.relation.topic,
            key,
            value: Some(Value::Object(columns).to_string().into_bytes()),
        });
        self.flush_if_full()
    }

    /// Publishes a tombstone for the row of `relation` whose key columns `key`
    /// holds (the source deleted it); `raw` is the payload that said so, already
    /// kept. Counted as published.
    pub fn delete(
        &mut self,
        raw: &RawRef,
        relation: &'static Relation,
        key: &Map<String, Value>,
    ) -> Result<(), RunError> {
        let key = key_of(relation, key)?;
        tracing::debug!(
            source_record_id = %raw.source_record_id,
            relation = relation.name,
            "tombstone: the source deleted the record"
        );
        self.pending.push(Pending {
            topic: relation.topic,
            key,
            value: None,
        });
        self.flush_if_full()
    }

    /// Notes something the run had to do without (a grant the source refused); the
    /// run still succeeds, and its `eng.connector_runs` row lists the warning.
    pub fn warn(&mut self, warning: impl Display) {
        let warning = warning.to_string();
        tracing::warn!(%warning, "connector run warning");
        self.warnings.push(warning);
    }

    /// Counts a record that could not be mapped; its payload stays in the raw topic.
    pub fn reject(&mut self, raw: &RawRef, reason: impl Display) {
        self.rejected += 1;
        tracing::warn!(
            source_record_id = %raw.source_record_id,
            %reason,
            "record rejected: it cannot be mapped"
        );
    }

    /// Notes a record's update time; the highest becomes the next cursor.
    pub fn observe(&mut self, updated_at: DateTime<Utc>) {
        self.high_water = self.high_water.max(Some(updated_at));
    }

    /// Publishes what is pending: raw payloads first, then canonical records, so a
    /// record is never published without its payload.
    pub fn flush(&mut self) -> Result<(), RunError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut topics: Vec<&'static str> = vec![RAW];
        for pending in &self.pending {
            if !topics.contains(&pending.topic) {
                topics.push(pending.topic);
            }
        }
        for topic in topics {
            let messages: Vec<Message<'_>> = self
                .pending
                .iter()
                .filter(|pending| pending.topic == topic)
                .map(|pending| Message {
                    key: Some(&pending.key),
                    value: pending.value.as_deref(),
                })
                .collect();
            if messages.is_empty() {
                continue;
            }
            let count = messages.len() as u64;
            let name = if topic == RAW {
                self.raw_topic.as_str()
            } else {
                topic
            };
            self.log.publish(name, &messages)?;
            if topic != RAW {
                self.published += count;
            }
            self.pending.retain(|pending| pending.topic != topic);
        }
        Ok(())
    }

    fn flush_if_full(&mut self) -> Result<(), RunError> {
        if self.pending.len() >= FLUSH_THRESHOLD {
            self.flush()?;
        }
        Ok(())
    }

    /// Publishes the scope's row of `eng.mappings` now.
    fn record_mapping(&self, mapping: Mapping) -> Result<(), RunError> {
        let mut row = Map::new();
        let mut set = |column: &str, value: Value| {
            row.insert(column.to_owned(), value);
        };
        set("tenant_id", self.settings.tenant_id.clone().into());
        set("connector", self.connector.into());
        set("scope_id", self.scope.clone().into());
        set("version", self.settings.mapping_version.into());
        set("board_id", mapping.board_id.into());
        set("story_points_field", mapping.story_points_field.into());
        set("sprint_field", mapping.sprint_field.into());
        set("flagged_field", mapping.flagged_field.into());
        let categories: Map<String, Value> = mapping
            .status_categories
            .into_iter()
            .map(|(status, category)| (status, category.as_str().into()))
            .collect();
        set("status_categories", Value::Object(categories));
        set("blocked_statuses", mapping.blocked_statuses.into());
        set("blocked_tags", mapping.blocked_tags.into());
        set("pr_key_pattern", mapping.pr_key_pattern.into());
        self.publish_row(&MAPPINGS, row)
    }

    /// Publishes the run's row of `eng.connector_runs` now.
    fn record_run(
        &self,
        status: RunStatus,
        finished_at: Option<DateTime<Utc>>,
        error: Option<&RunError>,
        cursor: Option<&Cursor>,
    ) -> Result<(), RunError> {
        let mut row = Map::new();
        let mut set = |column: &str, value: Value| {
            row.insert(column.to_owned(), value);
        };
        set("tenant_id", self.settings.tenant_id.clone().into());
        set("run_id", self.run_id.clone().into());
        set("connector", self.connector.into());
        set("scope_id", self.scope.clone().into());
        set("mapping_version", self.settings.mapping_version.into());
        set("started_at", timestamp(self.started_at).into());
        set("finished_at", finished_at.map(timestamp).into());
        set("status", status.as_str().into());
        set("fetched", self.fetched.into());
        set("published", self.published.into());
        set("rejected", self.rejected.into());
        set("error", error.map(ToString::to_string).into());
        set("cursor", cursor.map(Cursor::to_json).into());
        // Only when there are any: a missing field reads as NULL, and runs without
        // warnings keep the row every connector has always written.
        if !self.warnings.is_empty() {
            set("warnings", self.warnings.clone().into());
        }
        self.publish_row(&CONNECTOR_RUNS, row)
    }

    /// Publishes one row about the run itself (not a record fetched, so not
    /// counted as published) at once.
    fn publish_row(
        &self,
        relation: &'static Relation,
        row: Map<String, Value>,
    ) -> Result<(), RunError> {
        let key = key_of(relation, &row)?;
        let value = Value::Object(row).to_string();
        self.log.publish(
            relation.topic,
            &[Message {
                key: Some(&key),
                value: Some(value.as_bytes()),
            }],
        )?;
        Ok(())
    }
}

/// Runs `connector` once over `scope`, publishing to `log`, and reports what it did.
/// A failure is in the report (and in `eng.connector_runs`), never a panic.
pub async fn run_once(connector: &dyn Connector, scope: &str, log: &dyn ChangeLog) -> RunReport {
    let started_at = Utc::now();
    let run_id = format!(
        "{}:{}:{}:{:08x}",
        connector.name(),
        scope,
        started_at.format("%Y%m%dT%H%M%S%.3fZ"),
        fastrand::u32(..)
    );
    let span = tracing::info_span!(
        "connector_run",
        connector = connector.name(),
        scope,
        run_id = %run_id
    );
    let mut run = Run {
        log,
        connector: connector.name(),
        settings: connector.settings().clone(),
        scope: scope.to_owned(),
        run_id,
        started_at,
        raw_topic: raw_topic(connector.name()),
        pending: Vec::new(),
        fetched: 0,
        published: 0,
        rejected: 0,
        warnings: Vec::new(),
        high_water: None,
        http: HttpStats::default(),
    };
    let mut progress = Progress::default();
    let outcome = execute(connector, &mut run, &mut progress)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    let finished_at = Utc::now();
    let cursor = match outcome {
        Ok(()) => progress.cursor_after,
        Err(_) => progress.cursor_before,
    };
    let status = match outcome {
        Ok(()) => RunStatus::Succeeded,
        Err(_) => RunStatus::Failed,
    };
    let mut error = outcome.err();
    if let Err(record_error) =
        run.record_run(status, Some(finished_at), error.as_ref(), cursor.as_ref())
    {
        tracing::error!(error = %record_error, "cannot record the end of the run");
        error.get_or_insert(record_error);
    }
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    match &error {
        None => tracing::info!(
            fetched = run.fetched,
            published = run.published,
            rejected = run.rejected,
            "connector run succeeded"
        ),
        Some(error) => tracing::warn!(%error, "connector run failed"),
    }
    RunReport {
        run_id: run.run_id,
        connector: run.connector,
        tenant_id: run.settings.tenant_id,
        scope: run.scope,
        started_at,
        finished_at,
        status,
        error,
        fetched: run.fetched,
        published: run.published,
        rejected: run.rejected,
        warnings: run.warnings,
        cursor_before: progress.cursor_before,
        since: progress.since,
        cursor,
        http: run.http,
    }
}

/// How far a run got, for its report.
#[derive(Default)]
struct Progress {
    cursor_before: Option<Cursor>,
    since: Option<DateTime<Utc>>,
    cursor_after: Option<Cursor>,
}

async fn execute(
    connector: &dyn Connector,
    run: &mut Run<'_>,
    progress: &mut Progress,
) -> Result<(), RunError> {
    let log = run.log;
    let compacted = TopicSpec {
        partitions: 1,
        retention: Retention::Compact,
    };
    log.ensure_topic(CURSORS_TOPIC, &compacted)?;
    log.ensure_topic(CONNECTOR_RUNS.topic, &compacted)?;
    log.ensure_topic(MAPPINGS.topic, &compacted)?;
    log.ensure_topic(&run.raw_topic, &compacted)?;
    for relation in connector.relations() {
        log.ensure_topic(relation.topic, &compacted)?;
    }
    let key = cursor_key(run.connector, &run.settings.tenant_id, &run.scope);
    progress.cursor_before = read_cursor(log, &key).await?;
    run.record_run(
        RunStatus::Running,
        None,
        None,
        progress.cursor_before.as_ref(),
    )?;
    run.record_mapping(connector.mapping(&run.scope)?)?;
    progress.since = progress.cursor_before.and_then(|cursor| {
        let overlap = chrono::TimeDelta::from_std(run.settings.overlap).ok()?;
        cursor.updated_at.checked_sub_signed(overlap)
    });
    let fetched = connector
        .fetch(&run.scope.clone(), progress.since, run)
        .await;
    // What was mapped before a failure is published too: it is correct, and the next
    // run upserts it again anyway.
    let flushed = run.flush();
    fetched?;
    flushed?;
    let seen = run.high_water.map(|updated_at| Cursor { updated_at });
    progress.cursor_after = progress.cursor_before.max(seen);
    if progress.cursor_after != progress.cursor_before
        && let Some(cursor) = progress.cursor_after
    {
        let value = cursor.to_json();
        log.publish(
            CURSORS_TOPIC,
            &[Message {
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
            }],
        )?;
    }
    Ok(())
}

/// The latest cursor stored under `key`, read from the start of [`CURSORS_TOPIC`]
/// (the change log has no point lookup; the topic is compacted, so it stays short).
pub async fn read_cursor(log: &dyn ChangeLog, key: &str) -> Result<Option<Cursor>, RunError> {
    let latest = read_latest(log, CURSORS_TOPIC, key.as_bytes()).await?;
    match latest {
        None | Some(None) => Ok(None),
        Some(Some(value)) => {
            Cursor::from_json(&value)
                .map(Some)
                .map_err(|reason| RunError::Cursor {
                    key: key.to_owned(),
                    reason,
                })
        }
    }
}

/// The latest record of `key` in `topic`: `None` if there is none, `Some(None)` if it
/// is a tombstone.
async fn read_latest(
    log: &dyn ChangeLog,
    topic: &str,
    key: &[u8],
) -> Result<Option<Option<Vec<u8>>>, RunError> {
    let ends = log.end_offsets(topic)?;
    let start: Vec<(Partition, u64)> = (0..ends.len())
        .filter_map(|partition| Some((Partition::try_from(partition).ok()?, 0)))
        .collect();
    let mut reader = log.reader(topic, &start)?;
    let deadline = tokio::time::Instant::now() + CURSOR_READ_TIMEOUT;
    let mut latest = None;
    let mut batch: Vec<Record> = Vec::new();
    loop {
        let caught_up = reader.positions().iter().all(|&(partition, position)| {
            let end = usize::try_from(partition)
                .ok()
                .and_then(|p| ends.get(p))
                .copied()
                .unwrap_or(0);
            position >= end
        });
        if caught_up {
            return Ok(latest);
        }
        batch.clear();
        reader.poll(1024, &mut batch)?;
        if batch.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return Err(RunError::ReadTimeout {
                    topic: topic.to_owned(),
                    timeout: CURSOR_READ_TIMEOUT,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // A key lives in one partition, so its last record in offset order is its latest.
        for record in batch.drain(..) {
            if record.key.as_deref() == Some(key) {
                latest = Some(record.value);
            }
        }
    }
}

/// The record key: a JSON object of the relation's primary key columns.
fn key_of(relation: &'static Relation, columns: &Map<String, Value>) -> Result<Vec<u8>, RunError> {
    let mut key = Map::new();
    for &column in relation.key {
        let value = columns.get(column).filter(|value| !value.is_null()).ok_or(
            RunError::MissingKeyColumn {
                relation: relation.name,
                column,
            },
        )?;
        key.insert(column.to_owned(), value.clone());
    }
    Ok(Value::Object(key).to_string().into_bytes())
}

/// RFC 3339 in UTC with a `Z`, as the canonical relations store times.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in digest.iter() {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            updated_at: DateTime::parse_from_rfc3339("2024-05-10T09:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
        };
        assert_eq!(cursor.to_json(), r#"{"updated_at":"2024-05-10T09:00:00Z"}"#);
        assert_eq!(Cursor::from_json(cursor.to_json().as_bytes()), Ok(cursor));
        assert_eq!(
            Cursor::from_json(br#"{"updated_at":"2024-05-10T11:00:00+02:00"}"#),
            Ok(cursor)
        );
        assert_eq!(
            Cursor::from_json(br#"{"since":1}"#),
            Err("it has no updated_at string".to_owned())
        );
        assert!(Cursor::from_json(br#"{"updated_at":"yesterday"}"#).is_err());
        assert!(Cursor::from_json(b"{").is_err());
    }

    #[test]
    fn keys_are_the_primary_key_columns() {
        let mut columns = Map::new();
        columns.insert("tenant_id".into(), "acme".into());
        columns.insert("pr_id".into(), "github:o/r#1".into());
        columns.insert("title".into(), "x".into());
        assert_eq!(
            String::from_utf8(key_of(&PULL_REQUESTS, &columns).expect("key")).expect("utf8"),
            r#"{"pr_id":"github:o/r#1","tenant_id":"acme"}"#
        );
        columns.insert("pr_id".into(), Value::Null);
        assert_eq!(
            key_of(&PULL_REQUESTS, &columns)
                .expect_err("null key")
                .to_string(),
            "pull_requests record lacks its key column pr_id"
        );
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
