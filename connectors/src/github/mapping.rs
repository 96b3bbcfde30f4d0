//! GitHub records to canonical rows of `pull_requests` and `pr_reviews`.
//!
//! - `pr_id` is `github:{owner}/{repo}#{number}`, a review's id `{pr_id}:{review id}`;
//! - `state` is `merged` when `merged_at` is set, else GitHub's `open` or `closed`;
//! - `first_review_at` is the earliest submitted review by someone other than the
//!   author (authors comment on their own pull requests; that is not review);
//! - the work item is found by the key pattern tried on the title, then the head
//!   branch, then the body, and the place it was found is kept as `link_method`.
//!   A key naming no existing item is still kept: rule PR-002 reports it.

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use super::format::{Pull, Review, Time};
use crate::config::Repo;
use crate::run::{CanonicalRecord, PR_REVIEWS, PULL_REQUESTS, timestamp};

/// Where a pull request's work item key was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkMethod {
    Title,
    Branch,
    Body,
}

impl LinkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMethod::Title => "title",
            LinkMethod::Branch => "branch",
            LinkMethod::Body => "body",
        }
    }
}

/// A pull request's work item key and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub key: String,
    pub method: LinkMethod,
}

/// The first key `pattern` finds in the title, else the branch, else the body.
pub fn link(pattern: &Regex, title: &str, head_ref: &str, body: Option<&str>) -> Option<Link> {
    [
        (Some(title), LinkMethod::Title),
        (Some(head_ref), LinkMethod::Branch),
        (body, LinkMethod::Body),
    ]
    .into_iter()
    .find_map(|(text, method)| {
        let found = pattern.find(text?)?;
        Some(Link {
            key: found.as_str().to_owned(),
            method,
        })
    })
}

/// `merged`, `closed` or `open`.
pub fn state(pull: &Pull) -> &'static str {
    if pull.merged_at.is_some() {
        "merged"
    } else if pull.state == "closed" {
        "closed"
    } else {
        "open"
    }
}

/// The earliest submitted review not written by `author`.
pub fn first_review_at(author: Option<&str>, reviews: &[Review]) -> Option<DateTime<Utc>> {
    reviews
        .iter()
        .filter(|review| {
            let reviewer = review.user.as_ref().map(|user| user.login.as_str());
            author.is_none() || reviewer != author
        })
        .filter_map(|review| review.submitted_at)
        .min()
        .map(|Time(at)| at)
}

pub fn pr_id(repo: &Repo, number: u64) -> String {
    format!("github:{repo}#{number}")
}

/// The pull request's id in GitHub's terms: `owner/repo#number`.
pub fn pull_source_id(repo: &Repo, number: u64) -> String {
    format!("{repo}#{number}")
}

/// A row of `pull_requests`; `reviews` are all of its reviews that could be read.
pub fn pull_request(
    repo: &Repo,
    pull: &Pull,
    reviews: &[Review],
    pattern: &Regex,
) -> CanonicalRecord {
    let author = pull.user.as_ref().map(|user| user.login.as_str());
    let link = link(
        pattern,
        &pull.title,
        &pull.head.ref_name,
        pull.body.as_deref(),
    );
    let mut columns = Map::new();
    let mut set = |column: &str, value: Value| {
        columns.insert(column.to_owned(), value);
    };
    set("pr_id", pr_id(repo, pull.number).into());
    set("repo", repo.to_string().into());
    set("number", pull.number.into());
    set("title", pull.title.clone().into());
    set("head_ref", pull.head.ref_name.clone().into());
    set("author", author.into());
    set("state", state(pull).into());
    set("created_at", time(Some(pull.created_at)));
    set("merged_at", time(pull.merged_at));
    set("closed_at", time(pull.closed_at));
    set(
        "first_review_at",
        first_review_at(author, reviews).map(timestamp).into(),
    );
    set("additions", pull.additions.into());
    set("deletions", pull.deletions.into());
    set(
        "linked_item_key",
        link.as_ref().map(|link| link.key.clone()).into(),
    );
    set(
        "link_method",
        link.as_ref().map(|link| link.method.as_str()).into(),
    );
    CanonicalRecord {
        relation: &PULL_REQUESTS,
        source_record_id: pull_source_id(repo, pull.number),
        columns,
    }
}

/// A row of `pr_reviews` for a review of pull request `number`.
pub fn review(repo: &Repo, number: u64, review: &Review) -> CanonicalRecord {
    let pr_id = pr_id(repo, number);
    let mut columns = Map::new();
    let mut set = |column: &str, value: Value| {
        columns.insert(column.to_owned(), value);
    };
    set("review_id", format!("{pr_id}:{}", review.id).into());
    set("pr_id", pr_id.into());
    set(
        "reviewer",
        review.user.as_ref().map(|user| user.login.clone()).into(),
    );
    set("state", review.state.clone().into());
    set("submitted_at", time(review.submitted_at));
    CanonicalRecord {
        relation: &PR_REVIEWS,
        source_record_id: format!("{}:{}", pull_source_id(repo, number), review.id),
        columns,
    }
}

fn time(at: Option<Time>) -> Value {
    at.map(|Time(at)| timestamp(at)).into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::DEFAULT_PR_KEY_PATTERN;
    use crate::github::format;

    fn pattern() -> Regex {
        Regex::new(DEFAULT_PR_KEY_PATTERN).expect("pattern")
    }

    fn found(key: &str, method: LinkMethod) -> Option<Link> {
        Some(Link {
            key: key.to_owned(),
            method,
        })
    }

    #[test]
    fn link_tries_title_then_branch_then_body() {
        let p = pattern();
        assert_eq!(
            link(&p, "WEB-12 Add login", "WEB-13-x", Some("OPS-1")),
            found("WEB-12", LinkMethod::Title)
        );
        assert_eq!(
            link(&p, "Fix header", "feature/WEB-15-header", Some("OPS-1")),
            found("WEB-15", LinkMethod::Branch)
        );
        assert_eq!(
            link(&p, "Refactor", "refactor/session", Some("Part of API-7.")),
            found("API-7", LinkMethod::Body)
        );
        assert_eq!(link(&p, "Bump tokio", "deps/tokio", None), None);
        // Lowercase is not a key under the default pattern, and a key needs digits.
        assert_eq!(link(&p, "web-12 and WEB- and W-1", "main", Some("")), None);
        let custom = Regex::new(r"#\d+").expect("pattern");
        assert_eq!(
            link(&custom, "Fixes #42", "x", None),
            found("#42", LinkMethod::Title)
        );
    }

    fn review_of(login: Option<&str>, state: &str, submitted_at: Option<&str>) -> format::Review {
        format::review(&json!({
            "id": 1,
            "user": login.map(|login| json!({"login": login})),
            "state": state,
            "submitted_at": submitted_at,
        }))
        .expect("review")
    }

    #[test]
    fn first_review_skips_the_author_and_pending_reviews() {
        let reviews = [
            review_of(Some("alice"), "COMMENTED", Some("2024-05-01T15:00:00Z")),
            review_of(Some("dave"), "PENDING", None),
            review_of(Some("bob"), "APPROVED", Some("2024-05-02T10:00:00Z")),
            review_of(None, "COMMENTED", Some("2024-05-03T10:00:00Z")),
        ];
        assert_eq!(
            first_review_at(Some("alice"), &reviews).map(timestamp),
            Some("2024-05-02T10:00:00Z".to_owned())
        );
        // A deleted reviewer is not the author.
        assert_eq!(
            first_review_at(Some("alice"), &reviews[2..]).map(timestamp),
            Some("2024-05-02T10:00:00Z".to_owned())
        );
        assert_eq!(first_review_at(Some("alice"), &reviews[..2]), None);
        // With the author unknown, every review counts.
        assert_eq!(
            first_review_at(None, &reviews).map(timestamp),
            Some("2024-05-01T15:00:00Z".to_owned())
        );
    }

    #[test]
    fn merged_wins_over_closed() {
        let pull = |state: &str, merged_at: Option<&str>| {
            format::pull(&json!({
                "number": 1, "state": state, "title": "t", "body": null,
                "user": {"login": "a"}, "head": {"ref": "b"},
                "created_at": "2024-05-01T00:00:00Z", "updated_at": "2024-05-02T00:00:00Z",
                "closed_at": null, "merged_at": merged_at,
            }))
            .expect("pull")
        };
        assert_eq!(
            state(&pull("closed", Some("2024-05-02T00:00:00Z"))),
            "merged"
        );
        assert_eq!(state(&pull("closed", None)), "closed");
        assert_eq!(state(&pull("open", None)), "open");
    }

    #[test]
    fn a_review_row_names_its_pull_request() {
        let repo: Repo = "octo/web".parse().expect("repo");
        let review = format::review(&json!({
            "id": 801, "user": {"login": "bob"}, "state": "APPROVED",
            "submitted_at": "2024-05-02T10:00:00Z"
        }))
        .expect("review");
        let record = super::review(&repo, 101, &review);
        assert_eq!(record.relation, &PR_REVIEWS);
        assert_eq!(record.source_record_id, "octo/web#101:801");
        assert_eq!(
            Value::Object(record.columns),
            json!({
                "review_id": "github:octo/web#101:801",
                "pr_id": "github:octo/web#101",
                "reviewer": "bob",
                "state": "APPROVED",
                "submitted_at": "2024-05-02T10:00:00Z",
            })
        );
    }
}
