//! ClickUp records to canonical rows of `boards`, `sprints`, `work_items`,
//! `sprint_memberships` and `item_links`, by the team's [`ClickUpMapping`].
//!
//! What ClickUp does not say, the rows leave NULL rather than guess:
//!
//! - the task list carries no status history, so there are no `status_changes`;
//!   `done_at` is `date_done` (else `date_closed`) while the task is in a done
//!   category, and `started_at` is NULL unless the mapping names a date custom
//!   field that holds it;
//! - `blocked_since` is NULL (no history says when a tag or dependency came);
//! - sprints are lists of a sprint folder: a list's state is read from its dates
//!   against the run's clock (no dates: `future` with NULL times) and
//!   `complete_at` is NULL; a membership is the task's current list only, with
//!   `added_at` and `removed_at` NULL.
//!
//! A status's category is the mapping's override for its name, else its `type`:
//! `open` → todo, `custom` → in_progress, `closed` and `done` → done. Blocked is any
//! of: the status is a blocked status, a tag is a blocked tag, or the task waits on
//! another (a "waiting on" dependency, published as an `is_blocked_by` link); a done
//! task is never blocked.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::format::{Millis, Space, SprintList, Task};
use crate::config::{BoardKind, ClickUpMapping, ClickUpSpace, StatusCategory};
use crate::run::{
    BOARDS, CanonicalRecord, ITEM_LINKS, SPRINT_MEMBERSHIPS, SPRINTS, WORK_ITEMS, timestamp,
};

/// `clickup:{task id}`.
pub fn item_id(task: &str) -> String {
    format!("clickup:{task}")
}

/// `clickup:{team}:{space}`.
pub fn board_id(team: &str, space: &str) -> String {
    format!("clickup:{team}:{space}")
}

/// `clickup:{list id}`.
pub fn sprint_id(list: &str) -> String {
    format!("clickup:{list}")
}

/// ClickUp's status `type` in canonical words.
pub fn type_category(kind: &str) -> Option<StatusCategory> {
    match kind {
        "open" => Some(StatusCategory::Todo),
        "custom" => Some(StatusCategory::InProgress),
        "closed" | "done" => Some(StatusCategory::Done),
        _ => None,
    }
}

pub fn category(task: &Task, mapping: &ClickUpMapping) -> Option<StatusCategory> {
    mapping
        .status_categories
        .get(&task.status.status)
        .copied()
        .or_else(|| type_category(&task.status.kind))
}

pub fn board(team: &str, space: &Space, config: &ClickUpSpace) -> CanonicalRecord {
    let mut columns = Map::new();
    columns.insert("board_id".into(), board_id(team, &config.id).into());
    columns.insert("source".into(), "clickup".into());
    columns.insert("name".into(), space.name.clone().into());
    columns.insert("kind".into(), config.kind.as_str().into());
    columns.insert("blocked_sla_hours".into(), config.blocked_sla_hours.into());
    CanonicalRecord {
        relation: &BOARDS,
        source_record_id: format!("space:{}", config.id),
        columns,
    }
}

/// A sprint list's state at `now`: future before its start (or without dates),
/// closed after its due date, active between.
pub fn sprint_state(list: &SprintList, now: DateTime<Utc>) -> &'static str {
    match (list.start_date, list.due_date) {
        (None, None) => "future",
        (Some(Millis(start)), _) if now < start => "future",
        (_, Some(Millis(due))) if now > due => "closed",
        (_, _) => "active",
    }
}

pub fn sprint(board: &str, list: &SprintList, now: DateTime<Utc>) -> CanonicalRecord {
    let mut columns = Map::new();
    columns.insert("sprint_id".into(), sprint_id(&list.id).into());
    columns.insert("board_id".into(), board.into());
    columns.insert("name".into(), list.name.clone().into());
    columns.insert("state".into(), sprint_state(list, now).into());
    columns.insert("start_at".into(), time(list.start_date));
    columns.insert("end_at".into(), time(list.due_date));
    columns.insert("complete_at".into(), Value::Null);
    CanonicalRecord {
        relation: &SPRINTS,
        source_record_id: format!("list:{}", list.id),
        columns,
    }
}

/// What the mapping's custom fields hold for one task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomValues {
    pub story_points: Option<f64>,
    pub started_at: Option<DateTime<Utc>>,
}

/// Why a task is blocked, `; `-separated, or `None`.
pub fn blocked_reason(task: &Task, mapping: &ClickUpMapping) -> Option<String> {
    if category(task, mapping) == Some(StatusCategory::Done) {
        return None;
    }
    let mut reasons: Vec<String> = Vec::new();
    if mapping.blocked_statuses.contains(&task.status.status) {
        reasons.push(format!("status {}", task.status.status));
    }
    for tag in &task.tags {
        if mapping.blocked_tags.contains(&tag.name) {
            reasons.push(format!("tag {}", tag.name));
        }
    }
    for blocker in waiting_on(task) {
        reasons.push(format!("waiting on {blocker}"));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The tasks this one waits on, in id order.
fn waiting_on(task: &Task) -> BTreeSet<&str> {
    task.dependencies
        .iter()
        .filter(|dependency| dependency.task_id == task.id)
        .map(|dependency| dependency.depends_on.as_str())
        .collect()
}

/// The rows of one task: its work item, its sprint membership when its list is a
/// sprint, and its links. `sprints` are the space's sprint list ids.
pub fn task(
    board: &str,
    task: &Task,
    custom: &CustomValues,
    sprints: &BTreeSet<String>,
    mapping: &ClickUpMapping,
) -> Vec<CanonicalRecord> {
    let id = item_id(&task.id);
    let category = category(task, mapping);
    let sprint = task
        .list
        .as_ref()
        .map(|list| &list.id)
        .filter(|list| sprints.contains(*list));
    let done_at = match category {
        Some(StatusCategory::Done) => task.date_done.or(task.date_closed),
        Some(StatusCategory::Todo | StatusCategory::InProgress) | None => None,
    };
    let reason = blocked_reason(task, mapping);
    let assignee = task.assignees.first();
    let mut rows = Vec::new();

    let mut columns = Map::new();
    let mut set = |column: &str, value: Value| {
        columns.insert(column.to_owned(), value);
    };
    set("item_id", id.clone().into());
    set("board_id", board.into());
    set(
        "item_key",
        task.custom_id
            .clone()
            .unwrap_or_else(|| task.id.clone())
            .into(),
    );
    set("title", task.name.clone().into());
    // ClickUp tasks have no type in the task list; a subtask is one with a parent.
    let item_type = if task.parent.is_some() {
        "subtask"
    } else {
        "task"
    };
    set("item_type", item_type.into());
    set("original_type", Value::Null);
    set("status", task.status.status.clone().into());
    set(
        "status_category",
        category.map(StatusCategory::as_str).into(),
    );
    set("story_points", custom.story_points.into());
    set(
        "assignee_id",
        assignee.map(|user| user.id.to_string()).into(),
    );
    set(
        "assignee_name",
        assignee.and_then(|user| user.username.clone()).into(),
    );
    set("sprint_id", sprint.map(|list| sprint_id(list)).into());
    set("parent_key", task.parent.clone().into());
    set("created_at", time(Some(task.date_created)));
    set("updated_at", time(Some(task.date_updated)));
    set("started_at", custom.started_at.map(timestamp).into());
    set("ready_for_qa_at", Value::Null);
    set("done_at", time(done_at));
    set("blocked", reason.is_some().into());
    set("blocked_since", Value::Null);
    set("blocked_reason", reason.into());
    rows.push(CanonicalRecord {
        relation: &WORK_ITEMS,
        source_record_id: task.id.clone(),
        columns,
    });

    if let Some(list) = sprint {
        let mut columns = Map::new();
        columns.insert("sprint_id".into(), sprint_id(list).into());
        columns.insert("item_id".into(), id.clone().into());
        columns.insert("added_at".into(), Value::Null);
        columns.insert("removed_at".into(), Value::Null);
        rows.push(CanonicalRecord {
            relation: &SPRINT_MEMBERSHIPS,
            source_record_id: format!("{}:list:{list}", task.id),
            columns,
        });
    }

    let mut links: BTreeSet<(String, &'static str)> = BTreeSet::new();
    for dependency in &task.dependencies {
        if dependency.task_id == task.id {
            links.insert((dependency.depends_on.clone(), "is_blocked_by"));
        } else if dependency.depends_on == task.id {
            links.insert((dependency.task_id.clone(), "blocks"));
        }
    }
    for linked in &task.linked_tasks {
        // ClickUp lists a link on both tasks, each naming the other in one of the two.
        let other = if linked.task_id == task.id {
            &linked.link_id
        } else {
            &linked.task_id
        };
        links.insert((other.clone(), "relates"));
    }
    if let Some(parent) = &task.parent {
        links.insert((parent.clone(), "parent"));
    }
    for (other, link_type) in links {
        let mut columns = Map::new();
        columns.insert("from_item_id".into(), id.clone().into());
        columns.insert("to_item_id".into(), item_id(&other).into());
        columns.insert("link_type".into(), link_type.into());
        rows.push(CanonicalRecord {
            relation: &ITEM_LINKS,
            source_record_id: format!("{}:{link_type}:{other}", task.id),
            columns,
        });
    }
    rows
}

/// Only scrum spaces have sprints.
pub fn has_sprints(space: &ClickUpSpace) -> bool {
    space.kind == BoardKind::Scrum && space.sprint_folder.is_some()
}

fn time(at: Option<Millis>) -> Value {
    at.map(|Millis(at)| timestamp(at)).into()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn list(start: Option<i64>, due: Option<i64>) -> SprintList {
        let at = |ms: i64| Millis(Utc.timestamp_millis_opt(ms).single().expect("time"));
        SprintList {
            id: "1".into(),
            name: "s".into(),
            start_date: start.map(at),
            due_date: due.map(at),
        }
    }

    #[test]
    fn a_sprint_state_follows_its_dates_and_the_clock() {
        let now = Utc.timestamp_millis_opt(5_000).single().expect("now");
        assert_eq!(sprint_state(&list(None, None), now), "future");
        assert_eq!(sprint_state(&list(Some(6_000), Some(9_000)), now), "future");
        assert_eq!(sprint_state(&list(Some(1_000), Some(9_000)), now), "active");
        assert_eq!(sprint_state(&list(Some(1_000), Some(4_000)), now), "closed");
        assert_eq!(sprint_state(&list(None, Some(4_000)), now), "closed");
        assert_eq!(sprint_state(&list(Some(1_000), None), now), "active");
    }

    #[test]
    fn status_types_map_to_categories_unless_overridden() {
        assert_eq!(type_category("open"), Some(StatusCategory::Todo));
        assert_eq!(type_category("custom"), Some(StatusCategory::InProgress));
        assert_eq!(type_category("closed"), Some(StatusCategory::Done));
        assert_eq!(type_category("done"), Some(StatusCategory::Done));
        assert_eq!(type_category("weird"), None);
    }
}
