//! PostgreSQL type OIDs on the wire, and Vigil's [`ScalarType`]s behind them.
//!
//! Result columns are always described with [`ScalarType::pg_oid`], so every client
//! sees the OID the SQL layer meant. Parameters are the other way round: a client may
//! declare any OID in `Parse`; the ones that name a Vigil type become a type hint for
//! [`vigil_sql::Session::prepare`], the rest are left for the planner to infer.

use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use vigil_engine::repr::{DEFAULT_NUMERIC, RelationDesc, ScalarType};

/// OIDs of PostgreSQL types the server reads or writes on the wire.
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const JSONB: u32 = 3802;
}

/// The Vigil type a client-declared parameter OID asks for, if Vigil has one.
/// `0` and `unknown` mean "infer it"; so does any type Vigil does not store.
pub fn scalar_type_for_param_oid(type_oid: u32) -> Option<ScalarType> {
    match type_oid {
        oid::BOOL => Some(ScalarType::Bool),
        oid::INT2 => Some(ScalarType::Int16),
        oid::INT4 => Some(ScalarType::Int32),
        oid::INT8 => Some(ScalarType::Int64),
        oid::FLOAT4 | oid::FLOAT8 => Some(ScalarType::Float64),
        oid::NUMERIC => Some(DEFAULT_NUMERIC),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME => Some(ScalarType::Text),
        oid::DATE => Some(ScalarType::Date),
        oid::TIMESTAMP => Some(ScalarType::Timestamp),
        oid::TIMESTAMPTZ => Some(ScalarType::TimestampTz),
        oid::INTERVAL => Some(ScalarType::Interval),
        // Apart, because clients pick their codec by the OID (asyncpg's json codec
        // is skipped for a jsonb parameter) and json keeps its text as written.
        oid::JSON => Some(ScalarType::Json),
        oid::JSONB => Some(ScalarType::Jsonb),
        oid::TEXT_ARRAY | oid::VARCHAR_ARRAY => Some(ScalarType::TextArray),
        _ => None,
    }
}

/// The pgwire [`Type`] for an OID. Every OID Vigil reports is a built-in PostgreSQL
/// type, which pgwire knows (a unit test below checks each one).
pub fn wire_type(type_oid: u32) -> Type {
    Type::from_oid(type_oid).unwrap_or(Type::UNKNOWN)
}

/// `pg_type.typlen`: the width of a fixed-size type, -1 for a variable-size one.
fn type_size(ty: ScalarType) -> i16 {
    match ty {
        ScalarType::Bool => 1,
        ScalarType::Int16 => 2,
        ScalarType::Int32 | ScalarType::Date => 4,
        ScalarType::Int64
        | ScalarType::Float64
        | ScalarType::Timestamp
        | ScalarType::TimestampTz => 8,
        ScalarType::Interval => 16,
        ScalarType::Numeric { .. }
        | ScalarType::Text
        | ScalarType::Jsonb
        | ScalarType::Json
        | ScalarType::TextArray => -1,
    }
}

/// `pg_attribute.atttypmod`: `numeric(p, s)` packs its precision and scale here;
/// JDBC-based tools read the display scale from it. -1 means no modifier.
fn type_modifier(ty: ScalarType) -> i32 {
    match ty {
        ScalarType::Numeric { precision, scale }
            if ty != DEFAULT_NUMERIC && scale >= 0 && scale as u8 <= precision =>
        {
            ((i32::from(precision) << 16) | i32::from(scale)) + 4
        }
        _ => -1,
    }
}

/// The RowDescription of a result, each column in the format the client asked for.
pub fn row_description(desc: &RelationDesc, formats: &[FieldFormat]) -> Vec<FieldInfo> {
    desc.columns
        .iter()
        .zip(formats)
        .map(|(column, format)| {
            FieldInfo::new(
                column.name.clone(),
                None,
                None,
                wire_type(column.ty.pg_oid()),
                *format,
            )
            .with_type_size(type_size(column.ty))
            .with_type_modifier(type_modifier(column.ty))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_TYPES: [ScalarType; 14] = [
        ScalarType::Bool,
        ScalarType::Int16,
        ScalarType::Int32,
        ScalarType::Int64,
        ScalarType::Float64,
        DEFAULT_NUMERIC,
        ScalarType::Text,
        ScalarType::Date,
        ScalarType::Timestamp,
        ScalarType::TimestampTz,
        ScalarType::Interval,
        ScalarType::Jsonb,
        ScalarType::TextArray,
        ScalarType::Json,
    ];

    #[test]
    fn every_vigil_type_has_a_builtin_oid_that_survives_the_wire() {
        for ty in ALL_TYPES {
            let wire = Type::from_oid(ty.pg_oid());
            assert_eq!(wire.map(|t| t.oid()), Some(ty.pg_oid()), "{ty}");
        }
    }

    #[test]
    fn a_declared_oid_of_a_vigil_type_round_trips() {
        for ty in ALL_TYPES {
            assert_eq!(scalar_type_for_param_oid(ty.pg_oid()), Some(ty), "{ty}");
        }
        assert_eq!(scalar_type_for_param_oid(oid::JSON), Some(ScalarType::Json));
        assert_eq!(scalar_type_for_param_oid(0), None);
        assert_eq!(scalar_type_for_param_oid(oid::UNKNOWN), None);
    }

    #[test]
    fn numeric_typmod_packs_precision_and_scale() {
        assert_eq!(
            type_modifier(ScalarType::Numeric {
                precision: 18,
                scale: 4
            }),
            ((18 << 16) | 4) + 4
        );
        assert_eq!(type_modifier(DEFAULT_NUMERIC), -1);
        assert_eq!(type_modifier(ScalarType::Int32), -1);
    }
}
