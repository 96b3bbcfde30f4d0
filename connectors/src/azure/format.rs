//! Azure DevOps' JSON shapes (REST API 7.1), as much of them as the mapping reads: a
//! work item of `workitemsbatch` (its `fields` keyed by reference name), a revision
//! of the revisions API, an iteration of the team settings and the WIQL answer.
//! Unknown fields are ignored; a field the mapping needs that is missing or of the
//! wrong type is a [`FormatError`], which rejects that record only.

use serde::Deserialize;
use serde_json::Value;

pub use crate::jira::format::Time;

/// Why a payload does not have the shape Azure DevOps documents.
#[derive(Debug, thiserror::Error)]
#[error("{what} does not have azure devops' shape: {error}")]
pub struct FormatError {
    pub what: &'static str,
    #[source]
    pub error: serde_json::Error,
}

/// The field that holds story points (the `mappings` row names it).
pub const STORY_POINTS_FIELD: &str = "Microsoft.VSTS.Scheduling.StoryPoints";
/// The field that places an item in a sprint.
pub const ITERATION_FIELD: &str = "System.IterationPath";

/// The reference names a batch asks for.
pub const FIELDS: &[&str] = &[
    "System.Id",
    "System.WorkItemType",
    "System.State",
    "System.Title",
    "System.AssignedTo",
    "System.CreatedDate",
    "System.ChangedDate",
    ITERATION_FIELD,
    "System.Tags",
    "System.Parent",
    STORY_POINTS_FIELD,
    "Microsoft.VSTS.Common.ActivatedDate",
    "Microsoft.VSTS.Common.ResolvedDate",
    "Microsoft.VSTS.Common.ClosedDate",
];

/// An element of a batch's `value`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct WorkItem {
    pub id: u64,
    #[serde(default)]
    pub rev: Option<u64>,
    pub fields: ItemFields,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ItemFields {
    #[serde(rename = "System.WorkItemType")]
    pub work_item_type: String,
    #[serde(rename = "System.State")]
    pub state: String,
    #[serde(rename = "System.Title")]
    pub title: String,
    #[serde(rename = "System.AssignedTo", default)]
    pub assigned_to: Option<Identity>,
    #[serde(rename = "System.CreatedDate")]
    pub created: Time,
    #[serde(rename = "System.ChangedDate")]
    pub changed: Time,
    #[serde(rename = "System.IterationPath", default)]
    pub iteration_path: Option<String>,
    /// `"a; b"`.
    #[serde(rename = "System.Tags", default)]
    pub tags: Option<String>,
    #[serde(rename = "System.Parent", default)]
    pub parent: Option<u64>,
    #[serde(rename = "Microsoft.VSTS.Scheduling.StoryPoints", default)]
    pub story_points: Option<f64>,
    #[serde(rename = "Microsoft.VSTS.Common.ActivatedDate", default)]
    pub activated: Option<Time>,
    #[serde(rename = "Microsoft.VSTS.Common.ResolvedDate", default)]
    pub resolved: Option<Time>,
    #[serde(rename = "Microsoft.VSTS.Common.ClosedDate", default)]
    pub closed: Option<Time>,
}

/// An identity field: `System.AssignedTo`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Identity {
    #[serde(rename = "displayName", default)]
    pub display_name: Option<String>,
    #[serde(rename = "uniqueName", default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

/// An element of the revisions API's `value`: the item's fields as they were after
/// revision `rev`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Revision {
    pub rev: u64,
    pub fields: RevisionFields,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RevisionFields {
    #[serde(rename = "System.State", default)]
    pub state: Option<String>,
    #[serde(rename = "System.ChangedDate")]
    pub changed: Time,
    #[serde(rename = "System.IterationPath", default)]
    pub iteration_path: Option<String>,
    #[serde(rename = "System.Tags", default)]
    pub tags: Option<String>,
}

/// An element of the team iterations' `value`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Iteration {
    pub id: String,
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub attributes: IterationAttributes,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct IterationAttributes {
    #[serde(rename = "startDate", default)]
    pub start_date: Option<Time>,
    #[serde(rename = "finishDate", default)]
    pub finish_date: Option<Time>,
    /// `past`, `current` or `future`.
    #[serde(rename = "timeFrame", default)]
    pub time_frame: Option<String>,
}

/// The WIQL answer: ids only.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WiqlResult {
    #[serde(rename = "workItems")]
    pub work_items: Vec<WiqlItem>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WiqlItem {
    pub id: u64,
}

fn read<T: for<'de> Deserialize<'de>>(what: &'static str, value: &Value) -> Result<T, FormatError> {
    T::deserialize(value).map_err(|error| FormatError { what, error })
}

pub fn work_item(value: &Value) -> Result<WorkItem, FormatError> {
    read("work item", value)
}

pub fn revision(value: &Value) -> Result<Revision, FormatError> {
    read("revision", value)
}

pub fn iteration(value: &Value) -> Result<Iteration, FormatError> {
    read("iteration", value)
}

pub fn wiql(value: &Value) -> Result<WiqlResult, FormatError> {
    read("wiql result", value)
}

/// `"a; b"` → `["a", "b"]`.
pub fn tags(text: Option<&str>) -> Vec<&str> {
    text.unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_are_read_by_reference_name() {
        let item = work_item(&json!({
            "id": 7, "rev": 3,
            "fields": {
                "System.WorkItemType": "Bug", "System.State": "Active", "System.Title": "t",
                "System.CreatedDate": "2024-05-01T09:00:00.13Z",
                "System.ChangedDate": "2024-05-02T09:00:00Z",
                "System.AssignedTo": {"displayName": "Ann", "uniqueName": "ann@x.com"},
                "Microsoft.VSTS.Scheduling.StoryPoints": 2.0
            }
        }))
        .expect("item");
        assert_eq!(item.fields.story_points, Some(2.0));
        assert_eq!(
            item.fields.assigned_to.and_then(|a| a.unique_name),
            Some("ann@x.com".to_owned())
        );
        let error =
            work_item(&json!({"id": 7, "fields": {"System.State": "New"}})).expect_err("no type");
        assert_eq!(
            error.to_string(),
            "work item does not have azure devops' shape: missing field `System.WorkItemType`"
        );
    }

    #[test]
    fn tags_split_on_semicolons() {
        assert_eq!(tags(Some("blocked; ui ;")), ["blocked", "ui"]);
        assert!(tags(None).is_empty());
    }
}
