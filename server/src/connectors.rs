//! The connectors a server runs: each on its schedule (`every`), and whenever
//! `POST /api/v1/admin/connectors/{id}/run` asks.
//!
//! ```text
//!  Config.connectors ──load──▶ Connectors { id ▸ Slot { Configured, busy, last runs } }
//!       scheduler task per `every` ─┐
//!       POST …/{id}/run ────────────┴─▶ Connectors::run(id) ─▶ Configured::run_all(log)
//! ```
//!
//! A connector runs on the server's own change log: with the embedded log the server
//! holds the data directory, so nothing else could publish into it. One run of a
//! connector at a time: a request while it runs is refused (409), a scheduled run
//! that comes due is skipped. Runs publish synchronously between fetches, so they run
//! on the blocking pool, never on the runtime's workers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::task::JoinSet;
use tracing::Instrument;
use vigil_changelog::ChangeLog;
use vigil_connectors::{Configured, LoadError, RunReport, RunStatus};

use crate::config::ConnectorSpec;

/// Why a configured connector could not be loaded at start.
#[derive(Debug, thiserror::Error)]
#[error("connector \"{id}\": {source}")]
pub struct ConnectorLoadError {
    pub id: String,
    /// Boxed: a TOML error is large, and this travels up through `ServerError`.
    #[source]
    pub source: Box<LoadError>,
}

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum RunRefused {
    #[error("connector \"{0}\" does not exist")]
    Unknown(String),
    #[error("connector \"{0}\" is already running")]
    Busy(String),
    #[error("connector \"{0}\"'s run was interrupted")]
    Interrupted(String),
}

/// The server's connectors, by id.
pub struct Connectors {
    slots: BTreeMap<String, Arc<Slot>>,
    log: Arc<dyn ChangeLog>,
}

struct Slot {
    spec: ConnectorSpec,
    configured: Configured,
    /// Held for the length of a run.
    busy: Arc<tokio::sync::Mutex<()>>,
    /// The reports of the last finished run.
    last: Mutex<Option<Vec<RunSummary>>>,
}

/// One scope's run, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub scope: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub fetched: u64,
    pub published: u64,
    pub rejected: u64,
    pub error: Option<String>,
}

impl RunSummary {
    pub fn of(report: &RunReport) -> RunSummary {
        let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
        RunSummary {
            run_id: report.run_id.clone(),
            scope: report.scope.clone(),
            status: report.status.as_str().to_owned(),
            started_at: time(report.started_at),
            finished_at: time(report.finished_at),
            duration_ms: (report.finished_at - report.started_at)
                .num_milliseconds()
                .try_into()
                .unwrap_or(0),
            fetched: report.fetched,
            published: report.published,
            rejected: report.rejected,
            error: report.error.as_ref().map(ToString::to_string),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded.as_str()
    }

    /// One line for people: `10: succeeded in 1.2s: 14 fetched, 31 published, 0 rejected`.
    pub fn line(&self) -> String {
        let took = Duration::from_millis(self.duration_ms).as_secs_f64();
        let counts = format!(
            "{} fetched, {} published, {} rejected",
            self.fetched, self.published, self.rejected
        );
        match &self.error {
            None => format!("{}: {} in {took:.1}s: {counts}", self.scope, self.status),
            Some(error) => format!(
                "{}: {} after {took:.1}s ({counts}): {error}",
                self.scope, self.status
            ),
        }
    }
}

/// A connector, as `GET /api/v1/admin/connectors` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ConnectorInfo {
    pub id: String,
    pub source: String,
    pub scopes: Vec<String>,
    /// Seconds between scheduled runs; `None` when it runs only on request.
    pub every_seconds: Option<u64>,
    pub running: bool,
    pub last_run: Option<Vec<RunSummary>>,
}

impl Connectors {
    /// Reads and checks every connector's config (tokens from the environment where
    /// a config says `token_env`). A bad config stops the server from starting.
    pub fn load(
        specs: &[ConnectorSpec],
        log: Arc<dyn ChangeLog>,
    ) -> Result<Connectors, ConnectorLoadError> {
        let mut slots = BTreeMap::new();
        for spec in specs {
            let configured = Configured::load(spec.source, &spec.config).map_err(|source| {
                ConnectorLoadError {
                    id: spec.id.clone(),
                    source: Box::new(source),
                }
            })?;
            slots.insert(
                spec.id.clone(),
                Arc::new(Slot {
                    spec: spec.clone(),
                    configured,
                    busy: Arc::new(tokio::sync::Mutex::new(())),
                    last: Mutex::new(None),
                }),
            );
        }
        Ok(Connectors { slots, log })
    }

    /// A server without connectors.
    pub fn none(log: Arc<dyn ChangeLog>) -> Connectors {
        Connectors {
            slots: BTreeMap::new(),
            log,
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    pub fn list(&self) -> Vec<ConnectorInfo> {
        self.slots
            .iter()
            .map(|(id, slot)| ConnectorInfo {
                id: id.clone(),
                source: slot.spec.source.as_str().to_owned(),
                scopes: slot.configured.scopes.clone(),
                every_seconds: slot.spec.every.map(|every| every.as_secs()),
                running: slot.busy.try_lock().is_err(),
                last_run: lock(&slot.last).clone(),
            })
            .collect()
    }

    /// Runs connector `id` over all its scopes and returns one summary per scope.
    /// Refused at once if it is already running.
    pub async fn run(&self, id: &str) -> Result<Vec<RunSummary>, RunRefused> {
        self.start(id)?.await
    }

    /// Claims connector `id` now (refused if it is unknown or running) and returns
    /// the run, to be awaited here or spawned.
    pub fn start(
        &self,
        id: &str,
    ) -> Result<
        impl Future<Output = Result<Vec<RunSummary>, RunRefused>> + Send + 'static,
        RunRefused,
    > {
        let slot = Arc::clone(
            self.slots
                .get(id)
                .ok_or_else(|| RunRefused::Unknown(id.to_owned()))?,
        );
        let busy = Arc::clone(&slot.busy)
            .try_lock_owned()
            .map_err(|_| RunRefused::Busy(id.to_owned()))?;
        let log = Arc::clone(&self.log);
        let id = id.to_owned();
        Ok(async move {
            let runtime = tokio::runtime::Handle::current();
            let span = tracing::info_span!("connector", id);
            let work = {
                let slot = Arc::clone(&slot);
                move || {
                    let reports =
                        runtime.block_on(slot.configured.run_all(log.as_ref()).instrument(span));
                    reports.iter().map(RunSummary::of).collect::<Vec<_>>()
                }
            };
            let summaries = tokio::task::spawn_blocking(work)
                .await
                .map_err(|_| RunRefused::Interrupted(id))?;
            *lock(&slot.last) = Some(summaries.clone());
            drop(busy);
            Ok(summaries)
        })
    }

    /// Runs each scheduled connector every `every`, the first time one period after
    /// start, until `stop` resolves; a run in progress then finishes in the
    /// background (it resumes from its cursor next time if cut short).
    pub async fn schedule(self: Arc<Connectors>, stop: impl Future<Output = ()>) {
        let mut tasks = JoinSet::new();
        for (id, slot) in &self.slots {
            let Some(every) = slot.spec.every else {
                continue;
            };
            let connectors = Arc::clone(&self);
            let id = id.clone();
            tasks.spawn(async move {
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    match connectors.run(&id).await {
                        Ok(_) => {}
                        Err(RunRefused::Busy(_)) => {
                            tracing::info!(
                                id,
                                "skipping a scheduled run: the last one is still going"
                            )
                        }
                        Err(error) => tracing::warn!(%error, "scheduled run"),
                    }
                }
            });
        }
        stop.await;
        tasks.shutdown().await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding it left whole data behind: the summaries are replaced,
    // never edited in place.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
