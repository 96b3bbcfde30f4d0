//! The Vigil server: the process that PostgreSQL clients (psql, Metabase, Grafana,
//! drivers) connect to, built as a library so tests can start servers in-process.
//!
//! ```text
//!  Config (defaults ◂ vigil.toml ◂ flags)
//!     │
//!     ▼
//!  Server::bind ── opens the Coordinator (catalog, storage, dataflow workers)
//!     │            binds the pgwire listener
//!     ▼
//!  Server::run ─── accept loop: one task per connection, one Session per task
//!                  socket ▸ pgwire::Endpoint ▸ vigil_sql::Session ▸ engine
//! ```
//!
//! Main types:
//! - [`Config`] (and [`config::ConfigLayer`] for the file and flag layers): where to
//!   listen, the data directory, the worker count;
//! - [`Server`]: a bound, not yet running server; [`Server::local_addr`] tells a test
//!   which port `127.0.0.1:0` picked, [`Server::run`] serves until a shutdown future
//!   resolves;
//! - [`pgwire`]: the PostgreSQL wire protocol endpoint, from startup parameters to
//!   COPY.
//!
//! The binary (`vigil serve`) only parses the command line, sets up logging and signal
//! handling, and calls [`serve`]. HTTP, Arrow Flight SQL and sinks will be endpoints
//! beside [`pgwire`], started by the same [`Server`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), vigil_server::ServerError> {
//! let config = vigil_server::Config { listen: "127.0.0.1:0".into(), ..Default::default() };
//! let server = vigil_server::Server::bind(&config).await?;
//! println!("connect to {}", server.local_addr());
//! server.run(std::future::pending()).await
//! # }
//! ```

pub mod config;
pub mod pgwire;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;
use vigil_sql::{Coordinator, SqlError};

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
    Open {
        data_dir: std::path::PathBuf,
        source: SqlError,
    },
    #[error("the server was shut down while starting")]
    Interrupted,
}

/// A server whose data directory is open and whose listener is bound, ready to run.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    coordinator: Coordinator,
    endpoint: crate::pgwire::Endpoint,
    shutdown_grace: Duration,
}

impl Server {
    /// Binds the pgwire listener, then opens the data directory and starts the engine.
    /// Binding first means a port conflict fails before any data is replayed.
    pub async fn bind(config: &Config) -> Result<Server, ServerError> {
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| ServerError::Listen {
                    listen: config.listen.clone(),
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Listen {
                listen: config.listen.clone(),
                source,
            })?;
        let sql_config = vigil_sql::Config {
            data_dir: config.data_dir.clone(),
            workers: config.workers,
        };
        // Opening replays the catalog from disk: blocking work, kept off the runtime.
        let coordinator =
            match tokio::task::spawn_blocking(move || Coordinator::open(sql_config)).await {
                Ok(opened) => opened.map_err(|source| ServerError::Open {
                    data_dir: config.data_dir.clone(),
                    source,
                })?,
                Err(join) => match join.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => return Err(ServerError::Interrupted),
                },
            };
        Ok(Server {
            listener,
            local_addr,
            coordinator,
            endpoint: crate::pgwire::Endpoint::new(),
            shutdown_grace: SHUTDOWN_GRACE,
        })
    }

    /// The address PostgreSQL clients connect to (with the real port if the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How long [`Server::run`] lets open connections finish after shutdown begins
    /// (default [`SHUTDOWN_GRACE`]).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serves clients until `shutdown` resolves, then stops accepting, lets open
    /// connections finish for the grace period, and closes the rest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            listener,
            local_addr,
            coordinator,
            endpoint,
            shutdown_grace,
        } = self;
        tracing::debug!(%local_addr, "accepting PostgreSQL connections");
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
        tracing::info!(open_connections = connections.len(), "shutting down");
        let drained = tokio::time::timeout(shutdown_grace, async {
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
        Ok(())
    }
}

/// Binds and runs a server until `shutdown` resolves.
pub async fn serve(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}
