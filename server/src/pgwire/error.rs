//! Errors of the wire protocol layer, and how every error reaches the client: as an
//! ErrorResponse with a SQLSTATE, message, detail and hint.

use pgwire::error::{ErrorInfo, PgWireError, SEVERITY_ERROR};
use vigil_engine::repr::ScalarType;
use vigil_engine::repr::text::ReprError;
use vigil_sql::SqlError;

use super::binary::BinaryError;

/// What can go wrong between the socket and the SQL layer. [`WireError::code`] gives
/// each its SQLSTATE in one exhaustive match.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error(
        "bind message supplies {given} parameters, but prepared statement \"{statement}\" requires {expected}"
    )]
    ParameterCount {
        statement: String,
        expected: usize,
        given: usize,
    },
    #[error("bind message has {formats} parameter formats but {params} parameters")]
    ParameterFormatCount { formats: usize, params: usize },
    #[error("bind message has {formats} result formats but query has {columns} columns")]
    ResultFormatCount { formats: usize, columns: usize },
    #[error("unsupported format code: {0}")]
    UnsupportedFormatCode(i16),
    #[error("incorrect binary data format in bind parameter {position}")]
    BinaryParameter {
        position: usize,
        source: BinaryError,
    },
    #[error("no binary input function available for type with OID {type_oid}")]
    NoBinaryInput { type_oid: u32 },
    #[error("invalid byte sequence for encoding \"UTF8\" in bind parameter {position}")]
    ParameterEncoding { position: usize },
    #[error("{source}")]
    TextParameter { position: usize, source: ReprError },
    #[error("cannot send a value of column \"{column}\" in binary format: {source}")]
    BinaryResult { column: String, source: BinaryError },
    #[error("COPY from stdin failed: {0}")]
    CopyFailed(String),
    #[error("COPY data is larger than {limit} bytes")]
    CopyTooLarge { limit: usize },
    #[error("COPY data arrived but no COPY is in progress")]
    NoCopyInProgress,
    #[error("internal error: {0}")]
    Panic(String),
}

impl WireError {
    /// The SQLSTATE clients receive.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Sql(e) => e.code(),
            WireError::ParameterCount { .. } => "08P01",
            WireError::ParameterFormatCount { .. } => "08P01",
            WireError::ResultFormatCount { .. } => "08P01",
            WireError::UnsupportedFormatCode(_) => "22023",
            WireError::BinaryParameter { source, .. } => match source {
                BinaryError::InvalidUtf8 | BinaryError::NulByte => "22021",
                BinaryError::OutOfRange(_) => "22008",
                BinaryError::Truncated
                | BinaryError::TrailingBytes(_)
                | BinaryError::JsonbVersion(_)
                | BinaryError::NumericSign(_)
                | BinaryError::NumericScale(_)
                | BinaryError::NumericDigit(_)
                | BinaryError::NumericLength(_)
                | BinaryError::NumericSpecial
                | BinaryError::ArrayDimensions(_)
                | BinaryError::ArrayFlags(_)
                | BinaryError::ArrayElementType(_)
                | BinaryError::ArrayLength(_) => "22P03",
            },
            WireError::NoBinaryInput { .. } => "42883",
            WireError::ParameterEncoding { .. } => "22021",
            WireError::TextParameter { source, .. } => match source {
                ReprError::InvalidText { .. } => "22P02",
                ReprError::OutOfRange { ty, .. } => match ty {
                    ScalarType::Date
                    | ScalarType::Timestamp
                    | ScalarType::TimestampTz
                    | ScalarType::Interval => "22008",
                    ScalarType::Bool
                    | ScalarType::Int16
                    | ScalarType::Int32
                    | ScalarType::Int64
                    | ScalarType::Float64
                    | ScalarType::Numeric { .. }
                    | ScalarType::Text
                    | ScalarType::Jsonb
                    | ScalarType::Json
                    | ScalarType::TextArray => "22003",
                },
                ReprError::TypeMismatch { .. } => "42804",
                ReprError::UnsupportedType(_) => "0A000",
            },
            WireError::BinaryResult { .. } => "22008",
            WireError::CopyFailed(_) => "57014",
            WireError::CopyTooLarge { .. } => "54000",
            WireError::NoCopyInProgress => "08P01",
            WireError::Panic(_) => "XX000",
        }
    }

    /// PostgreSQL's DETAIL field.
    pub fn detail(&self) -> Option<String> {
        match self {
            WireError::Sql(e) => e.detail(),
            WireError::BinaryParameter { source, .. } => Some(source.to_string()),
            WireError::TextParameter {
                source: ReprError::InvalidText { reason, .. },
                ..
            } if !reason.is_empty() => Some(reason.clone()),
            _ => None,
        }
    }

    /// PostgreSQL's CONTEXT field: which parameter an error is about.
    pub fn context(&self) -> Option<String> {
        match self {
            WireError::BinaryParameter { position, .. }
            | WireError::ParameterEncoding { position }
            | WireError::TextParameter { position, .. } => {
                Some(format!("bind parameter ${position}"))
            }
            _ => None,
        }
    }

    /// PostgreSQL's HINT field.
    pub fn hint(&self) -> Option<String> {
        match self {
            WireError::Sql(e) => e.hint(),
            WireError::NoBinaryInput { .. } => {
                Some("send the parameter in text format, or declare a supported type".into())
            }
            _ => None,
        }
    }

    /// The ErrorResponse fields for this error.
    pub fn to_error_info(&self) -> ErrorInfo {
        let mut info = ErrorInfo::new(
            SEVERITY_ERROR.to_owned(),
            self.code().to_owned(),
            self.to_string(),
        );
        info.detail = self.detail();
        info.hint = self.hint();
        info.where_context = self.context();
        info
    }
}

impl From<WireError> for PgWireError {
    fn from(e: WireError) -> Self {
        PgWireError::UserError(Box::new(e.to_error_info()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_errors_keep_their_sqlstate_detail_and_hint() {
        let err = WireError::from(SqlError::UniqueViolation {
            constraint: "t_pkey".into(),
            key: "(a)=(1)".into(),
        });
        let info = err.to_error_info();
        assert_eq!(info.severity, "ERROR");
        assert_eq!(info.code, "23505");
        assert_eq!(
            info.message,
            "duplicate key value violates unique constraint \"t_pkey\""
        );
        assert_eq!(info.detail.as_deref(), Some("Key (a)=(1) already exists."));
    }

    #[test]
    fn bad_binary_parameters_are_22p03_with_the_reason_as_detail() {
        let err = WireError::BinaryParameter {
            position: 2,
            source: BinaryError::Truncated,
        };
        let info = err.to_error_info();
        assert_eq!(info.code, "22P03");
        assert_eq!(
            info.message,
            "incorrect binary data format in bind parameter 2"
        );
        assert_eq!(info.detail.as_deref(), Some("the value ends early"));
    }
}
