//! Jira Cloud's JSON shapes, as much of them as the mapping reads (REST API v3 and
//! Agile 1.0): the issue of `POST /rest/api/3/search/jql` with its embedded
//! changelog, a changelog history, a sprint, a board and a status. Unknown fields
//! are ignored; a field the mapping needs that is missing or of the wrong type is a
//! [`FormatError`], which rejects that record only.
//!
//! Custom fields (story points, sprint, flagged) have per-site ids, so an issue's
//! fields keep everything they do not name in [`Fields::custom`], read through the
//! mapping's ids.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Why a payload does not have the shape Jira documents.
#[derive(Debug, thiserror::Error)]
#[error("{what} does not have jira's shape: {error}")]
pub struct FormatError {
    pub what: &'static str,
    #[source]
    pub error: serde_json::Error,
}

/// A time as Jira writes it: `2024-05-01T09:00:00.000+0000` in the REST API,
/// RFC 3339 (`2024-05-06T09:00:00.000Z`) in the Agile API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub DateTime<Utc>);

impl Time {
    pub fn parse(text: &str) -> Result<Time, String> {
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .map(|at| Time(at.with_timezone(&Utc)))
            .map_err(|e| format!("invalid time {text:?}: {e}"))
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        let text = String::deserialize(deserializer)?;
        Time::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An element of the search answer's `issues`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Issue {
    pub id: String,
    pub key: String,
    pub fields: Fields,
    /// Present with `expand=changelog`; capped, see [`Changelog::total`].
    #[serde(default)]
    pub changelog: Option<Changelog>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Fields {
    pub summary: String,
    pub status: Status,
    pub issuetype: IssueType,
    #[serde(default)]
    pub assignee: Option<User>,
    pub created: Time,
    pub updated: Time,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub issuelinks: Vec<IssueLink>,
    #[serde(default)]
    pub parent: Option<LinkedIssue>,
    /// Every other field, custom fields among them, by id.
    #[serde(flatten)]
    pub custom: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub id: String,
    pub name: String,
    #[serde(rename = "statusCategory")]
    pub category: StatusCategoryRef,
}

/// `statusCategory`: its `key` is `new`, `indeterminate` or `done`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct StatusCategoryRef {
    pub key: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct IssueType {
    pub name: String,
    #[serde(default)]
    pub subtask: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct User {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "displayName", default)]
    pub display_name: Option<String>,
}

/// An element of `issuelinks`: exactly one of the two sides is the other issue.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct IssueLink {
    #[serde(rename = "type")]
    pub link_type: LinkType,
    /// Set when this issue is the outward side's subject ("this issue blocks …").
    #[serde(rename = "outwardIssue", default)]
    pub outward_issue: Option<LinkedIssue>,
    /// Set when the other issue acts on this one ("this issue is blocked by …").
    #[serde(rename = "inwardIssue", default)]
    pub inward_issue: Option<LinkedIssue>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LinkType {
    pub name: String,
    pub inward: String,
    pub outward: String,
}

/// A linked issue or the parent, as Jira summarizes it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LinkedIssue {
    pub key: String,
    #[serde(default)]
    pub fields: Option<LinkedFields>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LinkedFields {
    #[serde(default)]
    pub status: Option<Status>,
}

/// The embedded changelog.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Changelog {
    /// How many histories the issue has; more than `histories` holds means the rest
    /// is paged from `GET /rest/api/3/issue/{id}/changelog`.
    pub total: u64,
    pub histories: Vec<History>,
}

/// One change: everything one edit did.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct History {
    pub id: String,
    pub created: Time,
    pub items: Vec<ChangeItem>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ChangeItem {
    pub field: String,
    #[serde(rename = "fieldId", default)]
    pub field_id: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(rename = "fromString", default)]
    pub from_string: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(rename = "toString", default)]
    pub to_string: Option<String>,
}

/// A sprint, from the Agile API or an issue's sprint field (which adds `boardId`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Sprint {
    pub id: u64,
    pub name: String,
    /// `future`, `active` or `closed`.
    pub state: String,
    #[serde(rename = "startDate", default)]
    pub start_date: Option<Time>,
    #[serde(rename = "endDate", default)]
    pub end_date: Option<Time>,
    #[serde(rename = "completeDate", default)]
    pub complete_date: Option<Time>,
}

/// `GET /rest/agile/1.0/board/{id}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Board {
    pub id: u64,
    pub name: String,
    /// `scrum`, `kanban` or `simple` (team-managed).
    #[serde(rename = "type")]
    pub board_type: String,
}

/// An element of `GET /rest/api/3/status`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct StatusDef {
    pub id: String,
    pub name: String,
    #[serde(rename = "statusCategory")]
    pub category: StatusCategoryRef,
}

/// An element of the flagged field: `{"value": "Impediment"}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Flag {
    pub value: String,
}

fn read<T: for<'de> Deserialize<'de>>(what: &'static str, value: &Value) -> Result<T, FormatError> {
    T::deserialize(value).map_err(|error| FormatError { what, error })
}

pub fn issue(value: &Value) -> Result<Issue, FormatError> {
    read("issue", value)
}

pub fn history(value: &Value) -> Result<History, FormatError> {
    read("changelog history", value)
}

pub fn sprint(value: &Value) -> Result<Sprint, FormatError> {
    read("sprint", value)
}

pub fn board(value: &Value) -> Result<Board, FormatError> {
    read("board", value)
}

pub fn statuses(value: &Value) -> Result<Vec<StatusDef>, FormatError> {
    read("status list", value)
}

/// A custom field that holds a number (story points); `null` or absent is `None`.
pub fn number_field(fields: &Fields, id: &str) -> Result<Option<f64>, FormatError> {
    optional(fields, id, "story points field")
}

/// The sprint field: a list of sprints, or `null`.
pub fn sprint_field(fields: &Fields, id: &str) -> Result<Vec<Sprint>, FormatError> {
    Ok(optional(fields, id, "sprint field")?.unwrap_or_default())
}

/// The flagged field: a list of `{"value"}` options, or `null`.
pub fn flag_field(fields: &Fields, id: &str) -> Result<Vec<Flag>, FormatError> {
    Ok(optional(fields, id, "flagged field")?.unwrap_or_default())
}

fn optional<T: for<'de> Deserialize<'de>>(
    fields: &Fields,
    id: &str,
    what: &'static str,
) -> Result<Option<T>, FormatError> {
    match fields.custom.get(id) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => read(what, value).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_come_in_two_spellings() {
        let rest = Time::parse("2024-05-01T11:00:00.000+0200").expect("rest");
        let agile = Time::parse("2024-05-01T09:00:00.000Z").expect("agile");
        assert_eq!(rest, agile);
        assert!(Time::parse("2024/05/01 09:00").is_err());
    }

    #[test]
    fn custom_fields_are_read_by_id() {
        let issue = issue(&json!({
            "id": "1", "key": "WEB-1",
            "fields": {
                "summary": "s", "status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}},
                "issuetype": {"name": "Story"}, "created": "2024-05-01T09:00:00.000+0000",
                "updated": "2024-05-01T09:00:00.000+0000",
                "customfield_10016": 3.5, "customfield_10021": [{"value": "Impediment"}],
                "customfield_10020": null
            }
        }))
        .expect("issue");
        assert_eq!(
            number_field(&issue.fields, "customfield_10016").expect("points"),
            Some(3.5)
        );
        assert_eq!(
            number_field(&issue.fields, "customfield_10028").expect("absent"),
            None
        );
        assert_eq!(
            sprint_field(&issue.fields, "customfield_10020").expect("null"),
            []
        );
        assert_eq!(
            flag_field(&issue.fields, "customfield_10021").expect("flag"),
            [Flag {
                value: "Impediment".into()
            }]
        );
        let error = number_field(&issue.fields, "customfield_10021").expect_err("not a number");
        assert!(
            error
                .to_string()
                .starts_with("story points field does not have jira's shape"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_field_names_itself() {
        let error = issue(&json!({"id": "1", "key": "WEB-1", "fields": {"summary": "s"}}))
            .expect_err("no status");
        assert_eq!(
            error.to_string(),
            "issue does not have jira's shape: missing field `status`"
        );
    }
}
