//! Sources end to end, on both change logs: the embedded log and Kafka (librdkafka's
//! in-process mock cluster, a real Kafka-protocol broker). The same suite runs on
//! each: multi-partition upserts with tombstones, append and Debezium envelopes, bad
//! records reported in `vigil_source_errors` while the source keeps going, views over
//! sources, and a restart mid-stream after which views equal what they were, with
//! nothing lost and nothing counted twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use vigil_changelog::{ChangeLog, EmbeddedLog, KafkaLog, LogError, Message};
use vigil_engine::repr::Row;
use vigil_engine::repr::text::datum_to_text;
use vigil_sql::{Config, Coordinator, ExecuteResponse, Session};

/// A change log to run the suite on.
trait Backend {
    /// A log for a coordinator over `data_dir`, opened anew after each restart.
    fn open(&self, data_dir: &Path) -> Arc<dyn ChangeLog>;
    /// Makes sure `topic` exists before a source reads it.
    fn create_topic(&self, log: &dyn ChangeLog, topic: &str, partitions: u32);
}

struct Embedded;

/// Stands in for a log between closing and reopening one.
struct Closed;

impl ChangeLog for Closed {
    fn describe(&self) -> String {
        "closed".into()
    }
    fn ensure_topic(&self, topic: &str, _: &vigil_changelog::TopicSpec) -> Result<u32, LogError> {
        Err(LogError::UnknownTopic(topic.into()))
    }
    fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        Err(LogError::UnknownTopic(topic.into()))
    }
    fn publish(&self, topic: &str, _: &[Message<'_>]) -> Result<Vec<(u32, u64)>, LogError> {
        Err(LogError::UnknownTopic(topic.into()))
    }
    fn end_offsets(&self, topic: &str) -> Result<Vec<u64>, LogError> {
        Err(LogError::UnknownTopic(topic.into()))
    }
    fn reader(
        &self,
        topic: &str,
        _: &[(u32, u64)],
    ) -> Result<Box<dyn vigil_changelog::LogReader>, LogError> {
        Err(LogError::UnknownTopic(topic.into()))
    }
}

impl Backend for Embedded {
    fn open(&self, data_dir: &Path) -> Arc<dyn ChangeLog> {
        Arc::new(EmbeddedLog::open(&data_dir.join("changelog")).expect("open embedded log"))
    }

    fn create_topic(&self, log: &dyn ChangeLog, topic: &str, partitions: u32) {
        let spec = vigil_changelog::TopicSpec {
            partitions,
            retention: vigil_changelog::Retention::All,
        };
        log.ensure_topic(topic, &spec).expect("create topic");
    }
}

struct Kafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Backend for Kafka {
    fn open(&self, _data_dir: &Path) -> Arc<dyn ChangeLog> {
        Arc::new(KafkaLog::connect(&self.cluster.bootstrap_servers()).expect("connect"))
    }

    fn create_topic(&self, _log: &dyn ChangeLog, topic: &str, partitions: u32) {
        // The mock broker does not implement CreateTopics.
        self.cluster
            .create_topic(topic, partitions as i32, 1)
            .expect("create topic in the mock cluster");
    }
}

fn kafka() -> Kafka {
    Kafka {
        cluster: MockCluster::new(1).expect("mock cluster"),
    }
}

/// A coordinator over a data directory and a log, restartable.
struct Harness<'b> {
    backend: &'b dyn Backend,
    dir: tempfile::TempDir,
    coordinator: Option<Coordinator>,
    log: Arc<dyn ChangeLog>,
    runtime: tokio::runtime::Runtime,
}

impl<'b> Harness<'b> {
    fn new(backend: &'b dyn Backend) -> Harness<'b> {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = backend.open(dir.path());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut harness = Harness {
            backend,
            dir,
            coordinator: None,
            log,
            runtime,
        };
        harness.start();
        harness
    }

    fn start(&mut self) {
        let coordinator = Coordinator::open(Config {
            data_dir: self.dir.path().to_path_buf(),
            workers: 2,
            log: Some(self.log.clone()),
            clock: Default::default(),
        })
        .expect("open coordinator");
        self.coordinator = Some(coordinator);
    }

    /// Stops the coordinator (its engine and sources) and starts a new one on the
    /// same data directory and a reopened log, as a process restart would.
    fn restart(&mut self, while_down: impl FnOnce(&dyn ChangeLog)) {
        self.coordinator = None;
        // The embedded log is locked while open: close it before opening it again.
        self.log = Arc::new(Closed);
        self.log = self.backend.open(self.dir.path());
        while_down(self.log.as_ref());
        self.start();
    }

    fn session(&self) -> Session {
        self.coordinator.as_ref().expect("started").session()
    }

    fn execute(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let mut session = self.session();
        self.runtime.block_on(async {
            match session.execute_batch(sql).await.pop() {
                Some(Ok(ExecuteResponse::Rows { rows, .. })) => Ok(text_rows(rows)),
                Some(Ok(_)) => Ok(Vec::new()),
                Some(Err(e)) => Err(format!("{e} (SQLSTATE {})", e.code())),
                None => Err("no result".into()),
            }
        })
    }

    fn run(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Polls `query` until it returns `expected` (sorted), failing after a deadline.
    fn eventually(&self, query: &str, expected: &[&[&str]]) {
        let expected: Vec<Vec<Option<String>>> = expected
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| (*v != "NULL").then(|| v.to_string()))
                    .collect()
            })
            .collect();
        let mut expected = expected;
        expected.sort();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut rows = self.run(query);
            rows.sort();
            if rows == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{query}\n  got:      {rows:?}\n  expected: {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn publish(&self, topic: &str, records: &[(Option<&str>, Option<&str>)]) {
        publish(self.log.as_ref(), topic, records);
    }
}

fn publish(log: &dyn ChangeLog, topic: &str, records: &[(Option<&str>, Option<&str>)]) {
    let messages: Vec<Message<'_>> = records
        .iter()
        .map(|(key, value)| Message {
            key: key.map(str::as_bytes),
            value: value.map(str::as_bytes),
        })
        .collect();
    log.publish(topic, &messages).expect("publish");
}

fn text_rows(rows: Vec<Row>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| row.iter().map(datum_to_text).collect())
        .collect()
}

fn issue(key: u32, status: &str, points: u32) -> String {
    format!(
        r#"{{"id": {key}, "fields": {{"status": {{"name": "{status}"}}}}, "points": "{points}"}}"#
    )
}

/// Upserts over three partitions: the latest value per key wins, tombstones delete,
/// and a view over the source follows.
fn upserts_and_tombstones(backend: &dyn Backend) {
    let h = Harness::new(backend);
    backend.create_topic(h.log.as_ref(), "issues", 3);
    h.run(
        "CREATE SOURCE issues (id int, status text PATH 'fields.status.name', points int, \
         PRIMARY KEY (id)) FROM TOPIC 'issues' WITH (format = 'json', envelope = 'upsert', partitions = 3)",
    );
    h.run("CREATE MATERIALIZED VIEW by_status AS SELECT status, count(*) AS n, sum(points) AS pts FROM issues GROUP BY status");
    let keys: Vec<String> = (0..30).map(|k| k.to_string()).collect();
    let first: Vec<String> = (0..30).map(|k| issue(k, "Open", k)).collect();
    let records: Vec<(Option<&str>, Option<&str>)> = keys
        .iter()
        .zip(&first)
        .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
        .collect();
    h.publish("issues", &records);
    h.eventually(
        "SELECT status, n::text, pts::text FROM by_status",
        &[&["Open", "30", "435"]],
    );
    // Keys 0..10 move to Done, 10..15 are deleted, key 3 changes twice.
    let done: Vec<String> = (0..10).map(|k| issue(k, "Done", 1)).collect();
    let mut records: Vec<(Option<&str>, Option<&str>)> = keys[..10]
        .iter()
        .zip(&done)
        .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
        .collect();
    records.extend(keys[10..15].iter().map(|k| (Some(k.as_str()), None)));
    let twice = issue(3, "Blocked", 8);
    records.push((Some("3"), Some(twice.as_str())));
    h.publish("issues", &records);
    // Open: 15..30 → 15 rows, points 15+…+29 = 330.
    h.eventually(
        "SELECT status, n::text, pts::text FROM by_status",
        &[
            &["Open", "15", "330"],
            &["Done", "9", "9"],
            &["Blocked", "1", "8"],
        ],
    );
    h.eventually("SELECT count(*)::text FROM issues", &[&["25"]]);
    // Records spread over the partitions, and each one's offset reached its end.
    h.eventually(
        "SELECT count(*)::text, sum(records)::text, sum(lag)::text FROM vigil_sources WHERE source = 'issues'",
        &[&["3", "46", "0"]],
    );
}

/// Records that do not decode are reported with where they are, and the source goes on.
fn bad_records_are_reported(backend: &dyn Backend) {
    let h = Harness::new(backend);
    backend.create_topic(h.log.as_ref(), "people", 1);
    h.run(
        "CREATE SOURCE people (id int NOT NULL, name text NOT NULL, born date, \
         PRIMARY KEY (id)) FROM TOPIC 'people'",
    );
    h.publish(
        "people",
        &[
            (
                Some("1"),
                Some(r#"{"id": 1, "name": "Ada", "born": "1815-12-10"}"#),
            ),
            (Some("2"), Some(r#"{"id": 2, "name": "#)),
            (Some("3"), Some(r#"{"id": 3, "born": "1906-12-09"}"#)),
            (
                Some("4"),
                Some(r#"{"id": 4, "name": "Grace", "born": "not a date"}"#),
            ),
            (
                Some("5"),
                Some(r#"{"id": 5, "name": "Edsger", "born": -1262304000000}"#),
            ),
            (
                Some("1"),
                Some(r#"{"id": 1, "name": "Ada Lovelace", "born": "1815-12-10"}"#),
            ),
            (Some("6"), Some(r#"{"id": 7, "name": "Mismatch"}"#)),
        ],
    );
    h.eventually(
        "SELECT id::text, name, born::text FROM people",
        &[
            &["1", "Ada Lovelace", "1815-12-10"],
            &["5", "Edsger", "1930-01-01"],
        ],
    );
    h.eventually(
        "SELECT source, \"partition\"::text, \"offset\"::text, key, \
         CASE WHEN message LIKE '%' || expected || '%' THEN 'ok' ELSE message END \
         FROM vigil_source_errors JOIN (VALUES (1, 'not valid JSON'), (2, 'column \"name\" is NOT NULL'), \
         (3, 'column \"born\"'), (6, 'record key says')) AS e(o, expected) ON \"offset\" = o",
        &[
            &["people", "0", "1", "2", "ok"],
            &["people", "0", "2", "3", "ok"],
            &["people", "0", "3", "4", "ok"],
            &["people", "0", "6", "6", "ok"],
        ],
    );
    h.eventually(
        "SELECT errors::text, records::text FROM vigil_sources WHERE source = 'people'",
        &[&["4", "7"]],
    );
}

/// Append sources keep every record; Debezium events upsert by key and delete on a
/// null `after`.
fn append_and_debezium(backend: &dyn Backend) {
    let h = Harness::new(backend);
    backend.create_topic(h.log.as_ref(), "clicks", 2);
    backend.create_topic(h.log.as_ref(), "cdc", 1);
    h.run("CREATE SOURCE clicks (page text, at timestamptz) FROM TOPIC 'clicks' WITH (envelope = 'append')");
    h.run(
        "CREATE SOURCE accounts (id int, owner text, PRIMARY KEY (id)) FROM TOPIC 'cdc' \
         WITH (envelope = 'debezium')",
    );
    h.publish(
        "clicks",
        &[
            (None, Some(r#"{"page": "/a", "at": 1700000000000}"#)),
            (
                None,
                Some(r#"{"page": "/a", "at": "2023-11-14T22:13:20Z"}"#),
            ),
            (Some("x"), Some(r#"{"page": "/b", "at": null}"#)),
        ],
    );
    h.publish(
        "cdc",
        &[
            (Some(r#"{"id": 1}"#), Some(r#"{"payload": {"before": null, "after": {"id": 1, "owner": "ann"}, "op": "c"}}"#)),
            (Some(r#"{"id": 2}"#), Some(r#"{"before": null, "after": {"id": 2, "owner": "bob"}, "op": "c"}"#)),
            (Some(r#"{"id": 1}"#), Some(r#"{"before": {"id": 1, "owner": "ann"}, "after": {"id": 1, "owner": "anne"}, "op": "u"}"#)),
            (Some(r#"{"id": 2}"#), Some(r#"{"before": {"id": 2, "owner": "bob"}, "after": null, "op": "d"}"#)),
            (Some(r#"{"id": 2}"#), None),
        ],
    );
    h.eventually(
        "SELECT page, count(*)::text, count(at)::text FROM clicks GROUP BY page",
        &[&["/a", "2", "2"], &["/b", "1", "0"]],
    );
    h.eventually("SELECT id::text, owner FROM accounts", &[&["1", "anne"]]);
}

/// A restart with records published while Vigil was down: sources replay the log,
/// and views equal what a from-scratch evaluation gives, nothing lost or doubled.
fn restart_mid_stream(backend: &dyn Backend) {
    let mut h = Harness::new(backend);
    backend.create_topic(h.log.as_ref(), "orders", 2);
    backend.create_topic(h.log.as_ref(), "events", 2);
    h.run("CREATE SOURCE orders (id int, customer text, amount int, PRIMARY KEY (id)) FROM TOPIC 'orders'");
    h.run("CREATE SOURCE events (order_id int, kind text) FROM TOPIC 'events' WITH (envelope = 'append')");
    h.run(
        "CREATE MATERIALIZED VIEW totals AS SELECT customer, count(*) AS n, sum(amount) AS total \
         FROM orders GROUP BY customer",
    );
    h.run("CREATE MATERIALIZED VIEW event_count AS SELECT count(*) AS n FROM events");
    let mut model: BTreeMap<u32, (String, u32)> = BTreeMap::new();
    let mut events = 0u32;
    let publish_batch = |log: &dyn ChangeLog,
                         round: u32,
                         model: &mut BTreeMap<u32, (String, u32)>,
                         events: &mut u32| {
        let mut orders = Vec::new();
        for i in 0..40 {
            let id = (round * 17 + i * 7) % 50;
            let customer = format!("c{}", (id + round) % 4);
            let amount = round * 10 + i;
            if (i + round).is_multiple_of(9) {
                model.remove(&id);
                orders.push((id.to_string(), None));
            } else {
                model.insert(id, (customer.clone(), amount));
                orders.push((
                    id.to_string(),
                    Some(format!(
                        r#"{{"id": {id}, "customer": "{customer}", "amount": {amount}}}"#
                    )),
                ));
            }
        }
        let records: Vec<(Option<&str>, Option<&str>)> = orders
            .iter()
            .map(|(k, v)| (Some(k.as_str()), v.as_deref()))
            .collect();
        publish(log, "orders", &records);
        let kinds: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"order_id": {i}, "kind": "r{round}"}}"#))
            .collect();
        let records: Vec<(Option<&str>, Option<&str>)> =
            kinds.iter().map(|v| (None, Some(v.as_str()))).collect();
        publish(log, "events", &records);
        *events += 5;
    };
    let expected = |model: &BTreeMap<u32, (String, u32)>| -> Vec<Vec<String>> {
        let mut by_customer: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for (customer, amount) in model.values() {
            let entry = by_customer.entry(customer).or_default();
            entry.0 += 1;
            entry.1 += amount;
        }
        by_customer
            .into_iter()
            .map(|(c, (n, total))| vec![c.to_string(), n.to_string(), total.to_string()])
            .collect()
    };
    let check = |h: &Harness<'_>, model: &BTreeMap<u32, (String, u32)>, events: u32| {
        let rows = expected(model);
        let rows: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let rows: Vec<&[&str]> = rows.iter().map(Vec::as_slice).collect();
        h.eventually("SELECT customer, n::text, total::text FROM totals", &rows);
        // Append records are counted once each, replays included.
        h.eventually(
            "SELECT n::text FROM event_count",
            &[&[events.to_string().as_str()]],
        );
    };
    for round in 0..3 {
        publish_batch(h.log.as_ref(), round, &mut model, &mut events);
    }
    check(&h, &model, events);
    h.restart(|log| {
        for round in 3..6 {
            publish_batch(log, round, &mut model, &mut events);
        }
    });
    // The first read after the restart already sees the whole replay.
    let rows = h.run("SELECT count(*)::text FROM events");
    assert_eq!(rows, vec![vec![Some(events.to_string())]]);
    check(&h, &model, events);
    publish_batch(h.log.as_ref(), 6, &mut model, &mut events);
    check(&h, &model, events);
    let frontiers =
        h.run("SELECT name, kind FROM vigil_frontiers WHERE lag_ms < 60000 ORDER BY name");
    assert_eq!(
        frontiers,
        vec![
            vec![Some("event_count".into()), Some("materialized view".into())],
            vec![Some("events".into()), Some("source".into())],
            vec![Some("orders".into()), Some("source".into())],
            vec![Some("totals".into()), Some("materialized view".into())],
        ]
    );
}

/// Statements about sources that must fail, with their SQLSTATEs.
fn refusals(backend: &dyn Backend) {
    let h = Harness::new(backend);
    backend.create_topic(h.log.as_ref(), "t", 1);
    h.run("CREATE SOURCE s (id int, PRIMARY KEY (id)) FROM TOPIC 't'");
    for (sql, code) in [
        (
            "CREATE SOURCE s2 (id int) FROM TOPIC 't' WITH (envelope = 'upsert')",
            "22023",
        ),
        (
            "CREATE SOURCE s2 (id int, PRIMARY KEY (id)) FROM TOPIC 'bad topic!'",
            "22023",
        ),
        (
            "CREATE SOURCE s2 (id int PATH 'a.b', PRIMARY KEY (nope)) FROM TOPIC 't'",
            "42703",
        ),
        ("CREATE SOURCE s (id int) FROM TOPIC 't'", "42P07"),
        ("CREATE TABLE vigil_mine (a int)", "42939"),
        ("INSERT INTO s VALUES (1)", "42809"),
        ("DELETE FROM s", "42809"),
        ("DROP TABLE s", "42809"),
    ] {
        let err = h.execute(sql).expect_err(sql);
        assert!(err.ends_with(&format!("(SQLSTATE {code})")), "{sql}: {err}");
    }
    h.run("CREATE MATERIALIZED VIEW v AS SELECT count(*) AS n FROM s");
    let err = h.execute("DROP SOURCE s").expect_err("dependents");
    assert!(err.contains("2BP01"), "{err}");
    h.run("DROP SOURCE s CASCADE");
    assert_eq!(h.run("SHOW SOURCES"), Vec::<Vec<Option<String>>>::new());
    h.run("DROP SOURCE IF EXISTS s");
}

macro_rules! suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn upserts_and_tombstones() {
                super::upserts_and_tombstones(&$backend);
            }

            #[test]
            fn bad_records_are_reported() {
                super::bad_records_are_reported(&$backend);
            }

            #[test]
            fn append_and_debezium() {
                super::append_and_debezium(&$backend);
            }

            #[test]
            fn restart_mid_stream() {
                super::restart_mid_stream(&$backend);
            }

            #[test]
            fn refusals() {
                super::refusals(&$backend);
            }
        }
    };
}

suite!(embedded, Embedded);
suite!(kafka_mock, kafka());
