//! The ClickUp v2 connector: a space's tasks, and the lists of its sprint folder as
//! sprints.
//!
//! ```text
//!  GET /api/v2/space/{space}                 ──keep_raw "space:{id}"──▶ eng.boards
//!  GET /api/v2/folder/{folder}/list          ──keep_raw "list:{id}"───▶ eng.sprints        (sprint folder only)
//!  GET /api/v2/team/{team}/task              page 0, 1, … until last_page; order_by=updated,
//!      space_ids[]={space}, date_updated_gt, include_closed, subtasks
//!                                            ──keep_raw "{task id}"──▶ format ─▶ mapping ─▶
//!                                               eng.work_items, eng.sprint_memberships, eng.item_links
//! ```
//!
//! A scope is a space id from the config; its board is `clickup:{team}:{space}`. The
//! cursor is the highest `date_updated` seen; a run asks for `date_updated_gt` the
//! cursor minus the overlap, in epoch milliseconds. ClickUp has no sprint endpoint
//! and no status history in the task list: see [`mapping`] for what is derived and
//! what is left NULL.
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

use crate::config::{ClickUpConfig, ClickUpMapping, ClickUpSpace};
use crate::http::{HttpClient, HttpError};
use crate::run::{
    BOARDS, Connector, ITEM_LINKS, Mapping, Relation, Run, RunError, RunSettings,
    SPRINT_MEMBERSHIPS, SPRINTS, WORK_ITEMS, sha256_hex,
};

const RELATIONS: &[&Relation] = &[
    &BOARDS,
    &SPRINTS,
    &WORK_ITEMS,
    &SPRINT_MEMBERSHIPS,
    &ITEM_LINKS,
];

/// Pulls the spaces of a ClickUp team; a scope is a space id.
#[derive(Debug)]
pub struct ClickUpConnector {
    config: ClickUpConfig,
    settings: RunSettings,
    http: HttpClient,
}

impl ClickUpConnector {
    pub fn new(config: ClickUpConfig) -> Result<ClickUpConnector, HttpError> {
        let http = transport::client(&config)?;
        let settings = config.common.run_settings();
        Ok(ClickUpConnector {
            config,
            settings,
            http,
        })
    }

    pub fn config(&self) -> &ClickUpConfig {
        &self.config
    }

    /// The configured spaces, as scopes for [`crate::run::run_once`].
    pub fn scopes(&self) -> Vec<String> {
        self.config
            .spaces
            .iter()
            .map(|space| space.id.clone())
            .collect()
    }

    /// The configured space a scope names.
    fn space_of(&self, scope: &str) -> Result<&ClickUpSpace, RunError> {
        self.config.space(scope).ok_or_else(|| RunError::Scope {
            scope: scope.to_owned(),
            reason: "it is not the id of a configured space".to_owned(),
        })
    }

    async fn fetch_board(&self, space: &ClickUpSpace, run: &mut Run<'_>) -> Result<(), RunError> {
        let fetched = transport::space(&self.http, &space.id, run.http()).await?;
        let raw = run.keep_raw(&format!("space:{}", space.id), &fetched.body)?;
        match format::space(&fetched.json()?) {
            Ok(found) => run.publish(&raw, mapping::board(&self.config.team_id, &found, space)),
            Err(error) => {
                run.reject(&raw, error);
                Ok(())
            }
        }
    }

    /// Publishes the sprint folder's lists as sprints; returns their ids (a list
    /// that cannot be read is still a sprint for membership, by its id).
    async fn fetch_sprints(
        &self,
        board: &str,
        folder: &str,
        run: &mut Run<'_>,
    ) -> Result<BTreeSet<String>, RunError> {
        let lists = transport::folder_lists(&self.http, folder, run.http()).await?;
        let now = Utc::now();
        let mut ids = BTreeSet::new();
        for value in &lists {
            let payload = value.to_string();
            let id = value.get("id").and_then(Value::as_str);
            let key = match id {
                Some(id) => {
                    ids.insert(id.to_owned());
                    format!("list:{id}")
                }
                None => unreadable_key(&format!("folder:{folder}:list"), &payload),
            };
            let raw = run.keep_raw(&key, payload.as_bytes())?;
            match format::sprint_list(value) {
                Ok(list) => run.publish(&raw, mapping::sprint(board, &list, now))?,
                Err(error) => run.reject(&raw, error),
            }
        }
        Ok(ids)
    }

    fn publish_task(
        &self,
        board: &str,
        value: &Value,
        sprints: &BTreeSet<String>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let payload = value.to_string();
        let key = match value.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => unreadable_key(&format!("{board}:task"), &payload),
        };
        let raw = run.keep_raw(&key, payload.as_bytes())?;
        let task = match format::task(value) {
            Ok(task) => task,
            Err(error) => {
                run.reject(&raw, error);
                return Ok(());
            }
        };
        run.observe(task.date_updated.0);
        let mapping = &self.config.mapping;
        let custom = match custom_values(&task, mapping) {
            Ok(custom) => custom,
            Err(error) => {
                run.reject(&raw, error);
                return Ok(());
            }
        };
        for record in mapping::task(board, &task, &custom, sprints, mapping) {
            run.publish(&raw, record)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for ClickUpConnector {
    fn name(&self) -> &'static str {
        "clickup"
    }

    fn settings(&self) -> &RunSettings {
        &self.settings
    }

    fn relations(&self) -> &'static [&'static Relation] {
        RELATIONS
    }

    fn mapping(&self, scope: &str) -> Result<Mapping, RunError> {
        let space = self.space_of(scope)?;
        let mapping = &self.config.mapping;
        Ok(Mapping {
            board_id: Some(mapping::board_id(&self.config.team_id, &space.id)),
            // ClickUp's own `points` when no custom field is named.
            story_points_field: Some(
                mapping
                    .story_points_field
                    .clone()
                    .unwrap_or_else(|| "points".to_owned()),
            ),
            // Sprints are the lists of a folder, not a field.
            sprint_field: space.sprint_folder.as_ref().map(|f| format!("folder:{f}")),
            flagged_field: None,
            status_categories: mapping.status_categories.clone(),
            blocked_statuses: mapping.blocked_statuses.clone(),
            blocked_tags: mapping.blocked_tags.clone(),
            pr_key_pattern: None,
        })
    }

    async fn fetch(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        run: &mut Run<'_>,
    ) -> Result<(), RunError> {
        let space = self.space_of(scope)?;
        let team = &self.config.team_id;
        let board = mapping::board_id(team, &space.id);
        self.fetch_board(space, run).await?;
        let sprints = match space.sprint_folder.as_deref() {
            Some(folder) if mapping::has_sprints(space) => {
                self.fetch_sprints(&board, folder, run).await?
            }
            Some(_) | None => BTreeSet::new(),
        };
        run.flush()?;

        let mut page = 0u32;
        loop {
            let found =
                transport::tasks(&self.http, team, &space.id, since, page, run.http()).await?;
            for value in &found.tasks {
                self.publish_task(&board, value, &sprints, run)?;
            }
            run.flush()?;
            tracing::debug!(path = %found.path, page, tasks = found.tasks.len(), "task page done");
            // An empty page ends the paging too: asking further would loop on nothing.
            if found.last_page || found.tasks.is_empty() {
                return Ok(());
            }
            page = page.checked_add(1).ok_or_else(|| RunError::Shape {
                path: found.path,
                reason: "last_page never came".to_owned(),
            })?;
        }
    }
}

/// What the mapping's custom fields (or ClickUp's own `points`) hold for one task.
fn custom_values(
    task: &format::Task,
    mapping: &ClickUpMapping,
) -> Result<mapping::CustomValues, format::FormatError> {
    let story_points = match &mapping.story_points_field {
        Some(field) => format::number_field(task, field)?,
        None => task.points,
    };
    let started_at = match &mapping.started_field {
        Some(field) => format::date_field(task, field)?,
        None => None,
    };
    Ok(mapping::CustomValues {
        story_points,
        started_at,
    })
}

/// A raw key for a payload without a usable id, made from its content.
fn unreadable_key(prefix: &str, payload: &str) -> String {
    let hash = sha256_hex(payload.as_bytes());
    format!("{prefix}:unreadable:{}", &hash[..16])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn story_points_come_from_points_unless_a_field_is_named() {
        let task = format::task(&json!({
            "id": "1", "name": "t", "status": {"status": "to do", "type": "open"},
            "date_created": "0", "date_updated": "0", "points": 2.5,
            "custom_fields": [{"id": "sp", "type": "number", "value": "8"}]
        }))
        .expect("task");
        let mut mapping = ClickUpMapping::default();
        assert_eq!(
            custom_values(&task, &mapping).expect("values").story_points,
            Some(2.5)
        );
        mapping.story_points_field = Some("sp".into());
        assert_eq!(
            custom_values(&task, &mapping).expect("values").story_points,
            Some(8.0)
        );
        mapping.started_field = Some("sp".into());
        assert_eq!(
            custom_values(&task, &mapping)
                .expect("values")
                .started_at
                .map(|at| at.timestamp_millis()),
            Some(8)
        );
    }
}
