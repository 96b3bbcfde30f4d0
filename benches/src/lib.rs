//! Vigil's benchmarks: harnesses that print a table and write their figures as JSON
//! under `benches/results/`. See `benches/README.md` for what each one measures and
//! how to run it.
//!
//! - [`update_latency`]: a join + aggregate view over 1M base rows; the median time
//!   from a single-row UPDATE to the view reflecting it, next to recomputing the same
//!   query from scratch with DataFusion.
//! - [`source_ingest`]: upsert events through a source of the embedded change log into
//!   a join + aggregate view: sustained events per second (1 or more workers), and
//!   freshness (publish to the `SUBSCRIBE` row) at a fixed background rate.
//! - [`serving`]: point and scan queries over pgwire from 16 concurrent clients while
//!   ingest runs.
//! - [`alert_latency`]: from an INSERT over pgwire to its row in a `SUBSCRIBE`
//!   stream, and to its webhook sink's POST at a local receiver.
//! - [`eng_org`]: a synthetic engineering organization (200k items) loaded into every
//!   engineering view, then one work-item change to every affected view.
//! - [`crdc_district`]: a synthetic 250k-student district loaded and validated, then
//!   one student's change to readiness.
//! - [`baseline`]: the batch way on the same data and SQL: PostgreSQL materialized
//!   views ([`postgres`] starts a throwaway cluster) refreshed after one change, and
//!   DataFusion recomputing every view.
//! - [`summary`]: one table of every figure above, Vigil beside its baselines, from
//!   the JSON files (`scripts/bench.sh` runs everything, then this).
//! - [`harness`]: what the in-process harnesses share (publishing, reading results,
//!   waiting until views have caught up, peak memory).

pub mod alert_latency;
pub mod baseline;
pub mod crdc_district;
pub mod eng_org;
pub mod flags;
pub mod harness;
pub mod postgres;
pub mod serving;
pub mod source_ingest;
pub mod summary;
pub mod update_latency;

use std::time::Duration;

/// The `q`-quantile (0.0 ..= 1.0) of `samples`, which must not be empty.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}
