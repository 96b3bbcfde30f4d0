//! Source connectors: they pull work data from source APIs, keep the raw payloads,
//! map them to canonical records and publish change events to the change log
//! (Kafka or the embedded log). They know the change log and the canonical model,
//! never the engine.
//!
//! ```text
//!  config (TOML) ─▶ Connector (one per source) ──fetch──▶ http::HttpClient ──▶ source API
//!                        │                                 retries, backoff, rate limits, ETags
//!                        ▼
//!  run::run_once(connector, scope, log)
//!     cursor ◀── connector.cursors        raw payloads ──▶ raw.{source}
//!     rows   ──▶ eng.pull_requests, …     runs         ──▶ eng.connector_runs
//! ```
//!
//! - [`http`]: the one HTTP client every source uses (timeouts, jittered backoff,
//!   `Retry-After` and `X-RateLimit-*`, conditional GETs, `Link` paging).
//! - [`run`]: the [`run::Connector`] trait and [`run::run_once`], which reads the
//!   scope's cursor, lets the connector fetch from it (minus an overlap), keeps raw
//!   payloads, publishes canonical records with tenant and lineage, records the run
//!   in `eng.connector_runs`, and moves the cursor only once everything is published.
//! - [`config`]: connector config files, checked up front; [`registry`] turns a
//!   source name and its config into a runnable [`Configured`] connector with its
//!   scopes (what `vigil connect` and the server's connectors use).
//! - one folder per source, each with the same three parts kept apart: transport
//!   (endpoints and paging), format (the source's JSON shape) and mapping (JSON to
//!   canonical record): [`github`] (pull requests, details, reviews), [`jira`]
//!   (boards, issues with their changelogs, sprints), [`azure`] (WIQL, batches,
//!   revisions, team iterations) and [`clickup`] (tasks paged by `page`,
//!   sprint-folder lists as sprints); for the CRDC, [`powerschool`] (students with
//!   expansions, schools, PowerQueries) and [`oneroster`] (Infinite Campus's
//!   OneRoster 1.2), both behind [`oauth`] client-credentials tokens and mapping
//!   through the shared CRDC vocabulary of [`crdc`].

pub mod azure;
pub mod clickup;
pub mod config;
pub mod crdc;
pub mod github;
pub mod http;
pub mod jira;
pub mod oauth;
pub mod oneroster;
pub mod powerschool;
pub mod registry;
pub mod run;

pub use azure::AzureConnector;
pub use clickup::ClickUpConnector;
pub use config::{
    AzureConfig, AzureProject, BoardKind, ClickUpConfig, ClickUpMapping, ClickUpSpace,
    CommonConfig, ConfigError, GitHubConfig, JiraBoard, JiraConfig, JiraMapping, Repo, Secret,
    StatusCategory,
};
pub use github::GitHubConnector;
pub use http::{HttpClient, HttpError, HttpStats, RetryPolicy};
pub use jira::JiraConnector;
pub use oneroster::OneRosterConnector;
pub use oneroster::config::OneRosterConfig;
pub use powerschool::PowerSchoolConnector;
pub use powerschool::config::{PowerQueries, PowerSchoolConfig};
pub use registry::{Configured, LoadError, SourceKind};
pub use run::{
    CanonicalRecord, Connector, Cursor, RawRef, Relation, Run, RunError, RunReport, RunSettings,
    RunStatus, run_once,
};
