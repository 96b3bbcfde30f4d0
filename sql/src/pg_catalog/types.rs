//! PostgreSQL's built-in types as `pg_type` lists them, `format_type`, and the type
//! names DataFusion does not know (`oid`, `name`, `"char"`, `pg_catalog.text`, …).
//!
//! Drivers look up every type OID a result column carries (asyncpg and pgjdbc query
//! `pg_type` for any they do not know), so the table holds every type Vigil sends and
//! those drivers ask about, with PostgreSQL's oids, names and I/O functions.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, IntervalUnit, TimeUnit};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as SqlType, Ident, ObjectName};

use crate::jsonb::JsonbTypes;

/// One row of `pg_type`.
#[derive(Debug)]
pub(crate) struct BuiltinType {
    pub oid: i32,
    pub name: &'static str,
    pub len: i16,
    pub byval: bool,
    pub typtype: u8,
    pub category: u8,
    pub preferred: bool,
    pub elem: i32,
    pub array: i32,
    pub input: &'static str,
    pub output: &'static str,
    pub receive: &'static str,
    pub send: &'static str,
    pub align: u8,
    pub storage: u8,
    pub collation: i32,
}

#[allow(clippy::too_many_arguments)]
const fn t(
    oid: i32,
    name: &'static str,
    len: i16,
    byval: bool,
    typtype: u8,
    category: u8,
    preferred: bool,
    elem: i32,
    array: i32,
    input: &'static str,
    output: &'static str,
    receive: &'static str,
    send: &'static str,
    align: u8,
    storage: u8,
    collation: i32,
) -> BuiltinType {
    BuiltinType {
        oid,
        name,
        len,
        byval,
        typtype,
        category,
        preferred,
        elem,
        array,
        input,
        output,
        receive,
        send,
        align,
        storage,
        collation,
    }
}

/// The types of `pg_type`, in oid order, copied from PostgreSQL.
#[rustfmt::skip]
pub(crate) const BUILTIN_TYPES: &[BuiltinType] = &[
    t(16, "bool", 1, true, b'b', b'B', true, 0, 1000, "boolin", "boolout", "boolrecv", "boolsend", b'c', b'p', 0),
    t(17, "bytea", -1, false, b'b', b'U', false, 0, 1001, "byteain", "byteaout", "bytearecv", "byteasend", b'i', b'x', 0),
    t(18, "char", 1, true, b'b', b'Z', false, 0, 1002, "charin", "charout", "charrecv", "charsend", b'c', b'p', 0),
    t(19, "name", 64, false, b'b', b'S', false, 18, 1003, "namein", "nameout", "namerecv", "namesend", b'c', b'p', 950),
    t(20, "int8", 8, true, b'b', b'N', false, 0, 1016, "int8in", "int8out", "int8recv", "int8send", b'd', b'p', 0),
    t(21, "int2", 2, true, b'b', b'N', false, 0, 1005, "int2in", "int2out", "int2recv", "int2send", b's', b'p', 0),
    t(22, "int2vector", -1, false, b'b', b'A', false, 21, 1006, "int2vectorin", "int2vectorout", "int2vectorrecv", "int2vectorsend", b'i', b'p', 0),
    t(23, "int4", 4, true, b'b', b'N', false, 0, 1007, "int4in", "int4out", "int4recv", "int4send", b'i', b'p', 0),
    t(24, "regproc", 4, true, b'b', b'N', false, 0, 1008, "regprocin", "regprocout", "regprocrecv", "regprocsend", b'i', b'p', 0),
    t(25, "text", -1, false, b'b', b'S', true, 0, 1009, "textin", "textout", "textrecv", "textsend", b'i', b'x', 100),
    t(26, "oid", 4, true, b'b', b'N', true, 0, 1028, "oidin", "oidout", "oidrecv", "oidsend", b'i', b'p', 0),
    t(30, "oidvector", -1, false, b'b', b'A', false, 26, 1013, "oidvectorin", "oidvectorout", "oidvectorrecv", "oidvectorsend", b'i', b'p', 0),
    t(114, "json", -1, false, b'b', b'U', false, 0, 199, "json_in", "json_out", "json_recv", "json_send", b'i', b'x', 0),
    t(194, "pg_node_tree", -1, false, b'b', b'Z', false, 0, 0, "pg_node_tree_in", "pg_node_tree_out", "pg_node_tree_recv", "pg_node_tree_send", b'i', b'x', 100),
    t(199, "_json", -1, false, b'b', b'A', false, 114, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(700, "float4", 4, true, b'b', b'N', false, 0, 1021, "float4in", "float4out", "float4recv", "float4send", b'i', b'p', 0),
    t(701, "float8", 8, true, b'b', b'N', true, 0, 1022, "float8in", "float8out", "float8recv", "float8send", b'd', b'p', 0),
    t(705, "unknown", -2, false, b'p', b'X', false, 0, 0, "unknownin", "unknownout", "unknownrecv", "unknownsend", b'c', b'p', 0),
    t(1000, "_bool", -1, false, b'b', b'A', false, 16, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1001, "_bytea", -1, false, b'b', b'A', false, 17, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1002, "_char", -1, false, b'b', b'A', false, 18, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1003, "_name", -1, false, b'b', b'A', false, 19, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 950),
    t(1005, "_int2", -1, false, b'b', b'A', false, 21, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1006, "_int2vector", -1, false, b'b', b'A', false, 22, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1007, "_int4", -1, false, b'b', b'A', false, 23, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1008, "_regproc", -1, false, b'b', b'A', false, 24, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1009, "_text", -1, false, b'b', b'A', false, 25, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 100),
    t(1013, "_oidvector", -1, false, b'b', b'A', false, 30, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1014, "_bpchar", -1, false, b'b', b'A', false, 1042, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 100),
    t(1015, "_varchar", -1, false, b'b', b'A', false, 1043, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 100),
    t(1016, "_int8", -1, false, b'b', b'A', false, 20, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1021, "_float4", -1, false, b'b', b'A', false, 700, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1022, "_float8", -1, false, b'b', b'A', false, 701, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1028, "_oid", -1, false, b'b', b'A', false, 26, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1033, "aclitem", 12, false, b'b', b'U', false, 0, 1034, "aclitemin", "aclitemout", "-", "-", b'i', b'p', 0),
    t(1034, "_aclitem", -1, false, b'b', b'A', false, 1033, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1042, "bpchar", -1, false, b'b', b'S', false, 0, 1014, "bpcharin", "bpcharout", "bpcharrecv", "bpcharsend", b'i', b'x', 100),
    t(1043, "varchar", -1, false, b'b', b'S', false, 0, 1015, "varcharin", "varcharout", "varcharrecv", "varcharsend", b'i', b'x', 100),
    t(1082, "date", 4, true, b'b', b'D', false, 0, 1182, "date_in", "date_out", "date_recv", "date_send", b'i', b'p', 0),
    t(1083, "time", 8, true, b'b', b'D', false, 0, 1183, "time_in", "time_out", "time_recv", "time_send", b'd', b'p', 0),
    t(1114, "timestamp", 8, true, b'b', b'D', false, 0, 1115, "timestamp_in", "timestamp_out", "timestamp_recv", "timestamp_send", b'd', b'p', 0),
    t(1115, "_timestamp", -1, false, b'b', b'A', false, 1114, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1182, "_date", -1, false, b'b', b'A', false, 1082, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1183, "_time", -1, false, b'b', b'A', false, 1083, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1184, "timestamptz", 8, true, b'b', b'D', true, 0, 1185, "timestamptz_in", "timestamptz_out", "timestamptz_recv", "timestamptz_send", b'd', b'p', 0),
    t(1185, "_timestamptz", -1, false, b'b', b'A', false, 1184, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1186, "interval", 16, false, b'b', b'T', true, 0, 1187, "interval_in", "interval_out", "interval_recv", "interval_send", b'd', b'p', 0),
    t(1187, "_interval", -1, false, b'b', b'A', false, 1186, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1231, "_numeric", -1, false, b'b', b'A', false, 1700, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1263, "_cstring", -1, false, b'b', b'A', false, 2275, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(1266, "timetz", 12, false, b'b', b'D', false, 0, 1270, "timetz_in", "timetz_out", "timetz_recv", "timetz_send", b'd', b'p', 0),
    t(1270, "_timetz", -1, false, b'b', b'A', false, 1266, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(1700, "numeric", -1, false, b'b', b'N', false, 0, 1231, "numeric_in", "numeric_out", "numeric_recv", "numeric_send", b'i', b'm', 0),
    t(2205, "regclass", 4, true, b'b', b'N', false, 0, 2210, "regclassin", "regclassout", "regclassrecv", "regclasssend", b'i', b'p', 0),
    t(2206, "regtype", 4, true, b'b', b'N', false, 0, 2211, "regtypein", "regtypeout", "regtyperecv", "regtypesend", b'i', b'p', 0),
    t(2210, "_regclass", -1, false, b'b', b'A', false, 2205, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(2211, "_regtype", -1, false, b'b', b'A', false, 2206, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(2249, "record", -1, false, b'p', b'P', false, 0, 2287, "record_in", "record_out", "record_recv", "record_send", b'd', b'x', 0),
    t(2275, "cstring", -2, false, b'p', b'P', false, 0, 1263, "cstring_in", "cstring_out", "cstring_recv", "cstring_send", b'c', b'p', 0),
    t(2276, "any", 4, true, b'p', b'P', false, 0, 0, "any_in", "any_out", "-", "-", b'i', b'p', 0),
    t(2277, "anyarray", -1, false, b'p', b'P', false, 0, 0, "anyarray_in", "anyarray_out", "anyarray_recv", "anyarray_send", b'd', b'x', 0),
    t(2278, "void", 4, true, b'p', b'P', false, 0, 0, "void_in", "void_out", "void_recv", "void_send", b'i', b'p', 0),
    t(2279, "trigger", 4, true, b'p', b'P', false, 0, 0, "trigger_in", "trigger_out", "-", "-", b'i', b'p', 0),
    t(2283, "anyelement", 4, true, b'p', b'P', false, 0, 0, "anyelement_in", "anyelement_out", "-", "-", b'i', b'p', 0),
    t(2287, "_record", -1, false, b'p', b'P', false, 2249, 0, "array_in", "array_out", "array_recv", "array_send", b'd', b'x', 0),
    t(2950, "uuid", 16, false, b'b', b'U', false, 0, 2951, "uuid_in", "uuid_out", "uuid_recv", "uuid_send", b'c', b'p', 0),
    t(2951, "_uuid", -1, false, b'b', b'A', false, 2950, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(3802, "jsonb", -1, false, b'b', b'U', false, 0, 3807, "jsonb_in", "jsonb_out", "jsonb_recv", "jsonb_send", b'i', b'x', 0),
    t(3807, "_jsonb", -1, false, b'b', b'A', false, 3802, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
    t(4089, "regnamespace", 4, true, b'b', b'N', false, 0, 4090, "regnamespacein", "regnamespaceout", "regnamespacerecv", "regnamespacesend", b'i', b'p', 0),
    t(4090, "_regnamespace", -1, false, b'b', b'A', false, 4089, 0, "array_in", "array_out", "array_recv", "array_send", b'i', b'x', 0),
];

pub(crate) fn builtin_type(oid: i32) -> Option<&'static BuiltinType> {
    BUILTIN_TYPES
        .binary_search_by_key(&oid, |t| t.oid)
        .ok()
        .map(|i| &BUILTIN_TYPES[i])
}

/// The oid of a type named as SQL or `regtype` input names it: `integer`, `int4`,
/// `pg_catalog.int4`, `character varying`, `text[]`, `"char"`, …
pub(crate) fn type_oid_by_name(name: &str) -> Option<i32> {
    let name = name.trim().to_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    if let Some(element) = name.strip_suffix("[]") {
        let element = type_oid_by_name(element)?;
        return builtin_type(element).map(|t| t.array).filter(|&a| a != 0);
    }
    let canonical = match name {
        "integer" | "int" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "boolean" => "bool",
        "character varying" => "varchar",
        "character" => "bpchar",
        "\"char\"" => "char",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "time with time zone" => "timetz",
        "decimal" => "numeric",
        other => other,
    };
    BUILTIN_TYPES
        .iter()
        .find(|t| t.name == canonical)
        .map(|t| t.oid)
}

/// `format_type(oid, typmod)`: the SQL name of a type, with its modifier.
pub(crate) fn format_type(oid: i32, typmod: Option<i32>) -> String {
    let modifier = typmod.filter(|&m| m >= 0);
    match oid {
        16 => "boolean".to_string(),
        18 => "\"char\"".to_string(),
        20 => "bigint".to_string(),
        21 => "smallint".to_string(),
        23 => "integer".to_string(),
        700 => "real".to_string(),
        701 => "double precision".to_string(),
        1042 => match (modifier, typmod) {
            (Some(m), _) => format!("character({})", m - 4),
            (None, Some(_)) => "bpchar".to_string(),
            (None, None) => "character".to_string(),
        },
        1043 => match modifier {
            Some(m) => format!("character varying({})", m - 4),
            None => "character varying".to_string(),
        },
        1083 => "time without time zone".to_string(),
        1114 => "timestamp without time zone".to_string(),
        1184 => "timestamp with time zone".to_string(),
        1266 => "time with time zone".to_string(),
        1700 => match modifier {
            Some(m) => {
                let m = m - 4;
                format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
            }
            None => "numeric".to_string(),
        },
        _ => match builtin_type(oid) {
            Some(ty) if ty.category == b'A' && ty.elem != 0 && ty.name.starts_with('_') => {
                format!("{}[]", format_type(ty.elem, typmod))
            }
            Some(ty) => ty.name.to_string(),
            None => "???".to_string(),
        },
    }
}

/// Plans the type names PostgreSQL clients write that DataFusion does not know, and
/// jsonb (through [`JsonbTypes`]). Casts to `regclass`, `regtype`, `regnamespace` and
/// `regproc` never get here: [`super::rewrite`] turns them into lookups first.
#[derive(Debug)]
pub struct PgTypes;

impl TypePlanner for PgTypes {
    fn plan_type_field(&self, sql_type: &SqlType) -> DfResult<Option<FieldRef>> {
        let unqualified = match sql_type {
            SqlType::Custom(name, modifiers) => unqualified(name).map(|name| {
                SqlType::Custom(ObjectName::from(vec![Ident::new(name)]), modifiers.clone())
            }),
            _ => None,
        };
        if let Some(field) = JsonbTypes.plan_type_field(unqualified.as_ref().unwrap_or(sql_type))? {
            return Ok(Some(field));
        }
        Ok(planned_type(sql_type).map(|dt| Arc::new(Field::new("", dt, true))))
    }
}

/// A type name's last part, if it is unqualified or qualified by `pg_catalog`.
fn unqualified(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [name] => Some(name.clone()),
        [schema, name] if schema == "pg_catalog" => Some(name.clone()),
        _ => None,
    }
}

fn planned_type(sql_type: &SqlType) -> Option<DataType> {
    match sql_type {
        SqlType::Custom(name, modifiers) if modifiers.is_empty() => named_type(&unqualified(name)?),
        SqlType::Array(ArrayElemTypeDef::SquareBracket(inner, _))
        | SqlType::Array(ArrayElemTypeDef::AngleBracket(inner)) => {
            let item = planned_type(inner)?;
            Some(DataType::List(Arc::new(Field::new_list_field(item, true))))
        }
        _ => None,
    }
}

/// The Arrow type of a PostgreSQL type name. Object identifiers are 32-bit
/// integers; names and `"char"` are text.
fn named_type(name: &str) -> Option<DataType> {
    Some(match name {
        "oid" | "regclass" | "regtype" | "regnamespace" | "regrole" | "xid" | "cid" | "int4"
        | "integer" | "int" => DataType::Int32,
        "regproc" | "regprocedure" | "name" | "char" | "text" | "bpchar" | "varchar"
        | "pg_node_tree" | "aclitem" | "cstring" | "unknown" => DataType::Utf8,
        "int2" | "smallint" => DataType::Int16,
        "int8" | "bigint" => DataType::Int64,
        "float4" | "real" => DataType::Float32,
        "float8" => DataType::Float64,
        "bool" | "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        "interval" => DataType::Interval(IntervalUnit::MonthDayNano),
        "numeric" => DataType::Decimal128(38, 10),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_are_sorted_by_oid() {
        assert!(BUILTIN_TYPES.windows(2).all(|w| w[0].oid < w[1].oid));
    }

    #[test]
    fn every_array_type_points_back_to_its_element() {
        for ty in BUILTIN_TYPES.iter().filter(|t| t.array != 0) {
            let array = builtin_type(ty.array).expect(ty.name);
            assert_eq!(array.elem, ty.oid, "{}", ty.name);
        }
    }

    #[test]
    fn format_type_matches_postgres() {
        assert_eq!(format_type(23, Some(-1)), "integer");
        assert_eq!(format_type(1700, Some((10 << 16) + 2 + 4)), "numeric(10,2)");
        assert_eq!(format_type(1700, Some(-1)), "numeric");
        assert_eq!(format_type(1184, None), "timestamp with time zone");
        assert_eq!(format_type(1009, Some(-1)), "text[]");
        assert_eq!(format_type(1043, Some(14)), "character varying(10)");
        assert_eq!(format_type(1042, Some(-1)), "bpchar");
        assert_eq!(format_type(3802, Some(-1)), "jsonb");
        assert_eq!(format_type(999_999, Some(-1)), "???");
    }

    #[test]
    fn type_names_resolve_like_regtype_input() {
        assert_eq!(type_oid_by_name("integer"), Some(23));
        assert_eq!(type_oid_by_name("pg_catalog.int4"), Some(23));
        assert_eq!(type_oid_by_name("Timestamp With Time Zone"), Some(1184));
        assert_eq!(type_oid_by_name("text[]"), Some(1009));
        assert_eq!(type_oid_by_name("no_such_type"), None);
    }
}
