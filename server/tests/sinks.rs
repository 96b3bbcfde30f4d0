//! Sinks end to end, in-process, on the manual clock: a view with a temporal filter
//! fires Slack-formatted alerts at a local webhook receiver as the clock passes each
//! item's SLA, through 500s and timeouts from the receiver, with each alert accepted
//! once; a restart neither re-sends what was delivered nor misses what changed;
//! a receiver that refuses a change puts it in `vigil_sink_errors`; a topic sink
//! writes the change stream to the change log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use vigil_server::{Config, Server, ServerError};
use vigil_sql::ClockMode;

/// 2026-01-05 09:00:00 UTC.
const START_MS: u64 = 1_767_603_600_000;
const START: &str = "2026-01-05 09:00:00+00";

/// What the receiver does with the next requests, in order; afterwards it accepts.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Fail,
    /// Answer only after the sink's timeout has passed.
    Stall,
    Refuse,
}

#[derive(Default)]
struct Receiver {
    script: Vec<Reply>,
    /// Every request: its idempotency key and body.
    attempts: Vec<(String, serde_json::Value)>,
    /// Requests answered 200 in time, in order.
    accepted: Vec<(String, serde_json::Value)>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(State(state): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let reply = {
        let mut receiver = state.lock().unwrap();
        receiver.attempts.push((key.clone(), body.clone()));
        if receiver.script.is_empty() {
            receiver.accepted.push((key, body));
            None
        } else {
            Some(receiver.script.remove(0))
        }
    };
    match reply {
        None => StatusCode::OK,
        Some(Reply::Fail) => StatusCode::INTERNAL_SERVER_ERROR,
        Some(Reply::Refuse) => StatusCode::BAD_REQUEST,
        Some(Reply::Stall) => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            StatusCode::OK
        }
    }
}

async fn start_receiver(script: Vec<Reply>) -> (SocketAddr, Shared) {
    let state: Shared = Arc::new(Mutex::new(Receiver {
        script,
        ..Receiver::default()
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, state)
}

struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    async fn start(data_dir: PathBuf) -> TestServer {
        let config = Config {
            listen: "127.0.0.1:0".into(),
            http_listen: "127.0.0.1:0".into(),
            data_dir,
            workers: 2,
            clock: ClockMode::Manual {
                start: Some(START_MS),
            },
            webhook_timeout: Duration::from_millis(300),
            webhook_attempts: 5,
            builtin_views: false,
            ..Config::default()
        };
        let server = Server::bind(&config)
            .await
            .expect("bind")
            .with_shutdown_grace(Duration::from_secs(1));
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host(self.addr.ip().to_string())
            .port(self.addr.port())
            .user("tester")
            .dbname("vigil")
            .connect(NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("stops in time")
            .expect("task")
            .expect("clean shutdown");
    }
}

async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for message in client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    {
        if let SimpleQueryMessage::Row(row) = message {
            rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            );
        }
    }
    rows
}

/// Waits (at most 60 s) until `done` holds for the receiver.
async fn wait_for(receiver: &Shared, what: &str, done: impl Fn(&Receiver) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if done(&receiver.lock().unwrap()) {
            return;
        }
        if Instant::now() > deadline {
            let receiver = receiver.lock().unwrap();
            panic!("{what}: not within 60 s; attempts {:?}", receiver.attempts);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits (at most 60 s) until every sink has handled every change up to the
/// clock's reading: its progress frontier is past `now()`, so anything due by now
/// has been delivered or given up on.
async fn delivered_through_now(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind = rows(
            client,
            "SELECT count(*) FROM vigil_sinks \
             WHERE delivered_through IS NULL OR delivered_through <= now()",
        )
        .await;
        if behind == [vec![Some("0".to_string())]] {
            return;
        }
        assert!(Instant::now() < deadline, "sinks not caught up: {behind:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The Slack texts the receiver accepted, in order.
fn accepted_texts(receiver: &Receiver) -> Vec<String> {
    receiver
        .accepted
        .iter()
        .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn assert_keys_unique(receiver: &Receiver) {
    let mut keys: Vec<&String> = receiver.accepted.iter().map(|(k, _)| k).collect();
    let count = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        count,
        "a key was accepted twice: {:?}",
        receiver.accepted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_alerts_fire_as_slas_pass_survive_failures_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // The first delivery fails, the second stalls past the timeout, then a 500.
    let (receiver_addr, receiver) =
        start_receiver(vec![Reply::Fail, Reply::Stall, Reply::Fail]).await;
    let server = TestServer::start(data_dir.clone()).await;
    let client = server.connect().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE items (id int PRIMARY KEY, title text, blocked_since timestamptz, sla interval);
             CREATE MATERIALIZED VIEW breaches AS
                 SELECT id, title FROM items WHERE blocked_since + sla <= now();
             INSERT INTO items VALUES
                 (1, 'Login fails', TIMESTAMPTZ '{START}', interval '1 hour'),
                 (2, 'Slow search', TIMESTAMPTZ '{START}', interval '2 hours'),
                 (3, 'Broken build', TIMESTAMPTZ '{START}' - interval '2 days', interval '1 day');
             CREATE SINK sla_alerts FROM breaches INTO WEBHOOK 'http://{receiver_addr}/hook'
                 WITH (format = 'slack', template = '{{{{title}}}} (#{{{{id}}}}) is blocked past its SLA');"
        ))
        .await
        .expect("setup");
    // Item 3 was already past its SLA: it goes out first, through the failures.
    wait_for(&receiver, "the first alert", |r| r.accepted.len() == 1).await;
    assert_eq!(
        accepted_texts(&receiver.lock().unwrap()),
        ["Broken build (#3) is blocked past its SLA"]
    );
    {
        let r = receiver.lock().unwrap();
        assert_eq!(
            r.attempts.len(),
            4,
            "fail, stall, fail, accept: {:?}",
            r.attempts
        );
        assert!(
            r.attempts.iter().all(|(k, _)| *k == r.accepted[0].0),
            "one key for every attempt"
        );
    }
    // No input, only time: each item alerts when its SLA passes, not before.
    client
        .batch_execute("ADVANCE CLOCK BY '59 minutes'")
        .await
        .unwrap();
    delivered_through_now(&client).await;
    assert_eq!(
        receiver.lock().unwrap().accepted.len(),
        1,
        "nothing is due yet"
    );
    client
        .batch_execute("ADVANCE CLOCK BY '1 minute'")
        .await
        .unwrap();
    wait_for(&receiver, "item 1's alert", |r| r.accepted.len() == 2).await;
    client
        .batch_execute("ADVANCE CLOCK BY '1 hour'")
        .await
        .unwrap();
    wait_for(&receiver, "item 2's alert", |r| r.accepted.len() == 3).await;
    assert_eq!(
        accepted_texts(&receiver.lock().unwrap())[1..],
        [
            "Login fails (#1) is blocked past its SLA",
            "Slow search (#2) is blocked past its SLA"
        ]
    );
    let status = rows(
        &client,
        "SELECT sink, \"from\", delivered, failed, retries >= 3, status FROM vigil_sinks",
    )
    .await;
    let expected = ["sla_alerts", "breaches", "3", "0", "t", "running"];
    assert_eq!(status, [expected.map(|v| Some(v.to_string()))]);

    // Restart: nothing delivered goes out again; what changed while down does.
    drop(client);
    server.stop().await;
    let server = TestServer::start(data_dir.clone()).await;
    let client = server.connect().await;
    client
        .batch_execute(&format!(
            "INSERT INTO items VALUES (4, 'Flaky deploy', TIMESTAMPTZ '{START}' - interval '3 days', interval '1 day')"
        ))
        .await
        .unwrap();
    wait_for(&receiver, "item 4's alert after the restart", |r| {
        r.accepted.len() >= 4
    })
    .await;
    delivered_through_now(&client).await;
    {
        let r = receiver.lock().unwrap();
        assert_eq!(
            accepted_texts(&r)[3..],
            ["Flaky deploy (#4) is blocked past its SLA"],
            "only the new alert after the restart"
        );
        assert_keys_unique(&r);
    }
    drop(client);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_changes_are_kept_in_sink_errors_and_topic_sinks_publish() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver_addr, receiver) = start_receiver(vec![Reply::Refuse]).await;
    let server = TestServer::start(dir.path().join("data")).await;
    let client = server.connect().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE t (k int PRIMARY KEY, v text);
             CREATE MATERIALIZED VIEW v AS SELECT k, v FROM t;
             CREATE SINK to_hook FROM v INTO WEBHOOK 'http://{receiver_addr}/hook' WITH (format = 'json', on = 'all');
             CREATE SINK to_topic FROM v INTO TOPIC 'v.changes';
             INSERT INTO t VALUES (1, 'refused');"
        ))
        .await
        .unwrap();
    // The 400 is permanent: the change goes to vigil_sink_errors, the sink goes on.
    let deadline = Instant::now() + Duration::from_secs(60);
    let errors = loop {
        let errors = rows(
            &client,
            "SELECT sink, attempts, http_status, payload FROM vigil_sink_errors",
        )
        .await;
        if !errors.is_empty() || Instant::now() > deadline {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0][0].as_deref(), Some("to_hook"));
    assert_eq!(errors[0][1].as_deref(), Some("1"));
    assert_eq!(errors[0][2].as_deref(), Some("400"));
    let payload: serde_json::Value =
        serde_json::from_str(errors[0][3].as_deref().unwrap_or_default()).unwrap();
    assert_eq!(payload["row"], serde_json::json!({"k": 1, "v": "refused"}));
    client
        .batch_execute("UPDATE t SET v = 'kept' WHERE k = 1")
        .await
        .unwrap();
    wait_for(&receiver, "the update", |r| r.accepted.len() == 2).await;
    {
        let r = receiver.lock().unwrap();
        let ops: Vec<(&str, &serde_json::Value)> = r
            .accepted
            .iter()
            .map(|(_, b)| (b["op"].as_str().unwrap_or(""), &b["row"]))
            .collect();
        assert_eq!(
            ops[0],
            ("delete", &serde_json::json!({"k": 1, "v": "refused"}))
        );
        assert_eq!(
            ops[1],
            ("insert", &serde_json::json!({"k": 1, "v": "kept"}))
        );
    }
    // The topic sink wrote all three changes to the change log.
    client
        .batch_execute(
            "CREATE SOURCE changes (sink text, diff bigint, k int PATH 'row.k', v text PATH 'row.v') \
             FROM TOPIC 'v.changes' WITH (envelope = 'append')",
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = rows(
            &client,
            "SELECT sink, diff, k, v FROM changes ORDER BY diff, v",
        )
        .await;
        let expected: Vec<Vec<Option<String>>> = [
            ["to_topic", "-1", "1", "refused"],
            ["to_topic", "1", "1", "kept"],
            ["to_topic", "1", "1", "refused"],
        ]
        .iter()
        .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
        .collect();
        if got == expected {
            break;
        }
        if Instant::now() > deadline {
            let sinks = rows(&client, "SELECT * FROM vigil_sinks").await;
            let sources = rows(&client, "SELECT * FROM vigil_sources").await;
            panic!("topic contents: {got:?}\nsinks: {sinks:?}\nsources: {sources:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A view under a sink cannot be dropped without it.
    let error = client
        .batch_execute("DROP MATERIALIZED VIEW v")
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("2BP01"), "{error}");
    client
        .batch_execute("DROP SINK to_hook, to_topic")
        .await
        .unwrap();
    client
        .batch_execute("DROP MATERIALIZED VIEW v")
        .await
        .unwrap();
    drop(client);
    server.stop().await;
}
