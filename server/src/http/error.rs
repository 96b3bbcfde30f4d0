//! [`AppError`]: every way an HTTP request fails, as one JSON shape with a stable
//! machine-readable `code`:
//!
//! ```json
//! {"code": "bad_record", "message": "line 3: missing \"value\" (use null for a tombstone)", "line": 3}
//! ```
//!
//! Programs branch on `code` (and `line` for `bad_record`); `message` is for people
//! and may change. Errors of the SQL layer also carry their PostgreSQL `sqlstate`.
//! The mappings from change-log and SQL errors are exhaustive `match`es, so a new
//! [`LogError`] or [`SqlError`] variant must be given a code before this compiles.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigil_changelog::LogError;
use vigil_engine::repr::ScalarType;
use vigil_engine::repr::text::ReprError;
use vigil_sql::SqlError;

use super::imports::ImportRefused;
use super::ndjson::BadRecord;
use crate::connectors::RunRefused;
use crate::exceptions::TriageError;
use vigil_views::crdc::CrdcError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    BadRecord(#[from] BadRecord),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("view \"{0}\" does not exist")]
    UnknownView(String),
    #[error("column \"{column}\" of view \"{view}\" does not exist")]
    UnknownColumn { view: String, column: String },
    #[error("invalid filter on column \"{column}\" of type {ty}: {source}")]
    InvalidFilter {
        column: String,
        ty: ScalarType,
        source: ReprError,
    },
    #[error("invalid limit \"{0}\": expected a non-negative integer")]
    InvalidLimit(String),
    #[error("invalid last event id \"{0}\": expected the id of an event this stream sent")]
    InvalidEventId(String),
    #[error(
        "cannot answer with any type of \"{accept}\": available as {}",
        super::views::Format::MEDIA_TYPES.join(", ")
    )]
    NotAcceptable { accept: String },
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
    #[error(transparent)]
    Connector(#[from] crate::connectors::RunRefused),
    #[error(transparent)]
    Triage(#[from] TriageError),
    #[error("no exception {0}")]
    UnknownException(String),
    #[error(transparent)]
    RulePack(#[from] CrdcError),
    #[error(transparent)]
    Import(#[from] ImportRefused),
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
    /// For errors of the SQL layer: the PostgreSQL SQLSTATE, as pgwire reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
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
            AppError::Sql(error) => sql_code(error).0,
            AppError::UnknownView(_) => "unknown_view",
            AppError::UnknownColumn { .. } => "unknown_column",
            AppError::InvalidFilter { .. } => "invalid_filter",
            AppError::InvalidLimit(_) => "invalid_limit",
            AppError::InvalidEventId(_) => "invalid_event_id",
            AppError::NotAcceptable { .. } => "not_acceptable",
            AppError::BodyTooLarge { .. } => "body_too_large",
            AppError::BadBody(_) => "bad_body",
            AppError::BadQuery(_) => "bad_query",
            AppError::BadPath(_) => "bad_path",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Connector(refused) => match refused {
                RunRefused::Unknown(_) => "unknown_connector",
                RunRefused::Busy(_) => "connector_busy",
                RunRefused::Interrupted(_) => "internal_error",
            },
            AppError::Import(refused) => import_code(refused).0,
            AppError::Triage(error) => match error {
                TriageError::UnknownResult { .. } => "unknown_result",
                TriageError::NotClearable { .. } => "not_clearable",
                TriageError::ExplanationIncomplete => "explanation_incomplete",
                TriageError::InvalidDate(_) => "invalid_date",
                TriageError::NothingToChange => "nothing_to_change",
                TriageError::NoActor => "no_actor",
                TriageError::Sql(error) => sql_code(error).0,
            },
            AppError::UnknownException(_) => "unknown_exception",
            AppError::RulePack(error) => match error {
                CrdcError::Rules(_) | CrdcError::NotCrdcPack { .. } | CrdcError::BadRule { .. } => {
                    "invalid_rule_pack"
                }
                CrdcError::Install(_) | CrdcError::Sql { .. } | CrdcError::Unexpected { .. } => {
                    "internal_error"
                }
            },
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRecord(_)
            | AppError::BadBody(_)
            | AppError::BadQuery(_)
            | AppError::BadPath(_)
            | AppError::UnknownColumn { .. }
            | AppError::InvalidFilter { .. }
            | AppError::InvalidLimit(_)
            | AppError::InvalidEventId(_) => StatusCode::BAD_REQUEST,
            AppError::Sql(error) => sql_code(error).1,
            AppError::UnknownView(_) => StatusCode::NOT_FOUND,
            AppError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
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
            AppError::Connector(refused) => match refused {
                RunRefused::Unknown(_) => StatusCode::NOT_FOUND,
                RunRefused::Busy(_) => StatusCode::CONFLICT,
                RunRefused::Interrupted(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            AppError::Import(refused) => import_code(refused).1,
            AppError::Triage(error) => match error {
                TriageError::UnknownResult { .. } => StatusCode::NOT_FOUND,
                TriageError::NotClearable { .. } => StatusCode::CONFLICT,
                TriageError::ExplanationIncomplete
                | TriageError::InvalidDate(_)
                | TriageError::NothingToChange
                | TriageError::NoActor => StatusCode::BAD_REQUEST,
                TriageError::Sql(error) => sql_code(error).1,
            },
            AppError::UnknownException(_) => StatusCode::NOT_FOUND,
            AppError::RulePack(error) => match error {
                CrdcError::Rules(_) | CrdcError::NotCrdcPack { .. } | CrdcError::BadRule { .. } => {
                    StatusCode::BAD_REQUEST
                }
                CrdcError::Install(_) | CrdcError::Sql { .. } | CrdcError::Unexpected { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
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
            sqlstate: if let AppError::Sql(error) = self {
                Some(error.code().to_owned())
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

/// The HTTP code and status of a SQL error. The routes build their own statements
/// from catalog names, so most SQL errors mean the server (or a view's definition)
/// failed, not the request: those are `query_failed`, with the SQLSTATE in the body.
fn sql_code(error: &SqlError) -> (&'static str, StatusCode) {
    let failed = ("query_failed", StatusCode::INTERNAL_SERVER_ERROR);
    match error {
        // The view went away between reading the catalog and reading the view.
        SqlError::UnknownRelation(_)
        | SqlError::UnknownSchema(_)
        | SqlError::WrongObjectType { .. } => ("unknown_view", StatusCode::NOT_FOUND),
        SqlError::UnknownColumn { .. } => ("unknown_column", StatusCode::BAD_REQUEST),
        SqlError::HistoryCompacted { .. } => ("history_compacted", StatusCode::GONE),
        SqlError::Parse(_)
        | SqlError::NotIncremental { .. }
        | SqlError::Unsupported(_)
        | SqlError::TemporalFilter { .. }
        | SqlError::ClockError(_)
        | SqlError::UnknownCursor(_)
        | SqlError::DuplicateCursor(_)
        | SqlError::SubscriptionEnded(_)
        | SqlError::DuplicateRelation(_)
        | SqlError::DuplicateColumn(_)
        | SqlError::DependentObjects { .. }
        | SqlError::NotNullViolation { .. }
        | SqlError::UniqueViolation { .. }
        | SqlError::InvalidText { .. }
        | SqlError::InvalidDatetime { .. }
        | SqlError::DatetimeOverflow(_)
        | SqlError::DataException(_)
        | SqlError::DivisionByZero
        | SqlError::OutOfRange(_)
        | SqlError::DatatypeMismatch { .. }
        | SqlError::TooManyValues
        | SqlError::ParameterCount { .. }
        | SqlError::UnknownSetting(_)
        | SqlError::UnknownType(_)
        | SqlError::InvalidOption { .. }
        | SqlError::ChangeLog(_)
        | SqlError::ReservedName(_)
        | SqlError::Plan(_)
        | SqlError::Execution(_)
        | SqlError::Storage(_)
        | SqlError::Engine(_) => failed,
    }
}

/// The code and status of a refused import or profile: 400 for a request or profile
/// that is wrong in itself, 404 for a missing profile, 422 for a file that cannot be
/// loaded as the profile says (nothing of it is loaded).
fn import_code(refused: &ImportRefused) -> (&'static str, StatusCode) {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match refused {
        ImportRefused::UnknownRelation(_) => ("unknown_relation", StatusCode::BAD_REQUEST),
        ImportRefused::NotLoadable { .. } => ("not_loadable", StatusCode::BAD_REQUEST),
        ImportRefused::UnknownProfile(_) => ("unknown_profile", StatusCode::NOT_FOUND),
        ImportRefused::UnknownField { .. } => ("unknown_field", StatusCode::BAD_REQUEST),
        ImportRefused::InvalidProfile(_) => ("invalid_profile", StatusCode::BAD_REQUEST),
        ImportRefused::NoTarget => ("missing_relation", StatusCode::BAD_REQUEST),
        ImportRefused::UnreadableFile(_) => ("unreadable_file", unprocessable),
        ImportRefused::MissingHeader => ("missing_header", unprocessable),
        ImportRefused::NoUsableColumns { .. } => ("no_usable_columns", unprocessable),
        ImportRefused::MissingColumns { .. } => ("missing_columns", unprocessable),
        ImportRefused::DuplicateField { .. } => ("duplicate_field", unprocessable),
        ImportRefused::DistrictRequired(_) => ("district_required", unprocessable),
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
