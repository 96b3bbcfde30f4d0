//! Connector configuration files (TOML), checked up front so a bad file fails with a
//! message naming the field, not with a confusing first run.
//!
//! ```toml
//! tenant_id = "acme"
//! base_url = "https://api.github.com"     # GitHub Enterprise: https://host/api/v3
//! token_env = "GITHUB_TOKEN"              # or token = "…" (not both)
//! repositories = ["octo/web", "octo/api"]
//! overlap = "5m"                          # refetch margin before the cursor
//! per_page = 100
//! pr_key_pattern = '[A-Z][A-Z0-9]+-\d+'
//! mapping_version = 1
//!
//! [http]
//! timeout = "30s"
//! max_attempts = 6
//! backoff_initial = "500ms"
//! backoff_max = "30s"
//! max_rate_limit_wait = "15m"
//! ```
//!
//! The fields every source shares (tenant, base URL, token, overlap, mapping version,
//! `[http]`) become a [`CommonConfig`]; each source adds its own. Tokens are read once,
//! from the file or the environment, into a [`Secret`] that never prints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use chrono::FixedOffset;
use regex::Regex;
use serde::Deserialize;

use crate::http::RetryPolicy;
use crate::run::RunSettings;

/// The default key pattern linking a pull request to a work item (`WEB-12`).
pub const DEFAULT_PR_KEY_PATTERN: &str = r"[A-Z][A-Z0-9]+-\d+";

/// The default refetch margin before the cursor.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(5 * 60);

/// Why a connector config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read connector config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid connector config {origin}: {source}")]
    Parse {
        origin: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid connector config {origin}: {field}: {reason}")]
    Invalid {
        origin: String,
        field: &'static str,
        reason: String,
    },
}

/// A token, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The token itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What every source's config holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonConfig {
    pub tenant_id: String,
    pub base_url: String,
    pub token: Option<Secret>,
    pub overlap: Duration,
    pub mapping_version: i64,
    pub http: RetryPolicy,
}

impl CommonConfig {
    pub fn run_settings(&self) -> RunSettings {
        RunSettings {
            tenant_id: self.tenant_id.clone(),
            mapping_version: self.mapping_version,
            overlap: self.overlap,
        }
    }
}

/// An `owner/name` GitHub repository.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl std::str::FromStr for Repo {
    type Err = String;

    /// GitHub's own rule: letters, digits, `-`, `_` and `.` on each side of one `/`.
    fn from_str(text: &str) -> Result<Repo, String> {
        let allowed = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.split_once('/') {
            Some((owner, name)) if allowed(owner) && allowed(name) => Ok(Repo {
                owner: owner.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(format!(
                "{text:?} is not owner/name (letters, digits, '-', '_' or '.')"
            )),
        }
    }
}

/// The GitHub connector's config.
#[derive(Clone, Debug)]
pub struct GitHubConfig {
    pub common: CommonConfig,
    pub repositories: Vec<Repo>,
    /// Pull requests per list page (GitHub allows 1 to 100).
    pub per_page: u32,
    pub pr_key_pattern: Regex,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHubFile {
    tenant_id: String,
    base_url: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
    repositories: Vec<String>,
    overlap: Option<String>,
    per_page: Option<u32>,
    pr_key_pattern: Option<String>,
    mapping_version: Option<i64>,
    http: Option<HttpFile>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpFile {
    timeout: Option<String>,
    max_attempts: Option<u32>,
    backoff_initial: Option<String>,
    backoff_max: Option<String>,
    max_rate_limit_wait: Option<String>,
}

impl GitHubConfig {
    /// Reads and checks the config file at `path`, taking `token_env` from the
    /// process environment.
    pub fn load(path: &Path) -> Result<GitHubConfig, ConfigError> {
        load_file(path, |origin, text, env| {
            GitHubConfig::parse(origin, text, env)
        })
    }

    /// Checks config `text`; `origin` names it in errors and `env` looks up
    /// `token_env`.
    pub fn parse(
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<GitHubConfig, ConfigError> {
        let file: GitHubFile = toml_file(origin, text)?;
        let invalid = |field, reason: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            field,
            reason,
        };
        let common = common(
            origin,
            CommonFields {
                tenant_id: file.tenant_id,
                base_url: file
                    .base_url
                    .unwrap_or_else(|| "https://api.github.com".to_owned()),
                token: file.token,
                token_env: file.token_env,
                overlap: file.overlap,
                mapping_version: file.mapping_version,
                http: file.http.unwrap_or_default(),
            },
            env,
        )?;
        if file.repositories.is_empty() {
            return Err(invalid(
                "repositories",
                "list at least one owner/name".into(),
            ));
        }
        let mut repositories = Vec::with_capacity(file.repositories.len());
        for text in &file.repositories {
            let repo: Repo = text.parse().map_err(|e| invalid("repositories", e))?;
            if repositories.contains(&repo) {
                return Err(invalid("repositories", format!("{repo} is listed twice")));
            }
            repositories.push(repo);
        }
        let per_page = file.per_page.unwrap_or(100);
        if !(1..=100).contains(&per_page) {
            return Err(invalid(
                "per_page",
                format!("{per_page} is outside 1 to 100, what GitHub allows"),
            ));
        }
        let pattern = file
            .pr_key_pattern
            .unwrap_or_else(|| DEFAULT_PR_KEY_PATTERN.to_owned());
        let pr_key_pattern =
            Regex::new(&pattern).map_err(|e| invalid("pr_key_pattern", e.to_string()))?;
        Ok(GitHubConfig {
            common,
            repositories,
            per_page,
            pr_key_pattern,
        })
    }
}

/// A status category, Jira's three (`new`, `indeterminate`, `done`) in canonical words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCategory {
    Todo,
    InProgress,
    Done,
}

impl StatusCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCategory::Todo => "todo",
            StatusCategory::InProgress => "in_progress",
            StatusCategory::Done => "done",
        }
    }
}

/// A board's kind: only scrum boards have sprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardKind {
    Scrum,
    Kanban,
}

impl BoardKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BoardKind::Scrum => "scrum",
            BoardKind::Kanban => "kanban",
        }
    }
}

/// The default SLA after which a blocked item breaches.
pub const DEFAULT_BLOCKED_SLA_HOURS: u32 = 48;

/// How a Jira site's fields and statuses mean canonical things (the `mappings`
/// relation): field ids differ per site, and teams name their statuses freely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraMapping {
    pub story_points_field: String,
    pub sprint_field: String,
    pub flagged_field: String,
    /// Overrides Jira's own `statusCategory` per status name.
    pub status_categories: BTreeMap<String, StatusCategory>,
    pub blocked_statuses: Vec<String>,
    pub blocked_labels: Vec<String>,
}

/// One Jira board: a scope of the connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraBoard {
    pub id: u64,
    /// The project key its issues are searched by.
    pub project: String,
    /// Overrides the board's own `type` when set.
    pub kind: Option<BoardKind>,
    pub blocked_sla_hours: u32,
}

/// The Jira Cloud connector's config.
///
/// ```toml
/// tenant_id = "acme"
/// base_url = "https://acme.atlassian.net"
/// email = "bot@acme.com"          # with a token: basic auth (API tokens); without: bearer
/// token_env = "JIRA_TOKEN"
/// time_zone = "+02:00"            # the site's zone, which JQL times are read in (UTC default)
/// max_results = 50
/// story_points_field = "customfield_10016"
/// sprint_field = "customfield_10020"
/// flagged_field = "customfield_10021"
/// blocked_statuses = ["Blocked"]
/// blocked_labels = ["blocked"]
///
/// [status_categories]
/// "Ready for Release" = "done"
///
/// [[boards]]
/// id = 10
/// project = "WEB"
/// kind = "scrum"
/// blocked_sla_hours = 48
/// ```
#[derive(Clone, Debug)]
pub struct JiraConfig {
    pub common: CommonConfig,
    pub email: Option<String>,
    /// A fixed offset: JQL has no zone in its times, so they are written in the site's.
    /// A site with daylight saving time should give its smaller offset (a later
    /// offset would ask from a later time for half the year) or an overlap of more
    /// than an hour.
    pub time_zone: FixedOffset,
    /// Issues per search page (Jira caps it, at 100 with the changelog).
    pub max_results: u32,
    pub mapping: JiraMapping,
    pub boards: Vec<JiraBoard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JiraFile {
    tenant_id: String,
    base_url: String,
    email: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
    time_zone: Option<String>,
    max_results: Option<u32>,
    overlap: Option<String>,
    mapping_version: Option<i64>,
    story_points_field: Option<String>,
    sprint_field: Option<String>,
    flagged_field: Option<String>,
    #[serde(default)]
    status_categories: BTreeMap<String, StatusCategory>,
    #[serde(default)]
    blocked_statuses: Vec<String>,
    #[serde(default)]
    blocked_labels: Vec<String>,
    boards: Vec<JiraBoardFile>,
    http: Option<HttpFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JiraBoardFile {
    id: u64,
    project: String,
    kind: Option<BoardKind>,
    blocked_sla_hours: Option<u32>,
}

impl JiraConfig {
    /// Reads and checks the config file at `path`, taking `token_env` from the
    /// process environment.
    pub fn load(path: &Path) -> Result<JiraConfig, ConfigError> {
        load_file(path, |origin, text, env| {
            JiraConfig::parse(origin, text, env)
        })
    }

    /// Checks config `text`; `origin` names it in errors and `env` looks up
    /// `token_env`.
    pub fn parse(
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<JiraConfig, ConfigError> {
        let file: JiraFile = toml_file(origin, text)?;
        let invalid = |field, reason: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            field,
            reason,
        };
        let common = common(
            origin,
            CommonFields {
                tenant_id: file.tenant_id,
                base_url: file.base_url,
                token: file.token,
                token_env: file.token_env,
                overlap: file.overlap,
                mapping_version: file.mapping_version,
                http: file.http.unwrap_or_default(),
            },
            env,
        )?;
        let time_zone = match file.time_zone.as_deref() {
            None | Some("UTC" | "Z") => FixedOffset::east_opt(0)
                .ok_or_else(|| invalid("time_zone", "utc is not a valid offset".to_owned()))?,
            Some(text) => text.parse().map_err(|e| {
                invalid(
                    "time_zone",
                    format!("{text:?}: {e}; hint: write \"UTC\" or an offset such as \"+02:00\""),
                )
            })?,
        };
        let max_results = file.max_results.unwrap_or(50);
        if !(1..=100).contains(&max_results) {
            return Err(invalid(
                "max_results",
                format!("{max_results} is outside 1 to 100, what jira allows"),
            ));
        }
        if file.boards.is_empty() {
            return Err(invalid("boards", "list at least one board".into()));
        }
        let mut boards: Vec<JiraBoard> = Vec::with_capacity(file.boards.len());
        for board in file.boards {
            if boards.iter().any(|known| known.id == board.id) {
                return Err(invalid(
                    "boards",
                    format!("board {} is listed twice", board.id),
                ));
            }
            let key_like = !board.project.is_empty()
                && board
                    .project
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !key_like {
                return Err(invalid(
                    "boards.project",
                    format!("{:?} is not a jira project key", board.project),
                ));
            }
            boards.push(JiraBoard {
                id: board.id,
                project: board.project,
                kind: board.kind,
                blocked_sla_hours: board.blocked_sla_hours.unwrap_or(DEFAULT_BLOCKED_SLA_HOURS),
            });
        }
        let field =
            |name: Option<String>, default: &str| name.unwrap_or_else(|| default.to_owned());
        Ok(JiraConfig {
            common,
            email: file.email,
            time_zone,
            max_results,
            mapping: JiraMapping {
                story_points_field: field(file.story_points_field, "customfield_10016"),
                sprint_field: field(file.sprint_field, "customfield_10020"),
                flagged_field: field(file.flagged_field, "customfield_10021"),
                status_categories: file.status_categories,
                blocked_statuses: file.blocked_statuses,
                blocked_labels: file.blocked_labels,
            },
            boards,
        })
    }

    pub fn board(&self, id: u64) -> Option<&JiraBoard> {
        self.boards.iter().find(|board| board.id == id)
    }
}

/// One Azure Boards project and the team whose iterations are its sprints: a scope
/// of the Azure connector, named by the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureProject {
    pub project: String,
    pub team: String,
    pub kind: BoardKind,
    pub blocked_sla_hours: u32,
}

/// The Azure Boards connector's config. `common.base_url` is the organization
/// (`https://dev.azure.com/fabrikam`); the token is a personal access token.
#[derive(Clone, Debug)]
pub struct AzureConfig {
    pub common: CommonConfig,
    pub projects: Vec<AzureProject>,
    /// Ids per `workitemsbatch` request: Azure allows at most 200.
    pub batch_size: usize,
    /// Ids a WIQL query returns at most (Azure's cap is 20,000); a full answer means
    /// the window is split.
    pub wiql_limit: usize,
    /// Revisions per page of the revisions API.
    pub revisions_page: u32,
    /// Overrides the default state categories per state name.
    pub status_categories: BTreeMap<String, StatusCategory>,
    pub blocked_states: Vec<String>,
    pub blocked_tags: Vec<String>,
}

/// The Azure config file.
///
/// ```toml
/// tenant_id = "acme"
/// base_url = "https://dev.azure.com/fabrikam"
/// token_env = "AZURE_DEVOPS_PAT"
/// batch_size = 200                # ids per workitemsbatch (at most 200)
/// blocked_states = ["Blocked"]
/// blocked_tags = ["blocked"]
///
/// [status_categories]
/// "Ready for Test" = "in_progress"
///
/// [[projects]]
/// project = "Fabrikam"
/// team = "Fabrikam Team"
/// kind = "scrum"
/// ```
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AzureFile {
    tenant_id: String,
    base_url: String,
    token: Option<String>,
    token_env: Option<String>,
    overlap: Option<String>,
    mapping_version: Option<i64>,
    batch_size: Option<usize>,
    wiql_limit: Option<usize>,
    revisions_page: Option<u32>,
    #[serde(default)]
    status_categories: BTreeMap<String, StatusCategory>,
    #[serde(default)]
    blocked_states: Vec<String>,
    #[serde(default)]
    blocked_tags: Vec<String>,
    projects: Vec<AzureProjectFile>,
    http: Option<HttpFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AzureProjectFile {
    project: String,
    team: Option<String>,
    kind: Option<BoardKind>,
    blocked_sla_hours: Option<u32>,
}

impl AzureConfig {
    /// Reads and checks the config file at `path`, taking `token_env` from the
    /// process environment.
    pub fn load(path: &Path) -> Result<AzureConfig, ConfigError> {
        load_file(path, |origin, text, env| {
            AzureConfig::parse(origin, text, env)
        })
    }

    /// Checks config `text`; `origin` names it in errors and `env` looks up
    /// `token_env`.
    pub fn parse(
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AzureConfig, ConfigError> {
        let file: AzureFile = toml_file(origin, text)?;
        let invalid = |field, reason: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            field,
            reason,
        };
        let common = common(
            origin,
            CommonFields {
                tenant_id: file.tenant_id,
                base_url: file.base_url,
                token: file.token,
                token_env: file.token_env,
                overlap: file.overlap,
                mapping_version: file.mapping_version,
                http: file.http.unwrap_or_default(),
            },
            env,
        )?;
        let batch_size = file.batch_size.unwrap_or(200);
        if !(1..=200).contains(&batch_size) {
            return Err(invalid(
                "batch_size",
                format!("{batch_size} is outside 1 to 200, what azure devops allows"),
            ));
        }
        let wiql_limit = file.wiql_limit.unwrap_or(20_000);
        if !(1..=20_000).contains(&wiql_limit) {
            return Err(invalid(
                "wiql_limit",
                format!("{wiql_limit} is outside 1 to 20000, what azure devops allows"),
            ));
        }
        let revisions_page = file.revisions_page.unwrap_or(200);
        if revisions_page == 0 {
            return Err(invalid("revisions_page", "must be at least 1".into()));
        }
        if file.projects.is_empty() {
            return Err(invalid("projects", "list at least one project".into()));
        }
        let mut projects: Vec<AzureProject> = Vec::with_capacity(file.projects.len());
        for project in file.projects {
            if project.project.trim().is_empty() {
                return Err(invalid("projects.project", "must not be empty".into()));
            }
            if projects
                .iter()
                .any(|known| known.project == project.project)
            {
                return Err(invalid(
                    "projects",
                    format!("project {:?} is listed twice", project.project),
                ));
            }
            // Azure names a project's default team after the project.
            let team = project
                .team
                .unwrap_or_else(|| format!("{} Team", project.project));
            projects.push(AzureProject {
                project: project.project,
                team,
                kind: project.kind.unwrap_or(BoardKind::Scrum),
                blocked_sla_hours: project
                    .blocked_sla_hours
                    .unwrap_or(DEFAULT_BLOCKED_SLA_HOURS),
            });
        }
        Ok(AzureConfig {
            common,
            projects,
            batch_size,
            wiql_limit,
            revisions_page,
            status_categories: file.status_categories,
            blocked_states: file.blocked_states,
            blocked_tags: file.blocked_tags,
        })
    }

    pub fn project(&self, name: &str) -> Option<&AzureProject> {
        self.projects.iter().find(|project| project.project == name)
    }
}

/// The shared fields as a file spells them.
pub(crate) struct CommonFields {
    pub(crate) tenant_id: String,
    pub(crate) base_url: String,
    pub(crate) token: Option<String>,
    pub(crate) token_env: Option<String>,
    pub(crate) overlap: Option<String>,
    pub(crate) mapping_version: Option<i64>,
    pub(crate) http: HttpFile,
}

/// Reads the config file at `path` and checks it with `parse`, which looks
/// `token_env` up in the process environment.
pub(crate) fn load_file<T, E: From<ConfigError>>(
    path: &Path,
    parse: impl FnOnce(&str, &str, &dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> Result<T, E> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&path.display().to_string(), &text, &|name| {
        std::env::var(name).ok()
    })
}

/// The TOML of a config file, as its `*File` struct; `origin` names it in errors.
pub(crate) fn toml_file<F: serde::de::DeserializeOwned>(
    origin: &str,
    text: &str,
) -> Result<F, ConfigError> {
    toml::from_str(text).map_err(|source| ConfigError::Parse {
        origin: origin.to_owned(),
        source,
    })
}

pub(crate) fn common(
    origin: &str,
    fields: CommonFields,
    env: impl Fn(&str) -> Option<String>,
) -> Result<CommonConfig, ConfigError> {
    let invalid = |field, reason: String| ConfigError::Invalid {
        origin: origin.to_owned(),
        field,
        reason,
    };
    if fields.tenant_id.trim().is_empty() {
        return Err(invalid("tenant_id", "must not be empty".into()));
    }
    match reqwest::Url::parse(&fields.base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
        Ok(_) => {
            return Err(invalid(
                "base_url",
                format!("{:?} is not an http or https url", fields.base_url),
            ));
        }
        Err(e) => return Err(invalid("base_url", format!("{:?}: {e}", fields.base_url))),
    }
    let token = match (fields.token, fields.token_env) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "token",
                "set token or token_env, not both".to_owned(),
            ));
        }
        (Some(token), None) => Some(Secret(token)),
        (None, Some(name)) => match env(&name) {
            Some(token) if !token.is_empty() => Some(Secret(token)),
            _ => {
                return Err(invalid(
                    "token_env",
                    format!("environment variable {name} is not set"),
                ));
            }
        },
        (None, None) => None,
    };
    let duration = |field: &'static str, text: Option<String>, default: Duration| match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(&text).map_err(|e| {
            invalid(
                field,
                format!("{text:?}: {e}; hint: write e.g. \"30s\" or \"5m\""),
            )
        }),
    };
    let defaults = RetryPolicy::default();
    let http = RetryPolicy {
        timeout: duration("http.timeout", fields.http.timeout, defaults.timeout)?,
        max_attempts: fields.http.max_attempts.unwrap_or(defaults.max_attempts),
        backoff_initial: duration(
            "http.backoff_initial",
            fields.http.backoff_initial,
            defaults.backoff_initial,
        )?,
        backoff_max: duration(
            "http.backoff_max",
            fields.http.backoff_max,
            defaults.backoff_max,
        )?,
        max_rate_limit_wait: duration(
            "http.max_rate_limit_wait",
            fields.http.max_rate_limit_wait,
            defaults.max_rate_limit_wait,
        )?,
    };
    if http.max_attempts == 0 {
        return Err(invalid("http.max_attempts", "must be at least 1".into()));
    }
    if http.timeout.is_zero() {
        return Err(invalid("http.timeout", "must be more than 0".into()));
    }
    Ok(CommonConfig {
        tenant_id: fields.tenant_id,
        base_url: fields.base_url,
        token,
        overlap: duration("overlap", fields.overlap, DEFAULT_OVERLAP)?,
        mapping_version: fields.mapping_version.unwrap_or(1),
        http,
    })
}

/// One ClickUp space: a scope of the ClickUp connector and one canonical board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickUpSpace {
    pub id: String,
    /// The folder whose lists are this space's sprints; none for a kanban space.
    pub sprint_folder: Option<String>,
    pub kind: BoardKind,
    pub blocked_sla_hours: u32,
}

/// How a ClickUp team's fields and statuses mean canonical things.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClickUpMapping {
    /// A number custom field holding story points; ClickUp's own `points` when unset.
    pub story_points_field: Option<String>,
    /// A date custom field holding when work started: ClickUp keeps no status
    /// history in the task list, so without it `started_at` stays NULL.
    pub started_field: Option<String>,
    /// Overrides the category of ClickUp's status `type` per status name.
    pub status_categories: BTreeMap<String, StatusCategory>,
    pub blocked_statuses: Vec<String>,
    pub blocked_tags: Vec<String>,
}

/// The ClickUp v2 connector's config.
///
/// ```toml
/// tenant_id = "acme"
/// base_url = "https://api.clickup.com"
/// token_env = "CLICKUP_TOKEN"       # a personal token, sent as `Authorization: pk_…`
/// team_id = "9001"                  # the workspace
/// story_points_field = "…"          # a custom field id; ClickUp's `points` when unset
/// started_field = "…"               # a date custom field id for started_at
/// blocked_statuses = ["blocked"]
/// blocked_tags = ["blocked"]
///
/// [status_categories]
/// "ready to ship" = "done"
///
/// [[spaces]]
/// id = "801"
/// sprint_folder = "7001"            # lists in this folder are sprints
/// kind = "scrum"                    # scrum with a sprint folder, else kanban
/// blocked_sla_hours = 48
/// ```
#[derive(Clone, Debug)]
pub struct ClickUpConfig {
    pub common: CommonConfig,
    pub team_id: String,
    pub mapping: ClickUpMapping,
    pub spaces: Vec<ClickUpSpace>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickUpFile {
    tenant_id: String,
    base_url: Option<String>,
    token: Option<String>,
    token_env: Option<String>,
    team_id: String,
    overlap: Option<String>,
    mapping_version: Option<i64>,
    story_points_field: Option<String>,
    started_field: Option<String>,
    #[serde(default)]
    status_categories: BTreeMap<String, StatusCategory>,
    #[serde(default)]
    blocked_statuses: Vec<String>,
    #[serde(default)]
    blocked_tags: Vec<String>,
    spaces: Vec<ClickUpSpaceFile>,
    http: Option<HttpFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickUpSpaceFile {
    id: String,
    sprint_folder: Option<String>,
    kind: Option<BoardKind>,
    blocked_sla_hours: Option<u32>,
}

impl ClickUpConfig {
    /// Reads and checks the config file at `path`, taking `token_env` from the
    /// process environment.
    pub fn load(path: &Path) -> Result<ClickUpConfig, ConfigError> {
        load_file(path, |origin, text, env| {
            ClickUpConfig::parse(origin, text, env)
        })
    }

    /// Checks config `text`; `origin` names it in errors and `env` looks up
    /// `token_env`.
    pub fn parse(
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ClickUpConfig, ConfigError> {
        let file: ClickUpFile = toml_file(origin, text)?;
        let invalid = |field, reason: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            field,
            reason,
        };
        let common = common(
            origin,
            CommonFields {
                tenant_id: file.tenant_id,
                base_url: file
                    .base_url
                    .unwrap_or_else(|| "https://api.clickup.com".to_owned()),
                token: file.token,
                token_env: file.token_env,
                overlap: file.overlap,
                mapping_version: file.mapping_version,
                http: file.http.unwrap_or_default(),
            },
            env,
        )?;
        let id_like = |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !id_like(&file.team_id) {
            return Err(invalid(
                "team_id",
                format!("{:?} is not a clickup team id", file.team_id),
            ));
        }
        if file.spaces.is_empty() {
            return Err(invalid("spaces", "list at least one space".into()));
        }
        let mut spaces: Vec<ClickUpSpace> = Vec::with_capacity(file.spaces.len());
        for space in file.spaces {
            if !id_like(&space.id) {
                return Err(invalid(
                    "spaces.id",
                    format!("{:?} is not a clickup space id", space.id),
                ));
            }
            if spaces.iter().any(|known| known.id == space.id) {
                return Err(invalid(
                    "spaces",
                    format!("space {} is listed twice", space.id),
                ));
            }
            if let Some(folder) = space.sprint_folder.as_deref().filter(|f| !id_like(f)) {
                return Err(invalid(
                    "spaces.sprint_folder",
                    format!("{folder:?} is not a clickup folder id"),
                ));
            }
            let kind = space.kind.unwrap_or(match space.sprint_folder {
                Some(_) => BoardKind::Scrum,
                None => BoardKind::Kanban,
            });
            spaces.push(ClickUpSpace {
                id: space.id,
                sprint_folder: space.sprint_folder,
                kind,
                blocked_sla_hours: space.blocked_sla_hours.unwrap_or(DEFAULT_BLOCKED_SLA_HOURS),
            });
        }
        Ok(ClickUpConfig {
            common,
            team_id: file.team_id,
            mapping: ClickUpMapping {
                story_points_field: file.story_points_field,
                started_field: file.started_field,
                status_categories: file.status_categories,
                blocked_statuses: file.blocked_statuses,
                blocked_tags: file.blocked_tags,
            },
            spaces,
        })
    }

    pub fn space(&self, id: &str) -> Option<&ClickUpSpace> {
        self.spaces.iter().find(|space| space.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn error(text: &str) -> String {
        GitHubConfig::parse("github.toml", text, no_env)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_full_file_parses() {
        let text = r#"
            tenant_id = "acme"
            base_url = "https://ghe.example.com/api/v3"
            token_env = "GH_TOKEN"
            repositories = ["octo/web", "octo/api.v2"]
            overlap = "10m"
            per_page = 50
            pr_key_pattern = 'ENG-\d+'
            mapping_version = 3

            [http]
            timeout = "5s"
            max_attempts = 3
            backoff_initial = "100ms"
            backoff_max = "2s"
            max_rate_limit_wait = "1m"
        "#;
        let env = |name: &str| (name == "GH_TOKEN").then(|| "ghp_x".to_owned());
        let config = GitHubConfig::parse("github.toml", text, env).expect("valid");
        assert_eq!(
            config.common,
            CommonConfig {
                tenant_id: "acme".into(),
                base_url: "https://ghe.example.com/api/v3".into(),
                token: Some(Secret("ghp_x".into())),
                overlap: Duration::from_secs(600),
                mapping_version: 3,
                http: RetryPolicy {
                    timeout: Duration::from_secs(5),
                    max_attempts: 3,
                    backoff_initial: Duration::from_millis(100),
                    backoff_max: Duration::from_secs(2),
                    max_rate_limit_wait: Duration::from_secs(60),
                },
            }
        );
        let repos: Vec<String> = config
            .repositories
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(repos, ["octo/web", "octo/api.v2"]);
        assert_eq!(config.per_page, 50);
        assert_eq!(config.pr_key_pattern.as_str(), r"ENG-\d+");
        assert!(!format!("{config:?}").contains("ghp_x"));
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = GitHubConfig::parse(
            "github.toml",
            "tenant_id = \"acme\"\nrepositories = [\"o/r\"]\n",
            no_env,
        )
        .expect("valid");
        assert_eq!(config.common.base_url, "https://api.github.com");
        assert_eq!(config.common.token, None);
        assert_eq!(config.common.overlap, DEFAULT_OVERLAP);
        assert_eq!(config.common.mapping_version, 1);
        assert_eq!(config.common.http, RetryPolicy::default());
        assert_eq!(config.per_page, 100);
        assert_eq!(config.pr_key_pattern.as_str(), DEFAULT_PR_KEY_PATTERN);
    }

    #[test]
    fn mistakes_name_their_field() {
        let base = "tenant_id = \"acme\"\nrepositories = [\"o/r\"]\n";
        assert_eq!(
            error(&format!("{base}token = \"a\"\ntoken_env = \"B\"\n")),
            "invalid connector config github.toml: token: set token or token_env, not both"
        );
        assert_eq!(
            error(&format!("{base}token_env = \"NOT_SET\"\n")),
            "invalid connector config github.toml: token_env: environment variable NOT_SET is not set"
        );
        assert_eq!(
            error("tenant_id = \"acme\"\nrepositories = [\"just-a-name\"]\n"),
            "invalid connector config github.toml: repositories: \"just-a-name\" is not owner/name (letters, digits, '-', '_' or '.')"
        );
        assert_eq!(
            error("tenant_id = \"acme\"\nrepositories = [\"o/r\", \"o/r\"]\n"),
            "invalid connector config github.toml: repositories: o/r is listed twice"
        );
        assert_eq!(
            error("tenant_id = \"acme\"\nrepositories = []\n"),
            "invalid connector config github.toml: repositories: list at least one owner/name"
        );
        assert_eq!(
            error(&format!("{base}per_page = 500\n")),
            "invalid connector config github.toml: per_page: 500 is outside 1 to 100, what GitHub allows"
        );
        assert_eq!(
            error(&format!("{base}base_url = \"ftp://x\"\n")),
            "invalid connector config github.toml: base_url: \"ftp://x\" is not an http or https url"
        );
        assert!(
            error(&format!("{base}overlap = \"soon\"\n"))
                .starts_with("invalid connector config github.toml: overlap: \"soon\": ")
        );
        assert!(
            error(&format!("{base}pr_key_pattern = \"[\"\n"))
                .starts_with("invalid connector config github.toml: pr_key_pattern: ")
        );
        assert_eq!(
            error(&format!("{base}[http]\nmax_attempts = 0\n")),
            "invalid connector config github.toml: http.max_attempts: must be at least 1"
        );
        // Unknown fields (a typo) and missing ones are parse errors with a position.
        let typo = error(&format!("{base}repositores = []\n"));
        assert!(typo.contains("unknown field `repositores`"), "{typo}");
        let missing = error("repositories = [\"o/r\"]\n");
        assert!(missing.contains("missing field `tenant_id`"), "{missing}");
    }

    fn jira(text: &str) -> Result<JiraConfig, ConfigError> {
        JiraConfig::parse("jira.toml", text, no_env)
    }

    const JIRA_BASE: &str = "tenant_id = \"acme\"\nbase_url = \"https://acme.atlassian.net\"\n";

    #[test]
    fn a_jira_file_parses_with_its_mapping_and_boards() {
        let text = format!(
            r#"{JIRA_BASE}email = "bot@acme.com"
            token = "t"
            time_zone = "-05:00"
            max_results = 100
            story_points_field = "customfield_10028"
            blocked_statuses = ["Blocked", "On Hold"]
            blocked_labels = ["blocked"]
            mapping_version = 4

            [status_categories]
            "Ready for Release" = "done"
            "Triage" = "todo"

            [[boards]]
            id = 10
            project = "WEB"
            kind = "scrum"

            [[boards]]
            id = 20
            project = "OPS"
            blocked_sla_hours = 24
            "#
        );
        let config = jira(&text).expect("valid");
        assert_eq!(config.email.as_deref(), Some("bot@acme.com"));
        assert_eq!(config.time_zone.local_minus_utc(), -5 * 3600);
        assert_eq!(config.max_results, 100);
        assert_eq!(config.common.mapping_version, 4);
        assert_eq!(
            config.mapping,
            JiraMapping {
                story_points_field: "customfield_10028".into(),
                sprint_field: "customfield_10020".into(),
                flagged_field: "customfield_10021".into(),
                status_categories: BTreeMap::from([
                    ("Ready for Release".to_owned(), StatusCategory::Done),
                    ("Triage".to_owned(), StatusCategory::Todo),
                ]),
                blocked_statuses: vec!["Blocked".into(), "On Hold".into()],
                blocked_labels: vec!["blocked".into()],
            }
        );
        assert_eq!(
            config.boards,
            [
                JiraBoard {
                    id: 10,
                    project: "WEB".into(),
                    kind: Some(BoardKind::Scrum),
                    blocked_sla_hours: DEFAULT_BLOCKED_SLA_HOURS,
                },
                JiraBoard {
                    id: 20,
                    project: "OPS".into(),
                    kind: None,
                    blocked_sla_hours: 24,
                },
            ]
        );
        assert_eq!(config.board(20).map(|b| b.project.as_str()), Some("OPS"));
        assert_eq!(config.board(30), None);
        let defaults =
            jira(&format!("{JIRA_BASE}[[boards]]\nid = 1\nproject = \"X\"\n")).expect("valid");
        assert_eq!(defaults.time_zone.local_minus_utc(), 0);
        assert_eq!(defaults.max_results, 50);
        assert!(defaults.mapping.status_categories.is_empty());
    }

    #[test]
    fn jira_mistakes_name_their_field() {
        let error = |text: String| jira(&text).expect_err("refused").to_string();
        let board = "[[boards]]\nid = 1\nproject = \"X\"\n";
        assert_eq!(
            error(format!("{JIRA_BASE}boards = []\n")),
            "invalid connector config jira.toml: boards: list at least one board"
        );
        assert_eq!(
            error(format!("{JIRA_BASE}{board}{board}")),
            "invalid connector config jira.toml: boards: board 1 is listed twice"
        );
        assert_eq!(
            error(format!(
                "{JIRA_BASE}[[boards]]\nid = 1\nproject = \"X Y\"\n"
            )),
            "invalid connector config jira.toml: boards.project: \"X Y\" is not a jira project key"
        );
        assert_eq!(
            error(format!("{JIRA_BASE}max_results = 0\n{board}")),
            "invalid connector config jira.toml: max_results: 0 is outside 1 to 100, what jira allows"
        );
        assert!(
            error(format!("{JIRA_BASE}time_zone = \"Europe/Berlin\"\n{board}"))
                .starts_with("invalid connector config jira.toml: time_zone: \"Europe/Berlin\": "),
        );
        let category = error(format!(
            "{JIRA_BASE}{board}[status_categories]\nBlocked = \"stuck\"\n"
        ));
        assert!(category.contains("unknown variant `stuck`"), "{category}");
    }

    #[test]
    fn repo_names_follow_github() {
        assert_eq!(
            "octo-org/my_repo.js".parse::<Repo>(),
            Ok(Repo {
                owner: "octo-org".into(),
                name: "my_repo.js".into()
            })
        );
        for bad in ["", "o", "o/", "/r", "o/r/x", "o/..", "o r/x", "o/r?x"] {
            assert!(bad.parse::<Repo>().is_err(), "{bad}");
        }
    }
}
