//! The data model every layer shares: typed [`Datum`]s, [`Row`]s of them, and the
//! [`RelationDesc`] that names and types a row's columns.
//!
//! A `Datum` is what one column of one row holds. Rows flow through differential
//! dataflow, so a `Datum` is totally ordered, hashable and serializable; floats use
//! IEEE total order so `NaN` has a place. SQL `NULL` is [`Datum::Null`] in every type.
//!
//! Two conversions live beside the model:
//! - [`arrow`]: rows to Arrow record batches and back, so DataFusion can evaluate
//!   scalar expressions over batches of rows and run ad-hoc queries over snapshots;
//! - [`text`]: PostgreSQL's text format in and out, for COPY, pgwire text results
//!   and parameters.

pub mod arrow;
pub mod json;
pub mod json_text;
pub mod text;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A row: one datum per column of its [`RelationDesc`].
pub type Row = Vec<Datum>;

/// One value of one column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Datum {
    /// SQL `NULL`, in any type. Orders before every other value.
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float64(F64),
    /// Exact decimal: `mantissa × 10^-scale`. Every value of a column shares its scale.
    Numeric(Numeric),
    Text(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00, no time zone.
    Timestamp(i64),
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    TimestampTz(i64),
    Interval(Interval),
    /// A JSON document in its canonical text form (see [`text::canonical_jsonb`]).
    Jsonb(String),
    /// A one-dimensional `text[]`; elements may be NULL.
    TextArray(Vec<Option<String>>),
    /// A `json` document: valid JSON kept exactly as written (spacing, key order and
    /// duplicate keys), as PostgreSQL's `json` keeps it. Last, so the serialized
    /// variant numbers of stored rows do not move.
    Json(String),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }
}

/// A 64-bit float with IEEE 754 total order, so it can key an arrangement.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct F64(pub f64);

impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for F64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl std::hash::Hash for F64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

/// An exact decimal value: `mantissa × 10^-scale` (Arrow's Decimal128 representation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Numeric {
    pub mantissa: i128,
    pub scale: i8,
}

/// A PostgreSQL interval: months, days and microseconds are kept apart, because a
/// month has no fixed number of days and a day no fixed number of microseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// The SQL types Vigil stores and serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float64,
    Numeric {
        precision: u8,
        scale: i8,
    },
    Text,
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    Jsonb,
    TextArray,
    /// `json`: the text as written, unlike [`ScalarType::Jsonb`]'s canonical form.
    Json,
}

/// Precision and scale of `numeric` declared without them (Arrow's widest decimal).
pub const DEFAULT_NUMERIC: ScalarType = ScalarType::Numeric {
    precision: 38,
    scale: 10,
};

impl ScalarType {
    /// The PostgreSQL type OID clients see in row descriptions.
    pub fn pg_oid(&self) -> u32 {
        match self {
            ScalarType::Bool => 16,
            ScalarType::Int16 => 21,
            ScalarType::Int32 => 23,
            ScalarType::Int64 => 20,
            ScalarType::Float64 => 701,
            ScalarType::Numeric { .. } => 1700,
            ScalarType::Text => 25,
            ScalarType::Date => 1082,
            ScalarType::Timestamp => 1114,
            ScalarType::TimestampTz => 1184,
            ScalarType::Interval => 1186,
            ScalarType::Jsonb => 3802,
            ScalarType::TextArray => 1009,
            ScalarType::Json => 114,
        }
    }

    /// The PostgreSQL name of the type, as `format_type` and `SHOW COLUMNS` print it.
    pub fn pg_name(&self) -> String {
        match self {
            ScalarType::Bool => "boolean".into(),
            ScalarType::Int16 => "smallint".into(),
            ScalarType::Int32 => "integer".into(),
            ScalarType::Int64 => "bigint".into(),
            ScalarType::Float64 => "double precision".into(),
            ScalarType::Numeric { precision, scale } => {
                if *self == DEFAULT_NUMERIC {
                    "numeric".into()
                } else {
                    format!("numeric({precision},{scale})")
                }
            }
            ScalarType::Text => "text".into(),
            ScalarType::Date => "date".into(),
            ScalarType::Timestamp => "timestamp without time zone".into(),
            ScalarType::TimestampTz => "timestamp with time zone".into(),
            ScalarType::Interval => "interval".into(),
            ScalarType::Jsonb => "jsonb".into(),
            ScalarType::TextArray => "text[]".into(),
            ScalarType::Json => "json".into(),
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pg_name())
    }
}

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: ScalarType,
    pub nullable: bool,
}

/// The columns of a relation, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationDesc {
    pub columns: Vec<Column>,
}

impl RelationDesc {
    pub fn new(columns: Vec<Column>) -> Self {
        RelationDesc { columns }
    }

    pub fn arity(&self) -> usize {
        self.columns.len()
    }

    pub fn types(&self) -> impl Iterator<Item = ScalarType> + '_ {
        self.columns.iter().map(|c| c.ty)
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}
