//! End-to-end tests of the PostgreSQL endpoint: a real server started in-process on a
//! free port with its own data directory, driven by a real driver (tokio-postgres) and,
//! for what no driver sends, by raw protocol bytes.
//!
//! The first group checks the protocol itself (startup, empty queries, errors,
//! malformed input). The second group runs SQL through the coordinator: tables,
//! parameters of every type in binary and text, COPY.

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::SinkExt;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use vigil_server::{Config, Server, ServerError};

// ---------------------------------------------------------------------------------
// Harness

/// A server running in this test's runtime, with a data directory of its own.
struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
    _data_dir: TempDir,
}

impl TestServer {
    async fn start() -> anyhow::Result<TestServer> {
        let data_dir = tempfile::tempdir()?;
        let config = Config {
            listen: "127.0.0.1:0".into(),
            http_listen: "127.0.0.1:0".into(),
            data_dir: data_dir.path().join("data"),
            workers: 1,
            builtin_views: false,
            ..Config::default()
        };
        let server = Server::bind(&config)
            .await?
            .with_shutdown_grace(Duration::from_secs(1));
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            addr,
            stop: Some(stop),
            task,
            _data_dir: data_dir,
        })
    }

    fn client_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.addr.ip().to_string())
            .port(self.addr.port())
            .user("tester")
            .dbname("vigil")
            .application_name("vigil-tests")
            .connect_timeout(Duration::from_secs(10));
        config
    }

    async fn connect(&self) -> anyhow::Result<Client> {
        let (client, connection) = self.client_config().connect(NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Stops the server and checks that it shut down cleanly.
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await???;
        Ok(())
    }
}

/// The SQLSTATE of a failed statement.
fn sqlstate(
    result: Result<impl std::fmt::Debug, tokio_postgres::Error>,
) -> anyhow::Result<SqlState> {
    match result {
        Ok(value) => Err(anyhow!("expected an error, got {value:?}")),
        Err(e) => e
            .code()
            .cloned()
            .with_context(|| format!("error without SQLSTATE: {e}")),
    }
}

/// The text rows of a simple query.
async fn text_rows(client: &Client, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for message in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(row) = message {
            rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// The rows-affected counts of a simple query's statements.
async fn command_counts(client: &Client, sql: &str) -> anyhow::Result<Vec<u64>> {
    Ok(client
        .simple_query(sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(n),
            _ => None,
        })
        .collect())
}

/// A client that speaks the protocol byte by byte, for input no driver would send.
struct RawClient {
    stream: TcpStream,
    input: BytesMut,
}

/// A backend message: type byte and body.
type Reply = (u8, Vec<u8>);

impl RawClient {
    async fn connect(addr: SocketAddr) -> anyhow::Result<RawClient> {
        let stream = TcpStream::connect(addr).await?;
        let mut client = RawClient {
            stream,
            input: BytesMut::new(),
        };
        let mut body = 196_608i32.to_be_bytes().to_vec(); // protocol 3.0
        body.extend(b"user\0tester\0database\0vigil\0\0");
        let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        packet.extend(body);
        client.stream.write_all(&packet).await?;
        let replies = client.until_ready().await?;
        ensure!(
            replies.first().map(|r| r.0) == Some(b'R'),
            "no authentication reply: {replies:?}"
        );
        Ok(client)
    }

    async fn send(&mut self, tag: u8, body: &[u8]) -> anyhow::Result<()> {
        let mut message = vec![tag];
        message.extend(((body.len() + 4) as i32).to_be_bytes());
        message.extend(body);
        self.stream.write_all(&message).await?;
        Ok(())
    }

    /// The next backend message, or `None` once the server closed the connection.
    async fn recv(&mut self) -> anyhow::Result<Option<Reply>> {
        tokio::time::timeout(Duration::from_secs(10), self.read_reply())
            .await
            .context("no reply from the server within 10 s")?
    }

    async fn read_reply(&mut self) -> anyhow::Result<Option<Reply>> {
        loop {
            if self.input.len() >= 5 {
                let len = u32::from_be_bytes([
                    self.input[1],
                    self.input[2],
                    self.input[3],
                    self.input[4],
                ]) as usize;
                if self.input.len() > len {
                    let message = self.input.split_to(len + 1);
                    return Ok(Some((message[0], message[5..].to_vec())));
                }
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Replies up to and including ReadyForQuery.
    async fn until_ready(&mut self) -> anyhow::Result<Vec<Reply>> {
        let mut replies = Vec::new();
        loop {
            let reply = self
                .recv()
                .await?
                .context("connection closed before ReadyForQuery")?;
            let ready = reply.0 == b'Z';
            replies.push(reply);
            if ready {
                return Ok(replies);
            }
        }
    }

    /// Sends `messages` then Sync, and returns the replies up to ReadyForQuery.
    async fn sync(&mut self, messages: &[(u8, Vec<u8>)]) -> anyhow::Result<Vec<Reply>> {
        for (tag, body) in messages {
            self.send(*tag, body).await?;
        }
        self.send(b'S', &[]).await?;
        self.until_ready().await
    }
}

/// The types of replies, as a string: `"EZ"` is ErrorResponse, ReadyForQuery.
fn tags(replies: &[Reply]) -> String {
    replies.iter().map(|r| r.0 as char).collect()
}

/// The fields of an ErrorResponse, by field code.
fn error_fields(body: &[u8]) -> BTreeMap<char, String> {
    body.split(|b| *b == 0)
        .filter(|field| !field.is_empty())
        .map(|field| {
            (
                field[0] as char,
                String::from_utf8_lossy(&field[1..]).into_owned(),
            )
        })
        .collect()
}

fn error_code(replies: &[Reply]) -> Option<String> {
    replies
        .iter()
        .find(|r| r.0 == b'E')
        .and_then(|r| error_fields(&r.1).remove(&'C'))
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A Parse message body.
fn parse(name: &str, sql: &str, type_oids: &[u32]) -> (u8, Vec<u8>) {
    let mut body = cstr(name);
    body.extend(cstr(sql));
    body.extend((type_oids.len() as u16).to_be_bytes());
    for oid in type_oids {
        body.extend(oid.to_be_bytes());
    }
    (b'P', body)
}

/// A Bind message body with one format code for all parameters and results.
fn bind(
    portal: &str,
    statement: &str,
    param_format: i16,
    params: &[Option<&[u8]>],
    result_format: i16,
) -> (u8, Vec<u8>) {
    let mut body = cstr(portal);
    body.extend(cstr(statement));
    body.extend(1u16.to_be_bytes());
    body.extend(param_format.to_be_bytes());
    body.extend((params.len() as u16).to_be_bytes());
    for param in params {
        match param {
            None => body.extend((-1i32).to_be_bytes()),
            Some(value) => {
                body.extend((value.len() as i32).to_be_bytes());
                body.extend(*value);
            }
        }
    }
    body.extend(1u16.to_be_bytes());
    body.extend(result_format.to_be_bytes());
    (b'B', body)
}

fn execute(portal: &str) -> (u8, Vec<u8>) {
    let mut body = cstr(portal);
    body.extend(0i32.to_be_bytes());
    (b'E', body)
}

/// The values of a DataRow body (`None` for NULL).
fn data_row(body: &[u8]) -> Vec<Option<Vec<u8>>> {
    let count = u16::from_be_bytes([body[0], body[1]]);
    let mut at = 2;
    (0..count)
        .map(|_| {
            let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap_or_default());
            at += 4;
            (len >= 0).then(|| {
                let value = body[at..at + len as usize].to_vec();
                at += len as usize;
                value
            })
        })
        .collect()
}

/// A value sent as the given bytes, whatever the parameter's type: for binary layouts
/// tokio-postgres has no Rust type for (numeric, interval) and for malformed values.
#[derive(Debug)]
struct RawParam(&'static [u8]);

impl ToSql for RawParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// A result value as its raw binary bytes.
#[derive(Debug, PartialEq)]
struct RawValue(Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(RawValue(raw.to_vec()))
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------
// The protocol

/// pgjdbc, psycopg and SQLAlchemy check these before their first query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_reports_the_parameters_drivers_check() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (client, connection) = server.client_config().connect(NoTls).await?;
    let parameter = |name| connection.parameter(name).map(str::to_owned);
    let server_version = parameter("server_version").context("no server_version")?;
    assert!(server_version.starts_with("16"), "{server_version}");
    assert!(
        parameter("DateStyle")
            .context("no DateStyle")?
            .starts_with("ISO")
    );
    assert_eq!(
        parameter("standard_conforming_strings").as_deref(),
        Some("on")
    );
    assert_eq!(parameter("client_encoding").as_deref(), Some("UTF8"));
    assert_eq!(parameter("server_encoding").as_deref(), Some("UTF8"));
    assert_eq!(parameter("integer_datetimes").as_deref(), Some("on"));
    assert_eq!(parameter("TimeZone").as_deref(), Some("UTC"));
    assert_eq!(
        parameter("application_name").as_deref(),
        Some("vigil-tests")
    );
    assert_eq!(
        parameter("session_authorization").as_deref(),
        Some("tester")
    );
    drop(client);
    drop(connection);
    server.stop().await
}

/// Grafana's health check is `-- ping`; an empty query is valid in both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_comment_only_queries_succeed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    for sql in ["", ";", "-- ping", "/* nothing */ ;"] {
        client
            .simple_query(sql)
            .await
            .with_context(|| format!("simple {sql:?}"))?;
        let rows = client
            .query(sql, &[])
            .await
            .with_context(|| format!("extended {sql:?}"))?;
        assert!(rows.is_empty());
    }
    drop(client);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_reports_its_sqlstate_and_the_connection_goes_on() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    for _ in 0..2 {
        sqlstate(client.simple_query("SELEC 1").await)?;
        client.simple_query("-- still here").await?;
        sqlstate(client.prepare("SELEC 1").await)?;
        client.query("-- still here", &[]).await?;
    }
    drop(client);
    server.stop().await
}

/// What arrives on the port is not always PostgreSQL: none of it may stop the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_socket_does_not_stop_the_server() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let garbage: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\x00\x00\x00\x03",
        b"\x7f\xff\xff\xff\x00\x03\x00\x00",
        b"\x00\x00\x00\x0c\x12\x34\x56\x78\x00\x00\x00\x00",
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(server.addr).await?;
        // The server may answer and close before all of it is written: only its
        // survival matters here.
        let _ = stream.write_all(bytes).await;
        let _ = stream.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink)).await;
    }
    let client = server.connect().await?;
    client.simple_query("-- ping").await?;
    drop(client);
    server.stop().await
}

/// A malformed message inside an intact stream gets an error for that message, like
/// PostgreSQL, and the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_get_errors_and_the_connection_goes_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut raw = RawClient::connect(server.addr).await?;

    // A Describe with no body at all.
    let replies = raw.sync(&[(b'D', Vec::new())]).await?;
    assert_eq!(
        (tags(&replies), error_code(&replies)),
        ("EZ".into(), Some("08P01".into()))
    );

    // A Bind whose only parameter claims 100 bytes and carries 2.
    let mut truncated = bind("", "", 1, &[Some(b"ab")], 0).1;
    let at = 2 + 2 + 2 + 2; // names, format count, format, parameter count
    truncated[at..at + 4].copy_from_slice(&100i32.to_be_bytes());
    let replies = raw.sync(&[(b'B', truncated)]).await?;
    assert_eq!(
        (tags(&replies), error_code(&replies)),
        ("EZ".into(), Some("08P01".into()))
    );

    // Binding, describing and executing what does not exist.
    let replies = raw.sync(&[bind("", "missing", 0, &[], 0)]).await?;
    assert_eq!(tags(&replies), "EZ");
    let replies = raw.sync(&[(b'D', b"Pmissing\0".to_vec())]).await?;
    assert_eq!(tags(&replies), "EZ");
    let replies = raw.sync(&[execute("missing")]).await?;
    assert_eq!(tags(&replies), "EZ");

    // A query that is not UTF-8.
    raw.send(b'Q', b"SELECT '\xff'\0").await?;
    let replies = raw.until_ready().await?;
    assert_eq!(
        (tags(&replies), error_code(&replies)),
        ("EZ".into(), Some("22021".into()))
    );

    // After all that, a query still gets its answer.
    raw.send(b'Q', &cstr("-- ping")).await?;
    assert_eq!(tags(&raw.until_ready().await?), "IZ");

    // An empty statement through the extended protocol: ParameterDescription, NoData.
    let replies = raw
        .sync(&[
            parse("", "", &[]),
            (b'D', b"S\0".to_vec()),
            bind("", "", 0, &[], 0),
            execute(""),
        ])
        .await?;
    assert_eq!(tags(&replies), "1tn2IZ");
    server.stop().await
}

/// A message type that does not exist means the stream cannot be trusted: that
/// connection ends with FATAL, the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_message_type_ends_only_its_connection() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut raw = RawClient::connect(server.addr).await?;
    raw.send(b'!', b"whatever").await?;
    let (tag, body) = raw.recv().await?.context("no error before closing")?;
    assert_eq!(tag, b'E');
    assert_eq!(
        error_fields(&body).get(&'S').map(String::as_str),
        Some("FATAL")
    );
    assert!(raw.recv().await?.is_none(), "connection still open");

    let client = server.connect().await?;
    client.simple_query("-- ping").await?;
    drop(client);
    server.stop().await
}

// ---------------------------------------------------------------------------------
// SQL through the coordinator

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_insert_and_select_with_parameters() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE t (a int primary key, b text)")
        .await?;
    let inserted = command_counts(
        &client,
        "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, NULL)",
    )
    .await?;
    assert_eq!(inserted, [3]);

    let select = client.prepare("SELECT b FROM t WHERE a = $1").await?;
    assert_eq!(select.params(), [Type::INT4]);
    assert_eq!(
        select
            .columns()
            .iter()
            .map(|c| (c.name(), c.type_().clone()))
            .collect::<Vec<_>>(),
        [("b", Type::TEXT)]
    );
    let row = client.query_one(&select, &[&2i32]).await?;
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("two"));
    let row = client.query_one(&select, &[&3i32]).await?;
    assert_eq!(row.get::<_, Option<String>>(0), None);
    assert!(client.query_opt(&select, &[&4i32]).await?.is_none());

    let insert = client
        .prepare("INSERT INTO t (a, b) VALUES ($1, $2)")
        .await?;
    assert_eq!(client.execute(&insert, &[&4i32, &"four"]).await?, 1);
    assert_eq!(
        client
            .execute("UPDATE t SET b = $1 WHERE a >= $2", &[&"big", &3i32])
            .await?,
        2
    );
    assert_eq!(
        text_rows(&client, "SELECT a, b FROM t ORDER BY a").await?,
        [
            [Some("1".into()), Some("one".into())],
            [Some("2".into()), Some("two".into())],
            [Some("3".into()), Some("big".into())],
            [Some("4".into()), Some("big".into())],
        ]
    );
    drop(client);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_errors_carry_sqlstate_and_detail() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    assert_eq!(
        sqlstate(client.simple_query("SELEC 1").await)?,
        SqlState::SYNTAX_ERROR
    );
    assert_eq!(
        sqlstate(client.simple_query("SELECT * FROM nowhere").await)?,
        SqlState::UNDEFINED_TABLE
    );
    client
        .batch_execute("CREATE TABLE t (a int primary key, b text)")
        .await?;
    client
        .batch_execute("INSERT INTO t VALUES (1, 'one')")
        .await?;
    let err = client
        .batch_execute("INSERT INTO t VALUES (1, 'again')")
        .await
        .err()
        .context("duplicate key accepted")?;
    let db = err.as_db_error().context("not a server error")?;
    assert_eq!(db.code(), &SqlState::UNIQUE_VIOLATION);
    assert!(
        db.detail().is_some_and(|d| d.contains("already exists")),
        "{db:?}"
    );

    // The first statement of a batch is applied; the batch stops at the error.
    let err = client
        .batch_execute("INSERT INTO t VALUES (2, 'two'); SELEC; INSERT INTO t VALUES (3, 'three')")
        .await;
    assert_eq!(sqlstate(err)?, SqlState::SYNTAX_ERROR);
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM t").await?,
        [[Some("2".into())]]
    );
    drop(client);
    server.stop().await
}

/// Every Vigil type in and out in binary (how tokio-postgres, asyncpg and pgjdbc talk),
/// and out in text (how psql and the simple protocol read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_of_every_type_round_trip() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE every (id int primary key, b bool, i2 smallint, i8 bigint, f float8, \
             n numeric(10,2), t text, d date, ts timestamp, tstz timestamptz, iv interval, \
             j jsonb, arr text[])",
        )
        .await?;
    let insert = client
        .prepare(
            "INSERT INTO every VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .await?;
    let param_types: Vec<Type> = insert.params().to_vec();
    assert_eq!(
        param_types,
        [
            Type::INT4,
            Type::BOOL,
            Type::INT2,
            Type::INT8,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::TEXT,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::INTERVAL,
            Type::JSONB,
            Type::TEXT_ARRAY,
        ]
    );

    let date = NaiveDate::from_ymd_opt(2024, 2, 29).context("date")?;
    let ts: NaiveDateTime = date.and_hms_milli_opt(13, 45, 0, 500).context("time")?;
    let tstz: DateTime<Utc> = ts.and_utc();
    // numeric 12.50: 2 base-10000 digits, weight 0, positive, display scale 2: 12, 5000.
    let numeric = RawParam(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x13, 0x88]);
    // interval '1 year 2 mons 3 days 04:05:06': microseconds, days, months.
    let interval = RawParam(&[0, 0, 0, 3, 0x6c, 0x8b, 0xc0, 0x80, 0, 0, 0, 3, 0, 0, 0, 14]);
    let json = serde_json::json!({"a": [1, 2]});
    let array = vec![Some("a".to_owned()), None, Some("b c".to_owned())];
    let values: [&(dyn ToSql + Sync); 13] = [
        &1i32,
        &true,
        &-2i16,
        &9_000_000_000i64,
        &1.5f64,
        &numeric,
        &"hello",
        &date,
        &ts,
        &tstz,
        &interval,
        &json,
        &array,
    ];
    assert_eq!(client.execute(&insert, &values).await?, 1);
    let nulls: [&(dyn ToSql + Sync); 13] = [
        &2i32,
        &None::<bool>,
        &None::<i16>,
        &None::<i64>,
        &None::<f64>,
        &None::<RawParam>,
        &None::<String>,
        &None::<NaiveDate>,
        &None::<NaiveDateTime>,
        &None::<DateTime<Utc>>,
        &None::<RawParam>,
        &None::<serde_json::Value>,
        &None::<Vec<String>>,
    ];
    assert_eq!(client.execute(&insert, &nulls).await?, 1);

    let select = client.prepare("SELECT * FROM every WHERE id = $1").await?;
    let column_types: Vec<Type> = select.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(column_types, param_types);
    let row = client.query_one(&select, &[&1i32]).await?;
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, i16>(2), -2);
    assert_eq!(row.get::<_, i64>(3), 9_000_000_000);
    assert_eq!(row.get::<_, f64>(4), 1.5);
    assert_eq!(row.get::<_, RawValue>(5), RawValue(numeric.0.to_vec()));
    assert_eq!(row.get::<_, String>(6), "hello");
    assert_eq!(row.get::<_, NaiveDate>(7), date);
    assert_eq!(row.get::<_, NaiveDateTime>(8), ts);
    assert_eq!(row.get::<_, DateTime<Utc>>(9), tstz);
    assert_eq!(row.get::<_, RawValue>(10), RawValue(interval.0.to_vec()));
    assert_eq!(row.get::<_, serde_json::Value>(11), json);
    assert_eq!(row.get::<_, Vec<Option<String>>>(12), array);
    let row = client.query_one(&select, &[&2i32]).await?;
    for i in 1..13 {
        assert!(
            row.get::<_, Option<RawValue>>(i).is_none(),
            "column {i} is not NULL"
        );
    }

    let text = text_rows(&client, "SELECT * FROM every ORDER BY id").await?;
    let expected: Vec<Option<String>> = [
        "1",
        "t",
        "-2",
        "9000000000",
        "1.5",
        "12.50",
        "hello",
        "2024-02-29",
        "2024-02-29 13:45:00.5",
        "2024-02-29 13:45:00.5+00",
        "1 year 2 mons 3 days 04:05:06",
        r#"{"a": [1, 2]}"#,
        r#"{a,NULL,"b c"}"#,
    ]
    .into_iter()
    .map(|s| Some(s.to_owned()))
    .collect();
    assert_eq!(text[0], expected);
    assert_eq!(text[1][0].as_deref(), Some("2"));
    assert!(text[1][1..].iter().all(Option::is_none), "{:?}", text[1]);
    drop(client);
    server.stop().await
}

/// Parameters in text format and results in text format, as psql's `\bind` and
/// many drivers send them, with type OIDs the client leaves unspecified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_format_parameters_and_results() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE t (a int primary key, d date); INSERT INTO t VALUES (7, '2024-01-02')",
        )
        .await?;
    drop(client);
    let mut raw = RawClient::connect(server.addr).await?;
    let replies = raw
        .sync(&[
            parse("q", "SELECT d FROM t WHERE a = $1", &[0]),
            bind("", "q", 0, &[Some(b"7")], 0),
            execute(""),
        ])
        .await?;
    assert_eq!(tags(&replies), "12DCZ", "{replies:?}");
    assert_eq!(data_row(&replies[2].1), [Some(b"2024-01-02".to_vec())]);

    // Text that is not an integer: an error naming the type, then the connection goes on.
    let replies = raw
        .sync(&[bind("", "q", 0, &[Some(b"seven")], 0), execute("")])
        .await?;
    assert_eq!(
        (tags(&replies), error_code(&replies)),
        ("EZ".into(), Some("22P02".into()))
    );
    let replies = raw
        .sync(&[bind("", "q", 0, &[Some(b"7")], 1), execute("")])
        .await?;
    assert_eq!(tags(&replies), "2DCZ");
    // 2024-01-02 is day 8767 after 2000-01-01.
    assert_eq!(
        data_row(&replies[1].1),
        [Some(8767i32.to_be_bytes().to_vec())]
    );

    // The wrong number of parameters is a protocol violation.
    let replies = raw.sync(&[bind("", "q", 0, &[], 0)]).await?;
    assert_eq!(
        (tags(&replies), error_code(&replies)),
        ("EZ".into(), Some("08P01".into()))
    );
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binary_parameters_are_22p03_and_the_connection_goes_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE t (a int primary key, b text)")
        .await?;
    client
        .batch_execute("INSERT INTO t VALUES (1, 'one')")
        .await?;
    let select = client.prepare("SELECT b FROM t WHERE a = $1").await?;
    // Three bytes for an int4.
    let err = client.query(&select, &[&RawParam(&[0, 0, 1])]).await;
    assert_eq!(sqlstate(err)?, SqlState::INVALID_BINARY_REPRESENTATION);
    // Not UTF-8 for a text.
    let err = client
        .query("SELECT a FROM t WHERE b = $1", &[&RawParam(&[0xff, 0xfe])])
        .await;
    assert_eq!(sqlstate(err)?, SqlState::CHARACTER_NOT_IN_REPERTOIRE);
    let row = client.query_one(&select, &[&1i32]).await?;
    assert_eq!(row.get::<_, String>(0), "one");
    drop(client);
    server.stop().await
}

/// `COPY … FROM STDIN` the way tokio-postgres and most drivers run it: through the
/// extended protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_loads_csv() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE t (a int primary key, b text)")
        .await?;
    let sink = client
        .copy_in("COPY t FROM STDIN (FORMAT csv, HEADER)")
        .await?;
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"a,b\n1,one\n2,"))
        .await?;
    sink.send(bytes::Bytes::from_static(b"\"two, too\"\n3,\n"))
        .await?;
    assert_eq!(sink.finish().await?, 3);
    assert_eq!(
        text_rows(&client, "SELECT a, b FROM t ORDER BY a").await?,
        [
            [Some("1".into()), Some("one".into())],
            [Some("2".into()), Some("two, too".into())],
            [Some("3".into()), None],
        ]
    );
    drop(client);
    server.stop().await
}

/// `COPY … FROM STDIN` the way psql's `\copy` runs it: a simple query, CopyData
/// messages, CopyDone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_through_the_simple_protocol() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE t (a int primary key, b text)")
        .await?;
    let mut raw = RawClient::connect(server.addr).await?;
    raw.send(b'Q', &cstr("COPY t FROM STDIN (FORMAT csv, HEADER)"))
        .await?;
    let (tag, body) = raw.recv().await?.context("no CopyInResponse")?;
    assert_eq!(tag, b'G');
    // Overall format text, 2 columns, each in text format.
    assert_eq!(body, [0, 0, 2, 0, 0, 0, 0]);
    raw.send(b'd', b"a,b\n1,one\n").await?;
    raw.send(b'd', b"2,two\n").await?;
    raw.send(b'c', &[]).await?;
    let replies = raw.until_ready().await?;
    assert_eq!(tags(&replies), "CZ");
    assert_eq!(replies[0].1, cstr("COPY 2"));
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM t").await?,
        [[Some("2".into())]]
    );

    // CopyFail aborts: nothing is loaded and the connection goes on.
    raw.send(b'Q', &cstr("COPY t FROM STDIN (FORMAT csv)"))
        .await?;
    assert_eq!(raw.recv().await?.map(|r| r.0), Some(b'G'));
    raw.send(b'd', b"3,three\n").await?;
    raw.send(b'f', &cstr("client gave up")).await?;
    let replies = raw.until_ready().await?;
    assert_eq!(
        (tags(&replies), error_code(&replies)),
        ("EZ".into(), Some("57014".into()))
    );
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM t").await?,
        [[Some("2".into())]]
    );
    raw.send(b'Q', &cstr("-- ping")).await?;
    assert_eq!(tags(&raw.until_ready().await?), "IZ");
    drop(client);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_copy_loads_nothing_and_the_connection_goes_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE t (a int primary key, b text)")
        .await?;
    {
        let sink = client
            .copy_in::<_, bytes::Bytes>("COPY t FROM STDIN (FORMAT csv)")
            .await?;
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from_static(b"1,one\n")).await?;
        // Dropped without finish: tokio-postgres sends CopyFail.
    }
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM t").await?,
        [[Some("0".into())]]
    );
    drop(client);
    server.stop().await
}

/// SHOW and EXPLAIN through the extended protocol describe their result columns,
/// as drivers that prepare every statement (pgjdbc, tokio-postgres) need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_explain_describe_their_columns() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE t (a int primary key, b text);
             CREATE MATERIALIZED VIEW v AS SELECT b, count(*) AS n FROM t GROUP BY b;",
        )
        .await?;
    let rows = client
        .query("SHOW TRANSACTION ISOLATION LEVEL", &[])
        .await?;
    assert_eq!(rows[0].get::<_, String>(0), "serializable");
    let rows = client.query("SHOW MATERIALIZED VIEWS", &[]).await?;
    assert_eq!(rows[0].get::<_, String>("name"), "v");
    let columns: Vec<(String, bool, String)> = client
        .query("SHOW COLUMNS FROM v", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        columns,
        [
            ("b".to_string(), true, "text".to_string()),
            ("n".to_string(), false, "bigint".to_string())
        ]
    );
    let plan: Vec<String> = client
        .query("EXPLAIN MATERIALIZED VIEW v", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter()
            .any(|line| line.trim_start().starts_with("Reduce")),
        "{plan:?}"
    );
    assert!(
        plan.iter()
            .any(|line| line.trim_start().starts_with("Get t")),
        "{plan:?}"
    );
    drop(client);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_user_database_and_application_are_the_sessions() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut config = server.client_config();
    config
        .user("analyst")
        .dbname("district")
        .application_name("grafana");
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    let rows = text_rows(
        &client,
        "SELECT current_user, session_user, current_database(), current_setting('application_name')",
    )
    .await?;
    let expected = ["analyst", "analyst", "district", "grafana"].map(|v| Some(v.to_string()));
    assert_eq!(rows, [expected.to_vec()]);
    // pg_roles and pg_database agree with the functions.
    let rows = text_rows(
        &client,
        "SELECT (SELECT count(*) FROM pg_roles WHERE rolname = current_user) AS roles, \
         (SELECT count(*) FROM pg_database WHERE datname = current_database()) AS databases",
    )
    .await?;
    assert_eq!(rows, [vec![Some("1".to_string()), Some("1".to_string())]]);
    // Over the extended protocol too.
    let user: String = client.query_one("SELECT current_user", &[]).await?.get(0);
    assert_eq!(user, "analyst");
    drop(client);
    server.stop().await
}

/// A `regclass` result column prints the relation's name, as PostgreSQL's does,
/// while a regclass literal compared with `pg_class.oid` (psql's `\d`) or cast to
/// `oid` is still the oid. The column travels as text: Vigil's `reg*` values are
/// oids inside a query and are printed by the rewrite, not typed as `regclass`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regclass_column_prints_the_relation_name() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE boards (id int PRIMARY KEY)")
        .await?;
    let statement = client
        .prepare(
            "SELECT 'boards'::regclass, c.oid::regclass FROM pg_catalog.pg_class c \
             WHERE c.oid = 'boards'::regclass",
        )
        .await?;
    let columns: Vec<(&str, &Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_()))
        .collect();
    assert_eq!(columns, [("regclass", &Type::TEXT), ("oid", &Type::TEXT)]);
    let row = client.query_one(&statement, &[]).await?;
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("boards".to_owned(), "boards".to_owned())
    );
    let rows = text_rows(
        &client,
        "SELECT 'boards'::regclass, 'boards'::regclass::oid = oid, 'boards'::regclass::text \
         FROM pg_class WHERE relname = 'boards'",
    )
    .await?;
    assert_eq!(
        rows,
        [vec![
            Some("boards".to_owned()),
            Some("t".to_owned()),
            Some("boards".to_owned())
        ]]
    );
    drop(client);
    server.stop().await
}

/// `json` (OID 114) declared by a client is read as plain text, `jsonb` (3802) as a
/// version byte then text; stored in a jsonb column, both come back described and
/// encoded as jsonb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_parameters_read_as_plain_text_and_jsonb_with_a_version_byte() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute("CREATE TABLE docs (id int PRIMARY KEY, doc jsonb)")
        .await?;
    let as_json = client
        .prepare_typed(
            "INSERT INTO docs VALUES ($1, $2)",
            &[Type::INT4, Type::JSON],
        )
        .await?;
    assert_eq!(as_json.params(), [Type::INT4, Type::JSON]);
    let doc = serde_json::json!({"b": [1, 2], "a": null});
    client.execute(&as_json, &[&1i32, &doc]).await?;
    // Plain text, exactly what json_send writes.
    client
        .execute(&as_json, &[&2i32, &RawParam(br#"{"x": 1}"#)])
        .await?;
    // json has no version byte: one is a character that is not JSON.
    let err = client
        .execute(&as_json, &[&3i32, &RawParam(b"\x01{}")])
        .await;
    assert_eq!(sqlstate(err)?, SqlState::INVALID_TEXT_REPRESENTATION);
    let as_jsonb = client
        .prepare_typed(
            "INSERT INTO docs VALUES ($1, $2)",
            &[Type::INT4, Type::JSONB],
        )
        .await?;
    client
        .execute(&as_jsonb, &[&3i32, &RawParam(b"\x01[true]")])
        .await?;
    let err = client
        .execute(&as_jsonb, &[&4i32, &RawParam(br#"{"x": 1}"#)])
        .await;
    assert_eq!(sqlstate(err)?, SqlState::INVALID_BINARY_REPRESENTATION);

    let select = client.prepare("SELECT doc FROM docs ORDER BY id").await?;
    assert_eq!(select.columns()[0].type_(), &Type::JSONB);
    let raw: Vec<RawValue> = client
        .query(&select, &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        raw,
        [
            RawValue(br#"{"a": null, "b": [1, 2]}"#.to_vec()),
            RawValue(br#"{"x": 1}"#.to_vec()),
            RawValue(b"[true]".to_vec()),
        ]
        .map(|RawValue(text)| RawValue([&[1u8][..], &text].concat()))
    );
    drop(client);
    server.stop().await
}

/// `json` is its own type, as in PostgreSQL: asyncpg picks its codec by the OID in
/// ParameterDescription and RowDescription, so a codec an application registers for
/// `json` only runs when a `::json` cast is described as json (114), not jsonb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_cast_is_described_and_kept_as_json() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    let statement = client.prepare("SELECT $1::json").await?;
    assert_eq!(statement.params(), [Type::JSON]);
    assert_eq!(statement.columns()[0].type_(), &Type::JSON);
    // json keeps its text as written: spacing, key order, duplicate keys.
    let rows = text_rows(&client, r#"SELECT '{"b":1,  "a":2}'::json"#).await?;
    assert_eq!(rows, [vec![Some(r#"{"b":1,  "a":2}"#.to_owned())]]);
    // A bound parameter comes back as sent, in json's binary form: bare text.
    let raw: RawValue = client
        .query_one(&statement, &[&RawParam(br#"{"b":1,  "a":[2]}"#)])
        .await?
        .get(0);
    assert_eq!(raw, RawValue(br#"{"b":1,  "a":[2]}"#.to_vec()));
    let err = client.query_one(&statement, &[&RawParam(b"{x}")]).await;
    assert_eq!(sqlstate(err)?, SqlState::INVALID_TEXT_REPRESENTATION);
    // jsonb is unchanged: described as 3802, canonical text.
    let jsonb = client.prepare("SELECT $1::jsonb").await?;
    assert_eq!(jsonb.params(), [Type::JSONB]);
    assert_eq!(jsonb.columns()[0].type_(), &Type::JSONB);
    let rows = text_rows(&client, r#"SELECT '{"b":1,  "a":2}'::jsonb"#).await?;
    assert_eq!(rows, [vec![Some(r#"{"a": 2, "b": 1}"#.to_owned())]]);
    drop(client);
    server.stop().await
}

/// A json column stores each document as written and serves it in either format;
/// `->` returns the member's text as written (json), `->>` as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_column_round_trips_text_and_binary() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.connect().await?;
    client
        .batch_execute(
            r#"CREATE TABLE docs (id int PRIMARY KEY, doc json);
               INSERT INTO docs VALUES (1, '{"b":1,  "a":[1,  2]}')"#,
        )
        .await?;
    let insert = client.prepare("INSERT INTO docs VALUES ($1, $2)").await?;
    assert_eq!(insert.params(), [Type::INT4, Type::JSON]);
    client
        .execute(&insert, &[&2i32, &RawParam(br#"[true,  null]"#)])
        .await?;
    client
        .execute(&insert, &[&3i32, &serde_json::json!({"x": "y"})])
        .await?;

    let select = client.prepare("SELECT doc FROM docs ORDER BY id").await?;
    assert_eq!(select.columns()[0].type_(), &Type::JSON);
    let raw: Vec<RawValue> = client
        .query(&select, &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        raw,
        [
            RawValue(br#"{"b":1,  "a":[1,  2]}"#.to_vec()),
            RawValue(b"[true,  null]".to_vec()),
            RawValue(br#"{"x":"y"}"#.to_vec()),
        ]
    );
    let rows = text_rows(&client, "SELECT id, doc FROM docs ORDER BY id").await?;
    assert_eq!(
        rows[0],
        [
            Some("1".to_owned()),
            Some(r#"{"b":1,  "a":[1,  2]}"#.to_owned())
        ]
    );

    let arrows = client
        .prepare("SELECT doc -> 'a', doc ->> 'b', doc -> 0 FROM docs ORDER BY id")
        .await?;
    let types: Vec<&Type> = arrows.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(types, [&Type::JSON, &Type::TEXT, &Type::JSON]);
    let rows = text_rows(
        &client,
        "SELECT doc -> 'a', doc ->> 'b', doc -> 0 FROM docs ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        [
            vec![Some("[1,  2]".to_owned()), Some("1".to_owned()), None],
            vec![None, None, Some("true".to_owned())],
            vec![None, None, None],
        ]
    );
    drop(client);
    server.stop().await
}
