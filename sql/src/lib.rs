//! Vigil's SQL layer: statements in, rows and incrementally maintained views out.
//!
//! ```text
//!  SQL text ─▶ parse (sqlparser, PostgreSQL dialect)
//!     ├─ DDL / SHOW / SET ──────────────▶ catalog (+ storage) ─▶ engine
//!     ├─ SELECT ─▶ DataFusion LogicalPlan ─▶ peek arrangements at one time ─▶ DataFusion executes
//!     ├─ INSERT / UPDATE / DELETE / COPY ─▶ row changes ─▶ redb (durable) ─▶ engine inputs
//!     ├─ CREATE MATERIALIZED VIEW ─▶ LogicalPlan ─▶ optimize ─▶ lower ─▶ dataflow Plan ─▶ engine
//!     ├─ CREATE SOURCE ─▶ topic of the change log (embedded or Kafka) ─▶ engine source
//!     └─ SUBSCRIBE / CREATE SINK ─▶ engine subscription (as of a time) ─▶ rows, in time order
//! ```
//!
//! - [`session`]: the API the server drives ([`Coordinator`], [`Session`]).
//! - `coord`: sequencing of writes, timestamps, and every statement's execution.
//! - `context`: DataFusion sessions over Vigil's catalog, reading peeked snapshots.
//! - `lookup`: point lookups; a query that pins a relation's leading columns reads
//!   only the rows with those values.
//! - `lower`: DataFusion `LogicalPlan` → Vigil dataflow `Plan`; refuses (0A000) what
//!   cannot be maintained incrementally.
//! - `pg`: PostgreSQL semantics for literals (input syntax, rounding, errors) applied
//!   to DataFusion's plans; `jsonb`: the jsonb type and its `->`/`->>` operators.
//! - `pg_catalog` and `information_schema`: PostgreSQL's catalogs and system functions
//!   (`version()`, `current_setting()`, `format_type()`, `::regclass`, …) computed from
//!   the catalog, so psql, BI tools and drivers can introspect Vigil.
//! - [`source`]: `CREATE SOURCE … FROM TOPIC … WITH (envelope = …)`; the engine reads
//!   the topic (see `vigil_engine::source`).
//! - [`subscribe`]: `SUBSCRIBE`, `COPY (SUBSCRIBE …) TO STDOUT` and cursors over
//!   it; the same subscriptions feed HTTP change streams and sinks.
//! - [`sink`]: `CREATE SINK … INTO WEBHOOK | TOPIC`, kept in the catalog with what
//!   each sink has delivered; the server delivers.
//! - `temporal`: `now()` (the coordinator's clock, wall or manual, moved by
//!   `ADVANCE CLOCK`), temporal filters in materialized views, `RETAIN HISTORY`.
//! - `introspection`: the `vigil_*` system relations (`vigil_sources`,
//!   `vigil_source_errors`, `vigil_frontiers`, `vigil_dataflow_errors`,
//!   `vigil_sinks`, `vigil_sink_errors`).
//! - `names`: PostgreSQL's names for unaliased result columns (`count`, `?column?`).
//! - `copy`: COPY's text and CSV formats.
//! - `storage`: the catalog, comments and table rows in redb.
//! - [`error`]: [`SqlError`], each variant with its SQLSTATE.
//!
//! One dialect, one planner: anything DataFusion plans can run as an ad-hoc query,
//! and a materialized view computes exactly what the same ad-hoc query would, because
//! its expressions and aggregates are DataFusion's own.

pub mod catalog;
mod context;
mod coord;
pub mod copy;
pub mod error;
mod information_schema;
mod introspection;
mod jsonb;
mod lookup;
mod lower;
mod names;
pub mod parse;
mod pg;
mod pg_catalog;
pub mod session;
pub mod sink;
pub mod source;
mod storage;
pub mod subscribe;
mod temporal;
mod tokens;

pub use error::SqlError;
pub use session::{ClockMode, CommandTag, Config, Coordinator, ExecuteResponse, Prepared, Session};
pub use subscribe::{SubscribeEvent, SubscribeOptions, SubscribeTarget, Subscription};
