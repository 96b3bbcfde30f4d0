//! Baselines for Vigil's incremental figures: the same data and the same SQL in
//! PostgreSQL materialized views, refreshed after one changed row.
//!
//! ```text
//!  generator ─▶ Batch { topic, [(key, value)] } ─▶ COPY (csv) into a staging table ─▶ upsert into the source's table
//!  vigil_views::install::{crdc, engineering} ─▶ CREATE TABLE / VIEW / MATERIALIZED VIEW (translated where needed)
//!  one changed row ─▶ REFRESH MATERIALIZED VIEW, every view of the domain in creation order
//! ```
//!
//! Three scenarios, each in a fresh database of a throwaway cluster
//! ([`crate::postgres::Postgres`]):
//!
//! - **join-aggregate**: update-latency's `orders` and `customers` and its view
//!   (`customer_totals`); the change is `UPDATE orders SET amount = amount + 1 WHERE
//!   id = k`.
//! - **crdc-district**: crdc-district's district (same spec and seed) and every CRDC
//!   built-in; the change is one enrolled student losing or regaining its race, as
//!   crdc-district's probes do.
//! - **eng-org**: eng-org's organization and every engineering built-in; the change is
//!   eng-org's probe (one work item blocked, unblocked, done or reopened).
//!
//! Sources become tables ([`source_table`]): the column list and primary key of the
//! `CREATE SOURCE`, without its `FROM TOPIC` tail. A record is applied the way a
//! source applies it (upsert by key, last record of a key wins, a null value
//! deletes): each batch is de-duplicated by key, copied into a staging table as JSON
//! and upserted with `jsonb_populate_record`, so PostgreSQL decodes the same JSON
//! Vigil decodes. After the load the tables are `ANALYZE`d (what one does after a
//! bulk load) and the views are created; the load figure covers all of it.
//!
//! The view SQL is Vigil's dialect (DataFusion's); what PostgreSQL lacks is either
//! rewritten ([`to_postgres`]: `CREATE VIEW IF NOT EXISTS`, `CAST(… AS double)`,
//! chrono formats in `to_char`) or supplied by SQL functions in a `vigil_compat`
//! schema ([`COMPAT`]: `median`, `round(double precision, integer)`, `array_has`).
//! The CRDC views read `now()`; crdc-district runs them on a clock pinned at
//! 2026-03-02 09:00 UTC, so the CRDC database puts a `vigil_clock.now()` returning
//! that instant ahead of `pg_catalog` in the search path of the session that
//! creates the views (a view binds the function when it is created, so every
//! refresh sees the same instant). The engineering views run on the wall clock in
//! both systems.
//!
//! Each scenario checks that PostgreSQL computed the same answer: every table holds
//! what was generated for it, and the rule results hold exactly the failures the
//! generator counted per rule (the join's totals, for join-aggregate). A mismatch is
//! printed and recorded as `counts_match: false`, never hidden.
//!
//! A refresh is what a scheduled job must do for every view to be current after a
//! change: `REFRESH MATERIALIZED VIEW` of each materialized view of the domain, in
//! creation order (a view after those it reads). It is timed per view and in total.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use datafusion::sql::sqlparser::ast::TableConstraint;
use futures::SinkExt;
use serde::Serialize;
use tokio_postgres::Client;
use vigil_fixtures::generate::{Batch, Record};
use vigil_sql::Session;
use vigil_views::install::{Builtin, ObjectKind};

use crate::postgres::Postgres;
use crate::quantile;

/// The scenarios, by the names the flags and the JSON use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    JoinAggregate,
    CrdcDistrict,
    EngOrg,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::JoinAggregate,
        Scenario::CrdcDistrict,
        Scenario::EngOrg,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::JoinAggregate => "join-aggregate",
            Scenario::CrdcDistrict => "crdc-district",
            Scenario::EngOrg => "eng-org",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The database the scenario runs in.
    fn database(self) -> &'static str {
        match self {
            Scenario::JoinAggregate => "join_aggregate",
            Scenario::CrdcDistrict => "crdc_district",
            Scenario::EngOrg => "eng_org",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// crdc-district's students (seed 7, as crdc-district).
    pub students: usize,
    /// eng-org's scale (seed 1, as eng-org).
    pub scale: f64,
    /// join-aggregate's orders (customers are a tenth).
    pub orders: usize,
    /// Changes, each followed by a refresh of every view.
    pub refreshes: usize,
    pub only: Vec<Scenario>,
    /// The loopback port of the throwaway cluster.
    pub port: u16,
}

/// What a run measured: `benches/results/baselines.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub build: &'static str,
    pub postgres_version: String,
    pub scenarios: Vec<ScenarioReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: &'static str,
    pub rows_loaded: u64,
    /// COPY and upsert every record, ANALYZE, create every built-in.
    pub postgres_load_seconds: f64,
    pub refreshes: usize,
    /// One change, then every materialized view refreshed in creation order.
    pub postgres_refresh_ms_p50: f64,
    pub postgres_refresh_ms_p99: f64,
    /// The three views slowest to refresh, with their p50 in ms.
    pub slowest_views: Vec<(String, f64)>,
    pub counts_match: bool,
    /// (what was checked, expected, found) for the table; not in the JSON.
    #[serde(skip)]
    pub checks: Vec<(String, i64, i64)>,
    /// Materialized views refreshed each time.
    #[serde(skip)]
    pub views: usize,
}

/// A source as a PostgreSQL table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceTable {
    pub name: String,
    pub topic: String,
    /// `CREATE TABLE IF NOT EXISTS name (…, PRIMARY KEY (…))`.
    pub create: String,
    pub columns: Vec<String>,
    pub primary_key: Vec<String>,
}

/// `CREATE SOURCE … FROM TOPIC …` as the table it reads into: the same columns,
/// types and primary key.
pub fn source_table(builtin: &Builtin) -> anyhow::Result<SourceTable> {
    let source = vigil_sql::source::parse_create_source(&builtin.sql)
        .with_context(|| format!("built-in source {}", builtin.name))?;
    let columns: Vec<String> = source
        .table
        .columns
        .iter()
        .map(|c| c.name.value.clone())
        .collect();
    let primary_key: Vec<String> = source
        .table
        .constraints
        .iter()
        .find_map(|c| match c {
            TableConstraint::PrimaryKey(pk) => Some(
                pk.columns
                    .iter()
                    .map(|c| c.column.expr.to_string())
                    .collect(),
            ),
            _ => None,
        })
        .with_context(|| format!("built-in source {} has no primary key", builtin.name))?;
    Ok(SourceTable {
        name: builtin.name.clone(),
        topic: source.topic,
        create: source.table.to_string(),
        columns,
        primary_key,
    })
}

/// Vigil's SQL for a table, view or materialized view, as PostgreSQL takes it:
///
/// - `CREATE VIEW IF NOT EXISTS` → `CREATE VIEW` (PostgreSQL has no `IF NOT EXISTS`
///   for plain views; each database is fresh);
/// - `double` as a type → `double precision`;
/// - `to_char`'s chrono format `'%G-W%V'` (ISO year and week) → `'IYYY-"W"IW'`.
///
/// Everything else PostgreSQL lacks is a function of [`COMPAT`].
pub fn to_postgres(builtin: &Builtin) -> anyhow::Result<String> {
    let sql = match builtin.kind {
        ObjectKind::View => {
            replace_once_ci(&builtin.sql, "CREATE VIEW IF NOT EXISTS", "CREATE VIEW").with_context(
                || {
                    format!(
                        "built-in view {}: not CREATE VIEW IF NOT EXISTS",
                        builtin.name
                    )
                },
            )?
        }
        ObjectKind::Table | ObjectKind::MaterializedView => builtin.sql.clone(),
        ObjectKind::Source => source_table(builtin)?.create,
    };
    Ok(double_precision(&sql).replace("'%G-W%V'", "'IYYY-\"W\"IW'"))
}

/// The functions of DataFusion's dialect that the built-ins use and PostgreSQL lacks,
/// with DataFusion's meaning: `median` is the 0.5 continuous percentile ignoring
/// NULLs; `round(double precision, n)` rounds half away from zero, as PostgreSQL
/// rounds a numeric; `array_has(a, x)` is `x = ANY(a)`.
pub const COMPAT: &str = "\
CREATE SCHEMA vigil_compat;
CREATE FUNCTION vigil_compat.median_final(double precision[]) RETURNS double precision
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY v)
          FROM pg_catalog.unnest($1) AS v $$;
CREATE AGGREGATE vigil_compat.median(double precision) (
    SFUNC = pg_catalog.array_append, STYPE = double precision[],
    FINALFUNC = vigil_compat.median_final, INITCOND = '{}');
CREATE FUNCTION vigil_compat.round(double precision, integer) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT pg_catalog.round(CAST($1 AS numeric), $2) $$;
CREATE FUNCTION vigil_compat.array_has(anyarray, anyelement) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT $2 = ANY($1) $$;";

/// crdc-district's clock, 2026-03-02 09:00 UTC, as `now()` for the CRDC views.
pub const CRDC_CLOCK: &str = "\
CREATE SCHEMA vigil_clock;
CREATE FUNCTION vigil_clock.now() RETURNS timestamptz
    LANGUAGE sql STABLE
    AS $$ SELECT TIMESTAMPTZ '2026-03-02 09:00:00+00' $$;";

/// The text after `AS` of `CREATE MATERIALIZED VIEW IF NOT EXISTS name AS …`: the
/// query the view maintains.
pub fn view_body(sql: &str) -> Option<&str> {
    let mut rest = statement(sql);
    for expected in [
        "CREATE",
        "MATERIALIZED",
        "VIEW",
        "IF",
        "NOT",
        "EXISTS",
        "",
        "AS",
    ] {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        if !expected.is_empty() && !word.eq_ignore_ascii_case(expected) {
            return None;
        }
        rest = tail;
    }
    let body = rest.trim();
    (!body.is_empty()).then_some(body)
}

/// Times recomputing every materialized view of `builtins` from its inputs with
/// DataFusion: each view's query run ad hoc through `session` (over snapshots of
/// what it reads), in creation order; one sample is the sum over all views.
pub async fn datafusion_recompute(
    session: &mut Session,
    builtins: &[Builtin],
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut queries = Vec::new();
    for builtin in builtins {
        if builtin.kind == ObjectKind::MaterializedView {
            let body = view_body(&builtin.sql)
                .with_context(|| format!("{}: no query after AS", builtin.name))?;
            queries.push((builtin.name.as_str(), body));
        }
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        for (name, query) in &queries {
            crate::harness::rows(session, query)
                .await
                .with_context(|| format!("recomputing {name}"))?;
        }
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Runs the selected scenarios on one throwaway cluster, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    let postgres = Postgres::start(settings.port)?;
    eprintln!("{} on 127.0.0.1:{}", postgres.version(), postgres.port());
    let admin = postgres.client().await?;
    let mut scenarios = Vec::new();
    for scenario in Scenario::ALL {
        if !settings.only.contains(&scenario) {
            continue;
        }
        admin
            .batch_execute(&format!("CREATE DATABASE {}", scenario.database()))
            .await?;
        let client = postgres.client_to(scenario.database()).await?;
        eprintln!("{}: loading", scenario.name());
        let report = match scenario {
            Scenario::JoinAggregate => join_aggregate(&client, settings).await,
            Scenario::CrdcDistrict => crdc_district(&client, settings).await,
            Scenario::EngOrg => eng_org(&client, settings).await,
        }
        .with_context(|| scenario.name())?;
        let checked: Vec<String> = report
            .checks
            .iter()
            .map(|(what, expected, found)| format!("{what} {expected}/{found}"))
            .collect();
        eprintln!(
            "{}: checked (generated/PostgreSQL): {}",
            scenario.name(),
            checked.join(", ")
        );
        if !report.counts_match {
            eprintln!(
                "{}: PostgreSQL's answer differs from the generator's: {:?}",
                scenario.name(),
                report
                    .checks
                    .iter()
                    .filter(|(_, e, g)| e != g)
                    .collect::<Vec<_>>()
            );
        }
        scenarios.push(report);
    }
    Ok(Report {
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        postgres_version: postgres.version().to_string(),
        scenarios,
    })
}

async fn join_aggregate(client: &Client, settings: &Settings) -> anyhow::Result<ScenarioReport> {
    use crate::update_latency::{Rng, VIEW, generate};

    let data = generate(settings.orders);
    client
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL);
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount int NOT NULL)",
        )
        .await?;
    let started = Instant::now();
    let csv: String = data
        .customers
        .iter()
        .map(|(id, region)| format!("{id},{region}\n"))
        .collect();
    copy_csv(client, "COPY customers FROM STDIN (FORMAT csv)", csv).await?;
    let csv: String = data
        .orders
        .iter()
        .map(|(id, customer, amount)| format!("{id},{customer},{amount}\n"))
        .collect();
    copy_csv(client, "COPY orders FROM STDIN (FORMAT csv)", csv).await?;
    client.batch_execute("ANALYZE").await?;
    client
        .batch_execute(&format!(
            "CREATE MATERIALIZED VIEW customer_totals AS {VIEW}"
        ))
        .await?;
    let load = started.elapsed();

    // The view's answer, worked out here from the generated rows.
    let mut per_customer: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, customer, amount) in &data.orders {
        *per_customer.entry(*customer).or_default() += i64::from(*amount);
    }
    let row = client
        .query_one(
            "SELECT count(*), CAST(sum(orders) AS bigint), CAST(sum(total) AS bigint) \
             FROM customer_totals",
            &[],
        )
        .await?;
    let checks = vec![
        (
            "customer_totals rows".to_string(),
            per_customer.len() as i64,
            row.try_get::<_, i64>(0)?,
        ),
        (
            "sum(orders)".to_string(),
            data.orders.len() as i64,
            row.try_get::<_, Option<i64>>(1)?.unwrap_or(0),
        ),
        (
            "sum(total)".to_string(),
            per_customer.values().sum(),
            row.try_get::<_, Option<i64>>(2)?.unwrap_or(0),
        ),
    ];

    let views = vec!["customer_totals".to_string()];
    let mut rng = Rng(11);
    let times = refresh_after_each(client, &BTreeMap::new(), &views, settings.refreshes, |_| {
        let id = rng.below(data.orders.len());
        Change::Statement(format!(
            "UPDATE orders SET amount = amount + 1 WHERE id = {id}"
        ))
    })
    .await?;
    Ok(scenario_report(
        Scenario::JoinAggregate,
        (data.orders.len() + data.customers.len()) as u64,
        load,
        checks,
        &views,
        &times,
    ))
}

async fn crdc_district(client: &Client, settings: &Settings) -> anyhow::Result<ScenarioReport> {
    use vigil_fixtures::generate::crdc::{District, DistrictSpec, RULES, Student};

    let spec = DistrictSpec {
        students: settings.students,
        seed: 7,
        ..DistrictSpec::default()
    };
    let district = District::new(spec)?;
    let builtins = vigil_views::install::crdc()?;
    client.batch_execute(COMPAT).await?;
    client.batch_execute(CRDC_CLOCK).await?;
    client
        .batch_execute("SET search_path = public, vigil_clock, vigil_compat, pg_catalog")
        .await?;

    let mut batches = district.batches(LOAD_BATCH);
    let (tables, views, load) = load_domain(client, &builtins, batches.by_ref()).await?;
    let stats = batches.stats().clone();
    let mut checks = table_checks(client, &tables, &stats.records).await?;
    checks.extend(rule_checks(client, "crdc_rule_results", &RULES, &stats.rule_failures).await?);

    // As crdc-district's probes: each chosen student loses its race, then gets it back.
    let chosen = district.probe_students(settings.refreshes.div_ceil(2).max(1));
    if chosen.is_empty() {
        bail!("no student enrolled on October 1 to change");
    }
    let mut students: Vec<Student> = chosen
        .iter()
        .map(|&i| district.student(i).map(|parts| parts.student))
        .collect::<Result<_, _>>()?;
    let times = refresh_after_each(client, &tables, &views, settings.refreshes, |k| {
        let student = &mut students[(k / 2) % chosen.len()];
        student.toggle_race();
        Change::Records(vec![district.student_record(student)])
    })
    .await?;
    Ok(scenario_report(
        Scenario::CrdcDistrict,
        stats.total_records(),
        load,
        checks,
        &views,
        &times,
    ))
}

async fn eng_org(client: &Client, settings: &Settings) -> anyhow::Result<ScenarioReport> {
    use vigil_fixtures::generate::engineering::{Org, OrgSpec, RULES, WorkItem};

    use crate::eng_org::{probe, wall_ms};

    // eng-org's organization: its seed, and the wall clock as its present.
    let spec = OrgSpec {
        seed: 1,
        now_ms: wall_ms(),
        ..OrgSpec::default()
    }
    .scaled(settings.scale);
    let org = Org::new(spec)?;
    let builtins = vigil_views::install::engineering()?;
    client.batch_execute(COMPAT).await?;
    client
        .batch_execute("SET search_path = public, vigil_compat, pg_catalog")
        .await?;

    let mut batches = org.batches(LOAD_BATCH);
    let (tables, views, load) = load_domain(client, &builtins, batches.by_ref()).await?;
    let stats = batches.stats().clone();
    let mut checks = table_checks(client, &tables, &stats.records).await?;
    checks.extend(rule_checks(client, "validation_results", &RULES, &stats.rule_failures).await?);
    let blocked = client
        .query_one("SELECT count(*) FROM blocked_items", &[])
        .await?
        .try_get::<_, i64>(0)?;
    checks.push((
        "blocked_items rows".into(),
        stats.open_blocked_items as i64,
        blocked,
    ));

    // As eng-org's probes: per item, blocked, unblocked, done, reopened in turn.
    let items = org.probe_items(settings.refreshes.div_ceil(4).max(1));
    if items.is_empty() {
        bail!("no item in progress to change");
    }
    let mut states: Vec<WorkItem> = items
        .iter()
        .map(|&i| org.work_item(i))
        .collect::<Result<_, _>>()?;
    let times = refresh_after_each(client, &tables, &views, settings.refreshes, |k| {
        let item = &mut states[(k / 4) % items.len()];
        Change::Records(probe(&org, item, k, wall_ms()).records)
    })
    .await?;
    Ok(scenario_report(
        Scenario::EngOrg,
        stats.total_records(),
        load,
        checks,
        &views,
        &times,
    ))
}

/// Records per generated batch while loading.
const LOAD_BATCH: usize = 50_000;

/// One change before a refresh.
enum Change {
    Statement(String),
    Records(Vec<Record>),
}

/// Makes `refreshes` changes; after each, refreshes every view of `views` in order.
/// Per refresh, the time of each view's refresh (in `views`' order).
async fn refresh_after_each(
    client: &Client,
    tables: &BTreeMap<String, SourceTable>,
    views: &[String],
    refreshes: usize,
    mut change: impl FnMut(usize) -> Change,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let mut times = Vec::with_capacity(refreshes);
    for k in 0..refreshes {
        match change(k) {
            Change::Statement(sql) => client.batch_execute(&sql).await?,
            Change::Records(records) => {
                for record in records {
                    let batch = Batch {
                        topic: record.topic,
                        records: vec![(record.key, record.value)],
                    };
                    apply(client, tables, &batch).await?;
                }
            }
        }
        let mut each = Vec::with_capacity(views.len());
        for view in views {
            let started = Instant::now();
            client
                .batch_execute(&format!("REFRESH MATERIALIZED VIEW {view}"))
                .await
                .with_context(|| format!("refreshing {view}"))?;
            each.push(started.elapsed());
        }
        times.push(each);
    }
    Ok(times)
}

fn scenario_report(
    scenario: Scenario,
    rows_loaded: u64,
    load: Duration,
    checks: Vec<(String, i64, i64)>,
    views: &[String],
    times: &[Vec<Duration>],
) -> ScenarioReport {
    let ms = |samples: &[Duration], q: f64| {
        if samples.is_empty() {
            0.0
        } else {
            quantile(samples, q).as_secs_f64() * 1e3
        }
    };
    let totals: Vec<Duration> = times.iter().map(|each| each.iter().sum()).collect();
    let mut per_view: Vec<(String, f64)> = views
        .iter()
        .enumerate()
        .map(|(i, view)| {
            let samples: Vec<Duration> = times
                .iter()
                .filter_map(|each| each.get(i))
                .copied()
                .collect();
            (view.clone(), ms(&samples, 0.5))
        })
        .collect();
    per_view.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    per_view.truncate(3);
    ScenarioReport {
        scenario: scenario.name(),
        rows_loaded,
        postgres_load_seconds: load.as_secs_f64(),
        refreshes: times.len(),
        postgres_refresh_ms_p50: ms(&totals, 0.5),
        postgres_refresh_ms_p99: ms(&totals, 0.99),
        slowest_views: per_view,
        counts_match: checks.iter().all(|(_, expected, found)| expected == found),
        checks,
        views: views.len(),
    }
}

async fn copy_csv(client: &Client, statement: &str, csv: String) -> anyhow::Result<u64> {
    let sink = client
        .copy_in::<_, std::io::Cursor<Vec<u8>>>(statement)
        .await?;
    let mut sink = std::pin::pin!(sink);
    sink.send(std::io::Cursor::new(csv.into_bytes())).await?;
    Ok(sink.as_mut().finish().await?)
}

/// Creates a table per source of `builtins`; the tables by topic.
async fn create_sources(
    client: &Client,
    builtins: &[Builtin],
) -> anyhow::Result<BTreeMap<String, SourceTable>> {
    client
        .batch_execute("CREATE TEMPORARY TABLE vigil_stage (k jsonb, v jsonb)")
        .await?;
    let mut tables = BTreeMap::new();
    for builtin in builtins.iter().filter(|b| b.kind == ObjectKind::Source) {
        let table = source_table(builtin)?;
        client
            .batch_execute(&table.create)
            .await
            .with_context(|| table.create.clone())?;
        tables.insert(table.topic.clone(), table);
    }
    Ok(tables)
}

/// Creates every built-in but the sources, in order; the materialized views' names.
async fn create_views(client: &Client, builtins: &[Builtin]) -> anyhow::Result<Vec<String>> {
    let mut views = Vec::new();
    for builtin in builtins.iter().filter(|b| b.kind != ObjectKind::Source) {
        let sql = to_postgres(builtin)?;
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| anyhow::anyhow!("{}", postgres_error(&e)))
            .with_context(|| {
                format!(
                    "PostgreSQL refused {} {}",
                    builtin.kind.as_str(),
                    builtin.name
                )
            })?;
        if builtin.kind == ObjectKind::MaterializedView {
            views.push(builtin.name.clone());
        }
    }
    Ok(views)
}

/// A PostgreSQL error with its detail and hint, which `Display` leaves out.
fn postgres_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {}{}{}",
            db.code().code(),
            db.message(),
            db.detail()
                .map(|d| format!(" (detail: {d})"))
                .unwrap_or_default(),
            db.hint()
                .map(|h| format!(" (hint: {h})"))
                .unwrap_or_default(),
        ),
        None => e.to_string(),
    }
}

/// Applies a batch of one topic as its source would: upsert by key, the last record
/// of a key wins, a null value deletes.
async fn apply(
    client: &Client,
    tables: &BTreeMap<String, SourceTable>,
    batch: &Batch,
) -> anyhow::Result<()> {
    let table = tables
        .get(batch.topic)
        .with_context(|| format!("no source reads topic {}", batch.topic))?;
    let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(batch.records.len());
    for (i, (key, _)) in batch.records.iter().enumerate() {
        last.insert(key, i);
    }
    let mut csv = Vec::with_capacity(
        batch
            .records
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum(),
    );
    let mut deletes = false;
    for (i, (key, value)) in batch.records.iter().enumerate() {
        if last.get(key.as_slice()) != Some(&i) {
            continue;
        }
        csv_field(&mut csv, key);
        csv.push(b',');
        if value.as_slice() == b"null" || value.is_empty() {
            deletes = true;
        } else {
            csv_field(&mut csv, value);
        }
        csv.push(b'\n');
    }
    client.batch_execute("TRUNCATE vigil_stage").await?;
    let sink = client
        .copy_in::<_, std::io::Cursor<Vec<u8>>>("COPY vigil_stage (k, v) FROM STDIN (FORMAT csv)")
        .await?;
    let mut sink = std::pin::pin!(sink);
    sink.send(std::io::Cursor::new(csv)).await?;
    sink.as_mut().finish().await?;
    if deletes {
        client
            .batch_execute(&delete_sql(table))
            .await
            .with_context(|| format!("deleting from {}", table.name))?;
    }
    client
        .batch_execute(&upsert_sql(table))
        .await
        .map_err(|e| anyhow::anyhow!("{}", postgres_error(&e)))
        .with_context(|| format!("upserting into {}", table.name))?;
    Ok(())
}

/// A CSV field in quotes (JSON holds commas and quotes).
fn csv_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

/// Upserts the staged rows with a value into `table`.
fn upsert_sql(table: &SourceTable) -> String {
    let key: Vec<String> = table.primary_key.iter().map(|c| quoted(c)).collect();
    let rest: Vec<&String> = table
        .columns
        .iter()
        .filter(|c| !table.primary_key.contains(c))
        .collect();
    let action = if rest.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let columns: Vec<String> = rest.iter().map(|c| quoted(c)).collect();
        let excluded: Vec<String> = rest
            .iter()
            .map(|c| format!("EXCLUDED.{}", quoted(c)))
            .collect();
        format!(
            "DO UPDATE SET ({}) = ROW({})",
            columns.join(", "),
            excluded.join(", ")
        )
    };
    format!(
        "INSERT INTO {name} SELECT r.* FROM vigil_stage s, jsonb_populate_record(NULL::{name}, s.v) AS r \
         WHERE s.v IS NOT NULL ON CONFLICT ({key}) {action}",
        name = table.name,
        key = key.join(", "),
    )
}

/// Deletes the rows of the staged keys without a value from `table`.
fn delete_sql(table: &SourceTable) -> String {
    let matches: Vec<String> = table
        .primary_key
        .iter()
        .map(|c| format!("d.{c} = r.{c}", c = quoted(c)))
        .collect();
    format!(
        "DELETE FROM {name} AS d USING vigil_stage s, jsonb_populate_record(NULL::{name}, s.k) AS r \
         WHERE s.v IS NULL AND {}",
        matches.join(" AND "),
        name = table.name,
    )
}

/// What a scheduled batch job does from empty: a table per source of `builtins`, the
/// generated `batches` loaded into them, then every view; the tables by topic, the
/// materialized views in creation order, and how long it all took.
async fn load_domain(
    client: &Client,
    builtins: &[Builtin],
    batches: impl Iterator<Item = Batch>,
) -> anyhow::Result<(BTreeMap<String, SourceTable>, Vec<String>, Duration)> {
    let started = Instant::now();
    let tables = create_sources(client, builtins).await?;
    for batch in batches {
        apply(client, &tables, &batch).await?;
    }
    client.batch_execute("ANALYZE").await?;
    let views = create_views(client, builtins).await?;
    Ok((tables, views, started.elapsed()))
}

/// Per rule, the failures the generator injected against the rows `view` holds.
async fn rule_checks(
    client: &Client,
    view: &str,
    rules: &[&str],
    injected: &BTreeMap<&'static str, u64>,
) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let failing = rule_counts(client, view).await?;
    Ok(rules
        .iter()
        .map(|rule| {
            let expected = injected.get(rule).copied().unwrap_or(0);
            let found = failing.get(*rule).copied().unwrap_or(0);
            (format!("{view} {rule}"), expected as i64, found)
        })
        .collect())
}

/// Every table holds what was generated for its topic.
async fn table_checks(
    client: &Client,
    tables: &BTreeMap<String, SourceTable>,
    generated: &BTreeMap<&'static str, u64>,
) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let mut checks = Vec::new();
    for (topic, records) in generated {
        let table = tables
            .get(*topic)
            .with_context(|| format!("no source reads topic {topic}"))?;
        let rows = client
            .query_one(&format!("SELECT count(*) FROM {}", table.name), &[])
            .await?
            .try_get::<_, i64>(0)?;
        checks.push((format!("{} rows", table.name), *records as i64, rows));
    }
    Ok(checks)
}

/// Rows per `rule_id` of a results view.
async fn rule_counts(client: &Client, view: &str) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = client
        .query(
            &format!("SELECT rule_id, count(*) FROM {view} GROUP BY rule_id"),
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get::<_, String>(0)?, row.try_get::<_, i64>(1)?)))
        .collect()
}

/// `sql` with the first occurrence of `from` (ASCII case-insensitive) after the
/// comments above the statement replaced.
fn replace_once_ci(sql: &str, from: &str, to: &str) -> Option<String> {
    let start = sql.len() - statement(sql).len();
    let at = start
        + sql[start..]
            .to_ascii_uppercase()
            .find(&from.to_ascii_uppercase())?;
    Some(format!("{}{to}{}", &sql[..at], &sql[at + from.len()..]))
}

/// `sql` from its first word, past the comments above it.
fn statement(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix("--") {
            Some(comment) => rest = comment.split_once('\n').map_or("", |(_, r)| r),
            None => return rest,
        }
    }
}

/// `double` as a type name → `double precision`, which is all PostgreSQL takes.
fn double_precision(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (at, word) in lower.match_indices("double") {
        let end = at + word.len();
        let alone = !lower[..at].ends_with(is_word) && !lower[end..].starts_with(is_word);
        if alone && !lower[end..].trim_start().starts_with("precision") {
            out.push_str(&sql[copied..end]);
            out.push_str(" precision");
            copied = end;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

/// The report as the table the harness prints.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "baselines: {}, {} build\n\
         | scenario | rows loaded | PostgreSQL load (s) | views | refreshes | refresh all, p50 (ms) | p99 (ms) | slowest views, p50 (ms) | counts match |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        report.postgres_version, report.build
    );
    for s in &report.scenarios {
        let slowest: Vec<String> = s
            .slowest_views
            .iter()
            .map(|(view, ms)| format!("{view} {ms:.1}"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {:.2} | {} | {} | {:.1} | {:.1} | {} | {} ({} of {} checks) |\n",
            s.scenario,
            s.rows_loaded,
            s.postgres_load_seconds,
            s.views,
            s.refreshes,
            s.postgres_refresh_ms_p50,
            s.postgres_refresh_ms_p99,
            slowest.join(", "),
            s.counts_match,
            s.checks.iter().filter(|(_, e, f)| e == f).count(),
            s.checks.len(),
        ));
    }
    for s in &report.scenarios {
        for (what, expected, found) in s.checks.iter().filter(|(_, e, f)| e != f) {
            out.push_str(&format!(
                "MISMATCH {}: {what}: generated {expected}, PostgreSQL {found}\n",
                s.scenario
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(kind: ObjectKind, name: &str, sql: &str) -> Builtin {
        Builtin {
            name: name.into(),
            kind,
            sql: sql.into(),
        }
    }

    #[test]
    fn a_source_becomes_a_table_with_its_columns_types_and_key() {
        let source = builtin(
            ObjectKind::Source,
            "students",
            "-- students (the roster)\n\
             CREATE SOURCE IF NOT EXISTS students (\n\
                 district_id text NOT NULL,\n\
                 student_id text NOT NULL, -- (not the SIS id)\n\
                 races text[],\n\
                 days numeric(5,1),\n\
                 PRIMARY KEY (district_id, student_id)\n\
             ) FROM TOPIC 'crdc.students' WITH (envelope = 'upsert')",
        );
        let table = source_table(&source).unwrap();
        assert_eq!(table.topic, "crdc.students");
        assert_eq!(
            table.columns,
            ["district_id", "student_id", "races", "days"]
        );
        assert_eq!(table.primary_key, ["district_id", "student_id"]);
        assert_eq!(
            table.create,
            "CREATE TABLE IF NOT EXISTS students (district_id TEXT NOT NULL, student_id TEXT \
             NOT NULL, races TEXT[], days NUMERIC(5,1), PRIMARY KEY (district_id, student_id))"
        );
        assert_eq!(to_postgres(&source).unwrap(), table.create);
    }

    #[test]
    fn every_builtin_source_has_a_key_and_a_table() {
        let mut builtins = vigil_views::install::engineering().unwrap();
        builtins.extend(vigil_views::install::crdc().unwrap());
        let sources: Vec<SourceTable> = builtins
            .iter()
            .filter(|b| b.kind == ObjectKind::Source)
            .map(|b| source_table(b).unwrap())
            .collect();
        assert_eq!(sources.len(), 20);
        for table in &sources {
            assert!(!table.primary_key.is_empty(), "{}", table.name);
            assert!(
                table.create.starts_with("CREATE TABLE IF NOT EXISTS"),
                "{}",
                table.create
            );
            assert!(!table.create.contains("TOPIC"), "{}", table.create);
        }
    }

    #[test]
    fn vigil_only_syntax_is_rewritten_for_postgres() {
        let view = builtin(
            ObjectKind::View,
            "v",
            "-- CREATE VIEW IF NOT EXISTS in a comment is left alone\n\
             create view if not exists v AS SELECT CAST(x AS double) AS d, \
             CAST(y AS DOUBLE PRECISION) AS e, doubled, to_char(w, '%G-W%V') FROM t",
        );
        assert_eq!(
            to_postgres(&view).unwrap(),
            "-- CREATE VIEW IF NOT EXISTS in a comment is left alone\n\
             CREATE VIEW v AS SELECT CAST(x AS double precision) AS d, \
             CAST(y AS DOUBLE PRECISION) AS e, doubled, to_char(w, 'IYYY-\"W\"IW') FROM t"
        );
        let table = builtin(
            ObjectKind::Table,
            "t",
            "CREATE TABLE IF NOT EXISTS t (a int)",
        );
        assert_eq!(
            to_postgres(&table).unwrap(),
            "CREATE TABLE IF NOT EXISTS t (a int)"
        );
    }

    #[test]
    fn no_builtin_keeps_a_chrono_format_or_a_bare_double() {
        let mut builtins = vigil_views::install::engineering().unwrap();
        builtins.extend(vigil_views::install::crdc().unwrap());
        for builtin in &builtins {
            let sql = to_postgres(builtin).unwrap();
            assert!(!sql.contains("'%"), "{}: {sql}", builtin.name);
            if builtin.kind == ObjectKind::View {
                assert!(!sql.to_uppercase().contains("VIEW IF NOT EXISTS"), "{sql}");
            }
        }
    }

    #[test]
    fn the_body_of_a_materialized_view_is_its_query() {
        assert_eq!(
            view_body(
                "-- a comment AS x\n-- another\nCREATE MATERIALIZED VIEW IF NOT EXISTS v AS\nSELECT 1 AS a"
            ),
            Some("SELECT 1 AS a")
        );
        assert_eq!(view_body("CREATE VIEW IF NOT EXISTS v AS SELECT 1"), None);
        assert_eq!(
            view_body("CREATE MATERIALIZED VIEW IF NOT EXISTS v (a) AS SELECT 1"),
            None
        );
        let builtins = vigil_views::install::crdc().unwrap();
        let readiness = builtins.iter().find(|b| b.name == "readiness").unwrap();
        assert!(
            view_body(&readiness.sql)
                .unwrap()
                .starts_with("WITH population AS (")
        );
    }
}
