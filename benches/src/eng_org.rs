//! A synthetic engineering organization through every engineering view.
//!
//! Opens a [`Coordinator`] on a fresh data directory (embedded change log, the wall
//! clock, one worker per core), installs the built-in engineering sources, rule
//! views and metric views ([`vigil_views::install`]), then:
//!
//! 1. **load**: one producer thread generates the organization
//!    ([`vigil_fixtures::generate::engineering`]; 20 boards, 200k work items, 2M
//!    status changes, 50k PRs at scale 1) and publishes it to the `eng.*` topics in
//!    durable batches while the sources read them. The clock runs from the first
//!    publish until the views have caught up (below); records per second is every
//!    record published over that time. Peak RSS (`VmHWM`) is read right then.
//! 2. **check**: each source holds exactly the records published to it, and
//!    `validation_results` fails each rule for exactly the entities the generator
//!    counted (`blocked_items` likewise); a mismatch is reported, not hidden.
//! 3. **probes**: `SUBSCRIBE` (without snapshot) to the nine engineering views, and
//!    to `work_items` and `status_changes` as markers, and wait until each has
//!    reported progress (a change stamped just before a new subscription's first
//!    time would be missed otherwise). Each probe publishes ONE
//!    work-item change (cycling per item: blocked since 50 hours, unblocked, moved to
//!    done, reopened; the last two with their status change) and is timed from
//!    before the publish until every view's subscription has reported progress past
//!    the time the change landed at (read from the markers), which is when every view
//!    the change affects has delivered its update. Probes are spaced apart so they
//!    measure latency, not queueing.
//! 4. **full recompute**: every engineering materialized view's query run ad hoc
//!    with DataFusion, in creation order (the baseline the incremental figure is
//!    compared with; `benches/src/baseline.rs` has PostgreSQL's).
//!
//! The caught-up rule: the producer has finished; every `eng.*` source's reading
//! offset has reached the log's end offset (`vigil_sources.lag = 0` on every
//! partition); after two clock ticks (so the engine's time has moved past the time
//! those records landed at), each engineering view is awaited complete through the
//! current time ([`vigil_sql::Session::await_current`]). Step 2 then proves it: a
//! source missing a record fails the run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::mpsc;
use vigil_changelog::ChangeLog;
use vigil_engine::repr::Datum;
use vigil_fixtures::generate::engineering::{
    Category, Org, OrgSpec, RULES, Stats, WorkItem, topics,
};
use vigil_fixtures::generate::{Batch, Record};
use vigil_sql::{
    ClockMode, Config, Coordinator, Session, SubscribeEvent, SubscribeOptions, SubscribeTarget,
};
use vigil_views::ENGINEERING_VIEWS;

use crate::harness::{caught_up, count, integer, peak_rss_mib, publish, rows};
use crate::quantile;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Multiplies the items, status changes and PRs of the full organization.
    pub scale: f64,
    pub seed: u64,
    pub workers: usize,
    /// Records per publish (one durable commit each).
    pub batch: usize,
    pub probes: usize,
    /// Pause between probes.
    pub spacing: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `debug` or `release`: figures are only meaningful from a release build.
    pub build: &'static str,
    pub scale: f64,
    pub workers: usize,
    pub boards: usize,
    pub work_items: usize,
    pub status_changes: usize,
    pub pull_requests: usize,
    /// Every record published, all topics.
    pub records: u64,
    pub records_by_topic: BTreeMap<String, u64>,
    /// Generating and publishing alone (the producer thread).
    pub publish_seconds: f64,
    /// From the first publish until every view has caught up.
    pub load_seconds: f64,
    pub records_per_second: f64,
    /// `VmHWM` right after the load.
    pub peak_rss_mib: f64,
    /// Rows per engineering view after the load.
    pub view_rows: BTreeMap<String, i64>,
    /// Per rule: (entities the generator made fail it, rows in validation_results).
    pub rule_failures: BTreeMap<String, (u64, i64)>,
    /// Blocked items not done: (generated, rows in blocked_items).
    pub open_blocked_items: (u64, i64),
    /// Whether every count above matched.
    pub counts_match: bool,
    /// How far the slowest relation's frontier was behind the wall clock when the
    /// probes started: a large figure means the engine cannot keep up with the clock.
    pub frontier_lag_ms: i64,
    pub probes: usize,
    pub probe_ms_p50: f64,
    pub probe_ms_p99: f64,
    pub probe_ms_max: f64,
    /// Every materialized view of the domain recomputed from its inputs by DataFusion
    /// (each view's query run ad hoc, in creation order), median of three.
    pub datafusion_recompute_ms_p50: f64,
    /// Views with an update at the probe's time, on average.
    pub views_changed_per_probe: f64,
    /// Per view, (p50, p99) from the probe's publish to its progress past the probe.
    pub view_probe_ms: BTreeMap<String, (f64, f64)>,
}

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn publish_record(log: &dyn ChangeLog, record: Record) -> anyhow::Result<()> {
    publish(log, record.topic, &[(record.key, record.value)])
}

/// The source relation a topic feeds (`eng.work_items` → `work_items`).
fn relation(topic: &str) -> &str {
    topic.strip_prefix("eng.").unwrap_or(topic)
}

/// Generates and publishes the whole organization; what it published.
fn produce(log: &dyn ChangeLog, org: &Org, batch: usize) -> anyhow::Result<Stats> {
    let mut batches = org.batches(batch);
    for Batch { topic, records } in batches.by_ref() {
        publish(log, topic, &records)?;
    }
    Ok(batches.stats().clone())
}

/// One subscription's event, as it arrived.
struct Arrival {
    subscription: usize,
    event: SubscribeEvent,
    at: Instant,
}

/// What the probes follow: the views, then the two marker sources.
struct Followed {
    names: Vec<&'static str>,
    /// Per subscription, the column that identifies a probe's row (markers only).
    marker_column: Vec<Option<usize>>,
    arrivals: mpsc::UnboundedReceiver<anyhow::Result<Arrival>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

const WORK_ITEMS_MARKER: usize = ENGINEERING_VIEWS.len();
const STATUS_CHANGES_MARKER: usize = ENGINEERING_VIEWS.len() + 1;

async fn follow(coordinator: &Coordinator) -> anyhow::Result<Followed> {
    let mut names: Vec<&'static str> = ENGINEERING_VIEWS.to_vec();
    names.push("work_items");
    names.push("status_changes");
    let (sender, arrivals) = mpsc::unbounded_channel();
    let mut marker_column = Vec::new();
    let mut tasks = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let options = SubscribeOptions {
            snapshot: false,
            ..SubscribeOptions::default()
        };
        let target = SubscribeTarget::Relation(name.to_string());
        let subscribed = coordinator.subscribe(target, options).await;
        let mut subscription = subscribed.with_context(|| format!("SUBSCRIBE {name}"))?;
        let key = match index {
            WORK_ITEMS_MARKER => Some("item_id"),
            STATUS_CHANGES_MARKER => Some("change_id"),
            _ => None,
        };
        marker_column.push(key.and_then(|key| {
            subscription
                .desc()
                .columns
                .iter()
                .position(|c| c.name == key)
        }));
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(event) = subscription.next().await {
                let arrival = event
                    .map(|event| Arrival {
                        subscription: index,
                        event,
                        at: Instant::now(),
                    })
                    .map_err(|e| anyhow::anyhow!("subscription {index}: {e}"));
                if sender.send(arrival).is_err() {
                    return;
                }
            }
        }));
    }
    let mut followed = Followed {
        names,
        marker_column,
        arrivals,
        tasks,
    };
    settle(&mut followed).await?;
    Ok(followed)
}

/// Waits until every subscription has reported progress past its start. A source
/// stamps a change with the time it last advanced to, which can be just before a new
/// subscription's first time: a probe published before this would be missed.
async fn settle(followed: &mut Followed) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut progressed = vec![false; followed.names.len()];
    while progressed.contains(&false) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, followed.arrivals.recv()).await {
            Ok(Some(arrival)) => {
                let arrival = arrival?;
                if let SubscribeEvent::Progress(_) = arrival.event {
                    progressed[arrival.subscription] = true;
                }
            }
            Ok(None) => bail!("the subscriptions ended"),
            Err(_) => bail!("subscriptions reported no progress within 60 s: {progressed:?}"),
        }
    }
    Ok(())
}

/// What one probe publishes, and the marker keys that show where it landed.
pub(crate) struct Probe {
    pub(crate) records: Vec<Record>,
    /// (marker subscription, key value)
    markers: Vec<(usize, String)>,
}

/// Probe `k` of item `item`: blocked, unblocked, done, reopened, in turn.
pub(crate) fn probe(org: &Org, item: &mut WorkItem, k: usize, at: i64) -> Probe {
    let marker = (WORK_ITEMS_MARKER, item.item_id.clone());
    match k % 4 {
        0 => {
            item.block(at - 50 * 3_600_000, at);
            Probe {
                records: vec![org.work_item_record(item)],
                markers: vec![marker],
            }
        }
        1 => {
            item.unblock(at);
            Probe {
                records: vec![org.work_item_record(item)],
                markers: vec![marker],
            }
        }
        _ => {
            let to = if k % 4 == 2 {
                Category::Done
            } else {
                Category::InProgress
            };
            let change = item.move_to(to, at);
            Probe {
                records: vec![
                    org.status_change_record(item, &change),
                    org.work_item_record(item),
                ],
                markers: vec![marker, (STATUS_CHANGES_MARKER, change.change_id)],
            }
        }
    }
}

/// Publishes `probe` and waits until every view is current through it: the time
/// from before the publish, per view, and how many views changed.
async fn time_probe(
    log: &dyn ChangeLog,
    followed: &mut Followed,
    probe: Probe,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let views = ENGINEERING_VIEWS.len();
    let started = Instant::now();
    for record in probe.records {
        publish_record(log, record)?;
    }
    let deadline = started + Duration::from_secs(60);
    let mut landed: Vec<Option<u64>> = vec![None; probe.markers.len()];
    // Per view: (progress time, when it arrived) and the times it had updates at.
    let mut progress: Vec<Vec<(u64, Instant)>> = vec![Vec::new(); views];
    let mut updated: Vec<Vec<u64>> = vec![Vec::new(); views];
    let mut marker_progress: BTreeMap<usize, u64> = BTreeMap::new();
    loop {
        if landed.iter().all(Option::is_some) {
            let at = landed.iter().flatten().copied().max().unwrap_or(0);
            let passed: Option<Vec<Instant>> = progress
                .iter()
                .map(|p| p.iter().find(|(t, _)| *t > at).map(|(_, i)| *i))
                .collect();
            if let Some(passed) = passed {
                let first = landed.iter().flatten().copied().min().unwrap_or(at);
                let changed = updated
                    .iter()
                    .filter(|times| times.iter().any(|t| (first..=at).contains(t)))
                    .count();
                let per_view = passed
                    .iter()
                    .map(|i| i.saturating_duration_since(started))
                    .collect();
                return Ok((per_view, changed));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let arrival = match tokio::time::timeout(left, followed.arrivals.recv()).await {
            Ok(Some(arrival)) => arrival?,
            Ok(None) => bail!("the subscriptions ended"),
            Err(_) => bail!(
                "probe not current in every view within 60 s (landed: {landed:?}, views' \
                 progress behind the wall clock by {:?} ms, markers' progress {marker_progress:?})",
                progress
                    .iter()
                    .map(|p| p.last().map(|(t, _)| wall_ms() - *t as i64))
                    .collect::<Vec<_>>()
            ),
        };
        match (arrival.event, arrival.subscription) {
            (SubscribeEvent::Progress(time), view) if view < views => {
                progress[view].push((time, arrival.at));
            }
            (SubscribeEvent::Updates { time, .. }, view) if view < views => {
                updated[view].push(time);
            }
            (SubscribeEvent::Updates { time, updates }, marker) => {
                let Some(column) = followed.marker_column.get(marker).copied().flatten() else {
                    continue;
                };
                for (slot, (m, key)) in landed.iter_mut().zip(&probe.markers) {
                    let hit = *m == marker
                        && updates.iter().any(
                            |(row, _)| matches!(row.get(column), Some(Datum::Text(k)) if k == key),
                        );
                    if hit {
                        *slot = Some(time);
                    }
                }
            }
            (SubscribeEvent::Progress(time), marker) => {
                marker_progress.insert(marker, time);
            }
        }
    }
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    let spec = OrgSpec {
        seed: settings.seed,
        now_ms: wall_ms(),
        ..OrgSpec::default()
    }
    .scaled(settings.scale);
    let org = Org::new(spec.clone())?;

    let dir = tempfile::tempdir()?;
    let coordinator = Coordinator::open(Config {
        data_dir: dir.path().to_path_buf(),
        workers: settings.workers,
        log: None,
        clock: ClockMode::Wall,
    })?;
    vigil_views::install(&coordinator)
        .await
        .context("installing the engineering views")?;
    let log = coordinator.log();
    let mut session = coordinator.session();

    eprintln!(
        "loading {} boards, {} work items, {} status changes, {} pull requests",
        spec.boards, spec.work_items, spec.status_changes, spec.pull_requests
    );
    let load_started = Instant::now();
    let producer = {
        let (log, org, batch) = (log.clone(), org.clone(), settings.batch);
        std::thread::spawn(move || -> anyhow::Result<(Stats, Duration)> {
            let started = Instant::now();
            let stats = produce(log.as_ref(), &org, batch)?;
            Ok((stats, started.elapsed()))
        })
    };
    caught_up(&mut session, &topics::ALL, &ENGINEERING_VIEWS, || {
        producer.is_finished()
    })
    .await?;
    let load = load_started.elapsed();
    let peak_rss_mib = peak_rss_mib();
    let (stats, publish_time) = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    eprintln!(
        "loaded {} records in {:.1} s; checking counts",
        stats.total_records(),
        load.as_secs_f64()
    );

    // Every source holds what was published to it.
    for topic in topics::ALL {
        let published = stats.records.get(topic).copied().unwrap_or(0);
        let held = count(&mut session, relation(topic)).await?;
        if held != published as i64 {
            let status = rows(
                &mut session,
                &format!(
                    "SELECT \"offset\", end_offset, records, errors, status FROM vigil_sources \
                     WHERE topic = '{topic}'"
                ),
            )
            .await?;
            let errors = rows(
                &mut session,
                &format!(
                    "SELECT message FROM vigil_source_errors WHERE source = '{}' LIMIT 3",
                    relation(topic)
                ),
            )
            .await?;
            bail!(
                "{topic}: {published} records published, {held} rows read: the caught-up \
                 rule failed (source: {status:?}, decode errors: {errors:?})"
            );
        }
    }
    let mut view_rows = BTreeMap::new();
    for view in ENGINEERING_VIEWS {
        view_rows.insert(view.to_string(), count(&mut session, view).await?);
    }
    let failing = rows(
        &mut session,
        "SELECT rule_id, count(*) FROM validation_results GROUP BY rule_id",
    )
    .await?;
    let got: BTreeMap<String, i64> = failing
        .iter()
        .filter_map(|r| match (r.first(), integer(r.get(1))) {
            (Some(Datum::Text(rule)), Some(n)) => Some((rule.clone(), n)),
            _ => None,
        })
        .collect();
    let rule_failures: BTreeMap<String, (u64, i64)> = RULES
        .iter()
        .map(|rule| {
            let expected = stats.rule_failures.get(rule).copied().unwrap_or(0);
            (
                rule.to_string(),
                (expected, got.get(*rule).copied().unwrap_or(0)),
            )
        })
        .collect();
    let open_blocked = (
        stats.open_blocked_items,
        view_rows.get("blocked_items").copied().unwrap_or(0),
    );
    let counts_match = rule_failures.values().all(|(e, g)| *e as i64 == *g)
        && open_blocked.0 as i64 == open_blocked.1;
    if !counts_match {
        eprintln!(
            "counts differ from the generator's: {rule_failures:?}, blocked {open_blocked:?}"
        );
    }

    let lag = rows(&mut session, "SELECT max(lag_ms) FROM vigil_frontiers").await?;
    let frontier_lag_ms = integer(lag.first().and_then(|r| r.first())).unwrap_or(0);
    eprintln!(
        "timing {} probes (views {frontier_lag_ms} ms behind the wall clock)",
        settings.probes
    );
    let mut followed = follow(&coordinator).await?;
    let items = org.probe_items(settings.probes.div_ceil(4).max(1));
    if items.is_empty() {
        bail!("no item in progress to probe");
    }
    let mut states: Vec<WorkItem> = items
        .iter()
        .map(|&i| org.work_item(i))
        .collect::<Result<_, _>>()?;
    let mut latencies = Vec::with_capacity(settings.probes);
    let mut per_view: Vec<Vec<Duration>> = vec![Vec::new(); ENGINEERING_VIEWS.len()];
    let mut changed = 0usize;
    for k in 0..settings.probes {
        let item = &mut states[(k / 4) % items.len()];
        let probe = probe(&org, item, k, wall_ms());
        let (each, views) = time_probe(log.as_ref(), &mut followed, probe).await?;
        latencies.push(each.iter().max().copied().unwrap_or_default());
        for (view, latency) in per_view.iter_mut().zip(each) {
            view.push(latency);
        }
        changed += views;
        tokio::time::sleep(settings.spacing).await;
    }
    for task in &followed.tasks {
        task.abort();
    }
    eprintln!("recomputing every engineering view with DataFusion");
    let datafusion_recompute_ms_p50 = datafusion_recompute_ms(&mut session).await?;
    eprintln!("followed: {}", followed.names.join(", "));

    let ms_of = |samples: &[Duration], q: f64| {
        if samples.is_empty() {
            0.0
        } else {
            quantile(samples, q).as_secs_f64() * 1e3
        }
    };
    let ms = |q: f64| ms_of(&latencies, q);
    let view_probe_ms = ENGINEERING_VIEWS
        .iter()
        .zip(&per_view)
        .map(|(view, samples)| {
            (
                view.to_string(),
                (ms_of(samples, 0.5), ms_of(samples, 0.99)),
            )
        })
        .collect();
    let records = stats.total_records();
    Ok(Report {
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        scale: settings.scale,
        workers: settings.workers,
        boards: spec.boards,
        work_items: spec.work_items,
        status_changes: spec.status_changes,
        pull_requests: spec.pull_requests,
        records,
        records_by_topic: stats
            .records
            .iter()
            .map(|(t, n)| (t.to_string(), *n))
            .collect(),
        publish_seconds: publish_time.as_secs_f64(),
        load_seconds: load.as_secs_f64(),
        records_per_second: records as f64 / load.as_secs_f64(),
        peak_rss_mib,
        view_rows,
        rule_failures,
        open_blocked_items: open_blocked,
        counts_match,
        frontier_lag_ms,
        probes: settings.probes,
        probe_ms_p50: ms(0.5),
        probe_ms_p99: ms(0.99),
        probe_ms_max: ms(1.0),
        datafusion_recompute_ms_p50,
        views_changed_per_probe: changed as f64 / settings.probes.max(1) as f64,
        view_probe_ms,
    })
}

/// Every engineering materialized view recomputed from its inputs with DataFusion, in
/// creation order: the full-recompute baseline beside the incremental figure (ms,
/// median of three).
async fn datafusion_recompute_ms(session: &mut Session) -> anyhow::Result<f64> {
    let builtins = vigil_views::install::engineering().context("the engineering built-ins")?;
    let samples = crate::baseline::datafusion_recompute(session, &builtins, 3).await?;
    Ok(quantile(&samples, 0.5).as_secs_f64() * 1e3)
}

/// The report as the table the harness prints.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "eng-org: {boards} boards, {items} work items, {changes} status changes, {prs} PRs \
         ({records} records), {workers} workers, {build} build\n\
         | figure | value |\n\
         |---|---|\n\
         | publish alone (generate + durable publish) | {publish:.1} s |\n\
         | load from empty, every view current | {load:.1} s |\n\
         | records/s | {rate:.0} |\n\
         | peak RSS after load | {rss:.0} MiB |\n\
         | change to every view current, p50 | {p50:.1} ms |\n\
         | change to every view current, p99 | {p99:.1} ms |\n\
         | change to every view current, max | {max:.1} ms |\n\
         | views changed per probe (mean) | {views:.1} |\n\
         | counts match the generator | {ok} |\n\
         | DataFusion recompute of every view, p50 | {recompute:.1} ms |\n",
        boards = report.boards,
        items = report.work_items,
        changes = report.status_changes,
        prs = report.pull_requests,
        records = report.records,
        workers = report.workers,
        build = report.build,
        publish = report.publish_seconds,
        load = report.load_seconds,
        rate = report.records_per_second,
        rss = report.peak_rss_mib,
        p50 = report.probe_ms_p50,
        p99 = report.probe_ms_p99,
        max = report.probe_ms_max,
        views = report.views_changed_per_probe,
        ok = report.counts_match,
        recompute = report.datafusion_recompute_ms_p50,
    );
    out.push_str("| view | current after a change, p50 (ms) | p99 (ms) |\n|---|---|---|\n");
    for (view, (p50, p99)) in &report.view_probe_ms {
        out.push_str(&format!("| {view} | {p50:.1} | {p99:.1} |\n"));
    }
    out.push_str("| rule | generated | validation_results |\n|---|---|---|\n");
    for (rule, (expected, got)) in &report.rule_failures {
        out.push_str(&format!("| {rule} | {expected} | {got} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eng_org_small_load_matches_the_generator_and_probes_arrive() {
        let report = run(&Settings {
            scale: 0.001,
            seed: 7,
            workers: 2,
            batch: 500,
            probes: 8,
            spacing: Duration::from_millis(5),
        })
        .await
        .unwrap();
        assert_eq!(report.work_items, 200);
        assert_eq!(report.records_by_topic["eng.status_changes"], 2_000);
        assert!(report.counts_match, "{}", table(&report));
        assert_eq!(report.probes, 8);
        assert!(report.probe_ms_p50 > 0.0);
        // Blocking an item in progress changes at least blocked_items.
        assert!(report.views_changed_per_probe >= 1.0, "{}", table(&report));
        assert!(report.datafusion_recompute_ms_p50 > 0.0);
    }
}
