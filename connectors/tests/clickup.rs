//! The ClickUp v2 connector end to end: the shared fixture API
//! ([`vigil_fixtures::api`]) serves the documented-shape payloads of
//! `fixtures/clickup` the way ClickUp does (a team's tasks paged by `page` until
//! `last_page`, filtered by `date_updated_gt`; 3 a page whatever is asked, so the
//! five tasks take two pages), the connector runs against an [`EmbeddedLog`] in a
//! temp dir, and the canonical topics are read back and compared with rows written
//! out by hand.
//!
//! The server can be scripted per request key (`task?page=N` or the path): an error
//! status with headers, or a broken body.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{assert_rows, keyed, latest, log, runs_row, sha256_hex, succeeded};
use serde_json::{Value, json};
use vigil_changelog::ChangeLog;
use vigil_connectors::run::{CURSORS_TOPIC, RunReport, RunStatus};
use vigil_connectors::{ClickUpConfig, ClickUpConnector, run_once};
use vigil_fixtures::api::{Api, Fault, FixtureApi, Options, Request, Tokens};

const SPACE: &str = "801";
const TOKEN: &str = "pk_183_TESTTOKEN";

// ---------------------------------------------------------------------------------
// The fixtures and the fixture API playing ClickUp.

fn fixture(path: &str) -> &'static [u8] {
    vigil_fixtures::api::file(&format!("clickup/{path}")).expect(path)
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(fixture(path)).expect("fixture json")
}

fn tasks() -> Vec<Value> {
    match fixture_json("tasks/9001.json") {
        Value::Array(tasks) => tasks,
        other => panic!("tasks/9001.json is not an array: {other}"),
    }
}

/// A task's raw payload is the list element as serialized compactly.
fn task_sha(id: &str) -> String {
    let task = tasks().into_iter().find(|task| task["id"] == id).expect(id);
    sha256_hex(task.to_string().as_bytes())
}

fn list_sha(id: &str) -> String {
    let lists = fixture_json("api/v2/folder/7001/list.json");
    let list = lists["lists"]
        .as_array()
        .expect("lists")
        .iter()
        .find(|list| list["id"] == id)
        .expect("list")
        .clone();
    sha256_hex(list.to_string().as_bytes())
}

fn space_sha() -> String {
    sha256_hex(fixture("api/v2/space/801.json"))
}

/// A request as the server saw it.
type Seen = Request;

/// The shared fixture API, seen from ClickUp's side.
struct Server {
    api: FixtureApi,
}

impl Server {
    async fn start() -> Server {
        let options = Options {
            tokens: Tokens {
                clickup: TOKEN.to_owned(),
                ..Tokens::default()
            },
            ..Options::default()
        };
        let api = FixtureApi::start_with(options).await.expect("fixture api");
        Server { api }
    }

    fn url(&self) -> String {
        self.api.base_url(Api::ClickUp)
    }

    /// One-shot replies by request key (`task?page=N` or the path).
    fn script(&self, key: &str, reply: Fault) {
        self.api.fault(Api::ClickUp, key, reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.api.requests()
    }

    fn forget_seen(&self) {
        self.api.forget_requests();
    }
}

// ---------------------------------------------------------------------------------
// The connector, the log, and reading topics back.

fn connector(server: &Server) -> ClickUpConnector {
    let text = format!(
        r#"
        tenant_id = "acme"
        base_url = "{}"
        token = "{TOKEN}"
        team_id = "9001"
        story_points_field = "c1a2b3c4-0000-4000-8000-000000000001"
        started_field = "c1a2b3c4-0000-4000-8000-000000000002"
        blocked_statuses = ["blocked"]
        blocked_tags = ["blocked"]

        [status_categories]
        "ready to ship" = "done"

        [[spaces]]
        id = "801"
        sprint_folder = "7001"
        blocked_sla_hours = 24

        [http]
        timeout = "5s"
        max_attempts = 4
        backoff_initial = "10ms"
        backoff_max = "50ms"
        max_rate_limit_wait = "10s"
        "#,
        server.url()
    );
    let config = ClickUpConfig::parse("test", &text, |_| None).expect("config");
    ClickUpConnector::new(config).expect("connector")
}

fn with_lineage(columns: Value, source_record_id: &str, run_id: &str, sha: &str) -> Value {
    let Value::Object(mut row) = columns else {
        panic!("columns are an object");
    };
    let mut add = |column: &str, value: Value| {
        row.insert(column.to_owned(), value);
    };
    add("tenant_id", "acme".into());
    add("source_system", "clickup".into());
    add("source_record_id", source_record_id.into());
    add("ingest_batch_id", run_id.into());
    add("payload_sha256", sha.into());
    add("mapping_version", 1.into());
    Value::Object(row)
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn run_row(report: &RunReport, status: &str, error: Option<&str>, cursor: Option<&str>) -> Value {
    json!({
        "tenant_id": "acme",
        "run_id": report.run_id,
        "connector": "clickup",
        "scope_id": report.scope,
        "mapping_version": 1,
        "started_at": time(report.started_at),
        "finished_at": time(report.finished_at),
        "status": status,
        "fetched": report.fetched,
        "published": report.published,
        "rejected": report.rejected,
        "error": error,
        "cursor": cursor.map(|at| json!({"updated_at": at}).to_string()),
    })
}

fn cursor_of(log: &dyn ChangeLog) -> Option<Value> {
    latest(log, CURSORS_TOPIC).remove(&format!("clickup:acme:{SPACE}"))
}

// ---------------------------------------------------------------------------------
// Expected rows, written by hand from the fixtures.

const BOARD: &str = "clickup:9001:801";
/// Every task, most recently updated first (the order ClickUp pages them in).
const ALL: [&str; 5] = ["86a0005", "86a0004", "86a0002", "86a0003", "86a0001"];

/// Which run published which task's rows.
type RunOf<'a> = &'a dyn Fn(&str) -> String;

fn expected_board(run: &str) -> BTreeMap<String, Value> {
    keyed(
        &["board_id", "tenant_id"],
        vec![with_lineage(
            json!({"board_id": BOARD, "source": "clickup", "name": "Web", "kind": "scrum",
                   "blocked_sla_hours": 24}),
            "space:801",
            run,
            &space_sha(),
        )],
    )
}

fn expected_sprints(run: &str) -> BTreeMap<String, Value> {
    let sprint = |id: &str, name: &str, state: &str, start: Value, end: Value| {
        with_lineage(
            json!({"sprint_id": format!("clickup:{id}"), "board_id": BOARD, "name": name,
                   "state": state, "start_at": start, "end_at": end, "complete_at": null}),
            &format!("list:{id}"),
            run,
            &list_sha(id),
        )
    };
    keyed(
        &["sprint_id", "tenant_id"],
        vec![
            // Both dates past: closed.
            sprint(
                "9101",
                "Sprint 1",
                "closed",
                "2024-04-29T00:00:00Z".into(),
                "2024-05-10T00:00:00Z".into(),
            ),
            // Started, due in 2099: active.
            sprint(
                "9102",
                "Sprint 2",
                "active",
                "2024-05-13T00:00:00Z".into(),
                "2099-12-31T00:00:00Z".into(),
            ),
            // No dates: future, and no times.
            sprint("9103", "Sprint 3", "future", Value::Null, Value::Null),
        ],
    )
}

fn work_item(id: &str, run_of: RunOf<'_>, columns: Value) -> Value {
    let Value::Object(mut row) = columns else {
        panic!("columns are an object");
    };
    row.insert("item_id".into(), format!("clickup:{id}").into());
    row.insert("board_id".into(), BOARD.into());
    row.insert("original_type".into(), Value::Null);
    row.insert("ready_for_qa_at".into(), Value::Null);
    row.insert("blocked_since".into(), Value::Null);
    with_lineage(Value::Object(row), id, &run_of(id), &task_sha(id))
}

fn expected_work_items(ids: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let all = [
        // Closed: done at date_done; points from the custom field (a number), not
        // ClickUp's own `points`; started from the date custom field.
        work_item(
            "86a0001",
            run_of,
            json!({
                "item_key": "86a0001", "title": "Login page", "item_type": "task",
                "status": "complete", "status_category": "done", "story_points": 5.0,
                "assignee_id": "183", "assignee_name": "Ana Silva", "sprint_id": "clickup:9101",
                "parent_key": null, "created_at": "2024-05-01T09:00:00Z",
                "updated_at": "2024-05-10T09:00:00Z", "started_at": "2024-05-02T09:00:00Z",
                "done_at": "2024-05-09T16:00:00Z", "blocked": false, "blocked_reason": null,
            }),
        ),
        // Blocked by tag; the first of two assignees.
        work_item(
            "86a0002",
            run_of,
            json!({
                "item_key": "86a0002", "title": "Session API", "item_type": "task",
                "status": "in progress", "status_category": "in_progress", "story_points": 3.0,
                "assignee_id": "183", "assignee_name": "Ana Silva", "sprint_id": "clickup:9102",
                "parent_key": null, "created_at": "2024-05-02T09:00:00Z",
                "updated_at": "2024-05-10T12:00:00Z", "started_at": "2024-05-06T09:00:00Z",
                "done_at": null, "blocked": true, "blocked_reason": "tag blocked",
            }),
        ),
        // Blocked by a dependency; its custom id is its key; its list is no sprint.
        work_item(
            "86a0003",
            run_of,
            json!({
                "item_key": "WEB-3", "title": "Logout", "item_type": "task",
                "status": "to do", "status_category": "todo", "story_points": null,
                "assignee_id": null, "assignee_name": null, "sprint_id": null,
                "parent_key": null, "created_at": "2024-05-03T09:00:00Z",
                "updated_at": "2024-05-10T10:00:00Z", "started_at": null,
                "done_at": null, "blocked": true, "blocked_reason": "waiting on 86a0002",
            }),
        ),
        // A subtask in a status the mapping calls done: no date_done, so no done_at;
        // done, so its blocked tag does not count.
        work_item(
            "86a0004",
            run_of,
            json!({
                "item_key": "86a0004", "title": "Session tests", "item_type": "subtask",
                "status": "ready to ship", "status_category": "done", "story_points": 1.0,
                "assignee_id": "183", "assignee_name": "Ana Silva", "sprint_id": "clickup:9102",
                "parent_key": "86a0002", "created_at": "2024-05-06T09:00:00Z",
                "updated_at": "2024-05-10T14:00:00Z", "started_at": null,
                "done_at": null, "blocked": false, "blocked_reason": null,
            }),
        ),
        // Blocked by status; no story points field on the task at all.
        work_item(
            "86a0005",
            run_of,
            json!({
                "item_key": "86a0005", "title": "Signup form", "item_type": "task",
                "status": "blocked", "status_category": "in_progress", "story_points": null,
                "assignee_id": "184", "assignee_name": "Ben Okafor", "sprint_id": "clickup:9103",
                "parent_key": null, "created_at": "2024-05-08T09:00:00Z",
                "updated_at": "2024-05-10T16:00:00Z", "started_at": null,
                "done_at": null, "blocked": true, "blocked_reason": "status blocked",
            }),
        ),
    ];
    let rows = all
        .into_iter()
        .filter(|row| ids.contains(&row["source_record_id"].as_str().unwrap()))
        .collect();
    keyed(&["item_id", "tenant_id"], rows)
}

fn expected_memberships(ids: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let rows = [
        ("86a0001", "9101"),
        ("86a0002", "9102"),
        ("86a0004", "9102"),
        ("86a0005", "9103"),
    ]
    .into_iter()
    .filter(|(task, _)| ids.contains(task))
    .map(|(task, list)| {
        with_lineage(
            json!({"sprint_id": format!("clickup:{list}"), "item_id": format!("clickup:{task}"),
                       "added_at": null, "removed_at": null}),
            &format!("{task}:list:{list}"),
            &run_of(task),
            &task_sha(task),
        )
    })
    .collect();
    keyed(&["item_id", "sprint_id", "tenant_id"], rows)
}

fn expected_links(ids: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let rows = [
        ("86a0001", "86a0005", "relates"),
        ("86a0002", "86a0003", "blocks"),
        ("86a0003", "86a0002", "is_blocked_by"),
        ("86a0004", "86a0002", "parent"),
        ("86a0005", "86a0001", "relates"),
    ]
    .into_iter()
    .filter(|(from, _, _)| ids.contains(from))
    .map(|(from, to, link_type)| {
        with_lineage(
            json!({"from_item_id": format!("clickup:{from}"), "to_item_id": format!("clickup:{to}"),
                   "link_type": link_type}),
            &format!("{from}:{link_type}:{to}"),
            &run_of(from),
            &task_sha(from),
        )
    })
    .collect();
    keyed(
        &["from_item_id", "link_type", "tenant_id", "to_item_id"],
        rows,
    )
}

fn assert_task_rows(log: &dyn ChangeLog, ids: &[&str], run_of: RunOf<'_>) {
    assert_rows(
        "eng.work_items",
        latest(log, "eng.work_items"),
        expected_work_items(ids, run_of),
    );
    assert_rows(
        "eng.sprint_memberships",
        latest(log, "eng.sprint_memberships"),
        expected_memberships(ids, run_of),
    );
    assert_rows(
        "eng.item_links",
        latest(log, "eng.item_links"),
        expected_links(ids, run_of),
    );
}

fn task_requests(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.key.starts_with("task?")).collect()
}

// ---------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn publishes_a_space_from_two_pages_with_sprints_from_folder_lists() {
    let server = Server::start().await;
    let clickup = connector(&server);
    let log = log();
    let report = run_once(&clickup, SPACE, &log.log).await;
    succeeded(&report);
    let run = report.run_id.clone();

    assert_rows(
        "eng.boards",
        latest(&log.log, "eng.boards"),
        expected_board(&run),
    );
    assert_rows(
        "eng.sprints",
        latest(&log.log, "eng.sprints"),
        expected_sprints(&run),
    );
    assert_task_rows(&log.log, &ALL, &|_| run.clone());
    // No status history in ClickUp's task list: the topic is not even created.
    assert!(log.log.end_offsets("eng.status_changes").is_err());
    // The space, three lists and five tasks; 1 board, 3 sprints, 5 items, 4
    // memberships, 5 links.
    assert_eq!(
        (report.fetched, report.published, report.rejected),
        (9, 18, 0)
    );

    let seen = server.seen();
    assert_eq!(
        seen.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        [
            "/api/v2/space/801",
            "/api/v2/folder/7001/list",
            "task?page=0",
            "task?page=1"
        ]
    );
    for request in &seen {
        assert_eq!(request.authorization.as_deref(), Some(TOKEN));
    }
    for request in task_requests(&seen) {
        let query = &request.query;
        assert_eq!(query.get("order_by").map(String::as_str), Some("updated"));
        assert_eq!(
            query.get("include_closed").map(String::as_str),
            Some("true")
        );
        assert_eq!(query.get("subtasks").map(String::as_str), Some("true"));
        // A first run asks for everything.
        assert_eq!(query.get("date_updated_gt"), None);
    }
    assert_eq!(
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-05-10T16:00:00Z"}))
    );
    assert_eq!(
        runs_row(&log.log, &report),
        run_row(&report, "succeeded", None, Some("2024-05-10T16:00:00Z"))
    );
}

#[tokio::test]
async fn the_next_run_asks_for_tasks_updated_after_the_cursor_minus_the_overlap() {
    let server = Server::start().await;
    let clickup = connector(&server);
    let log = log();
    let first = run_once(&clickup, SPACE, &log.log).await;
    succeeded(&first);
    server.forget_seen();

    let second = run_once(&clickup, SPACE, &log.log).await;
    succeeded(&second);
    // 16:00 minus the default 5 minute overlap, in epoch milliseconds.
    let since = "2024-05-10T15:55:00Z";
    assert_eq!(second.since.map(time).as_deref(), Some(since));
    let seen = server.seen();
    let asked = task_requests(&seen);
    assert_eq!(asked.len(), 1, "one page holds what changed");
    assert_eq!(
        asked[0].query.get("date_updated_gt").map(String::as_str),
        Some("1715356500000")
    );
    // Only 86a0005 was updated after 15:55; it is upserted by the second run.
    assert_task_rows(&log.log, &ALL, &|id| {
        if id == "86a0005" {
            second.run_id.clone()
        } else {
            first.run_id.clone()
        }
    });
    assert_eq!(
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-05-10T16:00:00Z"}))
    );
}

#[tokio::test]
async fn waits_out_a_429_until_x_ratelimit_reset() {
    let server = Server::start().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 2;
    server.script(
        "task?page=1",
        Fault::Status(
            429,
            vec![
                ("x-ratelimit-limit", "100".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
        ),
    );
    let clickup = connector(&server);
    let log = log();
    let report = run_once(&clickup, SPACE, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.rate_limit_waits, 1);
    let seen = server.seen();
    let tries: Vec<&Seen> = seen.iter().filter(|s| s.key == "task?page=1").collect();
    assert_eq!(
        tries.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 200]
    );
    // Nothing went out again before the reset, however long the run took to get
    // to the 429.
    let reset_at = std::time::UNIX_EPOCH + Duration::from_secs(reset);
    assert!(
        tries[1].at >= reset_at,
        "retried at {:?}, before the reset at {reset_at:?}",
        tries[1].at
    );
    let run = report.run_id.clone();
    assert_task_rows(&log.log, &ALL, &|_| run.clone());
}

#[tokio::test]
async fn a_malformed_page_fails_the_run_and_the_next_run_completes() {
    let server = Server::start().await;
    server.script(
        "task?page=1",
        Fault::Body(r#"{"tasks": [{"id": "86a0003", "name": "Logout""#.to_owned()),
    );
    let clickup = connector(&server);
    let log = log();

    let failed = run_once(&clickup, SPACE, &log.log).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_ref().expect("an error").to_string();
    assert_eq!(
        error,
        "malformed json from /clickup/api/v2/team/9001/task: EOF while parsing an object at line 1 column 45"
    );
    assert_eq!(
        runs_row(&log.log, &failed),
        run_row(&failed, "failed", Some(&error), None)
    );
    assert_eq!(failed.cursor, None);
    assert_eq!(cursor_of(&log.log), None);
    // The board, the sprints and the first page stay published.
    let page_0 = ["86a0005", "86a0004", "86a0002"];
    assert_task_rows(&log.log, &page_0, &|_| failed.run_id.clone());
    assert_eq!((failed.fetched, failed.published), (7, 4 + 3 + 3 + 3));

    let fixed = run_once(&clickup, SPACE, &log.log).await;
    succeeded(&fixed);
    assert_eq!(fixed.since, None);
    assert_eq!((fixed.fetched, fixed.published), (9, 18));
    // Upserts, no duplicates: `latest` fails on a key written twice in a topic
    // unless compaction kept one, and the rows are the fixed run's.
    let run = fixed.run_id.clone();
    assert_task_rows(&log.log, &ALL, &|_| run.clone());
    assert_rows(
        "eng.sprints",
        latest(&log.log, "eng.sprints"),
        expected_sprints(&run),
    );
    let published: usize = [
        "eng.boards",
        "eng.sprints",
        "eng.work_items",
        "eng.sprint_memberships",
        "eng.item_links",
    ]
    .iter()
    .map(|topic| latest(&log.log, topic).len())
    .sum();
    assert_eq!(u64::try_from(published).unwrap(), fixed.published);
    assert_eq!(runs_row(&log.log, &failed)["status"], "failed");
    assert_eq!(
        runs_row(&log.log, &fixed),
        run_row(&fixed, "succeeded", None, Some("2024-05-10T16:00:00Z"))
    );
}

#[tokio::test]
async fn a_task_that_cannot_be_mapped_is_rejected_and_kept() {
    let server = Server::start().await;
    let broken = json!({"id": "86a0099", "name": "no status", "date_created": "1715331600000"});
    server.script(
        "task?page=0",
        Fault::Body(json!({"tasks": [broken], "last_page": true}).to_string()),
    );
    let clickup = connector(&server);
    let log = log();
    let report = run_once(&clickup, SPACE, &log.log).await;
    succeeded(&report);
    // The space, three lists and the task are kept; the board and sprints published.
    assert_eq!(
        (report.fetched, report.published, report.rejected),
        (5, 4, 1)
    );
    assert!(latest(&log.log, "eng.work_items").is_empty());
    let raw = latest(&log.log, "raw.clickup");
    let kept = raw.get("86a0099").expect("the rejected task is kept raw");
    assert_eq!(kept["payload"], broken);
    assert_eq!(kept["scope"], SPACE);
}

#[test]
fn the_config_is_checked_up_front() {
    let base = "tenant_id = \"acme\"\ntoken = \"t\"\n";
    let error = |text: String| {
        ClickUpConfig::parse("clickup.toml", &text, |_| None)
            .expect_err("refused")
            .to_string()
    };
    assert_eq!(
        error(format!(
            "{base}team_id = \"90 01\"\n[[spaces]]\nid = \"801\"\n"
        )),
        "invalid connector config clickup.toml: team_id: \"90 01\" is not a clickup team id"
    );
    assert_eq!(
        error(format!("{base}team_id = \"9001\"\nspaces = []\n")),
        "invalid connector config clickup.toml: spaces: list at least one space"
    );
    assert_eq!(
        error(format!(
            "{base}team_id = \"9001\"\n[[spaces]]\nid = \"801\"\n[[spaces]]\nid = \"801\"\n"
        )),
        "invalid connector config clickup.toml: spaces: space 801 is listed twice"
    );
    // Without a sprint folder a space is kanban; the base URL defaults to ClickUp's.
    let config = ClickUpConfig::parse(
        "clickup.toml",
        &format!("{base}team_id = \"9001\"\n[[spaces]]\nid = \"801\"\n"),
        |_| None,
    )
    .expect("config");
    assert_eq!(config.common.base_url, "https://api.clickup.com");
    assert_eq!(config.spaces[0].kind, vigil_connectors::BoardKind::Kanban);
    assert_eq!(config.spaces[0].blocked_sla_hours, 48);
    assert_eq!(config.mapping.story_points_field, None);
}
