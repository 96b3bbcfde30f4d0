//! The Azure Boards connector: a project's work items with their revisions, and its
//! team's iterations as sprints.
//!
//! ```text
//!  (config)                                          ──keep_raw "board:{project}/{team}"─▶ eng.boards
//!  GET  {project}/{team}/_apis/work/teamsettings/iterations ──keep_raw "iteration:{id}"──▶ eng.sprints
//!  POST {project}/_apis/wit/wiql        ids changed since the cursor − overlap, oldest first
//!    └─ POST {project}/_apis/wit/workitemsbatch  batch_size ids ──keep_raw "{id}"──┐
//!       GET  {project}/_apis/wit/workitems/{id}/revisions ──keep_raw "{id}:revisions"
//!                                                                               ▼
//!            format (Azure's JSON) ─▶ mapping ─▶ eng.work_items, eng.status_changes,
//!                                               eng.sprint_memberships, eng.item_links
//! ```
//!
//! A scope is a project named in the config; the base URL is the organization. The
//! cursor is the highest `System.ChangedDate` seen. WIQL answers at most
//! `wiql_limit` ids (Azure: 20,000), so a full answer is followed by a window that
//! starts at the last change fetched; ids already fetched in this run are skipped.
//!
//! Every row of an item carries the `payload_sha256` of the item as the batch
//! returned it (serialized compactly).
//!
//! [`transport`] knows the endpoints, [`format`] the JSON shapes, [`mapping`] the
//! canonical rows.

pub mod format;
pub mod mapping;
pub mod transport;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::{AzureConfig, AzureProject};
use crate::http::{HttpClient, HttpError};
use crate::run::{
    BOARDS, Connector, ITEM_LINKS, Mapping, Relation, Run, RunError, RunSettings,
    SPRINT_MEMBERSHIPS, SPRINTS, STATUS_CHANGES, WORK_ITEMS, sha256_hex, timestamp,
};

const RELATIONS: &[&Relation] = &[
    &BOARDS,
    &SPRINTS,
    &WORK_ITEMS,
    &STATUS_CHANGES,
    &SPRINT_MEMBERSHIPS,
    &ITEM_LINKS,
];

/// Pulls the projects of an Azure DevOps organization; a scope is a project name.
#[derive(Debug)]
pub struct AzureConnector {
    config: AzureConfig,
    settings: RunSettings,
    http: HttpClient,
}

impl AzureConnector {
    pub fn new(config: AzureConfig) -> Result<AzureConnector, HttpError> {
        let http = transport::client(&config)?;
        let settings = config.common.run_settings();
        Ok(AzureConnector {
            config,
            settings,
            http,
        })
    }

    pub fn config(&self) -> &AzureConfig {
        &self.config
    }

    /// The configured projects, as scopes for [`crate::run::run_once`].
    pub fn scopes(&self) -> Vec<String> {
        self.config
            .projects
            .iter()
            .map(|project| project.project.clone())
            .collect()
    }

    /// The configured project a scope names.
    fn project_of(&self, scope: &str) -> Result<&AzureProject, RunError> {
        self.config.project(scope).ok_or_else(|| RunError::Scope {
            scope: scope.to_owned(),
            reason: "it is not a configured project".to_owned(),
        })
    }

    /// Publishes the team's iterations; returns their ids by path.
    async fn fetch_iterations(
        &self,
        project: &AzureProject,
        run: &mut Run<'_>,
    ) -> Result<mapping::Sprints, RunError> {
        let values =
            transport::iterations(&self.http, &project.project, &project.team, run.http()).await?;
        let mut sprints = mapping::Sprints::new();
        for value in &values {
            let payload = value.to_string();
            let key = match value.get("id").and_then(Value::as_str) {
                Some(id) => format!("iteration:{id}"),
                None => unreadable_key("iteration", &payload),
            };
            let raw = run.keep_raw(&key, payload.as_bytes())?;
            match format::iteration(value) {
                Ok(iteration) => {
                    sprints.insert(iteration.path.clone(), iteration.id.clone());
                    run.publish(&raw, mapping::sprint(project, &iteration))?;
                }
                Err(error) => run.reject(&raw, error),
            }
        }
        Ok(sprints)
    }

    /// Keeps one item and its revisions and publishes its rows; returns its change
    /// time when it could be read.
    async fn fetch_item(
        &self,
        project: &AzureProject,
        value: &Value,
        sprints: &mapping::Sprints,
        run: &mut Run<'_>,
    ) -> Result<Option<DateTime<Utc>>, RunError> {
        let payload = value.to_string();
        let key = match value.get("id").and_then(Value::as_u64) {
            Some(id) => id.to_string(),
            None => unreadable_key("item", &payload),
        };
        let raw = run.keep_raw(&key, payload.as_bytes())?;
        let item = match format::work_item(value) {
            Ok(item) => item,
            Err(error) => {
                run.reject(&raw, error);
                return Ok(None);
            }
        };
        let changed = item.fields.changed.0;
        run.observe(changed);
        let values = transport::revisions(
            &self.http,
            &project.project,
            item.id,
            self.config.revisions_page,
            run.http(),
        )
        .await?;
        let bytes = Value::Array(values.clone()).to_string();
        let revisions_raw = run.keep_raw(&format!("{key}:revisions"), bytes.as_bytes())?;
        let mut revisions = Vec::with_capacity(values.len());
        for value in &values {
            match format::revision(value) {
                Ok(revision) => revisions.push(revision),
                Err(error) => {
                    run.reject(&revisions_raw, error);
                    return Ok(Some(changed));
                }
            }
        }
        revisions.sort_by_key(|revision| revision.rev);
        for record in mapping::work_item(project, &item, &revisions, sprints, &self.config) {
            run.publish(&raw, record)?;
        }
        Ok(Some(changed))
    }
}

#[async_trait]
impl Connector for AzureConnector {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn settings(&self) -> &RunSettings {
        &self.settings
    }

    fn relations(&self) -> &'static [&'static Relation] {
        RELATIONS
    }

    fn mapping(&self, scope: &str) -> Result<Mapping, RunError> {
        let project = self.project_of(scope)?;
        Ok(Mapping {
            board_id: Some(mapping::board_id(project)),
            story_points_field: Some(format::STORY_POINTS_FIELD.to_owned()),
            sprint_field: Some(format::ITERATION_FIELD.to_owned()),
            flagged_field: None,
            status_categories: self.config.status_categories.clone(),
            blocked_statuses: self.config.blocked_states.clone(),
            blocked_tags: self.config.blocked_tags.clone(),
            pr_key_pattern: None,
        })
    }

    async fn fetch(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let project = self.project_of(scope)?;
        let board = json!({"project": project.project, "team": project.team}).to_string();
        let raw = run.keep_raw(
            &format!("board:{}/{}", project.project, project.team),
            board.as_bytes(),
        )?;
        run.publish(&raw, mapping::board(project))?;
        let sprints = self.fetch_iterations(project, run).await?;
        run.flush()?;

        let limit = self.config.wiql_limit.max(1);
        let batch_size = self.config.batch_size.clamp(1, 200);
        let mut window = since;
        let mut done: BTreeSet<u64> = BTreeSet::new();
        loop {
            let wiql = transport::wiql(window);
            let fetched =
                transport::query(&self.http, &project.project, &wiql, limit, run.http()).await?;
            let result = format::wiql(&fetched.json()?).map_err(|error| RunError::Shape {
                path: fetched.path.clone(),
                reason: error.to_string(),
            })?;
            let full = result.work_items.len() >= limit;
            let ids: Vec<u64> = result
                .work_items
                .iter()
                .map(|item| item.id)
                .filter(|id| !done.contains(id))
                .collect();
            let mut last: Option<DateTime<Utc>> = None;
            for chunk in ids.chunks(batch_size) {
                let (path, values) = transport::batch(
                    &self.http,
                    &project.project,
                    chunk,
                    format::FIELDS,
                    run.http(),
                )
                .await?;
                // Deleted since the query (`errorPolicy: omit`).
                for value in values.iter().filter(|value| !value.is_null()) {
                    let changed = self.fetch_item(project, value, &sprints, run).await?;
                    last = last.max(changed);
                }
                run.flush()?;
                tracing::debug!(%path, items = values.len(), "work item batch done");
            }
            done.extend(ids);
            if !full {
                return Ok(());
            }
            // The window was cut: the next starts at the last change fetched.
            match last {
                Some(last) if Some(last) > window => window = Some(last),
                _ => {
                    return Err(RunError::Shape {
                        path: fetched.path,
                        reason: format!(
                            "more than {limit} work items changed at {}; \
                             hint: raise wiql_limit",
                            window.map_or_else(|| "once".to_owned(), timestamp)
                        ),
                    });
                }
            }
        }
    }
}

/// A raw key for a payload without a usable id, made from its content.
fn unreadable_key(prefix: &str, payload: &str) -> String {
    let hash = sha256_hex(payload.as_bytes());
    format!("{prefix}:unreadable:{}", &hash[..16])
}
