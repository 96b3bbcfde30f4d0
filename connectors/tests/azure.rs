//! The Azure Boards connector end to end: the shared fixture API
//! ([`vigil_fixtures::api`]) serves the recorded-shape payloads of `fixtures/azure`
//! the way Azure DevOps does (WIQL answering ids only, `workitemsbatch` answering
//! the ids asked for, revisions paged by `$top`/`$skip`, the team's iterations),
//! the connector runs against an [`EmbeddedLog`] in a temp dir, and the canonical
//! topics are read back and compared with rows written out by hand.
//!
//! The server can be scripted per request key: an error status with headers, or a
//! broken body.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{assert_rows, keyed, latest, log, runs_row, sha256_hex, succeeded};
use serde_json::{Value, json};
use vigil_changelog::ChangeLog;
use vigil_connectors::run::{CURSORS_TOPIC, RunReport, RunStatus};
use vigil_connectors::{AzureConfig, AzureConnector, BoardKind, run_once};
use vigil_fixtures::api::{Api, Fault, FixtureApi, Options, Request, Tokens};

const PROJECT: &str = "Fabrikam";
const TEAM: &str = "Fabrikam Team";
/// The organization's path below the fixture API's `/azure`.
const ORG: &str = "/fabrikam";
/// `base64(":" + TOKEN)`: a personal access token as basic auth.
const AUTHORIZATION: &str = "Basic OmF6dXJlLXBhdC05ZDJl";
const TOKEN: &str = "azure-pat-9d2e";
const SPRINT_1: &str = "1c0e2f6a-5b1e-4c59-9d3e-2b1f0a000001";
const SPRINT_2: &str = "1c0e2f6a-5b1e-4c59-9d3e-2b1f0a000002";
const SPRINT_3: &str = "1c0e2f6a-5b1e-4c59-9d3e-2b1f0a000003";

// ---------------------------------------------------------------------------------
// The fixtures and the server that plays Azure DevOps.

fn fixture_json(path: &str) -> Value {
    let bytes = vigil_fixtures::api::file(&format!("azure/{path}")).expect("fixture");
    serde_json::from_slice(bytes).expect("fixture json")
}

fn items() -> Vec<Value> {
    match fixture_json("workitems.json") {
        Value::Array(items) => items,
        other => panic!("workitems.json is not an array: {other}"),
    }
}

fn item_sha(id: u64) -> String {
    let item = items()
        .into_iter()
        .find(|item| item["id"] == id)
        .expect("item");
    sha256_hex(item.to_string().as_bytes())
}

fn iteration_sha(id: &str) -> String {
    let iteration = fixture_json("iterations.json")["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|iteration| iteration["id"] == id)
        .expect("iteration")
        .clone();
    sha256_hex(iteration.to_string().as_bytes())
}

fn board_sha() -> String {
    sha256_hex(
        json!({"project": PROJECT, "team": TEAM})
            .to_string()
            .as_bytes(),
    )
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    instant: Instant,
    /// `POST wiql`, `POST batch#101,102`, or the path with `?$skip=N` for revisions.
    key: String,
    /// The WIQL of a query.
    wiql: Option<String>,
    /// How many fields a batch asks for.
    fields: Option<usize>,
    query: BTreeMap<String, String>,
    authorization: Option<String>,
    status: u16,
}

impl From<Request> for Seen {
    fn from(request: Request) -> Seen {
        Seen {
            instant: request.instant,
            wiql: request.body["query"].as_str().map(str::to_owned),
            fields: request.body["fields"].as_array().map(Vec::len),
            key: request.key,
            query: request.query,
            authorization: request.authorization,
            status: request.status,
        }
    }
}

/// The shared fixture API, seen from Azure DevOps' side.
struct Server {
    api: FixtureApi,
}

impl Server {
    async fn start() -> Server {
        let options = Options {
            tokens: Tokens {
                azure: TOKEN.to_owned(),
                ..Tokens::default()
            },
            ..Options::default()
        };
        let api = FixtureApi::start_with(options).await.expect("fixture api");
        Server { api }
    }

    /// One-shot replies by request key.
    fn script(&self, key: &str, reply: Fault) {
        self.api.fault(Api::Azure, key, reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.api.requests().into_iter().map(Seen::from).collect()
    }
}

// ---------------------------------------------------------------------------------
// The connector, the log, and reading topics back.

fn connector(server: &Server) -> AzureConnector {
    connector_with_wiql_limit(server, 20_000)
}

fn config_text(base_url: &str, wiql_limit: usize) -> String {
    format!(
        r#"
        tenant_id = "acme"
        base_url = "{base_url}"
        token = "{TOKEN}"
        overlap = "5m"
        batch_size = 2
        wiql_limit = {wiql_limit}
        revisions_page = 2
        blocked_states = ["Waiting"]
        blocked_tags = ["blocked"]

        [status_categories]
        "Waiting" = "in_progress"

        [[projects]]
        project = "{PROJECT}"

        [http]
        timeout = "5s"
        max_attempts = 4
        backoff_initial = "10ms"
        backoff_max = "50ms"
        max_rate_limit_wait = "10s"
        "#
    )
}

fn connector_with_wiql_limit(server: &Server, wiql_limit: usize) -> AzureConnector {
    let base_url = server.api.base_url(Api::Azure);
    let config =
        AzureConfig::parse("test", &config_text(&base_url, wiql_limit), |_| None).expect("config");
    AzureConnector::new(config).expect("connector")
}

fn with_lineage(columns: Value, source_record_id: &str, run_id: &str, sha: &str) -> Value {
    let Value::Object(mut row) = columns else {
        panic!("columns are an object");
    };
    let mut add = |column: &str, value: Value| {
        row.insert(column.to_owned(), value);
    };
    add("tenant_id", "acme".into());
    add("source_system", "azure".into());
    add("source_record_id", source_record_id.into());
    add("ingest_batch_id", run_id.into());
    add("payload_sha256", sha.into());
    add("mapping_version", 1.into());
    Value::Object(row)
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn run_row(report: &RunReport, status: &str, error: Option<&str>, cursor: Option<&str>) -> Value {
    json!({
        "tenant_id": "acme",
        "run_id": report.run_id,
        "connector": "azure",
        "scope_id": report.scope,
        "mapping_version": 1,
        "started_at": stamp(report.started_at),
        "finished_at": stamp(report.finished_at),
        "status": status,
        "fetched": report.fetched,
        "published": report.published,
        "rejected": report.rejected,
        "error": error,
        "cursor": cursor.map(|at| json!({"updated_at": at}).to_string()),
    })
}

fn cursor_of(log: &dyn ChangeLog) -> Option<Value> {
    latest(log, CURSORS_TOPIC).remove(&format!("azure:acme:{PROJECT}"))
}

// ---------------------------------------------------------------------------------
// Expected rows, written by hand from the fixtures.

fn expected_boards(run: &str) -> BTreeMap<String, Value> {
    let row = with_lineage(
        json!({
            "board_id": "azure:Fabrikam/Fabrikam Team", "source": "azure",
            "name": "Fabrikam/Fabrikam Team", "kind": "scrum", "blocked_sla_hours": 48,
        }),
        "board:Fabrikam/Fabrikam Team",
        run,
        &board_sha(),
    );
    keyed(&["board_id", "tenant_id"], vec![row])
}

fn expected_sprints(run: &str) -> BTreeMap<String, Value> {
    let sprint = |id: &str, name: &str, state: &str, start: &str, end: &str, complete: Value| {
        with_lineage(
            json!({
                "sprint_id": format!("azure:Fabrikam:{id}"),
                "board_id": "azure:Fabrikam/Fabrikam Team", "name": name, "state": state,
                "start_at": start, "end_at": end, "complete_at": complete,
            }),
            &format!("iteration:{id}"),
            run,
            &iteration_sha(id),
        )
    };
    keyed(
        &["sprint_id", "tenant_id"],
        vec![
            sprint(
                SPRINT_1,
                "Sprint 1",
                "closed",
                "2024-05-01T00:00:00Z",
                "2024-05-14T00:00:00Z",
                "2024-05-14T00:00:00Z".into(),
            ),
            sprint(
                SPRINT_2,
                "Sprint 2",
                "active",
                "2024-05-15T00:00:00Z",
                "2024-05-28T00:00:00Z",
                Value::Null,
            ),
            sprint(
                SPRINT_3,
                "Sprint 3",
                "future",
                "2024-05-29T00:00:00Z",
                "2024-06-11T00:00:00Z",
                Value::Null,
            ),
        ],
    )
}

/// Every row of items `ids`, all published by `run`, by relation topic.
fn expected_item_rows(ids: &[u64], run: &str) -> BTreeMap<&'static str, BTreeMap<String, Value>> {
    let mut work_items = Vec::new();
    let mut changes = Vec::new();
    let mut memberships = Vec::new();
    let mut links = Vec::new();
    let sprint = |id: &str| format!("azure:Fabrikam:{id}");
    for &id in ids {
        let sha = item_sha(id);
        let lineage = |columns: Value, source_record_id: &str| {
            with_lineage(columns, source_record_id, run, &sha)
        };
        let item_id = format!("azure:Fabrikam:{id}");
        let mut item = json!({
            "item_id": item_id, "board_id": "azure:Fabrikam/Fabrikam Team",
            "item_key": id.to_string(), "ready_for_qa_at": null,
        });
        let change = |rev: u64, from: (&str, &str), to: (&str, &str), at: &str| {
            lineage(
                json!({
                    "change_id": format!("azure:Fabrikam:{id}:{rev}"), "item_id": item_id,
                    "from_status": from.0, "to_status": to.0,
                    "from_category": from.1, "to_category": to.1, "changed_at": at,
                }),
                &format!("{id}:{rev}"),
            )
        };
        let membership = |iteration: &str, added: &str, removed: Value| {
            lineage(
                json!({
                    "sprint_id": sprint(iteration), "item_id": item_id,
                    "added_at": added, "removed_at": removed,
                }),
                &format!("{id}:iteration:{iteration}"),
            )
        };
        let columns = match id {
            // Closed through Active in Sprint 1; created at the project root.
            101 => {
                changes.push(change(
                    2,
                    ("New", "todo"),
                    ("Active", "in_progress"),
                    "2024-05-03T10:00:00Z",
                ));
                changes.push(change(
                    3,
                    ("Active", "in_progress"),
                    ("Closed", "done"),
                    "2024-05-10T17:00:00Z",
                ));
                memberships.push(membership(SPRINT_1, "2024-05-03T10:00:00Z", Value::Null));
                json!({
                    "title": "Checkout page", "item_type": "story", "original_type": "User Story",
                    "status": "Closed", "status_category": "done", "story_points": 5.0,
                    "assignee_id": "ann@fabrikam.com", "assignee_name": "Ann Lee",
                    "sprint_id": sprint(SPRINT_1), "parent_key": null,
                    "created_at": "2024-05-02T09:00:00.170Z", "updated_at": "2024-05-10T17:00:00Z",
                    "started_at": "2024-05-03T10:00:00Z", "done_at": "2024-05-10T17:00:00Z",
                    "blocked": false, "blocked_since": null, "blocked_reason": null,
                })
            }
            // Carried over from Sprint 1 into 2; the "Blocked" tag (any case) came
            // in the last revision; four revisions, so they page.
            102 => {
                changes.push(change(
                    2,
                    ("New", "todo"),
                    ("Active", "in_progress"),
                    "2024-05-05T09:00:00Z",
                ));
                memberships.push(membership(
                    SPRINT_1,
                    "2024-05-04T08:00:00Z",
                    "2024-05-15T08:00:00Z".into(),
                ));
                memberships.push(membership(SPRINT_2, "2024-05-15T08:00:00Z", Value::Null));
                links.push(lineage(
                    json!({
                        "from_item_id": item_id, "to_item_id": "azure:Fabrikam:101",
                        "link_type": "parent",
                    }),
                    "102:parent:101",
                ));
                json!({
                    "title": "Payment fails on retry", "item_type": "bug", "original_type": "Bug",
                    "status": "Active", "status_category": "in_progress", "story_points": null,
                    "assignee_id": null, "assignee_name": null,
                    "sprint_id": sprint(SPRINT_2), "parent_key": "101",
                    "created_at": "2024-05-04T08:00:00Z", "updated_at": "2024-05-16T12:00:00Z",
                    "started_at": "2024-05-05T09:00:00Z", "done_at": null,
                    "blocked": true, "blocked_since": "2024-05-16T12:00:00Z",
                    "blocked_reason": "tag blocked",
                })
            }
            // A custom state the config maps to in progress and calls blocked; at
            // the project root, so in no sprint.
            103 => {
                changes.push(change(
                    2,
                    ("New", "todo"),
                    ("Active", "in_progress"),
                    "2024-05-07T09:00:00Z",
                ));
                changes.push(change(
                    3,
                    ("Active", "in_progress"),
                    ("Waiting", "in_progress"),
                    "2024-05-20T09:00:00Z",
                ));
                json!({
                    "title": "Write the release notes", "item_type": "task", "original_type": "Task",
                    "status": "Waiting", "status_category": "in_progress", "story_points": 1.5,
                    "assignee_id": "bob@fabrikam.com", "assignee_name": "Bob Ruiz",
                    "sprint_id": null, "parent_key": null,
                    "created_at": "2024-05-06T09:00:00Z", "updated_at": "2024-05-20T09:00:00Z",
                    "started_at": "2024-05-07T09:00:00Z", "done_at": null,
                    "blocked": true, "blocked_since": "2024-05-20T09:00:00Z",
                    "blocked_reason": "state Waiting",
                })
            }
            other => panic!("no expected rows for item {other}"),
        };
        let (Value::Object(item_columns), Value::Object(more)) = (&mut item, columns) else {
            panic!("objects");
        };
        item_columns.extend(more);
        work_items.push(lineage(item, &id.to_string()));
    }
    BTreeMap::from([
        (
            "eng.work_items",
            keyed(&["item_id", "tenant_id"], work_items),
        ),
        (
            "eng.status_changes",
            keyed(&["change_id", "tenant_id"], changes),
        ),
        (
            "eng.sprint_memberships",
            keyed(&["item_id", "sprint_id", "tenant_id"], memberships),
        ),
        (
            "eng.item_links",
            keyed(
                &["from_item_id", "link_type", "tenant_id", "to_item_id"],
                links,
            ),
        ),
    ])
}

fn assert_item_rows(log: &dyn ChangeLog, ids: &[u64], run: &str) {
    for (topic, expected) in expected_item_rows(ids, run) {
        assert_rows(topic, latest(log, topic), expected);
    }
}

const ALL: [u64; 3] = [101, 102, 103];

// ---------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn publishes_a_project_with_fields_derived_from_the_revisions() {
    let server = Server::start().await;
    let azure = connector(&server);
    let log = log();
    let report = run_once(&azure, PROJECT, &log.log).await;
    succeeded(&report);
    let run = report.run_id.as_str();
    assert_rows(
        "eng.boards",
        latest(&log.log, "eng.boards"),
        expected_boards(run),
    );
    assert_rows(
        "eng.sprints",
        latest(&log.log, "eng.sprints"),
        expected_sprints(run),
    );
    assert_item_rows(&log.log, &ALL, run);
    // Board, 3 iterations, and each item with its revisions.
    assert_eq!(
        (report.fetched, report.published, report.rejected),
        (10, 16, 0)
    );
    assert_eq!(report.since, None);
    assert_eq!(
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-05-20T09:00:00Z"}))
    );
    assert_eq!(
        runs_row(&log.log, &report),
        run_row(&report, "succeeded", None, Some("2024-05-20T09:00:00Z"))
    );
    let seen = server.seen();
    let keys: Vec<&str> = seen.iter().map(|s| s.key.as_str()).collect();
    let revisions = |id: u64, skip: u32| {
        format!("{ORG}/{PROJECT}/_apis/wit/workitems/{id}/revisions?$skip={skip}")
    };
    let iterations = format!("{ORG}/{PROJECT}/{TEAM}/_apis/work/teamsettings/iterations");
    assert_eq!(
        keys,
        [
            iterations.as_str(),
            "POST wiql",
            "POST batch#101,102",
            &revisions(101, 0),
            &revisions(101, 2),
            &revisions(102, 0),
            &revisions(102, 2),
            &revisions(102, 4),
            "POST batch#103",
            &revisions(103, 0),
            &revisions(103, 2),
        ]
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(AUTHORIZATION)),
        "every request carries the token"
    );
    assert_eq!(
        seen[1].wiql.as_deref(),
        Some(
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project \
             ORDER BY [System.ChangedDate] ASC"
        )
    );
    assert_eq!(seen[3].query.get("$top").map(String::as_str), Some("2"));
    // Every batch asks for the fields the mapping reads.
    assert!(
        seen.iter()
            .filter(|s| s.key.starts_with("POST batch"))
            .all(|s| s.fields == Some(14))
    );
}

#[tokio::test]
async fn the_next_run_asks_from_the_cursor_minus_the_overlap() {
    let server = Server::start().await;
    let azure = connector(&server);
    let log = log();
    let first = run_once(&azure, PROJECT, &log.log).await;
    succeeded(&first);
    let second = run_once(&azure, PROJECT, &log.log).await;
    succeeded(&second);
    assert_eq!(second.cursor_before, first.cursor);
    assert_eq!(second.since, Some(time("2024-05-20T08:55:00Z")));
    let seen = server.seen();
    let wiql: Vec<&str> = seen.iter().filter_map(|s| s.wiql.as_deref()).collect();
    assert_eq!(
        wiql.get(1).copied(),
        Some(
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project \
             AND [System.ChangedDate] >= '2024-05-20T08:55:00.000Z' \
             ORDER BY [System.ChangedDate] ASC"
        )
    );
    // Only 103 changed since: it is fetched again, the others keep their first run.
    assert_eq!(
        seen.iter()
            .filter(|s| s.key.starts_with("POST batch"))
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>(),
        ["POST batch#101,102", "POST batch#103", "POST batch#103"]
    );
    assert_eq!((second.fetched, second.published), (6, 7));
    let mut expected = expected_item_rows(&[101, 102], &first.run_id);
    for (topic, rows) in expected_item_rows(&[103], &second.run_id) {
        expected.entry(topic).or_default().extend(rows);
    }
    for (topic, rows) in expected {
        assert_rows(topic, latest(&log.log, topic), rows);
    }
    assert_eq!(
        runs_row(&log.log, &second),
        run_row(&second, "succeeded", None, Some("2024-05-20T09:00:00Z"))
    );
}

#[tokio::test]
async fn waits_out_a_429_that_says_retry_after() {
    let server = Server::start().await;
    server.script(
        "POST wiql",
        Fault::Status(
            429,
            vec![
                ("retry-after", "1".to_owned()),
                ("x-ratelimit-resource", "ATCPU".to_owned()),
                ("x-ratelimit-limit", "200".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
            ],
        ),
    );
    let azure = connector(&server);
    let log = log();
    let report = run_once(&azure, PROJECT, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.rate_limit_waits, 1);
    let seen = server.seen();
    let tries: Vec<&Seen> = seen.iter().filter(|s| s.key == "POST wiql").collect();
    assert_eq!(
        tries.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = tries[1].instant - tries[0].instant;
    assert!(waited >= Duration::from_millis(990), "waited {waited:?}");
    assert_item_rows(&log.log, &ALL, &report.run_id);
}

#[tokio::test]
async fn a_malformed_batch_fails_the_run_and_the_next_run_completes() {
    let server = Server::start().await;
    server.script(
        "POST batch#103",
        Fault::Body(r#"{"count": 1, "value": [{"id": 103, "fields""#.to_owned()),
    );
    let azure = connector(&server);
    let log = log();

    let failed = run_once(&azure, PROJECT, &log.log).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_ref().expect("an error").to_string();
    assert_eq!(
        error,
        "malformed json from /azure/fabrikam/Fabrikam/_apis/wit/workitemsbatch: \
         EOF while parsing an object at line 1 column 43"
    );
    assert_eq!(
        runs_row(&log.log, &failed),
        run_row(&failed, "failed", Some(&error), None)
    );
    assert_eq!(failed.cursor, None);
    assert_eq!(cursor_of(&log.log), None);
    // The board, the sprints and the first batch stay published.
    assert_item_rows(&log.log, &[101, 102], &failed.run_id);
    assert_eq!((failed.fetched, failed.published), (8, 13));

    let fixed = run_once(&azure, PROJECT, &log.log).await;
    succeeded(&fixed);
    assert_eq!(fixed.since, None);
    assert_eq!((fixed.fetched, fixed.published), (10, 16));
    assert_item_rows(&log.log, &ALL, &fixed.run_id);
    assert_rows(
        "eng.sprints",
        latest(&log.log, "eng.sprints"),
        expected_sprints(&fixed.run_id),
    );
    // `latest` refuses a key seen twice: the rerun upserted, it did not duplicate.
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
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-05-20T09:00:00Z"}))
    );
    assert_eq!(runs_row(&log.log, &failed)["status"], "failed");
}

#[tokio::test]
async fn a_full_wiql_answer_is_followed_by_the_next_change_window() {
    let server = Server::start().await;
    // Two ids a query: 101 and 102 fill the first window, which is cut.
    let azure = connector_with_wiql_limit(&server, 2);
    let log = log();
    let report = run_once(&azure, PROJECT, &log.log).await;
    succeeded(&report);
    assert_item_rows(&log.log, &ALL, &report.run_id);
    assert_eq!((report.fetched, report.published), (10, 16));
    let seen = server.seen();
    let windows: Vec<&str> = seen.iter().filter_map(|s| s.wiql.as_deref()).collect();
    let from = |at: &str| {
        format!(
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project \
             AND [System.ChangedDate] >= '{at}' ORDER BY [System.ChangedDate] ASC"
        )
    };
    // The second window starts at 102's change and is full again (102, 103); the
    // third, at 103's, is not. 102 is not fetched twice.
    assert_eq!(
        windows,
        [
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project \
             ORDER BY [System.ChangedDate] ASC"
                .to_owned(),
            from("2024-05-16T12:00:00.000Z"),
            from("2024-05-20T09:00:00.000Z"),
        ]
    );
    assert_eq!(
        seen.iter()
            .filter(|s| s.key.starts_with("POST batch"))
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>(),
        ["POST batch#101,102", "POST batch#103"]
    );
    assert_eq!(seen[1].query.get("$top").map(String::as_str), Some("2"));
}

#[test]
fn the_config_defaults_the_team_and_refuses_oversized_batches() {
    let config = AzureConfig::parse(
        "test",
        &config_text("https://dev.azure.com/fabrikam", 20_000),
        |_| None,
    )
    .expect("config");
    let project = config.project(PROJECT).expect("project");
    assert_eq!(
        (
            project.team.as_str(),
            project.kind,
            project.blocked_sla_hours
        ),
        (TEAM, BoardKind::Scrum, 48)
    );
    let text = config_text("https://dev.azure.com/fabrikam", 20_000)
        .replace("batch_size = 2", "batch_size = 201");
    let error = AzureConfig::parse("test", &text, |_| None).expect_err("too many ids");
    assert_eq!(
        error.to_string(),
        "invalid connector config test: batch_size: 201 is outside 1 to 200, what azure devops allows"
    );
}
