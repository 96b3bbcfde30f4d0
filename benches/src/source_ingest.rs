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
//! keeps the totals. Two figures, for a given number of timely workers:
//!
//! - **sustained ingest**: `events` events with distinct keys published as fast as one
//!   producer thread can, while the source reads them; events per second from the
//!   first publish until the view counts every order;
//! - **freshness**: with a [`Producer`] upserting `rate` events per second in the
//!   background, a probe event every 50 ms for a customer no other event touches,
//!   timed from before its `publish` until its row arrives at a `SUBSCRIBE` on the view
//!   (no snapshot), as p50 and p99. That is what a subscriber to the view waits for:
//!   the durable publish, the source's read, the join and the aggregate, the clock
//!   tick that closes the time the change landed at, and the subscription's delivery.
//!
//! The schema, the event generator, the bulk load and the background producer are
//! public because the serving benchmark ([`crate::serving`]) runs the same workload
//! behind pgwire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::mpsc;
use vigil_changelog::ChangeLog;
use vigil_engine::repr::Datum;
use vigil_sql::{Config, Coordinator, Session, SubscribeEvent, SubscribeOptions, SubscribeTarget};

use crate::harness::{self, execute, integer};
use crate::quantile;

pub const VIEW: &str = "SELECT c.id AS customer_id, c.region, count(*) AS n, sum(o.amount) AS total \
     FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.id, c.region";

const SOURCE: &str = "CREATE SOURCE orders (id bigint, customer_id int, amount int, \
     status text, region text, created_at timestamptz, updated_at timestamptz, \
     priority int, points numeric(8,2), title text, PRIMARY KEY (id)) \
     FROM TOPIC 'orders' WITH (format = 'json', envelope = 'upsert', partitions = 2)";

const TOPIC: &str = "orders";

/// The customer that only probe events belong to; the loads and the background
/// producer spread orders over customers `1..customers`.
pub const PROBE_CUSTOMER: i64 = 0;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub events: usize,
    /// At least 2: customer 0 is kept for the probes.
    pub customers: usize,
    pub workers: usize,
    /// Background events per second during the freshness phase.
    pub rate: usize,
    pub probes: usize,
    /// Pause between probes.
    pub spacing: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `debug` or `release`: figures are only meaningful from a release build.
    pub build: &'static str,
    pub events: usize,
    pub customers: usize,
    pub workers: usize,
    pub publish_seconds: f64,
    pub ingest_seconds: f64,
    pub ingest_events_per_second: f64,
    /// The background rate asked for, and what the producer achieved.
    pub background_rate: usize,
    pub background_events_per_second: f64,
    /// What the freshness figures time.
    pub freshness: &'static str,
    pub freshness_ms_p50: f64,
    pub freshness_ms_p99: f64,
    pub freshness_ms_max: f64,
    pub probes: usize,
}

/// `debug` or `release`, for reports.
pub fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// One order's upsert event: 10 JSON columns, one of them a numeric as a string.
pub fn event(id: u64, customer: u64, amount: u64) -> String {
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

/// The customer a loaded or background order belongs to (never [`PROBE_CUSTOMER`]).
fn customer_of(id: u64, customers: u64) -> u64 {
    1 + id % (customers - 1)
}

/// Publishes `(key, event)` pairs to the `orders` topic in one durable call.
pub fn publish_events(log: &dyn ChangeLog, events: &[(String, String)]) -> anyhow::Result<()> {
    let records: Vec<(Vec<u8>, Vec<u8>)> = events
        .iter()
        .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
        .collect();
    harness::publish(log, TOPIC, &records)
}

/// Creates `customers` (filled with `customers` rows), the source `orders` and the
/// view `order_totals`.
pub async fn create_schema(session: &mut Session, customers: usize) -> anyhow::Result<()> {
    if customers < 2 {
        bail!("at least 2 customers are needed (customer 0 is kept for probes)");
    }
    execute(
        session,
        "CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL)",
    )
    .await?;
    let rows: Vec<String> = (0..customers)
        .map(|id| format!("({id}, {})", id % 50))
        .collect();
    execute(
        session,
        &format!("INSERT INTO customers VALUES {}", rows.join(", ")),
    )
    .await?;
    execute(session, SOURCE).await?;
    execute(
        session,
        &format!("CREATE MATERIALIZED VIEW order_totals AS {VIEW}"),
    )
    .await?;
    Ok(())
}

/// What [`load`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Publishing alone, in the producer thread.
    pub publish: Duration,
    /// From the first publish until the view counts every order.
    pub ingest: Duration,
}

/// Publishes orders `0..events` (distinct keys, batches of 10,000) from one producer
/// thread while the source reads them, and waits until `order_totals` counts them all.
pub async fn load(
    session: &mut Session,
    log: Arc<dyn ChangeLog>,
    events: usize,
    customers: usize,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let producer = {
        let (events, customers) = (events as u64, customers as u64);
        std::thread::spawn(move || -> anyhow::Result<Duration> {
            let started = Instant::now();
            let mut batch = Vec::with_capacity(10_000);
            for id in 0..events {
                batch.push((
                    id.to_string(),
                    event(id, customer_of(id, customers), id % 1000),
                ));
                if batch.len() == batch.capacity() {
                    publish_events(log.as_ref(), &batch)?;
                    batch.clear();
                }
            }
            publish_events(log.as_ref(), &batch)?;
            Ok(started.elapsed())
        })
    };
    let counted = "SELECT sum(n) FROM order_totals";
    let deadline = started + Duration::from_secs(4 * 3600);
    let mut producer = Some(producer);
    let mut publish = None;
    loop {
        // A failed publish ends the wait at once instead of at the deadline.
        if let Some(done) = producer.take_if(|p| p.is_finished()) {
            let elapsed = done
                .join()
                .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
            publish = Some(elapsed);
        }
        let rows = harness::rows(session, counted).await?;
        let seen = match rows.first().and_then(|r| r.first()) {
            Some(Datum::Null) | None => 0,
            datum => integer(datum).with_context(|| format!("{counted}: not a count"))?,
        };
        if seen >= events as i64 {
            let ingest = started.elapsed();
            // Every event has been read, so the producer has published its last batch.
            let publish = match (publish, producer) {
                (Some(publish), _) => publish,
                (None, Some(producer)) => producer
                    .join()
                    .map_err(|_| anyhow::anyhow!("the producer panicked"))??,
                (None, None) => bail!("the producer's time was lost"),
            };
            return Ok(Load { publish, ingest });
        }
        if Instant::now() > deadline {
            bail!("the view counted {seen} of {events} orders");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A background producer: upserts of the loaded orders `0..keys` (new amounts) at a
/// fixed rate, in durable batches every 10 ms, until stopped.
pub struct Producer {
    running: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<u64>>,
    started: Instant,
}

impl Producer {
    pub fn start(
        log: Arc<dyn ChangeLog>,
        rate: usize,
        keys: usize,
        customers: usize,
    ) -> anyhow::Result<Self> {
        let running = Arc::new(AtomicBool::new(true));
        let started = Instant::now();
        let thread = {
            let running = running.clone();
            let (rate, keys, customers) = (rate as f64, keys.max(1) as u64, customers as u64);
            std::thread::Builder::new()
                .name("background-producer".into())
                .spawn(move || -> anyhow::Result<u64> {
                    let mut published = 0u64;
                    while running.load(Ordering::Relaxed) {
                        let tick = Instant::now();
                        // Catch up with the schedule, so a slow publish lowers the
                        // achieved rate only if publishing cannot keep up at all.
                        let due = (started.elapsed().as_secs_f64() * rate) as u64;
                        let batch: Vec<(String, String)> = (published..due)
                            .map(|n| {
                                let id = n % keys;
                                let customer = customer_of(id, customers);
                                (id.to_string(), event(id, customer, n % 997))
                            })
                            .collect();
                        if !batch.is_empty() {
                            publish_events(log.as_ref(), &batch)?;
                        }
                        published = due.max(published);
                        std::thread::sleep(
                            Duration::from_millis(10).saturating_sub(tick.elapsed()),
                        );
                    }
                    Ok(published)
                })
                .context("spawning the background producer")?
        };
        Ok(Producer {
            running,
            thread,
            started,
        })
    }

    /// Stops the producer: how many events it published, over how long.
    pub fn stop(self) -> anyhow::Result<(u64, Duration)> {
        self.running.store(false, Ordering::Relaxed);
        let published = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the background producer panicked"))??;
        Ok((published, self.started.elapsed()))
    }
}

/// A `SUBSCRIBE order_totals` (no snapshot) whose events are timestamped on arrival.
struct Follower {
    arrivals: mpsc::UnboundedReceiver<anyhow::Result<(SubscribeEvent, Instant)>>,
    task: tokio::task::JoinHandle<()>,
    customer_column: usize,
    n_column: usize,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(coordinator: &Coordinator) -> anyhow::Result<Follower> {
    let options = SubscribeOptions {
        snapshot: false,
        progress: true,
        as_of: None,
    };
    let target = SubscribeTarget::Relation("order_totals".into());
    let mut subscription = coordinator
        .subscribe(target, options)
        .await
        .context("SUBSCRIBE order_totals")?;
    let column = |name: &str| {
        subscription
            .desc()
            .columns
            .iter()
            .position(|c| c.name == name)
            .with_context(|| format!("order_totals has no {name} column"))
    };
    let (customer_column, n_column) = (column("customer_id")?, column("n")?);
    let (sender, arrivals) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(event) = subscription.next().await {
            let arrival = event
                .map(|event| (event, Instant::now()))
                .map_err(|e| anyhow::anyhow!("SUBSCRIBE order_totals: {e}"));
            if sender.send(arrival).is_err() {
                return;
            }
        }
    });
    let mut follower = Follower {
        arrivals,
        task,
        customer_column,
        n_column,
    };
    // A change stamped before the subscription's first time would not be delivered;
    // once it has reported progress, every later publish lands after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let SubscribeEvent::Progress(_) = follower.next(deadline).await?.0 {
            return Ok(follower);
        }
    }
}

impl Follower {
    async fn next(&mut self, deadline: Instant) -> anyhow::Result<(SubscribeEvent, Instant)> {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.arrivals.recv()).await {
            Ok(Some(arrival)) => arrival,
            Ok(None) => bail!("the subscription to order_totals ended"),
            Err(_) => bail!("nothing arrived from the subscription in time"),
        }
    }

    /// Publishes probe order `id` for [`PROBE_CUSTOMER`] and waits for the view's row
    /// that counts it (`n = count`); the time from before the publish.
    async fn probe(
        &mut self,
        log: &dyn ChangeLog,
        id: u64,
        count: i64,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        publish_events(
            log,
            &[(id.to_string(), event(id, PROBE_CUSTOMER as u64, 1))],
        )?;
        let deadline = started + Duration::from_secs(60);
        loop {
            let (event, at) = self
                .next(deadline)
                .await
                .with_context(|| format!("probe {id} (count {count})"))?;
            let SubscribeEvent::Updates { updates, .. } = event else {
                continue;
            };
            let arrived = updates.iter().any(|(row, diff)| {
                *diff > 0
                    && integer(row.get(self.customer_column)) == Some(PROBE_CUSTOMER)
                    && integer(row.get(self.n_column)) == Some(count)
            });
            if arrived {
                return Ok(at.saturating_duration_since(started));
            }
        }
    }
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    if settings.probes == 0 {
        bail!("at least one probe is needed");
    }
    let dir = tempfile::tempdir()?;
    let coordinator = Coordinator::open(Config {
        data_dir: dir.path().to_path_buf(),
        workers: settings.workers,
        log: None,
        clock: Default::default(),
    })?;
    let log = coordinator.log();
    let mut session = coordinator.session();
    create_schema(&mut session, settings.customers).await?;

    eprintln!(
        "publishing {} upsert events while the source reads them ({} workers)",
        settings.events, settings.workers
    );
    let loaded = load(
        &mut session,
        log.clone(),
        settings.events,
        settings.customers,
    )
    .await?;

    eprintln!(
        "freshness: {} probes under a background load of {} events/s",
        settings.probes, settings.rate
    );
    let mut follower = follow(&coordinator).await?;
    let producer = Producer::start(
        log.clone(),
        settings.rate,
        settings.events,
        settings.customers,
    )?;
    let mut freshness = Vec::with_capacity(settings.probes);
    for probe in 0..settings.probes {
        let id = (settings.events + probe) as u64;
        let latency = follower.probe(log.as_ref(), id, probe as i64 + 1).await;
        match latency {
            Ok(latency) => freshness.push(latency),
            Err(e) => {
                // Stop the producer thread before reporting the failure.
                let _ = producer.stop();
                return Err(e);
            }
        }
        tokio::time::sleep(settings.spacing).await;
    }
    let (published, elapsed) = producer.stop()?;
    drop(follower);

    let ms = |q: f64| quantile(&freshness, q).as_secs_f64() * 1e3;
    Ok(Report {
        build: build(),
        events: settings.events,
        customers: settings.customers,
        workers: settings.workers,
        publish_seconds: loaded.publish.as_secs_f64(),
        ingest_seconds: loaded.ingest.as_secs_f64(),
        ingest_events_per_second: settings.events as f64 / loaded.ingest.as_secs_f64(),
        background_rate: settings.rate,
        background_events_per_second: published as f64 / elapsed.as_secs_f64(),
        freshness: "from before publish until the row arrives at SUBSCRIBE order_totals",
        freshness_ms_p50: ms(0.5),
        freshness_ms_p99: ms(0.99),
        freshness_ms_max: ms(1.0),
        probes: settings.probes,
    })
}

/// The report as the table the harness prints.
pub fn table(report: &Report) -> String {
    format!(
        "source ingest: {events} upsert events (10 JSON columns) into a join + aggregate view, \
         {workers} worker(s), {build} build\n\
         | figure | value |\n\
         |---|---|\n\
         | publish alone (one producer thread) | {publish:.1} s |\n\
         | publish + read + view current | {ingest:.1} s |\n\
         | sustained ingest | {rate:.0} events/s |\n\
         | background load (asked / achieved) | {bg} / {achieved:.0} events/s |\n\
         | freshness (publish to SUBSCRIBE row) p50 | {p50:.1} ms |\n\
         | freshness (publish to SUBSCRIBE row) p99 | {p99:.1} ms |\n\
         | freshness max ({probes} probes) | {max:.1} ms |\n",
        events = report.events,
        workers = report.workers,
        build = report.build,
        publish = report.publish_seconds,
        ingest = report.ingest_seconds,
        rate = report.ingest_events_per_second,
        bg = report.background_rate,
        achieved = report.background_events_per_second,
        p50 = report.freshness_ms_p50,
        p99 = report.freshness_ms_p99,
        max = report.freshness_ms_max,
        probes = report.probes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_ingest_counts_every_event_and_probes_arrive_by_subscribe() {
        let report = run(&Settings {
            events: 2_000,
            customers: 50,
            workers: 1,
            rate: 200,
            probes: 3,
            spacing: Duration::from_millis(10),
        })
        .await
        .unwrap();
        assert_eq!(report.events, 2_000);
        assert!(report.ingest_events_per_second > 0.0);
        assert!(report.freshness_ms_p50 > 0.0);
        assert!(report.freshness_ms_p99 >= report.freshness_ms_p50);
    }
}
