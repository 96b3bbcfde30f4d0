//! Vigil's SQL suite: every `tests/slt/*.slt` file runs against its own fresh
//! `vigil serve` (a new process, port and data directory per file), through
//! tokio-postgres simple queries, with the `sqllogictest` crate checking records.
//!
//! ```text
//! tests/slt/x.slt ──parse──▶ records ──Runner──▶ PgClient ──simple_query──▶ vigil serve
//!                                                (engine label `vigil`)       (fresh per file)
//! ```
//!
//! Values are compared as the text the server sent: `NULL` for SQL NULL and
//! `(empty)` for the empty string. Errors read `"{message} (SQLSTATE {code})"`
//! and carry their SQLSTATE, so a record can say `statement error (23505)`
//! (exact code) or `statement error 23505` (a regex over the message).
//!
//! Environment:
//! - `SLT_FILTER=substring`: only files whose name contains it (libtest filters
//!   after `--` work too).
//! - `SLT_WORKERS=N`: `--workers` for each server (default 2).
//! - `SLT_POSTGRES=conninfo`: run against PostgreSQL instead, to keep the expected
//!   results honest (see `scripts/slt-against-postgres.sh`). Each file gets a
//!   fresh database; the engine label is `postgres`; `CREATE MATERIALIZED VIEW`
//!   becomes `CREATE VIEW`, so PostgreSQL recomputes what Vigil maintains; records
//!   a Vigil-only statement (SHOW TABLES, SHOW CREATE VIEW, EXPLAIN, …) or a
//!   `# … vigil-only …` comment above them are skipped.
//! - `SLT_COMPLETE=1` (with `SLT_POSTGRES` only): rewrite the expected rows of
//!   every query from PostgreSQL's answers. Expected results come from
//!   PostgreSQL, never from Vigil.

mod common;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use common::VigilServer;
use sqllogictest::harness::{Arguments, Failed, Trial};
use sqllogictest::{
    AsyncDB, DBOutput, DefaultColumnType, QueryExpect, Record, RecordOutput, Runner,
};
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// A record that takes longer than this is reported and ends its file: the
/// server is stuck, and every later record would wait as long.
const RECORD_TIMEOUT: Duration = Duration::from_secs(60);

/// Failures printed in full per file; the rest are counted.
const FAILURES_SHOWN: usize = 10;

/// Statements PostgreSQL does not have, skipped when validating against it.
const VIGIL_ONLY_STATEMENTS: &[&[&str]] = &[
    &["show", "tables"],
    &["show", "views"],
    &["show", "materialized", "views"],
    &["show", "columns"],
    &["show", "create"],
    &["explain"],
];

/// Settings that make PostgreSQL print values the way Vigil's pgwire does.
const POSTGRES_SESSION_SETUP: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; \
     SET IntervalStyle = 'postgres'; SET extra_float_digits = 1";

/// Functions Vigil has (from DataFusion) that PostgreSQL lacks, defined in each
/// validation database with the meaning DataFusion gives them.
const POSTGRES_DATABASE_SETUP: &str = "
CREATE FUNCTION vigil_median_final(double precision[]) RETURNS double precision
    LANGUAGE sql IMMUTABLE
    AS 'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest($1) AS u(v)';
CREATE AGGREGATE median(double precision) (
    sfunc = array_append, stype = double precision[],
    finalfunc = vigil_median_final, initcond = '{}');
";

#[derive(Clone, Debug)]
enum Target {
    Vigil {
        workers: usize,
    },
    Postgres {
        admin_conninfo: String,
        complete: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Vigil,
    Postgres,
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::Vigil => "vigil",
            Engine::Postgres => "postgres",
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let target = match target_from_env() {
        Ok(target) => target,
        Err(e) => {
            eprintln!("sqllogictest: {e}");
            std::process::exit(2);
        }
    };
    let filter = std::env::var("SLT_FILTER").unwrap_or_default();
    let files = slt_files(&filter);
    if files.is_empty() {
        eprintln!("sqllogictest: no .slt file matches SLT_FILTER={filter:?}");
        std::process::exit(2);
    }
    let trials = files
        .into_iter()
        .map(|path| {
            let name = file_name(&path);
            let target = target.clone();
            Trial::test(name, move || run_file(&target, &path).map_err(Failed::from))
        })
        .collect();
    sqllogictest::harness::run(&args, trials).exit();
}

fn target_from_env() -> Result<Target, String> {
    let complete = std::env::var("SLT_COMPLETE").is_ok_and(|v| v == "1");
    if let Ok(admin_conninfo) = std::env::var("SLT_POSTGRES") {
        return Ok(Target::Postgres {
            admin_conninfo,
            complete,
        });
    }
    if complete {
        return Err(
            "SLT_COMPLETE=1 needs SLT_POSTGRES: expected results come from PostgreSQL".into(),
        );
    }
    let workers = match std::env::var("SLT_WORKERS") {
        Ok(w) => w
            .parse()
            .map_err(|_| format!("SLT_WORKERS={w:?} is not a number"))?,
        Err(_) => 2,
    };
    Ok(Target::Vigil { workers })
}

fn slt_files(filter: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| file_name(p).contains(filter))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

fn run_file(target: &Target, path: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("building the tokio runtime: {e}"))?;
    runtime.block_on(async {
        match target {
            Target::Vigil { workers } => {
                let mut server = VigilServer::start(*workers).map_err(|e| format!("{e:#}"))?;
                let conninfo = server.conninfo();
                let outcome = run_records(path, Engine::Vigil, &conninfo, Some(&mut server)).await;
                outcome.report(path, Engine::Vigil, || server.log_tail())
            }
            Target::Postgres {
                admin_conninfo,
                complete,
            } => {
                let conninfo = fresh_postgres_database(admin_conninfo, path).await?;
                let outcome = if *complete {
                    complete_file(path, &conninfo).await
                } else {
                    run_records(path, Engine::Postgres, &conninfo, None).await
                };
                outcome.report(path, Engine::Postgres, String::new)
            }
        }
    })
}

/// What running one file came to.
#[derive(Default)]
struct Outcome {
    ran: usize,
    skipped: usize,
    failures: Vec<String>,
    /// Why the file stopped before its end, if it did.
    aborted: Option<String>,
}

impl Outcome {
    fn report(
        self,
        path: &Path,
        engine: Engine,
        server_log: impl FnOnce() -> String,
    ) -> Result<(), String> {
        let name = file_name(path);
        let label = engine.label();
        if self.failures.is_empty() && self.aborted.is_none() {
            eprintln!(
                "[{label}] {name}: {} records passed, {} skipped",
                self.ran, self.skipped
            );
            return Ok(());
        }
        let mut message = format!(
            "[{label}] {}: {} of {} records failed, {} skipped\n\n",
            path.display(),
            self.failures.len(),
            self.ran,
            self.skipped
        );
        for failure in self.failures.iter().take(FAILURES_SHOWN) {
            message.push_str(failure);
            message.push('\n');
        }
        if self.failures.len() > FAILURES_SHOWN {
            message.push_str(&format!(
                "… and {} more failures\n",
                self.failures.len() - FAILURES_SHOWN
            ));
        }
        if let Some(reason) = &self.aborted {
            message.push_str(&format!("stopped early: {reason}\n"));
        }
        message.push_str(&server_log());
        Err(message)
    }
}

type PgRunner = Runner<PgClient, Box<dyn FnMut() -> ConnectFuture>>;
type ConnectFuture = std::pin::Pin<Box<dyn Future<Output = Result<PgClient, SqlFailure>>>>;

fn runner(engine: Engine, conninfo: &str) -> PgRunner {
    let conninfo = conninfo.to_string();
    let make: Box<dyn FnMut() -> ConnectFuture> = Box::new(move || {
        let conninfo = conninfo.clone();
        Box::pin(async move { PgClient::connect(&conninfo, engine).await })
    });
    Runner::new(make)
}

fn parse(path: &Path) -> Result<Vec<Record<DefaultColumnType>>, String> {
    sqllogictest::parse_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs every record of the file in order, going on after a failure so one run
/// shows every wrong answer.
async fn run_records(
    path: &Path,
    engine: Engine,
    conninfo: &str,
    mut server: Option<&mut VigilServer>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let records = match parse(path) {
        Ok(records) => records,
        Err(e) => {
            outcome.aborted = Some(e);
            return outcome;
        }
    };
    let mut runner = runner(engine, conninfo);
    let mut skips = VigilOnly::default();
    for record in records {
        let is_sql = matches!(record, Record::Statement { .. } | Record::Query { .. });
        if skips.skip(&record, engine) {
            outcome.skipped += 1;
            continue;
        }
        match tokio::time::timeout(RECORD_TIMEOUT, runner.run_async(record)).await {
            Ok(Ok(RecordOutput::Nothing)) if is_sql => outcome.skipped += 1,
            Ok(Ok(_)) => outcome.ran += usize::from(is_sql),
            Ok(Err(e)) => {
                outcome.ran += 1;
                outcome.failures.push(e.display(false).to_string());
                if let Some(status) = server.as_mut().and_then(|s| s.exit_status()) {
                    outcome.aborted = Some(format!("vigil serve exited with {status}"));
                    break;
                }
            }
            Err(_) => {
                outcome.ran += 1;
                outcome.aborted = Some(format!(
                    "a record took longer than {RECORD_TIMEOUT:?} (the last failure above, or the \
                     record after it)"
                ));
                break;
            }
        }
    }
    runner.shutdown_async().await;
    outcome
}

/// `SLT_COMPLETE=1`: runs the file against PostgreSQL and rewrites the expected
/// rows of each query with PostgreSQL's answer. Everything else (statements,
/// expected errors, comments, skipped records) is checked as usual and written back
/// unchanged.
async fn complete_file(path: &Path, conninfo: &str) -> Outcome {
    let mut outcome = Outcome::default();
    let records = match parse(path) {
        Ok(records) => records,
        Err(e) => {
            outcome.aborted = Some(e);
            return outcome;
        }
    };
    let mut runner = runner(Engine::Postgres, conninfo);
    let mut skips = VigilOnly::default();
    let mut text = Vec::new();
    for record in records {
        let record = if skips.skip(&record, Engine::Postgres) {
            outcome.skipped += 1;
            record
        } else {
            complete_record(&mut runner, record, &mut outcome).await
        };
        writeln!(text, "{record}").expect("writing to a Vec");
    }
    runner.shutdown_async().await;
    let text = String::from_utf8(text).expect("records are UTF-8");
    let text = format!("{}\n", text.trim_end_matches('\n'));
    if let Err(e) = std::fs::write(path, text) {
        outcome.aborted = Some(format!("writing {}: {e}", path.display()));
    }
    outcome
}

async fn complete_record(
    runner: &mut PgRunner,
    record: Record<DefaultColumnType>,
    outcome: &mut Outcome,
) -> Record<DefaultColumnType> {
    let is_sql = matches!(record, Record::Statement { .. } | Record::Query { .. });
    let Record::Query {
        loc,
        conditions,
        connection,
        sql,
        expected:
            QueryExpect::Results {
                types,
                sort_mode,
                result_mode,
                label,
                results,
            },
        retry,
    } = record
    else {
        match runner.run_async(record.clone()).await {
            Ok(RecordOutput::Nothing) if is_sql => outcome.skipped += 1,
            Ok(_) => outcome.ran += usize::from(is_sql),
            Err(e) => {
                outcome.ran += 1;
                outcome.failures.push(e.display(false).to_string());
            }
        }
        return record;
    };
    let query = Record::Query {
        loc: loc.clone(),
        conditions: conditions.clone(),
        connection: connection.clone(),
        sql: sql.clone(),
        expected: QueryExpect::Results {
            types: types.clone(),
            sort_mode,
            result_mode,
            label: label.clone(),
            results: Vec::new(),
        },
        retry: retry.clone(),
    };
    // A query that fails or is skipped keeps what the file said.
    let results = match runner.apply_record(query).await {
        RecordOutput::Query {
            rows, error: None, ..
        } => {
            outcome.ran += 1;
            rows.iter().map(|row| row.join(" ")).collect()
        }
        RecordOutput::Query { error: Some(e), .. } => {
            outcome.ran += 1;
            outcome
                .failures
                .push(format!("query failed: {e}\n[SQL] {sql}\nat {loc}\n"));
            results
        }
        _ => {
            outcome.skipped += 1;
            results
        }
    };
    Record::Query {
        loc,
        conditions,
        connection,
        sql,
        expected: QueryExpect::Results {
            types,
            sort_mode,
            result_mode,
            label,
            results,
        },
        retry,
    }
}

/// Decides which records PostgreSQL validation skips: Vigil-only statements and
/// records under a comment that says `vigil-only`. Conditions (`onlyif vigil`,
/// `skipif postgres`) are the runner's business.
#[derive(Default)]
struct VigilOnly {
    /// The comment right above the next record said `vigil-only`.
    marked: bool,
}

impl VigilOnly {
    fn skip(&mut self, record: &Record<DefaultColumnType>, engine: Engine) -> bool {
        match record {
            Record::Comment(lines) => {
                self.marked = lines.iter().any(|l| l.contains("vigil-only"));
                false
            }
            Record::Newline => {
                self.marked = false;
                false
            }
            Record::Statement { sql, .. } | Record::Query { sql, .. } => {
                let marked = std::mem::take(&mut self.marked);
                engine == Engine::Postgres && (marked || is_vigil_only_statement(sql))
            }
            _ => false,
        }
    }
}

fn is_vigil_only_statement(sql: &str) -> bool {
    VIGIL_ONLY_STATEMENTS
        .iter()
        .any(|words| strip_keywords(sql, words).is_some())
}

/// PostgreSQL's stand-in for a Vigil statement: a materialized view becomes a
/// plain view, which PostgreSQL recomputes on every read, so reading it gives
/// exactly what the maintained view must hold after each change.
fn translate_for_postgres(sql: &str) -> String {
    const TRANSLATIONS: &[(&[&str], &str)] = &[
        (&["create", "materialized", "view"], "CREATE VIEW"),
        (&["drop", "materialized", "view"], "DROP VIEW"),
    ];
    for (words, replacement) in TRANSLATIONS {
        if let Some(rest) = strip_keywords(sql, words) {
            return format!("{replacement} {rest}");
        }
    }
    sql.to_string()
}

/// The rest of `sql` after the keywords `words` (case-insensitive, separated by
/// whitespace), or `None` if it does not start with them.
fn strip_keywords<'a>(sql: &'a str, words: &[&str]) -> Option<&'a str> {
    let mut rest = sql.trim_start();
    for word in words {
        let head = rest.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word) {
            return None;
        }
        rest = &rest[word.len()..];
        if !(rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == ';')) {
            return None;
        }
        rest = rest.trim_start();
    }
    Some(rest)
}

/// A tokio-postgres connection as the sqllogictest runner sees it.
struct PgClient {
    client: tokio_postgres::Client,
    engine: Engine,
}

impl PgClient {
    async fn connect(conninfo: &str, engine: Engine) -> Result<PgClient, SqlFailure> {
        let (client, connection) = tokio_postgres::connect(conninfo, NoTls).await?;
        tokio::spawn(async move {
            // The connection ends when the client is dropped or the server goes
            // away; the next statement reports the latter.
            let _ = connection.await;
        });
        if engine == Engine::Postgres {
            client.batch_execute(POSTGRES_SESSION_SETUP).await?;
        }
        Ok(PgClient { client, engine })
    }
}

#[async_trait]
impl AsyncDB for PgClient {
    type Error = SqlFailure;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlFailure> {
        let sql = match self.engine {
            Engine::Vigil => sql.to_string(),
            Engine::Postgres => translate_for_postgres(sql),
        };
        let messages = self.client.simple_query(&sql).await?;
        let mut columns = None;
        let mut rows = Vec::new();
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(desc) => columns = Some(desc.len()),
                SimpleQueryMessage::Row(row) => {
                    rows.push((0..row.len()).map(|i| render_value(row.get(i))).collect())
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match columns {
            Some(n) => Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        self.engine.label()
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await
    }

    fn error_sql_state(err: &SqlFailure) -> Option<String> {
        err.code.clone()
    }
}

/// A value as the server sent it in text format, with the two values a
/// whitespace-separated result line could not otherwise show.
fn render_value(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_string(),
        Some("") => "(empty)".to_string(),
        Some(text) => text.to_string(),
    }
}

/// An error as a record sees it: the server's message and its SQLSTATE.
#[derive(Debug)]
struct SqlFailure {
    message: String,
    code: Option<String>,
}

impl fmt::Display for SqlFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (SQLSTATE {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SqlFailure {}

impl From<tokio_postgres::Error> for SqlFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => SqlFailure {
                message: db.message().to_string(),
                code: Some(db.code().code().to_string()),
            },
            None => {
                // Client-side failures (connection refused or closed) say more
                // through their source.
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    message.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                SqlFailure {
                    message,
                    code: None,
                }
            }
        }
    }
}

/// Creates an empty database for one file and returns how to reach it, so files
/// see no objects from each other, as they would with a fresh server.
async fn fresh_postgres_database(admin_conninfo: &str, path: &Path) -> Result<String, String> {
    let stem = path.file_stem().expect("file stem").to_string_lossy();
    let database: String = format!("slt_{stem}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let admin = PgClient::connect(admin_conninfo, Engine::Postgres)
        .await
        .map_err(|e| format!("connecting to PostgreSQL ({admin_conninfo}): {e}"))?;
    let recreate = format!("DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}");
    for statement in recreate.split("; ") {
        admin
            .client
            .batch_execute(statement)
            .await
            .map_err(|e| format!("{statement}: {}", SqlFailure::from(e)))?;
    }
    let conninfo = format!("{admin_conninfo} dbname={database}");
    let db = PgClient::connect(&conninfo, Engine::Postgres)
        .await
        .map_err(|e| format!("connecting to {database}: {e}"))?;
    db.client
        .batch_execute(POSTGRES_DATABASE_SETUP)
        .await
        .map_err(|e| format!("setting up {database}: {}", SqlFailure::from(e)))?;
    Ok(conninfo)
}
