//! `vigil publish` end to end: the real binary publishes a file of JSON lines, a real
//! `vigil serve` reads the topic through `CREATE SOURCE`, and tokio-postgres polls the
//! source until it shows the rows (an upsert replaces, a tombstone deletes).
//!
//! Both ways in are covered: through a running server's HTTP API, and, with no server
//! running, straight into the embedded change log of a data directory that a server
//! started afterwards replays.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use common::{VigilServer, free_port, scratch_dir};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

/// How long a published record may take to show in a query.
const VISIBLE_DEADLINE: Duration = Duration::from_secs(60);

const CREATE_SOURCE: &str = "CREATE SOURCE issues (id text, status text, points int, \
     PRIMARY KEY (id)) FROM TOPIC 'jira.issues' WITH (envelope = 'upsert', partitions = 2)";

/// Five records: A-1 is replaced, A-3 is created and deleted.
const RECORDS: &str = r#"{"key": "A-1", "value": {"id": "A-1", "status": "open", "points": 3}}
{"key": "A-2", "value": {"id": "A-2", "status": "open", "points": 5}}

{"key": "A-1", "value": {"id": "A-1", "status": "done", "points": 3}}
{"key": "A-3", "value": {"id": "A-3", "status": "open", "points": 1}}
{"key": "A-3", "value": null}
"#;

/// What `issues` shows once [`RECORDS`] are read.
fn expected_rows() -> Vec<(String, String, i32)> {
    vec![
        ("A-1".into(), "done".into(), 3),
        ("A-2".into(), "open".into(), 5),
    ]
}

async fn connect(server: &VigilServer) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&server.conninfo(), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs `vigil publish ARGS…`.
async fn vigil_publish(args: &[&str]) -> anyhow::Result<Output> {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("publish")
        .args(args)
        .output()
        .await
        .context("running vigil publish")
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("a non-UTF-8 temporary path")
}

/// Polls `issues` until it equals `expected`, or fails at the deadline with what it
/// last showed.
async fn wait_for_rows(client: &Client, expected: &[(String, String, i32)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + VISIBLE_DEADLINE;
    loop {
        let rows: Vec<(String, String, i32)> = client
            .query("SELECT id, status, points FROM issues ORDER BY id", &[])
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        if rows == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("issues still shows {rows:?}, expected {expected:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn publish_through_the_server_upserts_and_deletes() -> anyhow::Result<()> {
    let server = VigilServer::start(2)?;
    let result = through_the_server(&server).await;
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", server.log_tail()))
}

async fn through_the_server(server: &VigilServer) -> anyhow::Result<()> {
    let client = connect(server).await?;
    client.batch_execute(CREATE_SOURCE).await?;
    let http = server.http_addr();

    // A bad line stops the run before its batch: the good line above it is not sent.
    let bad = server.scratch_dir().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"key\": \"A-9\", \"value\": {\"id\": \"A-9\", \"status\": \"lost\", \"points\": 9}}\n\
         {\"key\": \"A-10\", \"value\": {\"id\": \"A-10\"\n",
    )?;
    let output = vigil_publish(&["jira.issues", path_str(&bad)?, "--http", &http]).await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "{}", describe(&output));
    ensure!(
        stderr.contains(&format!("{}:2: invalid JSON at column", bad.display())),
        "{}",
        describe(&output)
    );

    let file = server.scratch_dir().join("issues.jsonl");
    std::fs::write(&file, RECORDS)?;
    let output = vigil_publish(&["jira.issues", path_str(&file)?, "--http", &http]).await?;
    ensure!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        stdout.starts_with("published 5 records to jira.issues (the vigil server at"),
        "{}",
        describe(&output)
    );

    wait_for_rows(&client, &expected_rows()).await?;

    // The topic holds exactly the five good records: nothing of the bad run.
    let topic: Value = reqwest::get(format!("http://{http}/api/v1/topics/jira.issues"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(topic["partitions"] == 2, "{topic}");
    let ends: Vec<u64> = serde_json::from_value(topic["end_offsets"].clone())?;
    ensure!(ends.iter().sum::<u64>() == 5, "{topic}");
    Ok(())
}

#[tokio::test]
async fn publish_without_a_server_writes_the_data_directory() -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let data_dir = dir.path().join("data");
    let file = dir.path().join("issues.jsonl");
    std::fs::write(&file, RECORDS)?;
    // Nothing listens on a port that was just free: the log is written directly.
    let dead_http = format!("127.0.0.1:{}", free_port()?);
    let output = vigil_publish(&[
        "jira.issues",
        path_str(&file)?,
        "--http",
        &dead_http,
        "--data-dir",
        path_str(&data_dir)?,
        "--partitions",
        "2",
    ])
    .await?;
    ensure!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        stdout.starts_with("published 5 records to jira.issues (embedded log at"),
        "{}",
        describe(&output)
    );

    let server = VigilServer::start_in(dir, 2)?;
    let result = replayed_by_the_server(&server, &file, &dead_http).await;
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", server.log_tail()))
}

async fn replayed_by_the_server(
    server: &VigilServer,
    file: &Path,
    dead_http: &str,
) -> anyhow::Result<()> {
    let client = connect(server).await?;
    client.batch_execute(CREATE_SOURCE).await?;
    wait_for_rows(&client, &expected_rows()).await?;

    // With the server holding the log, the fallback fails and says what to do.
    let data_dir = server.data_dir();
    let output = vigil_publish(&[
        "jira.issues",
        path_str(file)?,
        "--http",
        dead_http,
        "--data-dir",
        path_str(&data_dir)?,
    ])
    .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "{}", describe(&output));
    ensure!(
        stderr.contains("in use by another process") && stderr.contains("--http"),
        "{}",
        describe(&output)
    );

    // Through the server's HTTP API instead, stdin works as well as a file.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["publish", "jira.issues", "--http", &server.http_addr()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    tokio::io::AsyncWriteExt::write_all(
        &mut stdin,
        b"{\"key\": \"A-2\", \"value\": null}\n{\"key\": \"A-4\", \"value\": {\"id\": \"A-4\", \"status\": \"new\", \"points\": 8}}\n",
    )
    .await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    ensure!(output.status.success(), "{}", describe(&output));
    wait_for_rows(
        &client,
        &[
            ("A-1".into(), "done".into(), 3),
            ("A-4".into(), "new".into(), 8),
        ],
    )
    .await
}

#[tokio::test]
async fn unreachable_kafka_brokers_stop_the_server_at_startup() -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let brokers = format!("127.0.0.1:{}", free_port()?);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--workers", "1", "--kafka", &brokers, "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "{}", describe(&output));
    ensure!(
        stderr.contains(&format!("cannot connect to the kafka brokers {brokers}")),
        "{}",
        describe(&output)
    );
    Ok(())
}
