//! Exceptions: the triage of CRDC rule results (`crdc_rule_results`), kept in the
//! tables `exceptions` and `exception_activity` (`views/sql/crdc/exceptions.sql`
//! holds their contract).
//!
//! ```text
//!  PATCH /api/v1/exceptions/{key} ─┐
//!                                  ├─▶ Triage (one writer at a time) ─▶ exceptions, exception_activity
//!  auto-close: SUBSCRIBE crdc_rule_results ─┘   a result that leaves: resolved ("auto_resolved")
//!                                               a resolved one that comes back: open ("reopened")
//! ```
//!
//! People write through [`Triage::apply`] (or plain SQL); the server's auto-close
//! task ([`auto_close`]) follows the rule results and closes an exception whose
//! data was fixed. Every change adds a row to `exception_activity`, numbered per
//! result key under the triage lock, so two actions in one millisecond keep their
//! order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vigil_engine::repr::json::row_to_object;
use vigil_engine::repr::{Datum, Row};
use vigil_sql::{
    Coordinator, ExecuteResponse, SqlError, SubscribeEvent, SubscribeOptions, SubscribeTarget,
};

/// The relation whose rows exceptions are about.
pub const RESULTS: &str = "crdc_rule_results";

/// Who the auto-close task writes as.
pub const AUTO_ACTOR: &str = "vigil";

/// An exception's triage state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InReview,
    Explained,
    Resolved,
    WontFix,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InReview => "in_review",
            Status::Explained => "explained",
            Status::Resolved => "resolved",
            Status::WontFix => "wont_fix",
        }
    }

    fn parse(text: &str) -> Option<Status> {
        [
            Status::Open,
            Status::InReview,
            Status::Explained,
            Status::Resolved,
            Status::WontFix,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// What a person asks to change; a field left out stays as it is.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub district_id: String,
    /// Who makes the change, for the activity log.
    pub actor: String,
    pub owner: Option<String>,
    pub status: Option<Status>,
    /// `YYYY-MM-DD`.
    pub due_on: Option<String>,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("no rule result {result_key} in district {district_id}")]
    UnknownResult {
        district_id: String,
        result_key: String,
    },
    #[error("rule {rule_id} cannot be explained away: fix the data instead")]
    NotClearable { rule_id: String },
    #[error("an explained exception needs a reason_code and a comment")]
    ExplanationIncomplete,
    #[error("invalid due_on {0:?}: expected a date such as 2026-01-15")]
    InvalidDate(String),
    #[error("the change names no field to change")]
    NothingToChange,
    #[error("actor must not be empty")]
    NoActor,
    #[error(transparent)]
    Sql(#[from] SqlError),
}

/// One writer of the exception tables at a time.
pub struct Triage {
    coordinator: Coordinator,
    writing: tokio::sync::Mutex<()>,
}

/// A rule result as exceptions copy it.
struct ResultRef {
    rule_id: String,
    entity_type: Option<String>,
    entity_id: Option<String>,
    school_id: Option<String>,
    clearable: bool,
}

/// The fields of an exceptions row a change compares against.
#[derive(Clone, Default)]
struct Current {
    owner: Option<String>,
    status: Option<String>,
    due_on: Option<String>,
    reason_code: Option<String>,
    comment: Option<String>,
}

impl Triage {
    pub fn new(coordinator: Coordinator) -> Triage {
        Triage {
            coordinator,
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The exceptions of a district (all, or those of one status), as JSON rows.
    pub async fn list(
        &self,
        district_id: &str,
        status: Option<Status>,
    ) -> Result<Vec<Map<String, Value>>, TriageError> {
        let (sql, params) = match status {
            Some(status) => (
                "SELECT * FROM exceptions WHERE district_id = $1 AND status = $2 ORDER BY result_key",
                vec![text(district_id), text(status.as_str())],
            ),
            None => (
                "SELECT * FROM exceptions WHERE district_id = $1 ORDER BY result_key",
                vec![text(district_id)],
            ),
        };
        self.objects(sql, params).await
    }

    /// One exception with its activity, oldest first; `None` if it has none.
    pub async fn get(
        &self,
        district_id: &str,
        result_key: &str,
    ) -> Result<Option<Value>, TriageError> {
        let key = vec![text(district_id), text(result_key)];
        let rows = self
            .objects(
                "SELECT * FROM exceptions WHERE district_id = $1 AND result_key = $2",
                key.clone(),
            )
            .await?;
        let Some(exception) = rows.into_iter().next() else {
            return Ok(None);
        };
        let activity = self
            .objects(
                "SELECT seq, at, actor, action, detail FROM exception_activity \
                 WHERE district_id = $1 AND result_key = $2 ORDER BY seq",
                key,
            )
            .await?;
        let mut exception = exception;
        exception.insert(
            "activity".into(),
            Value::Array(activity.into_iter().map(Value::Object).collect()),
        );
        Ok(Some(Value::Object(exception)))
    }

    /// Applies a person's change to the exception of `result_key`, creating it on
    /// the first change, and logs one activity row per thing changed.
    pub async fn apply(&self, result_key: &str, change: Change) -> Result<Value, TriageError> {
        if change.actor.trim().is_empty() {
            return Err(TriageError::NoActor);
        }
        if let Some(due_on) = &change.due_on
            && chrono::NaiveDate::parse_from_str(due_on, "%Y-%m-%d").is_err()
        {
            return Err(TriageError::InvalidDate(due_on.clone()));
        }
        if change.owner.is_none()
            && change.status.is_none()
            && change.due_on.is_none()
            && change.reason_code.is_none()
            && change.comment.is_none()
        {
            return Err(TriageError::NothingToChange);
        }
        let district = change.district_id.clone();
        let writing = self.writing.lock().await;
        let result = self.result(&district, result_key).await?;
        let current = self.current(&district, result_key).await?;
        if result.is_none() && current.is_none() {
            return Err(TriageError::UnknownResult {
                district_id: district,
                result_key: result_key.to_owned(),
            });
        }
        let before = current.clone().unwrap_or_default();
        let after = Current {
            owner: change.owner.clone().or(before.owner.clone()),
            status: Some(
                change
                    .status
                    .map(|s| s.as_str().to_owned())
                    .or(before.status.clone())
                    .unwrap_or_else(|| Status::Open.as_str().to_owned()),
            ),
            due_on: change.due_on.clone().or(before.due_on.clone()),
            reason_code: change.reason_code.clone().or(before.reason_code.clone()),
            comment: change.comment.clone().or(before.comment.clone()),
        };
        if change.status == Some(Status::Explained) {
            if let Some(result) = &result
                && !result.clearable
            {
                return Err(TriageError::NotClearable {
                    rule_id: result.rule_id.clone(),
                });
            }
            if after.reason_code.is_none() || after.comment.is_none() {
                return Err(TriageError::ExplanationIncomplete);
            }
        }
        let mut actions = Vec::new();
        if current.is_none() {
            actions.push((
                "created",
                format!("status {}", after.status.as_deref().unwrap_or("open")),
            ));
        }
        if after.owner != before.owner {
            actions.push((
                "assigned",
                format!("owner {}", after.owner.as_deref().unwrap_or("")),
            ));
        }
        if current.is_some() && after.status != before.status {
            let action = if after.status.as_deref() == Some("explained") {
                "explained"
            } else {
                "status_changed"
            };
            actions.push((
                action,
                format!(
                    "status {} -> {}",
                    before.status.as_deref().unwrap_or("open"),
                    after.status.as_deref().unwrap_or("open")
                ),
            ));
        }
        if after.due_on != before.due_on {
            actions.push((
                "due_date_changed",
                format!("due {}", after.due_on.as_deref().unwrap_or("")),
            ));
        }
        if after.reason_code != before.reason_code || after.comment != before.comment {
            actions.push((
                "commented",
                format!(
                    "reason {}: {}",
                    after.reason_code.as_deref().unwrap_or(""),
                    after.comment.as_deref().unwrap_or("")
                ),
            ));
        }
        self.write(
            &district,
            result_key,
            result.as_ref(),
            current.is_some(),
            &after,
            &change.actor,
        )
        .await?;
        self.log(&district, result_key, &change.actor, &actions)
            .await?;
        drop(writing);
        Ok(self
            .get(&district, result_key)
            .await?
            .unwrap_or(Value::Null))
    }

    /// The auto-close task's change: `resolved` when the result has left,
    /// `open` again when a resolved one came back. Nothing without an exception,
    /// or when it is already so.
    async fn follow_result(
        &self,
        district: &str,
        result_key: &str,
        present: bool,
    ) -> Result<(), TriageError> {
        let _writing = self.writing.lock().await;
        let Some(current) = self.current(district, result_key).await? else {
            return Ok(());
        };
        let resolved = current.status.as_deref() == Some(Status::Resolved.as_str());
        let (status, action, detail) = match (present, resolved) {
            (false, false) => (
                Status::Resolved,
                "auto_resolved",
                "the rule no longer fails: the data was fixed",
            ),
            (true, true) => (Status::Open, "reopened", "the rule fails again"),
            (false, true) | (true, false) => return Ok(()),
        };
        let from = current.status.clone().unwrap_or_else(|| "open".to_owned());
        let after = Current {
            status: Some(status.as_str().to_owned()),
            ..current
        };
        self.write(district, result_key, None, true, &after, AUTO_ACTOR)
            .await?;
        self.log(
            district,
            result_key,
            AUTO_ACTOR,
            &[(
                action,
                format!("{detail}: status {from} -> {}", status.as_str()),
            )],
        )
        .await
    }

    async fn result(
        &self,
        district: &str,
        result_key: &str,
    ) -> Result<Option<ResultRef>, TriageError> {
        let rows = self
            .query(
                &format!(
                    "SELECT rule_id, entity_type, entity_id, school_id, clearable FROM {RESULTS} \
                     WHERE district_id = $1 AND result_key = $2 LIMIT 1"
                ),
                vec![text(district), text(result_key)],
            )
            .await?;
        Ok(rows.first().map(|row| ResultRef {
            rule_id: string(row.first()).unwrap_or_default(),
            entity_type: string(row.get(1)),
            entity_id: string(row.get(2)),
            school_id: string(row.get(3)),
            clearable: matches!(row.get(4), Some(Datum::Bool(true))),
        }))
    }

    async fn current(
        &self,
        district: &str,
        result_key: &str,
    ) -> Result<Option<Current>, TriageError> {
        let rows = self
            .query(
                "SELECT owner, status, CAST(due_on AS text), reason_code, comment FROM exceptions \
                 WHERE district_id = $1 AND result_key = $2",
                vec![text(district), text(result_key)],
            )
            .await?;
        Ok(rows.first().map(|row| Current {
            owner: string(row.first()),
            status: string(row.get(1)),
            due_on: string(row.get(2)),
            reason_code: string(row.get(3)),
            comment: string(row.get(4)),
        }))
    }

    async fn write(
        &self,
        district: &str,
        result_key: &str,
        result: Option<&ResultRef>,
        exists: bool,
        after: &Current,
        actor: &str,
    ) -> Result<(), TriageError> {
        let fields = vec![
            optional(after.owner.as_deref()),
            optional(after.status.as_deref()),
            optional(after.due_on.as_deref()),
            optional(after.reason_code.as_deref()),
            optional(after.comment.as_deref()),
            text(actor),
            text(district),
            text(result_key),
        ];
        if exists {
            self.query(
                "UPDATE exceptions SET owner = $1, status = $2, due_on = CAST($3 AS date), \
                 reason_code = $4, comment = $5, updated_by = $6, updated_at = now() \
                 WHERE district_id = $7 AND result_key = $8",
                fields,
            )
            .await?;
        } else {
            let mut params = fields;
            params.extend([
                optional(result.map(|r| r.rule_id.as_str())),
                optional(result.and_then(|r| r.entity_type.as_deref())),
                optional(result.and_then(|r| r.entity_id.as_deref())),
                optional(result.and_then(|r| r.school_id.as_deref())),
            ]);
            self.query(
                "INSERT INTO exceptions (owner, status, due_on, reason_code, comment, updated_by, \
                 district_id, result_key, rule_id, entity_type, entity_id, school_id, updated_at) \
                 VALUES ($1, $2, CAST($3 AS date), $4, $5, $6, $7, $8, $9, $10, $11, $12, now())",
                params,
            )
            .await?;
        }
        Ok(())
    }

    async fn log(
        &self,
        district: &str,
        result_key: &str,
        actor: &str,
        actions: &[(&str, String)],
    ) -> Result<(), TriageError> {
        let rows = self
            .query(
                "SELECT coalesce(max(seq), 0) FROM exception_activity \
                 WHERE district_id = $1 AND result_key = $2",
                vec![text(district), text(result_key)],
            )
            .await?;
        let mut seq = match rows.first().and_then(|row| row.first()) {
            Some(Datum::Int64(n)) => *n,
            _ => 0,
        };
        for (action, detail) in actions {
            seq += 1;
            self.query(
                "INSERT INTO exception_activity (district_id, result_key, seq, at, actor, action, detail) \
                 VALUES ($1, $2, $3, now(), $4, $5, $6)",
                vec![
                    text(district),
                    text(result_key),
                    Datum::Int64(seq),
                    text(actor),
                    text(action),
                    text(detail),
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn query(&self, sql: &str, params: Vec<Datum>) -> Result<Vec<Row>, TriageError> {
        Ok(self.run(sql, params).await?.1)
    }

    async fn objects(
        &self,
        sql: &str,
        params: Vec<Datum>,
    ) -> Result<Vec<Map<String, Value>>, TriageError> {
        let (desc, rows) = self.run(sql, params).await?;
        Ok(match desc {
            Some(desc) => rows.iter().map(|row| row_to_object(&desc, row)).collect(),
            None => Vec::new(),
        })
    }

    async fn run(
        &self,
        sql: &str,
        params: Vec<Datum>,
    ) -> Result<(Option<vigil_engine::repr::RelationDesc>, Vec<Row>), TriageError> {
        let mut session = self.coordinator.session();
        let prepared = session.prepare(sql, &[]).await?;
        match session.execute_prepared(&prepared, params).await? {
            ExecuteResponse::Rows { desc, rows } => Ok((Some(desc), rows)),
            _ => Ok((None, Vec::new())),
        }
    }
}

fn text(value: &str) -> Datum {
    Datum::Text(value.to_owned())
}

fn optional(value: Option<&str>) -> Datum {
    value.map_or(Datum::Null, text)
}

fn string(datum: Option<&Datum>) -> Option<String> {
    match datum {
        Some(Datum::Text(text)) => Some(text.clone()),
        _ => None,
    }
}

/// How long auto-close waits before subscribing again when the results are gone (a
/// rule pack swap drops and re-creates them; a server without the CRDC views never
/// has them).
const RESUBSCRIBE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Follows `crdc_rule_results` and closes (or reopens) exceptions whose result
/// left (or came back), until `stop` resolves. Each subscription's first snapshot
/// reconciles what happened while nothing followed: a restart, or a rule pack swap,
/// after which the results are followed again from the new views.
pub async fn auto_close(triage: std::sync::Arc<Triage>, stop: impl Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = follow(&triage) => {}
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
        }
    }
}

/// One subscription to the results, followed until it ends.
async fn follow(triage: &Triage) {
    let options = SubscribeOptions {
        snapshot: true,
        progress: false,
        as_of: None,
    };
    let subscription = triage
        .coordinator
        .subscribe(SubscribeTarget::Relation(RESULTS.into()), options)
        .await;
    let mut subscription = match subscription {
        Ok(subscription) => subscription,
        Err(error) => {
            tracing::debug!(%error, "no rule results to follow yet");
            return;
        }
    };
    let columns = &subscription.desc().columns;
    let position = |name: &str| columns.iter().position(|c| c.name == name);
    let (Some(district_at), Some(key_at)) = (position("district_id"), position("result_key"))
    else {
        tracing::warn!(
            "{RESULTS} has no district_id and result_key: exceptions close only by hand"
        );
        return;
    };
    let mut present: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut first = true;
    while let Some(event) = subscription.next().await {
        let updates = match event {
            Ok(SubscribeEvent::Updates { updates, .. }) => updates,
            Ok(SubscribeEvent::Progress(_)) => continue,
            Err(error) => {
                tracing::info!(%error, "following the rule results ended");
                return;
            }
        };
        let mut touched = BTreeMap::new();
        for (row, diff) in updates {
            let (Some(district), Some(key)) =
                (string(row.get(district_at)), string(row.get(key_at)))
            else {
                continue;
            };
            let count = present.entry((district.clone(), key.clone())).or_default();
            let was = *count > 0;
            *count += diff;
            touched.entry((district, key)).or_insert(was);
        }
        present.retain(|_, count| *count > 0);
        if first {
            first = false;
            if let Err(error) = reconcile(triage, &present).await {
                tracing::warn!(%error, "reconciling exceptions with the rule results");
            }
            continue;
        }
        for ((district, key), was) in touched {
            let now = present.contains_key(&(district.clone(), key.clone()));
            if now != was
                && let Err(error) = triage.follow_result(&district, &key, now).await
            {
                tracing::warn!(%error, result_key = key, "closing an exception");
            }
        }
    }
}

/// Resolves the exceptions not yet resolved whose results are gone, and reopens
/// resolved ones whose results are back.
async fn reconcile(
    triage: &Triage,
    present: &BTreeMap<(String, String), i64>,
) -> Result<(), TriageError> {
    let rows = triage
        .query(
            "SELECT district_id, result_key, status FROM exceptions",
            Vec::new(),
        )
        .await?;
    for row in rows {
        let (Some(district), Some(key), Some(status)) =
            (string(row.first()), string(row.get(1)), string(row.get(2)))
        else {
            continue;
        };
        let now = present
            .get(&(district.clone(), key.clone()))
            .is_some_and(|c| *c > 0);
        let resolved = Status::parse(&status) == Some(Status::Resolved);
        if now == resolved {
            triage.follow_result(&district, &key, now).await?;
        }
    }
    Ok(())
}
