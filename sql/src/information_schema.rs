//! The SQL-standard `information_schema` views over Vigil's catalog: what Grafana,
//! Metabase and SQLAlchemy read to list schemas, tables, columns and keys.
//!
//! Types are named as PostgreSQL names them (`bigint`, `timestamp with time zone`,
//! `numeric`), with `udt_name` holding the internal name (`int8`, `timestamptz`).
//! Unlike PostgreSQL, `tables` and `columns` also list materialized views (as
//! `VIEW`): they are what Vigil serves, and tools that pick tables from these views
//! would not offer them otherwise.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result as DfResult;
use vigil_engine::repr::{DEFAULT_NUMERIC, ScalarType};

use crate::pg_catalog::Ty::{Int4, Text, TimestampTz};
use crate::pg_catalog::{
    Attribute, Col, INFORMATION_SCHEMA_NAMESPACE, PgSnapshot, RelKind, Relation, RowBuilder,
    SystemKind, SystemTable, Value, memtable,
};

/// The information_schema views Vigil serves.
pub(crate) const RELATIONS: &[SystemTable] = &[
    SystemTable {
        name: "applicable_roles",
        oid: 13100,
        kind: SystemKind::View,
        columns: APPLICABLE_ROLES,
    },
    SystemTable {
        name: "character_sets",
        oid: 13101,
        kind: SystemKind::View,
        columns: CHARACTER_SETS,
    },
    SystemTable {
        name: "check_constraints",
        oid: 13102,
        kind: SystemKind::View,
        columns: CHECK_CONSTRAINTS,
    },
    SystemTable {
        name: "column_privileges",
        oid: 13103,
        kind: SystemKind::View,
        columns: COLUMN_PRIVILEGES,
    },
    SystemTable {
        name: "columns",
        oid: 13104,
        kind: SystemKind::View,
        columns: COLUMNS,
    },
    SystemTable {
        name: "constraint_column_usage",
        oid: 13105,
        kind: SystemKind::View,
        columns: CONSTRAINT_COLUMN_USAGE,
    },
    SystemTable {
        name: "enabled_roles",
        oid: 13106,
        kind: SystemKind::View,
        columns: ENABLED_ROLES,
    },
    SystemTable {
        name: "key_column_usage",
        oid: 13107,
        kind: SystemKind::View,
        columns: KEY_COLUMN_USAGE,
    },
    SystemTable {
        name: "parameters",
        oid: 13108,
        kind: SystemKind::View,
        columns: PARAMETERS,
    },
    SystemTable {
        name: "referential_constraints",
        oid: 13109,
        kind: SystemKind::View,
        columns: REFERENTIAL_CONSTRAINTS,
    },
    SystemTable {
        name: "routines",
        oid: 13110,
        kind: SystemKind::View,
        columns: ROUTINES,
    },
    SystemTable {
        name: "schemata",
        oid: 13111,
        kind: SystemKind::View,
        columns: SCHEMATA,
    },
    SystemTable {
        name: "sequences",
        oid: 13112,
        kind: SystemKind::View,
        columns: SEQUENCES,
    },
    SystemTable {
        name: "table_constraints",
        oid: 13113,
        kind: SystemKind::View,
        columns: TABLE_CONSTRAINTS,
    },
    SystemTable {
        name: "table_privileges",
        oid: 13114,
        kind: SystemKind::View,
        columns: TABLE_PRIVILEGES,
    },
    SystemTable {
        name: "tables",
        oid: 13115,
        kind: SystemKind::View,
        columns: TABLES,
    },
    SystemTable {
        name: "triggers",
        oid: 13116,
        kind: SystemKind::View,
        columns: TRIGGERS,
    },
    SystemTable {
        name: "views",
        oid: 13117,
        kind: SystemKind::View,
        columns: VIEWS,
    },
];

const APPLICABLE_ROLES: &[Col] = &[
    ("grantee", Text),
    ("role_name", Text),
    ("is_grantable", Text),
];

const CHARACTER_SETS: &[Col] = &[
    ("character_set_catalog", Text),
    ("character_set_schema", Text),
    ("character_set_name", Text),
    ("character_repertoire", Text),
    ("form_of_use", Text),
    ("default_collate_catalog", Text),
    ("default_collate_schema", Text),
    ("default_collate_name", Text),
];

const CHECK_CONSTRAINTS: &[Col] = &[
    ("constraint_catalog", Text),
    ("constraint_schema", Text),
    ("constraint_name", Text),
    ("check_clause", Text),
];

const COLUMN_PRIVILEGES: &[Col] = &[
    ("grantor", Text),
    ("grantee", Text),
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("column_name", Text),
    ("privilege_type", Text),
    ("is_grantable", Text),
];

const COLUMNS: &[Col] = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("column_name", Text),
    ("ordinal_position", Int4),
    ("column_default", Text),
    ("is_nullable", Text),
    ("data_type", Text),
    ("character_maximum_length", Int4),
    ("character_octet_length", Int4),
    ("numeric_precision", Int4),
    ("numeric_precision_radix", Int4),
    ("numeric_scale", Int4),
    ("datetime_precision", Int4),
    ("interval_type", Text),
    ("interval_precision", Int4),
    ("character_set_catalog", Text),
    ("character_set_schema", Text),
    ("character_set_name", Text),
    ("collation_catalog", Text),
    ("collation_schema", Text),
    ("collation_name", Text),
    ("domain_catalog", Text),
    ("domain_schema", Text),
    ("domain_name", Text),
    ("udt_catalog", Text),
    ("udt_schema", Text),
    ("udt_name", Text),
    ("scope_catalog", Text),
    ("scope_schema", Text),
    ("scope_name", Text),
    ("maximum_cardinality", Int4),
    ("dtd_identifier", Text),
    ("is_self_referencing", Text),
    ("is_identity", Text),
    ("identity_generation", Text),
    ("identity_start", Text),
    ("identity_increment", Text),
    ("identity_maximum", Text),
    ("identity_minimum", Text),
    ("identity_cycle", Text),
    ("is_generated", Text),
    ("generation_expression", Text),
    ("is_updatable", Text),
];

const CONSTRAINT_COLUMN_USAGE: &[Col] = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("column_name", Text),
    ("constraint_catalog", Text),
    ("constraint_schema", Text),
    ("constraint_name", Text),
];

const ENABLED_ROLES: &[Col] = &[("role_name", Text)];

const KEY_COLUMN_USAGE: &[Col] = &[
    ("constraint_catalog", Text),
    ("constraint_schema", Text),
    ("constraint_name", Text),
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("column_name", Text),
    ("ordinal_position", Int4),
    ("position_in_unique_constraint", Int4),
];

const PARAMETERS: &[Col] = &[
    ("specific_catalog", Text),
    ("specific_schema", Text),
    ("specific_name", Text),
    ("ordinal_position", Int4),
    ("parameter_mode", Text),
    ("is_result", Text),
    ("as_locator", Text),
    ("parameter_name", Text),
    ("data_type", Text),
    ("character_maximum_length", Int4),
    ("character_octet_length", Int4),
    ("character_set_catalog", Text),
    ("character_set_schema", Text),
    ("character_set_name", Text),
    ("collation_catalog", Text),
    ("collation_schema", Text),
    ("collation_name", Text),
    ("numeric_precision", Int4),
    ("numeric_precision_radix", Int4),
    ("numeric_scale", Int4),
    ("datetime_precision", Int4),
    ("interval_type", Text),
    ("interval_precision", Int4),
    ("udt_catalog", Text),
    ("udt_schema", Text),
    ("udt_name", Text),
    ("scope_catalog", Text),
    ("scope_schema", Text),
    ("scope_name", Text),
    ("maximum_cardinality", Int4),
    ("dtd_identifier", Text),
    ("parameter_default", Text),
];

const REFERENTIAL_CONSTRAINTS: &[Col] = &[
    ("constraint_catalog", Text),
    ("constraint_schema", Text),
    ("constraint_name", Text),
    ("unique_constraint_catalog", Text),
    ("unique_constraint_schema", Text),
    ("unique_constraint_name", Text),
    ("match_option", Text),
    ("update_rule", Text),
    ("delete_rule", Text),
];

const ROUTINES: &[Col] = &[
    ("specific_catalog", Text),
    ("specific_schema", Text),
    ("specific_name", Text),
    ("routine_catalog", Text),
    ("routine_schema", Text),
    ("routine_name", Text),
    ("routine_type", Text),
    ("module_catalog", Text),
    ("module_schema", Text),
    ("module_name", Text),
    ("udt_catalog", Text),
    ("udt_schema", Text),
    ("udt_name", Text),
    ("data_type", Text),
    ("character_maximum_length", Int4),
    ("character_octet_length", Int4),
    ("character_set_catalog", Text),
    ("character_set_schema", Text),
    ("character_set_name", Text),
    ("collation_catalog", Text),
    ("collation_schema", Text),
    ("collation_name", Text),
    ("numeric_precision", Int4),
    ("numeric_precision_radix", Int4),
    ("numeric_scale", Int4),
    ("datetime_precision", Int4),
    ("interval_type", Text),
    ("interval_precision", Int4),
    ("type_udt_catalog", Text),
    ("type_udt_schema", Text),
    ("type_udt_name", Text),
    ("scope_catalog", Text),
    ("scope_schema", Text),
    ("scope_name", Text),
    ("maximum_cardinality", Int4),
    ("dtd_identifier", Text),
    ("routine_body", Text),
    ("routine_definition", Text),
    ("external_name", Text),
    ("external_language", Text),
    ("parameter_style", Text),
    ("is_deterministic", Text),
    ("sql_data_access", Text),
    ("is_null_call", Text),
    ("sql_path", Text),
    ("schema_level_routine", Text),
    ("max_dynamic_result_sets", Int4),
    ("is_user_defined_cast", Text),
    ("is_implicitly_invocable", Text),
    ("security_type", Text),
    ("to_sql_specific_catalog", Text),
    ("to_sql_specific_schema", Text),
    ("to_sql_specific_name", Text),
    ("as_locator", Text),
    ("created", TimestampTz),
    ("last_altered", TimestampTz),
    ("new_savepoint_level", Text),
    ("is_udt_dependent", Text),
    ("result_cast_from_data_type", Text),
    ("result_cast_as_locator", Text),
    ("result_cast_char_max_length", Int4),
    ("result_cast_char_octet_length", Int4),
    ("result_cast_char_set_catalog", Text),
    ("result_cast_char_set_schema", Text),
    ("result_cast_char_set_name", Text),
    ("result_cast_collation_catalog", Text),
    ("result_cast_collation_schema", Text),
    ("result_cast_collation_name", Text),
    ("result_cast_numeric_precision", Int4),
    ("result_cast_numeric_precision_radix", Int4),
    ("result_cast_numeric_scale", Int4),
    ("result_cast_datetime_precision", Int4),
    ("result_cast_interval_type", Text),
    ("result_cast_interval_precision", Int4),
    ("result_cast_type_udt_catalog", Text),
    ("result_cast_type_udt_schema", Text),
    ("result_cast_type_udt_name", Text),
    ("result_cast_scope_catalog", Text),
    ("result_cast_scope_schema", Text),
    ("result_cast_scope_name", Text),
    ("result_cast_maximum_cardinality", Int4),
    ("result_cast_dtd_identifier", Text),
];

const SCHEMATA: &[Col] = &[
    ("catalog_name", Text),
    ("schema_name", Text),
    ("schema_owner", Text),
    ("default_character_set_catalog", Text),
    ("default_character_set_schema", Text),
    ("default_character_set_name", Text),
    ("sql_path", Text),
];

const SEQUENCES: &[Col] = &[
    ("sequence_catalog", Text),
    ("sequence_schema", Text),
    ("sequence_name", Text),
    ("data_type", Text),
    ("numeric_precision", Int4),
    ("numeric_precision_radix", Int4),
    ("numeric_scale", Int4),
    ("start_value", Text),
    ("minimum_value", Text),
    ("maximum_value", Text),
    ("increment", Text),
    ("cycle_option", Text),
];

const TABLE_CONSTRAINTS: &[Col] = &[
    ("constraint_catalog", Text),
    ("constraint_schema", Text),
    ("constraint_name", Text),
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("constraint_type", Text),
    ("is_deferrable", Text),
    ("initially_deferred", Text),
    ("enforced", Text),
    ("nulls_distinct", Text),
];

const TABLE_PRIVILEGES: &[Col] = &[
    ("grantor", Text),
    ("grantee", Text),
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("privilege_type", Text),
    ("is_grantable", Text),
    ("with_hierarchy", Text),
];

const TABLES: &[Col] = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("table_type", Text),
    ("self_referencing_column_name", Text),
    ("reference_generation", Text),
    ("user_defined_type_catalog", Text),
    ("user_defined_type_schema", Text),
    ("user_defined_type_name", Text),
    ("is_insertable_into", Text),
    ("is_typed", Text),
    ("commit_action", Text),
];

const TRIGGERS: &[Col] = &[
    ("trigger_catalog", Text),
    ("trigger_schema", Text),
    ("trigger_name", Text),
    ("event_manipulation", Text),
    ("event_object_catalog", Text),
    ("event_object_schema", Text),
    ("event_object_table", Text),
    ("action_order", Int4),
    ("action_condition", Text),
    ("action_statement", Text),
    ("action_orientation", Text),
    ("action_timing", Text),
    ("action_reference_old_table", Text),
    ("action_reference_new_table", Text),
    ("action_reference_old_row", Text),
    ("action_reference_new_row", Text),
    ("created", TimestampTz),
];

const VIEWS: &[Col] = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("view_definition", Text),
    ("check_option", Text),
    ("is_updatable", Text),
    ("is_insertable_into", Text),
    ("is_trigger_updatable", Text),
    ("is_trigger_deletable", Text),
    ("is_trigger_insertable_into", Text),
];

/// The `information_schema` schema, built per statement from a snapshot.
#[derive(Debug)]
pub struct InformationSchema {
    snapshot: Arc<PgSnapshot>,
}

impl InformationSchema {
    pub fn new(snapshot: Arc<PgSnapshot>) -> Self {
        InformationSchema { snapshot }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        RELATIONS.iter().map(|t| t.name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(table) = RELATIONS.iter().find(|t| t.name == name) else {
            return Ok(None);
        };
        memtable(table, &rows(name, &self.snapshot)).map(Some)
    }

    fn table_exist(&self, name: &str) -> bool {
        RELATIONS.iter().any(|t| t.name == name)
    }
}

/// The rows of information_schema view `name`.
pub(crate) fn rows(name: &str, s: &PgSnapshot) -> Vec<Vec<Value>> {
    match name {
        "schemata" => schemata(s),
        "tables" => tables(s),
        "columns" => columns(s),
        "views" => views(s),
        "table_constraints" => table_constraints(s),
        "key_column_usage" => key_column_usage(s),
        "constraint_column_usage" => constraint_column_usage(s),
        "enabled_roles" => vec![row(ENABLED_ROLES).set("role_name", s.user()).build()],
        "character_sets" => vec![
            row(CHARACTER_SETS)
                .set("character_set_name", "UTF8")
                .set("character_repertoire", "UCS")
                .set("form_of_use", "UTF8")
                .set("default_collate_catalog", s.database())
                .set("default_collate_schema", "pg_catalog")
                .set("default_collate_name", "C")
                .build(),
        ],
        _ => Vec::new(),
    }
}

fn row(columns: &'static [Col]) -> RowBuilder {
    RowBuilder::new(columns)
}

fn schema_name(r: &Relation) -> &'static str {
    PgSnapshot::namespace_name(r.namespace).unwrap_or("")
}

/// The relations information_schema lists: user relations, then system ones, as
/// PostgreSQL lists its catalogs to a superuser.
fn listed(s: &PgSnapshot) -> impl Iterator<Item = &Relation> {
    s.relations()
}

fn yes_no(b: bool) -> &'static str {
    if b { "YES" } else { "NO" }
}

fn schemata(s: &PgSnapshot) -> Vec<Vec<Value>> {
    ["pg_catalog", "public", "information_schema"]
        .into_iter()
        .map(|name| {
            row(SCHEMATA)
                .set("catalog_name", s.database())
                .set("schema_name", name)
                .set("schema_owner", s.user())
                .build()
        })
        .collect()
}

fn tables(s: &PgSnapshot) -> Vec<Vec<Value>> {
    listed(s)
        .map(|r| {
            let (table_type, insertable) = match r.kind {
                RelKind::Table => (
                    "BASE TABLE",
                    r.is_user() && r.namespace != INFORMATION_SCHEMA_NAMESPACE,
                ),
                RelKind::View | RelKind::MaterializedView => ("VIEW", false),
            };
            row(TABLES)
                .set("table_catalog", s.database())
                .set("table_schema", schema_name(r))
                .set("table_name", r.name.as_str())
                .set("table_type", table_type)
                .set("is_insertable_into", yes_no(insertable))
                .set("is_typed", "NO")
                .build()
        })
        .collect()
}

/// How information_schema.columns describes a column's type.
struct TypeInfo {
    data_type: String,
    udt_name: &'static str,
    numeric_precision: Option<i32>,
    numeric_precision_radix: Option<i32>,
    numeric_scale: Option<i32>,
    datetime_precision: Option<i32>,
    character_octet_length: Option<i32>,
}

fn type_info(column: &Attribute) -> TypeInfo {
    let mut info = TypeInfo {
        data_type: crate::pg_catalog::types::format_type(column.type_oid, None),
        udt_name: crate::pg_catalog::types::builtin_type(column.type_oid).map_or("", |t| t.name),
        numeric_precision: None,
        numeric_precision_radix: None,
        numeric_scale: None,
        datetime_precision: None,
        character_octet_length: None,
    };
    let integer = |bits| (Some(bits), Some(2), Some(0));
    let (precision, radix, scale) = match column.type_oid {
        21 => integer(16),
        23 => integer(32),
        20 => integer(64),
        700 => (Some(24), Some(2), None),
        701 => (Some(53), Some(2), None),
        1700 => match column.scalar {
            Some(ScalarType::Numeric { precision, scale })
                if column.scalar != Some(DEFAULT_NUMERIC) =>
            {
                (Some(i32::from(precision)), Some(10), Some(i32::from(scale)))
            }
            _ => (None, Some(10), None),
        },
        _ => (None, None, None),
    };
    info.numeric_precision = precision;
    info.numeric_precision_radix = radix;
    info.numeric_scale = scale;
    match column.type_oid {
        1082 => info.datetime_precision = Some(0),
        1083 | 1114 | 1184 | 1186 | 1266 => info.datetime_precision = Some(6),
        25 | 1043 | 1042 => info.character_octet_length = Some(1_073_741_824),
        _ => {}
    }
    if column.type_oid == 1009 || info.udt_name.starts_with('_') {
        info.data_type = "ARRAY".to_string();
    }
    info
}

fn columns(s: &PgSnapshot) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for r in listed(s) {
        for (i, column) in r.columns.iter().enumerate() {
            let info = type_info(column);
            let updatable = r.kind == RelKind::Table && r.is_user();
            rows.push(
                row(COLUMNS)
                    .set("table_catalog", s.database())
                    .set("table_schema", schema_name(r))
                    .set("table_name", r.name.as_str())
                    .set("column_name", column.name.as_str())
                    .set("ordinal_position", i as i32 + 1)
                    .set("is_nullable", yes_no(!column.not_null))
                    .set("data_type", info.data_type)
                    .set("character_octet_length", info.character_octet_length)
                    .set("numeric_precision", info.numeric_precision)
                    .set("numeric_precision_radix", info.numeric_precision_radix)
                    .set("numeric_scale", info.numeric_scale)
                    .set("datetime_precision", info.datetime_precision)
                    .set("udt_catalog", s.database())
                    .set("udt_schema", "pg_catalog")
                    .set("udt_name", info.udt_name)
                    .set("dtd_identifier", (i + 1).to_string())
                    .set("is_self_referencing", "NO")
                    .set("is_identity", "NO")
                    .set("identity_cycle", "NO")
                    .set("is_generated", "NEVER")
                    .set("is_updatable", yes_no(updatable))
                    .build(),
            );
        }
    }
    rows
}

fn views(s: &PgSnapshot) -> Vec<Vec<Value>> {
    listed(s)
        .filter(|r| r.kind == RelKind::View && r.is_user())
        .map(|r| {
            row(VIEWS)
                .set("table_catalog", s.database())
                .set("table_schema", schema_name(r))
                .set("table_name", r.name.as_str())
                .set("view_definition", r.definition.clone())
                .set("check_option", "NONE")
                .set("is_updatable", "NO")
                .set("is_insertable_into", "NO")
                .set("is_trigger_updatable", "NO")
                .set("is_trigger_deletable", "NO")
                .set("is_trigger_insertable_into", "NO")
                .build()
        })
        .collect()
}

/// Primary keys, and NOT NULL columns as the CHECK constraints PostgreSQL lists.
fn table_constraints(s: &PgSnapshot) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for r in listed(s).filter(|r| r.is_user() && r.kind == RelKind::Table) {
        let constraint = |name: String, kind: &str| {
            row(TABLE_CONSTRAINTS)
                .set("constraint_catalog", s.database())
                .set("constraint_schema", schema_name(r))
                .set("constraint_name", name)
                .set("table_catalog", s.database())
                .set("table_schema", schema_name(r))
                .set("table_name", r.name.as_str())
                .set("constraint_type", kind)
                .set("is_deferrable", "NO")
                .set("initially_deferred", "NO")
                .set("enforced", "YES")
                .build()
        };
        if !r.primary_key.is_empty() {
            rows.push(constraint(r.pkey_name(), "PRIMARY KEY"));
        }
        for (i, column) in r.columns.iter().enumerate() {
            if column.not_null {
                let name = format!("{}_{}_{}_not_null", r.namespace, r.oid, i + 1);
                rows.push(constraint(name, "CHECK"));
            }
        }
    }
    rows
}

fn key_column_usage(s: &PgSnapshot) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for r in listed(s).filter(|r| r.is_user()) {
        for (n, &position) in r.primary_key.iter().enumerate() {
            let Some(column) = r.columns.get(position) else {
                continue;
            };
            rows.push(
                row(KEY_COLUMN_USAGE)
                    .set("constraint_catalog", s.database())
                    .set("constraint_schema", schema_name(r))
                    .set("constraint_name", r.pkey_name())
                    .set("table_catalog", s.database())
                    .set("table_schema", schema_name(r))
                    .set("table_name", r.name.as_str())
                    .set("column_name", column.name.as_str())
                    .set("ordinal_position", n as i32 + 1)
                    .build(),
            );
        }
    }
    rows
}

fn constraint_column_usage(s: &PgSnapshot) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for r in listed(s).filter(|r| r.is_user()) {
        for &position in &r.primary_key {
            let Some(column) = r.columns.get(position) else {
                continue;
            };
            rows.push(
                row(CONSTRAINT_COLUMN_USAGE)
                    .set("table_catalog", s.database())
                    .set("table_schema", schema_name(r))
                    .set("table_name", r.name.as_str())
                    .set("column_name", column.name.as_str())
                    .set("constraint_catalog", s.database())
                    .set("constraint_schema", schema_name(r))
                    .set("constraint_name", r.pkey_name())
                    .build(),
            );
        }
    }
    rows
}
