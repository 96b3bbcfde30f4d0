//! The rows of each pg_catalog relation, computed from a [`PgSnapshot`].
//!
//! Relations for features Vigil does not have (triggers, policies, publications,
//! sequences, …) have no rows, as in a PostgreSQL database without such objects;
//! they exist so the queries that join them plan.

use super::columns::*;
use super::types::BUILTIN_TYPES;
use super::{
    Col, DATABASE_OID, INFORMATION_SCHEMA_NAMESPACE, OWNER_OID, PG_CATALOG_NAMESPACE, PG_CLASS_OID,
    PUBLIC_NAMESPACE, PgSnapshot, RelKind, Relation, RowBuilder, Value,
};
use crate::pg_catalog::functions::function_names;

/// PostgreSQL's access methods: `heap` for tables, `btree` for indexes.
const HEAP_AM: i32 = 2;
const BTREE_AM: i32 = 403;
/// The default collation, which text columns carry. Vigil has no other, so
/// `pg_collation` (which lists only non-default ones to psql) is empty.
const DEFAULT_COLLATION: i32 = 100;
/// `pg_proc` oids of Vigil's functions start here (PostgreSQL's own stay below).
const FIRST_FUNCTION_OID: i32 = 20000;

/// The rows of pg_catalog relation `name`.
pub(super) fn rows(name: &str, s: &PgSnapshot) -> Vec<Vec<Value>> {
    match name {
        "pg_namespace" => pg_namespace(),
        "pg_class" => pg_class(s),
        "pg_attribute" => pg_attribute(s),
        "pg_type" => pg_type(),
        "pg_description" => pg_description(s),
        "pg_constraint" => pg_constraint(s),
        "pg_index" => pg_index(s),
        "pg_indexes" => pg_indexes(s),
        "pg_tables" => pg_tables(s),
        "pg_views" => pg_views(s),
        "pg_matviews" => pg_matviews(s),
        "pg_stat_user_tables" | "pg_stat_all_tables" => pg_stat_tables(name, s),
        "pg_am" => pg_am(),
        "pg_proc" => pg_proc(),
        "pg_database" => pg_database(s),
        "pg_roles" => pg_roles(s),
        "pg_user" => pg_user(s),
        "pg_settings" => pg_settings(s),
        "pg_tablespace" => pg_tablespace(),
        "pg_language" => pg_language(),
        _ => Vec::new(),
    }
}

/// Whether pg_catalog relation `name` never has rows in Vigil.
pub(super) fn always_empty(name: &str) -> bool {
    !matches!(
        name,
        "pg_namespace"
            | "pg_class"
            | "pg_attribute"
            | "pg_type"
            | "pg_description"
            | "pg_constraint"
            | "pg_index"
            | "pg_indexes"
            | "pg_tables"
            | "pg_views"
            | "pg_matviews"
            | "pg_stat_user_tables"
            | "pg_stat_all_tables"
            | "pg_am"
            | "pg_proc"
            | "pg_database"
            | "pg_roles"
            | "pg_user"
            | "pg_settings"
            | "pg_tablespace"
            | "pg_language"
    ) && super::columns::PG_CATALOG.iter().any(|t| t.name == name)
}

fn row(columns: &'static [Col]) -> RowBuilder {
    RowBuilder::new(columns)
}

fn namespace_name(oid: i32) -> &'static str {
    PgSnapshot::namespace_name(oid).unwrap_or("")
}

fn user_relations(s: &PgSnapshot) -> impl Iterator<Item = &Relation> {
    s.relations().filter(|r| r.is_user())
}

fn pg_namespace() -> Vec<Vec<Value>> {
    [
        (PG_CATALOG_NAMESPACE, "pg_catalog"),
        (PUBLIC_NAMESPACE, "public"),
        (INFORMATION_SCHEMA_NAMESPACE, "information_schema"),
    ]
    .into_iter()
    .map(|(oid, name)| {
        row(PG_NAMESPACE)
            .set("oid", oid)
            .set("nspname", name)
            .set("nspowner", OWNER_OID)
            .build()
    })
    .collect()
}

fn pg_class(s: &PgSnapshot) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for r in s.relations() {
        let has_storage = matches!(r.kind, RelKind::Table | RelKind::MaterializedView);
        rows.push(
            row(PG_CLASS)
                .set("oid", r.oid)
                .set("relname", r.name.as_str())
                .set("relnamespace", r.namespace)
                .set("relowner", OWNER_OID)
                .set("relam", if has_storage { HEAP_AM } else { 0 })
                .set("reltuples", -1.0)
                .set("relhasindex", !r.primary_key.is_empty())
                .set("relpersistence", "p")
                .set("relkind", r.kind.relkind())
                .set("relnatts", r.columns.len() as i32)
                .set("relhasrules", r.kind == RelKind::View)
                .set("relispopulated", true)
                .set("relreplident", if has_storage { "d" } else { "n" })
                .build(),
        );
        if !r.primary_key.is_empty() {
            rows.push(
                row(PG_CLASS)
                    .set("oid", r.index_oid())
                    .set("relname", r.pkey_name())
                    .set("relnamespace", r.namespace)
                    .set("relowner", OWNER_OID)
                    .set("relam", BTREE_AM)
                    .set("reltuples", -1.0)
                    .set("relpersistence", "p")
                    .set("relkind", "i")
                    .set("relnatts", r.primary_key.len() as i32)
                    .set("relispopulated", true)
                    .set("relreplident", "n")
                    .build(),
            );
        }
    }
    rows
}

fn pg_attribute(s: &PgSnapshot) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for r in s.relations() {
        for (i, column) in r.columns.iter().enumerate() {
            let ty = super::types::builtin_type(column.type_oid);
            let is_text = matches!(column.type_oid, 25 | 1043 | 1042 | 19);
            rows.push(
                row(PG_ATTRIBUTE)
                    .set("attrelid", r.oid)
                    .set("attname", column.name.as_str())
                    .set("atttypid", column.type_oid)
                    .set("attstattarget", -1)
                    .set("attlen", i32::from(ty.map_or(-1, |t| t.len)))
                    .set("attnum", i as i32 + 1)
                    .set(
                        "attndims",
                        i32::from(ty.is_some_and(|t| t.category == b'A')),
                    )
                    .set("attcacheoff", -1)
                    .set("atttypmod", column.typmod)
                    .set("attbyval", ty.is_some_and(|t| t.byval))
                    .set(
                        "attalign",
                        ty.map_or("i".to_string(), |t| char::from(t.align).to_string()),
                    )
                    .set(
                        "attstorage",
                        ty.map_or("x".to_string(), |t| char::from(t.storage).to_string()),
                    )
                    .set("attcompression", "")
                    .set("attnotnull", column.not_null)
                    .set("attidentity", "")
                    .set("attgenerated", "")
                    .set("attislocal", true)
                    .set("attcollation", if is_text { DEFAULT_COLLATION } else { 0 })
                    .build(),
            );
        }
    }
    rows
}

fn regproc(name: &str) -> Value {
    Value::Text(name.to_string())
}

fn pg_type() -> Vec<Vec<Value>> {
    BUILTIN_TYPES
        .iter()
        .map(|t| {
            let is_array = t.category == b'A' && t.name.starts_with('_');
            row(PG_TYPE)
                .set("oid", t.oid)
                .set("typname", t.name)
                .set("typnamespace", PG_CATALOG_NAMESPACE)
                .set("typowner", OWNER_OID)
                .set("typlen", i32::from(t.len))
                .set("typbyval", t.byval)
                .set("typtype", char::from(t.typtype).to_string())
                .set("typcategory", char::from(t.category).to_string())
                .set("typispreferred", t.preferred)
                .set("typisdefined", true)
                .set("typdelim", ",")
                .set(
                    "typsubscript",
                    regproc(if is_array {
                        "array_subscript_handler"
                    } else {
                        "-"
                    }),
                )
                .set("typelem", t.elem)
                .set("typarray", t.array)
                .set("typinput", regproc(t.input))
                .set("typoutput", regproc(t.output))
                .set("typreceive", regproc(t.receive))
                .set("typsend", regproc(t.send))
                .set("typmodin", regproc("-"))
                .set("typmodout", regproc("-"))
                .set(
                    "typanalyze",
                    regproc(if is_array { "array_typanalyze" } else { "-" }),
                )
                .set("typalign", char::from(t.align).to_string())
                .set("typstorage", char::from(t.storage).to_string())
                .set("typtypmod", -1)
                .set("typcollation", t.collation)
                .build()
        })
        .collect()
}

fn pg_description(s: &PgSnapshot) -> Vec<Vec<Value>> {
    s.comments
        .iter()
        .filter_map(|(id, column, text)| {
            let oid = super::relation_oid(id);
            s.relation(oid)?;
            Some(
                row(PG_DESCRIPTION)
                    .set("objoid", oid)
                    .set("classoid", PG_CLASS_OID)
                    .set("objsubid", column)
                    .set("description", text)
                    .build(),
            )
        })
        .collect()
}

/// 1-based column numbers of a primary key.
fn key_numbers(r: &Relation) -> Vec<i64> {
    r.primary_key.iter().map(|&p| p as i64 + 1).collect()
}

fn pg_constraint(s: &PgSnapshot) -> Vec<Vec<Value>> {
    user_relations(s)
        .filter(|r| !r.primary_key.is_empty())
        .map(|r| {
            row(PG_CONSTRAINT)
                .set("oid", r.constraint_oid())
                .set("conname", r.pkey_name())
                .set("connamespace", r.namespace)
                .set("contype", "p")
                .set("convalidated", true)
                .set("conrelid", r.oid)
                .set("conindid", r.index_oid())
                .set("confupdtype", " ")
                .set("confdeltype", " ")
                .set("confmatchtype", " ")
                .set("conislocal", true)
                .set("connoinherit", true)
                .set("conkey", Value::Ints(key_numbers(r)))
                .build()
        })
        .collect()
}

fn pg_index(s: &PgSnapshot) -> Vec<Vec<Value>> {
    user_relations(s)
        .filter(|r| !r.primary_key.is_empty())
        .map(|r| {
            let n = r.primary_key.len();
            row(PG_INDEX)
                .set("indexrelid", r.index_oid())
                .set("indrelid", r.oid)
                .set("indnatts", n as i32)
                .set("indnkeyatts", n as i32)
                .set("indisunique", true)
                .set("indisprimary", true)
                .set("indimmediate", true)
                .set("indisvalid", true)
                .set("indisready", true)
                .set("indislive", true)
                .set("indkey", Value::Ints(key_numbers(r)))
                .set("indcollation", Value::Ints(vec![0; n]))
                .set("indclass", Value::Ints(vec![0; n]))
                .set("indoption", Value::Ints(vec![0; n]))
                .build()
        })
        .collect()
}

/// `pg_get_indexdef` of a primary key's index.
pub(crate) fn index_definition(r: &Relation) -> String {
    format!(
        "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
        r.pkey_name(),
        namespace_name(r.namespace),
        r.name,
        key_columns(r)
    )
}

/// `pg_get_constraintdef` of a primary key.
pub(crate) fn constraint_definition(r: &Relation) -> String {
    format!("PRIMARY KEY ({})", key_columns(r))
}

fn key_columns(r: &Relation) -> String {
    r.primary_key
        .iter()
        .filter_map(|&p| r.columns.get(p))
        .map(|c| super::functions::quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pg_indexes(s: &PgSnapshot) -> Vec<Vec<Value>> {
    user_relations(s)
        .filter(|r| !r.primary_key.is_empty())
        .map(|r| {
            row(PG_INDEXES)
                .set("schemaname", namespace_name(r.namespace))
                .set("tablename", r.name.as_str())
                .set("indexname", r.pkey_name())
                .set("indexdef", index_definition(r))
                .build()
        })
        .collect()
}

fn pg_tables(s: &PgSnapshot) -> Vec<Vec<Value>> {
    s.relations()
        .filter(|r| r.kind == RelKind::Table && r.namespace != INFORMATION_SCHEMA_NAMESPACE)
        .map(|r| {
            row(PG_TABLES)
                .set("schemaname", namespace_name(r.namespace))
                .set("tablename", r.name.as_str())
                .set("tableowner", s.user())
                .set("hasindexes", !r.primary_key.is_empty())
                .build()
        })
        .collect()
}

fn pg_views(s: &PgSnapshot) -> Vec<Vec<Value>> {
    s.relations()
        .filter(|r| r.kind == RelKind::View)
        .map(|r| {
            row(PG_VIEWS)
                .set("schemaname", namespace_name(r.namespace))
                .set("viewname", r.name.as_str())
                .set("viewowner", s.user())
                .set("definition", r.definition.clone())
                .build()
        })
        .collect()
}

fn pg_matviews(s: &PgSnapshot) -> Vec<Vec<Value>> {
    s.relations()
        .filter(|r| r.kind == RelKind::MaterializedView)
        .map(|r| {
            row(PG_MATVIEWS)
                .set("schemaname", namespace_name(r.namespace))
                .set("matviewname", r.name.as_str())
                .set("matviewowner", s.user())
                .set("ispopulated", true)
                .set("definition", r.definition.clone())
                .build()
        })
        .collect()
}

/// Activity counters: Vigil keeps none, so they are zero, as on a fresh PostgreSQL.
fn pg_stat_tables(name: &str, s: &PgSnapshot) -> Vec<Vec<Value>> {
    let columns = if name == "pg_stat_user_tables" {
        PG_STAT_USER_TABLES
    } else {
        PG_STAT_ALL_TABLES
    };
    s.relations()
        .filter(|r| matches!(r.kind, RelKind::Table | RelKind::MaterializedView))
        .filter(|r| name != "pg_stat_user_tables" || r.is_user())
        .map(|r| {
            row(columns)
                .set("relid", r.oid)
                .set("schemaname", namespace_name(r.namespace))
                .set("relname", r.name.as_str())
                .build()
        })
        .collect()
}

fn pg_am() -> Vec<Vec<Value>> {
    [
        (HEAP_AM, "heap", "t", "heap_tableam_handler"),
        (BTREE_AM, "btree", "i", "bthandler"),
    ]
    .into_iter()
    .map(|(oid, name, kind, handler)| {
        row(PG_AM)
            .set("oid", oid)
            .set("amname", name)
            .set("amhandler", handler)
            .set("amtype", kind)
            .build()
    })
    .collect()
}

/// Vigil's own functions, so tools listing functions find them; argument and result
/// types are not recorded.
fn pg_proc() -> Vec<Vec<Value>> {
    function_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            row(PG_PROC)
                .set("oid", FIRST_FUNCTION_OID + i as i32)
                .set("proname", name)
                .set("pronamespace", PG_CATALOG_NAMESPACE)
                .set("proowner", OWNER_OID)
                .set("prolang", 12)
                .set("procost", 1.0)
                .set("prosupport", regproc("-"))
                .set("prokind", "f")
                .set("provolatile", "s")
                .set("proparallel", "s")
                .set("prorettype", 2283)
                .set("proargtypes", Value::Ints(Vec::new()))
                .set("prosrc", name)
                .build()
        })
        .collect()
}

fn pg_database(s: &PgSnapshot) -> Vec<Vec<Value>> {
    vec![
        row(PG_DATABASE)
            .set("oid", DATABASE_OID)
            .set("datname", s.database())
            .set("datdba", OWNER_OID)
            .set("encoding", 6)
            .set("datlocprovider", "c")
            .set("datallowconn", true)
            .set("datconnlimit", -1)
            .set("dattablespace", 1663)
            .set("datcollate", "C")
            .set("datctype", "C")
            .build(),
    ]
}

fn pg_roles(s: &PgSnapshot) -> Vec<Vec<Value>> {
    vec![
        row(PG_ROLES)
            .set("rolname", s.user())
            .set("rolsuper", true)
            .set("rolinherit", true)
            .set("rolcreaterole", true)
            .set("rolcreatedb", true)
            .set("rolcanlogin", true)
            .set("rolconnlimit", -1)
            .set("rolpassword", "********")
            .set("rolbypassrls", true)
            .set("oid", OWNER_OID)
            .build(),
    ]
}

fn pg_user(s: &PgSnapshot) -> Vec<Vec<Value>> {
    vec![
        row(PG_USER)
            .set("usename", s.user())
            .set("usesysid", OWNER_OID)
            .set("usecreatedb", true)
            .set("usesuper", true)
            .set("usebypassrls", true)
            .set("passwd", "********")
            .build(),
    ]
}

fn pg_settings(s: &PgSnapshot) -> Vec<Vec<Value>> {
    s.settings
        .iter()
        .map(|(name, value)| {
            row(PG_SETTINGS)
                .set("name", name.as_str())
                .set("setting", value.as_str())
                .set("category", "Vigil")
                .set("short_desc", "")
                .set("context", "user")
                .set("vartype", "string")
                .set("source", "session")
                .set("boot_val", value.as_str())
                .set("reset_val", value.as_str())
                .build()
        })
        .collect()
}

fn pg_tablespace() -> Vec<Vec<Value>> {
    [(1663, "pg_default"), (1664, "pg_global")]
        .into_iter()
        .map(|(oid, name)| {
            row(PG_TABLESPACE)
                .set("oid", oid)
                .set("spcname", name)
                .set("spcowner", OWNER_OID)
                .build()
        })
        .collect()
}

fn pg_language() -> Vec<Vec<Value>> {
    [(12, "internal"), (14, "sql")]
        .into_iter()
        .map(|(oid, name)| {
            row(PG_LANGUAGE)
                .set("oid", oid)
                .set("lanname", name)
                .set("lanowner", OWNER_OID)
                .set("lanpltrusted", name == "sql")
                .set("lanplcallfoid", 0)
                .set("laninline", 0)
                .set("lanvalidator", 0)
                .build()
        })
        .collect()
}
