//! The API the server drives: a [`Coordinator`] per process, a [`Session`] per
//! client connection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectType, Statement};
use vigil_changelog::ChangeLog;
use vigil_engine::repr::{Column, Datum, RelationDesc, Row, ScalarType};
use vigil_engine::{Diff, GlobalId, Time};

use crate::SqlError;
use crate::coord::{Inner, PendingCopy, Ticker, command, spawn_ticker, text_column, text_rows};
use crate::parse::{leading_words, parse_one, split_statements, trailing_name};
use crate::sink::{SinkCheck, SinkDef, SinkErrorLog, SinkProgress, SinkStatus};
use crate::subscribe::{
    Cursor, FetchCount, SubscribeOptions, SubscribeTarget, Subscription, parse_close,
    parse_copy_subscribe, parse_declare, parse_fetch, parse_subscribe,
};

/// How to open a [`Coordinator`].
#[derive(Clone)]
pub struct Config {
    /// Where the catalog and table contents are stored.
    pub data_dir: PathBuf,
    /// Timely worker threads.
    pub workers: usize,
    /// The change log sources read; `None` opens the embedded log in
    /// `data_dir/changelog`.
    pub log: Option<Arc<dyn ChangeLog>>,
    /// What drives the engine's timeline.
    pub clock: ClockMode,
}

/// What drives the engine's timeline (and `now()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    /// The wall clock, read by a ticker every 10 ms.
    #[default]
    Wall,
    /// A clock that moves only when told (`ADVANCE CLOCK`), for tests and demos. On
    /// a new data directory it starts at `start` (milliseconds since the Unix epoch;
    /// the wall clock's reading when `None`); after a restart, where it stood.
    Manual { start: Option<u64> },
}

/// The process-wide owner of the catalog, the storage and the dataflow engine.
/// Cheap to clone.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
    /// Stopped (and waited for) when the last handle is dropped.
    _ticker: Arc<Ticker>,
}

impl Coordinator {
    /// Opens (or creates) the data directory, replays the catalog and starts the engine.
    pub fn open(config: Config) -> Result<Coordinator, SqlError> {
        let inner = Inner::open(&config)?;
        let ticker = Arc::new(spawn_ticker(&inner));
        Ok(Coordinator {
            inner,
            _ticker: ticker,
        })
    }

    /// The change log that sources read, for publishing into it.
    pub fn log(&self) -> Arc<dyn ChangeLog> {
        self.inner.log()
    }

    /// Follows a relation's or a query's changes (see [`crate::subscribe`]); the
    /// HTTP change streams and the sinks read views through this.
    pub async fn subscribe(
        &self,
        target: SubscribeTarget,
        options: SubscribeOptions,
    ) -> Result<Subscription, SqlError> {
        self.inner.subscribe(target, options).await
    }

    /// Installs the check `CREATE SINK` runs on a sink's target and options.
    pub fn set_sink_check(&self, check: SinkCheck) {
        self.inner.set_sink_check(check);
    }

    /// Changes (to an opaque counter) whenever a sink is created or dropped.
    pub fn watch_sinks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.watch_sinks()
    }

    /// Every sink in the catalog.
    pub async fn sinks(&self) -> Vec<SinkDef> {
        self.inner.sinks().await
    }

    /// What sink `id` has delivered, as committed.
    pub fn sink_progress(&self, id: GlobalId) -> Result<SinkProgress, SqlError> {
        self.inner.sink_progress(id)
    }

    /// Records durably that sink `id` delivered `changes` (added to what it
    /// delivered before) and every change before `frontier`.
    pub fn commit_sink(
        &self,
        id: GlobalId,
        changes: Vec<(Row, Diff)>,
        frontier: Time,
    ) -> Result<(), SqlError> {
        self.inner.commit_sink(id, changes, frontier)
    }

    /// Sink `id`'s counters in `vigil_sinks`.
    pub fn sink_status(&self, id: GlobalId) -> Arc<SinkStatus> {
        self.inner.sink_status(id)
    }

    /// Where sinks record changes they gave up on (`vigil_sink_errors`).
    pub fn sink_errors(&self) -> SinkErrorLog {
        self.inner.sink_errors()
    }

    /// A new session for one client connection.
    pub fn session(&self) -> Session {
        Session {
            inner: self.inner.clone(),
            vars: default_vars(),
            pending_copy: None,
            cursors: BTreeMap::new(),
        }
    }
}

/// One client's session: its settings and a COPY in progress.
pub struct Session {
    inner: Arc<Inner>,
    vars: BTreeMap<String, String>,
    pending_copy: Option<PendingCopy>,
    /// `DECLARE … CURSOR FOR SUBSCRIBE`, by name.
    cursors: BTreeMap<String, Cursor>,
}

/// Settings every session starts with, as PostgreSQL 16 reports them.
pub(crate) fn default_vars() -> BTreeMap<String, String> {
    [
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("default_table_access_method", "heap"),
        ("default_transaction_read_only", "off"),
        ("default_transaction_isolation", "serializable"),
        ("extra_float_digits", "1"),
        ("integer_datetimes", "on"),
        ("intervalstyle", "postgres"),
        ("is_superuser", "on"),
        ("lc_collate", "C"),
        ("lc_ctype", "C"),
        ("max_identifier_length", "63"),
        ("search_path", "\"$user\", public"),
        ("server_encoding", "UTF8"),
        ("server_version", "16.4"),
        ("server_version_num", "160004"),
        ("standard_conforming_strings", "on"),
        ("timezone", "UTC"),
        ("transaction_read_only", "off"),
        ("transaction_isolation", "serializable"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What a statement answers.
#[derive(Debug)]
pub enum ExecuteResponse {
    /// A result set: SELECT, SHOW, EXPLAIN.
    Rows { desc: RelationDesc, rows: Vec<Row> },
    /// A completed command, reported by its tag.
    Command(CommandTag),
    /// `COPY table FROM STDIN`: the client now sends CSV data; hand it to
    /// [`Session::copy_in`] when the client says it is done.
    CopyIn { table: String, columns: Vec<Column> },
    /// An empty or comment-only query.
    EmptyQuery,
    /// `SUBSCRIBE` or `COPY (SUBSCRIBE …) TO STDOUT`: stream the subscription's
    /// [`Subscription::output_rows`] as `COPY … TO STDOUT` text, flushing each event,
    /// until the client goes away.
    Subscribe(Subscription),
}

/// The command tag of a completed statement, as PostgreSQL reports it
/// (`INSERT 0 3`, `CREATE TABLE`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandTag {
    pub command: String,
    /// Rows affected, for INSERT, UPDATE, DELETE, COPY and SELECT.
    pub rows: Option<u64>,
}

/// A statement parsed and described by [`Session::prepare`].
#[derive(Clone, Debug)]
pub struct Prepared {
    pub sql: String,
    /// One type per `$n` placeholder.
    pub param_types: Vec<ScalarType>,
    /// The result columns, if the statement returns rows.
    pub result: Option<RelationDesc>,
}

impl Session {
    /// Takes the user, database and application name the client gave at startup, so
    /// `current_user`, `current_database()` and `SHOW application_name` report them.
    /// Empty values leave the defaults.
    pub fn set_startup_parameters(&mut self, user: &str, database: &str, application_name: &str) {
        for (name, value) in [
            ("session_authorization", user),
            ("database", database),
            ("application_name", application_name),
        ] {
            if !value.is_empty() {
                self.vars.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// Runs every statement of a simple-protocol query string, in order, stopping at the
    /// first error (whose result is the last element).
    pub async fn execute_batch(&mut self, sql: &str) -> Vec<Result<ExecuteResponse, SqlError>> {
        let mut results = Vec::new();
        for statement in split_statements(sql) {
            let result = self.execute_one(&statement, None).await;
            // After an error nothing more runs; after COPY … FROM STDIN the client
            // sends data next, and a SUBSCRIBE streams until the client goes away,
            // so later statements wait for another query.
            let stop = matches!(
                result,
                Err(_) | Ok(ExecuteResponse::CopyIn { .. } | ExecuteResponse::Subscribe(_))
            );
            results.push(result);
            if stop {
                break;
            }
        }
        results
    }

    /// Parses one statement and describes its parameters and result columns.
    /// `param_types` holds the types the client declared, `None` where it left the
    /// server to infer.
    pub async fn prepare(
        &mut self,
        sql: &str,
        param_types: &[Option<ScalarType>],
    ) -> Result<Prepared, SqlError> {
        let mut statements = split_statements(sql);
        if statements.len() > 1 {
            return Err(SqlError::Parse(
                "cannot insert multiple commands into a prepared statement".into(),
            ));
        }
        let text = statements.pop().unwrap_or_default();
        let (inferred, result) = match self.special_result(&text).await? {
            Some(result) => (Vec::new(), result),
            None if text.is_empty() => (Vec::new(), None),
            None => match parse_one(&text)? {
                statement @ (Statement::Query(_)
                | Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)) => self.inner.describe(statement, &self.vars).await?,
                _ => (Vec::new(), None),
            },
        };
        let count = inferred.len().max(param_types.len());
        let param_types = (0..count)
            .map(|i| {
                param_types
                    .get(i)
                    .copied()
                    .flatten()
                    .or_else(|| inferred.get(i).copied().flatten())
                    .unwrap_or(ScalarType::Text)
            })
            .collect();
        Ok(Prepared {
            sql: text,
            param_types,
            result,
        })
    }

    /// Runs a prepared statement with its parameter values bound.
    pub async fn execute_prepared(
        &mut self,
        prepared: &Prepared,
        params: Vec<Datum>,
    ) -> Result<ExecuteResponse, SqlError> {
        if params.len() != prepared.param_types.len() {
            return Err(SqlError::ParameterCount {
                expected: prepared.param_types.len(),
                given: params.len(),
            });
        }
        self.execute_one(&prepared.sql, Some(&params)).await
    }

    /// Loads CSV data sent after an [`ExecuteResponse::CopyIn`]; returns the rows loaded.
    pub async fn copy_in(
        &mut self,
        _table: &str,
        _columns: &[Column],
        data: &[u8],
    ) -> Result<u64, SqlError> {
        let copy = self
            .pending_copy
            .take()
            .ok_or_else(|| SqlError::Plan("no COPY is in progress".into()))?;
        self.inner.finish_copy(&copy, data).await
    }

    /// Waits until table or materialized view `name` reflects every write
    /// acknowledged before the call, without reading it.
    pub async fn await_current(&self, name: &str) -> Result<(), SqlError> {
        self.inner.await_current(name).await
    }

    /// The result description of statements Vigil answers itself, `None` if `sql` is
    /// not one of them. SHOW and EXPLAIN only read, so they are run to learn their
    /// columns.
    async fn special_result(
        &mut self,
        sql: &str,
    ) -> Result<Option<Option<RelationDesc>>, SqlError> {
        let words = leading_words(sql, 3);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["SHOW", ..] | ["EXPLAIN", ..] => match self.execute_one(sql, None).await? {
                ExecuteResponse::Rows { desc, .. } => Ok(Some(Some(desc))),
                _ => Ok(Some(None)),
            },
            ["FETCH", ..] => {
                let fetch = parse_fetch(sql)?;
                let cursor = self
                    .cursors
                    .get(&fetch.cursor)
                    .ok_or_else(|| SqlError::UnknownCursor(fetch.cursor.clone()))?;
                Ok(Some(Some(cursor.desc())))
            }
            // Statements sqlparser does not know; SUBSCRIBE answers with COPY data.
            ["SUBSCRIBE", ..]
            | ["COPY", "SUBSCRIBE", ..]
            | ["DECLARE", ..]
            | ["CLOSE", ..]
            | ["ADVANCE", "CLOCK", ..]
            | ["CREATE", "SOURCE" | "SINK" | "MATERIALIZED", ..]
            | ["DROP", "SOURCE" | "SINK", ..] => Ok(Some(None)),
            [
                "SET" | "RESET" | "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
                | "SAVEPOINT" | "RELEASE" | "DISCARD" | "DEALLOCATE",
                ..,
            ] => Ok(Some(None)),
            _ => Ok(None),
        }
    }

    async fn execute_one(
        &mut self,
        sql: &str,
        params: Option<&[Datum]>,
    ) -> Result<ExecuteResponse, SqlError> {
        if sql.is_empty() {
            return Ok(ExecuteResponse::EmptyQuery);
        }
        let words = leading_words(sql, 4);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["SHOW", "TABLES", ..] => self.inner.show_relations("table").await,
            ["SHOW", "VIEWS", ..] => self.inner.show_relations("view").await,
            ["SHOW", "MATERIALIZED", "VIEWS", ..] => {
                self.inner.show_relations("materialized view").await
            }
            ["SHOW", "SOURCES", ..] => self.inner.show_relations("source").await,
            ["SHOW", "CREATE", "SOURCE", ..] => self.inner.show_create(&name_after(sql, 3)?).await,
            ["CREATE", "SOURCE", ..] => {
                let create = crate::source::parse_create_source(sql)?;
                self.inner.create_source(create, sql).await
            }
            ["DROP", "SOURCE", ..] => self.drop_source(sql).await,
            ["CREATE", "SINK", ..] => {
                let create = crate::sink::parse_create_sink(sql)?;
                self.inner.create_sink(create, sql).await
            }
            ["DROP", "SINK", ..] => {
                let (if_exists, names) = crate::sink::parse_drop_sink(sql)?;
                let names: Vec<_> = names
                    .into_iter()
                    .map(|n| ObjectName::from(vec![Ident::with_quote('"', n)]))
                    .collect();
                self.inner
                    .drop_items("sink", if_exists, &names, false)
                    .await
            }
            ["SHOW", "SINKS", ..] => self.inner.show_relations("sink").await,
            ["SHOW", "CREATE", "SINK", ..] => self.inner.show_create(&name_after(sql, 3)?).await,
            ["SHOW", "COLUMNS", "FROM" | "IN", ..] => {
                self.inner.show_columns(&name_after(sql, 3)?).await
            }
            ["SHOW", "CREATE", "MATERIALIZED", "VIEW"] => {
                self.inner.show_create(&name_after(sql, 4)?).await
            }
            ["SHOW", "CREATE", "VIEW" | "TABLE", ..] => {
                self.inner.show_create(&name_after(sql, 3)?).await
            }
            ["SUBSCRIBE", ..] => {
                let statement = parse_subscribe(sql)?;
                let subscription = self
                    .inner
                    .subscribe(statement.target, statement.options)
                    .await?;
                Ok(ExecuteResponse::Subscribe(subscription))
            }
            ["COPY", "SUBSCRIBE", ..] => {
                let statement = parse_copy_subscribe(sql)?;
                let subscription = self
                    .inner
                    .subscribe(statement.target, statement.options)
                    .await?;
                Ok(ExecuteResponse::Subscribe(subscription))
            }
            ["DECLARE", ..] => self.declare(sql).await,
            ["FETCH", ..] => self.fetch(sql).await,
            ["CLOSE", ..] => self.close(sql),
            ["ADVANCE", "CLOCK", ..] => {
                let target = crate::temporal::parse_advance_clock(sql)?;
                self.inner.advance_clock(target).await
            }
            ["CREATE", "MATERIALIZED", "VIEW", ..] => {
                let (stripped, retain_ms) = crate::temporal::strip_retain_history(sql)?;
                match parse_one(&stripped)? {
                    Statement::CreateView(create) => {
                        self.inner.create_view(create, sql, retain_ms).await
                    }
                    _ => Err(SqlError::Parse(format!("cannot parse \"{sql}\""))),
                }
            }
            ["SHOW", ..] => self.show_var(sql),
            ["SET", ..] => self.set_var(sql),
            ["RESET", ..] => Ok(command("RESET")),
            ["BEGIN", ..] | ["START", "TRANSACTION", ..] => Ok(command("BEGIN")),
            ["COMMIT", ..] | ["END", ..] => {
                self.cursors.clear();
                Ok(command("COMMIT"))
            }
            ["ROLLBACK", ..] | ["ABORT", ..] => {
                // Cursors live as long as their transaction.
                self.cursors.clear();
                Ok(command("ROLLBACK"))
            }
            // Statements run one at a time, so savepoints have nothing to keep.
            ["SAVEPOINT", ..] => Ok(command("SAVEPOINT")),
            ["RELEASE", ..] => Ok(command("RELEASE")),
            // No SQL-level prepared statements or session state beyond settings.
            ["DISCARD", "ALL", ..] => {
                self.vars = default_vars();
                self.cursors.clear();
                Ok(command("DISCARD ALL"))
            }
            ["DEALLOCATE", "ALL", ..] => Ok(command("DEALLOCATE ALL")),
            ["DEALLOCATE", ..] => Ok(command("DEALLOCATE")),
            ["EXPLAIN", "MATERIALIZED", "VIEW", ..] => {
                self.inner.explain_view(&name_after(sql, 3)?).await
            }
            ["EXPLAIN", ..] => self.inner.explain(explained_query(sql)?).await,
            _ => self.execute_parsed(sql, params).await,
        }
    }

    async fn execute_parsed(
        &mut self,
        sql: &str,
        params: Option<&[Datum]>,
    ) -> Result<ExecuteResponse, SqlError> {
        match parse_one(sql)? {
            statement @ Statement::Query(_) => {
                self.inner.select(statement, params, &self.vars).await
            }
            statement @ (Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)) => {
                self.inner.dml(statement, params, &self.vars).await
            }
            Statement::Comment {
                object_type,
                object_name,
                comment,
                if_exists,
            } => {
                self.inner
                    .comment(object_type, &object_name, comment, if_exists)
                    .await
            }
            Statement::CreateTable(create) => self.inner.create_table(create, sql).await,
            Statement::CreateView(create) => self.inner.create_view(create, sql, None).await,
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                let noun = match object_type {
                    ObjectType::Table => "table",
                    ObjectType::View => "view",
                    ObjectType::MaterializedView => "materialized view",
                    other => return Err(SqlError::Unsupported(format!("DROP {other}"))),
                };
                self.inner
                    .drop_items(noun, if_exists, &names, cascade)
                    .await
            }
            statement @ Statement::Copy { .. } => {
                let (response, copy) = self.inner.start_copy(statement).await?;
                self.pending_copy = Some(copy);
                Ok(response)
            }
            other => {
                let text = other.to_string();
                let kind = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(SqlError::Unsupported(kind))
            }
        }
    }

    fn show_var(&self, sql: &str) -> Result<ExecuteResponse, SqlError> {
        let words = leading_words(sql, 8);
        let name = match words.get(1..).unwrap_or_default() {
            [t, i, l, ..] if t == "TRANSACTION" && i == "ISOLATION" && l == "LEVEL" => {
                "transaction_isolation".to_string()
            }
            [t, z] if t == "TIME" && z == "ZONE" => "timezone".to_string(),
            [all] if all == "ALL" => {
                let desc = RelationDesc::new(vec![text_column("name"), text_column("setting")]);
                let rows = self
                    .vars
                    .iter()
                    .map(|(k, v)| vec![Datum::Text(k.clone()), Datum::Text(v.clone())])
                    .collect();
                return Ok(ExecuteResponse::Rows { desc, rows });
            }
            [name] => name.to_lowercase(),
            _ => return Err(SqlError::Parse(format!("cannot parse \"{sql}\""))),
        };
        match self.vars.get(&name) {
            Some(value) => Ok(text_rows(&name, vec![value.clone()])),
            None => Err(SqlError::UnknownSetting(name)),
        }
    }

    fn set_var(&mut self, sql: &str) -> Result<ExecuteResponse, SqlError> {
        let body = sql.trim().trim_end_matches(';');
        let body = body[3..].trim_start();
        let body = strip_word(body, "SESSION")
            .or_else(|| strip_word(body, "LOCAL"))
            .unwrap_or(body);
        if strip_word(body, "CHARACTERISTICS").is_some()
            || strip_word(body, "TRANSACTION").is_some()
        {
            return Ok(command("SET"));
        }
        // `SET TIME ZONE 'x'` names the setting with two words and no TO.
        let body = match strip_word(body, "TIME").and_then(|rest| strip_word(rest, "ZONE")) {
            Some(value) => format!("timezone TO {value}"),
            None => body.to_string(),
        };
        let body = body.as_str();
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name.trim(), value.trim()),
            None => {
                let mut parts = body.splitn(2, char::is_whitespace);
                let name = parts.next().unwrap_or("").trim();
                let rest = parts.next().unwrap_or("").trim();
                let value = strip_word(rest, "TO").unwrap_or(rest).trim();
                (name, value)
            }
        };
        if name.is_empty() {
            return Err(SqlError::Parse(format!("cannot parse \"{sql}\"")));
        }
        let name = name.to_lowercase();
        let value = value.trim_matches('\'').to_string();
        let value = if value.eq_ignore_ascii_case("default") {
            default_vars().get(&name).cloned().unwrap_or_default()
        } else {
            value
        };
        self.vars.insert(name, value);
        Ok(command("SET"))
    }
}

impl Session {
    /// `DROP SOURCE [IF EXISTS] name, … [CASCADE | RESTRICT]`, which sqlparser does
    /// not know: read as the same DROP TABLE.
    /// `DECLARE name CURSOR FOR SUBSCRIBE …`.
    async fn declare(&mut self, sql: &str) -> Result<ExecuteResponse, SqlError> {
        let (name, statement) = parse_declare(sql)?;
        if self.cursors.contains_key(&name) {
            return Err(SqlError::DuplicateCursor(name));
        }
        let subscription = self
            .inner
            .subscribe(statement.target, statement.options)
            .await?;
        self.cursors.insert(name, Cursor::new(subscription));
        Ok(command("DECLARE CURSOR"))
    }

    /// `FETCH [n | ALL] [FROM] name [WITH (timeout = '…')]`: waits until the cursor
    /// has a row (or the timeout passes), then returns up to `n` rows that are ready.
    async fn fetch(&mut self, sql: &str) -> Result<ExecuteResponse, SqlError> {
        let fetch = parse_fetch(sql)?;
        let cursor = self
            .cursors
            .get_mut(&fetch.cursor)
            .ok_or_else(|| SqlError::UnknownCursor(fetch.cursor.clone()))?;
        let limit = match fetch.count {
            FetchCount::All => usize::MAX,
            FetchCount::Rows(n) => n,
        };
        let rows = cursor.fetch(limit, fetch.timeout).await?;
        let desc = cursor.desc();
        Ok(ExecuteResponse::Rows { desc, rows })
    }

    /// `CLOSE name | ALL`.
    fn close(&mut self, sql: &str) -> Result<ExecuteResponse, SqlError> {
        match parse_close(sql)? {
            None => self.cursors.clear(),
            Some(name) => {
                self.cursors
                    .remove(&name)
                    .ok_or(SqlError::UnknownCursor(name))?;
            }
        }
        Ok(command("CLOSE CURSOR"))
    }

    async fn drop_source(&mut self, sql: &str) -> Result<ExecuteResponse, SqlError> {
        // The statement's first two words are DROP SOURCE (see `leading_words`).
        let after = sql
            .to_ascii_lowercase()
            .find("source")
            .map(|at| &sql[at + "source".len()..])
            .ok_or_else(|| SqlError::Parse(format!("expected DROP SOURCE, found {sql}")))?;
        match parse_one(&format!("DROP TABLE {after}"))? {
            Statement::Drop {
                if_exists,
                names,
                cascade,
                ..
            } => {
                self.inner
                    .drop_items("source", if_exists, &names, cascade)
                    .await
            }
            other => Err(SqlError::Parse(format!(
                "expected DROP SOURCE, found {other}"
            ))),
        }
    }
}

fn name_after(sql: &str, words: usize) -> Result<String, SqlError> {
    trailing_name(sql, words)
        .ok_or_else(|| SqlError::Parse(format!("expected a name in \"{sql}\"")))
}

/// The statement after `EXPLAIN`; for `EXPLAIN CREATE MATERIALIZED VIEW v AS q`, `q`.
fn explained_query(sql: &str) -> Result<&str, SqlError> {
    let rest = sql.trim_start()[7..].trim_start();
    let upper = rest.to_uppercase();
    if upper.starts_with("CREATE") {
        let position = upper
            .find(" AS ")
            .ok_or_else(|| SqlError::Parse("expected AS in EXPLAIN CREATE".into()))?;
        return Ok(rest[position + 4..].trim());
    }
    Ok(rest)
}

/// `text` without a leading `word` (case-insensitive) and the space after it.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && (rest.is_empty() || rest.starts_with(char::is_whitespace)))
        .then(|| rest.trim_start())
}
