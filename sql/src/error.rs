//! Errors of the SQL layer, each with its PostgreSQL SQLSTATE.

use vigil_engine::repr::ScalarType;

/// Everything a statement can fail with. [`SqlError::code`] maps each variant to its
/// SQLSTATE in one exhaustive match, so a new variant must choose its code.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("syntax error: {0}")]
    Parse(String),
    #[error("{construct} is not supported in a materialized view")]
    NotIncremental { construct: String },
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("{use_} cannot be maintained as a temporal filter")]
    TemporalFilter { use_: String },
    #[error(
        "cannot read as of {as_of}: history before {since} has been compacted (the relation retains less history)"
    )]
    HistoryCompacted { as_of: u64, since: u64 },
    #[error("{0}")]
    ClockError(String),
    #[error("cursor \"{0}\" does not exist")]
    UnknownCursor(String),
    #[error("cursor \"{0}\" already exists")]
    DuplicateCursor(String),
    #[error("{0}")]
    SubscriptionEnded(String),
    #[error("relation \"{0}\" does not exist")]
    UnknownRelation(String),
    #[error("column \"{column}\" of relation \"{relation}\" does not exist")]
    UnknownColumn { relation: String, column: String },
    #[error("relation \"{0}\" already exists")]
    DuplicateRelation(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    #[error("\"{name}\" is not a {expected}")]
    WrongObjectType {
        name: String,
        expected: &'static str,
    },
    #[error("cannot drop {name} because other objects depend on it")]
    DependentObjects {
        name: String,
        dependents: Vec<String>,
    },
    #[error(
        "null value in column \"{column}\" of relation \"{relation}\" violates not-null constraint"
    )]
    NotNullViolation { relation: String, column: String },
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation { constraint: String, key: String },
    #[error("invalid input syntax for type {ty}: \"{value}\"")]
    InvalidText {
        ty: ScalarType,
        value: String,
        reason: String,
    },
    #[error("invalid input syntax for type {ty}: \"{value}\"")]
    InvalidDatetime {
        ty: ScalarType,
        value: String,
        reason: String,
    },
    #[error("date/time field value out of range: \"{0}\"")]
    DatetimeOverflow(String),
    #[error("{0}")]
    DataException(String),
    #[error("division by zero")]
    DivisionByZero,
    #[error("value out of range: {0}")]
    OutOfRange(String),
    #[error("column \"{column}\" is of type {expected} but expression is of type {found}")]
    DatatypeMismatch {
        column: String,
        expected: String,
        found: String,
    },
    #[error("INSERT has more expressions than target columns")]
    TooManyValues,
    #[error("bind message supplies {given} parameters, but prepared statement requires {expected}")]
    ParameterCount { expected: usize, given: usize },
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    #[error("type \"{0}\" does not exist")]
    UnknownType(String),
    #[error("schema \"{0}\" does not exist")]
    UnknownSchema(String),
    #[error("invalid value for option \"{option}\": {message}")]
    InvalidOption { option: String, message: String },
    #[error("change log: {0}")]
    ChangeLog(String),
    #[error("\"{0}\" is a reserved name: names starting with vigil_ belong to system relations")]
    ReservedName(String),
    #[error("{0}")]
    Plan(String),
    #[error("query failed: {0}")]
    Execution(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("engine error: {0}")]
    Engine(String),
}

impl SqlError {
    /// The SQLSTATE clients receive.
    pub fn code(&self) -> &'static str {
        match self {
            SqlError::Parse(_) => "42601",
            SqlError::NotIncremental { .. } => "0A000",
            SqlError::Unsupported(_) => "0A000",
            SqlError::TemporalFilter { .. } => "0A000",
            SqlError::HistoryCompacted { .. } => "22023",
            SqlError::ClockError(_) => "55000",
            SqlError::UnknownCursor(_) => "34000",
            SqlError::DuplicateCursor(_) => "42P03",
            SqlError::SubscriptionEnded(_) => "57014",
            SqlError::UnknownRelation(_) => "42P01",
            SqlError::UnknownColumn { .. } => "42703",
            SqlError::DuplicateRelation(_) => "42P07",
            SqlError::DuplicateColumn(_) => "42701",
            SqlError::WrongObjectType { .. } => "42809",
            SqlError::DependentObjects { .. } => "2BP01",
            SqlError::NotNullViolation { .. } => "23502",
            SqlError::UniqueViolation { .. } => "23505",
            SqlError::InvalidText { .. } => "22P02",
            SqlError::InvalidDatetime { .. } => "22007",
            SqlError::DatetimeOverflow(_) => "22008",
            SqlError::DataException(_) => "22000",
            SqlError::DivisionByZero => "22012",
            SqlError::OutOfRange(_) => "22003",
            SqlError::DatatypeMismatch { .. } => "42804",
            SqlError::TooManyValues => "42601",
            SqlError::ParameterCount { .. } => "08P01",
            SqlError::UnknownSetting(_) => "42704",
            SqlError::UnknownType(_) => "42704",
            SqlError::UnknownSchema(_) => "3F000",
            SqlError::InvalidOption { .. } => "22023",
            SqlError::ChangeLog(_) => "58000",
            SqlError::ReservedName(_) => "42939",
            SqlError::Plan(_) => "42000",
            SqlError::Execution(_) => "XX000",
            SqlError::Storage(_) => "58030",
            SqlError::Engine(_) => "XX000",
        }
    }

    /// Extra detail for the client, in PostgreSQL's `DETAIL` field.
    pub fn detail(&self) -> Option<String> {
        match self {
            SqlError::DependentObjects { dependents, .. } => Some(
                dependents
                    .iter()
                    .map(|d| format!("{d} depends on it"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            SqlError::UniqueViolation { key, .. } => Some(format!("Key {key} already exists.")),
            SqlError::InvalidText { reason, .. } | SqlError::InvalidDatetime { reason, .. }
                if !reason.is_empty() =>
            {
                Some(reason.clone())
            }
            _ => None,
        }
    }

    /// A suggestion for the client, in PostgreSQL's `HINT` field.
    pub fn hint(&self) -> Option<String> {
        match self {
            SqlError::NotIncremental { .. } => Some(
                "run the query as an ad-hoc SELECT, which supports it, or rewrite the view without it"
                    .into(),
            ),
            SqlError::TemporalFilter { .. } => Some(
                "compare now() with an expression of the row in WHERE or HAVING, joined by AND: now() >= x, now() > x, now() < x, now() <= x, now() = x or now() BETWEEN x AND y (now() + or - an interval works too)"
                    .into(),
            ),
            SqlError::HistoryCompacted { .. } => Some(
                "subscribe as of a later time, or raise RETAIN HISTORY on the materialized view (CREATE MATERIALIZED VIEW v WITH (RETAIN HISTORY FOR '2 hours') AS …)"
                    .into(),
            ),
            SqlError::DependentObjects { .. } => {
                Some("Use DROP ... CASCADE to drop the dependent objects too.".into())
            }
            _ => None,
        }
    }
}
