//! Vigil's dataflow engine: timely + differential dataflow workers that keep
//! materialized views up to date as tables and sources change.
//!
//! ```text
//!  table updates ─▶ input ─▶ arrangement (table) ──────────┐
//!  change log topic ─▶ source (decode, upsert) ─▶ arrangement ├─▶ rendered plan ─▶ arrangement (view)
//!  other views' arrangements ───────────────────────────────┘          │
//!                                                    peeks read arrangements at one time
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
//! - [`source`]: topics of the change log read by the workers (partitions spread over
//!   them), decoded from JSON and upserted into a collection; bad records become
//!   rows of `vigil_source_errors`.
//! - [`subscribe`]: a relation's or a plan's changes pushed out in time order, with
//!   progress, from an as-of time that materialized views' retained history allows.
//!
//! Time is data: a plan's temporal filter (`now()` compared with a row's
//! timestamps) schedules a row's retraction at the time its window closes, so views
//! change as the timeline advances, with no new input.
//!
//! The engine knows nothing of SQL or storage: the coordinator in `vigil-sql` decides
//! timestamps, persists writes and lowers SQL to plans. Sources follow the
//! coordinator's time: they emit at the current input time once they have replayed
//! their topic.
//!
//! With `VIGIL_OPERATOR_PROFILE=1` in the environment, every worker prints at
//! shutdown how long each dataflow and operator ran ([`profile`]).

pub mod plan;
pub mod profile;
pub mod render;
pub mod repr;
pub mod runtime;
pub mod source;
pub mod subscribe;

pub use plan::{Diff, GlobalId, Plan, Time};
pub use runtime::{Engine, EngineError, PendingPeek, SubscribeTarget};
pub use subscribe::{SubscribeEvent, Subscription};

/// The wall clock in milliseconds since the Unix epoch (0 before 1970), for
/// timelines and the times error logs and status relations report.
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
