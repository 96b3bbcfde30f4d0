//! Connectors run by the server and by `vigil connect`, against the fixture API
//! (`vigil_fixtures::api`, a real HTTP server playing GitHub, Jira, Azure Boards
//! and ClickUp), and `vigil demo` as a new user runs it.
//!
//! What the fixtures hold, from `fixtures/README.md`: GitHub `octo/web` (6 pull
//! requests) and `octo/api` (4); Jira boards 10 (WEB-1…WEB-5) and 20 (OPS-1…OPS-3);
//! Azure project Fabrikam (items 101, 102, 103); ClickUp space 801 (5 tasks). So one
//! run of each connector makes 6 runs (2 + 2 + 1 + 1 scopes), 10 pull requests and
//! 5 + 3 + 3 + 5 = 16 work items.

mod in_process;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use in_process::InProcess;
use serde_json::Value;
use tokio_postgres::{NoTls, SimpleQueryMessage};
use vigil_changelog::{ChangeLog, EmbeddedLog};
use vigil_fixtures::api::{Api, Fault, FixtureApi};
use vigil_server::config::{ConfigLayer, changelog_dir};
use vigil_server::demo;

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// How long anything here may take before the test gives up: runs of the fixtures
/// take well under a second, a debug server a few to start.
const DEADLINE: Duration = Duration::from_secs(90);

/// The server of `demo::prepare`'s config (four connectors against a fixture API),
/// in this process.
struct Running {
    server: InProcess,
    api: FixtureApi,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Running {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.server
    }
}

impl Running {
    async fn start() -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = demo::defaults(false)
            .overridden_by(ConfigLayer {
                listen: Some("127.0.0.1:0".into()),
                http_listen: Some("127.0.0.1:0".into()),
                data_dir: Some(dir.path().to_path_buf()),
                workers: Some(2),
                ..ConfigLayer::default()
            })
            .resolve()
            .expect("config");
        let api = demo::prepare(&mut config).await.expect("prepare");
        Running {
            server: InProcess::start(&config).await,
            api,
            _dir: dir,
        }
    }

    async fn post(&self, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.http))
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }

    async fn connectors(&self) -> Vec<Value> {
        let response = reqwest::get(format!("{}/api/v1/admin/connectors", self.http))
            .await
            .expect("get");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["connectors"].as_array().expect("a list").clone()
    }

    async fn connector(&self, id: &str) -> Value {
        self.connectors()
            .await
            .into_iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no connector {id}"))
    }
}

/// Waits until `check` holds, polling: the server gives no signal for "a run
/// started in the background has finished".
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_its_connectors_on_request() {
    let server = Running::start().await;

    let listed = server.connectors().await;
    let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["azure", "clickup", "github", "jira"]);
    let jira = server.connector("jira").await;
    assert_eq!(jira["scopes"], serde_json::json!(["10", "20"]));
    assert_eq!(jira["running"], false);
    assert_eq!(jira["last_run"], Value::Null);

    // A run held up by a slow answer is running: another request is refused.
    server.api.fault(
        Api::GitHub,
        "/repos/octo/web/pulls?page=1",
        Fault::Hang(Duration::from_millis(1500)),
    );
    let (status, body) = server.post("/api/v1/admin/connectors/github/run").await;
    assert_eq!((status, &body["state"]), (202, &Value::from("started")));
    let (status, body) = server.post("/api/v1/admin/connectors/github/run").await;
    assert_eq!(
        (status, &body["code"]),
        (409, &Value::from("connector_busy"))
    );
    assert_eq!(server.connector("github").await["running"], true);

    // Meanwhile the others run, and ?wait=true answers with their runs.
    let (status, body) = server
        .post("/api/v1/admin/connectors/jira/run?wait=true")
        .await;
    assert_eq!(status, 200, "{body}");
    let runs = body["runs"].as_array().expect("runs");
    let scopes: Vec<&str> = runs.iter().map(|r| r["scope"].as_str().unwrap()).collect();
    assert_eq!(scopes, ["10", "20"]);
    for run in runs {
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(run["published"].as_u64().unwrap() > 0, "{run}");
    }
    for id in ["azure", "clickup"] {
        let (status, body) = server
            .post(&format!("/api/v1/admin/connectors/{id}/run?wait=true"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    until("the github run to finish", || async {
        server.connector("github").await["running"] == false
    })
    .await;
    let github = server.connector("github").await;
    let last: Vec<&str> = github["last_run"]
        .as_array()
        .expect("a last run")
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(last, ["succeeded", "succeeded"]);

    let (status, body) = server.post("/api/v1/admin/connectors/gitlab/run").await;
    assert_eq!(
        (status, &body["code"]),
        (404, &Value::from("unknown_connector"))
    );

    // What the runs published reaches the sources and the views.
    let counts = demo::view_counts(&server.coordinator)
        .await
        .expect("view counts");
    for (view, rows) in &counts {
        assert!(*rows > 0, "{view} is empty: {counts:?}");
    }
    assert_eq!(
        server
            .rows("SELECT connector, count(*) FROM connector_runs WHERE status = 'succeeded' GROUP BY connector ORDER BY connector")
            .await,
        [["azure", "1"], ["clickup", "1"], ["github", "2"], ["jira", "2"]]
    );
    assert_eq!(
        server
            .rows("SELECT (SELECT count(*) FROM pull_requests) AS prs, (SELECT count(*) FROM work_items) AS items")
            .await,
        [["10", "16"]]
    );
    server.server.stop().await;
}

/// Runs `vigil connect` with `args` and returns its exit success, stdout and stderr.
async fn vigil_connect(args: Vec<String>) -> (bool, String, String) {
    let output = tokio::process::Command::new(VIGIL)
        .arg("connect")
        .args(args)
        .output()
        .await
        .expect("run vigil connect");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn connect_args(config: &Path, data_dir: &Path) -> Vec<String> {
    vec![
        "github".into(),
        "--config".into(),
        config.display().to_string(),
        "--once".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_connect_runs_a_connector_into_the_embedded_log() {
    let api = FixtureApi::start().await.expect("fixture api");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("github.toml");
    std::fs::write(&config, api.demo_config(Api::GitHub)).expect("write config");
    let data_dir = dir.path().join("data");

    let (ok, stdout, stderr) = vigil_connect(connect_args(&config, &data_dir)).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("github octo/web: succeeded in "),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("github octo/api: succeeded in "),
        "{stdout}"
    );
    assert!(!stdout.contains("demo-github-token") && !stderr.contains("demo-github-token"));
    {
        let log = EmbeddedLog::open(&changelog_dir(&data_dir)).expect("open the log");
        let published: u64 = log
            .end_offsets("eng.pull_requests")
            .expect("topic")
            .iter()
            .sum();
        assert_eq!(published, 10, "one record per pull request");
    }

    // A source that refuses the token fails the run, and the exit status says so.
    api.fault(
        Api::GitHub,
        "/repos/octo/web/pulls?page=1",
        Fault::Status(401, Vec::new()),
    );
    let (ok, stdout, _) = vigil_connect(connect_args(&config, &data_dir)).await;
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("github octo/web: failed after "),
        "{stdout}"
    );
    assert!(
        stdout.contains("github octo/api: succeeded in "),
        "{stdout}"
    );

    // A data directory whose log is held (by a server, here by this test) is
    // refused with where to go instead.
    let _held = EmbeddedLog::open(&changelog_dir(&data_dir)).expect("hold the log");
    let (ok, _, stderr) = vigil_connect(connect_args(&config, &data_dir)).await;
    assert!(!ok);
    assert!(
        stderr.contains("POST /api/v1/admin/connectors/ID/run"),
        "{stderr}"
    );

    let (ok, _, stderr) =
        vigil_connect(connect_args(&dir.path().join("missing.toml"), &data_dir)).await;
    assert!(!ok);
    assert!(stderr.contains("missing.toml"), "{stderr}");
}

/// The README's first command: `vigil demo` prints where to connect, loads the
/// fixtures and says it is ready; psql-style clients then read every view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_demo_serves_populated_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(VIGIL)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn vigil demo");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while !printed
        .iter()
        .any(|l: &String| l.starts_with("vigil demo: ready"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("vigil demo did not get ready: {printed:#?}");
            }
        }
    }
    let port: u16 = printed[0]
        .rsplit_once("-p ")
        .and_then(|(_, port)| port.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no port in {:?}", printed[0]));
    let runs = printed
        .iter()
        .filter(|l| l.contains(": succeeded in "))
        .count();
    assert_eq!(runs, 6, "{printed:#?}");

    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=vigil dbname=vigil"),
        NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(connection);
    for view in vigil_views::ENGINEERING_VIEWS {
        let messages = client
            .simple_query(&format!("SELECT count(*) FROM {view}"))
            .await
            .expect("query");
        let count: i64 = messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).and_then(|n| n.parse().ok()),
                _ => None,
            })
            .expect("a count");
        assert!(count > 0, "{view} is empty");
    }
    let _ = child.kill();
    let _ = child.wait();
}
