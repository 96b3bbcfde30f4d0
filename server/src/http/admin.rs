//! `/api/v1/admin/connectors`: the server's connectors, and running one now.
//!
//! ```text
//!  GET  /api/v1/admin/connectors              ◀─ {"connectors":[{"id","source","scopes",
//!                                                  "every_seconds","running","last_run"}]}
//!  POST /api/v1/admin/connectors/{id}/run     ◀─ 202 {"id","state":"started"}
//!  POST /api/v1/admin/connectors/{id}/run?wait=true
//!                                             ◀─ 200 {"id","runs":[{"run_id","scope","status",…}]}
//! ```
//!
//!
//! And the CRDC rule pack of a collection year, swapped while the server runs:
//!
//! ```text
//!  PUT  /api/v1/admin/rule-packs/crdc   YAML ◀─ {"collection","dropped":[…],"created":[…]}
//! ```
//!
//! A pack that does not parse, is not a CRDC pack, or has a rule the engine cannot
//! maintain is refused with 400 `invalid_rule_pack`, and the installed pack stays.
//!
//! A run of a connector that is running already is refused with 409
//! `connector_busy`; an unknown id is 404 `unknown_connector`. A started run goes on
//! if the client hangs up; its outcome is in `last_run` and in `connector_runs`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::AppError;

/// `?wait=true` of a run request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    #[serde(default)]
    pub wait: bool,
}

/// `PUT /api/v1/admin/rule-packs/crdc` with the pack's YAML.
pub async fn put_crdc_pack(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let body =
        body.map_err(|rejection| AppError::from_body_rejection(rejection, super::MAX_BODY_BYTES))?;
    let yaml = std::str::from_utf8(&body)
        .map_err(|error| AppError::BadBody(format!("the rule pack is not UTF-8: {error}")))?;
    let swapped = vigil_views::crdc::install_pack(&state.coordinator, yaml).await?;
    Ok(Json(json!({
        "collection": swapped.collection,
        "dropped": swapped.dropped,
        "created": swapped.created,
    })))
}

/// `GET /api/v1/admin/connectors`
pub async fn list(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "connectors": state.connectors.list() }))
}

/// `POST /api/v1/admin/connectors/{id}/run[?wait=true]`
pub async fn run(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<RunParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let Path(id) = id?;
    let Query(params) = params?;
    if params.wait {
        let runs = state.connectors.run(&id).await?;
        return Ok(Json(json!({ "id": id, "runs": runs })).into_response());
    }
    // Claimed before answering, so the client learns of a busy or unknown id.
    let running = state.connectors.start(&id)?;
    tokio::spawn(async move {
        if let Err(error) = running.await {
            tracing::warn!(%error, "connector run requested over HTTP");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "state": "started" })),
    )
        .into_response())
}
