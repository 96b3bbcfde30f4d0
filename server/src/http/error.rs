//! [`AppError`]: every way an HTTP request fails, as one JSON shape with a stable
//! machine-readable `code`:
//!
//! ```json
//! {"code": "bad_record", "message": "line 3: missing \"value\" (use null for a tombstone)", "line": 3}
//! ```
//!
//! Programs branch on `code` (and `line` for `bad_record`); `message` is for people
//! and may change. The mapping from change-log errors is one exhaustive `match`, so
//! a new [`LogError`] variant must be given a code before this compiles.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigil_changelog::LogError;

use super::ndjson::BadRecord;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    BadRecord(#[from] BadRecord),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("cannot read the request body: {0}")]
    BadBody(String),
    #[error("invalid query string: {0}")]
    BadQuery(String),
    #[error("invalid path: {0}")]
    BadPath(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of an error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    /// For `bad_record`: the 1-based line of the request body that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl AppError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRecord(_) => "bad_record",
            AppError::Log(error) => match error {
                LogError::UnknownTopic(_) => "unknown_topic",
                LogError::InvalidTopicName(_) => "invalid_topic",
                LogError::UnknownPartition { .. } => "unknown_partition",
                LogError::InvalidPartitionCount(_) => "invalid_partitions",
                LogError::MissingKey(_) => "missing_key",
                LogError::Storage(_) => "storage_error",
                LogError::Kafka(_) => "kafka_error",
            },
            AppError::BodyTooLarge { .. } => "body_too_large",
            AppError::BadBody(_) => "bad_body",
            AppError::BadQuery(_) => "bad_query",
            AppError::BadPath(_) => "bad_path",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRecord(_)
            | AppError::BadBody(_)
            | AppError::BadQuery(_)
            | AppError::BadPath(_) => StatusCode::BAD_REQUEST,
            AppError::Log(error) => match error {
                LogError::UnknownTopic(_) | LogError::UnknownPartition { .. } => {
                    StatusCode::NOT_FOUND
                }
                LogError::InvalidTopicName(_)
                | LogError::InvalidPartitionCount(_)
                | LogError::MissingKey(_) => StatusCode::BAD_REQUEST,
                LogError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
                // The broker, not this server, failed.
                LogError::Kafka(_) => StatusCode::BAD_GATEWAY,
            },
            AppError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
            line: if let AppError::BadRecord(bad) = self {
                Some(bad.line)
            } else {
                None
            },
        }
    }

    /// The error for a body that could not be read: too large, or cut off.
    pub fn from_body_rejection(rejection: BytesRejection, limit: usize) -> AppError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::BodyTooLarge { limit }
        } else {
            AppError::BadBody(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::BadQuery(rejection.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::BadPath(rejection.body_text())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "request failed");
        }
        (status, Json(self.body())).into_response()
    }
}
