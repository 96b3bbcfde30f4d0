//! Serving over pgwire: point and scan queries from many clients while ingest runs.
//!
//! Starts a `vigil` server in this process (pgwire on a loopback port, a fresh data
//! directory, the wall clock, no built-in views) with source-ingest's workload
//! ([`crate::source_ingest`]): `customers`, the upsert source `orders` and
//!
//! ```sql
//! CREATE MATERIALIZED VIEW order_totals AS
//!   SELECT c.id AS customer_id, c.region, count(*) AS n, sum(o.amount) AS total
//!   FROM orders o JOIN customers c ON o.customer_id = c.id
//!   GROUP BY c.id, c.region;
//! ```
//!
//! loads `orders` orders, then starts a background producer upserting those orders at
//! a fixed rate and, for a fixed duration, `clients` tokio-postgres clients, each on
//! its own connection, issuing queries back to back (a closed loop):
//!
//! - **point**: [`POINT_QUERY`], prepared, for a random customer that has orders; it
//!   must return exactly one row;
//! - **scan**: [`SCAN_QUERY`], prepared, the whole view (one row per customer with
//!   orders) sent to the client; one query in `scan_every` is a scan.
//!
//! Every query crosses a real socket and the PostgreSQL extended protocol. The
//! clients, the producer and the server share the process and its cores, so the
//! figures include their competition; they are latency under load, not the latency
//! of an idle server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;
use vigil_server::{Config, Server};

use crate::harness;
use crate::quantile;
use crate::source_ingest::{self, Producer};

/// A point query: one customer's totals.
pub const POINT_QUERY: &str =
    "SELECT customer_id, region, n, total FROM order_totals WHERE customer_id = $1";

/// A scan: the whole view.
pub const SCAN_QUERY: &str = "SELECT customer_id, region, n, total FROM order_totals";

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// At least 2: customer 0 gets no orders.
    pub customers: usize,
    /// Orders loaded before the clients start; at least `customers`, so every
    /// customer but 0 has a row in the view.
    pub orders: usize,
    pub workers: usize,
    pub clients: usize,
    pub duration: Duration,
    /// Background upserts per second while the clients run.
    pub rate: usize,
    /// One query in `scan_every` is a scan, the rest are point queries.
    pub scan_every: usize,
    pub seed: u64,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `debug` or `release`: figures are only meaningful from a release build.
    pub build: &'static str,
    pub workers: usize,
    pub customers: usize,
    pub orders: usize,
    pub clients: usize,
    pub duration_seconds: f64,
    pub load_seconds: f64,
    pub point_query: &'static str,
    pub scan_query: &'static str,
    pub scan_every: usize,
    pub point_queries: usize,
    pub point_per_second: f64,
    pub point_ms_p50: f64,
    pub point_ms_p99: f64,
    pub scan_queries: usize,
    pub scan_per_second: f64,
    pub scan_ms_p50: f64,
    pub scan_ms_p99: f64,
    /// Rows a scan returned, at its median (one per customer with orders).
    pub scan_rows_p50: usize,
    /// The background rate asked for, and what the producer achieved.
    pub ingest_rate: usize,
    pub ingest_events_per_second: f64,
    /// From stopping the producer until the source had read everything and the view
    /// was current: how far behind ingest was when the clients stopped.
    pub caught_up_seconds: f64,
}

/// One client's latencies.
#[derive(Default)]
struct Samples {
    point: Vec<Duration>,
    scan: Vec<Duration>,
    scan_rows: Vec<usize>,
}

async fn connect(addr: SocketAddr) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::Config::new()
        .host(addr.ip().to_string())
        .port(addr.port())
        .user("bench")
        .dbname("vigil")
        .connect(NoTls)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs one client's closed loop until `until`.
async fn client_loop(
    client: tokio_postgres::Client,
    settings: Settings,
    index: usize,
    until: Instant,
) -> anyhow::Result<Samples> {
    let point = client
        .prepare_typed(POINT_QUERY, &[Type::INT4])
        .await
        .context("preparing the point query")?;
    let scan = client
        .prepare(SCAN_QUERY)
        .await
        .context("preparing the scan")?;
    let mut rng = fastrand::Rng::with_seed(settings.seed.wrapping_add(index as u64));
    let mut samples = Samples::default();
    while Instant::now() < until {
        if rng.usize(..settings.scan_every.max(1)) == 0 {
            let started = Instant::now();
            let rows = client.query(&scan, &[]).await.context("scan")?;
            samples.scan.push(started.elapsed());
            samples.scan_rows.push(rows.len());
        } else {
            // Customer 0 has no orders (see `source_ingest::PROBE_CUSTOMER`).
            let customer = rng.i32(1..settings.customers as i32);
            let started = Instant::now();
            let rows = client
                .query(&point, &[&customer])
                .await
                .with_context(|| format!("point query for customer {customer}"))?;
            samples.point.push(started.elapsed());
            if rows.len() != 1 {
                bail!(
                    "point query for customer {customer} returned {} rows",
                    rows.len()
                );
            }
        }
    }
    Ok(samples)
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    if settings.orders < settings.customers {
        bail!("at least as many orders as customers are needed");
    }
    if settings.clients == 0 {
        bail!("at least one client is needed");
    }
    if i32::try_from(settings.customers).is_err() {
        bail!("customer ids must fit in an int");
    }
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
    let coordinator = server.coordinator();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let log = coordinator.log();
    let mut session = coordinator.session();
    source_ingest::create_schema(&mut session, settings.customers).await?;
    eprintln!(
        "loading {} orders for {} customers ({} workers)",
        settings.orders, settings.customers, settings.workers
    );
    let loaded = source_ingest::load(
        &mut session,
        log.clone(),
        settings.orders,
        settings.customers,
    )
    .await?;

    let mut clients = Vec::with_capacity(settings.clients);
    for _ in 0..settings.clients {
        clients.push(connect(addr).await?);
    }
    eprintln!(
        "{} clients for {:.0} s under {} upserts/s",
        settings.clients,
        settings.duration.as_secs_f64(),
        settings.rate
    );
    let producer = Producer::start(
        log.clone(),
        settings.rate,
        settings.orders,
        settings.customers,
    )?;
    let started = Instant::now();
    let until = started + settings.duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| tokio::spawn(client_loop(client, settings.clone(), index, until)))
        .collect();
    let mut samples = Samples::default();
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(one)) => {
                samples.point.extend(one.point);
                samples.scan.extend(one.scan);
                samples.scan_rows.extend(one.scan_rows);
            }
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(anyhow::anyhow!("a client task failed: {e}"))),
        }
    }
    let elapsed = started.elapsed();
    let (published, produced_for) = producer.stop()?;
    if let Some(e) = failure {
        return Err(e);
    }
    let stopped_at = Instant::now();
    harness::caught_up(&mut session, &["orders"], &["order_totals"], || true).await?;
    let caught_up = stopped_at.elapsed();

    let _ = stop.send(());
    running.await??;

    if samples.point.is_empty() || samples.scan.is_empty() {
        bail!(
            "too short a run: {} point queries and {} scans",
            samples.point.len(),
            samples.scan.len()
        );
    }
    let ms = |s: &[Duration], q: f64| quantile(s, q).as_secs_f64() * 1e3;
    let mut scan_rows = samples.scan_rows.clone();
    scan_rows.sort_unstable();
    Ok(Report {
        build: source_ingest::build(),
        workers: settings.workers,
        customers: settings.customers,
        orders: settings.orders,
        clients: settings.clients,
        duration_seconds: elapsed.as_secs_f64(),
        load_seconds: loaded.ingest.as_secs_f64(),
        point_query: POINT_QUERY,
        scan_query: SCAN_QUERY,
        scan_every: settings.scan_every,
        point_queries: samples.point.len(),
        point_per_second: samples.point.len() as f64 / elapsed.as_secs_f64(),
        point_ms_p50: ms(&samples.point, 0.5),
        point_ms_p99: ms(&samples.point, 0.99),
        scan_queries: samples.scan.len(),
        scan_per_second: samples.scan.len() as f64 / elapsed.as_secs_f64(),
        scan_ms_p50: ms(&samples.scan, 0.5),
        scan_ms_p99: ms(&samples.scan, 0.99),
        scan_rows_p50: scan_rows[scan_rows.len() / 2],
        ingest_rate: settings.rate,
        ingest_events_per_second: published as f64 / produced_for.as_secs_f64(),
        caught_up_seconds: caught_up.as_secs_f64(),
    })
}

/// The report as the table the harness prints.
pub fn table(report: &Report) -> String {
    format!(
        "serving over pgwire: {clients} clients for {duration:.0} s on order_totals \
         ({customers} customers, {orders} orders), {workers} workers, {build} build\n\
         load: {load:.1} s; ingest during the run: {achieved:.0} upserts/s (asked {rate}); \
         view current {caught:.2} s after the producer stopped\n\
         point: {point_query}\n\
         scan (1 query in {every}): {scan_query}\n\
         | kind | queries | queries/s | p50 ms | p99 ms |\n\
         |---|---:|---:|---:|---:|\n\
         | point | {pn} | {pqps:.0} | {p50:.2} | {p99:.2} |\n\
         | scan ({rows} rows) | {sn} | {sqps:.1} | {s50:.2} | {s99:.2} |\n",
        clients = report.clients,
        duration = report.duration_seconds,
        customers = report.customers,
        orders = report.orders,
        workers = report.workers,
        build = report.build,
        load = report.load_seconds,
        achieved = report.ingest_events_per_second,
        rate = report.ingest_rate,
        caught = report.caught_up_seconds,
        point_query = report.point_query,
        every = report.scan_every,
        scan_query = report.scan_query,
        pn = report.point_queries,
        pqps = report.point_per_second,
        p50 = report.point_ms_p50,
        p99 = report.point_ms_p99,
        rows = report.scan_rows_p50,
        sn = report.scan_queries,
        sqps = report.scan_per_second,
        s50 = report.scan_ms_p50,
        s99 = report.scan_ms_p99,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_get_one_row_per_point_query_and_the_whole_view_per_scan() {
        let report = run(&Settings {
            customers: 20,
            orders: 500,
            workers: 1,
            clients: 3,
            duration: Duration::from_secs(2),
            rate: 100,
            scan_every: 3,
            seed: 1,
        })
        .await
        .unwrap();
        assert!(report.point_queries > 0);
        assert!(report.scan_queries > 0);
        // Every customer but the probe customer has orders.
        assert_eq!(report.scan_rows_p50, 19);
        assert!(report.point_ms_p99 >= report.point_ms_p50);
    }
}
