//! From an INSERT to its SUBSCRIBE row, and to its webhook delivery.
//!
//! Starts a `vigil` server in this process (pgwire and HTTP on loopback ports, a
//! fresh data directory, the wall clock), with
//!
//! ```sql
//! CREATE TABLE items (id int PRIMARY KEY, title text, blocked boolean);
//! CREATE MATERIALIZED VIEW blocked_items AS SELECT id, title FROM items WHERE blocked;
//! CREATE SINK alerts FROM blocked_items INTO WEBHOOK 'http://127.0.0.1:…/hook' WITH (format = 'json');
//! ```
//!
//! a client streaming `SUBSCRIBE blocked_items` over `COPY … TO STDOUT` on its own
//! connection, and a local HTTP receiver for the webhook. Each probe INSERTs one
//! blocked item over pgwire and times, from sending the INSERT, the arrival of its
//! row at the subscriber and of its POST at the receiver. Probes are spaced out so
//! they measure latency, not queueing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_postgres::NoTls;
use vigil_server::{Config, Server};

use crate::quantile;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub probes: usize,
    pub workers: usize,
    /// Pause between probes.
    pub spacing: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub probes: usize,
    pub workers: usize,
    pub insert_ack_ms_p50: f64,
    pub insert_to_subscribe_ms_p50: f64,
    pub insert_to_subscribe_ms_p99: f64,
    pub insert_to_webhook_ms_p50: f64,
    pub insert_to_webhook_ms_p99: f64,
}

/// When each item id arrived, and a wake-up for whoever waits.
#[derive(Clone, Default)]
struct Arrivals {
    seen: Arc<Mutex<HashMap<i64, Instant>>>,
    notify: Arc<Notify>,
}

impl Arrivals {
    fn record(&self, id: i64) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert_with(Instant::now);
        self.notify.notify_waiters();
    }

    async fn wait(&self, id: i64, deadline: Instant) -> anyhow::Result<Instant> {
        loop {
            let notified = self.notify.notified();
            if let Some(at) = self.seen.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
                return Ok(*at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("item {id} did not arrive within the deadline");
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

async fn hook(State(arrivals): State<Arrivals>, body: String) -> &'static str {
    let id = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["row"]["id"].as_i64());
    if let Some(id) = id {
        arrivals.record(id);
    }
    "ok"
}

async fn receiver() -> anyhow::Result<(SocketAddr, Arrivals)> {
    let arrivals = Arrivals::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, arrivals))
}

async fn connect(addr: SocketAddr) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::Config::new()
        .host(addr.ip().to_string())
        .port(addr.port())
        .user("bench")
        .dbname("vigil")
        .connect(NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        workers: settings.workers,
        builtin_views: false,
        ..Config::default()
    };
    let server = Server::bind(&config).await?;
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let (hook_addr, webhook_arrivals) = receiver().await?;
    let client = connect(addr).await?;
    client
        .batch_execute(&format!(
            "CREATE TABLE items (id int PRIMARY KEY, title text, blocked boolean);
             CREATE MATERIALIZED VIEW blocked_items AS SELECT id, title FROM items WHERE blocked;
             CREATE SINK alerts FROM blocked_items INTO WEBHOOK 'http://{hook_addr}/hook' WITH (format = 'json');"
        ))
        .await
        .context("setting up")?;

    let subscribe_arrivals = Arrivals::default();
    let subscriber = connect(addr).await?;
    let stream = subscriber
        .copy_out("SUBSCRIBE blocked_items WITH (SNAPSHOT = false)")
        .await
        .context("SUBSCRIBE")?;
    let reader = {
        let arrivals = subscribe_arrivals.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(data)) = stream.next().await {
                for line in String::from_utf8_lossy(&data).lines() {
                    // vigil_timestamp, vigil_diff, id, title
                    let mut fields = line.split('\t');
                    let diff = fields.nth(1);
                    let id = fields.next().and_then(|f| f.parse::<i64>().ok());
                    if let (Some("1"), Some(id)) = (diff, id) {
                        arrivals.record(id);
                    }
                }
            }
        })
    };

    eprintln!("timing {} inserts", settings.probes);
    let mut acknowledged = Vec::with_capacity(settings.probes);
    let mut to_subscribe = Vec::with_capacity(settings.probes);
    let mut to_webhook = Vec::with_capacity(settings.probes);
    for id in 0..settings.probes as i64 {
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "INSERT INTO items VALUES ({id}, 'item {id}', true)"
            ))
            .await?;
        acknowledged.push(started.elapsed());
        let deadline = started + Duration::from_secs(30);
        to_subscribe.push(subscribe_arrivals.wait(id, deadline).await? - started);
        to_webhook.push(webhook_arrivals.wait(id, deadline).await? - started);
        tokio::time::sleep(settings.spacing).await;
    }

    reader.abort();
    drop(subscriber);
    drop(client);
    let _ = stop.send(());
    running.await??;

    let ms = |samples: &[Duration], q: f64| quantile(samples, q).as_secs_f64() * 1e3;
    Ok(Report {
        probes: settings.probes,
        workers: settings.workers,
        insert_ack_ms_p50: ms(&acknowledged, 0.5),
        insert_to_subscribe_ms_p50: ms(&to_subscribe, 0.5),
        insert_to_subscribe_ms_p99: ms(&to_subscribe, 0.99),
        insert_to_webhook_ms_p50: ms(&to_webhook, 0.5),
        insert_to_webhook_ms_p99: ms(&to_webhook, 0.99),
    })
}

/// The report as a table.
pub fn table(report: &Report) -> String {
    let rows = [
        ("probes", report.probes.to_string()),
        ("workers", report.workers.to_string()),
        (
            "INSERT acknowledged, p50 (ms)",
            format!("{:.2}", report.insert_ack_ms_p50),
        ),
        (
            "INSERT to SUBSCRIBE row, p50 (ms)",
            format!("{:.2}", report.insert_to_subscribe_ms_p50),
        ),
        (
            "INSERT to SUBSCRIBE row, p99 (ms)",
            format!("{:.2}", report.insert_to_subscribe_ms_p99),
        ),
        (
            "INSERT to webhook delivery, p50 (ms)",
            format!("{:.2}", report.insert_to_webhook_ms_p50),
        ),
        (
            "INSERT to webhook delivery, p99 (ms)",
            format!("{:.2}", report.insert_to_webhook_ms_p99),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v:>10}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_few_probes_arrive_both_ways() {
        let report = run(&Settings {
            probes: 3,
            workers: 1,
            spacing: Duration::from_millis(10),
        })
        .await
        .unwrap();
        assert_eq!(report.probes, 3);
        assert!(report.insert_to_subscribe_ms_p50 > 0.0);
        assert!(report.insert_to_webhook_ms_p50 > 0.0);
    }
}
