//! The Jira Cloud connector end to end: the shared fixture API
//! ([`vigil_fixtures::api`]) serves the recorded-shape payloads of `fixtures/jira`
//! the way Jira Cloud does (the JQL search paged by `nextPageToken`, the changelog
//! and sprints paged by `startAt`), the connector runs against an [`EmbeddedLog`]
//! in a temp dir, and the canonical topics are read back and compared with rows
//! written out by hand.
//!
//! The server can be scripted per request key: an error status with headers, a
//! broken body, or an edited page.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{assert_rows, keyed, latest, log, records, runs_row, sha256_hex, succeeded};
use serde_json::{Map, Value, json};
use vigil_changelog::ChangeLog;
use vigil_connectors::run::{CURSORS_TOPIC, RunReport, RunStatus};
use vigil_connectors::{JiraConfig, JiraConnector, run_once};
use vigil_fixtures::api::{Api, Fault, FixtureApi, Options, Request, Tokens};

const WEB: &str = "10";
const OPS: &str = "20";
const EMAIL: &str = "bot@acme.com";
const TOKEN: &str = "jira-token-7c1d";
/// The site's zone in the test config: JQL times are written in it, and the
/// fixture API reads them in it. The server pages histories by 4 and sprints by 2,
/// whatever is asked, so both page.
const ZONE_HOURS: i32 = 2;

// ---------------------------------------------------------------------------------
// The fixtures and the server that plays Jira Cloud.

fn fixture(path: &str) -> &'static [u8] {
    vigil_fixtures::api::file(&format!("jira/{path}")).expect(path)
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(fixture(path)).expect("fixture json")
}

/// The issues of a project, as the search returns them.
fn issues(project: &str) -> Vec<Value> {
    match fixture_json(&format!("issues/{project}.json")) {
        Value::Array(issues) => issues,
        other => panic!("issues/{project}.json is not an array: {other}"),
    }
}

/// The hash of an issue's raw payload: the search element as serialized compactly.
fn issue_sha(project: &str, key: &str) -> String {
    let issue = issues(project)
        .into_iter()
        .find(|issue| issue["key"] == key)
        .expect(key);
    sha256_hex(issue.to_string().as_bytes())
}

fn sprint_sha(id: u64) -> String {
    let Value::Array(sprints) = fixture_json("rest/agile/1.0/board/10/sprint.json") else {
        panic!("sprints are not an array");
    };
    let sprint = sprints.into_iter().find(|s| s["id"] == id).expect("sprint");
    sha256_hex(sprint.to_string().as_bytes())
}

fn board_sha(id: &str) -> String {
    sha256_hex(fixture(&format!("rest/agile/1.0/board/{id}.json")))
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    instant: Instant,
    /// `POST search#{token or first}`, or the path with `?startAt=N` for paged GETs.
    key: String,
    /// The JQL of a search.
    jql: Option<String>,
    authorization: Option<String>,
    status: u16,
}

impl From<Request> for Seen {
    fn from(request: Request) -> Seen {
        Seen {
            instant: request.instant,
            jql: request.body["jql"].as_str().map(str::to_owned),
            key: request.key,
            authorization: request.authorization,
            status: request.status,
        }
    }
}

/// The shared fixture API, seen from Jira's side.
struct Server {
    api: FixtureApi,
}

impl Server {
    async fn start() -> Server {
        let options = Options {
            tokens: Tokens {
                jira_email: EMAIL.to_owned(),
                jira: TOKEN.to_owned(),
                ..Tokens::default()
            },
            ..Options::default()
        };
        let api = FixtureApi::start_with(options).await.expect("fixture api");
        Server { api }
    }

    fn url(&self) -> String {
        self.api.base_url(Api::Jira)
    }

    /// One-shot replies by request key.
    fn script(&self, key: &str, reply: Fault) {
        self.api.fault(Api::Jira, key, reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.api.requests().into_iter().map(Seen::from).collect()
    }

    fn forget_seen(&self) {
        self.api.forget_requests();
    }
}

// ---------------------------------------------------------------------------------
// The connector, the log, and reading topics back.

fn connector(server: &Server) -> JiraConnector {
    let text = format!(
        r#"
        tenant_id = "acme"
        base_url = "{}"
        email = "{EMAIL}"
        token = "{TOKEN}"
        time_zone = "+0{ZONE_HOURS}:00"
        max_results = 2
        blocked_statuses = ["Blocked"]
        blocked_labels = ["blocked"]

        [status_categories]
        "Ready for Release" = "done"

        [[boards]]
        id = 10
        project = "WEB"

        [[boards]]
        id = 20
        project = "OPS"
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
    let config = JiraConfig::parse("test", &text, |_| None).expect("config");
    JiraConnector::new(config).expect("connector")
}

/// `columns` with the tenant and lineage every row carries.
fn with_lineage(columns: Value, source_record_id: &str, run_id: &str, sha: &str) -> Value {
    let Value::Object(mut row) = columns else {
        panic!("columns are an object");
    };
    let mut add = |column: &str, value: Value| {
        row.insert(column.to_owned(), value);
    };
    add("tenant_id", "acme".into());
    add("source_system", "jira".into());
    add("source_record_id", source_record_id.into());
    add("ingest_batch_id", run_id.into());
    add("payload_sha256", sha.into());
    add("mapping_version", 1.into());
    Value::Object(row)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The run's final `eng.connector_runs` row.
fn run_row(report: &RunReport, status: &str, error: Option<&str>, cursor: Option<&str>) -> Value {
    json!({
        "tenant_id": "acme",
        "run_id": report.run_id,
        "connector": "jira",
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

/// Compares rows key by key, so a failure names the row that differs.
fn cursor_of(log: &dyn ChangeLog, scope: &str) -> Option<Value> {
    latest(log, CURSORS_TOPIC).remove(&format!("jira:acme:{scope}"))
}

// ---------------------------------------------------------------------------------
// Expected rows, written by hand from the fixtures.

/// Which run published which issue's rows.
type RunOf<'a> = &'a dyn Fn(&str) -> String;

fn expected_boards(web_run: Option<&str>, ops_run: Option<&str>) -> BTreeMap<String, Value> {
    let mut rows = Vec::new();
    if let Some(run) = web_run {
        rows.push(with_lineage(
            json!({"board_id": "jira:10", "source": "jira", "name": "WEB board", "kind": "scrum", "blocked_sla_hours": 48}),
            "board:10",
            run,
            &board_sha("10"),
        ));
    }
    if let Some(run) = ops_run {
        // A kanban board; its SLA comes from the config.
        rows.push(with_lineage(
            json!({"board_id": "jira:20", "source": "jira", "name": "OPS board", "kind": "kanban", "blocked_sla_hours": 24}),
            "board:20",
            run,
            &board_sha("20"),
        ));
    }
    keyed(&["board_id", "tenant_id"], rows)
}

fn expected_sprints(run: &str) -> BTreeMap<String, Value> {
    let sprint = |id: u64, name: &str, state: &str, start: Value, end: Value, complete: Value| {
        with_lineage(
            json!({
                "sprint_id": format!("jira:{id}"), "board_id": "jira:10", "name": name,
                "state": state, "start_at": start, "end_at": end, "complete_at": complete,
            }),
            &format!("sprint:{id}"),
            run,
            &sprint_sha(id),
        )
    };
    keyed(
        &["sprint_id", "tenant_id"],
        vec![
            sprint(
                37,
                "WEB Sprint 1",
                "closed",
                "2024-04-29T09:00:00Z".into(),
                "2024-05-10T17:00:00Z".into(),
                "2024-05-10T16:30:00Z".into(),
            ),
            sprint(
                38,
                "WEB Sprint 2",
                "active",
                "2024-05-13T09:00:00Z".into(),
                "2024-05-24T17:00:00Z".into(),
                Value::Null,
            ),
            sprint(
                39,
                "WEB Sprint 3",
                "future",
                Value::Null,
                Value::Null,
                Value::Null,
            ),
        ],
    )
}

fn project_of(key: &str) -> &str {
    key.split('-').next().unwrap()
}

/// A work item row: the columns every item has, then what differs.
fn work_item(key: &str, run_of: RunOf<'_>, columns: Value) -> Value {
    let project = project_of(key);
    let board = if project == "WEB" {
        "jira:10"
    } else {
        "jira:20"
    };
    let mut row = Map::new();
    row.insert("item_id".into(), format!("jira:{key}").into());
    row.insert("board_id".into(), board.into());
    row.insert("item_key".into(), key.into());
    row.insert("ready_for_qa_at".into(), Value::Null);
    let Value::Object(columns) = columns else {
        panic!("columns are an object");
    };
    row.extend(columns);
    with_lineage(
        Value::Object(row),
        key,
        &run_of(key),
        &issue_sha(project, key),
    )
}

const ALICE: (&str, &str) = ("5b10a2844c20165700ede21g", "Alice Nguyen");
const BOB: (&str, &str) = ("5b10ac8d82e05b22cc7d4ef5", "Bob Okafor");
const CAROL: (&str, &str) = ("60e5a8c2f1d2b40069a1c0de", "Carol Diaz");

fn expected_work_items(keys: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let all = vec![
        // Done in sprint 37: started at the first in-progress entry, done at Done.
        work_item(
            "WEB-1",
            run_of,
            json!({
                "title": "Login page", "item_type": "story", "original_type": "Story",
                "status": "Done", "status_category": "done", "story_points": 5.0,
                "assignee_id": ALICE.0, "assignee_name": ALICE.1, "sprint_id": "jira:37",
                "parent_key": null, "created_at": "2024-04-29T10:00:00Z", "updated_at": "2024-05-07T11:00:00Z",
                "started_at": "2024-05-02T09:00:00Z", "done_at": "2024-05-07T11:00:00Z",
                "blocked": false, "blocked_since": null, "blocked_reason": null,
            }),
        ),
        // Flagged as an impediment; carried from sprint 37 into the active 38.
        work_item(
            "WEB-2",
            run_of,
            json!({
                "title": "Password reset mail is not sent", "item_type": "bug", "original_type": "Bug",
                "status": "In Progress", "status_category": "in_progress", "story_points": 3.0,
                "assignee_id": BOB.0, "assignee_name": BOB.1, "sprint_id": "jira:38",
                "parent_key": null, "created_at": "2024-05-03T08:00:00Z", "updated_at": "2024-05-13T09:05:00Z",
                "started_at": "2024-05-03T09:00:00Z", "done_at": null,
                "blocked": true, "blocked_since": "2024-05-04T14:30:00Z", "blocked_reason": "flagged",
            }),
        ),
        // A blocked status and an "is blocked by" link: blocked since the earlier,
        // the transition into Blocked.
        work_item(
            "WEB-3",
            run_of,
            json!({
                "title": "Session store on Redis", "item_type": "task", "original_type": "Task",
                "status": "Blocked", "status_category": "in_progress", "story_points": null,
                "assignee_id": null, "assignee_name": null, "sprint_id": "jira:38",
                "parent_key": null, "created_at": "2024-05-08T08:00:00Z", "updated_at": "2024-05-10T09:00:00Z",
                "started_at": "2024-05-08T10:00:00Z", "done_at": null,
                "blocked": true, "blocked_since": "2024-05-09T16:00:00Z",
                "blocked_reason": "status Blocked; blocked by OPS-1",
            }),
        ),
        // Seven histories, two embedded: done, reopened, done again (the last entry
        // counts); a blocked label that came and went.
        work_item(
            "WEB-4",
            run_of,
            json!({
                "title": "Sign up with email", "item_type": "story", "original_type": "Story",
                "status": "Done", "status_category": "done", "story_points": 8.0,
                "assignee_id": ALICE.0, "assignee_name": ALICE.1, "sprint_id": "jira:38",
                "parent_key": "WEB-9", "created_at": "2024-05-01T12:00:00Z", "updated_at": "2024-05-15T17:00:00Z",
                "started_at": "2024-05-13T10:00:00Z", "done_at": "2024-05-15T17:00:00Z",
                "blocked": false, "blocked_since": null, "blocked_reason": null,
            }),
        ),
        // A sub-task with a blocked label, in no sprint.
        work_item(
            "WEB-5",
            run_of,
            json!({
                "title": "Login page copy review", "item_type": "subtask", "original_type": "Subtask",
                "status": "To Do", "status_category": "todo", "story_points": null,
                "assignee_id": null, "assignee_name": null, "sprint_id": null,
                "parent_key": "WEB-1", "created_at": "2024-05-09T10:00:00Z", "updated_at": "2024-05-09T11:00:00Z",
                "started_at": null, "done_at": null,
                "blocked": true, "blocked_since": "2024-05-09T11:00:00Z", "blocked_reason": "label blocked",
            }),
        ),
        // Blocks WEB-3, which does not block OPS-1.
        work_item(
            "OPS-1",
            run_of,
            json!({
                "title": "Provision Redis cluster", "item_type": "task", "original_type": "Task",
                "status": "In Progress", "status_category": "in_progress", "story_points": null,
                "assignee_id": CAROL.0, "assignee_name": CAROL.1, "sprint_id": null,
                "parent_key": null, "created_at": "2024-05-06T08:00:00Z", "updated_at": "2024-05-10T09:00:00Z",
                "started_at": "2024-05-07T08:00:00Z", "done_at": null,
                "blocked": false, "blocked_since": null, "blocked_reason": null,
            }),
        ),
        // "Ready for Release" is in progress to Jira, done by the mapping; it never
        // passed through an in-progress status.
        work_item(
            "OPS-2",
            run_of,
            json!({
                "title": "Rotate TLS certificates", "item_type": "task", "original_type": "Task",
                "status": "Ready for Release", "status_category": "done", "story_points": 2.0,
                "assignee_id": CAROL.0, "assignee_name": CAROL.1, "sprint_id": null,
                "parent_key": null, "created_at": "2024-05-06T09:00:00Z", "updated_at": "2024-05-08T12:00:00Z",
                "started_at": null, "done_at": "2024-05-08T12:00:00Z",
                "blocked": false, "blocked_since": null, "blocked_reason": null,
            }),
        ),
        // Blocked by OPS-2, which is done: not blocked.
        work_item(
            "OPS-3",
            run_of,
            json!({
                "title": "Certificate expiry alert fires late", "item_type": "bug", "original_type": "Bug",
                "status": "In Progress", "status_category": "in_progress", "story_points": 1.0,
                "assignee_id": BOB.0, "assignee_name": BOB.1, "sprint_id": null,
                "parent_key": null, "created_at": "2024-05-09T09:00:00Z", "updated_at": "2024-05-09T10:00:00Z",
                "started_at": "2024-05-09T10:00:00Z", "done_at": null,
                "blocked": false, "blocked_since": null, "blocked_reason": null,
            }),
        ),
    ];
    let rows = all
        .into_iter()
        .filter(|row| keys.contains(&row["item_key"].as_str().unwrap()))
        .collect();
    keyed(&["item_id", "tenant_id"], rows)
}

/// (key, history id, from, to, from category, to category, at)
type Change = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const CHANGES: [Change; 13] = [
    (
        "WEB-1",
        "101",
        "To Do",
        "In Progress",
        "todo",
        "in_progress",
        "2024-05-02T09:00:00Z",
    ),
    (
        "WEB-1",
        "102",
        "In Progress",
        "In Review",
        "in_progress",
        "in_progress",
        "2024-05-06T15:00:00Z",
    ),
    (
        "WEB-1",
        "103",
        "In Review",
        "Done",
        "in_progress",
        "done",
        "2024-05-07T11:00:00Z",
    ),
    (
        "WEB-2",
        "200",
        "To Do",
        "In Progress",
        "todo",
        "in_progress",
        "2024-05-03T09:00:00Z",
    ),
    (
        "WEB-3",
        "301",
        "To Do",
        "In Progress",
        "todo",
        "in_progress",
        "2024-05-08T10:00:00Z",
    ),
    (
        "WEB-3",
        "302",
        "In Progress",
        "Blocked",
        "in_progress",
        "in_progress",
        "2024-05-09T16:00:00Z",
    ),
    (
        "WEB-4",
        "401",
        "To Do",
        "In Progress",
        "todo",
        "in_progress",
        "2024-05-13T10:00:00Z",
    ),
    (
        "WEB-4",
        "402",
        "In Progress",
        "Done",
        "in_progress",
        "done",
        "2024-05-14T12:00:00Z",
    ),
    (
        "WEB-4",
        "403",
        "Done",
        "In Progress",
        "done",
        "in_progress",
        "2024-05-14T15:00:00Z",
    ),
    (
        "WEB-4",
        "406",
        "In Progress",
        "Done",
        "in_progress",
        "done",
        "2024-05-15T17:00:00Z",
    ),
    (
        "OPS-1",
        "600",
        "To Do",
        "In Progress",
        "todo",
        "in_progress",
        "2024-05-07T08:00:00Z",
    ),
    (
        "OPS-2",
        "700",
        "To Do",
        "Ready for Release",
        "todo",
        "done",
        "2024-05-08T12:00:00Z",
    ),
    (
        "OPS-3",
        "800",
        "To Do",
        "In Progress",
        "todo",
        "in_progress",
        "2024-05-09T10:00:00Z",
    ),
];

fn expected_status_changes(keys: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let rows = CHANGES
        .iter()
        .filter(|change| keys.contains(&change.0))
        .map(|&(key, history, from, to, from_category, to_category, at)| {
            with_lineage(
                json!({
                    "change_id": format!("jira:{key}:{history}"), "item_id": format!("jira:{key}"),
                    "from_status": from, "to_status": to, "from_category": from_category,
                    "to_category": to_category, "changed_at": at,
                }),
                &format!("{key}:{history}"),
                &run_of(key),
                &issue_sha(project_of(key), key),
            )
        })
        .collect();
    keyed(&["change_id", "tenant_id"], rows)
}

/// (key, sprint, added_at, removed_at)
const MEMBERSHIPS: [(&str, u64, &str, Option<&str>); 5] = [
    ("WEB-1", 37, "2024-04-29T10:05:00Z", None),
    // Created in sprint 37 (no change recorded), then added to 38 as 37 closed.
    ("WEB-2", 37, "2024-05-03T08:00:00Z", None),
    ("WEB-2", 38, "2024-05-13T09:05:00Z", None),
    ("WEB-3", 38, "2024-05-08T09:00:00Z", None),
    // From the paged changelog: the embedded one has only two histories.
    ("WEB-4", 38, "2024-05-13T09:10:00Z", None),
];

fn expected_memberships(keys: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let rows = MEMBERSHIPS
        .iter()
        .filter(|m| keys.contains(&m.0))
        .map(|&(key, sprint, added, removed)| {
            with_lineage(
                json!({
                    "sprint_id": format!("jira:{sprint}"), "item_id": format!("jira:{key}"),
                    "added_at": added, "removed_at": removed,
                }),
                &format!("{key}:sprint:{sprint}"),
                &run_of(key),
                &issue_sha(project_of(key), key),
            )
        })
        .collect();
    keyed(&["item_id", "sprint_id", "tenant_id"], rows)
}

/// (from, to, type)
const LINKS: [(&str, &str, &str); 7] = [
    ("WEB-1", "WEB-2", "relates"),
    ("WEB-2", "WEB-1", "relates"),
    ("WEB-3", "OPS-1", "is_blocked_by"),
    ("WEB-4", "WEB-9", "parent"),
    ("WEB-5", "WEB-1", "parent"),
    ("OPS-1", "WEB-3", "blocks"),
    ("OPS-3", "OPS-2", "is_blocked_by"),
];

fn expected_links(keys: &[&str], run_of: RunOf<'_>) -> BTreeMap<String, Value> {
    let rows = LINKS
        .iter()
        .filter(|link| keys.contains(&link.0))
        .map(|&(from, to, link_type)| {
            with_lineage(
                json!({
                    "from_item_id": format!("jira:{from}"), "to_item_id": format!("jira:{to}"),
                    "link_type": link_type,
                }),
                &format!("{from}:{link_type}:{to}"),
                &run_of(from),
                &issue_sha(project_of(from), from),
            )
        })
        .collect();
    keyed(
        &["from_item_id", "link_type", "tenant_id", "to_item_id"],
        rows,
    )
}

const WEB_KEYS: [&str; 5] = ["WEB-1", "WEB-2", "WEB-3", "WEB-4", "WEB-5"];
const OPS_KEYS: [&str; 3] = ["OPS-1", "OPS-2", "OPS-3"];

/// Checks every issue relation holds exactly the rows of `keys`.
fn assert_issue_rows(log: &dyn ChangeLog, keys: &[&str], run_of: RunOf<'_>) {
    assert_rows(
        "eng.work_items",
        latest(log, "eng.work_items"),
        expected_work_items(keys, run_of),
    );
    assert_rows(
        "eng.status_changes",
        latest(log, "eng.status_changes"),
        expected_status_changes(keys, run_of),
    );
    assert_rows(
        "eng.sprint_memberships",
        latest(log, "eng.sprint_memberships"),
        expected_memberships(keys, run_of),
    );
    assert_rows(
        "eng.item_links",
        latest(log, "eng.item_links"),
        expected_links(keys, run_of),
    );
}

fn keys_seen(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(|s| s.key.clone()).collect()
}

// ---------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn publishes_two_boards_with_fields_derived_from_the_changelog() {
    let server = Server::start().await;
    let jira = connector(&server);
    let log = log();
    assert_eq!(jira.scopes(), [WEB, OPS]);

    let web = run_once(&jira, WEB, &log.log).await;
    succeeded(&web);
    let web_requests = server.seen();
    server.forget_seen();
    let ops = run_once(&jira, OPS, &log.log).await;
    succeeded(&ops);

    let run_of = |key: &str| {
        if key.starts_with("WEB") {
            web.run_id.clone()
        } else {
            ops.run_id.clone()
        }
    };
    let all: Vec<&str> = WEB_KEYS.iter().chain(OPS_KEYS.iter()).copied().collect();
    assert_issue_rows(&log.log, &all, &run_of);
    assert_rows(
        "eng.boards",
        latest(&log.log, "eng.boards"),
        expected_boards(Some(&web.run_id), Some(&ops.run_id)),
    );
    assert_rows(
        "eng.sprints",
        latest(&log.log, "eng.sprints"),
        expected_sprints(&web.run_id),
    );

    // WEB: the board, three sprints, five issues and WEB-4's paged changelog kept;
    // 1 board + 3 sprints + 5 items + 10 changes + 5 memberships + 5 links published.
    assert_eq!((web.fetched, web.published, web.rejected), (10, 29, 0));
    assert_eq!((ops.fetched, ops.published, ops.rejected), (4, 9, 0));
    assert_eq!(
        keys_seen(&web_requests),
        [
            "/rest/agile/1.0/board/10",
            "/rest/api/3/status",
            "/rest/agile/1.0/board/10/sprint?startAt=0",
            "/rest/agile/1.0/board/10/sprint?startAt=2",
            // Creation order: WEB-1, WEB-4 | WEB-2, WEB-3 | WEB-5.
            "POST search#first",
            "/rest/api/3/issue/10104/changelog?startAt=0",
            "/rest/api/3/issue/10104/changelog?startAt=4",
            "POST search#offset-2",
            "POST search#offset-4",
        ]
    );
    // A kanban board has no sprints to ask for.
    assert_eq!(
        keys_seen(&server.seen()),
        [
            "/rest/agile/1.0/board/20",
            "/rest/api/3/status",
            "POST search#first",
            "POST search#offset-2",
        ]
    );
    let basic = format!(
        "Basic {}",
        "Ym90QGFjbWUuY29tOmppcmEtdG9rZW4tN2MxZA==" // bot@acme.com:jira-token-7c1d
    );
    assert!(
        web_requests
            .iter()
            .all(|s| s.authorization.as_deref() == Some(basic.as_str()))
    );
    assert!(
        web_requests
            .iter()
            .filter_map(|s| s.jql.as_deref())
            .all(|jql| jql == "project = \"WEB\" ORDER BY created ASC")
    );
    assert_eq!(web.since, None);
    assert_eq!(
        runs_row(&log.log, &web),
        run_row(&web, "succeeded", None, Some("2024-05-15T17:00:00Z"))
    );
    assert_eq!(
        cursor_of(&log.log, OPS),
        Some(json!({"updated_at": "2024-05-10T09:00:00Z"}))
    );
    // The raw topic keeps WEB-4's whole changelog beside the issue.
    let raw = records(&log.log, "raw.jira");
    let (_, kept) = raw
        .iter()
        .find(|(key, _)| key == "WEB-4:changelog")
        .expect("kept changelog");
    let kept: Value = serde_json::from_str(kept.as_deref().unwrap()).unwrap();
    assert_eq!(
        kept["payload"],
        fixture_json("rest/api/3/issue/10104/changelog.json")
    );
}

#[tokio::test]
async fn the_next_run_asks_from_the_cursor_in_the_site_time_zone() {
    let server = Server::start().await;
    let jira = connector(&server);
    let log = log();
    let first = run_once(&jira, WEB, &log.log).await;
    succeeded(&first);
    server.forget_seen();

    let second = run_once(&jira, WEB, &log.log).await;
    succeeded(&second);
    // The cursor 2024-05-15T17:00Z minus the 5 minute overlap, at +02:00.
    assert_eq!(
        second.since.map(time).as_deref(),
        Some("2024-05-15T16:55:00Z")
    );
    let jqls: Vec<String> = server.seen().into_iter().filter_map(|s| s.jql).collect();
    assert_eq!(
        jqls,
        ["project = \"WEB\" AND updated >= \"2024/05/15 18:55\" ORDER BY created ASC"]
    );
    // Only WEB-4 was updated since; its rows are upserted, the others stay.
    let run_of = |key: &str| {
        if key == "WEB-4" {
            second.run_id.clone()
        } else {
            first.run_id.clone()
        }
    };
    assert_issue_rows(&log.log, &WEB_KEYS, &run_of);
    assert_eq!(
        cursor_of(&log.log, WEB),
        Some(json!({"updated_at": "2024-05-15T17:00:00Z"}))
    );
}

#[tokio::test]
async fn waits_out_a_429_and_a_503_that_say_retry_after() {
    let server = Server::start().await;
    server.script(
        "POST search#offset-2",
        Fault::Status(
            429,
            vec![
                ("retry-after", "1".to_owned()),
                ("x-ratelimit-limit", "100".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
            ],
        ),
    );
    server.script(
        "/rest/api/3/issue/10104/changelog?startAt=4",
        Fault::Status(503, vec![("retry-after", "1".to_owned())]),
    );
    let jira = connector(&server);
    let log = log();
    let report = run_once(&jira, WEB, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.rate_limit_waits, 2);
    assert_eq!(report.http.retries, 2);
    let seen = server.seen();
    for key in [
        "POST search#offset-2",
        "/rest/api/3/issue/10104/changelog?startAt=4",
    ] {
        let tries: Vec<&Seen> = seen.iter().filter(|s| s.key == key).collect();
        assert_eq!(
            tries.iter().map(|s| s.status).collect::<Vec<_>>(),
            [if key.starts_with("POST") { 429 } else { 503 }, 200],
            "{key}"
        );
        let waited = tries[1].instant - tries[0].instant;
        assert!(
            waited >= Duration::from_millis(990),
            "{key} waited {waited:?}"
        );
    }
    assert_issue_rows(&log.log, &WEB_KEYS, &|_| report.run_id.clone());
}

#[tokio::test]
async fn a_malformed_page_fails_the_run_and_the_next_run_completes() {
    let server = Server::start().await;
    server.script(
        "POST search#offset-2",
        Fault::Body(r#"{"issues": [{"id": "10102", "key": "WEB-2""#.to_owned()),
    );
    let jira = connector(&server);
    let log = log();

    let failed = run_once(&jira, WEB, &log.log).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_ref().expect("an error").to_string();
    assert_eq!(
        error,
        "malformed json from /jira/rest/api/3/search/jql: EOF while parsing an object at line 1 column 42"
    );
    assert_eq!(
        runs_row(&log.log, &failed),
        run_row(&failed, "failed", Some(&error), None)
    );
    assert_eq!(failed.cursor, None);
    assert_eq!(cursor_of(&log.log, WEB), None);
    // The board, the sprints and the first page (WEB-1 and WEB-4, the oldest, with
    // WEB-4's paged changelog) stay published.
    assert_issue_rows(&log.log, &["WEB-1", "WEB-4"], &|_| failed.run_id.clone());
    assert_eq!((failed.fetched, failed.published), (7, 4 + 6 + 7));

    // The server is fixed; the next run starts from the old (absent) cursor and
    // upserts what the failed run published.
    let fixed = run_once(&jira, WEB, &log.log).await;
    succeeded(&fixed);
    assert_eq!(fixed.since, None);
    assert_eq!((fixed.fetched, fixed.published), (10, 29));
    assert_issue_rows(&log.log, &WEB_KEYS, &|_| fixed.run_id.clone());
    assert_rows(
        "eng.sprints",
        latest(&log.log, "eng.sprints"),
        expected_sprints(&fixed.run_id),
    );
    let published: usize = [
        "eng.boards",
        "eng.sprints",
        "eng.work_items",
        "eng.status_changes",
        "eng.sprint_memberships",
        "eng.item_links",
    ]
    .iter()
    .map(|topic| latest(&log.log, topic).len())
    .sum();
    assert_eq!(u64::try_from(published).unwrap(), fixed.published);
    assert_eq!(
        cursor_of(&log.log, WEB),
        Some(json!({"updated_at": "2024-05-15T17:00:00Z"}))
    );
    assert_eq!(runs_row(&log.log, &failed)["status"], "failed");
    assert_eq!(
        runs_row(&log.log, &fixed),
        run_row(&fixed, "succeeded", None, Some("2024-05-15T17:00:00Z"))
    );
}

#[tokio::test]
async fn an_issue_that_cannot_be_mapped_is_rejected_and_kept() {
    let server = Server::start().await;
    // OPS's first page as the server serves it, with OPS-2's status gone.
    server.script(
        "POST search#first",
        Fault::Edit(Box::new(|page: &mut Value| {
            page["issues"][1]["fields"]
                .as_object_mut()
                .unwrap()
                .remove("status");
        })),
    );
    let jira = connector(&server);
    let log = log();
    let report = run_once(&jira, OPS, &log.log).await;
    succeeded(&report);
    assert_eq!(
        (report.fetched, report.published, report.rejected),
        (4, 1 + 2 + 2 + 2, 1)
    );
    let run_of = |_: &str| report.run_id.clone();
    assert_rows(
        "eng.work_items",
        latest(&log.log, "eng.work_items"),
        expected_work_items(&["OPS-1", "OPS-3"], &run_of),
    );
    let raw = records(&log.log, "raw.jira");
    assert!(raw.iter().any(|(key, _)| key == "OPS-2"), "kept OPS-2");
    assert_eq!(runs_row(&log.log, &report)["rejected"], 1);
}
