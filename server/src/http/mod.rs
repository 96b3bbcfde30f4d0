//! The HTTP API (axum), served beside pgwire on `http_listen` (127.0.0.1:6876 by
//! default). It is the way into the change log for programs that speak HTTP, the
//! way out of the views for programs that read them over REST or follow them over
//! server-sent events, and where the web dashboard will live.
//!
//! ```text
//!  GET  /health                      {"status":"ok"}
//!  POST /api/v1/topics/{topic}       JSON lines ─▶ ndjson::parse ─▶ ChangeLog::publish (one call)
//!       [?partitions=N]              ◀─ {"published":n,"partitions":[…],"offsets":[…]}
//!  GET  /api/v1/topics/{topic}       ◀─ {"topic":…,"partitions":n,"end_offsets":[…]}
//!  GET  /api/v1/views                ◀─ {"views":[{"name","kind","columns":[{"name","type","nullable"}]}]}
//!  GET  /api/v1/views/{name}         ◀─ snapshot by Accept: application/json (default),
//!       [?col=value&…][&limit=N]        text/csv, application/vnd.apache.arrow.stream
//!  GET  /api/v1/views/{name}/changes ◀─ text/event-stream: snapshot, then one event per
//!       [?last_event_id=T]              timestamp; Last-Event-ID: T resumes after T
//!  GET  /api/v1/admin/connectors     ◀─ the server's connectors and their last runs
//!  POST /api/v1/admin/connectors/{id}/run[?wait=true]  runs one now (202, or 200 with its runs)
//!  PUT  /api/v1/admin/rule-packs/crdc  swaps the CRDC rule pack (YAML) without a restart
//!  PUT  /api/v1/import-profiles/{name}  a CSV mapping profile; GET lists or reads them
//!  POST /api/v1/imports?profile=NAME  CSV ─▶ mapped, typed ─▶ COPY into the source (one publish)
//!       [|relation=R][&file_name=F]     ◀─ JSON summary, or the reject report (Accept: text/csv)
//!  GET  /api/v1/exceptions?district_id=D  the triage of CRDC rule results; GET/PATCH
//!       /api/v1/exceptions/{result_key}   one, with its activity log
//! ```
//!
//! Modules: [`ndjson`] is the record format (shared with `vigil publish`), [`topics`]
//! the topic routes, [`views`] the view catalog and snapshots, [`sse`] the change
//! streams, [`admin`] the connector routes, [`error`] the one error type every route answers with, and [`publish`]
//! the client side, `vigil publish`. [`imports`] loads CSV files into the canonical
//! sources through saved mapping profiles, and [`exceptions`] triages rule results.
//! [`app`] builds the router from an [`AppState`],
//! so tests drive it without a socket; [`crate::Server::run`] serves it and shuts it
//! down with pgwire.

pub mod admin;
pub mod error;
pub mod exceptions;
pub mod imports;
pub mod ndjson;
pub mod publish;
pub mod sse;
pub mod topics;
pub mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use vigil_changelog::ChangeLog;
use vigil_sql::Coordinator;

use crate::connectors::Connectors;
use crate::exceptions::Triage;

pub use error::{AppError, ErrorBody};

/// The largest request body accepted (64 MiB); larger ones get 413 `body_too_large`.
/// `vigil publish` keeps its batches well below it.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What the routes share.
#[derive(Clone)]
pub struct AppState {
    log: Arc<dyn ChangeLog>,
    coordinator: Coordinator,
    connectors: Arc<Connectors>,
    triage: Arc<Triage>,
}

impl AppState {
    /// State over the server's coordinator, whose views the view routes read, and
    /// its change log, so what is published here is what its sources see.
    pub fn new(coordinator: Coordinator) -> AppState {
        let log = coordinator.log();
        AppState {
            connectors: Arc::new(Connectors::none(Arc::clone(&log))),
            triage: Arc::new(Triage::new(coordinator.clone())),
            log,
            coordinator,
        }
    }

    /// The exceptions writer the routes use, which the auto-close task must share.
    pub fn triage(&self) -> Arc<Triage> {
        Arc::clone(&self.triage)
    }

    /// The same state, running `connectors` on request.
    pub fn with_connectors(self, connectors: Arc<Connectors>) -> AppState {
        AppState { connectors, ..self }
    }
}

/// The router with every route.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route(
            "/api/v1/topics/{topic}",
            get(topics::describe).post(topics::publish),
        )
        .route("/api/v1/views", get(views::list))
        .route("/api/v1/views/{name}", get(views::snapshot))
        .route("/api/v1/views/{name}/changes", get(sse::changes))
        .route("/api/v1/admin/connectors", get(admin::list))
        .route("/api/v1/admin/connectors/{id}/run", post(admin::run))
        .route("/api/v1/admin/rule-packs/crdc", put(admin::put_crdc_pack))
        .route("/api/v1/import-profiles", get(imports::list_profiles))
        .route(
            "/api/v1/import-profiles/{name}",
            get(imports::get_profile).put(imports::put_profile),
        )
        .route("/api/v1/imports", post(imports::import))
        .route("/api/v1/exceptions", get(exceptions::list))
        .route(
            "/api/v1/exceptions/{result_key}",
            get(exceptions::get).patch(exceptions::patch),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn not_found(uri: Uri) -> AppError {
    AppError::NotFound(uri.path().to_owned())
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
