//! The Vigil server: the process that PostgreSQL clients (psql, Metabase, Grafana,
//! drivers) and HTTP clients connect to, built as a library so tests can start servers
//! in-process.
//!
//! ```text
//!  Config (defaults ◂ vigil.toml ◂ flags)
//!     │
//!     ▼
//!  Server::bind ── binds the pgwire and HTTP listeners,
//!     │            opens the change log (embedded in the data directory, or Kafka),
//!     │            opens the Coordinator (catalog, storage, dataflow workers) over it,
//!     │            installs the built-in sources and views (vigil_views) if missing
//!     ▼
//!  Server::run ─┬─ pgwire accept loop: one task per connection, one Session per task
//!               │    socket ▸ pgwire::Endpoint ▸ vigil_sql::Session ▸ engine
//!               ├─ HTTP (axum): POST JSON lines ▸ ChangeLog::publish ▸ sources ▸ views
//!               ├─ connectors (scheduled, or on request) ▸ ChangeLog::publish
//!               ├─ sinks ▸ webhooks, topics
//!               ├─ exceptions auto-close ◂ SUBSCRIBE crdc_rule_results
//!               └─ daily readiness snapshots (crdc)
//! ```
//!
//! Main types:
//! - [`Config`] (and [`config::ConfigLayer`] for the file and flag layers): where to
//!   listen, the data directory, the worker count, the Kafka brokers if any, the
//!   connectors to run;
//! - [`Server`]: a bound, not yet running server; [`Server::local_addr`] and
//!   [`Server::http_addr`] tell a test which ports `127.0.0.1:0` picked,
//!   [`Server::run`] serves both endpoints until a shutdown future resolves;
//! - [`pgwire`]: the PostgreSQL wire protocol endpoint, from startup parameters to
//!   COPY;
//! - [`http`]: the HTTP API ([`http::app`] is its router) and, in
//!   [`http::publish`], the client that `vigil publish` uses;
//! - [`connectors`]: the source connectors the server runs on a schedule and on
//!   `POST /api/v1/admin/connectors/{id}/run` (with the embedded log the server holds
//!   the change log, so it runs them itself);
//! - [`exceptions`]: the triage of CRDC rule results, and the task that closes an
//!   exception when its data is fixed;
//! - [`crdc`]: the daily readiness snapshots and the rule pack swap;
//! - [`demo`]: what `vigil demo` adds: the fixture API and a connector per source.
//!
//! The server and its sources share one change log: what `vigil publish`, the HTTP
//! API or a connector publishes to a topic is what a `CREATE SOURCE` over that topic
//! reads. The binary (`vigil serve`, `vigil demo`, `vigil connect`, `vigil publish`)
//! only parses the command line, sets up logging and signal handling, and calls into
//! this library. The same [`Server`] runs the [`sinks`] (webhooks and topics fed by
//! views' changes); Arrow Flight SQL will be an endpoint beside [`pgwire`] and
//! [`http`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), vigil_server::ServerError> {
//! let config = vigil_server::Config {
//!     listen: "127.0.0.1:0".into(),
//!     http_listen: "127.0.0.1:0".into(),
//!     ..Default::default()
//! };
//! let server = vigil_server::Server::bind(&config).await?;
//! println!("connect to {}, HTTP on {}", server.local_addr(), server.http_addr());
//! server.run(std::future::pending()).await
//! # }
//! ```

pub mod config;
pub mod connectors;
pub mod crdc;
pub mod demo;
pub mod exceptions;
pub mod http;
pub mod pgwire;
pub mod sinks;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;
use vigil_changelog::{ChangeLog, EmbeddedLog, KafkaLog, LogError};
use vigil_sql::{Coordinator, SqlError};

use crate::connectors::Connectors;

pub use config::{Config, ConfigError};

/// How long a shutdown waits for open connections to finish before closing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {listen}")]
    Listen {
        listen: String,
        source: std::io::Error,
    },
    #[error("cannot open the data directory {}", data_dir.display())]
    Open { data_dir: PathBuf, source: SqlError },
    #[error("cannot open the embedded change log in {}", dir.display())]
    ChangeLog { dir: PathBuf, source: LogError },
    #[error("cannot connect to the kafka brokers {brokers}")]
    Kafka { brokers: String, source: LogError },
    #[error("cannot install the built-in sources and views")]
    BuiltinViews { source: vigil_views::InstallError },
    #[error(transparent)]
    Connector(#[from] crate::connectors::ConnectorLoadError),
    #[error("the server was shut down while starting")]
    Interrupted,
}

/// A server whose data directory is open and whose listeners are bound, ready to run.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    http_listener: TcpListener,
    http_addr: SocketAddr,
    log: Arc<dyn ChangeLog>,
    coordinator: Coordinator,
    connectors: Arc<Connectors>,
    /// Whether the built-in views are installed, and so the CRDC snapshots kept.
    builtin_views: bool,
    /// How webhook sinks retry.
    webhook_policy: crate::sinks::webhook::RetryPolicy,
    endpoint: crate::pgwire::Endpoint,
    shutdown_grace: Duration,
}

impl Server {
    /// Binds the pgwire and HTTP listeners, then opens the change log and the data
    /// directory and starts the engine. Binding first means a port conflict fails
    /// before any data is replayed.
    pub async fn bind(config: &Config) -> Result<Server, ServerError> {
        let (listener, local_addr) = listen(&config.listen).await?;
        let (http_listener, http_addr) = listen(&config.http_listen).await?;
        let log = open_log(config).await?;
        // Before the data directory is replayed, so a bad connector config fails fast.
        let connectors = Arc::new(Connectors::load(&config.connectors, Arc::clone(&log))?);
        let sql_config = vigil_sql::Config {
            log: Some(Arc::clone(&log)),
            clock: config.clock,
            data_dir: config.data_dir.clone(),
            workers: config.workers,
        };
        // Opening replays the catalog from disk: blocking work, kept off the runtime.
        let coordinator = blocking(move || Coordinator::open(sql_config))
            .await?
            .map_err(|source| ServerError::Open {
                data_dir: config.data_dir.clone(),
                source,
            })?;
        coordinator.set_sink_check(crate::sinks::runtime::sink_check());
        if config.builtin_views {
            // Idempotent: on a data directory that has them, nothing is created.
            let installed = vigil_views::install(&coordinator)
                .await
                .map_err(|source| ServerError::BuiltinViews { source })?;
            tracing::info!(
                created = installed.created.len(),
                present = installed.present.len(),
                "built-in sources and views"
            );
        }
        let webhook_policy = crate::sinks::webhook::RetryPolicy {
            timeout: config.webhook_timeout,
            max_attempts: config.webhook_attempts,
            ..Default::default()
        };
        Ok(Server {
            listener,
            local_addr,
            http_listener,
            http_addr,
            log,
            coordinator,
            connectors,
            builtin_views: config.builtin_views,
            webhook_policy,
            endpoint: crate::pgwire::Endpoint::new(),
            shutdown_grace: SHUTDOWN_GRACE,
        })
    }

    /// The address PostgreSQL clients connect to (with the real port if the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the HTTP API (with the real port if the configuration asked for
    /// port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The server's coordinator, for queries from the same process.
    pub fn coordinator(&self) -> Coordinator {
        self.coordinator.clone()
    }

    /// The connectors the server runs, to run one now.
    pub fn connectors(&self) -> Arc<Connectors> {
        Arc::clone(&self.connectors)
    }

    /// Where the change log lives, for the startup message.
    pub fn log_description(&self) -> String {
        self.log.describe()
    }

    /// How long [`Server::run`] lets open connections finish after shutdown begins
    /// (default [`SHUTDOWN_GRACE`]).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serves clients until `shutdown` resolves, then stops accepting, lets open
    /// connections and requests finish for the grace period, and closes the rest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            listener,
            local_addr,
            http_listener,
            http_addr,
            // The coordinator hands the same log to the HTTP routes.
            log: _,
            coordinator,
            connectors,
            builtin_views,
            webhook_policy,
            endpoint,
            shutdown_grace,
        } = self;
        let (stop_sinks, sinks_stopped) = tokio::sync::oneshot::channel::<()>();
        let sinks = tokio::spawn(
            crate::sinks::runtime::supervise(coordinator.clone(), webhook_policy, async {
                // A dropped sender stops the sinks as well.
                let _ = sinks_stopped.await;
            })
            .instrument(tracing::info_span!("sinks")),
        );
        let (stop_schedule, schedule_stopped) = tokio::sync::oneshot::channel::<()>();
        let schedule = tokio::spawn(Arc::clone(&connectors).schedule(async {
            let _ = schedule_stopped.await;
        }));
        tracing::debug!(%local_addr, "accepting PostgreSQL connections");
        tracing::debug!(%http_addr, "accepting HTTP requests");
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let state = http::AppState::new(coordinator.clone()).with_connectors(connectors);
        let (stop_auto_close, auto_close_stopped) = tokio::sync::oneshot::channel::<()>();
        let auto_close = tokio::spawn(
            crate::exceptions::auto_close(state.triage(), async {
                let _ = auto_close_stopped.await;
            })
            .instrument(tracing::info_span!("exceptions")),
        );
        let (stop_snapshots, snapshots_stopped) = tokio::sync::oneshot::channel::<()>();
        let snapshots = builtin_views.then(|| {
            tokio::spawn(
                crate::crdc::keep_snapshots(coordinator.clone(), async {
                    let _ = snapshots_stopped.await;
                })
                .instrument(tracing::info_span!("readiness_snapshots")),
            )
        });
        let router = http::app(state);
        let mut http_task = tokio::spawn(
            async move {
                axum::serve(http_listener, router)
                    .with_graceful_shutdown(async {
                        // A dropped sender stops the server as well.
                        let _ = http_stopped.await;
                    })
                    .await
            }
            .instrument(tracing::info_span!("http", %http_addr)),
        );
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut next_connection_id: u64 = 0;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        next_connection_id += 1;
                        let span = tracing::info_span!("pgwire_connection", id = next_connection_id, %peer);
                        let endpoint = endpoint.clone();
                        let session = coordinator.session();
                        connections.spawn(
                            async move {
                                tracing::debug!("connection accepted");
                                match endpoint.serve_connection(socket, session).await {
                                    Ok(()) => tracing::debug!("connection closed"),
                                    Err(error) => tracing::debug!(%error, "connection closed by an I/O error"),
                                }
                            }
                            .instrument(span),
                        );
                    }
                    // Out of file descriptors or a connection reset before accept:
                    // keep serving the others, and back off so a persistent error does
                    // not spin.
                    Err(error) => {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(finished) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(error) = finished {
                        tracing::error!(%error, "a connection task failed");
                    }
                }
            }
        }
        drop(listener);
        let _ = stop_schedule.send(());
        let _ = schedule.await;
        let _ = stop_auto_close.send(());
        let _ = auto_close.await;
        let _ = stop_snapshots.send(());
        if let Some(snapshots) = snapshots {
            let _ = snapshots.await;
        }
        // Sinks commit after each delivery, so stopping one mid-way loses nothing;
        // waiting for them lets go of the data directory before returning.
        let _ = stop_sinks.send(());
        let _ = sinks.await;
        let _ = stop_http.send(());
        tracing::info!(open_connections = connections.len(), "shutting down");
        // pgwire connections and HTTP requests drain together, within one grace period.
        let deadline = tokio::time::Instant::now() + shutdown_grace;
        let drained = tokio::time::timeout_at(deadline, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(
                open_connections = connections.len(),
                "closing connections still open"
            );
            connections.shutdown().await;
        }
        match tokio::time::timeout_at(deadline, &mut http_task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(%error, "the HTTP server failed"),
            Ok(Err(error)) => tracing::error!(%error, "the HTTP server task failed"),
            Err(_) => {
                tracing::info!("closing HTTP requests still open");
                http_task.abort();
            }
        }
        Ok(())
    }
}

/// Binds a listener and reads back its address (the real port if `listen` asked for 0).
async fn listen(listen: &str) -> Result<(TcpListener, SocketAddr), ServerError> {
    let error = |source| ServerError::Listen {
        listen: listen.to_owned(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(error)?;
    let addr = listener.local_addr().map_err(error)?;
    Ok((listener, addr))
}

/// The change log the sources read and the HTTP API publishes to: Kafka when brokers
/// are configured, else the embedded log in the data directory (which `vigil publish`
/// also finds there when no server runs).
async fn open_log(config: &Config) -> Result<Arc<dyn ChangeLog>, ServerError> {
    match config.kafka.clone() {
        Some(brokers) => {
            let connected = blocking({
                let brokers = brokers.clone();
                move || KafkaLog::connect(&brokers)
            })
            .await?;
            match connected {
                Ok(log) => Ok(Arc::new(log)),
                Err(source) => Err(ServerError::Kafka { brokers, source }),
            }
        }
        None => {
            let dir = config::changelog_dir(&config.data_dir);
            let opened = blocking({
                let dir = dir.clone();
                move || EmbeddedLog::open(&dir)
            })
            .await?;
            match opened {
                Ok(log) => Ok(Arc::new(log)),
                Err(source) => Err(ServerError::ChangeLog { dir, source }),
            }
        }
    }
}

/// Runs startup work that blocks (disk replay, broker handshakes) off the runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServerError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done),
        Err(join) => match join.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(ServerError::Interrupted),
        },
    }
}

/// Binds and runs a server until `shutdown` resolves.
pub async fn serve(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}
