//! The GitHub connector end to end: the shared fixture API
//! ([`vigil_fixtures::api`]) serves the recorded-shape payloads of `fixtures/github`
//! the way GitHub does (newest first, `Link` paging, ETags), the connector runs
//! against an [`EmbeddedLog`] in a temp dir, and the canonical topics are read back
//! and compared with rows written out by hand.
//!
//! The server can be scripted per path and page: an error status, extra headers, a
//! broken body, or a change to the data after a page is served.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use common::{log, records, sha256_hex, succeeded};
use serde_json::{Value, json};
use vigil_changelog::{ChangeLog, EmbeddedLog, LogError, LogReader, Message, Offset, Partition};
use vigil_connectors::run::{CURSORS_TOPIC, RunReport, RunStatus};
use vigil_connectors::{GitHubConfig, GitHubConnector, run_once};
use vigil_fixtures::api::{Api, Fault, FixtureApi, Options, Request, Tokens};

const WEB: &str = "octo/web";
const API: &str = "octo/api";
const TOKEN: &str = "test-token-4f2a";

// ---------------------------------------------------------------------------------
// Expected rows, written by hand from the fixtures.

/// A pull request row without tenant and lineage.
#[derive(Clone, Copy)]
struct Pr {
    repo: &'static str,
    number: u64,
    title: &'static str,
    head_ref: &'static str,
    author: &'static str,
    state: &'static str,
    created_at: &'static str,
    merged_at: Option<&'static str>,
    closed_at: Option<&'static str>,
    first_review_at: Option<&'static str>,
    additions: i64,
    deletions: i64,
    link: Option<(&'static str, &'static str)>,
}

const WEB_PRS: [Pr; 6] = [
    // Linked by title although the body names another key; the author's own earlier
    // comment is not the first review.
    Pr {
        repo: WEB,
        number: 101,
        title: "WEB-12 Add login page",
        head_ref: "feature/login",
        author: "alice",
        state: "merged",
        created_at: "2024-05-01T09:00:00Z",
        merged_at: Some("2024-05-05T11:20:00Z"),
        closed_at: Some("2024-05-05T11:20:00Z"),
        first_review_at: Some("2024-05-02T10:00:00Z"),
        additions: 240,
        deletions: 12,
        link: Some(("WEB-12", "title")),
    },
    // Closed without merging; linked by branch although the body names a key.
    Pr {
        repo: WEB,
        number: 102,
        title: "Fix header alignment",
        head_ref: "WEB-15-header-fix",
        author: "bob",
        state: "closed",
        created_at: "2024-05-03T08:00:00Z",
        merged_at: None,
        closed_at: Some("2024-05-06T17:45:00Z"),
        first_review_at: None,
        additions: 5,
        deletions: 3,
        link: Some(("WEB-15", "branch")),
    },
    // Open, unlinked, by a bot.
    Pr {
        repo: WEB,
        number: 103,
        title: "Update dependencies",
        head_ref: "chore/deps",
        author: "dependabot[bot]",
        state: "open",
        created_at: "2024-05-07T06:00:00Z",
        merged_at: None,
        closed_at: None,
        first_review_at: Some("2024-05-07T08:15:00Z"),
        additions: 30,
        deletions: 30,
        link: None,
    },
    // Linked by body; a pending review has no time and does not count.
    Pr {
        repo: WEB,
        number: 104,
        title: "Refactor session store",
        head_ref: "refactor/session",
        author: "carol",
        state: "merged",
        created_at: "2024-05-04T10:00:00Z",
        merged_at: Some("2024-05-08T12:00:00Z"),
        closed_at: Some("2024-05-08T12:00:00Z"),
        first_review_at: Some("2024-05-06T09:30:00Z"),
        additions: 410,
        deletions: 380,
        link: Some(("API-7", "body")),
    },
    // Names a key no work item has (rule PR-002's case); null body.
    Pr {
        repo: WEB,
        number: 105,
        title: "ZZZ-999 Experimental flag",
        head_ref: "exp/flag",
        author: "dave",
        state: "open",
        created_at: "2024-05-09T16:00:00Z",
        merged_at: None,
        closed_at: None,
        first_review_at: None,
        additions: 18,
        deletions: 0,
        link: Some(("ZZZ-999", "title")),
    },
    // Merged and linked to nothing (rule PR-001's case).
    Pr {
        repo: WEB,
        number: 106,
        title: "docs: fix readme typo",
        head_ref: "docs/readme",
        author: "erin",
        state: "merged",
        created_at: "2024-05-10T08:00:00Z",
        merged_at: Some("2024-05-10T09:00:00Z"),
        closed_at: Some("2024-05-10T09:00:00Z"),
        first_review_at: Some("2024-05-10T08:30:00Z"),
        additions: 1,
        deletions: 1,
        link: None,
    },
];

const API_PRS: [Pr; 4] = [
    // Title wins over a branch that names the same key; the author reviewed first.
    Pr {
        repo: API,
        number: 7,
        title: "API-7 Session tokens",
        head_ref: "API-7-session-tokens",
        author: "carol",
        state: "merged",
        created_at: "2024-04-29T09:00:00Z",
        merged_at: Some("2024-05-04T13:00:00Z"),
        closed_at: Some("2024-05-04T13:00:00Z"),
        first_review_at: Some("2024-05-03T16:20:00Z"),
        additions: 120,
        deletions: 8,
        link: Some(("API-7", "title")),
    },
    Pr {
        repo: API,
        number: 8,
        title: "Rate limit middleware",
        head_ref: "feature/API-9-rate-limit",
        author: "alice",
        state: "open",
        created_at: "2024-05-06T10:00:00Z",
        merged_at: None,
        closed_at: None,
        first_review_at: Some("2024-05-07T14:00:00Z"),
        additions: 95,
        deletions: 4,
        link: Some(("API-9", "branch")),
    },
    Pr {
        repo: API,
        number: 9,
        title: "Bump tokio",
        head_ref: "deps/tokio",
        author: "dependabot[bot]",
        state: "closed",
        created_at: "2024-05-08T07:00:00Z",
        merged_at: None,
        closed_at: Some("2024-05-08T09:00:00Z"),
        first_review_at: None,
        additions: 2,
        deletions: 2,
        link: None,
    },
    Pr {
        repo: API,
        number: 10,
        title: "Document the token API",
        head_ref: "docs/tokens",
        author: "bob",
        state: "merged",
        created_at: "2024-05-09T08:00:00Z",
        merged_at: Some("2024-05-09T10:00:00Z"),
        closed_at: Some("2024-05-09T10:00:00Z"),
        first_review_at: None,
        additions: 60,
        deletions: 0,
        link: Some(("WEB-20", "body")),
    },
];

/// A review row without tenant and lineage.
#[derive(Clone, Copy)]
struct Rv {
    repo: &'static str,
    number: u64,
    id: u64,
    reviewer: &'static str,
    state: &'static str,
    submitted_at: Option<&'static str>,
}

const WEB_REVIEWS: [Rv; 7] = [
    Rv {
        repo: WEB,
        number: 101,
        id: 801,
        reviewer: "alice",
        state: "COMMENTED",
        submitted_at: Some("2024-05-01T15:00:00Z"),
    },
    Rv {
        repo: WEB,
        number: 101,
        id: 802,
        reviewer: "bob",
        state: "APPROVED",
        submitted_at: Some("2024-05-02T10:00:00Z"),
    },
    Rv {
        repo: WEB,
        number: 103,
        id: 803,
        reviewer: "carol",
        state: "COMMENTED",
        submitted_at: Some("2024-05-07T08:15:00Z"),
    },
    Rv {
        repo: WEB,
        number: 104,
        id: 804,
        reviewer: "alice",
        state: "CHANGES_REQUESTED",
        submitted_at: Some("2024-05-06T09:30:00Z"),
    },
    Rv {
        repo: WEB,
        number: 104,
        id: 805,
        reviewer: "alice",
        state: "APPROVED",
        submitted_at: Some("2024-05-08T11:00:00Z"),
    },
    Rv {
        repo: WEB,
        number: 104,
        id: 806,
        reviewer: "dave",
        state: "PENDING",
        submitted_at: None,
    },
    Rv {
        repo: WEB,
        number: 106,
        id: 807,
        reviewer: "bob",
        state: "APPROVED",
        submitted_at: Some("2024-05-10T08:30:00Z"),
    },
];

const API_REVIEWS: [Rv; 3] = [
    Rv {
        repo: API,
        number: 7,
        id: 901,
        reviewer: "carol",
        state: "COMMENTED",
        submitted_at: Some("2024-04-29T12:00:00Z"),
    },
    Rv {
        repo: API,
        number: 7,
        id: 902,
        reviewer: "bob",
        state: "APPROVED",
        submitted_at: Some("2024-05-03T16:20:00Z"),
    },
    Rv {
        repo: API,
        number: 8,
        id: 903,
        reviewer: "carol",
        state: "COMMENTED",
        submitted_at: Some("2024-05-07T14:00:00Z"),
    },
];

fn pr_key(repo: &str, number: u64) -> String {
    json!({"pr_id": format!("github:{repo}#{number}"), "tenant_id": "acme"}).to_string()
}

/// The full row of `pr`, as published by run `run_id` from a detail payload hashing
/// to `sha`.
fn pr_row(pr: &Pr, run_id: &str, sha: &str) -> Value {
    json!({
        "tenant_id": "acme",
        "pr_id": format!("github:{}#{}", pr.repo, pr.number),
        "repo": pr.repo,
        "number": pr.number,
        "title": pr.title,
        "head_ref": pr.head_ref,
        "author": pr.author,
        "state": pr.state,
        "created_at": pr.created_at,
        "merged_at": pr.merged_at,
        "closed_at": pr.closed_at,
        "first_review_at": pr.first_review_at,
        "additions": pr.additions,
        "deletions": pr.deletions,
        "linked_item_key": pr.link.map(|(key, _)| key),
        "link_method": pr.link.map(|(_, method)| method),
        "source_system": "github",
        "source_record_id": format!("{}#{}", pr.repo, pr.number),
        "ingest_batch_id": run_id,
        "payload_sha256": sha,
        "mapping_version": 1,
    })
}

fn review_row(review: &Rv, run_id: &str, sha: &str) -> Value {
    let pr_id = format!("github:{}#{}", review.repo, review.number);
    json!({
        "tenant_id": "acme",
        "review_id": format!("{pr_id}:{}", review.id),
        "pr_id": pr_id,
        "reviewer": review.reviewer,
        "state": review.state,
        "submitted_at": review.submitted_at,
        "source_system": "github",
        "source_record_id": format!("{}#{}:{}", review.repo, review.number, review.id),
        "ingest_batch_id": run_id,
        "payload_sha256": sha,
        "mapping_version": 1,
    })
}

// ---------------------------------------------------------------------------------
// The fixture API playing GitHub.

/// A request as the server saw it.
type Seen = Request;

/// The shared fixture API, seen from GitHub's side.
struct Server {
    api: FixtureApi,
}

impl Server {
    async fn start(etags: bool) -> Server {
        let options = Options {
            tokens: Tokens {
                github: TOKEN.to_owned(),
                ..Tokens::default()
            },
            github_etags: etags,
        };
        let api = FixtureApi::start_with(options).await.expect("fixture api");
        Server { api }
    }

    fn url(&self) -> String {
        self.api.base_url(Api::GitHub)
    }

    /// One-shot replies by request key (list pages: `path?page=N`).
    fn script(&self, key: &str, reply: Fault) {
        self.api.fault(Api::GitHub, key, reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.api.requests()
    }

    fn forget_seen(&self) {
        self.api.forget_requests();
    }

    /// The body currently served at `path`.
    fn file(&self, path: &str) -> Bytes {
        self.api
            .current(&format!("github{path}.json"))
            .unwrap_or_else(|| panic!("no fixture at {path}"))
    }

    fn sha(&self, path: &str) -> String {
        sha256_hex(&self.file(path))
    }
}

// ---------------------------------------------------------------------------------
// The connector, the log, and reading topics back.

fn connector(server: &Server) -> GitHubConnector {
    let text = format!(
        r#"
        tenant_id = "acme"
        base_url = "{}"
        token = "{TOKEN}"
        repositories = ["octo/web", "octo/api"]
        per_page = 3

        [http]
        timeout = "5s"
        max_attempts = 4
        backoff_initial = "10ms"
        backoff_max = "50ms"
        max_rate_limit_wait = "10s"
        "#,
        server.url()
    );
    let config = GitHubConfig::parse("test", &text, |_| None).expect("config");
    GitHubConnector::new(config).expect("connector")
}

/// The latest JSON value per key; also checks no key appears twice.
fn latest(log: &dyn ChangeLog, topic: &str) -> BTreeMap<String, Value> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = BTreeMap::new();
    for (key, value) in records(log, topic) {
        *counts.entry(key.clone()).or_default() += 1;
        match value {
            Some(value) => rows.insert(key, serde_json::from_str(&value).expect("json")),
            None => rows.remove(&key),
        };
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "{topic} holds keys more than once: {repeated:?}"
    );
    rows
}

/// The expected `eng.pull_requests` rows of `prs`, each published by the run given
/// by `run_of`, hashed from the detail the server serves now.
fn expected_prs(
    server: &Server,
    prs: &[Pr],
    run_of: impl Fn(&Pr) -> String,
) -> BTreeMap<String, Value> {
    prs.iter()
        .map(|pr| {
            let sha = server.sha(&format!("/repos/{}/pulls/{}", pr.repo, pr.number));
            (pr_key(pr.repo, pr.number), pr_row(pr, &run_of(pr), &sha))
        })
        .collect()
}

fn expected_reviews(
    server: &Server,
    reviews: &[Rv],
    run_of: impl Fn(&Rv) -> String,
) -> BTreeMap<String, Value> {
    reviews
        .iter()
        .map(|review| {
            let sha = server.sha(&format!(
                "/repos/{}/pulls/{}/reviews",
                review.repo, review.number
            ));
            let row = review_row(review, &run_of(review), &sha);
            let key = json!({"review_id": row["review_id"], "tenant_id": "acme"}).to_string();
            (key, row)
        })
        .collect()
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The run's final `eng.connector_runs` row.
fn run_row(report: &RunReport, status: &str, error: Option<&str>, cursor: Option<&str>) -> Value {
    json!({
        "tenant_id": "acme",
        "run_id": report.run_id,
        "connector": "github",
        "scope_id": report.scope,
        "mapping_version": 1,
        "started_at": time(report.started_at),
        "finished_at": time(report.finished_at),
        "status": status,
        "fetched": report.fetched,
        "published": report.published,
        "rejected": report.rejected,
        "error": error,
        "cursor": cursor.map(|at| json!({"updated_at": at}).to_string()),
    })
}

fn runs_row(log: &dyn ChangeLog, report: &RunReport) -> Value {
    let key = json!({"run_id": report.run_id, "tenant_id": "acme"}).to_string();
    latest(log, "eng.connector_runs")
        .remove(&key)
        .unwrap_or_else(|| panic!("no connector_runs row for {}", report.run_id))
}

/// Compares rows key by key, so a failure names the row that differs.
fn assert_rows(actual: BTreeMap<String, Value>, expected: BTreeMap<String, Value>) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the keys differ"
    );
    for (key, row) in &expected {
        assert_eq!(&actual[key], row, "row {key}");
    }
}

fn cursor_of(log: &dyn ChangeLog, scope: &str) -> Option<Value> {
    latest(log, CURSORS_TOPIC).remove(&format!("github:acme:{scope}"))
}

fn count(seen: &[Seen], key: &str) -> usize {
    seen.iter().filter(|s| s.key == key).count()
}

fn select(rows: &BTreeMap<String, Value>, repo: &str) -> BTreeMap<String, Value> {
    rows.iter()
        .filter(|(_, row)| {
            row["pr_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(&format!("github:{repo}#")))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn publishes_pull_requests_and_reviews_of_two_repositories() {
    let server = Server::start(false).await;
    let github = connector(&server);
    let log = log();
    assert_eq!(github.scopes(), [WEB, API]);

    let web = run_once(&github, WEB, &log.log).await;
    succeeded(&web);
    let api = run_once(&github, API, &log.log).await;
    succeeded(&api);

    let run_of = |repo: &str| {
        if repo == WEB {
            web.run_id.clone()
        } else {
            api.run_id.clone()
        }
    };
    let mut prs = expected_prs(&server, &WEB_PRS, |pr| run_of(pr.repo));
    prs.extend(expected_prs(&server, &API_PRS, |pr| run_of(pr.repo)));
    assert_rows(latest(&log.log, "eng.pull_requests"), prs);
    let mut reviews = expected_reviews(&server, &WEB_REVIEWS, |r| run_of(r.repo));
    reviews.extend(expected_reviews(&server, &API_REVIEWS, |r| run_of(r.repo)));
    assert_rows(latest(&log.log, "eng.pr_reviews"), reviews);

    // Two raw payloads per pull request; every row published once.
    assert_eq!((web.fetched, web.published, web.rejected), (12, 13, 0));
    assert_eq!((api.fetched, api.published, api.rejected), (8, 7, 0));
    assert_eq!(web.cursor_before, None);
    assert_eq!(web.since, None);
    assert_eq!(
        runs_row(&log.log, &web),
        run_row(&web, "succeeded", None, Some("2024-05-10T09:00:00Z"))
    );
    assert_eq!(
        runs_row(&log.log, &api),
        run_row(&api, "succeeded", None, Some("2024-05-09T10:00:00Z"))
    );
    assert_eq!(
        cursor_of(&log.log, WEB),
        Some(json!({"updated_at": "2024-05-10T09:00:00Z"}))
    );
    assert_eq!(
        cursor_of(&log.log, API),
        Some(json!({"updated_at": "2024-05-09T10:00:00Z"}))
    );

    // The raw topic holds the payloads byte for byte, before any mapping.
    let raw: BTreeMap<String, String> = records(&log.log, "raw.github")
        .into_iter()
        .map(|(key, value)| (key, value.expect("not a tombstone")))
        .collect();
    assert_eq!(raw.len(), 20);
    let detail = server.file("/repos/octo/web/pulls/104");
    let kept = &raw["octo/web#104"];
    assert!(
        kept.contains(std::str::from_utf8(&detail).unwrap()),
        "{kept}"
    );
    let kept: Value = serde_json::from_str(kept).unwrap();
    assert_eq!(kept["scope"], "octo/web");
    assert_eq!(kept["sha256"], sha256_hex(&detail));
    assert_eq!(
        kept["payload"],
        serde_json::from_slice::<Value>(&detail).unwrap()
    );
    assert!(kept["fetched_at"].as_str().unwrap().ends_with('Z'));
    let reviews_kept: Value = serde_json::from_str(&raw["octo/web#104:reviews"]).unwrap();
    assert_eq!(
        reviews_kept["payload"],
        serde_json::from_slice::<Value>(&server.file("/repos/octo/web/pulls/104/reviews")).unwrap()
    );

    // Both list pages of both repositories, each detail and review list once, all
    // with the token.
    let seen = server.seen();
    for repo in [WEB, API] {
        assert_eq!(count(&seen, &format!("/repos/{repo}/pulls?page=1")), 1);
        assert_eq!(count(&seen, &format!("/repos/{repo}/pulls?page=2")), 1);
        assert_eq!(count(&seen, &format!("/repos/{repo}/pulls?page=3")), 0);
    }
    assert_eq!(count(&seen, "/repos/octo/web/pulls/101"), 1);
    assert_eq!(count(&seen, "/repos/octo/api/pulls/7/reviews"), 1);
    assert_eq!(seen.len(), 14 + 10);
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(bearer.as_str()))
    );
    assert_eq!((web.http.attempts, web.http.retries), (14, 0));
    assert_eq!(web.http.rate_limit_waits, 0);
}

#[tokio::test]
async fn a_second_run_starts_at_the_cursor_minus_the_overlap() {
    let server = Server::start(false).await;
    let github = connector(&server);
    let log = log();
    let first = run_once(&github, WEB, &log.log).await;
    succeeded(&first);
    server.forget_seen();

    let second = run_once(&github, WEB, &log.log).await;
    succeeded(&second);
    let cursor = "2024-05-10T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
    assert_eq!(second.cursor_before.map(|c| c.updated_at), Some(cursor));
    assert_eq!(second.since, Some(cursor - chrono::TimeDelta::minutes(5)));
    // Only #106 falls inside the margin; #105 (a day older) ends the paging.
    let seen: Vec<String> = server.seen().into_iter().map(|s| s.key).collect();
    assert_eq!(
        seen,
        [
            "/repos/octo/web/pulls?page=1",
            "/repos/octo/web/pulls/106",
            "/repos/octo/web/pulls/106/reviews",
        ]
    );
    assert_eq!((second.fetched, second.published), (2, 2));
    let expected = expected_prs(&server, &WEB_PRS, |pr| {
        if pr.number == 106 {
            second.run_id.clone()
        } else {
            first.run_id.clone()
        }
    });
    assert_rows(latest(&log.log, "eng.pull_requests"), expected);
    assert_eq!(second.cursor, first.cursor);
}

#[tokio::test]
async fn waits_out_a_429_with_retry_after() {
    let server = Server::start(false).await;
    server.script(
        "/repos/octo/api/pulls/9",
        Fault::Status(429, vec![("retry-after", "1".to_owned())]),
    );
    let github = connector(&server);
    let log = log();
    let report = run_once(&github, API, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.rate_limit_waits, 1);
    assert_eq!(report.http.rate_limit_wait, Duration::from_secs(1));
    assert_eq!(report.http.retries, 1);
    let tries: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.key == "/repos/octo/api/pulls/9")
        .collect();
    assert_eq!(
        tries.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = tries[1].instant - tries[0].instant;
    assert!(waited >= Duration::from_millis(990), "waited {waited:?}");
    assert_rows(
        latest(&log.log, "eng.pull_requests"),
        expected_prs(&server, &API_PRS, |_| report.run_id.clone()),
    );
}

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let server = Server::start(false).await;
    server.script(
        "/repos/octo/api/pulls?page=1",
        Fault::Status(503, Vec::new()),
    );
    server.script(
        "/repos/octo/api/pulls/8/reviews",
        Fault::Status(502, Vec::new()),
    );
    let github = connector(&server);
    let log = log();
    let report = run_once(&github, API, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.retries, 2);
    assert_eq!(report.http.rate_limit_waits, 0);
    let seen = server.seen();
    let statuses = |key: &str| {
        seen.iter()
            .filter(|s| s.key == key)
            .map(|s| s.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses("/repos/octo/api/pulls?page=1"), [503, 200]);
    assert_eq!(statuses("/repos/octo/api/pulls/8/reviews"), [502, 200]);
    assert_rows(
        latest(&log.log, "eng.pull_requests"),
        expected_prs(&server, &API_PRS, |_| report.run_id.clone()),
    );
    assert_rows(
        latest(&log.log, "eng.pr_reviews"),
        expected_reviews(&server, &API_REVIEWS, |_| report.run_id.clone()),
    );
}

#[tokio::test]
async fn a_spent_rate_limit_window_waits_for_its_reset() {
    let server = Server::start(false).await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The next whole second after the next: between one and two seconds ahead.
    let reset = now + 2;
    server.script(
        "/repos/octo/api/pulls?page=1",
        Fault::Headers(vec![
            ("x-ratelimit-limit", "5000".to_owned()),
            ("x-ratelimit-remaining", "0".to_owned()),
            ("x-ratelimit-reset", reset.to_string()),
        ]),
    );
    let github = connector(&server);
    let log = log();
    let report = run_once(&github, API, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.rate_limit_waits, 1);
    assert!(
        report.http.rate_limit_wait >= Duration::from_millis(900),
        "{:?}",
        report.http.rate_limit_wait
    );
    let seen = server.seen();
    assert_eq!(seen[0].key, "/repos/octo/api/pulls?page=1");
    // Nothing went out before the reset.
    let reset_at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    assert!(
        seen[1].at >= reset_at,
        "{:?} before {:?}",
        seen[1].at,
        reset_at
    );
    assert_eq!(report.http.retries, 0);
    assert_rows(
        latest(&log.log, "eng.pull_requests"),
        expected_prs(&server, &API_PRS, |_| report.run_id.clone()),
    );
}

#[tokio::test]
async fn malformed_json_fails_the_run_and_the_next_run_publishes_the_rest() {
    let server = Server::start(false).await;
    server.script(
        "/repos/octo/web/pulls?page=2",
        Fault::Body(r#"[{"number": 103, "updated_at": "2024-05-07T08:15:00Z""#.to_owned()),
    );
    let github = connector(&server);
    let log = log();

    let failed = run_once(&github, WEB, &log.log).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_ref().expect("an error").to_string();
    assert_eq!(
        error,
        "malformed json from /github/repos/octo/web/pulls: EOF while parsing an object at line 1 column 53"
    );
    // Page 1 (#106, #105, #104 and the four reviews of #106 and #104) stays published.
    assert_eq!((failed.fetched, failed.published), (6, 7));
    assert_eq!(
        runs_row(&log.log, &failed),
        run_row(&failed, "failed", Some(&error), None)
    );
    assert_eq!(failed.cursor, None);
    assert_eq!(cursor_of(&log.log, WEB), None);
    let page_one: Vec<Pr> = WEB_PRS
        .iter()
        .copied()
        .filter(|pr| pr.number >= 104)
        .collect();
    assert_rows(
        latest(&log.log, "eng.pull_requests"),
        expected_prs(&server, &page_one, |_| failed.run_id.clone()),
    );

    // The server is fixed; the next run starts from the old (absent) cursor.
    let fixed = run_once(&github, WEB, &log.log).await;
    succeeded(&fixed);
    assert_eq!(fixed.since, None);
    assert_eq!((fixed.fetched, fixed.published), (12, 13));
    let prs = latest(&log.log, "eng.pull_requests");
    let reviews = latest(&log.log, "eng.pr_reviews");
    assert_eq!(
        prs,
        expected_prs(&server, &WEB_PRS, |_| fixed.run_id.clone())
    );
    assert_eq!(
        reviews,
        expected_reviews(&server, &WEB_REVIEWS, |_| fixed.run_id.clone())
    );
    assert_eq!(
        u64::try_from(prs.len() + reviews.len()).unwrap(),
        fixed.published
    );
    assert_eq!(
        cursor_of(&log.log, WEB),
        Some(json!({"updated_at": "2024-05-10T09:00:00Z"}))
    );
    // The failed run's row keeps saying why.
    assert_eq!(runs_row(&log.log, &failed)["status"], "failed");
    assert_eq!(runs_row(&log.log, &fixed)["status"], "succeeded");
}

#[tokio::test]
async fn a_pull_request_moving_up_while_paging_is_caught_by_the_next_run() {
    let server = Server::start(false).await;
    // Right after page 1 is served, #102 (on page 2) is retitled, which moves it to
    // the top: page 2 then repeats #104 and no longer holds #102.
    let updated = "2024-05-11T10:00:00Z";
    let title = "WEB-15 Fix header alignment";
    server.api.edit_after(
        Api::GitHub,
        "/repos/octo/web/pulls?page=1",
        "github/repos/octo/web/pulls.json",
        move |list: &mut Value| {
            for entry in list.as_array_mut().unwrap() {
                if entry["number"] == 102 {
                    entry["updated_at"] = updated.into();
                    entry["title"] = title.into();
                }
            }
        },
    );
    server.api.edit_after(
        Api::GitHub,
        "/repos/octo/web/pulls?page=1",
        "github/repos/octo/web/pulls/102.json",
        move |detail: &mut Value| {
            detail["updated_at"] = updated.into();
            detail["title"] = title.into();
        },
    );
    let github = connector(&server);
    let log = log();

    let first = run_once(&github, WEB, &log.log).await;
    succeeded(&first);
    let seen = server.seen();
    assert_eq!(
        count(&seen, "/repos/octo/web/pulls/104"),
        1,
        "fetched once per run"
    );
    assert_eq!(count(&seen, "/repos/octo/web/pulls/102"), 0);
    let prs = latest(&log.log, "eng.pull_requests");
    assert!(!prs.contains_key(&pr_key(WEB, 102)));
    assert_eq!(prs.len(), 5);

    let second = run_once(&github, WEB, &log.log).await;
    succeeded(&second);
    let moved = Pr {
        title: "WEB-15 Fix header alignment",
        link: Some(("WEB-15", "title")),
        ..WEB_PRS[1]
    };
    let mut final_prs: Vec<Pr> = WEB_PRS.to_vec();
    final_prs[1] = moved;
    let expected = expected_prs(&server, &final_prs, |pr| {
        if matches!(pr.number, 102 | 106) {
            second.run_id.clone()
        } else {
            first.run_id.clone()
        }
    });
    assert_rows(latest(&log.log, "eng.pull_requests"), expected);
    assert_eq!(latest(&log.log, "eng.pr_reviews").len(), WEB_REVIEWS.len());
    assert_eq!(
        cursor_of(&log.log, WEB),
        Some(json!({"updated_at": "2024-05-11T10:00:00Z"}))
    );
}

#[tokio::test]
async fn a_second_run_revalidates_with_etags_and_gets_304s() {
    let server = Server::start(true).await;
    let github = connector(&server);
    let log = log();
    let first = run_once(&github, API, &log.log).await;
    succeeded(&first);
    assert_eq!(first.http.not_modified, 0);
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.if_none_match.is_none() && s.status == 200)
    );
    server.forget_seen();

    let second = run_once(&github, API, &log.log).await;
    succeeded(&second);
    let seen = server.seen();
    let keys: Vec<&str> = seen.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/repos/octo/api/pulls?page=1",
            "/repos/octo/api/pulls/10",
            "/repos/octo/api/pulls/10/reviews",
        ]
    );
    assert!(
        seen.iter()
            .all(|s| s.status == 304 && s.if_none_match.is_some())
    );
    assert_eq!(second.http.not_modified, 3);
    assert_eq!((second.fetched, second.published), (2, 1));
    // The remembered bodies map to the same rows.
    let expected = expected_prs(&server, &API_PRS, |pr| {
        if pr.number == 10 {
            second.run_id.clone()
        } else {
            first.run_id.clone()
        }
    });
    assert_rows(latest(&log.log, "eng.pull_requests"), expected);
}

#[tokio::test]
async fn a_record_that_cannot_be_mapped_is_rejected_and_kept() {
    let server = Server::start(false).await;
    let path = "/repos/octo/api/pulls/9";
    let mut broken: Value = serde_json::from_slice(&server.file(path)).unwrap();
    broken.as_object_mut().unwrap().remove("head");
    let broken = serde_json::to_string(&broken).unwrap();
    server.script(path, Fault::Body(broken.clone()));
    let github = connector(&server);
    let log = log();
    let report = run_once(&github, API, &log.log).await;
    succeeded(&report);
    assert_eq!(
        (report.fetched, report.published, report.rejected),
        (8, 6, 1)
    );
    let others: Vec<Pr> = API_PRS
        .iter()
        .copied()
        .filter(|pr| pr.number != 9)
        .collect();
    assert_rows(
        latest(&log.log, "eng.pull_requests"),
        expected_prs(&server, &others, |_| report.run_id.clone()),
    );
    let raw = records(&log.log, "raw.github");
    let (_, kept) = raw
        .iter()
        .find(|(key, _)| key == "octo/api#9")
        .expect("kept raw");
    let kept: Value = serde_json::from_str(kept.as_deref().unwrap()).unwrap();
    assert_eq!(
        kept["payload"],
        serde_json::from_str::<Value>(&broken).unwrap()
    );
    assert_eq!(runs_row(&log.log, &report)["rejected"], 1);
    assert_eq!(select(&latest(&log.log, "eng.pull_requests"), API).len(), 3);
}

/// A change log that remembers every message published to `eng.connector_runs`, to
/// see the run's first row, which compaction replaces.
struct Recording {
    inner: EmbeddedLog,
    runs: Mutex<Vec<Value>>,
}

impl ChangeLog for Recording {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn ensure_topic(
        &self,
        topic: &str,
        spec: &vigil_changelog::TopicSpec,
    ) -> Result<u32, LogError> {
        self.inner.ensure_topic(topic, spec)
    }

    fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        self.inner.partitions(topic)
    }

    fn publish(
        &self,
        topic: &str,
        messages: &[Message<'_>],
    ) -> Result<Vec<(Partition, Offset)>, LogError> {
        if topic == "eng.connector_runs" {
            let mut runs = self.runs.lock().unwrap();
            for message in messages {
                runs.push(serde_json::from_slice(message.value.unwrap()).unwrap());
            }
        }
        self.inner.publish(topic, messages)
    }

    fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>, LogError> {
        self.inner.end_offsets(topic)
    }

    fn reader(
        &self,
        topic: &str,
        start: &[(Partition, Offset)],
    ) -> Result<Box<dyn LogReader>, LogError> {
        self.inner.reader(topic, start)
    }
}

/// Collects log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_run_is_recorded_at_start_and_end_and_logs_no_token() {
    let server = Server::start(false).await;
    server.script("/repos/octo/api/pulls/7", Fault::Status(500, Vec::new()));
    let github = connector(&server);
    let dir = tempfile::tempdir().unwrap();
    let log = Recording {
        inner: EmbeddedLog::open(&dir.path().join("log")).unwrap(),
        runs: Mutex::new(Vec::new()),
    };
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let report = {
        let _guard = tracing::subscriber::set_default(subscriber);
        run_once(&github, API, &log).await
    };
    succeeded(&report);

    let runs = log.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0],
        json!({
            "tenant_id": "acme",
            "run_id": report.run_id,
            "connector": "github",
            "scope_id": "octo/api",
            "mapping_version": 1,
            "started_at": time(report.started_at),
            "finished_at": null,
            "status": "running",
            "fetched": 0,
            "published": 0,
            "rejected": 0,
            "error": null,
            "cursor": null,
        })
    );
    assert_eq!(
        runs[1],
        run_row(&report, "succeeded", None, Some("2024-05-09T10:00:00Z"))
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/repos/octo/api/pulls/7"), "{logs}");
    assert!(logs.contains("answered 500"), "{logs}");
    assert!(logs.contains("127.0.0.1"), "{logs}");
    assert!(
        !logs.contains(TOKEN),
        "the token leaked into the logs:\n{logs}"
    );
    assert!(
        !logs.contains("per_page=3"),
        "queries stay out of the logs:\n{logs}"
    );
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_run_without_retrying() {
    let server = Server::start(false).await;
    server.script(
        "/repos/octo/api/pulls?page=1",
        Fault::Status(403, vec![("x-ratelimit-remaining", "4999".to_owned())]),
    );
    let github = connector(&server);
    let log = log();
    let report = run_once(&github, API, &log.log).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.as_ref().unwrap().to_string();
    assert_eq!(
        error,
        "GET /github/repos/octo/api/pulls on 127.0.0.1 answered 403 (after 1 attempt)"
    );
    assert_eq!(server.seen().len(), 1);
    assert_eq!(
        runs_row(&log.log, &report),
        run_row(&report, "failed", Some(&error), None)
    );
}
