//! How a server is configured: built-in defaults, then a TOML file, then command-line
//! flags, each layer overriding the one before.
//!
//! The file uses the flag names with underscores:
//!
//! ```toml
//! listen = "127.0.0.1:6875"
//! http_listen = "127.0.0.1:6876"
//! data_dir = "./vigil-data"
//! workers = 4
//! kafka = "broker-1:9092,broker-2:9092"  # left out: the embedded change log
//! clock = "manual"                       # "wall" (the default) or "manual"
//! clock_start = "2026-01-05 09:00:00+00" # where a manual clock starts on a new data directory
//! webhook_timeout = "10s"                # per attempt of a webhook sink's delivery
//! webhook_attempts = 10                  # attempts before a change goes to vigil_sink_errors
//! builtin_views = true                   # install the domain's sources and views (vigil_views)
//!
//! [[connectors]]                         # a connector the server runs (any number)
//! id = "jira-acme"                       # names it in /api/v1/admin/connectors [default: the source]
//! source = "jira"                        # github | jira | azure | clickup
//! config = "connectors/jira.toml"        # its config file, relative to this file
//! every = "5m"                           # left out: only when POST …/{id}/run asks
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vigil_connectors::SourceKind;
use vigil_engine::repr::{Datum, ScalarType};
use vigil_sql::ClockMode;

/// Where the PostgreSQL wire protocol listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6875";

/// Where the HTTP API listens unless told otherwise.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:6876";

/// Where the catalog and table contents live unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "./vigil-data";

/// The embedded change log's directory inside the data directory. `vigil publish`
/// writes there when no server runs, so both must agree on it.
pub const CHANGELOG_DIR: &str = "changelog";

/// Where the embedded change log of the data directory `data_dir` lives.
pub fn changelog_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(CHANGELOG_DIR)
}

/// A complete server configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Address for PostgreSQL clients, `host:port`. A host name is resolved when the
    /// server binds; port 0 picks a free port (see [`crate::Server::local_addr`]).
    pub listen: String,
    /// Address for the HTTP API, `host:port`; port 0 picks a free port (see
    /// [`crate::Server::http_addr`]).
    pub http_listen: String,
    /// The data directory: catalog, table contents and the embedded change log.
    pub data_dir: PathBuf,
    /// Timely worker threads.
    pub workers: usize,
    /// Kafka bootstrap brokers, `host:port[,host:port…]`, for the change log; `None`
    /// keeps the change log embedded in the data directory.
    pub kafka: Option<String>,
    /// What moves the engine's timeline and `now()`.
    pub clock: ClockMode,
    /// How long one attempt of a webhook delivery may take.
    pub webhook_timeout: Duration,
    /// Attempts of a webhook delivery before the change is given up on.
    pub webhook_attempts: u32,
    /// Whether starting installs the built-in sources and views (`vigil_views`)
    /// that the data directory lacks. Tests that need an empty catalog turn it off.
    pub builtin_views: bool,
    /// The connectors the server runs, by schedule and on request.
    pub connectors: Vec<ConnectorSpec>,
}

/// A connector the server runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorSpec {
    /// Unique among the server's connectors; the `{id}` of its admin routes.
    pub id: String,
    pub source: SourceKind,
    /// The connector's own config file (see `vigil_connectors::config`).
    pub config: PathBuf,
    /// How often it runs by itself; `None`: only when asked.
    pub every: Option<Duration>,
}

/// A `[[connectors]]` entry of the file, or a `--connector SOURCE=FILE` flag.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorEntry {
    pub id: Option<String>,
    pub source: String,
    pub config: PathBuf,
    pub every: Option<String>,
}

impl ConnectorEntry {
    /// Parses the flag form `SOURCE=FILE` (the id is the source's name).
    pub fn from_flag(text: &str) -> Result<ConnectorEntry, String> {
        match text.split_once('=') {
            Some((source, config)) if !source.is_empty() && !config.is_empty() => {
                Ok(ConnectorEntry {
                    id: None,
                    source: source.to_owned(),
                    config: PathBuf::from(config),
                    every: None,
                })
            }
            _ => Err(format!(
                "expected SOURCE=FILE, such as jira=jira.toml, not {text:?}"
            )),
        }
    }

    fn resolve(self) -> Result<ConnectorSpec, ConfigError> {
        let source: SourceKind =
            self.source
                .parse()
                .map_err(|error: vigil_connectors::registry::UnknownSource| {
                    ConfigError::Connector(error.to_string())
                })?;
        let every = self
            .every
            .map(|text| parse_duration("every", text))
            .transpose()?;
        Ok(ConnectorSpec {
            id: self.id.unwrap_or_else(|| source.as_str().to_owned()),
            source,
            config: self.config,
            every,
        })
    }
}

/// How long one webhook delivery attempt may take unless told otherwise.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of a webhook delivery unless told otherwise.
pub const DEFAULT_WEBHOOK_ATTEMPTS: u32 = 10;

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.to_owned(),
            http_listen: DEFAULT_HTTP_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            workers: default_workers(),
            kafka: None,
            clock: ClockMode::Wall,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            webhook_attempts: DEFAULT_WEBHOOK_ATTEMPTS,
            builtin_views: true,
            connectors: Vec::new(),
        }
    }
}

/// One worker per core: timely workers are threads that each own a share of the data.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A partial configuration, as read from a file or given by flags: a key left out
/// keeps the value of the layer below.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    pub listen: Option<String>,
    pub http_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub workers: Option<usize>,
    pub kafka: Option<String>,
    pub clock: Option<String>,
    pub clock_start: Option<String>,
    pub webhook_timeout: Option<String>,
    pub webhook_attempts: Option<u32>,
    pub builtin_views: Option<bool>,
    /// Unlike the other keys, a layer's connectors add to those of the layer below.
    pub connectors: Option<Vec<ConnectorEntry>>,
}

impl ConfigLayer {
    /// Reads a TOML configuration file.
    pub fn load(path: &Path) -> Result<ConfigLayer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut layer = Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        // A connector's config file is named relative to the file that names it.
        let base = path.parent().unwrap_or(Path::new(""));
        for entry in layer.connectors.iter_mut().flatten() {
            entry.config = base.join(&entry.config);
        }
        Ok(layer)
    }

    /// Parses the TOML text of a configuration file.
    pub fn parse(text: &str) -> Result<ConfigLayer, toml::de::Error> {
        toml::from_str(text)
    }

    /// `self` with every key that `overrides` sets replaced by the override.
    pub fn overridden_by(self, overrides: ConfigLayer) -> ConfigLayer {
        ConfigLayer {
            listen: overrides.listen.or(self.listen),
            http_listen: overrides.http_listen.or(self.http_listen),
            data_dir: overrides.data_dir.or(self.data_dir),
            workers: overrides.workers.or(self.workers),
            kafka: overrides.kafka.or(self.kafka),
            clock: overrides.clock.or(self.clock),
            clock_start: overrides.clock_start.or(self.clock_start),
            webhook_timeout: overrides.webhook_timeout.or(self.webhook_timeout),
            webhook_attempts: overrides.webhook_attempts.or(self.webhook_attempts),
            builtin_views: overrides.builtin_views.or(self.builtin_views),
            connectors: match (self.connectors, overrides.connectors) {
                (Some(mut below), Some(above)) => {
                    below.extend(above);
                    Some(below)
                }
                (below, above) => above.or(below),
            },
        }
    }

    /// The complete configuration: this layer over the defaults.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let workers = self.workers.unwrap_or(defaults.workers);
        if workers == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        // An empty broker list would fail later with a vaguer librdkafka message.
        let kafka = match self.kafka {
            Some(brokers) if brokers.trim().is_empty() => return Err(ConfigError::EmptyKafka),
            kafka => kafka,
        };
        let start = self
            .clock_start
            .as_deref()
            .map(parse_clock_start)
            .transpose()?;
        let clock = match self
            .clock
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("wall") if start.is_some() => return Err(ConfigError::StartWithoutManual),
            None | Some("wall") => ClockMode::Wall,
            Some("manual") => ClockMode::Manual { start },
            Some(other) => return Err(ConfigError::Clock(other.to_owned())),
        };
        let webhook_timeout = match self.webhook_timeout {
            Some(text) => parse_duration("webhook_timeout", text)?,
            None => defaults.webhook_timeout,
        };
        let webhook_attempts = match self.webhook_attempts {
            Some(0) => return Err(ConfigError::ZeroAttempts),
            Some(n) => n,
            None => defaults.webhook_attempts,
        };
        Ok(Config {
            listen: self.listen.unwrap_or(defaults.listen),
            http_listen: self.http_listen.unwrap_or(defaults.http_listen),
            data_dir: self.data_dir.unwrap_or(defaults.data_dir),
            workers,
            kafka,
            clock,
            webhook_timeout,
            webhook_attempts,
            builtin_views: self.builtin_views.unwrap_or(defaults.builtin_views),
            connectors: resolve_connectors(self.connectors.unwrap_or_default())?,
        })
    }
}

/// The connector entries, checked, with unique ids.
fn resolve_connectors(entries: Vec<ConnectorEntry>) -> Result<Vec<ConnectorSpec>, ConfigError> {
    let mut specs: Vec<ConnectorSpec> = Vec::with_capacity(entries.len());
    for entry in entries {
        let spec = entry.resolve()?;
        if specs.iter().any(|other| other.id == spec.id) {
            return Err(ConfigError::Connector(format!(
                "two connectors are called \"{}\": give each an id",
                spec.id
            )));
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// A positive duration such as `10s` or `5m`.
fn parse_duration(key: &'static str, text: String) -> Result<Duration, ConfigError> {
    humantime::parse_duration(&text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or(ConfigError::Duration { key, value: text })
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("workers must be at least 1")]
    ZeroWorkers,
    #[error("kafka needs at least one broker, as host:port[,host:port]")]
    EmptyKafka,
    #[error("unknown clock \"{0}\": use wall or manual")]
    Clock(String),
    #[error("clock_start needs clock = \"manual\": the wall clock starts where it is")]
    StartWithoutManual,
    #[error("invalid clock_start \"{0}\": expected a timestamp such as 2026-01-05 09:00:00+00")]
    ClockStart(String),
    #[error("invalid {key} \"{value}\": expected a duration such as 10s or 500ms")]
    Duration { key: &'static str, value: String },
    #[error("webhook_attempts must be at least 1")]
    ZeroAttempts,
    #[error("invalid connector: {0}")]
    Connector(String),
}

/// A manual clock's start, as milliseconds since the Unix epoch.
fn parse_clock_start(text: &str) -> Result<u64, ConfigError> {
    match vigil_engine::repr::text::parse_datum(text, ScalarType::TimestampTz) {
        Ok(Datum::TimestampTz(micros)) => {
            u64::try_from(micros.div_euclid(1000)).map_err(|_| ConfigError::ClockStart(text.into()))
        }
        _ => Err(ConfigError::ClockStart(text.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let file = ConfigLayer::parse(
            "listen = \"0.0.0.0:7000\"\nworkers = 3\nhttp_listen = \"0.0.0.0:7001\"\n\
             kafka = \"k1:9092\"\n",
        )
        .unwrap();
        let flags = ConfigLayer {
            workers: Some(8),
            kafka: Some("k2:9092,k3:9092".into()),
            ..ConfigLayer::default()
        };
        let config = file.overridden_by(flags).resolve().unwrap();
        assert_eq!(
            config,
            Config {
                listen: "0.0.0.0:7000".into(),
                http_listen: "0.0.0.0:7001".into(),
                data_dir: PathBuf::from(DEFAULT_DATA_DIR),
                workers: 8,
                kafka: Some("k2:9092,k3:9092".into()),
                ..Config::default()
            }
        );
    }

    #[test]
    fn clocks_and_webhook_settings() {
        let config = ConfigLayer::parse(
            "clock = \"manual\"\nclock_start = \"2026-01-05 09:00:00+00\"\n\
             webhook_timeout = \"250ms\"\nwebhook_attempts = 3\n",
        )
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(
            config.clock,
            ClockMode::Manual {
                start: Some(1_767_603_600_000)
            }
        );
        assert_eq!(config.webhook_timeout, Duration::from_millis(250));
        assert_eq!(config.webhook_attempts, 3);
        for (text, expected) in [
            ("clock = \"sundial\"", "unknown clock"),
            ("clock_start = \"2026-01-05 09:00:00+00\"", "needs clock"),
            (
                "clock = \"manual\"\nclock_start = \"soon\"",
                "invalid clock_start",
            ),
            ("webhook_timeout = \"fast\"", "invalid webhook_timeout"),
            ("webhook_attempts = 0", "at least 1"),
        ] {
            let err = ConfigLayer::parse(text).unwrap().resolve().unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn empty_layers_resolve_to_the_defaults() {
        let config = ConfigLayer::default().resolve().unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.http_listen, "127.0.0.1:6876");
        assert_eq!(config.kafka, None, "the change log is embedded by default");
    }

    #[test]
    fn builtin_views_are_installed_unless_turned_off() {
        assert!(Config::default().builtin_views);
        let config = ConfigLayer::parse("builtin_views = false")
            .unwrap()
            .resolve()
            .unwrap();
        assert!(!config.builtin_views);
    }

    #[test]
    fn connectors_come_from_the_file_and_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(
            &path,
            "[[connectors]]\nid = \"jira-acme\"\nsource = \"jira\"\n\
             config = \"jira.toml\"\nevery = \"5m\"\n",
        )
        .unwrap();
        let flags = ConfigLayer {
            connectors: Some(vec![
                ConnectorEntry::from_flag("github=/etc/gh.toml").unwrap(),
            ]),
            ..ConfigLayer::default()
        };
        let config = ConfigLayer::load(&path)
            .unwrap()
            .overridden_by(flags)
            .resolve()
            .unwrap();
        assert_eq!(
            config.connectors,
            [
                ConnectorSpec {
                    id: "jira-acme".into(),
                    source: SourceKind::Jira,
                    config: dir.path().join("jira.toml"),
                    every: Some(Duration::from_secs(300)),
                },
                ConnectorSpec {
                    id: "github".into(),
                    source: SourceKind::GitHub,
                    config: PathBuf::from("/etc/gh.toml"),
                    every: None,
                },
            ]
        );
        for (text, expected) in [
            (
                "[[connectors]]\nsource = \"gitlab\"\nconfig = \"x\"",
                "unknown source",
            ),
            (
                "[[connectors]]\nsource = \"jira\"\nconfig = \"x\"\nevery = \"often\"",
                "invalid every",
            ),
            (
                "[[connectors]]\nsource = \"jira\"\nconfig = \"a\"\n\
                 [[connectors]]\nsource = \"jira\"\nconfig = \"b\"",
                "two connectors are called \"jira\"",
            ),
        ] {
            let err = ConfigLayer::parse(text).unwrap().resolve().unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        assert!(ConnectorEntry::from_flag("jira").is_err());
    }

    #[test]
    fn an_empty_broker_list_is_an_error() {
        let layer = ConfigLayer::parse("kafka = \" \"").unwrap();
        assert!(matches!(layer.resolve(), Err(ConfigError::EmptyKafka)));
    }

    #[test]
    fn the_embedded_log_lives_in_the_data_directory() {
        assert_eq!(
            changelog_dir(Path::new("/srv/vigil")),
            PathBuf::from("/srv/vigil/changelog")
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        // A misspelt key silently ignored would leave the user debugging the wrong thing.
        let err = ConfigLayer::parse("listen_addr = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn zero_workers_is_an_error() {
        let layer = ConfigLayer {
            workers: Some(0),
            ..ConfigLayer::default()
        };
        assert!(matches!(layer.resolve(), Err(ConfigError::ZeroWorkers)));
    }
}
