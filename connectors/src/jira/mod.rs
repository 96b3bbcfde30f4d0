//! The Jira Cloud connector: a board's issues with their changelogs, and its sprints.
//!
//! ```text
//!  GET  /rest/agile/1.0/board/{id}               ──keep_raw "board:{id}"───────▶ eng.boards
//!  GET  /rest/api/3/status                        status id → category (not kept: reference data)
//!  GET  /rest/agile/1.0/board/{id}/sprint         ──keep_raw "sprint:{id}"──────▶ eng.sprints      (scrum only)
//!  POST /rest/api/3/search/jql                    project = P AND updated >= "…" ORDER BY created ASC,
//!    │   expand=changelog, paged by nextPageToken   ──keep_raw "{key}"──┐
//!    └─ changelog.total > histories returned:                          │
//!       GET /rest/api/3/issue/{id}/changelog     ──keep_raw "{key}:changelog"
//!                                                                      ▼
//!            format (Jira's JSON) ─▶ mapping ─▶ eng.work_items, eng.status_changes,
//!                                               eng.sprint_memberships, eng.item_links
//! ```
//!
//! A scope is a board id from the config, which names its project. The cursor is the
//! highest `updated` seen; the search asks for `updated >=` the cursor minus the
//! overlap, written in the site's time zone (JQL times have none) and rounded down
//! to the minute. Issues are searched in creation order because an issue updated
//! while the search is paged would move between pages sorted by update; one updated
//! meanwhile is caught by the next run, as its `updated` is past the cursor.
//!
//! Every row of an issue carries the `payload_sha256` of the issue as the search
//! returned it (serialized compactly); when its changelog had to be paged, the pages
//! are kept beside it under `{key}:changelog`.
//!
//! [`transport`] knows the endpoints, [`format`] the JSON shapes, [`mapping`] the
//! canonical rows.

pub mod format;
pub mod mapping;
pub mod transport;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{BoardKind, JiraBoard, JiraConfig, JiraMapping};
use crate::http::{HttpClient, HttpError};
use crate::run::{
    BOARDS, Connector, ITEM_LINKS, Mapping, Relation, Run, RunError, RunSettings,
    SPRINT_MEMBERSHIPS, SPRINTS, STATUS_CHANGES, WORK_ITEMS, sha256_hex,
};

const RELATIONS: &[&Relation] = &[
    &BOARDS,
    &SPRINTS,
    &WORK_ITEMS,
    &STATUS_CHANGES,
    &SPRINT_MEMBERSHIPS,
    &ITEM_LINKS,
];

/// The issue fields a search asks for, besides the mapping's custom fields.
const FIELDS: &[&str] = &[
    "summary",
    "status",
    "issuetype",
    "assignee",
    "created",
    "updated",
    "labels",
    "issuelinks",
    "parent",
];

/// Pulls the boards of a Jira Cloud site; a scope is a board id.
#[derive(Debug)]
pub struct JiraConnector {
    config: JiraConfig,
    settings: RunSettings,
    http: HttpClient,
}

impl JiraConnector {
    pub fn new(config: JiraConfig) -> Result<JiraConnector, HttpError> {
        let http = transport::client(&config)?;
        let settings = config.common.run_settings();
        Ok(JiraConnector {
            config,
            settings,
            http,
        })
    }

    pub fn config(&self) -> &JiraConfig {
        &self.config
    }

    /// The configured boards, as scopes for [`crate::run::run_once`].
    pub fn scopes(&self) -> Vec<String> {
        self.config
            .boards
            .iter()
            .map(|board| board.id.to_string())
            .collect()
    }

    /// The configured board a scope names.
    fn board_of(&self, scope: &str) -> Result<&JiraBoard, RunError> {
        scope
            .parse::<u64>()
            .ok()
            .and_then(|id| self.config.board(id))
            .ok_or_else(|| RunError::Scope {
                scope: scope.to_owned(),
                reason: "it is not the id of a configured board".to_owned(),
            })
    }

    /// Fetches the board, keeps it and publishes its row; returns its kind.
    async fn fetch_board(
        &self,
        board: &JiraBoard,
        run: &mut Run<'_>,
    ) -> Result<BoardKind, RunError> {
        let fetched = transport::board(&self.http, board.id, run.http()).await?;
        let raw = run.keep_raw(&format!("board:{}", board.id), &fetched.body)?;
        match format::board(&fetched.json()?) {
            Ok(found) => {
                run.publish(&raw, mapping::board(&found, board))?;
                Ok(mapping::board_kind(&found, board))
            }
            Err(error) => {
                // The board row is lost, not the run: the config may still say its kind.
                run.reject(&raw, error);
                Ok(board.kind.unwrap_or(BoardKind::Kanban))
            }
        }
    }

    async fn fetch_sprints(&self, board: u64, run: &mut Run<'_>) -> Result<(), RunError> {
        let values = transport::sprints(&self.http, board, run.http()).await?;
        for value in &values {
            let payload = value.to_string();
            let id = value.get("id").and_then(Value::as_u64);
            let key = match id {
                Some(id) => format!("sprint:{id}"),
                None => unreadable_key(&format!("board:{board}:sprint"), &payload),
            };
            let raw = run.keep_raw(&key, payload.as_bytes())?;
            match format::sprint(value) {
                Ok(sprint) => run.publish(&raw, mapping::sprint(board, &sprint))?,
                Err(error) => run.reject(&raw, error),
            }
        }
        Ok(())
    }

    /// Keeps one issue (and its paged changelog when the embedded one is cut short),
    /// and publishes its rows.
    async fn fetch_issue(
        &self,
        board: u64,
        value: &Value,
        statuses: &mapping::Statuses,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let payload = value.to_string();
        let key = match value.get("key").and_then(Value::as_str) {
            Some(key) => key.to_owned(),
            None => unreadable_key(&format!("board:{board}:issue"), &payload),
        };
        let raw = run.keep_raw(&key, payload.as_bytes())?;
        let issue = match format::issue(value) {
            Ok(issue) => issue,
            Err(error) => {
                run.reject(&raw, error);
                return Ok(());
            }
        };
        run.observe(issue.fields.updated.0);
        let embedded = issue.changelog.as_ref();
        let cut_short = embedded.is_some_and(|log| log.total > log.histories.len() as u64);
        let mut histories = match embedded {
            Some(log) if !cut_short => log.histories.clone(),
            Some(_) => {
                let values = transport::changelog(&self.http, &issue.id, run.http()).await?;
                let bytes = Value::Array(values.clone()).to_string();
                let changelog_raw = run.keep_raw(&format!("{key}:changelog"), bytes.as_bytes())?;
                let mut histories = Vec::with_capacity(values.len());
                for value in &values {
                    match format::history(value) {
                        Ok(history) => histories.push(history),
                        Err(error) => {
                            run.reject(&changelog_raw, error);
                            return Ok(());
                        }
                    }
                }
                histories
            }
            None => Vec::new(),
        };
        mapping::in_order(&mut histories);
        let fields = &self.config.mapping;
        let custom = custom_values(&issue.fields, fields);
        let custom = match custom {
            Ok(custom) => custom,
            Err(error) => {
                run.reject(&raw, error);
                return Ok(());
            }
        };
        for record in mapping::issue(board, &issue, &custom, &histories, fields, statuses) {
            run.publish(&raw, record)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for JiraConnector {
    fn name(&self) -> &'static str {
        "jira"
    }

    fn settings(&self) -> &RunSettings {
        &self.settings
    }

    fn relations(&self) -> &'static [&'static Relation] {
        RELATIONS
    }

    fn mapping(&self, scope: &str) -> Result<Mapping, RunError> {
        let board = self.board_of(scope)?;
        let mapping = &self.config.mapping;
        Ok(Mapping {
            board_id: Some(mapping::board_id(board.id)),
            story_points_field: Some(mapping.story_points_field.clone()),
            sprint_field: Some(mapping.sprint_field.clone()),
            flagged_field: Some(mapping.flagged_field.clone()),
            status_categories: mapping.status_categories.clone(),
            blocked_statuses: mapping.blocked_statuses.clone(),
            blocked_tags: mapping.blocked_labels.clone(),
            pr_key_pattern: None,
        })
    }

    async fn fetch(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let board = self.board_of(scope)?;
        let kind = self.fetch_board(board, run).await?;
        let statuses = transport::statuses(&self.http, run.http()).await?;
        let statuses = format::statuses(&statuses).map_err(|error| RunError::Shape {
            path: "/rest/api/3/status".to_owned(),
            reason: error.to_string(),
        })?;
        let statuses = mapping::Statuses::new(&statuses, &self.config.mapping);
        if kind == BoardKind::Scrum {
            self.fetch_sprints(board.id, run).await?;
        }
        run.flush()?;

        let jql = transport::jql(&board.project, since, self.config.time_zone);
        let mapping = &self.config.mapping;
        let mut fields: Vec<&str> = FIELDS.to_vec();
        fields.extend([
            mapping.story_points_field.as_str(),
            mapping.sprint_field.as_str(),
            mapping.flagged_field.as_str(),
        ]);
        let mut token: Option<String> = None;
        loop {
            let page = transport::search(
                &self.http,
                &jql,
                &fields,
                self.config.max_results,
                token.as_deref(),
                run.http(),
            )
            .await?;
            for value in &page.issues {
                self.fetch_issue(board.id, value, &statuses, run).await?;
            }
            run.flush()?;
            tracing::debug!(path = %page.path, issues = page.issues.len(), "issue page done");
            match page.next_page_token {
                Some(next) if !page.issues.is_empty() => token = Some(next),
                Some(_) => {
                    return Err(RunError::Shape {
                        path: page.path,
                        reason: "an empty page has a nextPageToken".to_owned(),
                    });
                }
                None => return Ok(()),
            }
        }
    }
}

/// What the mapping's custom fields hold for one issue.
fn custom_values(
    fields: &format::Fields,
    mapping: &JiraMapping,
) -> Result<mapping::CustomValues, format::FormatError> {
    Ok(mapping::CustomValues {
        story_points: format::number_field(fields, &mapping.story_points_field)?,
        sprints: format::sprint_field(fields, &mapping.sprint_field)?,
        flagged: format::flag_field(fields, &mapping.flagged_field)?
            .iter()
            .any(|flag| flag.value == mapping::IMPEDIMENT),
    })
}

/// A raw key for a payload without a usable id, made from its content.
fn unreadable_key(prefix: &str, payload: &str) -> String {
    let hash = sha256_hex(payload.as_bytes());
    format!("{prefix}:unreadable:{}", &hash[..16])
}
