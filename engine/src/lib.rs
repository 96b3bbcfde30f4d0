//! Vigil's dataflow engine: timely + differential dataflow workers that keep
//! materialized views up to date as tables change.
//!
//! ```text
//!  table updates ─▶ input ─▶ arrangement (table) ─┐
//!                                                  ├─▶ rendered plan ─▶ arrangement (view)
//!  other views' arrangements ──────────────────────┘          │
//!                                           peeks read arrangements at one time
//! ```
//!
//! - [`repr`]: the data model (`Datum`, `Row`, `ScalarType`, `RelationDesc`) and its
//!   Arrow and PostgreSQL-text conversions.
//! - [`plan`]: the dataflow plan (`Plan`) that the SQL layer lowers queries into.
//! - [`render`]: turns a `Plan` into differential operators; scalar expressions and
//!   aggregates are DataFusion's own, evaluated over batches of rows.
//! - [`runtime`]: the worker threads, the commands that drive them (create, update,
//!   advance time, drop) and peeks, which read an arrangement at one closed time
//!   across all workers.
//!
//! The engine knows nothing of SQL or storage: the coordinator in `vigil-sql` decides
//! timestamps, persists writes and lowers SQL to plans.

pub mod plan;
pub mod render;
pub mod repr;
pub mod runtime;

pub use plan::{Diff, GlobalId, Plan, Time};
pub use runtime::{Engine, EngineError, PendingPeek};
