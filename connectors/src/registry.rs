//! Connectors by name: what `vigil connect <source>` and the server's configured
//! connectors go through to turn a source name and a config file into a runnable
//! connector and its scopes.
//!
//! ```text
//!  "jira" + jira.toml ──parse──▶ Configured { connector, scopes: ["10", "20"] }
//!                                   └─ run_all(log): run_once per scope, in order
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use vigil_changelog::ChangeLog;

use crate::config::{AzureConfig, ClickUpConfig, ConfigError, GitHubConfig, JiraConfig, load_file};
use crate::http::HttpError;
use crate::run::{Connector, RunReport, run_once};
use crate::{
    AzureConnector, ClickUpConnector, GitHubConnector, JiraConnector, OneRosterConfig,
    OneRosterConnector, PowerSchoolConfig, PowerSchoolConnector,
};

/// A source system Vigil has a connector for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    GitHub,
    Jira,
    Azure,
    ClickUp,
    PowerSchool,
    OneRoster,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::GitHub,
        SourceKind::Jira,
        SourceKind::Azure,
        SourceKind::ClickUp,
        SourceKind::PowerSchool,
        SourceKind::OneRoster,
    ];

    /// The name on the command line and in configs; also the connector's own
    /// [`Connector::name`].
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::GitHub => "github",
            SourceKind::Jira => "jira",
            SourceKind::Azure => "azure",
            SourceKind::ClickUp => "clickup",
            SourceKind::PowerSchool => "powerschool",
            SourceKind::OneRoster => "oneroster",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source name that no connector has.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown source {0:?}: expected one of github, jira, azure, clickup, powerschool, oneroster"
)]
pub struct UnknownSource(pub String);

impl FromStr for SourceKind {
    type Err = UnknownSource;

    fn from_str(name: &str) -> Result<SourceKind, UnknownSource> {
        SourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownSource(name.to_owned()))
    }
}

/// Why a connector could not be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the {source_kind} connector's HTTP client: {error}")]
    Client {
        source_kind: SourceKind,
        #[source]
        error: HttpError,
    },
}

/// A connector built from a checked config, with the scopes (repositories, boards,
/// projects, spaces) that config names.
pub struct Configured {
    pub kind: SourceKind,
    pub connector: Box<dyn Connector>,
    pub scopes: Vec<String>,
}

impl fmt::Debug for Configured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Configured")
            .field("kind", &self.kind)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Configured {
    /// Reads and checks the config file at `path`, tokens from the process
    /// environment where the file says `token_env`.
    pub fn load(kind: SourceKind, path: &Path) -> Result<Configured, LoadError> {
        load_file(path, |origin, text, env| {
            Configured::parse(kind, origin, text, env)
        })
    }

    /// Checks config `text` (`origin` names it in errors; `env` looks up
    /// `token_env`) and builds the connector.
    pub fn parse(
        kind: SourceKind,
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Configured, LoadError> {
        let client = |error| LoadError::Client {
            source_kind: kind,
            error,
        };
        let (connector, scopes): (Box<dyn Connector>, _) = match kind {
            SourceKind::GitHub => {
                let connector = GitHubConnector::new(GitHubConfig::parse(origin, text, env)?)
                    .map_err(client)?;
                let scopes = connector.scopes();
                (Box::new(connector), scopes)
            }
            SourceKind::Jira => {
                let connector =
                    JiraConnector::new(JiraConfig::parse(origin, text, env)?).map_err(client)?;
                let scopes = connector.scopes();
                (Box::new(connector), scopes)
            }
            SourceKind::Azure => {
                let connector =
                    AzureConnector::new(AzureConfig::parse(origin, text, env)?).map_err(client)?;
                let scopes = connector.scopes();
                (Box::new(connector), scopes)
            }
            SourceKind::ClickUp => {
                let connector = ClickUpConnector::new(ClickUpConfig::parse(origin, text, env)?)
                    .map_err(client)?;
                let scopes = connector.scopes();
                (Box::new(connector), scopes)
            }
            SourceKind::PowerSchool => {
                let connector =
                    PowerSchoolConnector::new(PowerSchoolConfig::parse(origin, text, env)?)
                        .map_err(client)?;
                let scopes = connector.scopes();
                (Box::new(connector), scopes)
            }
            SourceKind::OneRoster => {
                let connector = OneRosterConnector::new(OneRosterConfig::parse(origin, text, env)?)
                    .map_err(client)?;
                let scopes = connector.scopes();
                (Box::new(connector), scopes)
            }
        };
        Ok(Configured {
            kind,
            connector,
            scopes,
        })
    }

    /// Runs every scope once, one after another, and reports each run. A failed
    /// scope does not stop the others: each has its own cursor.
    pub async fn run_all(&self, log: &dyn ChangeLog) -> Vec<RunReport> {
        let mut reports = Vec::with_capacity(self.scopes.len());
        for scope in &self.scopes {
            reports.push(run_once(self.connector.as_ref(), scope, log).await);
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_round_trip() {
        for kind in SourceKind::ALL {
            assert_eq!(kind.as_str().parse::<SourceKind>(), Ok(kind));
        }
        assert_eq!(
            "gitlab".parse::<SourceKind>(),
            Err(UnknownSource("gitlab".to_owned()))
        );
    }

    #[test]
    fn builds_a_connector_with_the_scopes_of_its_config() {
        let text = "tenant_id = \"acme\"\nbase_url = \"http://127.0.0.1:9\"\n\
                    token = \"t\"\nrepositories = [\"octo/web\", \"octo/api\"]\n";
        let configured = Configured::parse(SourceKind::GitHub, "test", text, |_| None).unwrap();
        assert_eq!(configured.kind, SourceKind::GitHub);
        assert_eq!(configured.connector.name(), "github");
        assert_eq!(configured.scopes, ["octo/web", "octo/api"]);
    }

    #[test]
    fn a_bad_config_names_its_origin() {
        let error = Configured::parse(SourceKind::Jira, "jira.toml", "tenant_id = 1", |_| None)
            .unwrap_err();
        assert!(error.to_string().contains("jira.toml"), "{error}");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let error =
            Configured::load(SourceKind::Azure, Path::new("/nonexistent/azure.toml")).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/azure.toml"),
            "{error}"
        );
    }
}
