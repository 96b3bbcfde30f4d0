//! PostgreSQL's system information and catalog functions that clients call while
//! connecting and introspecting: `version()`, `current_setting()`, `format_type()`,
//! `pg_get_viewdef()`, the `has_*_privilege` family, …
//!
//! Each is a DataFusion scalar function that reads the statement's [`PgSnapshot`]
//! from the [`PgContext`] config extension when it runs. Functions DataFusion
//! already has (`array_to_string`, `string_to_array`, `generate_series`, …) are not
//! repeated here.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, ListArray, ListBuilder,
    StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::types::{builtin_type, format_type, type_oid_by_name};
use super::{
    OWNER_OID, PG_CATALOG_NAMESPACE, PUBLIC_NAMESPACE, PgContext, PgSnapshot, RelKind, Relation,
};

/// The arguments of one call, as arrays of equal length.
struct Call<'a> {
    snapshot: &'a PgSnapshot,
    args: Vec<ArrayRef>,
    rows: usize,
}

impl Call<'_> {
    fn texts(&self, i: usize) -> DfResult<StringArray> {
        match self.args.get(i) {
            Some(a) => Ok(cast(a, &DataType::Utf8)?.as_string::<i32>().clone()),
            None => Ok(StringArray::new_null(self.rows)),
        }
    }

    fn ints(&self, i: usize) -> DfResult<Int64Array> {
        match self.args.get(i) {
            Some(a) => Ok(cast(a, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone()),
            None => Ok(Int64Array::new_null(self.rows)),
        }
    }

    fn bools(&self, i: usize) -> DfResult<BooleanArray> {
        match self.args.get(i) {
            Some(a) => Ok(cast(a, &DataType::Boolean)?.as_boolean().clone()),
            None => Ok(BooleanArray::new_null(self.rows)),
        }
    }

    fn is_text(&self, i: usize) -> bool {
        self.args.get(i).is_some_and(|a| {
            matches!(
                a.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
    }

    /// One text per row.
    fn text_each(&self, f: impl Fn(usize) -> DfResult<Option<String>>) -> DfResult<ArrayRef> {
        let values = (0..self.rows).map(f).collect::<DfResult<Vec<_>>>()?;
        Ok(Arc::new(StringArray::from(values)))
    }

    /// The same text on every row.
    fn text_all(&self, value: Option<&str>) -> DfResult<ArrayRef> {
        Ok(Arc::new(StringArray::from(vec![value; self.rows])))
    }

    fn bool_all(&self, value: Option<bool>) -> DfResult<ArrayRef> {
        Ok(Arc::new(BooleanArray::from(vec![value; self.rows])))
    }

    /// The relation an argument names: an oid, or a (possibly qualified) name.
    fn relation(&self, i: usize, row: usize) -> DfResult<Option<&Relation>> {
        if self.is_text(i) {
            let names = self.texts(i)?;
            if names.is_null(row) {
                return Ok(None);
            }
            return lookup_relation(self.snapshot, names.value(row));
        }
        let oids = self.ints(i)?;
        Ok(oid_at(&oids, row).and_then(|oid| self.snapshot.relation(oid)))
    }
}

fn oid_at(array: &Int64Array, row: usize) -> Option<i32> {
    (!array.is_null(row)).then(|| array.value(row) as i32)
}

/// What a function returns.
#[derive(Clone, Copy)]
enum Returns {
    Type(fn() -> DataType),
    /// Depends on the arguments' types.
    ByArgs(fn(&[DataType]) -> DataType),
}

type Eval = fn(&Call) -> DfResult<ArrayRef>;

/// A PostgreSQL function: a name (and aliases), the argument counts it takes, what it
/// returns and how it computes a batch.
struct PgFunction {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    returns: Returns,
    eval: Eval,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction")
            .field("name", &self.name)
            .finish()
    }
}

// Functions are identified by name: two with one name are the same function.
impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for PgFunction {}
impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.returns {
            Returns::Type(f) => f(),
            Returns::ByArgs(f) => f(arg_types),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let context = args
            .config_options
            .extensions
            .get::<PgContext>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{} ran without a catalog snapshot", self.name))
            })?;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<Vec<_>>>()?;
        let call = Call {
            snapshot: &context.0,
            args: arrays,
            rows,
        };
        let result = (self.eval)(&call)?;
        let expected = self.return_type(
            &args
                .arg_fields
                .iter()
                .map(|f| f.data_type().clone())
                .collect::<Vec<_>>(),
        )?;
        let result = if result.data_type() == &expected {
            result
        } else {
            cast(&result, &expected)?
        };
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

fn text() -> DataType {
    DataType::Utf8
}
fn boolean() -> DataType {
    DataType::Boolean
}
fn int4() -> DataType {
    DataType::Int32
}
fn int8() -> DataType {
    DataType::Int64
}
fn text_array() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// A signature accepting any argument types, with one of `counts` arguments.
fn arities(counts: &[usize]) -> Signature {
    let signatures = counts
        .iter()
        .map(|&n| {
            if n == 0 {
                TypeSignature::Nullary
            } else {
                TypeSignature::Any(n)
            }
        })
        .collect();
    Signature::one_of(signatures, Volatility::Stable)
}

fn function(
    name: &'static str,
    counts: &[usize],
    returns: fn() -> DataType,
    eval: Eval,
) -> PgFunction {
    PgFunction {
        name,
        aliases: Vec::new(),
        signature: arities(counts),
        returns: Returns::Type(returns),
        eval,
    }
}

fn privilege(name: &'static str) -> PgFunction {
    function(name, &[2, 3, 4], boolean, |c| c.bool_all(Some(true)))
}

fn null_text(name: &'static str, counts: &[usize]) -> PgFunction {
    function(name, counts, text, |c| c.text_all(None))
}

/// Every function this module adds to a planning context.
static FUNCTIONS: LazyLock<Vec<Arc<ScalarUDF>>> = LazyLock::new(|| {
    let mut functions = vec![
        function("version", &[0], text, |c| c.text_all(Some(&version()))),
        function("current_setting", &[1, 2], text, current_setting),
        function("current_schema", &[0], text, |c| c.text_all(Some("public"))),
        function("current_schemas", &[1], text_array, current_schemas),
        PgFunction {
            aliases: vec!["current_catalog".into()],
            ..function("current_database", &[0], text, |c| {
                c.text_all(Some(c.snapshot.database()))
            })
        },
        PgFunction {
            aliases: ["session_user", "user", "current_role"]
                .map(String::from)
                .to_vec(),
            ..function("current_user", &[0], text, |c| {
                c.text_all(Some(c.snapshot.user()))
            })
        },
        function("pg_backend_pid", &[0], int4, |c| {
            Ok(Arc::new(Int32Array::from(vec![
                std::process::id() as i32;
                c.rows
            ])))
        }),
        function("pg_is_in_recovery", &[0], boolean, |c| {
            c.bool_all(Some(false))
        }),
        function("pg_is_other_temp_schema", &[1], boolean, |c| {
            c.bool_all(Some(false))
        }),
        function("pg_my_temp_schema", &[0], int4, |c| {
            Ok(Arc::new(Int32Array::from(vec![0; c.rows])))
        }),
        function("pg_table_is_visible", &[1], boolean, table_is_visible),
        function("pg_type_is_visible", &[1], boolean, type_is_visible),
        function("pg_function_is_visible", &[1], boolean, |c| {
            c.bool_all(Some(true))
        }),
        function("format_type", &[2], text, format_type_fn),
        function("pg_get_expr", &[2, 3], text, |c| {
            let exprs = c.texts(0)?;
            c.text_each(|row| Ok((!exprs.is_null(row)).then(|| exprs.value(row).to_string())))
        }),
        function("pg_get_constraintdef", &[1, 2], text, constraintdef),
        function("pg_get_indexdef", &[1, 3], text, indexdef),
        function("pg_get_userbyid", &[1], text, userbyid),
        function("col_description", &[2], text, col_description),
        function("obj_description", &[1, 2], text, obj_description),
        null_text("shobj_description", &[2]),
        function("pg_get_viewdef", &[1, 2], text, viewdef),
        function("quote_ident", &[1], text, |c| {
            let names = c.texts(0)?;
            c.text_each(|row| Ok((!names.is_null(row)).then(|| quote_ident(names.value(row)))))
        }),
        function("quote_literal", &[1], text, |c| {
            let values = c.texts(0)?;
            c.text_each(|row| Ok((!values.is_null(row)).then(|| quote_literal(values.value(row)))))
        }),
        function("parse_ident", &[1, 2], text_array, parse_ident_fn),
        function("pg_size_pretty", &[1], text, size_pretty),
        function("pg_table_size", &[1], int8, relation_size),
        function("pg_total_relation_size", &[1], int8, relation_size),
        function("pg_relation_size", &[1, 2], int8, relation_size),
        function("pg_indexes_size", &[1], int8, relation_size),
        function("pg_encoding_to_char", &[1], text, |c| {
            let codes = c.ints(0)?;
            c.text_each(|row| {
                Ok((!codes.is_null(row))
                    .then(|| if codes.value(row) == 6 { "UTF8" } else { "" }.to_string()))
            })
        }),
        // bigint, not PostgreSQL's integer: DataFusion's generate_series takes bigints.
        function("array_lower", &[2], int8, |c| array_bound(c, false)),
        function("array_upper", &[2], int8, |c| array_bound(c, true)),
        function("to_regclass", &[1], int4, to_regclass),
        function("to_regtype", &[1], int4, to_regtype),
        PgFunction {
            signature: Signature::variadic_any(Volatility::Stable),
            ..function("format", &[1], text, format_fn)
        },
        function("regclass", &[1], int4, regclass),
        function("regtype", &[1], int4, regtype),
        function("regnamespace", &[1], int4, regnamespace),
        function("regproc", &[1], text, regproc),
        function("regclassout", &[1], text, regclassout),
        function("regtypeout", &[1], text, regtypeout),
        function("regnamespaceout", &[1], text, regnamespaceout),
        function("pg_relation_is_publishable", &[1], boolean, |c| {
            c.bool_all(Some(false))
        }),
        function("pg_tablespace_location", &[1], text, |c| {
            c.text_all(Some(""))
        }),
        null_text("pg_get_ruledef", &[1, 2]),
        null_text("pg_get_triggerdef", &[1, 2]),
        null_text("pg_get_statisticsobjdef_columns", &[1]),
        null_text("pg_get_partkeydef", &[1]),
        null_text("pg_get_function_result", &[1]),
        null_text("pg_get_function_arguments", &[1]),
        null_text("pg_get_function_identity_arguments", &[1]),
        null_text("pg_get_serial_sequence", &[2]),
        PgFunction {
            returns: Returns::ByArgs(expanded_array),
            ..function("_pg_expandarray", &[1], text, expand_array)
        },
        function("pg_collation_is_visible", &[1], boolean, |c| {
            c.bool_all(Some(true))
        }),
    ];
    for name in [
        "has_table_privilege",
        "has_any_column_privilege",
        "has_column_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_function_privilege",
        "has_sequence_privilege",
        "has_type_privilege",
        "has_tablespace_privilege",
        "has_language_privilege",
        "has_server_privilege",
        "has_foreign_data_wrapper_privilege",
        "pg_has_role",
    ] {
        functions.push(privilege(name));
    }
    functions
        .into_iter()
        .map(|f| Arc::new(ScalarUDF::new_from_impl(f)))
        .collect()
});

/// The functions to register in a planning context.
pub(crate) fn all() -> &'static [Arc<ScalarUDF>] {
    &FUNCTIONS
}

/// The names of this module's functions, for `pg_proc`.
pub(crate) fn function_names() -> Vec<&'static str> {
    FUNCTIONS.iter().map(|f| f.name()).collect()
}

/// `version()`: SQLAlchemy and others parse the `PostgreSQL 16.x` prefix.
pub(crate) fn version() -> String {
    format!(
        "PostgreSQL 16.4 (Vigil {}) on {}-unknown-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

fn current_setting(c: &Call) -> DfResult<ArrayRef> {
    let names = c.texts(0)?;
    let missing_ok = c.bools(1)?;
    c.text_each(|row| {
        if names.is_null(row) {
            return Ok(None);
        }
        let name = names.value(row);
        match c.snapshot.setting(name) {
            Some(value) => Ok(Some(value.to_string())),
            None if !missing_ok.is_null(row) && missing_ok.value(row) => Ok(None),
            None => exec_err!("unrecognized configuration parameter \"{name}\""),
        }
    })
}

fn current_schemas(c: &Call) -> DfResult<ArrayRef> {
    let implicit = c.bools(0)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for row in 0..c.rows {
        if implicit.is_null(row) {
            out.append_null();
            continue;
        }
        if implicit.value(row) {
            out.values().append_value("pg_catalog");
        }
        out.values().append_value("public");
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn table_is_visible(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    let values: Vec<Option<bool>> = (0..c.rows)
        .map(|row| {
            let oid = oid_at(&oids, row)?;
            // Visible means found through the search path (public, then pg_catalog);
            // information_schema's relations exist but are not on it.
            let relation = c
                .snapshot
                .relation(oid)
                .or_else(|| c.snapshot.relation_of_key(oid))?;
            Some(matches!(
                relation.namespace,
                PUBLIC_NAMESPACE | PG_CATALOG_NAMESPACE
            ))
        })
        .collect();
    Ok(Arc::new(BooleanArray::from(values)))
}

fn type_is_visible(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    let values: Vec<Option<bool>> = (0..c.rows)
        .map(|row| builtin_type(oid_at(&oids, row)?).map(|_| true))
        .collect();
    Ok(Arc::new(BooleanArray::from(values)))
}

fn format_type_fn(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    let typmods = c.ints(1)?;
    c.text_each(|row| {
        let Some(oid) = oid_at(&oids, row) else {
            return Ok(None);
        };
        let typmod = (!typmods.is_null(row)).then(|| typmods.value(row) as i32);
        Ok(Some(format_type(oid, typmod)))
    })
}

fn constraintdef(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    c.text_each(|row| {
        Ok(oid_at(&oids, row)
            .and_then(|oid| c.snapshot.relation_of_key(oid))
            .map(super::tables::constraint_definition))
    })
}

fn indexdef(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    let columns = c.ints(1)?;
    c.text_each(|row| {
        let Some(relation) = oid_at(&oids, row).and_then(|oid| c.snapshot.relation_of_key(oid))
        else {
            return Ok(None);
        };
        let column = if columns.is_null(row) {
            0
        } else {
            columns.value(row)
        };
        if column <= 0 {
            return Ok(Some(super::tables::index_definition(relation)));
        }
        Ok(usize::try_from(column - 1)
            .ok()
            .and_then(|i| relation.primary_key.get(i))
            .and_then(|&p| relation.columns.get(p))
            .map(|a| quote_ident(&a.name)))
    })
}

fn userbyid(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    c.text_each(|row| {
        Ok(oid_at(&oids, row).map(|oid| {
            if oid == OWNER_OID {
                c.snapshot.user().to_string()
            } else {
                format!("unknown (OID={oid})")
            }
        }))
    })
}

fn col_description(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    let columns = c.ints(1)?;
    c.text_each(|row| {
        let (Some(oid), false) = (oid_at(&oids, row), columns.is_null(row)) else {
            return Ok(None);
        };
        Ok(c.snapshot
            .comment(oid, columns.value(row) as i32)
            .map(str::to_string))
    })
}

fn obj_description(c: &Call) -> DfResult<ArrayRef> {
    let oids = c.ints(0)?;
    let catalogs = c.texts(1)?;
    c.text_each(|row| {
        // Only relations have comments; other catalogs' objects have none.
        if c.args.len() > 1 && (catalogs.is_null(row) || catalogs.value(row) != "pg_class") {
            return Ok(None);
        }
        Ok(oid_at(&oids, row)
            .and_then(|oid| c.snapshot.comment(oid, 0))
            .map(str::to_string))
    })
}

fn viewdef(c: &Call) -> DfResult<ArrayRef> {
    c.text_each(|row| {
        Ok(c.relation(0, row)?
            .filter(|r| matches!(r.kind, RelKind::View | RelKind::MaterializedView))
            .and_then(|r| r.definition.clone()))
    })
}

/// `quote_ident`: quotes a name unless PostgreSQL would read it back unchanged.
pub(crate) fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !is_keyword(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn quote_literal(value: &str) -> String {
    let escaped = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", escaped.replace('\\', "\\\\"))
    } else {
        format!("'{escaped}'")
    }
}

/// PostgreSQL's keywords that `quote_ident` quotes: all but the unreserved ones.
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "bigint",
        "binary",
        "bit",
        "boolean",
        "both",
        "case",
        "cast",
        "char",
        "character",
        "check",
        "coalesce",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "dec",
        "decimal",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "extract",
        "false",
        "fetch",
        "float",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "greatest",
        "group",
        "grouping",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "inout",
        "int",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "join",
        "json",
        "json_array",
        "json_arrayagg",
        "json_object",
        "json_objectagg",
        "lateral",
        "leading",
        "least",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "national",
        "natural",
        "nchar",
        "none",
        "normalize",
        "not",
        "notnull",
        "null",
        "nullif",
        "numeric",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "out",
        "outer",
        "overlaps",
        "overlay",
        "placing",
        "position",
        "precision",
        "primary",
        "real",
        "references",
        "returning",
        "right",
        "row",
        "select",
        "session_user",
        "setof",
        "similar",
        "smallint",
        "some",
        "substring",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "time",
        "timestamp",
        "to",
        "trailing",
        "treat",
        "trim",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "varchar",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
        "xmlattributes",
        "xmlconcat",
        "xmlelement",
        "xmlexists",
        "xmlforest",
        "xmlnamespaces",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
        "xmltable",
    ];
    KEYWORDS.binary_search(&name).is_ok()
}

/// `parse_ident`: splits a qualified name into its parts, unquoting quoted parts and
/// lowercasing the rest.
pub(crate) fn parse_ident(text: &str) -> Result<Vec<String>, String> {
    let invalid = || format!("string is not a valid identifier: \"{text}\"");
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(invalid()),
                }
            }
            if part.is_empty() {
                return Err(invalid());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c.is_whitespace() {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
            if part.is_empty() {
                return Err(invalid());
            }
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(parts),
            Some('.') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return Err(invalid()),
        }
    }
}

fn parse_ident_fn(c: &Call) -> DfResult<ArrayRef> {
    let texts = c.texts(0)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for row in 0..c.rows {
        if texts.is_null(row) {
            out.append_null();
            continue;
        }
        let parts = parse_ident(texts.value(row)).map_err(DataFusionError::Execution)?;
        for part in parts {
            out.values().append_value(part);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// `pg_size_pretty`: bytes in the largest unit that keeps at least 10 of them,
/// rounded half up, as PostgreSQL prints them.
fn size_pretty(c: &Call) -> DfResult<ArrayRef> {
    let sizes = c.ints(0)?;
    c.text_each(|row| Ok((!sizes.is_null(row)).then(|| pretty_size(sizes.value(row)))))
}

fn pretty_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    const LIMIT: i64 = 10 * 1024;
    if bytes.abs() < LIMIT {
        return format!("{bytes} bytes");
    }
    // One bit more than the unit needs, for rounding half away from zero.
    let mut size = bytes >> 9;
    for (i, unit) in UNITS.iter().enumerate() {
        if size.abs() < 2 * LIMIT - 1 || i == UNITS.len() - 1 {
            return format!("{} {unit}", (size + size.signum()) / 2);
        }
        size >>= 10;
    }
    format!("{bytes} bytes")
}

/// Vigil keeps rows in arrangements, not in relation files: sizes are 0 bytes.
fn relation_size(c: &Call) -> DfResult<ArrayRef> {
    let values = (0..c.rows)
        .map(|row| Ok(c.relation(0, row)?.map(|_| 0i64)))
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Arc::new(Int64Array::from(values)))
}

fn array_bound(c: &Call, upper: bool) -> DfResult<ArrayRef> {
    let Some(array) = c.args.first() else {
        return exec_err!("array_lower and array_upper take an array");
    };
    let dimensions = c.ints(1)?;
    let lengths: Vec<Option<usize>> = match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            (0..c.rows)
                .map(|row| (!list.is_null(row)).then(|| list.value_length(row) as usize))
                .collect()
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            (0..c.rows)
                .map(|row| (!list.is_null(row)).then(|| list.value_length(row) as usize))
                .collect()
        }
        DataType::Null => vec![None; c.rows],
        other => return exec_err!("function array_lower does not exist for type {other}"),
    };
    let values: Vec<Option<i64>> = (0..c.rows)
        .map(|row| {
            let length = lengths[row].filter(|&n| n > 0)?;
            if dimensions.is_null(row) || dimensions.value(row) != 1 {
                return None;
            }
            Some(if upper { length as i64 } else { 1 })
        })
        .collect();
    Ok(Arc::new(Int64Array::from(values)))
}

/// Looks a relation name up as `regclass` input does; `Err` for malformed names.
pub(crate) fn lookup_relation<'a>(
    snapshot: &'a PgSnapshot,
    name: &str,
) -> Result<Option<&'a Relation>, DataFusionError> {
    if let Ok(oid) = name.trim().parse::<i32>() {
        return Ok(snapshot.relation(oid));
    }
    let parts = parse_ident(name).map_err(DataFusionError::Execution)?;
    Ok(match parts.as_slice() {
        [relation] => snapshot.resolve(None, relation),
        [schema, relation] => snapshot.resolve(Some(schema), relation),
        [_, schema, relation] => snapshot.resolve(Some(schema), relation),
        _ => None,
    })
}

/// The error a failed relation lookup reports. `crate::coord::from_datafusion` reads
/// a planning error of this form as undefined_table (42P01).
pub(crate) fn unknown_relation(name: &str) -> DataFusionError {
    DataFusionError::Plan(format!("table '{name}' not found"))
}

fn to_regclass(c: &Call) -> DfResult<ArrayRef> {
    let names = c.texts(0)?;
    let values = (0..c.rows)
        .map(|row| {
            if names.is_null(row) {
                return Ok(None);
            }
            Ok(lookup_relation(c.snapshot, names.value(row))
                .ok()
                .flatten()
                .map(|r| r.oid))
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Arc::new(Int32Array::from(values)))
}

fn to_regtype(c: &Call) -> DfResult<ArrayRef> {
    let names = c.texts(0)?;
    let values: Vec<Option<i32>> = (0..c.rows)
        .map(|row| {
            if names.is_null(row) {
                return None;
            }
            type_oid_by_name(names.value(row))
        })
        .collect();
    Ok(Arc::new(Int32Array::from(values)))
}

/// The element type of a list type, if it is one.
fn element_type(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) => Some(item.data_type()),
        _ => None,
    }
}

fn expanded_fields(element: DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element, true),
        Field::new("n", DataType::Int32, false),
    ])
}

/// `_pg_expandarray(a)` before unnesting: each element with its 1-based position,
/// as a list of `(x, n)` records ([`super::rewrite`] adds the `unnest`).
fn expanded_array(args: &[DataType]) -> DataType {
    let element = args
        .first()
        .and_then(element_type)
        .cloned()
        .unwrap_or(DataType::Null);
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(expanded_fields(element)),
        true,
    )))
}

fn expand_array(c: &Call) -> DfResult<ArrayRef> {
    let Some(array) = c.args.first() else {
        return exec_err!("_pg_expandarray takes an array");
    };
    let list = cast(
        array,
        &DataType::List(Arc::new(Field::new_list_field(
            element_type(array.data_type())
                .cloned()
                .unwrap_or(DataType::Null),
            true,
        ))),
    )?;
    let list = list.as_list::<i32>();
    let offsets = list.offsets();
    let positions: Int32Array = (0..list.len())
        .flat_map(|row| {
            let length = (offsets[row + 1] - offsets[row]) as i32;
            1..=length
        })
        .map(Some)
        .collect();
    let first = offsets.first().copied().unwrap_or(0) as usize;
    let last = offsets.last().copied().unwrap_or(0) as usize;
    let values = list.values().slice(first, last - first);
    let fields = expanded_fields(values.data_type().clone());
    let records = StructArray::try_new(fields.clone(), vec![values, Arc::new(positions)], None)?;
    let rebased = OffsetBuffer::new(offsets.iter().map(|o| o - offsets[0]).collect());
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
        rebased,
        Arc::new(records),
        list.nulls().cloned(),
    )?))
}

/// The oids of a `reg*` cast's argument: text is looked up by `lookup` (an unknown
/// name is an error), an integer is an oid already.
fn reg_oids(c: &Call, lookup: impl Fn(&str) -> DfResult<i32>) -> DfResult<Int32Array> {
    if !c.is_text(0) {
        return Ok(cast(&c.ints(0)?, &DataType::Int32)?.as_primitive().clone());
    }
    let names = c.texts(0)?;
    (0..c.rows)
        .map(|row| {
            if names.is_null(row) {
                return Ok(None);
            }
            lookup(names.value(row)).map(Some)
        })
        .collect()
}

/// Each oid printed by `print`, or as its number when `print` knows no such object.
fn print_oids(oids: &Int32Array, print: impl Fn(i32) -> Option<String>) -> ArrayRef {
    let values: StringArray = oids
        .iter()
        .map(|oid| oid.map(|oid| print(oid).unwrap_or_else(|| oid.to_string())))
        .collect();
    Arc::new(values)
}

/// `x::regclass`: the oid of the relation a name or an oid names. Vigil's `regclass`
/// values are these oids, so they compare with `pg_class.oid`; the rewrite prints
/// them with [`regclassout`] where PostgreSQL prints a regclass.
fn regclass(c: &Call) -> DfResult<ArrayRef> {
    Ok(Arc::new(regclass_oids(c)?))
}

fn regclass_oids(c: &Call) -> DfResult<Int32Array> {
    reg_oids(c, |name| match lookup_relation(c.snapshot, name)? {
        Some(r) => Ok(r.oid),
        None => Err(unknown_relation(name)),
    })
}

/// `regclassout(x::regclass)`: the relation's name as PostgreSQL prints a regclass,
/// qualified only when the search path would not find it by its bare name.
fn regclassout(c: &Call) -> DfResult<ArrayRef> {
    let oids = regclass_oids(c)?;
    Ok(print_oids(&oids, |oid| {
        if let Some(relation) = c.snapshot.relation(oid) {
            return Some(relation_display_name(c.snapshot, relation));
        }
        c.snapshot
            .relation_of_key(oid)
            .map(|r| quote_ident(&r.pkey_name()))
    }))
}

fn relation_display_name(snapshot: &PgSnapshot, relation: &Relation) -> String {
    let visible = snapshot
        .resolve(None, &relation.name)
        .is_some_and(|found| found.oid == relation.oid);
    match PgSnapshot::namespace_name(relation.namespace) {
        Some(schema) if !visible => {
            format!("{}.{}", quote_ident(schema), quote_ident(&relation.name))
        }
        _ => quote_ident(&relation.name),
    }
}

/// `x::regtype`: the oid of the type a name or an oid names.
fn regtype(c: &Call) -> DfResult<ArrayRef> {
    Ok(Arc::new(regtype_oids(c)?))
}

fn regtype_oids(c: &Call) -> DfResult<Int32Array> {
    reg_oids(c, |name| match type_oid_by_name(name) {
        Some(oid) => Ok(oid),
        None => exec_err!("type \"{name}\" does not exist"),
    })
}

/// `regtypeout(x::regtype)`: the type's SQL name.
fn regtypeout(c: &Call) -> DfResult<ArrayRef> {
    let oids = regtype_oids(c)?;
    Ok(print_oids(&oids, |oid| {
        builtin_type(oid).map(|_| format_type(oid, None))
    }))
}

/// `x::regnamespace`: the oid of the schema a name or an oid names.
fn regnamespace(c: &Call) -> DfResult<ArrayRef> {
    Ok(Arc::new(regnamespace_oids(c)?))
}

fn regnamespace_oids(c: &Call) -> DfResult<Int32Array> {
    reg_oids(c, |name| match PgSnapshot::namespace_oid(name) {
        Some(oid) => Ok(oid),
        None => exec_err!("schema \"{name}\" does not exist"),
    })
}

/// `regnamespaceout(x::regnamespace)`: the schema's name.
fn regnamespaceout(c: &Call) -> DfResult<ArrayRef> {
    let oids = regnamespace_oids(c)?;
    Ok(print_oids(&oids, |oid| {
        PgSnapshot::namespace_name(oid).map(str::to_string)
    }))
}

/// `x::regproc`: functions are known by name, so a name stays a name, without its
/// `pg_catalog.` qualifier.
fn regproc(c: &Call) -> DfResult<ArrayRef> {
    let names = c.texts(0)?;
    c.text_each(|row| {
        Ok((!names.is_null(row)).then(|| {
            let name = names.value(row);
            name.strip_prefix("pg_catalog.").unwrap_or(name).to_string()
        }))
    })
}

/// `format(template, args…)` with `%s`, `%I`, `%L` and `%%`.
fn format_fn(c: &Call) -> DfResult<ArrayRef> {
    let templates = c.texts(0)?;
    let args = (1..c.args.len())
        .map(|i| c.texts(i))
        .collect::<DfResult<Vec<_>>>()?;
    c.text_each(|row| {
        if templates.is_null(row) {
            return Ok(None);
        }
        let value = |i: usize| -> DfResult<Option<&str>> {
            let Some(array) = args.get(i) else {
                return exec_err!("too few arguments for format()");
            };
            Ok((!array.is_null(row)).then(|| array.value(row)))
        };
        let mut out = String::new();
        let mut next = 0;
        let mut chars = templates.value(row).chars();
        while let Some(ch) = chars.next() {
            if ch != '%' {
                out.push(ch);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('s') => {
                    out.push_str(value(next)?.unwrap_or(""));
                    next += 1;
                }
                Some('I') => {
                    match value(next)? {
                        Some(v) => out.push_str(&quote_ident(v)),
                        None => {
                            return exec_err!(
                                "null values cannot be formatted as an SQL identifier"
                            );
                        }
                    }
                    next += 1;
                }
                Some('L') => {
                    match value(next)? {
                        Some(v) => out.push_str(&quote_literal(v)),
                        None => out.push_str("NULL"),
                    }
                    next += 1;
                }
                other => {
                    return exec_err!(
                        "unrecognized format() type specifier \"{}\"",
                        other.map(String::from).unwrap_or_default()
                    );
                }
            }
        }
        Ok(Some(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_quotes_what_postgres_quotes() {
        assert_eq!(quote_ident("orders"), "orders");
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("my table"), "\"my table\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("name"), "name");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
    }

    #[test]
    fn keywords_are_sorted_for_binary_search() {
        assert!(is_keyword("user") && is_keyword("select") && !is_keyword("name"));
    }

    #[test]
    fn parse_ident_splits_and_unquotes() {
        assert_eq!(parse_ident("public.Games").unwrap(), ["public", "games"]);
        assert_eq!(parse_ident("\"My Schema\".t").unwrap(), ["My Schema", "t"]);
        assert_eq!(parse_ident("a . b").unwrap(), ["a", "b"]);
        assert!(parse_ident("a.").is_err());
        assert!(parse_ident("\"unterminated").is_err());
    }

    #[test]
    fn sizes_print_like_postgres() {
        assert_eq!(pretty_size(0), "0 bytes");
        assert_eq!(pretty_size(10239), "10239 bytes");
        assert_eq!(pretty_size(10240), "10 kB");
        assert_eq!(pretty_size(1_000_000), "977 kB");
        assert_eq!(pretty_size(123_456_789), "118 MB");
        assert_eq!(pretty_size(10 * 1024 * 1024 * 1024), "10 GB");
    }

    #[test]
    fn version_reports_postgres_16() {
        assert!(version().starts_with("PostgreSQL 16."));
    }
}
