//! GitHub's JSON shapes, as much of them as the mapping reads (REST API
//! `2022-11-28`): the pull request list entry, the pull request, and the review.
//! Unknown fields are ignored, so GitHub adding fields changes nothing; a field the
//! mapping needs that is missing or of the wrong type is a [`FormatError`], which
//! rejects that record only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Why a payload does not have the shape GitHub documents.
#[derive(Debug, thiserror::Error)]
#[error("{what} does not have github's shape: {error}")]
pub struct FormatError {
    pub what: &'static str,
    #[source]
    pub error: serde_json::Error,
}

/// A time as GitHub writes it (`2024-05-05T11:20:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| Time(at.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))
    }
}

/// An entry of `GET /repos/{o}/{r}/pulls`: enough to page and to decide what to fetch.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PullSummary {
    pub number: u64,
    pub updated_at: Time,
}

/// `GET /repos/{o}/{r}/pulls/{n}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Pull {
    pub number: u64,
    /// `open` or `closed`; a merged pull request is `closed` with `merged_at` set.
    pub state: String,
    pub title: String,
    pub body: Option<String>,
    /// `null` for a deleted account.
    pub user: Option<User>,
    pub head: Head,
    pub created_at: Time,
    pub updated_at: Time,
    pub closed_at: Option<Time>,
    pub merged_at: Option<Time>,
    /// Only on the single pull request, never in the list.
    pub additions: Option<i64>,
    pub deletions: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct User {
    pub login: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Head {
    #[serde(rename = "ref")]
    pub ref_name: String,
}

/// An element of `GET /repos/{o}/{r}/pulls/{n}/reviews`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Review {
    pub id: u64,
    pub user: Option<User>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub state: String,
    /// Absent or `null` while the review is `PENDING`.
    #[serde(default)]
    pub submitted_at: Option<Time>,
}

pub fn pull_summary(entry: &Value) -> Result<PullSummary, FormatError> {
    PullSummary::deserialize(entry).map_err(|error| FormatError {
        what: "pull request list entry",
        error,
    })
}

pub fn pull(payload: &Value) -> Result<Pull, FormatError> {
    Pull::deserialize(payload).map_err(|error| FormatError {
        what: "pull request",
        error,
    })
}

pub fn review(element: &Value) -> Result<Review, FormatError> {
    Review::deserialize(element).map_err(|error| FormatError {
        what: "review",
        error,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> Time {
        Time(
            DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn reads_a_pull_request_and_ignores_other_fields() {
        let payload = json!({
            "id": 1, "node_id": "PR_x", "number": 7, "state": "closed",
            "title": "API-7 Session tokens", "body": null,
            "user": {"login": "carol", "id": 3, "type": "User"},
            "head": {"ref": "API-7-session-tokens", "sha": "abc"},
            "created_at": "2024-04-29T09:00:00Z", "updated_at": "2024-05-04T13:00:00Z",
            "closed_at": "2024-05-04T13:00:00Z", "merged_at": "2024-05-04T13:00:00Z",
            "additions": 120, "deletions": 8, "merged": true
        });
        assert_eq!(
            pull(&payload).expect("pull"),
            Pull {
                number: 7,
                state: "closed".into(),
                title: "API-7 Session tokens".into(),
                body: None,
                user: Some(User {
                    login: "carol".into()
                }),
                head: Head {
                    ref_name: "API-7-session-tokens".into()
                },
                created_at: at("2024-04-29T09:00:00Z"),
                updated_at: at("2024-05-04T13:00:00Z"),
                closed_at: Some(at("2024-05-04T13:00:00Z")),
                merged_at: Some(at("2024-05-04T13:00:00Z")),
                additions: Some(120),
                deletions: Some(8),
            }
        );
    }

    #[test]
    fn a_pending_review_has_no_submitted_at() {
        let review = review(&json!({"id": 9, "user": {"login": "dave"}, "state": "PENDING"}))
            .expect("review");
        assert_eq!(review.submitted_at, None);
    }

    #[test]
    fn wrong_shapes_say_what_and_why() {
        let error = pull(&json!({"number": 1})).expect_err("no state");
        assert_eq!(
            error.to_string(),
            "pull request does not have github's shape: missing field `state`"
        );
        let error =
            pull_summary(&json!({"number": 1, "updated_at": "yesterday"})).expect_err("bad time");
        assert!(
            error.to_string().starts_with(
                "pull request list entry does not have github's shape: invalid time \"yesterday\""
            ),
            "{error}"
        );
    }
}
