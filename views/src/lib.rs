//! Vigil's domains, written as SQL: the canonical source definitions, the built-in
//! views as `.sql` files and YAML rule packs compiled to SQL views (see
//! `shared/design/domain.md`). Anything the product computes is a view an analyst
//! can read with `SHOW CREATE VIEW`, explain with `EXPLAIN MATERIALIZED VIEW` and
//! copy; this crate holds no logic of its own beyond compiling rule packs and
//! installing the statements.
//!
//! ```text
//!  sql/engineering/sources.sql ─────────────────────────▶ CREATE SOURCE … (topics eng.*)
//!  rules/engineering.yaml ─▶ rules::compile ─▶ rule_wi_001 … rule_pr_003 ─▶ validation_results
//!  sql/engineering/*.sql ───────────────────────────────▶ board_compliance, sprint_velocity, …
//!                                   install(coordinator): each statement through a Session,
//!                                   in dependency order, every one IF NOT EXISTS
//! ```
//!
//! - [`rules`]: the rule-pack format ([`rules::RulePack`]) and its compiler: one
//!   materialized view per rule with the columns of `validation_results` (tenant,
//!   domain, rule id and version, severity, category, entity type and id, scope,
//!   message, remediation, lineage), the results view as their union, and a plain
//!   view listing the rules.
//! - [`install`]: the built-ins of each domain ([`engineering`]) and [`install()`],
//!   which the server runs on every start; it is idempotent, so a restart creates
//!   nothing and an analyst's own relation of the same name is left alone.
//!
//! The engineering views (`ENGINEERING_VIEWS`):
//!
//! | view | grain |
//! | --- | --- |
//! | `validation_results` | failing (rule, entity) |
//! | `board_compliance` | board: items in scope, compliant items, fill rates |
//! | `blocked_items` | blocked, not-done item, with an age bucket that moves with time |
//! | `blocked_sla_breaches` | blocked item past its board's SLA, with `due_at` |
//! | `sprint_velocity` | sprint: committed, completed, carried over |
//! | `defect_density` | sprint: bugs per 10 points and per 1,000 changed lines |
//! | `weekly_throughput` | board × ISO week of done_at |
//! | `person_cycle_time` | assignee × board, last 90 days |
//! | `pr_flow` | repository × ISO week of merged_at |
//!
//! The CRDC views (`CRDC_VIEWS`; sources in `sql/crdc/sources.sql`, tenant
//! `district_id`):
//!
//! ```text
//!  sql/crdc/sources.sql ──▶ CREATE SOURCE … (topics crdc.*)
//!  sql/crdc/exceptions.sql ──▶ exceptions, exception_activity (tables people write)
//!  sql/crdc/population.sql ──▶ crdc_students, crdc_enrolled (Oct 1), crdc_incidents, …
//!  sql/crdc/crdc_school_counts.sql ──▶ crdc_school_counts (the CRDC cells)
//!  rules/crdc-2025-26.yaml ─▶ rule_enr_001 … rule_hib_001 ─▶ crdc_rule_results, crdc_rules
//!  sql/crdc/readiness.sql ──▶ crdc_open_results ─▶ readiness ─▶ readiness_district
//!  sql/crdc/readiness_trend.sql ──▶ readiness_snapshots (table) ─▶ readiness_trend
//! ```
//!
//! | view | grain |
//! | --- | --- |
//! | `crdc_rule_results` | failing (rule, entity), with `result_key` |
//! | `crdc_school_counts` | school × CRDC cell |
//! | `crdc_open_results` | result with no closing exception |
//! | `readiness` | school × collection × category: N, E, W, score, band |
//! | `readiness_district` | district × collection × category, schools weighted by N |
//! | `readiness_trend` | readiness against the last daily snapshot before today |
//!
//! [`crdc`] holds the two tasks that are not views: the daily readiness snapshot
//! ([`crdc::snapshot_if_due`]) and swapping a collection's rule pack
//! ([`crdc::install_pack`]).
//!
//! Every join matches `tenant_id` (`district_id` in the CRDC domain), so one
//! installation serves many tenants. Times
//! in views are temporal filters on the engine's clock (`now()` in WHERE), so
//! aging buckets, SLA breaches and 90-day windows move without new input.

pub mod crdc;
pub mod install;
pub mod rules;

pub use install::{
    Builtin, CRDC_RULES, CRDC_SOURCES, CRDC_VIEWS, ENGINEERING_RULES, ENGINEERING_SOURCES,
    ENGINEERING_VIEWS, InstallError, Installed, ObjectKind, builtins, crdc, engineering, install,
};
