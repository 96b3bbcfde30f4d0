//! PostgreSQL semantics for literals, applied to DataFusion's plans before they run.
//!
//! DataFusion reads `'1 day 02:03:04'::interval`, `'{a,b}'::text[]` or
//! `'2024-02-30'::date` with Arrow's casts, which accept other spellings and fail
//! with other errors than PostgreSQL. Vigil's clients write PostgreSQL, so a cast of a
//! string literal to a Vigil type is evaluated here, once, with PostgreSQL's input
//! functions ([`parse_datum`]); a numeric literal cast to an integer rounds as
//! PostgreSQL does. The same applies to the string literals of `INSERT … VALUES`,
//! whose casts DataFusion places in a projection over the VALUES.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::Alias;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, Projection, Values};
use datafusion::sql::sqlparser::ast::{self, Statement, visit_expressions_mut};
use vigil_engine::repr::ScalarType;
use vigil_engine::repr::arrow::{datum_to_scalar_value, scalar_type_of_field};
use vigil_engine::repr::text::parse_datum;

use crate::SqlError;
use crate::coord::from_repr;
use crate::jsonb::{JsonType, json_input};

/// Rewrites every literal cast in `plan` (subqueries included) with PostgreSQL's
/// input semantics.
pub fn apply(plan: LogicalPlan) -> Result<LogicalPlan, SqlError> {
    let mut failure: Option<SqlError> = None;
    let result = plan.transform_up_with_subqueries(|node| {
        let node = cast_values(node, &mut failure)?;
        let input_schema = match node.inputs().as_slice() {
            [input] => Some(Arc::clone(input.schema())),
            _ => None,
        };
        // Rewritten expressions keep their names, so output columns stay as planned.
        let names = NamePreserver::new(&node);
        node.map_expressions(|expr| {
            let saved = names.save(&expr);
            let rewritten =
                expr.transform_up(|e| rewrite_cast(e, input_schema.as_deref(), &mut failure))?;
            Ok(rewritten.update_data(|e| saved.restore(e)))
        })
    });
    if let Some(error) = failure {
        return Err(error);
    }
    result
        .map(|t| t.data)
        .map_err(crate::coord::from_datafusion)
}

/// Rewrites `INTERVAL 'text'` (without field qualifiers) as `CAST('text' AS
/// interval)`, which [`apply`] then reads with PostgreSQL's interval syntax; DataFusion
/// would parse the literal with its own, narrower one while planning.
pub fn rewrite_interval_literals(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let ast::Expr::Interval(interval) = expr
            && interval.leading_field.is_none()
            && interval.last_field.is_none()
            && interval.leading_precision.is_none()
            && interval.fractional_seconds_precision.is_none()
        {
            let value =
                std::mem::replace(interval.value.as_mut(), ast::Expr::value(ast::Value::Null));
            *expr = ast::Expr::Cast {
                kind: ast::CastKind::DoubleColon,
                expr: Box::new(value),
                data_type: ast::DataType::Interval {
                    fields: None,
                    precision: None,
                },
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Records the first failure and stops the traversal with a placeholder error.
fn fail<T>(failure: &mut Option<SqlError>, error: SqlError) -> Result<T, DataFusionError> {
    let message = error.to_string();
    failure.get_or_insert(error);
    Err(DataFusionError::Plan(message))
}

fn rewrite_cast(
    expr: Expr,
    input_schema: Option<&DFSchema>,
    failure: &mut Option<SqlError>,
) -> Result<Transformed<Expr>, DataFusionError> {
    let Expr::Cast(Cast { expr: inner, field }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if let Expr::Literal(value, _) = inner.as_ref() {
        // A jsonb literal stays marked as jsonb, so its column is jsonb too.
        let metadata =
            (!field.metadata().is_empty()).then(|| FieldMetadata::from(field.metadata().clone()));
        return match cast_literal(value, field) {
            Ok(Some(literal)) => Ok(Transformed::yes(Expr::Literal(literal, metadata))),
            Ok(None) => Ok(Transformed::no(expr)),
            Err(error) => fail(failure, error),
        };
    }
    // Arrow's cast between text, json and jsonb (all Utf8) keeps the text as it is.
    if let Some(target) = json_type(field)
        && let Some(schema) = input_schema
        && let Ok((_, source)) = inner.to_field(schema)
        && (scalar_type_of_field(&source).is_ok_and(|ty| ty == ScalarType::Text)
            || json_type(&source).is_some_and(|source| source != target))
    {
        return Ok(Transformed::yes(json_input(inner.as_ref().clone(), target)));
    }
    // PostgreSQL rounds a fractional number cast to an integer; Arrow truncates.
    let fractional = input_schema
        .and_then(|schema| inner.get_type(schema).ok())
        .is_some_and(|t| {
            t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
        });
    if fractional && is_integer(field.data_type()) {
        let rounded = datafusion::functions::math::round().call(vec![inner.as_ref().clone()]);
        return Ok(Transformed::yes(Expr::Cast(Cast {
            expr: Box::new(rounded),
            field: field.clone(),
        })));
    }
    Ok(Transformed::no(expr))
}

/// The JSON type a field holds, if any.
fn json_type(field: &Field) -> Option<JsonType> {
    match scalar_type_of_field(field) {
        Ok(ScalarType::Jsonb) => Some(JsonType::Jsonb),
        Ok(ScalarType::Json) => Some(JsonType::Json),
        _ => None,
    }
}

/// The value of `CAST(value AS field)` under PostgreSQL's rules, where they differ
/// from Arrow's; `None` where Arrow's cast is the same.
fn cast_literal(value: &ScalarValue, field: &Field) -> Result<Option<ScalarValue>, SqlError> {
    let Ok(target) = scalar_type_of_field(field) else {
        return Ok(None);
    };
    let data_type = field.data_type();
    match value {
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text))
            if target != ScalarType::Text =>
        {
            let datum = parse_datum(text, target).map_err(from_repr)?;
            datum_to_scalar_value(&datum, data_type)
                .map(Some)
                .map_err(from_repr)
        }
        ScalarValue::Float64(Some(x)) if is_integer(data_type) => {
            round_into(x.round_ties_even(), data_type)
        }
        ScalarValue::Float32(Some(x)) if is_integer(data_type) => {
            round_into(f64::from(*x).round_ties_even(), data_type)
        }
        ScalarValue::Decimal128(Some(mantissa), _, scale) if is_integer(data_type) => {
            let divisor = 10f64.powi(i32::from(*scale));
            // Half away from zero, as PostgreSQL rounds numeric.
            round_into((*mantissa as f64 / divisor).round(), data_type)
        }
        // Other constant casts fold here, so a cast of a cast reaches the rules above.
        _ => Ok(value.cast_to(data_type).ok()),
    }
}

fn is_integer(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn round_into(x: f64, data_type: &DataType) -> Result<Option<ScalarValue>, SqlError> {
    let out_of_range = || SqlError::OutOfRange(format!("{} out of range for {data_type}", x));
    Ok(Some(match data_type {
        DataType::Int16 if x >= f64::from(i16::MIN) && x <= f64::from(i16::MAX) => {
            ScalarValue::Int16(Some(x as i16))
        }
        DataType::Int32 if x >= f64::from(i32::MIN) && x <= f64::from(i32::MAX) => {
            ScalarValue::Int32(Some(x as i32))
        }
        DataType::Int64 if x >= i64::MIN as f64 && x < i64::MAX as f64 => {
            ScalarValue::Int64(Some(x as i64))
        }
        _ => return Err(out_of_range()),
    }))
}

/// In a projection over VALUES (how DataFusion plans `INSERT … VALUES`), moves the
/// casts of columns that hold only literals into the VALUES rows, where
/// [`rewrite_cast`] evaluates them.
fn cast_values(
    node: LogicalPlan,
    failure: &mut Option<SqlError>,
) -> Result<LogicalPlan, DataFusionError> {
    let LogicalPlan::Projection(projection) = &node else {
        return Ok(node);
    };
    let LogicalPlan::Values(values) = projection.input.as_ref() else {
        return Ok(node);
    };
    let mut rows = values.values.clone();
    let mut exprs = Vec::with_capacity(projection.expr.len());
    let mut changed = false;
    for expr in &projection.expr {
        let (inner, alias) = match expr {
            Expr::Alias(Alias { expr, name, .. }) => (expr.as_ref(), Some(name.clone())),
            other => (other, None),
        };
        let pushed = match inner {
            Expr::Cast(Cast {
                expr: column,
                field,
            }) => match column.as_ref() {
                Expr::Column(c) => values
                    .schema
                    .index_of_column(c)
                    .ok()
                    .filter(|&i| rows.iter().all(|row| matches!(row[i], Expr::Literal(_, _))))
                    .map(|i| (i, field.clone())),
                _ => None,
            },
            _ => None,
        };
        match pushed {
            Some((index, field)) => {
                for row in rows.iter_mut() {
                    let Expr::Literal(value, _) = &row[index] else {
                        continue;
                    };
                    let cast = if value.is_null() {
                        ScalarValue::try_from(field.data_type())
                    } else {
                        match cast_literal(value, &field) {
                            Ok(Some(v)) => Ok(v),
                            Ok(None) => value.cast_to(field.data_type()),
                            Err(error) => return fail(failure, error),
                        }
                    };
                    row[index] = Expr::Literal(cast?, None);
                }
                changed = true;
                let column = Expr::Column(values.schema.columns()[index].clone());
                exprs.push((index, alias, column));
            }
            None => exprs.push((usize::MAX, None, expr.clone())),
        }
    }
    if !changed {
        return Ok(node);
    }
    let values = LogicalPlan::Values(Values {
        schema: values_schema(&rows, &values.schema)?,
        values: rows,
    });
    let exprs = exprs
        .into_iter()
        .map(|(_, alias, expr)| match alias {
            Some(name) => expr.alias(name),
            None => expr,
        })
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::new(values),
    )?))
}

/// The schema of VALUES rows whose literals changed type: same names, new types.
fn values_schema(rows: &[Vec<Expr>], old: &DFSchema) -> Result<Arc<DFSchema>, DataFusionError> {
    let fields = old
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let data_type = rows
                .iter()
                .find_map(|row| match &row[i] {
                    Expr::Literal(v, _) if !v.is_null() => Some(v.data_type()),
                    _ => None,
                })
                .or_else(|| {
                    rows.first().and_then(|row| match &row[i] {
                        Expr::Literal(v, _) => Some(v.data_type()),
                        _ => None,
                    })
                })
                .unwrap_or_else(|| field.data_type().clone());
            (
                qualifier.cloned(),
                Arc::new(Field::new(field.name(), data_type, true)),
            )
        })
        .collect();
    Ok(Arc::new(DFSchema::new_with_metadata(
        fields,
        Default::default(),
    )?))
}
