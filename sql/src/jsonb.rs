//! `jsonb` and `json` in DataFusion: the type names, and the `->` and `->>` operators.
//!
//! A jsonb value is a string in its canonical text form, in an Arrow `Utf8` field
//! marked with [`JSONB_METADATA_KEY`] so results keep PostgreSQL's jsonb type (OID
//! 3802). A json value (OID 114) is its text as written, in a field marked `json`:
//! clients such as asyncpg pick their codec by the OID, so `json` must not turn
//! into jsonb. `->` returns the document's type, `->>` text; both take an object
//! key or an array index (negative counts from the end), and yield NULL where the
//! path is absent. On json they return the member's text as written, as
//! PostgreSQL does.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DFSchema, Result as DfResult, exec_datafusion_err, exec_err};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, TypePlanner};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::{BinaryOperator, DataType as SqlType};
use vigil_engine::repr::arrow::{JSON_METADATA_VALUE, JSONB_METADATA_KEY, JSONB_METADATA_VALUE};
use vigil_engine::repr::json_text;
use vigil_engine::repr::text::canonical_jsonb;

/// A `Utf8` field that holds jsonb.
pub fn jsonb_field(name: &str) -> Field {
    tagged_field(name, JSONB_METADATA_VALUE)
}

/// A `Utf8` field that holds json.
pub fn json_field(name: &str) -> Field {
    tagged_field(name, JSON_METADATA_VALUE)
}

fn tagged_field(name: &str, tag: &str) -> Field {
    Field::new(name, DataType::Utf8, true).with_metadata(HashMap::from([(
        JSONB_METADATA_KEY.to_string(),
        tag.to_string(),
    )]))
}

/// Whether a field holds json (not jsonb, not text).
fn is_json(field: &Field) -> bool {
    field
        .metadata()
        .get(JSONB_METADATA_KEY)
        .is_some_and(|tag| tag == JSON_METADATA_VALUE)
}

/// Plans the SQL type names `jsonb` and `json` as jsonb and json fields.
#[derive(Debug)]
pub struct JsonbTypes;

impl TypePlanner for JsonbTypes {
    fn plan_type_field(&self, sql_type: &SqlType) -> DfResult<Option<FieldRef>> {
        let name = match sql_type {
            SqlType::JSONB => "jsonb".to_owned(),
            SqlType::JSON => "json".to_owned(),
            SqlType::Custom(name, modifiers) if modifiers.is_empty() => {
                name.to_string().to_lowercase()
            }
            _ => return Ok(None),
        };
        Ok(match name.as_str() {
            "jsonb" => Some(Arc::new(jsonb_field(""))),
            "json" => Some(Arc::new(json_field(""))),
            _ => None,
        })
    }
}

/// Plans `a -> b` and `a ->> b`.
#[derive(Debug)]
pub struct JsonbOperators;

impl ExprPlanner for JsonbOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let function = match expr.op {
            BinaryOperator::Arrow => &*JSONB_GET,
            BinaryOperator::LongArrow => &*JSONB_GET_TEXT,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        Ok(PlannerResult::Planned(
            function.call(vec![expr.left, expr.right]),
        ))
    }
}

/// `CAST(expr AS target)` where `target` is jsonb or json and `expr` a string of
/// another of text, json and jsonb, as PostgreSQL evaluates it: Arrow's cast
/// between two `Utf8` fields keeps the text as it is, but jsonb needs it canonical
/// and json needs it valid.
pub fn json_input(expr: Expr, target: JsonType) -> Expr {
    match target {
        JsonType::Jsonb => JSONB_IN.call(vec![expr]),
        JsonType::Json => JSON_IN.call(vec![expr]),
    }
}

/// The two JSON types a string cast can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JsonType {
    Jsonb,
    Json,
}

static JSONB_IN: LazyLock<ScalarUDF> =
    LazyLock::new(|| ScalarUDF::from(JsonIn::new(JsonType::Jsonb)));
static JSON_IN: LazyLock<ScalarUDF> =
    LazyLock::new(|| ScalarUDF::from(JsonIn::new(JsonType::Json)));

/// `jsonb_in`/`json_in` over a string column.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonIn {
    target: JsonType,
    signature: Signature,
}

impl JsonIn {
    fn new(target: JsonType) -> Self {
        JsonIn {
            target,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonIn {
    fn name(&self) -> &str {
        match self.target {
            JsonType::Jsonb => "jsonb_in",
            JsonType::Json => "json_in",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(match self.target {
            JsonType::Jsonb => jsonb_field(self.name()),
            JsonType::Json => json_field(self.name()),
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let [text] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let text = cast(&text.to_array(rows)?, &DataType::Utf8)?;
        let texts = text.as_string::<i32>();
        let type_name = match self.target {
            JsonType::Jsonb => "jsonb",
            JsonType::Json => "json",
        };
        let mut out = StringBuilder::with_capacity(rows, texts.value_data().len());
        for text in texts.iter() {
            let Some(text) = text else {
                out.append_null();
                continue;
            };
            let invalid = |e: serde_json::Error| {
                exec_datafusion_err!("invalid input syntax for type {type_name}: {e}")
            };
            match self.target {
                JsonType::Jsonb => {
                    let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
                    out.append_value(canonical_jsonb(&value));
                }
                JsonType::Json => {
                    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(invalid)?;
                    out.append_value(text);
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

static JSONB_GET: LazyLock<ScalarUDF> = LazyLock::new(|| ScalarUDF::from(JsonbGet::new(false)));
static JSONB_GET_TEXT: LazyLock<ScalarUDF> = LazyLock::new(|| ScalarUDF::from(JsonbGet::new(true)));

/// `->` (jsonb out) and `->>` (text out).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonbGet {
    as_text: bool,
    signature: Signature,
}

impl JsonbGet {
    fn new(as_text: bool) -> Self {
        JsonbGet {
            as_text,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonbGet {
    fn name(&self) -> &str {
        if self.as_text {
            "jsonb_get_text"
        } else {
            "jsonb_get"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let name = self.name();
        let json = args.arg_fields.first().is_some_and(|f| is_json(f));
        Ok(Arc::new(match (self.as_text, json) {
            (true, _) => Field::new(name, DataType::Utf8, true),
            (false, true) => json_field(name),
            (false, false) => jsonb_field(name),
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let [document, path] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name());
        };
        let document = cast(&document.to_array(rows)?, &DataType::Utf8)?;
        let path: ArrayRef = path.to_array(rows)?;
        let keys = if path.data_type().is_integer() {
            None
        } else {
            Some(cast(&path, &DataType::Utf8)?)
        };
        let indexes = if path.data_type().is_integer() {
            Some(cast(&path, &DataType::Int64)?)
        } else {
            None
        };
        let documents = document.as_string::<i32>();
        if args.arg_fields.first().is_some_and(|f| is_json(f)) {
            return self.get_json(documents, &path, keys.as_ref(), indexes.as_ref());
        }
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if documents.is_null(row) || path.is_null(row) {
                out.append_null();
                continue;
            }
            let value: serde_json::Value = match serde_json::from_str(documents.value(row)) {
                Ok(value) => value,
                Err(e) => return exec_err!("invalid input syntax for type json: {e}"),
            };
            let found = match (&keys, &indexes) {
                (Some(keys), _) => value.get(keys.as_string::<i32>().value(row)),
                (_, Some(indexes)) => {
                    let index = indexes
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(row);
                    value.as_array().and_then(|items| {
                        let position = if index < 0 {
                            items.len() as i64 + index
                        } else {
                            index
                        };
                        usize::try_from(position).ok().and_then(|p| items.get(p))
                    })
                }
                _ => None,
            };
            match found {
                None => out.append_null(),
                Some(serde_json::Value::Null) if self.as_text => out.append_null(),
                Some(serde_json::Value::String(s)) if self.as_text => out.append_value(s),
                Some(other) => out.append_value(canonical_jsonb(other)),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

impl JsonbGet {
    /// `->`/`->>` on json: the member's text as written, found without reparsing
    /// the document into a tree that would lose it.
    fn get_json(
        &self,
        documents: &datafusion::arrow::array::StringArray,
        path: &ArrayRef,
        keys: Option<&ArrayRef>,
        indexes: Option<&ArrayRef>,
    ) -> DfResult<ColumnarValue> {
        let rows = documents.len();
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if documents.is_null(row) || path.is_null(row) {
                out.append_null();
                continue;
            }
            let document = documents.value(row);
            let found = match (keys, indexes) {
                (Some(keys), _) => {
                    json_text::object_field(document, keys.as_string::<i32>().value(row))
                }
                (_, Some(indexes)) => json_text::array_element(
                    document,
                    indexes
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .value(row),
                ),
                (None, None) => Ok(None),
            };
            let found = match found {
                Ok(found) => found,
                Err(e) => return exec_err!("invalid input syntax for type json: {e}"),
            };
            match found {
                None => out.append_null(),
                Some(member) if self.as_text => match json_text::member_as_text(member) {
                    Some(text) => out.append_value(text),
                    None => out.append_null(),
                },
                Some(member) => out.append_value(member),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
