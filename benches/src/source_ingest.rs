//! Upsert events through a source into a join + aggregate view.
//!
//! A 10-column JSON upsert event per order, keyed by order id, goes into a topic of
//! the embedded change log (two partitions); the source `orders` reads it, and
//!
//! ```sql
//! CREATE MATERIALIZED VIEW order_totals AS
//!   SELECT c.id AS customer_id, c.region, count(*) AS n, sum(o.amount) AS total
//!   FROM orders o JOIN customers c ON o.customer_id = c.id
//!   GROUP BY c.id, c.region
//! ```
//!
//! keeps the totals. Two figures:
//!
//! - **sustained ingest**: `events` events with distinct keys published as fast as one
//!   producer thread can, while the source reads them; events per second from the
//!   first publish until the view counts every order;
//! - **freshness**: with a steady background load of `rate` events per second, a
//!   probe event every 50 ms, timed from `publish` returning until the view shows it
//!   (polled), as p50 and p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use vigil_changelog::{ChangeLog, Message};
use vigil_engine::repr::Datum;
use vigil_sql::{Config, Coordinator, ExecuteResponse, Session};

use crate::quantile;

pub const VIEW: &str = "SELECT c.id AS customer_id, c.region, count(*) AS n, sum(o.amount) AS total \
     FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.id, c.region";

const SOURCE: &str = "CREATE SOURCE orders (id bigint, customer_id int, amount int, \
     status text, region text, created_at timestamptz, updated_at timestamptz, \
     priority int, points numeric(8,2), title text, PRIMARY KEY (id)) \
     FROM TOPIC 'orders' WITH (format = 'json', envelope = 'upsert', partitions = 2)";

/// The customer that only probe events belong to.
const PROBE_CUSTOMER: i64 = 0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub events: usize,
    pub customers: usize,
    pub workers: usize,
    /// Background events per second during the freshness phase.
    pub rate: usize,
    pub probes: usize,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub events: usize,
    pub workers: usize,
    pub publish_seconds: f64,
    pub ingest_seconds: f64,
    pub ingest_events_per_second: f64,
    pub background_rate: usize,
    pub freshness_ms_p50: f64,
    pub freshness_ms_p99: f64,
    pub probes: usize,
}

fn event(id: u64, customer: u64, amount: u64) -> String {
    format!(
        r#"{{"id": {id}, "customer_id": {customer}, "amount": {amount}, "status": "{status}", "region": "r{region}", "created_at": "2025-0{month}-1{day}T08:30:00Z", "updated_at": {updated}, "priority": {priority}, "points": "{points}.50", "title": "order {id} for customer {customer}"}}"#,
        status = ["open", "paid", "shipped"][(id % 3) as usize],
        region = customer % 50,
        month = 1 + id % 9,
        day = id % 10,
        updated = 1_735_689_600_000u64 + id,
        priority = id % 5,
        points = id % 100,
    )
}

fn publish(log: &dyn ChangeLog, events: &[(String, String)]) -> anyhow::Result<()> {
    let messages: Vec<Message<'_>> = events
        .iter()
        .map(|(k, v)| Message {
            key: Some(k.as_bytes()),
            value: Some(v.as_bytes()),
        })
        .collect();
    log.publish("orders", &messages)
        .context("publishing to the change log")?;
    Ok(())
}

async fn execute(session: &mut Session, sql: &str) -> anyhow::Result<ExecuteResponse> {
    match session.execute_batch(sql).await.pop() {
        Some(result) => result.with_context(|| sql.to_string()),
        None => bail!("no result for {sql}"),
    }
}

async fn scalar(session: &mut Session, sql: &str) -> anyhow::Result<i64> {
    match execute(session, sql).await? {
        ExecuteResponse::Rows { rows, .. } => match rows.first().and_then(|r| r.first()) {
            Some(Datum::Int64(n)) => Ok(*n),
            Some(Datum::Null) | None => Ok(0),
            Some(other) => bail!("{sql}: expected a bigint, got {other:?}"),
        },
        _ => bail!("{sql}: no rows"),
    }
}

/// Polls until `sql` returns at least `target`; the time it took.
async fn wait_for(
    session: &mut Session,
    sql: &str,
    target: i64,
    poll: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    while scalar(session, sql).await? < target {
        if Instant::now() > deadline {
            bail!("{sql} did not reach {target}");
        }
        tokio::time::sleep(poll).await;
    }
    Ok(started.elapsed())
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let coordinator = Coordinator::open(Config {
        data_dir: dir.path().to_path_buf(),
        workers: settings.workers,
        log: None,
        clock: Default::default(),
    })?;
    let log = coordinator.log();
    let mut session = coordinator.session();
    execute(
        &mut session,
        "CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL)",
    )
    .await?;
    let customers: Vec<String> = (0..settings.customers)
        .map(|id| format!("({id}, {})", id % 50))
        .collect();
    execute(
        &mut session,
        &format!("INSERT INTO customers VALUES {}", customers.join(", ")),
    )
    .await?;
    execute(&mut session, SOURCE).await?;
    execute(
        &mut session,
        &format!("CREATE MATERIALIZED VIEW order_totals AS {VIEW}"),
    )
    .await?;

    eprintln!(
        "publishing {} upsert events while the source reads them",
        settings.events
    );
    let counted = "SELECT sum(n) FROM order_totals";
    let producer = {
        let log = log.clone();
        let (events, customers) = (settings.events as u64, settings.customers as u64);
        std::thread::spawn(move || -> anyhow::Result<Duration> {
            let started = Instant::now();
            let mut batch = Vec::with_capacity(10_000);
            for id in 0..events {
                // Customer 0 is kept for the probes.
                let customer = 1 + id % (customers - 1);
                batch.push((id.to_string(), event(id, customer, id % 1000)));
                if batch.len() == batch.capacity() {
                    publish(log.as_ref(), &batch)?;
                    batch.clear();
                }
            }
            publish(log.as_ref(), &batch)?;
            Ok(started.elapsed())
        })
    };
    let ingest = wait_for(
        &mut session,
        counted,
        settings.events as i64,
        Duration::from_millis(100),
    )
    .await?;
    let publish_time = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;

    eprintln!(
        "freshness: {} probes under a background load of {} events/s",
        settings.probes, settings.rate
    );
    let running = Arc::new(AtomicBool::new(true));
    let background = {
        let (log, running) = (log.clone(), running.clone());
        let (rate, events, customers) = (
            settings.rate as u64,
            settings.events as u64,
            settings.customers as u64,
        );
        std::thread::spawn(move || -> anyhow::Result<()> {
            let per_tick = (rate / 100).max(1);
            let mut next = 0u64;
            while running.load(Ordering::Relaxed) {
                let tick = Instant::now();
                let batch: Vec<(String, String)> = (0..per_tick)
                    .map(|i| {
                        let id = (next + i) % events;
                        (
                            id.to_string(),
                            event(id, 1 + id % (customers - 1), (next + i) % 997),
                        )
                    })
                    .collect();
                next += per_tick;
                publish(log.as_ref(), &batch)?;
                std::thread::sleep(Duration::from_millis(10).saturating_sub(tick.elapsed()));
            }
            Ok(())
        })
    };
    let probe_count = format!("SELECT n FROM order_totals WHERE customer_id = {PROBE_CUSTOMER}");
    let mut freshness = Vec::with_capacity(settings.probes);
    for probe in 0..settings.probes {
        let id = settings.events + probe;
        publish(
            log.as_ref(),
            &[(id.to_string(), event(id as u64, PROBE_CUSTOMER as u64, 1))],
        )?;
        let published = Instant::now();
        wait_for(
            &mut session,
            &probe_count,
            probe as i64 + 1,
            Duration::from_micros(200),
        )
        .await?;
        freshness.push(published.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.store(false, Ordering::Relaxed);
    background
        .join()
        .map_err(|_| anyhow::anyhow!("the background producer panicked"))??;

    Ok(Report {
        events: settings.events,
        workers: settings.workers,
        publish_seconds: publish_time.as_secs_f64(),
        ingest_seconds: ingest.as_secs_f64(),
        ingest_events_per_second: settings.events as f64 / ingest.as_secs_f64(),
        background_rate: settings.rate,
        freshness_ms_p50: quantile(&freshness, 0.5).as_secs_f64() * 1e3,
        freshness_ms_p99: quantile(&freshness, 0.99).as_secs_f64() * 1e3,
        probes: settings.probes,
    })
}

/// The report as the table the harness prints.
pub fn table(report: &Report) -> String {
    format!(
        "source ingest: {events} upsert events (10 JSON columns) into a join + aggregate view, {workers} workers\n\
         | figure | value |\n\
         |---|---|\n\
         | publish alone (one producer thread) | {publish:.1} s |\n\
         | publish + read + view current | {ingest:.1} s |\n\
         | sustained ingest | {rate:.0} events/s |\n\
         | freshness p50 at {bg} events/s | {p50:.1} ms |\n\
         | freshness p99 at {bg} events/s | {p99:.1} ms |\n",
        events = report.events,
        workers = report.workers,
        publish = report.publish_seconds,
        ingest = report.ingest_seconds,
        rate = report.ingest_events_per_second,
        bg = report.background_rate,
        p50 = report.freshness_ms_p50,
        p99 = report.freshness_ms_p99,
    )
}
