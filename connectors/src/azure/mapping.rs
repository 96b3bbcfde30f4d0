//! Azure Boards records to canonical rows of `boards`, `sprints`, `work_items`,
//! `status_changes`, `sprint_memberships` and `item_links`.
//!
//! Derived fields come from the item's revisions in `rev` order (each one holds the
//! fields as they were after it):
//!
//! - a state's category is the config's override for its name, else Azure's
//!   defaults of the Agile, Scrum and Basic processes (New, To Do → todo; Active,
//!   Committed, In Progress, Resolved → in_progress; Closed, Done → done);
//! - a status change is a revision whose `System.State` differs from the one
//!   before; creation is not a change;
//! - `started_at` is the first revision in an in-progress state, else
//!   `ActivatedDate`; `done_at` the last entry into a done state while the item is
//!   done, else `ClosedDate`;
//! - sprint memberships follow `System.IterationPath` from revision to revision;
//!   a path that is no team iteration (the project root) is no sprint;
//! - blocked is a blocked state or a blocked tag; `blocked_since` is the earliest
//!   revision that made one of the reasons that hold now true (and kept it so).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::format::{Iteration, Revision, WorkItem, tags};
use crate::config::{AzureConfig, AzureProject, StatusCategory};
use crate::run::{
    BOARDS, CanonicalRecord, ITEM_LINKS, SPRINT_MEMBERSHIPS, SPRINTS, STATUS_CHANGES, WORK_ITEMS,
    timestamp,
};

/// Azure's default category of a state, by name.
pub fn default_category(state: &str) -> Option<StatusCategory> {
    match state {
        "New" | "To Do" | "Proposed" => Some(StatusCategory::Todo),
        "Active" | "Committed" | "In Progress" | "Resolved" => Some(StatusCategory::InProgress),
        "Closed" | "Done" => Some(StatusCategory::Done),
        _ => None,
    }
}

pub fn category(config: &AzureConfig, state: &str) -> Option<StatusCategory> {
    config
        .status_categories
        .get(state)
        .copied()
        .or_else(|| default_category(state))
}

/// `azure:{project}:{id}`.
pub fn item_id(project: &str, id: u64) -> String {
    format!("azure:{project}:{id}")
}

/// `azure:{project}/{team}`.
pub fn board_id(project: &AzureProject) -> String {
    format!("azure:{}/{}", project.project, project.team)
}

/// `azure:{project}:{iteration id}`.
pub fn sprint_id(project: &str, iteration: &str) -> String {
    format!("azure:{project}:{iteration}")
}

pub fn board(project: &AzureProject) -> CanonicalRecord {
    let mut columns = Map::new();
    columns.insert("board_id".into(), board_id(project).into());
    columns.insert("source".into(), "azure".into());
    columns.insert(
        "name".into(),
        format!("{}/{}", project.project, project.team).into(),
    );
    columns.insert("kind".into(), project.kind.as_str().into());
    columns.insert("blocked_sla_hours".into(), project.blocked_sla_hours.into());
    CanonicalRecord {
        relation: &BOARDS,
        source_record_id: format!("board:{}/{}", project.project, project.team),
        columns,
    }
}

pub fn sprint(project: &AzureProject, iteration: &Iteration) -> CanonicalRecord {
    let attributes = &iteration.attributes;
    let state = match attributes.time_frame.as_deref() {
        Some("past") => "closed",
        Some("current") => "active",
        _ => "future",
    };
    let finish = attributes.finish_date.map(|at| timestamp(at.0));
    let mut columns = Map::new();
    columns.insert(
        "sprint_id".into(),
        sprint_id(&project.project, &iteration.id).into(),
    );
    columns.insert("board_id".into(), board_id(project).into());
    columns.insert("name".into(), iteration.name.clone().into());
    columns.insert("state".into(), state.into());
    columns.insert(
        "start_at".into(),
        attributes.start_date.map(|at| timestamp(at.0)).into(),
    );
    columns.insert("end_at".into(), finish.clone().into());
    columns.insert(
        "complete_at".into(),
        if state == "closed" { finish } else { None }.into(),
    );
    CanonicalRecord {
        relation: &SPRINTS,
        source_record_id: format!("iteration:{}", iteration.id),
        columns,
    }
}

/// Team iteration ids by path, to place items in sprints.
pub type Sprints = BTreeMap<String, String>;

/// story, bug, task or epic by Azure's type names; another type is a task.
pub fn item_type(name: &str) -> &'static str {
    match name {
        "User Story" | "Product Backlog Item" | "Requirement" => "story",
        "Bug" | "Issue" => "bug",
        "Epic" | "Feature" => "epic",
        _ => "task",
    }
}

struct Change {
    rev: u64,
    from: Option<String>,
    to: String,
    at: DateTime<Utc>,
}

/// Every canonical row of one work item; `revisions` is its whole history in `rev`
/// order.
pub fn work_item(
    project: &AzureProject,
    item: &WorkItem,
    revisions: &[Revision],
    sprints: &Sprints,
    config: &AzureConfig,
) -> Vec<CanonicalRecord> {
    let name = project.project.as_str();
    let id = item_id(name, item.id);
    let fields = &item.fields;
    let category_now = category(config, &fields.state);
    let mut changes: Vec<Change> = Vec::new();
    let mut state: Option<&str> = None;
    let mut started_at: Option<DateTime<Utc>> = None;
    let mut done_at: Option<DateTime<Utc>> = None;
    for revision in revisions {
        let Some(now) = revision.fields.state.as_deref() else {
            continue;
        };
        let at = revision.fields.changed.0;
        let now_category = category(config, now);
        if state != Some(now) {
            let before = state.and_then(|state| category(config, state));
            if now_category == Some(StatusCategory::InProgress) && started_at.is_none() {
                started_at = Some(at);
            }
            if now_category == Some(StatusCategory::Done) && before != Some(StatusCategory::Done) {
                done_at = Some(at);
            }
            if state.is_some() {
                changes.push(Change {
                    rev: revision.rev,
                    from: state.map(str::to_owned),
                    to: now.to_owned(),
                    at,
                });
            }
            state = Some(now);
        }
    }
    let started_at = started_at.or(fields.activated.map(|at| at.0));
    let done_at = match category_now {
        Some(StatusCategory::Done) => done_at.or(fields.closed.map(|at| at.0)),
        _ => None,
    };
    let (blocked, blocked_since, blocked_reason) = blocked(item, revisions, config);
    let sprint_now = fields
        .iteration_path
        .as_deref()
        .and_then(|path| sprints.get(path))
        .map(|iteration| sprint_id(name, iteration));

    let mut rows = Vec::new();
    let mut columns = Map::new();
    let mut set = |column: &str, value: Value| {
        columns.insert(column.to_owned(), value);
    };
    let assignee = fields.assigned_to.as_ref();
    set("item_id", id.clone().into());
    set("board_id", board_id(project).into());
    set("item_key", item.id.to_string().into());
    set("title", fields.title.clone().into());
    set("item_type", item_type(&fields.work_item_type).into());
    set("original_type", fields.work_item_type.clone().into());
    set("status", fields.state.clone().into());
    set(
        "status_category",
        category_now.map(StatusCategory::as_str).into(),
    );
    set("story_points", fields.story_points.into());
    set(
        "assignee_id",
        assignee
            .and_then(|a| a.unique_name.clone().or_else(|| a.id.clone()))
            .into(),
    );
    set(
        "assignee_name",
        assignee.and_then(|a| a.display_name.clone()).into(),
    );
    set("sprint_id", sprint_now.into());
    set(
        "parent_key",
        fields.parent.map(|parent| parent.to_string()).into(),
    );
    set("created_at", timestamp(fields.created.0).into());
    set("updated_at", timestamp(fields.changed.0).into());
    set("started_at", started_at.map(timestamp).into());
    // No mapping names a QA state yet.
    set("ready_for_qa_at", Value::Null);
    set("done_at", done_at.map(timestamp).into());
    set("blocked", blocked.into());
    set("blocked_since", blocked_since.map(timestamp).into());
    set("blocked_reason", blocked_reason.into());
    rows.push(CanonicalRecord {
        relation: &WORK_ITEMS,
        source_record_id: item.id.to_string(),
        columns,
    });

    for change in changes {
        let from_category = change.from.as_deref().and_then(|s| category(config, s));
        let to_category = category(config, &change.to);
        let mut columns = Map::new();
        columns.insert(
            "change_id".into(),
            format!("azure:{name}:{}:{}", item.id, change.rev).into(),
        );
        columns.insert("item_id".into(), id.clone().into());
        columns.insert("from_status".into(), change.from.into());
        columns.insert("to_status".into(), change.to.into());
        columns.insert(
            "from_category".into(),
            from_category.map(StatusCategory::as_str).into(),
        );
        columns.insert(
            "to_category".into(),
            to_category.map(StatusCategory::as_str).into(),
        );
        columns.insert("changed_at".into(), timestamp(change.at).into());
        rows.push(CanonicalRecord {
            relation: &STATUS_CHANGES,
            source_record_id: format!("{}:{}", item.id, change.rev),
            columns,
        });
    }

    for (iteration, (added_at, removed_at)) in memberships(item, revisions, sprints) {
        let mut columns = Map::new();
        columns.insert("sprint_id".into(), sprint_id(name, &iteration).into());
        columns.insert("item_id".into(), id.clone().into());
        columns.insert("added_at".into(), timestamp(added_at).into());
        columns.insert("removed_at".into(), removed_at.map(timestamp).into());
        rows.push(CanonicalRecord {
            relation: &SPRINT_MEMBERSHIPS,
            source_record_id: format!("{}:iteration:{iteration}", item.id),
            columns,
        });
    }

    if let Some(parent) = fields.parent {
        let mut columns = Map::new();
        columns.insert("from_item_id".into(), id.clone().into());
        columns.insert("to_item_id".into(), item_id(name, parent).into());
        columns.insert("link_type".into(), "parent".into());
        rows.push(CanonicalRecord {
            relation: &ITEM_LINKS,
            source_record_id: format!("{}:parent:{parent}", item.id),
            columns,
        });
    }
    rows
}

/// When the item entered and left each sprint (by iteration id).
pub fn memberships(
    item: &WorkItem,
    revisions: &[Revision],
    sprints: &Sprints,
) -> BTreeMap<String, (DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut spans: BTreeMap<String, (DateTime<Utc>, Option<DateTime<Utc>>)> = BTreeMap::new();
    let mut current: Option<&String> = None;
    for revision in revisions {
        let at = revision.fields.changed.0;
        let now = revision
            .fields
            .iteration_path
            .as_deref()
            .and_then(|path| sprints.get(path));
        if now == current {
            continue;
        }
        if let Some(left) = current
            && let Some(span) = spans.get_mut(left)
        {
            span.1 = Some(at);
        }
        if let Some(entered) = now {
            let span = spans.entry(entered.clone()).or_insert((at, None));
            span.1 = None;
        }
        current = now;
    }
    // Without revisions, the current iteration counts from creation.
    if let Some(now) = item
        .fields
        .iteration_path
        .as_deref()
        .and_then(|path| sprints.get(path))
    {
        spans
            .entry(now.clone())
            .or_insert((item.fields.created.0, None));
    }
    spans
}

/// Whether the item is blocked, since when, and why.
fn blocked(
    item: &WorkItem,
    revisions: &[Revision],
    config: &AzureConfig,
) -> (bool, Option<DateTime<Utc>>, Option<String>) {
    let fields = &item.fields;
    let is_blocked_state = |state: &str| config.blocked_states.iter().any(|b| b == state);
    let has_tag = |text: Option<&str>, tag: &str| {
        tags(text).iter().any(|have| have.eq_ignore_ascii_case(tag))
    };
    let mut reasons = Vec::new();
    let mut since = Vec::new();
    // The revision that made `holds` true for the last time.
    let became = |holds: &dyn Fn(&Revision) -> bool| {
        let mut start = None;
        for revision in revisions {
            match (holds(revision), start) {
                (true, None) => start = Some(revision.fields.changed.0),
                (false, _) => start = None,
                (true, Some(_)) => {}
            }
        }
        start
    };
    if is_blocked_state(&fields.state) {
        reasons.push(format!("state {}", fields.state));
        since.push(became(&|revision| {
            revision.fields.state.as_deref() == Some(fields.state.as_str())
        }));
    }
    for tag in &config.blocked_tags {
        if has_tag(fields.tags.as_deref(), tag) {
            reasons.push(format!("tag {tag}"));
            since.push(became(&|revision| {
                has_tag(revision.fields.tags.as_deref(), tag)
            }));
        }
    }
    if reasons.is_empty() {
        return (false, None, None);
    }
    (
        true,
        since.into_iter().flatten().min(),
        Some(reasons.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::azure::format;
    use crate::config::{BoardKind, CommonConfig};
    use crate::http::RetryPolicy;

    fn config() -> AzureConfig {
        AzureConfig {
            common: CommonConfig {
                tenant_id: "acme".into(),
                base_url: "https://dev.azure.com/fabrikam".into(),
                token: None,
                overlap: std::time::Duration::ZERO,
                mapping_version: 1,
                http: RetryPolicy::default(),
            },
            projects: vec![],
            batch_size: 200,
            wiql_limit: 20_000,
            revisions_page: 200,
            status_categories: BTreeMap::new(),
            blocked_states: vec!["Blocked".into()],
            blocked_tags: vec!["blocked".into()],
        }
    }

    fn project() -> AzureProject {
        AzureProject {
            project: "P".into(),
            team: "P Team".into(),
            kind: BoardKind::Scrum,
            blocked_sla_hours: 48,
        }
    }

    fn revision(rev: u64, at: &str, state: &str, tags: &str) -> Revision {
        format::revision(&json!({"rev": rev, "fields": {
            "System.State": state, "System.ChangedDate": at, "System.Tags": tags,
        }}))
        .expect("revision")
    }

    fn column<'a>(rows: &'a [CanonicalRecord], name: &str) -> &'a Value {
        &rows[0].columns[name]
    }

    #[test]
    fn a_reopened_item_is_not_done_and_blocked_counts_from_the_last_tagging() {
        let item = format::work_item(&json!({"id": 1, "fields": {
            "System.WorkItemType": "Task", "System.State": "Active", "System.Title": "t",
            "System.CreatedDate": "2024-05-01T00:00:00Z", "System.ChangedDate": "2024-05-06T00:00:00Z",
            "System.Tags": "Blocked", "Microsoft.VSTS.Common.ClosedDate": "2024-05-03T00:00:00Z",
        }}))
        .expect("item");
        let revisions = [
            revision(1, "2024-05-01T00:00:00Z", "New", ""),
            revision(2, "2024-05-02T00:00:00Z", "Active", "blocked"),
            revision(3, "2024-05-03T00:00:00Z", "Closed", ""),
            revision(4, "2024-05-04T00:00:00Z", "Active", ""),
            revision(5, "2024-05-05T00:00:00Z", "Active", "blocked; ui"),
            revision(6, "2024-05-06T00:00:00Z", "Active", "Blocked"),
        ];
        let rows = work_item(&project(), &item, &revisions, &Sprints::new(), &config());
        assert_eq!(column(&rows, "started_at"), "2024-05-02T00:00:00Z");
        assert_eq!(column(&rows, "done_at"), &Value::Null);
        assert_eq!(column(&rows, "blocked"), true);
        assert_eq!(column(&rows, "blocked_since"), "2024-05-05T00:00:00Z");
        assert_eq!(column(&rows, "blocked_reason"), "tag blocked");
        // New→Active, Active→Closed, Closed→Active: three changes, no creation.
        assert_eq!(
            rows.iter()
                .filter(|row| row.relation == &STATUS_CHANGES)
                .count(),
            3
        );
    }

    #[test]
    fn without_an_in_progress_revision_started_is_the_activated_date() {
        let item = format::work_item(&json!({"id": 2, "fields": {
            "System.WorkItemType": "Bug", "System.State": "Closed", "System.Title": "t",
            "System.CreatedDate": "2024-05-01T00:00:00Z", "System.ChangedDate": "2024-05-04T00:00:00Z",
            "Microsoft.VSTS.Common.ActivatedDate": "2024-05-02T00:00:00Z",
        }}))
        .expect("item");
        let revisions = [
            revision(1, "2024-05-01T00:00:00Z", "New", ""),
            revision(2, "2024-05-04T00:00:00Z", "Closed", ""),
        ];
        let rows = work_item(&project(), &item, &revisions, &Sprints::new(), &config());
        assert_eq!(column(&rows, "started_at"), "2024-05-02T00:00:00Z");
        assert_eq!(column(&rows, "done_at"), "2024-05-04T00:00:00Z");
        assert_eq!(column(&rows, "blocked"), false);
    }

    #[test]
    fn types_and_default_categories() {
        assert_eq!(item_type("User Story"), "story");
        assert_eq!(item_type("Product Backlog Item"), "story");
        assert_eq!(item_type("Feature"), "epic");
        assert_eq!(item_type("Test Case"), "task");
        assert_eq!(
            default_category("Resolved"),
            Some(StatusCategory::InProgress)
        );
        assert_eq!(default_category("Removed"), None);
    }
}
