//! ClickUp v2's JSON shapes, read with serde. Only the fields the mapping uses are
//! declared, so a field ClickUp adds changes nothing; a field it drops or retypes
//! fails the one record that has it, which is then rejected and kept raw.
//!
//! ClickUp writes times as strings of epoch milliseconds (`"1715331600000"`) and
//! sometimes as numbers; [`Millis`] reads both.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Why a ClickUp payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("unexpected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("custom field {id}: {reason}")]
    CustomField { id: String, reason: String },
}

/// A time in epoch milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub DateTime<Utc>);

impl Millis {
    /// Reads `"1715331600000"` or `1715331600000`.
    pub fn from_value(value: &Value) -> Option<Millis> {
        let ms = match value {
            Value::String(text) => text.trim().parse::<i64>().ok()?,
            Value::Number(number) => number.as_i64()?,
            _ => return None,
        };
        Utc.timestamp_millis_opt(ms).single().map(Millis)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Millis, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Millis::from_value(&value).ok_or_else(|| {
            serde::de::Error::custom(format!("{value} is not a time in epoch milliseconds"))
        })
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Status {
    pub status: String,
    /// `open`, `custom`, `closed` (and `done` on newer workspaces).
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct User {
    pub id: u64,
    pub username: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Tag {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ListRef {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct CustomField {
    pub id: String,
    pub name: Option<String>,
    /// Absent or null when the field is empty on this task.
    #[serde(default)]
    pub value: Value,
}

/// `task_id` waits on `depends_on` (ClickUp's "waiting on"); a task lists the
/// dependencies on both of its sides.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Dependency {
    pub task_id: String,
    pub depends_on: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct LinkedTask {
    pub task_id: String,
    pub link_id: String,
}

/// A task as `GET /team/{id}/task` returns it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Task {
    pub id: String,
    pub custom_id: Option<String>,
    pub name: String,
    pub status: Status,
    pub date_created: Millis,
    pub date_updated: Millis,
    pub date_done: Option<Millis>,
    pub date_closed: Option<Millis>,
    #[serde(default)]
    pub assignees: Vec<User>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub parent: Option<String>,
    pub points: Option<f64>,
    pub list: Option<ListRef>,
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub linked_tasks: Vec<LinkedTask>,
}

/// `GET /space/{id}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Space {
    pub id: String,
    pub name: String,
}

/// A list of the sprint folder (`GET /folder/{id}/list`); its dates are optional.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct SprintList {
    pub id: String,
    pub name: String,
    pub start_date: Option<Millis>,
    pub due_date: Option<Millis>,
}

pub fn task(value: &Value) -> Result<Task, FormatError> {
    Ok(Task::deserialize(value)?)
}

pub fn space(value: &Value) -> Result<Space, FormatError> {
    Ok(Space::deserialize(value)?)
}

pub fn sprint_list(value: &Value) -> Result<SprintList, FormatError> {
    Ok(SprintList::deserialize(value)?)
}

fn custom_field<'t>(task: &'t Task, id: &str) -> Option<&'t Value> {
    task.custom_fields
        .iter()
        .find(|field| field.id == id)
        .map(|field| &field.value)
        .filter(|value| !value.is_null())
}

/// A number custom field's value (ClickUp sends numbers as numbers or strings);
/// `None` when the task leaves it empty.
pub fn number_field(task: &Task, id: &str) -> Result<Option<f64>, FormatError> {
    let bad = |value: &Value| FormatError::CustomField {
        id: id.to_owned(),
        reason: format!("{value} is not a number"),
    };
    match custom_field(task, id) {
        None => Ok(None),
        Some(value @ Value::Number(number)) => number.as_f64().map(Some).ok_or_else(|| bad(value)),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(value @ Value::String(text)) => {
            text.trim().parse::<f64>().map(Some).map_err(|_| bad(value))
        }
        Some(value) => Err(bad(value)),
    }
}

/// A date custom field's value, in epoch milliseconds.
pub fn date_field(task: &Task, id: &str) -> Result<Option<DateTime<Utc>>, FormatError> {
    match custom_field(task, id) {
        None => Ok(None),
        Some(value) => Millis::from_value(value)
            .map(|Millis(at)| Some(at))
            .ok_or_else(|| FormatError::CustomField {
                id: id.to_owned(),
                reason: format!("{value} is not a time in epoch milliseconds"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "id": "86a1", "name": "t", "status": {"status": "to do", "type": "open"},
            "date_created": "1715331600000", "date_updated": 1715335200000_i64,
            "date_done": null, "parent": null, "points": null,
            "custom_fields": [
                {"id": "sp", "name": "Story points", "type": "number", "value": "5"},
                {"id": "st", "name": "Started", "type": "date", "value": "1715338800000"},
                {"id": "empty", "name": "Empty", "type": "number"}
            ]
        })
    }

    #[test]
    fn reads_times_as_strings_or_numbers_of_milliseconds() {
        let task = task(&minimal()).expect("task");
        assert_eq!(
            task.date_created.0.to_rfc3339(),
            "2024-05-10T09:00:00+00:00"
        );
        assert_eq!(
            task.date_updated.0.to_rfc3339(),
            "2024-05-10T10:00:00+00:00"
        );
        assert_eq!(task.date_done, None);
        assert_eq!(task.date_closed, None);
    }

    #[test]
    fn reads_custom_fields_by_id() {
        let task = task(&minimal()).expect("task");
        assert_eq!(number_field(&task, "sp").expect("points"), Some(5.0));
        assert_eq!(number_field(&task, "empty").expect("empty"), None);
        assert_eq!(number_field(&task, "absent").expect("absent"), None);
        assert_eq!(
            date_field(&task, "st")
                .expect("date")
                .map(|at| at.to_rfc3339()),
            Some("2024-05-10T11:00:00+00:00".to_owned())
        );
        assert_eq!(
            date_field(&task, "sp").map_err(|e| e.to_string()),
            Ok(Some(Utc.timestamp_millis_opt(5).single().expect("time")))
        );
        assert_eq!(
            number_field(&task, "st").map_err(|e| e.to_string()),
            Ok(Some(1715338800000.0))
        );
    }

    #[test]
    fn a_retyped_field_fails_the_task() {
        let mut value = minimal();
        value["date_updated"] = json!("yesterday");
        let error = task(&value).expect_err("refused").to_string();
        assert!(
            error
                .starts_with("unexpected shape: \"yesterday\" is not a time in epoch milliseconds"),
            "{error}"
        );
    }
}
