//! Jira records to canonical rows of `boards`, `sprints`, `work_items`,
//! `status_changes`, `sprint_memberships` and `item_links`, by the site's
//! [`JiraMapping`].
//!
//! Derived fields follow the domain's rules, read from the changelog in time order:
//!
//! - a status's category is the mapping's override for its name, else Jira's
//!   `statusCategory` of that status id (`new` → todo, `indeterminate` →
//!   in_progress, `done` → done);
//! - `started_at` is the first entry into an in-progress status; `done_at` the last
//!   entry into a done status, and only while the item is done (a reopened item is
//!   not done, whatever it once was);
//! - blocked is any of: the flagged field holds "Impediment", the status is a
//!   blocked status, a label is a blocked label, or an "is blocked by" link to an
//!   issue that is not done. `blocked_since` is the earliest time one of the reasons
//!   that hold now came about (the Flagged change, the transition into the status,
//!   the label or link added); `None` when the changelog does not say;
//! - sprint memberships come from the Sprint field's changes; a sprint the issue was
//!   in before its first change, or is in with no change at all, counts from the
//!   issue's creation (Jira records no change when an issue is created in a sprint).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::format::{Board, History, Issue, Sprint, StatusDef, Time};
use crate::config::{BoardKind, JiraBoard, JiraMapping, StatusCategory};
use crate::run::{
    BOARDS, CanonicalRecord, ITEM_LINKS, SPRINT_MEMBERSHIPS, SPRINTS, STATUS_CHANGES, WORK_ITEMS,
    timestamp,
};

/// The flagged field's value that means blocked.
pub const IMPEDIMENT: &str = "Impediment";

/// Jira's own category key in canonical words.
pub fn jira_category(key: &str) -> Option<StatusCategory> {
    match key {
        "new" => Some(StatusCategory::Todo),
        "indeterminate" => Some(StatusCategory::InProgress),
        "done" => Some(StatusCategory::Done),
        _ => None,
    }
}

/// The categories of a site's statuses, by id and by name, with the mapping's
/// overrides by name.
#[derive(Clone, Debug, Default)]
pub struct Statuses {
    by_id: BTreeMap<String, StatusCategory>,
    by_name: BTreeMap<String, StatusCategory>,
    overrides: BTreeMap<String, StatusCategory>,
}

impl Statuses {
    pub fn new(defs: &[StatusDef], mapping: &JiraMapping) -> Statuses {
        let mut statuses = Statuses {
            overrides: mapping.status_categories.clone(),
            ..Statuses::default()
        };
        for def in defs {
            if let Some(category) = jira_category(&def.category.key) {
                statuses.by_id.insert(def.id.clone(), category);
                statuses.by_name.insert(def.name.clone(), category);
            }
        }
        statuses
    }

    /// The category of status `id` named `name` (changelog items carry both).
    pub fn category(&self, id: Option<&str>, name: Option<&str>) -> Option<StatusCategory> {
        if let Some(category) = name.and_then(|name| self.overrides.get(name)) {
            return Some(*category);
        }
        id.and_then(|id| self.by_id.get(id))
            .or_else(|| name.and_then(|name| self.by_name.get(name)))
            .copied()
    }
}

/// `jira:{key}`.
pub fn item_id(key: &str) -> String {
    format!("jira:{key}")
}

pub fn board_id(id: u64) -> String {
    format!("jira:{id}")
}

pub fn sprint_id(id: u64) -> String {
    format!("jira:{id}")
}

/// The board's kind: the config's, else its own type (a team-managed "simple" board
/// without sprints is kanban).
pub fn board_kind(board: &Board, config: &JiraBoard) -> BoardKind {
    config.kind.unwrap_or(match board.board_type.as_str() {
        "scrum" => BoardKind::Scrum,
        _ => BoardKind::Kanban,
    })
}

pub fn board(board: &Board, config: &JiraBoard) -> CanonicalRecord {
    let mut columns = Map::new();
    columns.insert("board_id".into(), board_id(config.id).into());
    columns.insert("source".into(), "jira".into());
    columns.insert("name".into(), board.name.clone().into());
    columns.insert("kind".into(), board_kind(board, config).as_str().into());
    columns.insert("blocked_sla_hours".into(), config.blocked_sla_hours.into());
    CanonicalRecord {
        relation: &BOARDS,
        source_record_id: format!("board:{}", config.id),
        columns,
    }
}

pub fn sprint(board: u64, sprint: &Sprint) -> CanonicalRecord {
    let mut columns = Map::new();
    columns.insert("sprint_id".into(), sprint_id(sprint.id).into());
    columns.insert("board_id".into(), board_id(board).into());
    columns.insert("name".into(), sprint.name.clone().into());
    columns.insert("state".into(), sprint.state.clone().into());
    columns.insert("start_at".into(), time(sprint.start_date));
    columns.insert("end_at".into(), time(sprint.end_date));
    columns.insert("complete_at".into(), time(sprint.complete_date));
    CanonicalRecord {
        relation: &SPRINTS,
        source_record_id: format!("sprint:{}", sprint.id),
        columns,
    }
}

/// What an issue's custom fields hold, read by the mapping's ids.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomValues {
    pub story_points: Option<f64>,
    pub sprints: Vec<Sprint>,
    pub flagged: bool,
}

/// One status item of the changelog, with categories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub change_id: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub from_category: Option<StatusCategory>,
    pub to_category: Option<StatusCategory>,
    pub changed_at: DateTime<Utc>,
}

/// Histories in time order (Jira's own order differs between the embedded changelog
/// and the paged one); ties by numeric id.
pub fn in_order(histories: &mut [History]) {
    histories.sort_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then_with(|| a.id.parse::<u64>().ok().cmp(&b.id.parse::<u64>().ok()))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// The status items of `histories` (in time order); a second status item in one
/// history gets `:{n}` after the history id.
pub fn status_changes(key: &str, histories: &[History], statuses: &Statuses) -> Vec<StatusChange> {
    let mut changes = Vec::new();
    for history in histories {
        let items = history.items.iter().filter(|item| item.field == "status");
        for (n, item) in items.enumerate() {
            let change_id = match n {
                0 => format!("jira:{key}:{}", history.id),
                n => format!("jira:{key}:{}:{n}", history.id),
            };
            changes.push(StatusChange {
                change_id,
                from_status: item.from_string.clone(),
                to_status: item.to_string.clone(),
                from_category: statuses.category(item.from.as_deref(), item.from_string.as_deref()),
                to_category: statuses.category(item.to.as_deref(), item.to_string.as_deref()),
                changed_at: history.created.0,
            });
        }
    }
    changes
}

/// The first entry into an in-progress status.
pub fn started_at(changes: &[StatusChange]) -> Option<DateTime<Utc>> {
    changes
        .iter()
        .find(|change| change.to_category == Some(StatusCategory::InProgress))
        .map(|change| change.changed_at)
}

/// The last entry into a done status, if the item is done now.
pub fn done_at(changes: &[StatusChange], current: Option<StatusCategory>) -> Option<DateTime<Utc>> {
    if current != Some(StatusCategory::Done) {
        return None;
    }
    changes
        .iter()
        .rev()
        .find(|change| change.to_category == Some(StatusCategory::Done))
        .map(|change| change.changed_at)
}

/// Whether an item is blocked, since when and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocked {
    pub blocked: bool,
    pub since: Option<DateTime<Utc>>,
    /// The reasons that hold, `; `-separated.
    pub reason: Option<String>,
}

pub fn blocked(
    issue: &Issue,
    flagged: bool,
    histories: &[History],
    mapping: &JiraMapping,
    statuses: &Statuses,
) -> Blocked {
    let mut reasons: Vec<String> = Vec::new();
    let mut since: Vec<Option<DateTime<Utc>>> = Vec::new();
    // The last time an item of `field` matching `pred` changed, newest first.
    let last = |field: &str, pred: &dyn Fn(&super::format::ChangeItem) -> bool| {
        histories.iter().rev().find_map(|history| {
            history
                .items
                .iter()
                .any(|item| item.field.eq_ignore_ascii_case(field) && pred(item))
                .then_some(history.created.0)
        })
    };
    if flagged {
        reasons.push("flagged".to_owned());
        since.push(last("Flagged", &|item| {
            item.to_string
                .as_deref()
                .is_some_and(|to| to.contains(IMPEDIMENT))
        }));
    }
    let status = &issue.fields.status.name;
    if mapping
        .blocked_statuses
        .iter()
        .any(|blocked| blocked.eq_ignore_ascii_case(status))
    {
        reasons.push(format!("status {status}"));
        since.push(last("status", &|item| {
            item.to_string.as_deref() == Some(status)
        }));
    }
    for label in &issue.fields.labels {
        if !mapping
            .blocked_labels
            .iter()
            .any(|blocked| blocked == label)
        {
            continue;
        }
        reasons.push(format!("label {label}"));
        let has = |text: &Option<String>| {
            text.as_deref()
                .is_some_and(|text| text.split_whitespace().any(|word| word == label))
        };
        since.push(last("labels", &|item| {
            has(&item.to_string) && !has(&item.from_string)
        }));
    }
    for link in &issue.fields.issuelinks {
        let Some(blocker) = &link.inward_issue else {
            continue;
        };
        if !is_blocks(&link.link_type) {
            continue;
        }
        let blocker_done = blocker
            .fields
            .as_ref()
            .and_then(|fields| fields.status.as_ref())
            .and_then(|status| statuses.category(Some(&status.id), Some(&status.name)))
            == Some(StatusCategory::Done);
        if blocker_done {
            continue;
        }
        reasons.push(format!("blocked by {}", blocker.key));
        let text = format!("This issue {} {}", link.link_type.inward, blocker.key);
        since.push(last("Link", &|item| {
            item.to_string.as_deref() == Some(text.as_str())
        }));
    }
    if reasons.is_empty() {
        return Blocked::default();
    }
    Blocked {
        blocked: true,
        since: since.into_iter().flatten().min(),
        reason: Some(reasons.join("; ")),
    }
}

/// Jira's "Blocks" link type (`blocks` / `is blocked by`).
fn is_blocks(link_type: &super::format::LinkType) -> bool {
    link_type.name.eq_ignore_ascii_case("blocks")
        || link_type.inward.eq_ignore_ascii_case("is blocked by")
}

/// When the issue entered and left each sprint: `(added_at, removed_at)`.
pub fn memberships(
    issue: &Issue,
    sprints: &[Sprint],
    histories: &[History],
    mapping: &JiraMapping,
) -> BTreeMap<u64, (DateTime<Utc>, Option<DateTime<Utc>>)> {
    let created = issue.fields.created.0;
    let mut spans: BTreeMap<u64, (DateTime<Utc>, Option<DateTime<Utc>>)> = BTreeMap::new();
    for history in histories {
        let at = history.created.0;
        let items = history.items.iter().filter(|item| {
            item.field_id.as_deref() == Some(mapping.sprint_field.as_str())
                || item.field.eq_ignore_ascii_case("sprint")
        });
        for item in items {
            let from = sprint_ids(item.from.as_deref());
            let to = sprint_ids(item.to.as_deref());
            for id in from.difference(&to) {
                // In it before any recorded change: since creation.
                spans.entry(*id).or_insert((created, None)).1 = Some(at);
            }
            for id in to.difference(&from) {
                let span = spans.entry(*id).or_insert((at, None));
                span.1 = None;
            }
            for id in from.intersection(&to) {
                spans.entry(*id).or_insert((created, None));
            }
        }
    }
    for sprint in sprints {
        spans.entry(sprint.id).or_insert((created, None));
    }
    spans
}

/// `"37, 38"` → {37, 38}; Jira writes sprint ids comma-separated.
fn sprint_ids(text: Option<&str>) -> BTreeSet<u64> {
    text.unwrap_or("")
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

/// The current sprint: the active one, else the next future one, else the last.
pub fn current_sprint(sprints: &[Sprint]) -> Option<u64> {
    sprints
        .iter()
        .find(|sprint| sprint.state == "active")
        .or_else(|| sprints.iter().find(|sprint| sprint.state == "future"))
        .or_else(|| sprints.last())
        .map(|sprint| sprint.id)
}

/// story, bug, task, subtask or epic; another type is a task (`original_type` keeps
/// its name).
pub fn item_type(name: &str, subtask: bool) -> &'static str {
    if subtask {
        return "subtask";
    }
    match name.to_ascii_lowercase().as_str() {
        "story" => "story",
        "bug" => "bug",
        "epic" => "epic",
        "sub-task" | "subtask" => "subtask",
        _ => "task",
    }
}

/// Every canonical row of one issue: its work item, status changes, sprint
/// memberships and links. `histories` is its whole changelog, in time order.
pub fn issue(
    board: u64,
    issue: &Issue,
    custom: &CustomValues,
    histories: &[History],
    mapping: &JiraMapping,
    statuses: &Statuses,
) -> Vec<CanonicalRecord> {
    let key = &issue.key;
    let id = item_id(key);
    let fields = &issue.fields;
    let category = statuses.category(Some(&fields.status.id), Some(&fields.status.name));
    let changes = status_changes(key, histories, statuses);
    let blocked = blocked(issue, custom.flagged, histories, mapping, statuses);
    let mut rows = Vec::new();

    let mut columns = Map::new();
    let mut set = |column: &str, value: Value| {
        columns.insert(column.to_owned(), value);
    };
    set("item_id", id.clone().into());
    set("board_id", board_id(board).into());
    set("item_key", key.clone().into());
    set("title", fields.summary.clone().into());
    set(
        "item_type",
        item_type(&fields.issuetype.name, fields.issuetype.subtask).into(),
    );
    set("original_type", fields.issuetype.name.clone().into());
    set("status", fields.status.name.clone().into());
    set(
        "status_category",
        category.map(StatusCategory::as_str).into(),
    );
    set("story_points", custom.story_points.into());
    set(
        "assignee_id",
        fields
            .assignee
            .as_ref()
            .map(|a| a.account_id.clone())
            .into(),
    );
    set(
        "assignee_name",
        fields
            .assignee
            .as_ref()
            .and_then(|a| a.display_name.clone())
            .into(),
    );
    set(
        "sprint_id",
        current_sprint(&custom.sprints).map(sprint_id).into(),
    );
    set(
        "parent_key",
        fields.parent.as_ref().map(|p| p.key.clone()).into(),
    );
    set("created_at", time(Some(fields.created)));
    set("updated_at", time(Some(fields.updated)));
    set("started_at", started_at(&changes).map(timestamp).into());
    // No mapping names a QA status yet.
    set("ready_for_qa_at", Value::Null);
    set("done_at", done_at(&changes, category).map(timestamp).into());
    set("blocked", blocked.blocked.into());
    set("blocked_since", blocked.since.map(timestamp).into());
    set("blocked_reason", blocked.reason.into());
    rows.push(CanonicalRecord {
        relation: &WORK_ITEMS,
        source_record_id: key.clone(),
        columns,
    });

    for change in changes {
        let mut columns = Map::new();
        let source_record_id = change
            .change_id
            .strip_prefix("jira:")
            .unwrap_or(&change.change_id)
            .to_owned();
        columns.insert("change_id".into(), change.change_id.into());
        columns.insert("item_id".into(), id.clone().into());
        columns.insert("from_status".into(), change.from_status.into());
        columns.insert("to_status".into(), change.to_status.into());
        columns.insert(
            "from_category".into(),
            change.from_category.map(StatusCategory::as_str).into(),
        );
        columns.insert(
            "to_category".into(),
            change.to_category.map(StatusCategory::as_str).into(),
        );
        columns.insert("changed_at".into(), timestamp(change.changed_at).into());
        rows.push(CanonicalRecord {
            relation: &STATUS_CHANGES,
            source_record_id,
            columns,
        });
    }

    for (sprint, (added_at, removed_at)) in memberships(issue, &custom.sprints, histories, mapping)
    {
        let mut columns = Map::new();
        columns.insert("sprint_id".into(), sprint_id(sprint).into());
        columns.insert("item_id".into(), id.clone().into());
        columns.insert("added_at".into(), timestamp(added_at).into());
        columns.insert("removed_at".into(), removed_at.map(timestamp).into());
        rows.push(CanonicalRecord {
            relation: &SPRINT_MEMBERSHIPS,
            source_record_id: format!("{key}:sprint:{sprint}"),
            columns,
        });
    }

    let mut links: BTreeSet<(String, &'static str)> = BTreeSet::new();
    for link in &fields.issuelinks {
        let blocks = is_blocks(&link.link_type);
        if let Some(other) = &link.outward_issue {
            links.insert((other.key.clone(), if blocks { "blocks" } else { "relates" }));
        }
        if let Some(other) = &link.inward_issue {
            let kind = if blocks { "is_blocked_by" } else { "relates" };
            links.insert((other.key.clone(), kind));
        }
    }
    if let Some(parent) = &fields.parent {
        links.insert((parent.key.clone(), "parent"));
    }
    for (other, link_type) in links {
        let mut columns = Map::new();
        columns.insert("from_item_id".into(), id.clone().into());
        columns.insert("to_item_id".into(), item_id(&other).into());
        columns.insert("link_type".into(), link_type.into());
        rows.push(CanonicalRecord {
            relation: &ITEM_LINKS,
            source_record_id: format!("{key}:{link_type}:{other}"),
            columns,
        });
    }
    rows
}

fn time(at: Option<Time>) -> Value {
    at.map(|Time(at)| timestamp(at)).into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jira::format;

    fn mapping() -> JiraMapping {
        JiraMapping {
            story_points_field: "customfield_10016".into(),
            sprint_field: "customfield_10020".into(),
            flagged_field: "customfield_10021".into(),
            status_categories: BTreeMap::from([("Ready".to_owned(), StatusCategory::Done)]),
            blocked_statuses: vec!["Blocked".into()],
            blocked_labels: vec!["blocked".into()],
        }
    }

    fn statuses() -> Statuses {
        let defs = format::statuses(&json!([
            {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}},
            {"id": "3", "name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            {"id": "4", "name": "Ready", "statusCategory": {"key": "indeterminate"}},
            {"id": "5", "name": "Done", "statusCategory": {"key": "done"}},
        ]))
        .expect("statuses");
        Statuses::new(&defs, &mapping())
    }

    fn history(id: &str, at: &str, items: Value) -> History {
        format::history(&json!({"id": id, "created": at, "items": items})).expect("history")
    }

    fn status(id: &str, at: &str, from: (&str, &str), to: (&str, &str)) -> History {
        history(
            id,
            at,
            json!([{"field": "status", "from": from.0, "fromString": from.1, "to": to.0, "toString": to.1}]),
        )
    }

    fn at(text: &str) -> DateTime<Utc> {
        Time::parse(text).expect("time").0
    }

    #[test]
    fn categories_prefer_the_override_then_the_id() {
        let statuses = statuses();
        assert_eq!(
            statuses.category(Some("4"), Some("Ready")),
            Some(StatusCategory::Done)
        );
        assert_eq!(
            statuses.category(Some("3"), Some("Renamed")),
            Some(StatusCategory::InProgress)
        );
        assert_eq!(
            statuses.category(None, Some("To Do")),
            Some(StatusCategory::Todo)
        );
        assert_eq!(statuses.category(Some("99"), Some("Unknown")), None);
    }

    #[test]
    fn started_is_the_first_entry_and_done_the_last_while_done() {
        let mut histories = vec![
            status(
                "12",
                "2024-05-05T00:00:00.000+0000",
                ("3", "In Progress"),
                ("5", "Done"),
            ),
            status(
                "11",
                "2024-05-02T00:00:00.000+0000",
                ("1", "To Do"),
                ("3", "In Progress"),
            ),
            status(
                "13",
                "2024-05-06T00:00:00.000+0000",
                ("5", "Done"),
                ("3", "In Progress"),
            ),
            status(
                "14",
                "2024-05-08T00:00:00.000+0000",
                ("3", "In Progress"),
                ("4", "Ready"),
            ),
        ];
        in_order(&mut histories);
        let changes = status_changes("WEB-1", &histories, &statuses());
        assert_eq!(changes.len(), 4);
        assert_eq!(changes[0].change_id, "jira:WEB-1:11");
        assert_eq!(started_at(&changes), Some(at("2024-05-02T00:00:00Z")));
        assert_eq!(
            done_at(&changes, Some(StatusCategory::Done)),
            Some(at("2024-05-08T00:00:00Z"))
        );
        assert_eq!(
            done_at(&changes[..3], Some(StatusCategory::InProgress)),
            None
        );
    }

    #[test]
    fn sprint_spans_follow_the_sprint_field_changes() {
        let issue = format::issue(&json!({
            "id": "1", "key": "WEB-1",
            "fields": {
                "summary": "s", "status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}},
                "issuetype": {"name": "Story"}, "created": "2024-05-01T00:00:00.000+0000",
                "updated": "2024-05-01T00:00:00.000+0000"
            }
        }))
        .expect("issue");
        let sprint = |id: u64, state: &str| Sprint {
            id,
            name: format!("S{id}"),
            state: state.into(),
            start_date: None,
            end_date: None,
            complete_date: None,
        };
        let histories = vec![
            history(
                "1",
                "2024-05-02T00:00:00.000+0000",
                json!([{"field": "Sprint", "from": "36", "to": "36, 37"}]),
            ),
            history(
                "2",
                "2024-05-03T00:00:00.000+0000",
                json!([{"field": "Sprint", "from": "36, 37", "to": "37"}]),
            ),
        ];
        let spans = memberships(
            &issue,
            &[sprint(37, "active"), sprint(40, "future")],
            &histories,
            &mapping(),
        );
        assert_eq!(
            spans,
            BTreeMap::from([
                (
                    36,
                    (at("2024-05-01T00:00:00Z"), Some(at("2024-05-03T00:00:00Z")))
                ),
                (37, (at("2024-05-02T00:00:00Z"), None)),
                (40, (at("2024-05-01T00:00:00Z"), None)),
            ])
        );
        assert_eq!(
            current_sprint(&[sprint(36, "closed"), sprint(40, "future")]),
            Some(40)
        );
        assert_eq!(
            current_sprint(&[sprint(36, "closed"), sprint(37, "closed")]),
            Some(37)
        );
        assert_eq!(current_sprint(&[]), None);
    }

    #[test]
    fn types_fold_into_five() {
        assert_eq!(item_type("Story", false), "story");
        assert_eq!(item_type("Sub-task", true), "subtask");
        assert_eq!(item_type("Spike", false), "task");
        assert_eq!(item_type("BUG", false), "bug");
    }
}
