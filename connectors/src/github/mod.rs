//! The GitHub connector: pull requests and their reviews, per repository.
//!
//! ```text
//!  GET /repos/{o}/{r}/pulls?state=all&sort=updated&direction=desc   (Link-paged, newest first)
//!    └─ per pull request updated since the cursor − overlap:
//!         GET /repos/{o}/{r}/pulls/{n}            ──keep_raw "{o}/{r}#{n}"──────────┐
//!         GET /repos/{o}/{r}/pulls/{n}/reviews    ──keep_raw "{o}/{r}#{n}:reviews"──┤
//!                                                                                  ▼
//!                           format (GitHub's JSON) ─▶ mapping ─▶ eng.pull_requests, eng.pr_reviews
//! ```
//!
//! The list has no `since`, so paging stops at the first pull request updated before
//! the cursor minus the overlap. The list entry's `updated_at` (not the detail's) is
//! what advances the cursor: it was read in list order, so a pull request updated
//! while the list was paged has a later time than the cursor and is fetched by the
//! next run. A pull request seen twice in one run (pushed down a page by one that
//! moved to the top) is fetched once.
//!
//! The detail is fetched because only it has `additions` and `deletions`; the raw
//! topic keeps it (not the list entry, which it contains) and the reviews array, the
//! two payloads a pull request's rows are mapped from. Conditional requests make a
//! repeated fetch of an unchanged detail or review list a free `304`.
//!
//! [`transport`] knows the endpoints, [`format`] the JSON shapes, [`mapping`] the
//! canonical rows.

pub mod format;
pub mod mapping;
pub mod transport;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{GitHubConfig, Repo};
use crate::http::{HttpClient, HttpError};
use crate::run::{
    Connector, Mapping, PR_REVIEWS, PULL_REQUESTS, Relation, Run, RunError, RunSettings, sha256_hex,
};

/// Reviews per page: GitHub's largest.
const REVIEWS_PER_PAGE: u32 = 100;

const RELATIONS: &[&Relation] = &[&PULL_REQUESTS, &PR_REVIEWS];

/// Pulls the pull requests of GitHub repositories; a scope is one `owner/name`.
#[derive(Debug)]
pub struct GitHubConnector {
    config: GitHubConfig,
    settings: RunSettings,
    http: HttpClient,
}

impl GitHubConnector {
    pub fn new(config: GitHubConfig) -> Result<GitHubConnector, HttpError> {
        let http = transport::client(&config)?;
        let settings = config.common.run_settings();
        Ok(GitHubConnector {
            config,
            settings,
            http,
        })
    }

    pub fn config(&self) -> &GitHubConfig {
        &self.config
    }

    /// The configured repositories, as scopes for [`crate::run::run_once`].
    pub fn scopes(&self) -> Vec<String> {
        self.config
            .repositories
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Fetches pull request `number` and its reviews, keeps both payloads, and
    /// publishes the rows mapped from them. A review that cannot be read is rejected
    /// alone; a pull request that cannot be read is rejected with its reviews.
    async fn fetch_pull(
        &self,
        repo: &Repo,
        number: u64,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let detail = transport::pull(&self.http, repo, number, run.http()).await?;
        let (reviews_body, review_values) =
            transport::reviews(&self.http, repo, number, REVIEWS_PER_PAGE, run.http()).await?;
        let source_id = mapping::pull_source_id(repo, number);
        let pull_raw = run.keep_raw(&source_id, &detail.fetched.body)?;
        let reviews_raw = run.keep_raw(&format!("{source_id}:reviews"), &reviews_body)?;
        let pull = match format::pull(&detail.json) {
            Ok(pull) => pull,
            Err(error) => {
                run.reject(&pull_raw, error);
                return Ok(());
            }
        };
        let mut reviews = Vec::with_capacity(review_values.len());
        for value in &review_values {
            match format::review(value) {
                Ok(review) => reviews.push(review),
                Err(error) => run.reject(&reviews_raw, error),
            }
        }
        let pattern = &self.config.pr_key_pattern;
        run.publish(
            &pull_raw,
            mapping::pull_request(repo, &pull, &reviews, pattern),
        )?;
        for review in &reviews {
            run.publish(&reviews_raw, mapping::review(repo, number, review))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for GitHubConnector {
    fn name(&self) -> &'static str {
        "github"
    }

    fn settings(&self) -> &RunSettings {
        &self.settings
    }

    fn relations(&self) -> &'static [&'static Relation] {
        RELATIONS
    }

    fn mapping(&self, scope: &str) -> Result<Mapping, RunError> {
        repo_of(scope)?;
        Ok(Mapping {
            pr_key_pattern: Some(self.config.pr_key_pattern.as_str().to_owned()),
            ..Mapping::default()
        })
    }

    async fn fetch(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let repo = repo_of(scope)?;
        let mut seen = BTreeSet::new();
        let mut next = Some(transport::pulls_url(
            &self.http,
            &repo,
            self.config.per_page,
        ));
        while let Some(url) = next.take() {
            let page = transport::page(&self.http, &url, run.http()).await?;
            let mut reached_cursor = false;
            for entry in &page.entries {
                let summary = match format::pull_summary(entry) {
                    Ok(summary) => summary,
                    Err(error) => {
                        reject_entry(&repo, entry, error, run)?;
                        continue;
                    }
                };
                if since.is_some_and(|since| summary.updated_at.0 < since) {
                    reached_cursor = true;
                    break;
                }
                run.observe(summary.updated_at.0);
                if seen.insert(summary.number) {
                    self.fetch_pull(&repo, summary.number, run).await?;
                }
            }
            run.flush()?;
            tracing::debug!(path = %page.path, entries = page.entries.len(), reached_cursor, "pull request page done");
            if !reached_cursor {
                next = page.next;
            }
        }
        Ok(())
    }
}

/// Keeps a list entry that cannot be read (it has no usable number) under a key made
/// from its content, and rejects it.
fn reject_entry(
    repo: &Repo,
    entry: &Value,
    error: format::FormatError,
    run: &mut Run<'_>,
) -> Result<(), RunError> {
    let payload = entry.to_string();
    let hash = sha256_hex(payload.as_bytes());
    let raw = run.keep_raw(
        &format!("{repo}:unreadable:{}", &hash[..16]),
        payload.as_bytes(),
    )?;
    run.reject(&raw, error);
    Ok(())
}

/// The repository a scope names.
fn repo_of(scope: &str) -> Result<Repo, RunError> {
    scope.parse().map_err(|reason| RunError::Scope {
        scope: scope.to_owned(),
        reason,
    })
}
