//! `vigil demo`: a server with the engineering views filled from the recorded
//! fixtures, loaded the way production data is, through the real connectors.
//!
//! ```text
//!  vigil_fixtures::api (127.0.0.1:random) ◀──HTTP── GitHub, Jira, Azure Boards, ClickUp connectors
//!                                                        │ run once each, from the server
//!                                                        ▼
//!                                         change log ─▶ sources ─▶ engineering views
//! ```
//!
//! The demo's connector configs are written into the data directory
//! (`demo-connectors/{source}.toml`), so a user can read them, and the server runs
//! them like any configured connector: `POST /api/v1/admin/connectors/jira/run`
//! fetches again. A restarted demo finds its cursors and fetches only what changed.
//! The clock is manual and starts the day after the fixtures' last update
//! ([`DEMO_CLOCK_START`]), so the views read as they would have then.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigil_connectors::SourceKind;
use vigil_engine::repr::Datum;
use vigil_fixtures::api::{Api, ApiError, FixtureApi};
use vigil_sql::{Coordinator, ExecuteResponse, SqlError};

use crate::config::{Config, ConfigLayer, ConnectorSpec};
use crate::connectors::{Connectors, RunRefused, RunSummary};

/// Where `vigil demo` keeps its data unless told otherwise: apart from `vigil serve`'s.
pub const DEFAULT_DEMO_DATA_DIR: &str = "./vigil-demo";

/// Where the demo's clock starts unless told otherwise: a day after the fixtures'
/// last update, so their ages, sprints and 90-day windows read as they would on
/// that day. The clock is manual: `ADVANCE CLOCK BY '2 days'` moves blocked items
/// into older buckets and past their SLAs.
pub const DEMO_CLOCK_START: &str = "2024-05-21 09:00:00+00";

/// The folder of the data directory that holds the demo's connector configs.
pub const CONFIG_DIR: &str = "demo-connectors";

/// How long loading may take before the demo says so and serves what it has.
const LOAD_DEADLINE: Duration = Duration::from_secs(60);

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the fixture API server")]
    FixtureApi(#[from] ApiError),
    #[error("cannot write the demo connector config {}", path.display())]
    WriteConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Run(#[from] RunRefused),
    #[error("cannot read the views")]
    Query(#[from] SqlError),
}

/// What `vigil demo` runs with unless told otherwise: its own data directory and
/// the manual clock at [`DEMO_CLOCK_START`]. A user who names a clock gets that
/// clock instead (`clock_chosen`).
pub fn defaults(clock_chosen: bool) -> ConfigLayer {
    ConfigLayer {
        data_dir: Some(PathBuf::from(DEFAULT_DEMO_DATA_DIR)),
        clock: (!clock_chosen).then(|| "manual".to_owned()),
        clock_start: (!clock_chosen).then(|| DEMO_CLOCK_START.to_owned()),
        ..ConfigLayer::default()
    }
}

/// The sources the demo loads, each with the API that plays it: the engineering
/// ones. The CRDC sources (PowerSchool, OneRoster) have fixtures too, but their
/// school year is not the engineering fixtures' day the demo's clock stands on.
fn demo_sources() -> impl Iterator<Item = (Api, SourceKind)> {
    [
        (Api::GitHub, SourceKind::GitHub),
        (Api::Jira, SourceKind::Jira),
        (Api::Azure, SourceKind::Azure),
        (Api::ClickUp, SourceKind::ClickUp),
    ]
    .into_iter()
}

/// Starts the fixture API and adds a connector per source, configured against it,
/// to `config`. The fixture API serves while the returned handle lives.
pub async fn prepare(config: &mut Config) -> Result<FixtureApi, DemoError> {
    let api = FixtureApi::start().await?;
    let dir = config.data_dir.join(CONFIG_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| DemoError::WriteConfig {
        path: dir.clone(),
        source,
    })?;
    for (played, source) in demo_sources() {
        let path = dir.join(format!("{source}.toml"));
        write_config(&path, &api.demo_config(played))?;
        config.connectors.push(ConnectorSpec {
            id: source.as_str().to_owned(),
            source,
            config: path,
            every: None,
        });
    }
    Ok(api)
}

fn write_config(path: &Path, text: &str) -> Result<(), DemoError> {
    std::fs::write(path, text).map_err(|source| DemoError::WriteConfig {
        path: path.to_owned(),
        source,
    })
}

/// Runs every demo connector once, calling `progress` with each scope's run.
pub async fn load(
    connectors: &Connectors,
    mut progress: impl FnMut(&str, &RunSummary),
) -> Result<(), DemoError> {
    for (_, source) in demo_sources() {
        for run in connectors.run(source.as_str()).await? {
            progress(source.as_str(), &run);
        }
    }
    Ok(())
}

/// Waits (up to a minute) until every source has read the change log to its end,
/// then returns each engineering view with its row count.
pub async fn view_counts(coordinator: &Coordinator) -> Result<Vec<(String, i64)>, DemoError> {
    let deadline = Instant::now() + LOAD_DEADLINE;
    while count(
        coordinator,
        "SELECT count(*) FROM vigil_sources WHERE lag > 0",
    )
    .await?
        > 0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut counts = Vec::new();
    for view in vigil_views::ENGINEERING_VIEWS {
        let rows = count(coordinator, &format!("SELECT count(*) FROM {view}")).await?;
        counts.push((view.to_owned(), rows));
    }
    Ok(counts)
}

async fn count(coordinator: &Coordinator, sql: &str) -> Result<i64, DemoError> {
    let mut session = coordinator.session();
    match session.execute_batch(sql).await.pop() {
        Some(Ok(ExecuteResponse::Rows { rows, .. })) => {
            Ok(match rows.first().and_then(|row| row.first()) {
                Some(Datum::Int64(n)) => *n,
                _ => 0,
            })
        }
        Some(Err(error)) => Err(error.into()),
        Some(Ok(_)) | None => Ok(0),
    }
}
