//! `SUBSCRIBE` over the PostgreSQL wire protocol, against the real `vigil` binary.
//!
//! A subscription streams as `COPY … TO STDOUT` text: `vigil_timestamp`,
//! `vigil_progressed` (with PROGRESS), `vigil_diff`, then the view's columns. These
//! tests read it with tokio-postgres's `copy_out` (the extended protocol) and with
//! `psql` (the simple protocol), and check what a subscriber relies on: the snapshot
//! comes first at one timestamp, each later change arrives while the COPY is still
//! open (so the server flushes per change rather than per buffer), timestamps never go
//! back, progress rows bound the data after them, and a subscriber that resumes from
//! its last progress row sees what it missed exactly once.
//!
//! Waits are generous deadlines on a loaded machine; no test asserts how fast a
//! change arrives, only that it arrives before the deadline without the stream ending.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use common::VigilServer;
use futures::{Stream, StreamExt};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

/// How long to wait for any one expected row. Far above the usual milliseconds: a
/// debug server on a loaded 2-core machine has been seen to pause for over 10 s.
const ROW_DEADLINE: Duration = Duration::from_secs(30);

/// How long a stream must be quiet for a reader to have caught up with it: shorter
/// than the 10 ms between progress rows.
const QUIET: Duration = Duration::from_millis(2);

/// Workers per server: more than one, so changes cross the exchange to worker 0.
const WORKERS: usize = 2;

async fn connect(server: &VigilServer) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&server.conninfo(), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A table `items` and a materialized view `v` over it, with `rows` in the table.
async fn create_view(client: &Client, rows: &[(i32, Option<&str>)]) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, hidden bool NOT NULL);
             CREATE MATERIALIZED VIEW v AS SELECT id, name FROM items WHERE NOT hidden;",
        )
        .await?;
    for (id, name) in rows {
        insert(client, *id, *name).await?;
    }
    Ok(())
}

/// Inserts a visible row, its name bound as a parameter so that any text survives.
async fn insert(client: &Client, id: i32, name: Option<&str>) -> anyhow::Result<()> {
    client
        .execute(
            "INSERT INTO items VALUES ($1, $2, false)",
            &[&id, &name.map(str::to_owned)],
        )
        .await?;
    Ok(())
}

/// One line of SUBSCRIBE output.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    timestamp: u64,
    /// `Some` only `WITH (PROGRESS)`.
    progressed: Option<bool>,
    diff: Option<i64>,
    /// The view's columns, `None` for NULL.
    columns: Vec<Option<String>>,
}

impl Change {
    fn is_progress(&self) -> bool {
        self.progressed == Some(true)
    }

    /// `(id, name)` of a data row of `v`.
    fn row(&self) -> (i32, Option<String>) {
        let id = self.columns[0]
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no id in {self:?}"));
        (id, self.columns[1].clone())
    }
}

/// A subscription being read as COPY data.
struct Subscriber {
    copy: Pin<Box<dyn Stream<Item = Result<Bytes, tokio_postgres::Error>> + Send>>,
    progress: bool,
    /// The latest timestamp read, to check they never decrease.
    last_timestamp: Option<u64>,
}

impl Subscriber {
    /// Runs `sql` (a SUBSCRIBE or COPY (SUBSCRIBE …) TO STDOUT) with `copy_out`;
    /// `progress` says whether its output has the `vigil_progressed` column.
    async fn start(client: &Client, sql: &str, progress: bool) -> anyhow::Result<Subscriber> {
        let copy = client
            .copy_out(sql)
            .await
            .with_context(|| format!("starting {sql}"))?;
        Ok(Subscriber {
            copy: Box::pin(copy),
            progress,
            last_timestamp: None,
        })
    }

    /// The next line, failing if none comes within [`ROW_DEADLINE`] or the COPY ends:
    /// a subscription stays open, so every change must arrive while it is.
    async fn next(&mut self) -> anyhow::Result<Change> {
        let data = match tokio::time::timeout(ROW_DEADLINE, self.copy.next()).await {
            Err(_) => bail!("no SUBSCRIBE row within {ROW_DEADLINE:?}"),
            Ok(None) => bail!("the SUBSCRIBE stream ended"),
            Ok(Some(data)) => data.context("reading SUBSCRIBE output")?,
        };
        let change = parse_change(&data, self.progress)?;
        if let Some(last) = self.last_timestamp {
            ensure!(
                change.timestamp >= last,
                "timestamp went back from {last} to {}: {change:?}",
                change.timestamp
            );
        }
        self.last_timestamp = Some(change.timestamp);
        Ok(change)
    }

    /// Reads what has already arrived (nothing for a few milliseconds ends it) and
    /// returns the latest progress timestamp, failing on a data row.
    async fn latest_progress(&mut self) -> anyhow::Result<Option<u64>> {
        let mut latest = None;
        while let Ok(next) = tokio::time::timeout(QUIET, self.copy.next()).await {
            let data = next.context("the SUBSCRIBE stream ended")??;
            let change = parse_change(&data, self.progress)?;
            ensure!(change.is_progress(), "unexpected {change:?}");
            latest = Some(change.timestamp);
        }
        Ok(latest)
    }

    /// The next data row, skipping progress rows.
    async fn next_data(&mut self) -> anyhow::Result<Change> {
        loop {
            let change = self.next().await?;
            if !change.is_progress() {
                return Ok(change);
            }
        }
    }
}

/// Parses one COPY text line (one CopyData message) of SUBSCRIBE output.
fn parse_change(data: &[u8], progress: bool) -> anyhow::Result<Change> {
    let line = std::str::from_utf8(data).context("COPY data is not UTF-8")?;
    let line = line
        .strip_suffix('\n')
        .with_context(|| format!("COPY line {line:?} does not end in a newline"))?;
    let mut fields = line.split('\t').map(|field| match field {
        "\\N" => None,
        // The COPY FROM decoder reads what the COPY TO encoder wrote.
        field => Some(vigil_sql::copy::unescape_text(field)),
    });
    let mut next = |what: &str| {
        fields
            .next()
            .with_context(|| format!("no {what} in {line:?}"))
    };
    let timestamp = next("vigil_timestamp")?
        .context("NULL vigil_timestamp")?
        .parse()
        .context("vigil_timestamp")?;
    let progressed = if progress {
        match next("vigil_progressed")?.as_deref() {
            Some("t") => Some(true),
            Some("f") => Some(false),
            other => bail!("vigil_progressed is {other:?} in {line:?}"),
        }
    } else {
        None
    };
    let diff = next("vigil_diff")?
        .map(|diff| diff.parse())
        .transpose()
        .context("vigil_diff")?;
    Ok(Change {
        timestamp,
        progressed,
        diff,
        columns: fields.collect(),
    })
}

fn named(id: i32, name: &str) -> (i32, Option<String>) {
    (id, Some(name.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_streams_the_snapshot_then_each_change_as_it_happens() -> anyhow::Result<()> {
    let server = VigilServer::start(WORKERS)?;
    let writer = connect(&server).await?;
    let awkward = "tab\there, a\\backslash,\na newline and \\N";
    create_view(&writer, &[(1, Some("one")), (2, None), (3, Some(awkward))]).await?;

    let reader = connect(&server).await?;
    let mut subscriber = Subscriber::start(&reader, "SUBSCRIBE v", false).await?;

    // The snapshot: every row once, inserted, all at one timestamp.
    let mut snapshot = Vec::new();
    for _ in 0..3 {
        snapshot.push(subscriber.next().await?);
    }
    let as_of = snapshot[0].timestamp;
    let mut rows: Vec<_> = snapshot.iter().map(Change::row).collect();
    rows.sort();
    assert_eq!(
        rows,
        [named(1, "one"), (2, None), named(3, awkward)],
        "{snapshot:?}"
    );
    for change in &snapshot {
        assert_eq!(change.timestamp, as_of, "{snapshot:?}");
        assert_eq!(change.diff, Some(1), "{change:?}");
        assert_eq!(change.progressed, None, "no PROGRESS column: {change:?}");
    }

    // A change made elsewhere arrives while the COPY is still open: each change is
    // flushed, not held until a buffer fills or the stream ends.
    insert(&writer, 4, Some("four")).await?;
    let inserted = subscriber.next().await?;
    assert_eq!(inserted.row(), named(4, "four"));
    assert_eq!(inserted.diff, Some(1));
    assert!(inserted.timestamp > as_of, "{inserted:?} after {as_of}");

    writer
        .execute("DELETE FROM items WHERE id = 1", &[])
        .await?;
    let deleted = subscriber.next().await?;
    assert_eq!((deleted.row(), deleted.diff), (named(1, "one"), Some(-1)));
    assert!(deleted.timestamp > inserted.timestamp, "{deleted:?}");

    // An update is a retraction and an insertion at one timestamp.
    writer
        .execute("UPDATE items SET name = 'TWO' WHERE id = 2", &[])
        .await?;
    let mut update = [subscriber.next().await?, subscriber.next().await?];
    update.sort_by_key(|change| change.diff);
    assert_eq!(
        update.clone().map(|change| (change.row(), change.diff)),
        [((2, None), Some(-1)), (named(2, "TWO"), Some(1))]
    );
    assert_eq!(update[0].timestamp, update[1].timestamp, "{update:?}");

    // A change the view filters out sends nothing; the next one still arrives.
    writer
        .execute("INSERT INTO items VALUES (5, 'five', true)", &[])
        .await?;
    insert(&writer, 6, Some("six")).await?;
    assert_eq!(subscriber.next().await?.row(), named(6, "six"));

    // The connection that streams answers nothing else until the stream ends, but
    // every other connection does.
    let count: i64 = writer
        .query_one("SELECT count(*) FROM v", &[])
        .await?
        .get(0);
    assert_eq!(count, 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_rows_advance_and_bound_the_data_after_them() -> anyhow::Result<()> {
    let server = VigilServer::start(WORKERS)?;
    let writer = connect(&server).await?;
    create_view(&writer, &[(1, Some("one"))]).await?;

    let reader = connect(&server).await?;
    let mut subscriber =
        Subscriber::start(&reader, "SUBSCRIBE TO v WITH (PROGRESS = true)", true).await?;
    let mut changes = Vec::new();
    // Progress rows while nothing changes, then a change, then progress past it.
    while changes.iter().filter(|c: &&Change| c.is_progress()).count() < 3 {
        changes.push(subscriber.next().await?);
    }
    insert(&writer, 2, Some("two")).await?;
    let inserted = loop {
        let change = subscriber.next().await?;
        changes.push(change.clone());
        if !change.is_progress() && change.row() == named(2, "two") {
            break change;
        }
    };
    loop {
        let change = subscriber.next().await?;
        changes.push(change.clone());
        if change.is_progress() && change.timestamp > inserted.timestamp {
            break;
        }
    }

    let mut last_progress: Option<u64> = None;
    let mut data = Vec::new();
    for change in &changes {
        if change.is_progress() {
            assert_eq!(change.diff, None, "{change:?}");
            assert_eq!(change.columns, [None, None], "{change:?}");
            if let Some(last) = last_progress {
                assert!(change.timestamp > last, "progress {change:?} after {last}");
            }
            last_progress = Some(change.timestamp);
        } else {
            assert_eq!(change.progressed, Some(false), "{change:?}");
            if let Some(last) = last_progress {
                assert!(
                    change.timestamp >= last,
                    "{change:?} after progress to {last}"
                );
            }
            data.push((change.row(), change.diff));
        }
    }
    assert_eq!(
        data,
        [(named(1, "one"), Some(1)), (named(2, "two"), Some(1))],
        "{changes:?}"
    );
    // The snapshot comes before any progress row.
    assert!(!changes[0].is_progress(), "{changes:?}");
    Ok(())
}

/// A progress row at `t` says every change before `t` has been sent; a change at `t`
/// itself may still come (a write lands at the engine's current time, which is the
/// latest progress timestamp until the clock ticks). `AS OF t` with `SNAPSHOT =
/// false` sends the changes from `t` on, so a subscriber resumes from progress row
/// `t` with `AS OF t`. The test hangs up right after the latest progress row and
/// writes at once, so the missed changes often land exactly at `t`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resumes_from_its_last_progress_row_without_gaps_or_repeats()
-> anyhow::Result<()> {
    let server = VigilServer::start(WORKERS)?;
    let writer = connect(&server).await?;
    create_view(&writer, &[(1, Some("one"))]).await?;

    // Read the snapshot and one change, then the progress rows up to the latest.
    let reader = connect(&server).await?;
    let mut subscriber = Subscriber::start(&reader, "SUBSCRIBE v WITH (PROGRESS)", true).await?;
    assert_eq!(subscriber.next_data().await?.row(), named(1, "one"));
    insert(&writer, 2, Some("two")).await?;
    let seen = subscriber.next_data().await?;
    assert_eq!(seen.row(), named(2, "two"));
    let mut resume_from = loop {
        let change = subscriber.next().await?;
        ensure!(change.is_progress(), "unexpected {change:?}");
        if change.timestamp > seen.timestamp {
            break change.timestamp;
        }
    };
    if let Some(latest) = subscriber.latest_progress().await? {
        resume_from = latest;
    }
    // Hang up mid-stream, then change the view while nobody listens.
    drop(subscriber);
    drop(reader);
    insert(&writer, 3, Some("three")).await?;
    writer
        .execute("DELETE FROM items WHERE id = 1", &[])
        .await?;

    let reader = connect(&server).await?;
    let as_of = resume_from;
    let sql = format!("SUBSCRIBE v WITH (SNAPSHOT = false, PROGRESS) AS OF {as_of}");
    let mut subscriber = Subscriber::start(&reader, &sql, true).await?;
    let mut missed = BTreeMap::new();
    let mut last_data = None;
    // Every change up to a progress row past both missed changes. Progress rows keep
    // coming while a change is missing, so the wait has a deadline of its own.
    let deadline = tokio::time::Instant::now() + ROW_DEADLINE;
    loop {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "only {missed:?} arrived within {ROW_DEADLINE:?} after resuming from {resume_from}"
        );
        let change = subscriber.next().await?;
        if change.is_progress() {
            if missed.len() == 2 && last_data.is_some_and(|t| change.timestamp > t) {
                break;
            }
            continue;
        }
        assert!(
            change.timestamp >= resume_from,
            "{change:?} was sent before the progress row at {resume_from}"
        );
        last_data = Some(change.timestamp);
        let key = (change.row(), change.diff);
        ensure!(
            missed.insert(key.clone(), change.timestamp).is_none(),
            "{key:?} arrived twice"
        );
        ensure!(missed.len() <= 2, "unexpected changes: {missed:?}");
    }
    let missed: Vec<_> = missed.into_keys().collect();
    assert_eq!(
        missed,
        [(named(1, "one"), Some(-1)), (named(3, "three"), Some(1))]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_subscribe_to_stdout_and_errors_with_their_sqlstate() -> anyhow::Result<()> {
    let server = VigilServer::start(WORKERS)?;
    let writer = connect(&server).await?;
    create_view(&writer, &[(1, Some("one"))]).await?;
    let reader = connect(&server).await?;

    // The COPY form streams the same rows.
    let mut subscriber = Subscriber::start(&reader, "COPY (SUBSCRIBE v) TO STDOUT", false).await?;
    let snapshot = subscriber.next().await?;
    assert_eq!((snapshot.row(), snapshot.diff), (named(1, "one"), Some(1)));
    insert(&writer, 2, Some("two")).await?;
    let inserted = subscriber.next().await?;
    assert_eq!((inserted.row(), inserted.diff), (named(2, "two"), Some(1)));
    drop(subscriber);
    drop(reader);

    // Errors before the stream starts are ErrorResponses with their SQLSTATE, in both
    // protocols, and the connection stays usable.
    let client = connect(&server).await?;
    for (sql, code) in [
        ("SUBSCRIBE nope", SqlState::UNDEFINED_TABLE),
        ("COPY (SUBSCRIBE nope) TO STDOUT", SqlState::UNDEFINED_TABLE),
        // Long compacted: the view's history starts at its creation.
        ("SUBSCRIBE v AS OF 1", SqlState::INVALID_PARAMETER_VALUE),
        (
            "SUBSCRIBE v WITH (colour = true)",
            SqlState::INVALID_PARAMETER_VALUE,
        ),
    ] {
        let error = match client.copy_out(sql).await {
            Ok(_) => bail!("{sql} streamed"),
            Err(error) => error,
        };
        assert_eq!(error.code(), Some(&code), "{sql}: {error}");
        let error = match client.simple_query(sql).await {
            Ok(_) => bail!("{sql} succeeded in the simple protocol"),
            Err(error) => error,
        };
        assert_eq!(error.code(), Some(&code), "{sql}: {error}");
        let one: i64 = client.query_one("SELECT 1", &[]).await?.get(0);
        assert_eq!(one, 1);
    }
    let error = client
        .copy_out("SUBSCRIBE v AS OF 1")
        .await
        .err()
        .context("AS OF 1 streamed")?;
    let error = error.as_db_error().context("not a server error")?;
    assert!(
        error
            .message()
            .starts_with("cannot read as of 1: history before"),
        "{error:?}"
    );
    assert!(
        error
            .hint()
            .is_some_and(|hint| hint.contains("RETAIN HISTORY")),
        "{error:?}"
    );
    Ok(())
}

/// `psql -c "COPY (SUBSCRIBE v) TO STDOUT"` (the simple protocol) prints the snapshot
/// and then a change made while it runs; the test kills psql after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_prints_changes_while_the_copy_runs() -> anyhow::Result<()> {
    // psql buffers its standard output when it is a pipe; stdbuf makes it write each
    // line, so what the test reads is what the server has sent.
    let tools = ["psql", "stdbuf"].map(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if tools.contains(&false) {
        eprintln!("skipped: psql or stdbuf is not installed");
        return Ok(());
    }
    let server = VigilServer::start(WORKERS)?;
    let writer = connect(&server).await?;
    create_view(&writer, &[(1, Some("one"))]).await?;

    let mut psql = Command::new("stdbuf")
        .args(["-oL", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "postgresql://vigil@127.0.0.1:{}/vigil?connect_timeout=10",
            server.port()
        ))
        .args(["-c", "COPY (SUBSCRIBE v) TO STDOUT"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting psql")?;
    let stdout = psql.stdout.take().context("psql's stdout")?;
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = || -> anyhow::Result<Change> {
        let line = lines
            .recv_timeout(ROW_DEADLINE)
            .context("psql printed no line in time")??;
        parse_change(format!("{line}\n").as_bytes(), false)
    };

    let result = async {
        let snapshot = next_line()?;
        ensure!(snapshot.row() == named(1, "one"), "{snapshot:?}");
        insert(&writer, 2, Some("two")).await?;
        let inserted = next_line()?;
        ensure!(
            (inserted.row(), inserted.diff) == (named(2, "two"), Some(1)),
            "{inserted:?}"
        );
        ensure!(inserted.timestamp > snapshot.timestamp, "{inserted:?}");
        Ok(())
    }
    .await;
    let _ = psql.kill();
    let output = psql.wait_with_output()?;
    result.with_context(|| {
        format!(
            "psql stderr: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;

    // The killed client's connection ends; the server serves the next one.
    let count: i64 = writer
        .query_one("SELECT count(*) FROM v", &[])
        .await?
        .get(0);
    assert_eq!(count, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_ends_a_subscribe_with_57014_and_the_connection_goes_on()
-> anyhow::Result<()> {
    let server = VigilServer::start(WORKERS)?;
    let writer = connect(&server).await?;
    create_view(&writer, &[(1, Some("one"))]).await?;
    let reader = connect(&server).await?;
    let mut subscriber = Subscriber::start(&reader, "SUBSCRIBE v", false).await?;
    assert_eq!(subscriber.next_data().await?.row(), named(1, "one"));
    // What psql's Ctrl-C sends: a cancel request on a connection of its own.
    reader.cancel_token().cancel_query(NoTls).await?;
    let ended = tokio::time::timeout(ROW_DEADLINE, subscriber.copy.next())
        .await
        .context("the stream did not end after the cancel")?;
    let error = match ended {
        Some(Err(error)) => error,
        other => bail!("expected the stream to fail, got {other:?}"),
    };
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    // The connection is usable afterwards.
    let value = reader
        .query_one("SELECT 41 + 1", &[])
        .await?
        .get::<_, i64>(0);
    ensure!(value == 42, "{value}");
    Ok(())
}
