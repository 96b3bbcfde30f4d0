//! Time in views and subscriptions, on the manual clock: temporal filters that move
//! with no input, `ADVANCE CLOCK`, `SUBSCRIBE` (snapshot, changes and progress in
//! time order; resuming `AS OF` the last progress without a miss or a repeat),
//! `DECLARE … CURSOR FOR SUBSCRIBE` with `FETCH`, and `RETAIN HISTORY`.

use std::time::Duration;

use vigil_engine::repr::Row;
use vigil_engine::repr::text::datum_to_text;
use vigil_sql::{
    ClockMode, Config, Coordinator, ExecuteResponse, SubscribeEvent, SubscribeOptions,
    SubscribeTarget, Subscription,
};

/// 2026-01-05 09:00:00 UTC, where every test's clock starts.
const START: &str = "2026-01-05 09:00:00+00";
const START_MS: u64 = 1_767_603_600_000;

struct Harness {
    dir: tempfile::TempDir,
    coordinator: Option<Coordinator>,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut harness = Harness {
            dir: tempfile::tempdir().expect("temp dir"),
            coordinator: None,
            runtime,
        };
        harness.start();
        harness
    }

    fn start(&mut self) {
        self.coordinator = Some(
            Coordinator::open(Config {
                data_dir: self.dir.path().to_path_buf(),
                workers: 2,
                log: None,
                clock: ClockMode::Manual {
                    start: Some(START_MS),
                },
            })
            .expect("open coordinator"),
        );
    }

    fn restart(&mut self) {
        self.coordinator = None;
        self.start();
    }

    fn coordinator(&self) -> &Coordinator {
        self.coordinator.as_ref().expect("started")
    }

    fn execute(&self, sql: &str) -> Result<Vec<Vec<String>>, (String, String)> {
        let mut session = self.coordinator().session();
        self.runtime.block_on(async {
            match session.execute_batch(sql).await.pop() {
                Some(Ok(ExecuteResponse::Rows { rows, .. })) => Ok(text(rows)),
                Some(Ok(_)) => Ok(Vec::new()),
                Some(Err(e)) => Err((e.code().to_string(), e.to_string())),
                None => Err(("".into(), "no result".into())),
            }
        })
    }

    fn run(&self, sql: &str) -> Vec<Vec<String>> {
        self.execute(sql)
            .unwrap_or_else(|(code, e)| panic!("{sql}: {e} ({code})"))
    }

    /// The sorted rows of `query`.
    fn rows(&self, query: &str) -> Vec<Vec<String>> {
        let mut rows = self.run(query);
        rows.sort();
        rows
    }

    fn refused(&self, sql: &str) -> (String, String) {
        match self.execute(sql) {
            Ok(rows) => panic!("{sql} succeeded with {rows:?}"),
            Err(e) => e,
        }
    }

    fn subscribe(&self, target: &str, options: SubscribeOptions) -> Subscription {
        self.runtime
            .block_on(
                self.coordinator()
                    .subscribe(SubscribeTarget::Relation(target.to_string()), options),
            )
            .expect("subscribe")
    }

    /// The next event of `subscription`, failing after a generous deadline.
    fn next(&self, subscription: &mut Subscription) -> SubscribeEvent {
        self.runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), subscription.next()).await
            })
            .expect("an event within 30 s")
            .expect("the subscription goes on")
            .expect("no error")
    }

    /// Applies `subscription`'s events to `seen` until its contents are `expected`
    /// (rows as comma-joined text), checking that times never go back. Returns the
    /// last progress time.
    fn follow(&self, subscription: &mut Subscription, seen: &mut Seen, expected: &[&str]) -> u64 {
        loop {
            if seen.contents() == expected {
                return seen.progress;
            }
            match self.next(subscription) {
                SubscribeEvent::Updates { time, updates } => {
                    assert!(
                        time >= seen.progress,
                        "updates at {time} after progress to {}",
                        seen.progress
                    );
                    for (row, diff) in updates {
                        seen.log.push((time, text(vec![row])[0].join(","), diff));
                    }
                }
                SubscribeEvent::Progress(time) => {
                    assert!(
                        time > seen.progress,
                        "progress went from {} to {time}",
                        seen.progress
                    );
                    seen.progress = time;
                }
            }
        }
    }

    /// The engine time that reads use now: the clock's reading.
    fn now_ms(&self) -> u64 {
        let rows = self.run("SELECT CAST(extract(epoch FROM now()) * 1000 AS bigint)");
        rows[0][0].parse().expect("a number")
    }
}

/// What a subscriber has received.
#[derive(Default)]
struct Seen {
    log: Vec<(u64, String, i64)>,
    progress: u64,
}

impl Seen {
    /// The rows the changes add up to; a row counted twice shows up twice.
    fn contents(&self) -> Vec<String> {
        let mut counts = std::collections::BTreeMap::<&str, i64>::new();
        for (_, row, diff) in &self.log {
            *counts.entry(row).or_default() += diff;
        }
        let mut rows = Vec::new();
        for (row, count) in counts {
            for _ in 0..count.max(0) {
                rows.push(row.to_string());
            }
        }
        rows
    }
}

fn text(rows: Vec<Row>) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|d| datum_to_text(d).unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|v| v.to_string()).collect())
        .collect();
    rows.sort();
    rows
}

fn blocked_items(h: &Harness) {
    h.run(
        "CREATE TABLE items (id int PRIMARY KEY, board text, blocked_since timestamptz, sla interval)",
    );
    h.run(
        "CREATE MATERIALIZED VIEW breaches AS \
         SELECT id, board FROM items WHERE blocked_since + sla <= now()",
    );
    h.run(
        "CREATE MATERIALIZED VIEW blocked_now AS \
         SELECT id FROM items WHERE now() BETWEEN blocked_since AND blocked_since + interval '7 days'",
    );
}

#[test]
fn temporal_filters_move_with_the_clock_and_no_input() {
    let h = Harness::new();
    blocked_items(&h);
    h.run(&format!(
        "INSERT INTO items VALUES \
         (1, 'web', TIMESTAMPTZ '{START}', interval '2 days'), \
         (2, 'web', TIMESTAMPTZ '{START}' + interval '1 day', interval '2 days'), \
         (3, 'api', TIMESTAMPTZ '{START}' - interval '3 days', interval '1 day'), \
         (4, 'api', NULL, interval '1 day')"
    ));
    // Item 3 has been over its SLA since two days ago; 1 and 2 are within theirs.
    assert_eq!(h.rows("SELECT * FROM breaches"), strings(&[&["3", "api"]]));
    assert_eq!(
        h.rows("SELECT * FROM blocked_now"),
        strings(&[&["1"], &["3"]])
    );

    // Exactly at item 1's deadline it is in (<=); not a millisecond before.
    h.run("ADVANCE CLOCK BY '2 days'");
    let deadline = START_MS + 2 * 86_400_000;
    assert!(h.now_ms() >= deadline);
    assert_eq!(
        h.rows("SELECT * FROM breaches"),
        strings(&[&["1", "web"], &["3", "api"]])
    );
    assert_eq!(
        h.rows("SELECT * FROM blocked_now"),
        strings(&[&["1"], &["2"], &["3"]])
    );

    // Item 3 leaves the blocked window just after seven days (BETWEEN includes
    // its bounds).
    h.run("ADVANCE CLOCK BY '2 days 1 millisecond'");
    assert_eq!(
        h.rows("SELECT * FROM breaches"),
        strings(&[&["1", "web"], &["2", "web"], &["3", "api"]])
    );
    assert_eq!(
        h.rows("SELECT * FROM blocked_now"),
        strings(&[&["1"], &["2"]])
    );

    // Unblocking an item takes it out at once, and nothing comes back later.
    h.run("UPDATE items SET blocked_since = NULL WHERE id = 2");
    h.run("ADVANCE CLOCK BY '10 days'");
    assert_eq!(
        h.rows("SELECT * FROM breaches"),
        strings(&[&["1", "web"], &["3", "api"]])
    );
    assert_eq!(
        h.rows("SELECT * FROM blocked_now"),
        Vec::<Vec<String>>::new()
    );

    // Temporal HAVING over an aggregate.
    h.run(
        "CREATE MATERIALIZED VIEW stale_boards AS SELECT board FROM items \
         GROUP BY board HAVING max(blocked_since) < now() - interval '1 day'",
    );
    assert_eq!(
        h.rows("SELECT * FROM stale_boards"),
        strings(&[&["api"], &["web"]])
    );
}

#[test]
fn temporal_misuse_is_refused() {
    let h = Harness::new();
    h.run("CREATE TABLE t (a int, at timestamptz)");
    for (sql, code, needle) in [
        (
            "CREATE MATERIALIZED VIEW v AS SELECT a, now() FROM t",
            "0A000",
            "select list",
        ),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT a FROM t WHERE at < now() OR a = 1",
            "0A000",
            "OR",
        ),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT a FROM t WHERE at <> now()",
            "0A000",
            "<>",
        ),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT a FROM t WHERE (at < now()) = (a = 1)",
            "0A000",
            "now()",
        ),
    ] {
        let (got, message) = h.refused(sql);
        assert_eq!(got, code, "{sql}: {message}");
        assert!(message.contains(needle), "{sql}: {message}");
    }
    // Ad hoc, now() is just the clock's reading.
    assert_eq!(
        h.run("SELECT now() = TIMESTAMPTZ '2026-01-05 09:00:00+00'"),
        vec![vec!["t".to_string()]]
    );
}

#[test]
fn the_manual_clock_only_moves_forward_and_survives_restarts() {
    let mut h = Harness::new();
    assert_eq!(h.now_ms(), START_MS);
    // A plain view reads the clock when a statement runs, not when it was created.
    h.run("CREATE VIEW clock AS SELECT now() AS t");
    h.run("ADVANCE CLOCK BY '1 hour'");
    assert_eq!(
        h.run("SELECT t = TIMESTAMPTZ '2026-01-05 10:00:00+00' FROM clock"),
        vec![vec!["t".to_string()]]
    );
    let (code, message) = h.refused(&format!("ADVANCE CLOCK TO '{START}'"));
    assert_eq!(code, "55000", "{message}");
    assert_eq!(h.refused("ADVANCE CLOCK BY '1 month'").0, "22023");
    h.restart();
    assert_eq!(
        h.run("SELECT now() = TIMESTAMPTZ '2026-01-05 10:00:00+00'"),
        vec![vec!["t".to_string()]]
    );
}

#[test]
fn subscribe_delivers_snapshot_changes_and_progress_in_order() {
    let h = Harness::new();
    blocked_items(&h);
    h.run(&format!(
        "INSERT INTO items VALUES (1, 'web', TIMESTAMPTZ '{START}' - interval '3 days', interval '1 day')"
    ));
    let mut sub = h.subscribe("breaches", SubscribeOptions::default());
    let as_of = sub.as_of();
    let mut seen = Seen::default();
    h.follow(&mut sub, &mut seen, &["1,web"]);
    assert_eq!(
        seen.log,
        [(as_of, "1,web".to_string(), 1)],
        "the snapshot comes first"
    );
    // A write, then the clock passing a deadline, each arrive at their own time.
    h.run(&format!(
        "INSERT INTO items VALUES (2, 'api', TIMESTAMPTZ '{START}', interval '1 hour')"
    ));
    h.run("DELETE FROM items WHERE id = 1");
    h.follow(&mut sub, &mut seen, &[]);
    h.run("ADVANCE CLOCK BY '1 hour'");
    h.follow(&mut sub, &mut seen, &["2,api"]);
    let changes: Vec<(&str, i64)> = seen.log[1..]
        .iter()
        .map(|(_, r, d)| (r.as_str(), *d))
        .collect();
    assert_eq!(changes, [("1,web", -1), ("2,api", 1)]);
    let (deleted, breached) = (seen.log[1].0, seen.log[2].0);
    assert!(as_of < deleted && deleted < breached, "{:?}", seen.log);
    assert_eq!(
        breached,
        START_MS + 3_600_000,
        "the breach appears at its deadline"
    );
}

#[test]
fn resuming_as_of_the_last_progress_misses_and_repeats_nothing() {
    let h = Harness::new();
    h.run("CREATE TABLE t (k int PRIMARY KEY, v text)");
    h.run("CREATE MATERIALIZED VIEW v AS SELECT k, upper(v) AS v FROM t");
    h.run("INSERT INTO t VALUES (1, 'a')");
    let mut sub = h.subscribe("v", SubscribeOptions::default());
    h.run("INSERT INTO t VALUES (2, 'b')");
    let mut seen = Seen::default();
    h.follow(&mut sub, &mut seen, &["1,A", "2,B"]);
    // The last progress the client saw: everything before it has been delivered.
    let resume_at = match h.next(&mut sub) {
        SubscribeEvent::Progress(t) => t,
        SubscribeEvent::Updates { .. } => panic!("no change was made"),
    };
    drop(sub);
    h.run("INSERT INTO t VALUES (3, 'c')");
    h.run("UPDATE t SET v = 'z' WHERE k = 1");
    // Changes from resume_at on.
    let mut resumed = h.subscribe(
        "v",
        SubscribeOptions {
            snapshot: false,
            progress: true,
            as_of: Some(resume_at),
        },
    );
    seen.progress = 0;
    // A repeat would count a row twice and a miss would lose one: either way the
    // contents never match.
    h.follow(&mut resumed, &mut seen, &["1,Z", "2,B", "3,C"]);
    let expected: Vec<String> = h
        .rows("SELECT * FROM v")
        .iter()
        .map(|r| r.join(","))
        .collect();
    assert_eq!(expected, ["1,Z", "2,B", "3,C"]);

    // History older than what the view retains is refused.
    let error = h
        .runtime
        .block_on(h.coordinator().subscribe(
            SubscribeTarget::Relation("v".into()),
            SubscribeOptions {
                as_of: Some(1),
                ..SubscribeOptions::default()
            },
        ))
        .expect_err("history compacted");
    assert_eq!(error.code(), "22023", "{error}");
}

#[test]
fn changes_only_from_now_on_a_relation_that_keeps_no_history() {
    let h = Harness::new();
    h.run("CREATE TABLE t (k int PRIMARY KEY, v text)");
    h.run("INSERT INTO t VALUES (1, 'a')");
    // A table retains no history; leaving out the snapshot needs none.
    let mut sub = h.subscribe(
        "t",
        SubscribeOptions {
            snapshot: false,
            progress: true,
            as_of: None,
        },
    );
    h.run("INSERT INTO t VALUES (2, 'b')");
    let mut seen = Seen::default();
    h.follow(&mut sub, &mut seen, &["2,b"]);
}

#[test]
fn cursors_fetch_from_a_subscription() {
    let h = Harness::new();
    h.run("CREATE TABLE t (k int)");
    h.run("INSERT INTO t VALUES (1), (2)");
    let mut session = h.coordinator().session();
    let mut run = |sql: &str| {
        h.runtime.block_on(async {
            match session.execute_batch(sql).await.pop() {
                Some(Ok(ExecuteResponse::Rows { desc, rows })) => {
                    let names: Vec<String> = desc.columns.iter().map(|c| c.name.clone()).collect();
                    (names, text(rows))
                }
                Some(Ok(_)) => (Vec::new(), Vec::new()),
                Some(Err(e)) => panic!("{sql}: {e}"),
                None => panic!("{sql}: no result"),
            }
        })
    };
    run("BEGIN");
    run("DECLARE c CURSOR FOR SUBSCRIBE (SELECT k * 10 AS k10 FROM t) WITH (PROGRESS = false)");
    let (names, rows) = run("FETCH ALL c WITH (timeout = '5s')");
    assert_eq!(names, ["vigil_timestamp", "vigil_diff", "k10"]);
    let mut values: Vec<(String, String)> =
        rows.iter().map(|r| (r[1].clone(), r[2].clone())).collect();
    values.sort();
    assert_eq!(
        values,
        [("1".into(), "10".into()), ("1".into(), "20".into())]
    );
    // Nothing new: the timeout passes with no rows.
    let (_, rows) = run("FETCH 10 c WITH (timeout = '100ms')");
    assert!(rows.is_empty(), "{rows:?}");
    h.run("DELETE FROM t WHERE k = 1");
    let (_, rows) = run("FETCH 10 c WITH (timeout = '5s')");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0][1].as_str(), rows[0][2].as_str()), ("-1", "10"));
    run("CLOSE c");
    run("COMMIT");
    let mut session = h.coordinator().session();
    let error = h
        .runtime
        .block_on(session.execute_batch("FETCH 1 c"))
        .pop()
        .expect("a result")
        .expect_err("closed");
    assert_eq!(error.code(), "34000");
}
