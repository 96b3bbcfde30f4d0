//! The engineering domain end to end: the built-ins installed on a fresh data
//! directory (and again after a restart, changing nothing), canonical records
//! published to the `eng.*` topics, and the exact contents of every view, worked
//! out by hand below. Then single-item changes (an item becomes blocked, a story
//! gets points, an item moves sprint) and the clock moving with no input, each
//! moving exactly the rows the comments say, in every view.
//!
//! The fixture (tenant `acme` unless said otherwise; the clock starts on Monday
//! 2026-03-09 09:00 UTC, "now" below):
//!
//! - boards: `jira:10` Web (scrum, SLA 24 h), `jira:20` Ops (kanban, SLA unset, so
//!   48 h); tenant `globex` has its own `jira:10` (kanban) to catch joins that
//!   forget the tenant.
//! - sprints on Web: `jira:100` closed (02-16 09:00 → 03-02 09:00, completed 03-02
//!   10:00, with membership history), `jira:101` active (03-02 10:00 → 03-16 10:00,
//!   no history), `jira:102` future (03-16 10:00 → 03-30 10:00).
//! - items, PRs and reviews as listed in [`fixture`], each with the rules it is
//!   there to fail or pass.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_changelog::Message;
use vigil_engine::repr::Row;
use vigil_engine::repr::text::datum_to_text;
use vigil_sql::{ClockMode, Config, Coordinator, ExecuteResponse};
use vigil_views::{ENGINEERING_VIEWS, Installed, ObjectKind};

/// Monday 2026-03-09 09:00:00 UTC.
const START_MS: u64 = 1_773_046_800_000;

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

    fn install(&self) -> Installed {
        self.runtime
            .block_on(vigil_views::install(self.coordinator()))
            .unwrap_or_else(|e| panic!("install: {e}"))
    }

    fn run(&self, sql: &str) -> Vec<Vec<String>> {
        let mut session = self.coordinator().session();
        self.runtime.block_on(async {
            match session.execute_batch(sql).await.pop() {
                Some(Ok(ExecuteResponse::Rows { rows, .. })) => text(rows),
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => panic!("{sql}: {e} ({})", e.code()),
                None => panic!("{sql}: no result"),
            }
        })
    }

    fn publish(&self, records: &[Record]) {
        let log = self.coordinator().log();
        let mut by_topic: BTreeMap<&str, Vec<(String, Option<String>)>> = BTreeMap::new();
        for record in records {
            by_topic.entry(record.topic).or_default().push((
                record.key.to_string(),
                record.value.as_ref().map(Value::to_string),
            ));
        }
        for (topic, records) in &by_topic {
            let messages: Vec<Message<'_>> = records
                .iter()
                .map(|(key, value)| Message {
                    key: Some(key.as_bytes()),
                    value: value.as_ref().map(|v| v.as_bytes()),
                })
                .collect();
            log.publish(topic, &messages).expect("publish");
        }
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

/// One change event for a canonical topic.
struct Record {
    topic: &'static str,
    key: Value,
    value: Option<Value>,
}

/// `fields` laid over `base`.
fn merged(mut base: Value, fields: Value) -> Value {
    if let (Some(base), Value::Object(fields)) = (base.as_object_mut(), fields) {
        base.extend(fields);
    }
    base
}

fn lineage(system: &str, id: &str) -> Value {
    json!({
        "source_system": system,
        "source_record_id": id,
        "ingest_batch_id": "run-1",
        "payload_sha256": format!("sha-{id}"),
        "mapping_version": 1,
    })
}

fn board(tenant: &str, id: &str, name: &str, kind: &str, sla: Option<i64>) -> Record {
    Record {
        topic: "eng.boards",
        key: json!({"tenant_id": tenant, "board_id": id}),
        value: Some(merged(
            lineage("jira", id),
            json!({"tenant_id": tenant, "board_id": id, "source": "jira", "name": name,
                   "kind": kind, "blocked_sla_hours": sla}),
        )),
    }
}

fn sprint(id: &str, name: &str, state: &str, start: &str, end: &str, done: Option<&str>) -> Record {
    Record {
        topic: "eng.sprints",
        key: json!({"tenant_id": "acme", "sprint_id": id}),
        value: Some(merged(
            lineage("jira", id),
            json!({"tenant_id": "acme", "sprint_id": id, "board_id": "jira:10", "name": name,
                   "state": state, "start_at": start, "end_at": end, "complete_at": done}),
        )),
    }
}

/// A work item `jira:<key>`: a story in `category` created 2026-02-10, unless
/// `fields` say otherwise.
fn item(tenant: &str, board: &str, key: &str, category: &str, fields: Value) -> Record {
    let status = match category {
        "todo" => "To Do",
        "in_progress" => "In Progress",
        _ => "Done",
    };
    let id = format!("jira:{key}");
    let base = merged(
        lineage("jira", key),
        json!({
            "tenant_id": tenant, "item_id": id, "board_id": board, "item_key": key,
            "title": format!("{key} title"), "item_type": "story", "original_type": "Story",
            "status": status, "status_category": category,
            "created_at": "2026-02-10T09:00:00Z", "updated_at": "2026-03-08T09:00:00Z",
            "blocked": false,
        }),
    );
    Record {
        topic: "eng.work_items",
        key: json!({"tenant_id": tenant, "item_id": id}),
        value: Some(merged(base, fields)),
    }
}

fn change(tenant: &str, key: &str, n: u32, from: &str, to: &str, at: &str) -> Record {
    let id = format!("jira:{key}:{n}");
    Record {
        topic: "eng.status_changes",
        key: json!({"tenant_id": tenant, "change_id": id}),
        value: Some(merged(
            lineage("jira", &id),
            json!({"tenant_id": tenant, "change_id": id, "item_id": format!("jira:{key}"),
                   "from_status": from, "to_status": to, "from_category": from,
                   "to_category": to, "changed_at": at}),
        )),
    }
}

fn membership(sprint: &str, key: &str, added: &str, removed: Option<&str>) -> Record {
    let item = format!("jira:{key}");
    Record {
        topic: "eng.sprint_memberships",
        key: json!({"tenant_id": "acme", "sprint_id": sprint, "item_id": item}),
        value: Some(merged(
            lineage("jira", key),
            json!({"tenant_id": "acme", "sprint_id": sprint, "item_id": item,
                   "added_at": added, "removed_at": removed}),
        )),
    }
}

fn link(from: &str, to: &str, link_type: &str) -> Record {
    let (from, to) = (format!("jira:{from}"), format!("jira:{to}"));
    Record {
        topic: "eng.item_links",
        key: json!({"tenant_id": "acme", "from_item_id": from, "to_item_id": to,
                    "link_type": link_type}),
        value: Some(merged(
            lineage("jira", &from),
            json!({"tenant_id": "acme", "from_item_id": from, "to_item_id": to,
                   "link_type": link_type}),
        )),
    }
}

/// Pull request `github:<repo>#<number>` of tenant acme.
fn pr(repo: &str, number: u32, fields: Value) -> Record {
    let id = format!("github:{repo}#{number}");
    let base = merged(
        lineage("github", &id),
        json!({"tenant_id": "acme", "pr_id": id, "repo": repo, "number": number,
               "author": "ana", "state": "merged"}),
    );
    Record {
        topic: "eng.pull_requests",
        key: json!({"tenant_id": "acme", "pr_id": id}),
        value: Some(merged(base, fields)),
    }
}

fn review(pr: &str, n: u32, reviewer: &str, at: &str) -> Record {
    let id = format!("github:{pr}:{n}");
    Record {
        topic: "eng.pr_reviews",
        key: json!({"tenant_id": "acme", "review_id": id}),
        value: Some(merged(
            lineage("github", &id),
            json!({"tenant_id": "acme", "review_id": id, "pr_id": format!("github:{pr}"),
                   "reviewer": reviewer, "state": "APPROVED", "submitted_at": at}),
        )),
    }
}

fn fixture() -> Vec<Record> {
    let web =
        |key: &str, category: &str, fields: Value| item("acme", "jira:10", key, category, fields);
    let ops =
        |key: &str, category: &str, fields: Value| item("acme", "jira:20", key, category, fields);
    vec![
        board("acme", "jira:10", "Web", "scrum", Some(24)),
        board("acme", "jira:20", "Ops", "kanban", None),
        board("globex", "jira:10", "Globex Web", "kanban", None),
        sprint(
            "jira:100",
            "Web 1",
            "closed",
            "2026-02-16T09:00:00Z",
            "2026-03-02T09:00:00Z",
            Some("2026-03-02T10:00:00Z"),
        ),
        sprint(
            "jira:101",
            "Web 2",
            "active",
            "2026-03-02T10:00:00Z",
            "2026-03-16T10:00:00Z",
            None,
        ),
        sprint(
            "jira:102",
            "Web 3",
            "future",
            "2026-03-16T10:00:00Z",
            "2026-03-30T10:00:00Z",
            None,
        ),
        // Clean: passes every rule.
        web(
            "WEB-1",
            "done",
            json!({"story_points": 5, "assignee_id": "u1", "assignee_name": "Ana",
            "sprint_id": "jira:100", "started_at": "2026-02-17T09:00:00Z",
            "done_at": "2026-02-20T09:00:00Z"}),
        ),
        // WI-001: a story in progress without points.
        web(
            "WEB-2",
            "in_progress",
            json!({"title": "Checkout page", "assignee_id": "u2",
            "assignee_name": "Ben", "sprint_id": "jira:101",
            "started_at": "2026-03-03T09:00:00Z"}),
        ),
        // WI-002: done without started_at; WI-008: its history goes todo → done.
        web(
            "WEB-3",
            "done",
            json!({"story_points": 3, "assignee_id": "u1",
            "assignee_name": "Ana", "sprint_id": "jira:100",
            "done_at": "2026-02-25T09:00:00Z"}),
        ),
        // WI-006 (no assignee), WI-007 (scrum board, no sprint), WI-010 (a bug whose
        // only link is `blocks`); created in sprint 101's window. Not WI-001: a bug.
        web(
            "WEB-4",
            "in_progress",
            json!({"item_type": "bug", "original_type": "Bug",
            "created_at": "2026-03-03T09:00:00Z", "started_at": "2026-03-04T09:00:00Z"}),
        ),
        // WI-003: done without done_at.
        web(
            "WEB-5",
            "done",
            json!({"item_type": "task", "story_points": 2,
            "assignee_id": "u2", "assignee_name": "Ben", "sprint_id": "jira:101",
            "started_at": "2026-03-05T09:00:00Z"}),
        ),
        // Clean; blocked 27 h before now, on a board with a 24 h SLA.
        web(
            "WEB-6",
            "in_progress",
            json!({"story_points": 8, "assignee_id": "u1",
            "assignee_name": "Ana", "sprint_id": "jira:101",
            "started_at": "2026-03-02T12:00:00Z", "blocked": true,
            "blocked_since": "2026-03-08T06:00:00Z", "blocked_reason": "waiting on API"}),
        ),
        // WI-005: done a day before it was started.
        web(
            "WEB-7",
            "done",
            json!({"story_points": 3, "assignee_id": "u2",
            "assignee_name": "Ben", "sprint_id": "jira:101",
            "started_at": "2026-03-06T09:00:00Z", "done_at": "2026-03-05T09:00:00Z"}),
        ),
        // WI-009: reopened. A bug with a parent, so not WI-010; created in sprint
        // 100's window, done after it completed.
        web(
            "WEB-8",
            "done",
            json!({"item_type": "bug", "original_type": "Bug",
            "parent_key": "WEB-1", "assignee_id": "u1", "assignee_name": "Ana",
            "sprint_id": "jira:101", "created_at": "2026-02-18T09:00:00Z",
            "started_at": "2026-02-19T09:00:00Z", "done_at": "2026-03-06T09:00:00Z"}),
        ),
        // A story to do, no points: no rule applies yet.
        web("WEB-9", "todo", json!({})),
        // Clean; it becomes blocked, and moves sprint, later.
        web(
            "WEB-10",
            "in_progress",
            json!({"story_points": 3, "assignee_id": "u1",
            "assignee_name": "Ana", "sprint_id": "jira:101",
            "started_at": "2026-03-03T09:00:00Z"}),
        ),
        // Kanban, so no sprint is fine (WI-007 passes); blocked 6 h before now.
        ops(
            "OPS-1",
            "in_progress",
            json!({"item_type": "task", "assignee_id": "u3",
            "assignee_name": "Cy", "started_at": "2026-03-01T09:00:00Z", "blocked": true,
            "blocked_since": "2026-03-09T03:00:00Z"}),
        ),
        // A bug linked `defect_of` OPS-1: WI-010 passes.
        ops(
            "OPS-2",
            "done",
            json!({"item_type": "bug", "story_points": 1,
            "assignee_id": "u3", "assignee_name": "Cy", "created_at": "2026-03-01T09:00:00Z",
            "started_at": "2026-03-02T09:00:00Z", "done_at": "2026-03-04T09:00:00Z"}),
        ),
        // Done 84 days before now: in the 90-day window until 03-15 09:00.
        ops(
            "OPS-3",
            "done",
            json!({"item_type": "task", "assignee_id": "u3",
            "assignee_name": "Cy", "started_at": "2025-12-14T09:00:00Z",
            "done_at": "2025-12-15T09:00:00Z"}),
        ),
        // A bug to do, blocked 9 days; linked `relates`, so WI-010 passes.
        ops(
            "OPS-4",
            "todo",
            json!({"item_type": "bug", "blocked": true,
            "blocked_since": "2026-02-28T09:00:00Z"}),
        ),
        // Blocked but done: in no blocked view.
        ops(
            "OPS-5",
            "done",
            json!({"item_type": "task", "assignee_id": "u3",
            "assignee_name": "Cy", "started_at": "2026-03-03T09:00:00Z",
            "done_at": "2026-03-05T21:00:00Z", "blocked": true,
            "blocked_since": "2026-03-01T09:00:00Z"}),
        ),
        // Blocked 4 days.
        ops(
            "OPS-6",
            "in_progress",
            json!({"item_type": "task", "assignee_id": "u3",
            "assignee_name": "Cy", "started_at": "2026-03-04T09:00:00Z", "blocked": true,
            "blocked_since": "2026-03-05T09:00:00Z"}),
        ),
        // Another tenant's item, in progress with no sprint on its kanban jira:10.
        item(
            "globex",
            "jira:10",
            "OPS-7",
            "in_progress",
            json!({"item_type": "task",
            "assignee_id": "g1", "assignee_name": "Gil", "started_at": "2026-03-06T09:00:00Z"}),
        ),
        change(
            "acme",
            "WEB-1",
            1,
            "todo",
            "in_progress",
            "2026-02-17T09:00:00Z",
        ),
        change(
            "acme",
            "WEB-1",
            2,
            "in_progress",
            "done",
            "2026-02-20T09:00:00Z",
        ),
        change("acme", "WEB-3", 1, "todo", "done", "2026-02-25T09:00:00Z"),
        // Another tenant's change of an item with WEB-3's id: it must not count.
        change(
            "globex",
            "WEB-3",
            9,
            "todo",
            "in_progress",
            "2026-02-24T09:00:00Z",
        ),
        change(
            "acme",
            "WEB-8",
            1,
            "todo",
            "in_progress",
            "2026-02-19T09:00:00Z",
        ),
        change(
            "acme",
            "WEB-8",
            2,
            "in_progress",
            "done",
            "2026-03-01T09:00:00Z",
        ),
        change(
            "acme",
            "WEB-8",
            3,
            "done",
            "in_progress",
            "2026-03-02T09:00:00Z",
        ),
        change(
            "acme",
            "WEB-8",
            4,
            "in_progress",
            "done",
            "2026-03-06T09:00:00Z",
        ),
        change(
            "acme",
            "OPS-2",
            1,
            "todo",
            "in_progress",
            "2026-03-02T09:00:00Z",
        ),
        change(
            "acme",
            "OPS-2",
            2,
            "in_progress",
            "done",
            "2026-03-04T09:00:00Z",
        ),
        membership("jira:100", "WEB-1", "2026-02-15T09:00:00Z", None),
        membership("jira:100", "WEB-3", "2026-02-16T09:00:00Z", None),
        membership("jira:100", "WEB-8", "2026-02-20T09:00:00Z", None),
        membership(
            "jira:100",
            "WEB-6",
            "2026-02-15T09:00:00Z",
            Some("2026-02-25T09:00:00Z"),
        ),
        link("OPS-2", "OPS-1", "defect_of"),
        link("OPS-4", "OPS-1", "relates"),
        link("WEB-4", "WEB-2", "blocks"),
        // Linked by title to a done item: clean. Reviewed 6 h and 11 h after opening.
        pr(
            "acme/web",
            1,
            json!({"title": "WEB-1 login form", "head_ref": "feature/login",
            "created_at": "2026-02-18T09:00:00Z", "merged_at": "2026-02-19T09:00:00Z",
            "additions": 100, "deletions": 20, "linked_item_key": "WEB-1",
            "link_method": "title"}),
        ),
        // Linked by branch to WEB-2 (in progress), merged 6 days ago: PR-003. First
        // review from the PR's own field (11:00), before its review row (12:00).
        pr(
            "acme/web",
            2,
            json!({"title": "fix things", "head_ref": "WEB-2-fix",
            "created_at": "2026-03-02T09:00:00Z", "merged_at": "2026-03-03T09:00:00Z",
            "first_review_at": "2026-03-02T11:00:00Z", "additions": 40, "deletions": 10,
            "linked_item_key": "WEB-2", "link_method": "branch"}),
        ),
        // Merged with no key anywhere: PR-001.
        pr(
            "acme/web",
            3,
            json!({"title": "chore: deps", "head_ref": "deps",
            "created_at": "2026-03-04T21:00:00Z", "merged_at": "2026-03-05T09:00:00Z",
            "additions": 5, "deletions": 5}),
        ),
        // Open, naming OPS-7, which only tenant globex has: PR-002.
        pr(
            "acme/web",
            4,
            json!({"title": "OPS-7 typo", "head_ref": "typo", "state": "open",
            "created_at": "2026-03-08T09:00:00Z", "linked_item_key": "OPS-7",
            "link_method": "title"}),
        ),
        pr(
            "acme/ops",
            1,
            json!({"title": "OPS-2 patch", "head_ref": "patch",
            "created_at": "2026-03-03T09:00:00Z", "merged_at": "2026-03-04T09:00:00Z",
            "additions": 10, "deletions": 0, "linked_item_key": "OPS-2",
            "link_method": "title"}),
        ),
        // Linked to WEB-10 (in progress), merged a day ago: PR-003 from 03-11 09:00.
        pr(
            "acme/web",
            5,
            json!({"title": "WEB-10 cache", "head_ref": "cache",
            "created_at": "2026-03-06T09:00:00Z", "merged_at": "2026-03-08T09:00:00Z",
            "additions": 30, "deletions": 0, "linked_item_key": "WEB-10",
            "link_method": "title"}),
        ),
        review("acme/web#1", 1, "ben", "2026-02-18T15:00:00Z"),
        review("acme/web#1", 2, "cy", "2026-02-18T20:00:00Z"),
        review("acme/web#2", 1, "ben", "2026-03-02T12:00:00Z"),
        review("acme/ops#1", 1, "ben", "2026-03-03T10:00:00Z"),
        review("acme/web#5", 1, "ben", "2026-03-06T13:00:00Z"),
    ]
}

/// The query each view is checked with: the columns a reader acts on, in order.
const QUERIES: [(&str, &str); 9] = [
    (
        "validation_results",
        "SELECT tenant_id, rule_id, entity_type, entity_id, scope, severity FROM validation_results",
    ),
    (
        "board_compliance",
        "SELECT tenant_id, board_id, items_in_scope, compliant_items, compliance_pct, \
         story_points_fill_pct, started_at_fill_pct, done_at_fill_pct, assignee_fill_pct, \
         blocked_since_fill_pct FROM board_compliance",
    ),
    (
        "blocked_items",
        "SELECT tenant_id, item_key, board_id, blocked_since, age_bucket FROM blocked_items",
    ),
    (
        "blocked_sla_breaches",
        "SELECT tenant_id, item_key, sla_hours, due_at FROM blocked_sla_breaches",
    ),
    (
        "sprint_velocity",
        "SELECT tenant_id, board_id, sprint_id, state, committed_points, completed_points, \
         completed_items, carried_over_items, membership_history FROM sprint_velocity",
    ),
    (
        "defect_density",
        "SELECT tenant_id, sprint_id, bugs_created, completed_points, bugs_per_10_points, \
         changed_lines, bugs_per_1000_lines FROM defect_density",
    ),
    (
        "weekly_throughput",
        "SELECT tenant_id, board_id, iso_week, week_start, items_done, points_done, bugs_done \
         FROM weekly_throughput",
    ),
    (
        "person_cycle_time",
        "SELECT tenant_id, board_id, assignee_id, assignee_name, items_done, points_done, \
         median_cycle_hours, p85_cycle_hours FROM person_cycle_time",
    ),
    (
        "pr_flow",
        "SELECT tenant_id, repo, iso_week, prs_merged, median_hours_to_first_review, \
         median_hours_to_merge, unlinked_prs FROM pr_flow",
    ),
];

/// What every view should hold, changed one row at a time as the test goes.
#[derive(Default)]
struct Expected {
    views: BTreeMap<&'static str, BTreeSet<Vec<String>>>,
}

fn row(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

impl Expected {
    fn set(&mut self, view: &'static str, rows: &[&[&str]]) {
        self.views
            .insert(view, rows.iter().map(|r| row(r)).collect());
    }

    fn add(&mut self, view: &'static str, values: &[&str]) {
        let added = self.views.entry(view).or_default().insert(row(values));
        assert!(added, "{view} already expects {values:?}");
    }

    fn remove(&mut self, view: &'static str, values: &[&str]) {
        let removed = self.views.entry(view).or_default().remove(&row(values));
        assert!(removed, "{view} did not expect {values:?}");
    }

    fn replace(&mut self, view: &'static str, old: &[&str], new: &[&str]) {
        self.remove(view, old);
        self.add(view, new);
    }

    /// Waits until every view holds exactly what is expected, failing with the
    /// difference after a deadline.
    fn check(&self, h: &Harness) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for (view, query) in QUERIES {
            let expected = self.views.get(view).cloned().unwrap_or_default();
            loop {
                let got: BTreeSet<Vec<String>> = h.run(query).into_iter().collect();
                if got == expected {
                    break;
                }
                if Instant::now() > deadline {
                    let missing: Vec<_> = expected.difference(&got).collect();
                    let unexpected: Vec<_> = got.difference(&expected).collect();
                    panic!("{view}:\n  missing:    {missing:?}\n  unexpected: {unexpected:?}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The views' contents for the fixture, at 2026-03-09 09:00.
fn expected_at_start() -> Expected {
    let mut e = Expected::default();
    // Every failing (rule, entity), from the notes in `fixture`. Not failing, among
    // others: WEB-9 (to do, so WI-001 does not apply yet), OPS-7 of globex (its
    // jira:10 is kanban, although acme's is scrum), WEB-3's WI-008 despite globex's
    // in-progress change of an item with its id, PR acme/web#5 (merged only a day
    // ago), PR acme/web#1 (its item is done).
    e.set(
        "validation_results",
        &[
            &[
                "acme",
                "WI-001",
                "work_item",
                "jira:WEB-2",
                "jira:10",
                "error",
            ],
            &[
                "acme",
                "WI-002",
                "work_item",
                "jira:WEB-3",
                "jira:10",
                "error",
            ],
            &[
                "acme",
                "WI-003",
                "work_item",
                "jira:WEB-5",
                "jira:10",
                "error",
            ],
            &[
                "acme",
                "WI-005",
                "work_item",
                "jira:WEB-7",
                "jira:10",
                "error",
            ],
            &[
                "acme",
                "WI-006",
                "work_item",
                "jira:WEB-4",
                "jira:10",
                "warning",
            ],
            &[
                "acme",
                "WI-007",
                "work_item",
                "jira:WEB-4",
                "jira:10",
                "warning",
            ],
            &[
                "acme",
                "WI-008",
                "work_item",
                "jira:WEB-3",
                "jira:10",
                "warning",
            ],
            &[
                "acme",
                "WI-009",
                "work_item",
                "jira:WEB-8",
                "jira:10",
                "warning",
            ],
            &[
                "acme",
                "WI-010",
                "work_item",
                "jira:WEB-4",
                "jira:10",
                "info",
            ],
            &[
                "acme",
                "PR-001",
                "pull_request",
                "github:acme/web#3",
                "acme/web",
                "warning",
            ],
            &[
                "acme",
                "PR-002",
                "pull_request",
                "github:acme/web#4",
                "acme/web",
                "warning",
            ],
            &[
                "acme",
                "PR-003",
                "pull_request",
                "github:acme/web#2",
                "acme/web",
                "info",
            ],
        ],
    );
    // Web: 9 items in scope (all but WEB-9); errors on WEB-2, 3, 5 and 7 leave 5
    // compliant (55.6 %). Stories in scope 1, 2, 3, 6, 7, 10: 5 of 6 have points
    // (83.3); 8 of 9 have started_at (88.9); done 1, 3, 5, 7, 8: 4 of 5 have
    // done_at (80.0); in progress 2, 4, 6, 10: 3 of 4 assigned (75.0); blocked in
    // scope: WEB-6, with blocked_since (100.0).
    // Ops: OPS-1, 2, 3, 5, 6 in scope, all compliant; no stories (NULL); done 2, 3,
    // 5 and in progress 1, 6 all filled; blocked in scope 1, 5, 6 all with since.
    // Globex: OPS-7 alone.
    e.set(
        "board_compliance",
        &[
            &[
                "acme", "jira:10", "9", "5", "55.6", "83.3", "88.9", "80.0", "75.0", "100.0",
            ],
            &[
                "acme", "jira:20", "5", "5", "100.0", "NULL", "100.0", "100.0", "100.0", "100.0",
            ],
            &[
                "globex", "jira:10", "1", "1", "100.0", "NULL", "100.0", "NULL", "100.0", "NULL",
            ],
        ],
    );
    // Blocked for 27 h, 6 h, 9 days and 4 days; OPS-5 is done.
    e.set(
        "blocked_items",
        &[
            &["acme", "WEB-6", "jira:10", "2026-03-08 06:00:00+00", "1-3d"],
            &["acme", "OPS-1", "jira:20", "2026-03-09 03:00:00+00", "<1d"],
            &["acme", "OPS-4", "jira:20", "2026-02-28 09:00:00+00", ">7d"],
            &["acme", "OPS-6", "jira:20", "2026-03-05 09:00:00+00", "3-7d"],
        ],
    );
    // Due = blocked_since + 24 h on Web, + 48 h on Ops. OPS-1 is due 03-11 03:00.
    e.set(
        "blocked_sla_breaches",
        &[
            &["acme", "WEB-6", "24", "2026-03-09 06:00:00+00"],
            &["acme", "OPS-4", "48", "2026-03-02 09:00:00+00"],
            &["acme", "OPS-6", "48", "2026-03-07 09:00:00+00"],
        ],
    );
    // Sprint 100 (history): at its start (02-16 09:00) WEB-1 (5), WEB-3 (3, added
    // exactly then) and WEB-6 (8, removed 02-25) were members: 16. At completion
    // (03-02 10:00) WEB-1, WEB-3, WEB-8: done by then WEB-1 and WEB-3 (8 points, 2
    // items); WEB-8 (done 03-06) carried over.
    // Sprint 101 (no history, current members WEB-2, 5, 6, 7, 8, 10): committed
    // 0 + 2 + 8 + 3 + 0 + 3 = 16; not completed, so done so far: WEB-7 (3) and
    // WEB-8 (no points); nothing carried over yet (NULL).
    // Sprint 102: no members.
    e.set(
        "sprint_velocity",
        &[
            &[
                "acme", "jira:10", "jira:100", "closed", "16.00", "8.00", "2", "1", "t",
            ],
            &[
                "acme", "jira:10", "jira:101", "active", "16.00", "3.00", "2", "NULL", "f",
            ],
            &[
                "acme", "jira:10", "jira:102", "future", "0.00", "0.00", "0", "NULL", "f",
            ],
        ],
    );
    // Sprint 100's window [02-16 09:00, 03-02 09:00): bug WEB-8 (created 02-18); PR
    // acme/web#1 (WEB-1, 120 lines): 10 × 1 / 8 = 1.25, 1000 × 1 / 120 = 8.33.
    // Sprint 101's [03-02 10:00, 03-16 10:00): bug WEB-4 (03-03); PRs #2 (50 lines)
    // and #5 (30); #3 names no item and #4 is open: 10 / 3 = 3.33, 1000 / 80 = 12.50.
    // Sprint 102: nothing, so both ratios are NULL.
    e.set(
        "defect_density",
        &[
            &["acme", "jira:100", "1", "8.00", "1.25", "120", "8.33"],
            &["acme", "jira:101", "1", "3.00", "3.33", "80", "12.50"],
            &["acme", "jira:102", "0", "0.00", "NULL", "0", "NULL"],
        ],
    );
    // By ISO week of done_at: WEB-1 02-20 (W08); WEB-3 02-25 (W09); WEB-7 03-05
    // and bug WEB-8 03-06 (W10); bug OPS-2 03-04 and OPS-5 03-05 (W10); OPS-3
    // 2025-12-15 (2025-W51). WEB-5 has no done_at.
    e.set(
        "weekly_throughput",
        &[
            &[
                "acme",
                "jira:10",
                "2026-W08",
                "2026-02-16 00:00:00+00",
                "1",
                "5.00",
                "0",
            ],
            &[
                "acme",
                "jira:10",
                "2026-W09",
                "2026-02-23 00:00:00+00",
                "1",
                "3.00",
                "0",
            ],
            &[
                "acme",
                "jira:10",
                "2026-W10",
                "2026-03-02 00:00:00+00",
                "2",
                "3.00",
                "1",
            ],
            &[
                "acme",
                "jira:20",
                "2026-W10",
                "2026-03-02 00:00:00+00",
                "2",
                "1.00",
                "1",
            ],
            &[
                "acme",
                "jira:20",
                "2025-W51",
                "2025-12-15 00:00:00+00",
                "1",
                "0.00",
                "0",
            ],
        ],
    );
    // Done in the last 90 days, by assignee: Ana: WEB-1 (72 h, 5 points), WEB-3 (no
    // start; 3 points), WEB-8 (360 h): median of 72 and 360 is 216, 85th percentile
    // 72 + 0.85 × 288 = 316.8. Ben: WEB-7 (done before started: no cycle time);
    // WEB-5 has no done_at. Cy: OPS-3 (24 h), OPS-2 (48 h, 1 point), OPS-5 (60 h):
    // median 48, 85th percentile 48 + 0.7 × 12 = 56.4.
    e.set(
        "person_cycle_time",
        &[
            &[
                "acme", "jira:10", "u1", "Ana", "3", "8.00", "216.0", "316.8",
            ],
            &["acme", "jira:10", "u2", "Ben", "1", "3.00", "NULL", "NULL"],
            &["acme", "jira:20", "u3", "Cy", "3", "1.00", "48.0", "56.4"],
        ],
    );
    // acme/web W08: #1 (first review 6 h, merged after 24 h). W10: #2 (2 h: its own
    // first_review_at beats its review row; 24 h), #3 (no review; 12 h; no item),
    // #5 (4 h; 48 h): medians 3 and 24. acme/ops W10: #1 (1 h; 24 h).
    e.set(
        "pr_flow",
        &[
            &["acme", "acme/web", "2026-W08", "1", "6.0", "24.0", "0"],
            &["acme", "acme/web", "2026-W10", "3", "3.0", "24.0", "1"],
            &["acme", "acme/ops", "2026-W10", "1", "1.0", "24.0", "0"],
        ],
    );
    e
}

#[test]
fn engineering_views_follow_the_data_and_the_clock() {
    let mut h = Harness::new();

    // A fresh data directory gets every built-in; SHOW CREATE VIEW gives back the
    // SQL as written.
    let installed = h.install();
    // Every domain's built-ins are installed together; the CRDC ones are checked in
    // tests/crdc.rs.
    let builtins = vigil_views::builtins().expect("built-ins");
    let names: Vec<String> = builtins.iter().map(|b| b.name.clone()).collect();
    assert_eq!(installed.created, names);
    assert!(installed.present.is_empty(), "{installed:?}");
    for builtin in &builtins {
        let noun = match builtin.kind {
            ObjectKind::Source => "SOURCE",
            // SHOW CREATE has no TABLE form.
            ObjectKind::Table => continue,
            ObjectKind::View => "VIEW",
            ObjectKind::MaterializedView => "MATERIALIZED VIEW",
        };
        let shown = h.run(&format!("SHOW CREATE {noun} {}", builtin.name));
        assert_eq!(shown, [[builtin.name.clone(), builtin.sql.clone()]]);
    }
    for view in ENGINEERING_VIEWS {
        assert!(names.iter().any(|n| n == view), "{view} is not installed");
    }
    let shown = h.run("SHOW CREATE VIEW blocked_items");
    assert!(
        shown[0][1].starts_with("-- blocked_items: blocked work items that are not done"),
        "{shown:?}"
    );
    // Installing again changes nothing.
    let again = h.install();
    assert!(again.created.is_empty(), "{again:?}");
    assert_eq!(again.present, names);

    h.publish(&fixture());
    let mut expected = expected_at_start();
    expected.check(&h);

    // The whole row of two results: message and remediation from the templates,
    // lineage from the entity.
    let full = "SELECT tenant_id, domain, rule_id, rule_version, severity, category, entity_type, \
                entity_id, scope, message, remediation, source_system, source_record_id, \
                ingest_batch_id, payload_sha256 FROM validation_results \
                WHERE rule_id IN ('WI-001', 'PR-002') ORDER BY rule_id";
    assert_eq!(
        h.run(full),
        [
            row(&[
                "acme",
                "engineering",
                "PR-002",
                "1",
                "warning",
                "traceability",
                "pull_request",
                "github:acme/web#4",
                "acme/web",
                "acme/web#4 names OPS-7 (by title), which is not a known work item",
                "Fix the key in the PR's title, or check that the item's board is connected.",
                "github",
                "github:acme/web#4",
                "run-1",
                "sha-github:acme/web#4",
            ]),
            row(&[
                "acme",
                "engineering",
                "WI-001",
                "1",
                "error",
                "estimation",
                "work_item",
                "jira:WEB-2",
                "jira:10",
                "WEB-2 (Checkout page) is In Progress but has no story points",
                "Estimate WEB-2 in jira; velocity and throughput count it as 0 points until then.",
                "jira",
                "WEB-2",
                "run-1",
                "sha-WEB-2",
            ]),
        ]
    );
    // Each rule's own view holds its results alone.
    assert_eq!(
        h.run("SELECT entity_id FROM rule_wi_007"),
        [row(&["jira:WEB-4"])]
    );
    assert_eq!(
        h.run("SELECT count(*) FROM validation_rules WHERE severity = 'error'"),
        [row(&["5"])]
    );

    // WEB-10 becomes blocked, with no blocked_since: it is listed as blocked for an
    // unknown time (no SLA breach can be computed), WI-004 fires, and Web loses a
    // compliant item (4 of 9, 44.4 %) while its blocked items with a since fall to
    // 1 of 2 (50.0).
    let web10 = json!({"story_points": 3, "assignee_id": "u1", "assignee_name": "Ana",
        "sprint_id": "jira:101", "started_at": "2026-03-03T09:00:00Z", "blocked": true,
        "blocked_reason": "needs design"});
    h.publish(&[item(
        "acme",
        "jira:10",
        "WEB-10",
        "in_progress",
        web10.clone(),
    )]);
    expected.add(
        "validation_results",
        &[
            "acme",
            "WI-004",
            "work_item",
            "jira:WEB-10",
            "jira:10",
            "error",
        ],
    );
    expected.add(
        "blocked_items",
        &["acme", "WEB-10", "jira:10", "NULL", "unknown"],
    );
    expected.replace(
        "board_compliance",
        &[
            "acme", "jira:10", "9", "5", "55.6", "83.3", "88.9", "80.0", "75.0", "100.0",
        ],
        &[
            "acme", "jira:10", "9", "4", "44.4", "83.3", "88.9", "80.0", "75.0", "50.0",
        ],
    );
    expected.check(&h);

    // WEB-2 gets 5 story points: WI-001 leaves, Web is back to 5 compliant items and
    // every story in scope has points; sprint 101 commits 5 more points.
    h.publish(&[item(
        "acme",
        "jira:10",
        "WEB-2",
        "in_progress",
        json!({
        "title": "Checkout page", "story_points": 5, "assignee_id": "u2",
        "assignee_name": "Ben", "sprint_id": "jira:101", "started_at": "2026-03-03T09:00:00Z"}),
    )]);
    expected.remove(
        "validation_results",
        &[
            "acme",
            "WI-001",
            "work_item",
            "jira:WEB-2",
            "jira:10",
            "error",
        ],
    );
    expected.replace(
        "board_compliance",
        &[
            "acme", "jira:10", "9", "4", "44.4", "83.3", "88.9", "80.0", "75.0", "50.0",
        ],
        &[
            "acme", "jira:10", "9", "5", "55.6", "100.0", "88.9", "80.0", "75.0", "50.0",
        ],
    );
    expected.replace(
        "sprint_velocity",
        &[
            "acme", "jira:10", "jira:101", "active", "16.00", "3.00", "2", "NULL", "f",
        ],
        &[
            "acme", "jira:10", "jira:101", "active", "21.00", "3.00", "2", "NULL", "f",
        ],
    );
    expected.check(&h);

    // WEB-10 (3 points, not done) moves to the future sprint 102: 101 commits 3
    // points less and 102 three more; in progress in no active sprint, WI-007
    // fires for it (a warning: compliance does not move).
    let moved = merged(web10, json!({"sprint_id": "jira:102"}));
    h.publish(&[item("acme", "jira:10", "WEB-10", "in_progress", moved)]);
    expected.add(
        "validation_results",
        &[
            "acme",
            "WI-007",
            "work_item",
            "jira:WEB-10",
            "jira:10",
            "warning",
        ],
    );
    expected.replace(
        "sprint_velocity",
        &[
            "acme", "jira:10", "jira:101", "active", "21.00", "3.00", "2", "NULL", "f",
        ],
        &[
            "acme", "jira:10", "jira:101", "active", "18.00", "3.00", "2", "NULL", "f",
        ],
    );
    expected.replace(
        "sprint_velocity",
        &[
            "acme", "jira:10", "jira:102", "future", "0.00", "0.00", "0", "NULL", "f",
        ],
        &[
            "acme", "jira:10", "jira:102", "future", "3.00", "0.00", "0", "NULL", "f",
        ],
    );
    expected.check(&h);

    // Two days and an hour later (03-11 10:00), with no input: WEB-6 has been
    // blocked 76 h (3-7d), OPS-1 55 h (1-3d) and past its 48 h SLA (due 03-11
    // 03:00); PR acme/web#5 was merged more than 3 days ago with WEB-10 not done.
    h.run("ADVANCE CLOCK BY '2 days 1 hour'");
    expected.replace(
        "blocked_items",
        &["acme", "WEB-6", "jira:10", "2026-03-08 06:00:00+00", "1-3d"],
        &["acme", "WEB-6", "jira:10", "2026-03-08 06:00:00+00", "3-7d"],
    );
    expected.replace(
        "blocked_items",
        &["acme", "OPS-1", "jira:20", "2026-03-09 03:00:00+00", "<1d"],
        &["acme", "OPS-1", "jira:20", "2026-03-09 03:00:00+00", "1-3d"],
    );
    expected.add(
        "blocked_sla_breaches",
        &["acme", "OPS-1", "48", "2026-03-11 03:00:00+00"],
    );
    expected.add(
        "validation_results",
        &[
            "acme",
            "PR-003",
            "pull_request",
            "github:acme/web#5",
            "acme/web",
            "info",
        ],
    );
    expected.check(&h);

    // Four days more (03-15 10:00): WEB-6 (7 d 4 h) and OPS-6 (10 d 1 h) pass a week
    // blocked, OPS-1 (6 d 7 h) is in 3-7d; OPS-3, done 90 days and an hour ago,
    // leaves Cy's cycle time: 48 h and 60 h remain, median 54, 85th percentile
    // 48 + 0.85 × 12 = 58.2.
    h.run("ADVANCE CLOCK BY '4 days'");
    expected.replace(
        "blocked_items",
        &["acme", "WEB-6", "jira:10", "2026-03-08 06:00:00+00", "3-7d"],
        &["acme", "WEB-6", "jira:10", "2026-03-08 06:00:00+00", ">7d"],
    );
    expected.replace(
        "blocked_items",
        &["acme", "OPS-6", "jira:20", "2026-03-05 09:00:00+00", "3-7d"],
        &["acme", "OPS-6", "jira:20", "2026-03-05 09:00:00+00", ">7d"],
    );
    expected.replace(
        "blocked_items",
        &["acme", "OPS-1", "jira:20", "2026-03-09 03:00:00+00", "1-3d"],
        &["acme", "OPS-1", "jira:20", "2026-03-09 03:00:00+00", "3-7d"],
    );
    expected.replace(
        "person_cycle_time",
        &["acme", "jira:20", "u3", "Cy", "3", "1.00", "48.0", "56.4"],
        &["acme", "jira:20", "u3", "Cy", "2", "1.00", "54.0", "58.2"],
    );
    expected.check(&h);

    // A restart replays the sources, installs nothing new, and every view comes
    // back as it was.
    h.restart();
    let after_restart = h.install();
    assert!(after_restart.created.is_empty(), "{after_restart:?}");
    assert_eq!(after_restart.present, names);
    expected.check(&h);
}

#[test]
fn sprint_history_decides_velocity_over_current_membership() {
    let h = Harness::new();
    h.install();
    h.publish(&fixture());
    // Sprint 100 as in `expected_at_start`.
    let query = "SELECT committed_points, completed_points, completed_items, \
                 carried_over_items FROM sprint_velocity WHERE sprint_id = 'jira:100'";
    eventually(&h, query, &[&["16.00", "8.00", "2", "1"]]);
    // WEB-3 (3 points, done 02-25) was taken out of sprint 100 an hour after it
    // started: still committed, but not a member at completion, so neither
    // completed nor carried over. Its sprint_id (still jira:100) does not matter:
    // the sprint has history.
    h.publish(&[membership(
        "jira:100",
        "WEB-3",
        "2026-02-16T09:00:00Z",
        Some("2026-02-16T10:00:00Z"),
    )]);
    eventually(&h, query, &[&["16.00", "5.00", "1", "1"]]);
    // Deleting the history of sprint 100 leaves its current members (WEB-1, WEB-3 by
    // sprint_id) counted as members throughout, and the view says so.
    let tombstones: Vec<Record> = ["WEB-1", "WEB-3", "WEB-8", "WEB-6"]
        .iter()
        .map(|key| {
            let mut record = membership("jira:100", key, "2026-02-15T09:00:00Z", None);
            record.value = None;
            record
        })
        .collect();
    h.publish(&tombstones);
    eventually(
        &h,
        "SELECT committed_points, completed_points, completed_items, carried_over_items, \
         membership_history FROM sprint_velocity WHERE sprint_id = 'jira:100'",
        &[&["8.00", "8.00", "2", "0", "f"]],
    );
}

/// Polls `query` until it returns `expected` (in any order).
fn eventually(h: &Harness, query: &str, expected: &[&[&str]]) {
    let expected: BTreeSet<Vec<String>> = expected.iter().map(|r| row(r)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<Vec<String>> = h.run(query).into_iter().collect();
        if got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{query}\n  got:      {got:?}\n  expected: {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
