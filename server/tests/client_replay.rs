//! Replays what real PostgreSQL clients send against a fresh `vigil serve`, one test
//! per client, so a failure names the client, the statement and its SQLSTATE.
//!
//! Each `tests/clients/captured/<client>.sql` is a statement log: psql, psycopg,
//! SQLAlchemy, asyncpg, pgjdbc and node-postgres captured from PostgreSQL's
//! `log_statement=all` by `scripts/client-tests.sh --against-postgres --capture`;
//! Metabase and Grafana, which cannot run here, written from their source. A file
//! is self-contained: it starts with the statements that create the schema it reads
//! (`tests/clients/schema.sql`). Its records keep the protocol the client used:
//!
//! ```text
//! -- replay: simple              one Query message (simple_query)
//! SELECT 1
//!
//! -- replay: extended            Parse/Bind/Execute (prepare + query_raw)
//! -- params: ["a", null]         bound in text format, as logged; NULL is null
//! SELECT $1
//! ```
//!
//! Lines starting with `--` before the first record are the file's header. A
//! relation OID appears as `{{oid:NAME}}` and is resolved on the server being
//! replayed against, since OIDs differ between servers.
//!
//! What the replay cannot reproduce: parameter types the client declared in Parse
//! (the server infers them here), and result formats (tokio-postgres asks for
//! binary results; pgjdbc, psycopg and node-postgres ask for text).
//!
//! `CLIENT_REPLAY_POSTGRES=conninfo` replays against PostgreSQL instead, each client
//! in a fresh database, to prove every file replays cleanly there (the script's
//! `--against-postgres` mode does this).

mod common;

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use common::VigilServer;
use futures::TryStreamExt;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Every capture, each with a test below.
const CLIENTS: &[&str] = &[
    "psql",
    "psycopg",
    "sqlalchemy",
    "asyncpg",
    "pgjdbc",
    "node-postgres",
    "metabase",
    "grafana",
];

/// One statement may take this long before the replay gives up on the server.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn psql() -> anyhow::Result<()> {
    replay_client("psql")
}

#[test]
fn psycopg() -> anyhow::Result<()> {
    replay_client("psycopg")
}

#[test]
fn sqlalchemy() -> anyhow::Result<()> {
    replay_client("sqlalchemy")
}

#[test]
fn asyncpg() -> anyhow::Result<()> {
    replay_client("asyncpg")
}

#[test]
fn pgjdbc() -> anyhow::Result<()> {
    replay_client("pgjdbc")
}

#[test]
fn node_postgres() -> anyhow::Result<()> {
    replay_client("node-postgres")
}

#[test]
fn metabase() -> anyhow::Result<()> {
    replay_client("metabase")
}

#[test]
fn grafana() -> anyhow::Result<()> {
    replay_client("grafana")
}

/// A capture without a test above would never be replayed.
#[test]
fn every_capture_has_a_test() -> anyhow::Result<()> {
    let mut found: Vec<String> = std::fs::read_dir(captured_dir())?
        .map(|entry| Ok(entry?.path()))
        .collect::<std::io::Result<Vec<PathBuf>>>()?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    found.sort();
    let mut expected: Vec<String> = CLIENTS.iter().map(|c| c.to_string()).collect();
    expected.sort();
    anyhow::ensure!(
        found == expected,
        "captures {found:?} differ from the clients with a test {expected:?}"
    );
    Ok(())
}

#[test]
fn parses_records_with_parameters_and_placeholders() -> anyhow::Result<()> {
    let text = "-- header\n-- more header\n\n-- replay: simple\n-- ping\n\n\
                -- replay: extended\n-- params: [\"a\", null]\nSELECT $1,\n  $2\n\n\
                -- replay: extended\nSELECT {{oid:t}}\n";
    let records = parse(text)?;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].protocol, Protocol::Simple);
    assert_eq!(records[0].sql, "-- ping");
    assert_eq!(
        records[1].protocol,
        Protocol::Extended(vec![Some("a".into()), None])
    );
    assert_eq!(records[1].sql, "SELECT $1,\n  $2");
    assert_eq!(records[1].line, 7);
    assert_eq!(records[2].protocol, Protocol::Extended(vec![]));
    assert_eq!(placeholders(&records[2].sql)?, vec!["t".to_owned()]);
    Ok(())
}

#[test]
fn rejects_text_outside_a_record() {
    let err = parse("-- header\nSELECT 1\n").expect_err("a statement before any record");
    assert!(err.to_string().contains("line 2"), "{err}");
}

// ---------------------------------------------------------------------------------
// Capture files

#[derive(Debug, PartialEq)]
enum Protocol {
    Simple,
    /// The bound parameters, `None` for NULL.
    Extended(Vec<Option<String>>),
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Simple => f.write_str("simple query"),
            Protocol::Extended(params) if params.is_empty() => f.write_str("extended query"),
            Protocol::Extended(params) => write!(f, "extended query with parameters {params:?}"),
        }
    }
}

#[derive(Debug)]
struct Record {
    /// 1-based line of the record's `-- replay:` header.
    line: usize,
    protocol: Protocol,
    sql: String,
}

fn captured_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/captured")
}

fn parse(text: &str) -> anyhow::Result<Vec<Record>> {
    let mut records: Vec<Record> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let finish = |records: &mut Vec<Record>, body: &mut Vec<&str>| {
        if let Some(record) = records.last_mut() {
            record.sql = body.join("\n").trim_matches('\n').to_owned();
        }
        body.clear();
    };
    while let Some((index, line)) = lines.next() {
        let Some(kind) = line.strip_prefix("-- replay: ") else {
            if records.is_empty() && !line.is_empty() && !line.starts_with("--") {
                bail!(
                    "line {}: text before the first `-- replay:` record",
                    index + 1
                );
            }
            if !records.is_empty() {
                body.push(line);
            }
            continue;
        };
        finish(&mut records, &mut body);
        let protocol = match kind {
            "simple" => Protocol::Simple,
            "extended" => {
                let params = match lines.peek() {
                    Some((_, next)) if next.starts_with("-- params: ") => {
                        let json = &next["-- params: ".len()..];
                        let params: Vec<Option<String>> = serde_json::from_str(json)
                            .with_context(|| format!("line {}: parameters", index + 2))?;
                        lines.next();
                        params
                    }
                    _ => Vec::new(),
                };
                Protocol::Extended(params)
            }
            other => bail!("line {}: unknown protocol {other:?}", index + 1),
        };
        records.push(Record {
            line: index + 1,
            protocol,
            sql: String::new(),
        });
    }
    finish(&mut records, &mut body);
    if let Some(empty) = records.iter().find(|r| r.sql.is_empty()) {
        bail!("line {}: a record without a statement", empty.line);
    }
    Ok(records)
}

/// The names in `{{oid:NAME}}` placeholders, in order of appearance.
fn placeholders(text: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{oid:") {
        let after = &rest[start + "{{oid:".len()..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow!("unterminated {{{{oid: placeholder in {text:?}"))?;
        names.push(after[..end].to_owned());
        rest = &after[end + 2..];
    }
    Ok(names)
}

// ---------------------------------------------------------------------------------
// Replay

/// A parameter sent in text format whatever type the server inferred for it, which
/// is what the logged value is: PostgreSQL's text form of the bound value.
#[derive(Debug)]
struct TextParam<'a>(Option<&'a str>);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// Where a replay runs: a fresh Vigil, or a fresh database on PostgreSQL.
enum Target {
    Vigil(VigilServer),
    Postgres { conninfo: String },
}

impl Target {
    fn log_tail(&self) -> String {
        match self {
            Target::Vigil(server) => server.log_tail(),
            Target::Postgres { .. } => String::new(),
        }
    }
}

fn replay_client(client: &str) -> anyhow::Result<()> {
    let path = captured_dir().join(format!("{client}.sql"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let records = parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let target = match std::env::var("CLIENT_REPLAY_POSTGRES") {
            Ok(admin) => Target::Postgres {
                conninfo: fresh_postgres_database(&admin, client).await?,
            },
            Err(_) => Target::Vigil(VigilServer::start(1)?),
        };
        let conninfo = match &target {
            Target::Vigil(server) => server.conninfo(),
            Target::Postgres { conninfo } => conninfo.clone(),
        };
        let (db, connection) = tokio_postgres::connect(&conninfo, NoTls)
            .await
            .with_context(|| format!("{client}: connecting with {conninfo}"))?;
        let connection = tokio::spawn(connection);
        let outcome = replay(&db, &records).await;
        drop(db);
        let _ = connection.await;
        outcome.map_err(|failure| {
            anyhow!(
                "{client}: {failure}\n(from {}:{})\n{}",
                path.display(),
                failure.line,
                target.log_tail()
            )
        })
    })
}

/// The first statement that failed, and how.
#[derive(Debug)]
struct Failure {
    index: usize,
    count: usize,
    line: usize,
    protocol: String,
    sql: String,
    error: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "statement {} of {} ({}) failed: {}\n{}",
            self.index + 1,
            self.count,
            self.protocol,
            self.error,
            self.sql
        )
    }
}

async fn replay(db: &Client, records: &[Record]) -> Result<(), Failure> {
    let mut oids = BTreeMap::new();
    for (index, record) in records.iter().enumerate() {
        let fail = |sql: &str, error: String| Failure {
            index,
            count: records.len(),
            line: record.line,
            protocol: record.protocol.to_string(),
            sql: sql.to_owned(),
            error,
        };
        let sql = resolve_oids(db, &record.sql, &mut oids)
            .await
            .map_err(|e| fail(&record.sql, e))?;
        let mut params = Vec::new();
        if let Protocol::Extended(logged) = &record.protocol {
            for param in logged {
                params.push(match param {
                    Some(p) => Some(
                        resolve_oids(db, p, &mut oids)
                            .await
                            .map_err(|e| fail(&sql, e))?,
                    ),
                    None => None,
                });
            }
        }
        let run = async {
            match &record.protocol {
                Protocol::Simple => db.simple_query(&sql).await.map(drop).map_err(describe),
                Protocol::Extended(_) => run_extended(db, &sql, &params).await,
            }
        };
        match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(fail(&sql, e)),
            Err(_) => {
                return Err(fail(
                    &sql,
                    format!("no answer within {STATEMENT_TIMEOUT:?}"),
                ));
            }
        }
    }
    Ok(())
}

async fn run_extended(db: &Client, sql: &str, params: &[Option<String>]) -> Result<(), String> {
    let statement = db
        .prepare(sql)
        .await
        .map_err(|e| format!("in Parse/Describe: {}", describe(e)))?;
    let rows = db
        .query_raw(&statement, params.iter().map(|p| TextParam(p.as_deref())))
        .await
        .map_err(|e| format!("in Bind/Execute: {}", describe(e)))?;
    futures::pin_mut!(rows);
    while rows
        .try_next()
        .await
        .map_err(|e| format!("reading rows: {}", describe(e)))?
        .is_some()
    {}
    Ok(())
}

/// `text` with each `{{oid:NAME}}` replaced by the OID of relation public.NAME on the
/// server at hand, looked up once per replay.
async fn resolve_oids(
    db: &Client,
    text: &str,
    oids: &mut BTreeMap<String, String>,
) -> Result<String, String> {
    let mut resolved = text.to_owned();
    for name in placeholders(text).map_err(|e| e.to_string())? {
        if !oids.contains_key(&name) {
            let lookup = format!(
                "SELECT c.oid FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relname = '{name}'"
            );
            let messages = db.simple_query(&lookup).await.map_err(|e| {
                format!(
                    "resolving {{{{oid:{name}}}}} with `{lookup}`: {}",
                    describe(e)
                )
            })?;
            let oid = messages
                .iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
                .ok_or_else(|| {
                    format!("resolving {{{{oid:{name}}}}}: no relation public.{name}")
                })?;
            oids.insert(name.clone(), oid);
        }
        resolved = resolved.replace(&format!("{{{{oid:{name}}}}}"), &oids[&name]);
    }
    Ok(resolved)
}

/// A driver error as `SQLSTATE code: message`, or the driver's own words when the
/// server sent no error (a closed connection, a protocol violation).
fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
        None => match e.source() {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// Creates an empty PostgreSQL database for one client and returns how to reach it.
async fn fresh_postgres_database(admin_conninfo: &str, client: &str) -> anyhow::Result<String> {
    let database = format!("replay_{}", client.replace('-', "_"));
    let (admin, connection) = tokio_postgres::connect(admin_conninfo, NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL ({admin_conninfo})"))?;
    tokio::spawn(connection);
    // Separate messages: DROP/CREATE DATABASE refuse to run in an implicit transaction.
    admin
        .simple_query(&format!("DROP DATABASE IF EXISTS {database}"))
        .await?;
    admin
        .simple_query(&format!("CREATE DATABASE {database}"))
        .await?;
    Ok(format!("{admin_conninfo} dbname={database}"))
}
