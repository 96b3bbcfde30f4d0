//! `/api/v1/topics/{topic}`: publish JSON lines to a change-log topic, and read a
//! topic's partitions and end offsets.
//!
//! A publish parses the whole body before anything is written and hands all of it to
//! one [`ChangeLog::publish`], so a bad line publishes nothing, and on the embedded
//! log a request is one durable transaction. Change-log calls block (redb commits,
//! Kafka acknowledgements), so they run on the blocking pool.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use vigil_changelog::{ChangeLog, LogError, Offset, Partition, Retention, TopicSpec};

use super::error::AppError;
use super::{AppState, MAX_BODY_BYTES, ndjson};

/// `?partitions=N` of a publish.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// Partitions for the topic if it does not exist yet.
    pub partitions: Option<u32>,
}

/// The answer to a publish: where each record landed, in the order of the lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub published: usize,
    pub partitions: Vec<Partition>,
    pub offsets: Vec<Offset>,
}

/// The answer to `GET /api/v1/topics/{topic}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    pub topic: String,
    pub partitions: u32,
    /// Per partition, the offset the next record will get.
    pub end_offsets: Vec<Offset>,
}

/// `POST /api/v1/topics/{topic}[?partitions=N]` with a body of JSON lines.
pub async fn publish(
    State(state): State<AppState>,
    topic: Result<Path<String>, PathRejection>,
    params: Result<Query<PublishParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Published>, AppError> {
    let Path(topic) = topic?;
    let Query(params) = params?;
    let body =
        body.map_err(|rejection| AppError::from_body_rejection(rejection, MAX_BODY_BYTES))?;
    let log = Arc::clone(&state.log);
    blocking(move || {
        // Parsing up to the body limit of JSON is CPU work too: off the runtime.
        let records = ndjson::parse(&body)?;
        if let Some(partitions) = params.partitions {
            create_if_missing(log.as_ref(), &topic, partitions)?;
        }
        let messages: Vec<_> = records.iter().map(ndjson::Record::message).collect();
        let landed = if messages.is_empty() {
            Vec::new()
        } else {
            log.publish(&topic, &messages)?
        };
        let (partitions, offsets) = landed.into_iter().unzip();
        Ok(Published {
            published: records.len(),
            partitions,
            offsets,
        })
    })
    .await
    .map(Json)
}

/// `GET /api/v1/topics/{topic}`.
pub async fn describe(
    State(state): State<AppState>,
    topic: Result<Path<String>, PathRejection>,
) -> Result<Json<TopicInfo>, AppError> {
    let Path(topic) = topic?;
    let log = Arc::clone(&state.log);
    blocking(move || {
        let partitions = log.partitions(&topic)?;
        let end_offsets = log.end_offsets(&topic)?;
        Ok(TopicInfo {
            topic,
            partitions,
            end_offsets,
        })
    })
    .await
    .map(Json)
}

/// Creates `topic` with `partitions` partitions, keeping every record, unless it
/// exists. An existing topic is left exactly as it is: `ensure_topic` with
/// [`Retention::All`] would stop the compaction of a topic an upsert source made.
pub fn create_if_missing(
    log: &dyn ChangeLog,
    topic: &str,
    partitions: u32,
) -> Result<u32, LogError> {
    match log.partitions(topic) {
        Err(LogError::UnknownTopic(_)) => log.ensure_topic(
            topic,
            &TopicSpec {
                partitions,
                retention: Retention::All,
            },
        ),
        existing => existing,
    }
}

/// Runs change-log work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| AppError::Internal(format!("change log task failed: {join}")))?
}
