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
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.to_owned(),
            http_listen: DEFAULT_HTTP_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            workers: default_workers(),
            kafka: None,
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
}

impl ConfigLayer {
    /// Reads a TOML configuration file.
    pub fn load(path: &Path) -> Result<ConfigLayer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
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
        Ok(Config {
            listen: self.listen.unwrap_or(defaults.listen),
            http_listen: self.http_listen.unwrap_or(defaults.http_listen),
            data_dir: self.data_dir.unwrap_or(defaults.data_dir),
            workers,
            kafka,
        })
    }
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
            }
        );
    }

    #[test]
    fn empty_layers_resolve_to_the_defaults() {
        let config = ConfigLayer::default().resolve().unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.http_listen, "127.0.0.1:6876");
        assert_eq!(config.kafka, None, "the change log is embedded by default");
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
