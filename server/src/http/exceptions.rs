//! `/api/v1/exceptions`: the triage of CRDC rule results over HTTP (see
//! [`crate::exceptions`] for what a change does).
//!
//! ```text
//!  GET   /api/v1/exceptions?district_id=D[&status=open]     ◀─ {"exceptions":[…]}
//!  GET   /api/v1/exceptions/{result_key}?district_id=D      ◀─ the exception with its "activity"
//!  PATCH /api/v1/exceptions/{result_key}                    {"district_id","actor",
//!                                                            "owner"?,"status"?,"due_on"?,
//!                                                            "reason_code"?,"comment"?}
//!                                                           ◀─ the exception after the change
//! ```
//!
//! Codes: 404 `unknown_result` (no such rule result and no exception yet), 409
//! `not_clearable` (explaining a rule that must be fixed), 400
//! `explanation_incomplete`, `invalid_date`, `nothing_to_change`, `no_actor`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::AppError;
use super::{AppState, MAX_BODY_BYTES};
use crate::exceptions::{Change, Status};

/// `?district_id=…[&status=…]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub district_id: String,
    pub status: Option<Status>,
}

/// `?district_id=…`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneParams {
    pub district_id: String,
}

/// `GET /api/v1/exceptions`
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Query(params) = params?;
    let rows = state
        .triage
        .list(&params.district_id, params.status)
        .await?;
    Ok(Json(json!({ "exceptions": rows })))
}

/// `GET /api/v1/exceptions/{result_key}`
pub async fn get(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
    params: Result<Query<OneParams>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Path(key) = key?;
    let Query(params) = params?;
    match state.triage.get(&params.district_id, &key).await? {
        Some(exception) => Ok(Json(exception)),
        None => Err(AppError::UnknownException(key)),
    }
}

/// `PATCH /api/v1/exceptions/{result_key}`
pub async fn patch(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let Path(key) = key?;
    let body =
        body.map_err(|rejection| AppError::from_body_rejection(rejection, MAX_BODY_BYTES))?;
    let change: Change =
        serde_json::from_slice(&body).map_err(|error| AppError::BadBody(error.to_string()))?;
    Ok(Json(state.triage.apply(&key, change).await?))
}
