//! A server running in the test's own process (`Server::bind` + `Server::run`), for
//! tests that also reach into its coordinator: publishing to its change log,
//! reading views without a client, or waiting for a background task's effect.
//! `common::VigilServer` is the other kind: the real binary in a child process.

#![allow(dead_code)] // each test target uses a different part of this module

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use vigil_server::{Config, Server, ServerError};
use vigil_sql::{Coordinator, ExecuteResponse};

/// How long a view may take to show what a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct InProcess {
    /// `http://127.0.0.1:port` of the HTTP API.
    pub http: String,
    pub coordinator: Coordinator,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl InProcess {
    /// Binds and runs a server with `config`, whose listeners should ask for port 0.
    pub async fn start(config: &Config) -> InProcess {
        let server = Server::bind(config)
            .await
            .expect("bind")
            .with_shutdown_grace(Duration::from_secs(1));
        let http = format!("http://{}", server.http_addr());
        let coordinator = server.coordinator();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        InProcess {
            http,
            coordinator,
            stop,
            task,
        }
    }

    /// The rows of the last statement of `sql`, as text (`NULL` for null); panics
    /// on an error.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let mut session = self.coordinator.session();
        let mut rows = Vec::new();
        for result in session.execute_batch(sql).await {
            if let ExecuteResponse::Rows { rows: found, .. } =
                result.unwrap_or_else(|e| panic!("{sql}: {e}"))
            {
                rows = found
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(vigil_engine::repr::text::datum_to_text)
                            .map(|text| text.unwrap_or_else(|| "NULL".into()))
                            .collect()
                    })
                    .collect();
            }
        }
        rows
    }

    /// Polls `sql` until it returns `expected`: what a test publishes reaches the
    /// views asynchronously, and background tasks follow them.
    pub async fn until(&self, sql: &str, expected: &[&[&str]]) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let rows = self.rows(sql).await;
            if rows == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{sql}\n  got:      {rows:?}\n  expected: {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shuts the server down and waits until it has let go of its data directory
    /// (this handle on its coordinator goes first, so a restart can open it).
    pub async fn stop(self) {
        let InProcess {
            coordinator,
            stop,
            task,
            ..
        } = self;
        drop(coordinator);
        let _ = stop.send(());
        task.await.expect("join").expect("run");
    }
}
