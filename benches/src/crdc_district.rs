//! A synthetic CRDC district (250,000 students at full size) through every CRDC
//! view: the nightly batch job's workload, done once and then kept current.
//!
//! Opens a [`Coordinator`] on a fresh data directory (embedded change log; a manual
//! clock at 2026-03-02 09:00 UTC, inside the 2025-26 school year and after every
//! generated date, where the generator's error counts hold; the engine still
//! advances whenever sources read), installs the built-in views
//! ([`vigil_views::install`]), then:
//!
//! 1. **load and validate from empty**: one producer thread generates the district
//!    ([`vigil_fixtures::generate::crdc`]) and publishes it to the `crdc.*` topics in
//!    durable batches while the sources read them. The clock runs from the first
//!    publish until every source has read its topic to the end and every CRDC view
//!    (`crdc_rule_results`, `crdc_school_counts`, `readiness`, …) is current
//!    ([`vigil_sql::Session::await_current`]). Records per second is every record
//!    published over that time; peak RSS (`VmHWM`) is read right then.
//! 2. **check**: each source holds exactly the records published to it, and
//!    `crdc_rule_results` holds exactly the failures the generator counted per rule;
//!    a mismatch is reported, not hidden.
//! 3. **probes**: `SUBSCRIBE readiness` (no snapshot) and `students` (the marker that
//!    tells at which time a change landed). Each probe publishes ONE student record
//!    (a student enrolled on October 1 loses its race, or gets it back: rule ENR-004,
//!    so its school's enrollment readiness moves) and is timed from before the
//!    publish until `readiness` has reported progress past the time the change
//!    landed at, which is when readiness has delivered its update. Probes are spaced
//!    apart so they measure latency, not queueing.
//! 4. **full recompute**: every CRDC materialized view's query run ad hoc with
//!    DataFusion, in creation order (the baseline the incremental figure is compared
//!    with; `benches/src/baseline.rs` has PostgreSQL's).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::mpsc;
use vigil_changelog::ChangeLog;
use vigil_engine::repr::Datum;
use vigil_fixtures::generate::Batch;
use vigil_fixtures::generate::crdc::{District, DistrictSpec, RULES, Stats, Student, topics};
use vigil_sql::{
    ClockMode, Config, Coordinator, Session, SubscribeEvent, SubscribeOptions, SubscribeTarget,
};
use vigil_views::CRDC_VIEWS;

use crate::harness::{caught_up, count, integer, peak_rss_mib, publish, rows};
use crate::quantile;

/// Monday 2026-03-02 09:00:00 UTC.
const START_MS: u64 = 1_772_442_000_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub students: usize,
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
    pub workers: usize,
    pub students: usize,
    pub schools: usize,
    pub seed: u64,
    /// Every record published, all topics.
    pub records: u64,
    pub records_by_topic: BTreeMap<String, u64>,
    /// Generating and publishing alone (the producer thread).
    pub publish_seconds: f64,
    /// From the first publish until every source is read and every CRDC view current.
    pub load_seconds: f64,
    pub records_per_second: f64,
    /// `VmHWM` right after the load.
    pub peak_rss_mib: f64,
    /// Rows per CRDC view after the load.
    pub view_rows: BTreeMap<String, i64>,
    /// Per rule: (failures the generator injected, rows in crdc_rule_results).
    pub rule_failures: BTreeMap<String, (u64, i64)>,
    /// Whether every count above matched.
    pub counts_match: bool,
    pub probes: usize,
    /// From publishing one student change to readiness current through it.
    pub probe_ms_p50: f64,
    pub probe_ms_p99: f64,
    pub probe_ms_max: f64,
    /// Every materialized view of the domain recomputed from its inputs by DataFusion
    /// (each view's query run ad hoc, in creation order), median of three.
    pub datafusion_recompute_ms_p50: f64,
    /// Probes whose change showed up as an update of readiness.
    pub readiness_updated: usize,
}

/// Generates and publishes the whole district; what it published.
fn produce(log: &dyn ChangeLog, district: &District, batch: usize) -> anyhow::Result<Stats> {
    let mut batches = district.batches(batch);
    for Batch { topic, records } in batches.by_ref() {
        publish(log, topic, &records)?;
    }
    Ok(batches.stats().clone())
}

/// One subscription's event, as it arrived.
struct Arrival {
    /// 0: readiness, 1: students.
    subscription: usize,
    event: SubscribeEvent,
    at: Instant,
}

struct Followed {
    /// The `student_id` column of `students`.
    student_column: usize,
    arrivals: mpsc::UnboundedReceiver<anyhow::Result<Arrival>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

const READINESS: usize = 0;
const STUDENTS: usize = 1;

async fn follow(coordinator: &Coordinator) -> anyhow::Result<Followed> {
    let (sender, arrivals) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let mut student_column = None;
    for (index, name) in ["readiness", "students"].into_iter().enumerate() {
        let options = SubscribeOptions {
            snapshot: false,
            progress: true,
            as_of: None,
        };
        let target = SubscribeTarget::Relation(name.to_string());
        let subscribed = coordinator.subscribe(target, options).await;
        let mut subscription = subscribed.with_context(|| format!("SUBSCRIBE {name}"))?;
        if index == STUDENTS {
            student_column = subscription
                .desc()
                .columns
                .iter()
                .position(|c| c.name == "student_id");
        }
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
        student_column: student_column.context("students has no student_id column")?,
        arrivals,
        tasks,
    };
    settle(coordinator, &mut followed).await?;
    Ok(followed)
}

/// Waits until both subscriptions have reported progress past their start: a change
/// published before that could be stamped before a new subscription's first time.
/// The manual clock moves only with input, so it is nudged a millisecond at a time
/// (far from any date the counts depend on).
async fn settle(coordinator: &Coordinator, followed: &mut Followed) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut session = coordinator.session();
    let mut progressed = [false; 2];
    while progressed.contains(&false) {
        rows_or_command(&mut session, "ADVANCE CLOCK BY '1 millisecond'").await?;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        if left.is_zero() {
            bail!("subscriptions reported no progress within 60 s: {progressed:?}");
        }
        match tokio::time::timeout(left, followed.arrivals.recv()).await {
            Ok(Some(arrival)) => {
                let arrival = arrival?;
                if let SubscribeEvent::Progress(_) = arrival.event {
                    progressed[arrival.subscription] = true;
                }
            }
            Ok(None) => bail!("the subscriptions ended"),
            Err(_) => {}
        }
    }
    Ok(())
}

async fn rows_or_command(session: &mut Session, sql: &str) -> anyhow::Result<()> {
    match session.execute_batch(sql).await.pop() {
        Some(result) => result.map(|_| ()).with_context(|| sql.to_string()),
        None => bail!("no result for {sql}"),
    }
}

/// Publishes `student` and waits until readiness is current through the time it
/// landed at: the time from before the publish, and whether readiness changed.
async fn time_probe(
    log: &dyn ChangeLog,
    district: &District,
    followed: &mut Followed,
    student: &Student,
) -> anyhow::Result<(Duration, bool)> {
    let record = district.student_record(student);
    let started = Instant::now();
    publish(log, record.topic, &[(record.key, record.value)])?;
    let deadline = started + Duration::from_secs(60);
    let mut landed: Option<u64> = None;
    let mut progress: Vec<(u64, Instant)> = Vec::new();
    let mut updated: Vec<u64> = Vec::new();
    loop {
        if let Some(at) = landed
            && let Some((_, passed)) = progress.iter().find(|(t, _)| *t > at)
        {
            let changed = updated.contains(&at);
            return Ok((passed.saturating_duration_since(started), changed));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let arrival = match tokio::time::timeout(left, followed.arrivals.recv()).await {
            Ok(Some(arrival)) => arrival?,
            Ok(None) => bail!("the subscriptions ended"),
            Err(_) => bail!("probe not current in readiness within 60 s (landed at {landed:?})"),
        };
        match (arrival.event, arrival.subscription) {
            (SubscribeEvent::Progress(time), READINESS) => progress.push((time, arrival.at)),
            (SubscribeEvent::Updates { time, .. }, READINESS) => updated.push(time),
            (SubscribeEvent::Updates { time, updates }, _) => {
                let column = followed.student_column;
                let hit = updates.iter().any(|(row, _)| {
                    matches!(row.get(column), Some(Datum::Text(id)) if *id == student.student_id)
                });
                if hit {
                    landed = Some(time);
                }
            }
            (SubscribeEvent::Progress(_), _) => {}
        }
    }
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    let spec = DistrictSpec {
        students: settings.students,
        seed: settings.seed,
        ..DistrictSpec::default()
    };
    let district = District::new(spec.clone())?;

    let dir = tempfile::tempdir()?;
    let coordinator = Coordinator::open(Config {
        data_dir: dir.path().to_path_buf(),
        workers: settings.workers,
        log: None,
        clock: ClockMode::Manual {
            start: Some(START_MS),
        },
    })?;
    vigil_views::install(&coordinator)
        .await
        .context("installing the built-in views")?;
    let log = coordinator.log();
    let mut session = coordinator.session();

    eprintln!(
        "loading {} students in {} schools",
        spec.students,
        district.schools().len()
    );
    let load_started = Instant::now();
    let producer = {
        let (log, district, batch) = (log.clone(), district.clone(), settings.batch);
        std::thread::spawn(move || -> anyhow::Result<(Stats, Duration)> {
            let started = Instant::now();
            let stats = produce(log.as_ref(), &district, batch)?;
            Ok((stats, started.elapsed()))
        })
    };
    caught_up(&mut session, &topics::ALL, &CRDC_VIEWS, || {
        producer.is_finished()
    })
    .await?;
    let load = load_started.elapsed();
    let peak_rss_mib = peak_rss_mib();
    let (stats, publish_time) = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    eprintln!(
        "loaded and validated {} records in {:.1} s; checking counts",
        stats.total_records(),
        load.as_secs_f64()
    );

    for topic in topics::ALL {
        let published = stats.records.get(topic).copied().unwrap_or(0);
        let relation = topics::relation(topic);
        let held = count(&mut session, relation).await?;
        // The collections row is one key, whatever else holds it.
        if held != published as i64 {
            bail!(
                "{topic}: {published} records published, {held} rows read: the caught-up \
                 rule failed"
            );
        }
    }
    let mut view_rows = BTreeMap::new();
    for view in CRDC_VIEWS {
        view_rows.insert(view.to_string(), count(&mut session, view).await?);
    }
    let failing = rows(
        &mut session,
        "SELECT rule_id, count(*) FROM crdc_rule_results GROUP BY rule_id",
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
    let counts_match = rule_failures.values().all(|(e, g)| *e as i64 == *g);
    if !counts_match {
        eprintln!("counts differ from the generator's: {rule_failures:?}");
    }

    eprintln!("timing {} probes", settings.probes);
    let mut followed = follow(&coordinator).await?;
    let chosen = district.probe_students(settings.probes.div_ceil(2).max(1));
    if chosen.is_empty() {
        bail!("no student enrolled on October 1 to probe");
    }
    let mut students: Vec<Student> = chosen
        .iter()
        .map(|&i| district.student(i).map(|parts| parts.student))
        .collect::<Result<_, _>>()?;
    let mut latencies = Vec::with_capacity(settings.probes);
    let mut readiness_updated = 0;
    for k in 0..settings.probes {
        // Each student loses its race, then gets it back.
        let student = &mut students[(k / 2) % chosen.len()];
        student.toggle_race();
        let (latency, changed) =
            time_probe(log.as_ref(), &district, &mut followed, student).await?;
        latencies.push(latency);
        readiness_updated += usize::from(changed);
        tokio::time::sleep(settings.spacing).await;
    }
    for task in &followed.tasks {
        task.abort();
    }
    eprintln!("recomputing every CRDC view with DataFusion");
    let datafusion_recompute_ms_p50 = datafusion_recompute_ms(&mut session).await?;

    let ms = |q: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            quantile(&latencies, q).as_secs_f64() * 1e3
        }
    };
    let records = stats.total_records();
    Ok(Report {
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        workers: settings.workers,
        students: spec.students,
        schools: district.schools().len(),
        seed: spec.seed,
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
        counts_match,
        probes: settings.probes,
        probe_ms_p50: ms(0.5),
        probe_ms_p99: ms(0.99),
        probe_ms_max: ms(1.0),
        datafusion_recompute_ms_p50,
        readiness_updated,
    })
}

/// Every CRDC materialized view recomputed from its inputs with DataFusion, in
/// creation order: the full-recompute baseline beside the incremental figure (ms,
/// median of three).
async fn datafusion_recompute_ms(session: &mut Session) -> anyhow::Result<f64> {
    let builtins = vigil_views::install::crdc().context("the CRDC built-ins")?;
    let samples = crate::baseline::datafusion_recompute(session, &builtins, 3).await?;
    Ok(quantile(&samples, 0.5).as_secs_f64() * 1e3)
}

/// The report as the table the harness prints.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "crdc-district: {students} students, {schools} schools ({records} records), \
         {workers} workers, {build} build\n\
         | figure | value |\n\
         |---|---|\n\
         | publish alone (generate + durable publish) | {publish:.1} s |\n\
         | load and validate from empty, every view current | {load:.1} s |\n\
         | records/s | {rate:.0} |\n\
         | peak RSS after load | {rss:.0} MiB |\n\
         | one student changed to readiness current, p50 | {p50:.1} ms |\n\
         | one student changed to readiness current, p99 | {p99:.1} ms |\n\
         | one student changed to readiness current, max | {max:.1} ms |\n\
         | probes that updated readiness | {updated} of {probes} |\n\
         | counts match the generator | {ok} |\n\
         | DataFusion recompute of every view, p50 | {recompute:.1} ms |\n",
        students = report.students,
        schools = report.schools,
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
        updated = report.readiness_updated,
        probes = report.probes,
        ok = report.counts_match,
        recompute = report.datafusion_recompute_ms_p50,
    );
    out.push_str("| rule | generated | crdc_rule_results |\n|---|---|---|\n");
    for (rule, (expected, got)) in &report.rule_failures {
        out.push_str(&format!("| {rule} | {expected} | {got} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crdc_district_small_load_matches_the_generator_and_probes_update_readiness() {
        let report = run(&Settings {
            students: 1_500,
            seed: 7,
            workers: 2,
            batch: 500,
            probes: 6,
            spacing: Duration::from_millis(5),
        })
        .await
        .unwrap();
        assert_eq!(report.records_by_topic["crdc.students"], 1_500);
        assert!(report.counts_match, "{}", table(&report));
        assert_eq!(report.probes, 6);
        assert!(report.probe_ms_p50 > 0.0);
        // Dropping or restoring an enrolled student's race moves its school's
        // enrollment readiness every time.
        assert_eq!(report.readiness_updated, 6, "{}", table(&report));
        assert!(report.datafusion_recompute_ms_p50 > 0.0);
    }
}
