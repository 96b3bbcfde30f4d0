//! `jsonb` in DataFusion: the type name, and the `->` and `->>` operators.
//!
//! A jsonb value is a string in its canonical text form, in an Arrow `Utf8` field
//! marked with [`JSONB_METADATA_KEY`] so results keep PostgreSQL's jsonb type (OID
//! 3802). `->` returns jsonb, `->>` text; both take an object key or an array index
//! (negative counts from the end), and yield NULL where the path is absent.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DFSchema, Result as DfResult, exec_err};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, TypePlanner};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::{BinaryOperator, DataType as SqlType};
use vigil_engine::repr::arrow::JSONB_METADATA_KEY;
use vigil_engine::repr::text::canonical_jsonb;

/// A `Utf8` field that holds jsonb.
pub fn jsonb_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true).with_metadata(HashMap::from([(
        JSONB_METADATA_KEY.to_string(),
        "jsonb".to_string(),
    )]))
}

/// Plans the SQL type names `jsonb` and `json` as jsonb fields.
#[derive(Debug)]
pub struct JsonbTypes;

impl TypePlanner for JsonbTypes {
    fn plan_type_field(&self, sql_type: &SqlType) -> DfResult<Option<FieldRef>> {
        let is_jsonb = match sql_type {
            SqlType::JSONB | SqlType::JSON => true,
            SqlType::Custom(name, modifiers) => {
                modifiers.is_empty()
                    && matches!(name.to_string().to_lowercase().as_str(), "jsonb" | "json")
            }
            _ => false,
        };
        Ok(is_jsonb.then(|| Arc::new(jsonb_field(""))))
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

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let name = self.name();
        Ok(Arc::new(if self.as_text {
            Field::new(name, DataType::Utf8, true)
        } else {
            jsonb_field(name)
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
