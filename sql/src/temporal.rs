//! `now()` and temporal filters.
//!
//! Vigil replaces DataFusion's `now()` (and `current_timestamp`) with its own:
//! - in an ad-hoc query it is the coordinator's clock when the statement started
//!   (the manual clock's reading under `--clock manual`), the same value for every
//!   row and in every plain view the statement reads: it is read from the
//!   statement's context when evaluated, not fixed when a plan was built;
//! - it is volatile, so the optimizer never folds it into a constant, and a
//!   materialized view that compares it with a row's timestamps keeps the
//!   comparison: [`split_temporal`] turns `now() >= x`, `now() < y`, … into a
//!   temporal filter whose rows enter and leave the view as the engine's clock
//!   passes their bounds (see `vigil_engine::render`'s temporal module).
//!
//! Only conjuncts of a WHERE or HAVING can be temporal: `now()` in a select list,
//! under OR or NOT, compared with `<>`, or anywhere else in a materialized view is
//! refused (0A000) with what to write instead.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use vigil_engine::plan::TemporalBound;
use vigil_engine::repr::{Datum, ScalarType};

use crate::SqlError;
use crate::coord::ClockTarget;
use crate::pg_catalog::PgContext;
use crate::tokens::TokenCursor;

/// The time zone `now()` reports, as DataFusion's does for this session.
const UTC: &str = "+00:00";

/// `now()` / `current_timestamp`: the clock's reading, never folded by the optimizer.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Now {
    signature: Signature,
    aliases: Vec<String>,
}

impl Now {
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Now {
            signature: Signature::nullary(Volatility::Volatile),
            aliases: vec!["current_timestamp".to_string()],
        })
    }
}

impl ScalarUDFImpl for Now {
    fn name(&self) -> &str {
        "now"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let statement = args
            .config_options
            .extensions
            .get::<PgContext>()
            .ok_or_else(|| DataFusionError::Internal("now() ran outside a statement".into()))?;
        let nanos = i64::try_from(statement.0.now_ms)
            .ok()
            .and_then(|ms| ms.checked_mul(1_000_000))
            .unwrap_or(i64::MAX);
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
            Some(nanos),
            Some(UTC.into()),
        )))
    }
}

/// Whether `expr` is a call of `now()`, looking through casts.
fn is_now(expr: &Expr) -> bool {
    match expr {
        Expr::ScalarFunction(ScalarFunction { func, .. }) => func.name() == "now",
        Expr::Cast(cast) => is_now(&cast.expr),
        Expr::TryCast(cast) => is_now(&cast.expr),
        _ => false,
    }
}

/// Whether `now()` appears anywhere in `expr`.
pub(crate) fn mentions_now(expr: &Expr) -> bool {
    let mut found = false;
    let _ = expr.apply(|e| {
        if is_now(e) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The refusal for `now()` outside a temporal predicate.
pub(crate) fn misplaced_now(place: &str) -> SqlError {
    SqlError::TemporalFilter {
        use_: format!("now() in {place} of a materialized view"),
    }
}

/// `now() <bound> expr`, with `expr` over the input row.
pub(crate) type Temporal = (TemporalBound, Expr);

/// A filter's conjuncts, split into temporal predicates and the rest.
pub(crate) fn split_temporal(
    predicate: &Expr,
    schema: &DFSchema,
) -> Result<(Vec<Temporal>, Vec<Expr>), SqlError> {
    let mut temporal = Vec::new();
    let mut rest = Vec::new();
    for conjunct in conjuncts(predicate) {
        if mentions_now(&conjunct) {
            temporal.extend(temporal_predicate(&conjunct, schema)?);
        } else {
            rest.push(conjunct);
        }
    }
    Ok((temporal, rest))
}

fn conjuncts(expr: &Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut all = conjuncts(left);
            all.extend(conjuncts(right));
            all
        }
        other => vec![other.clone()],
    }
}

/// `conjunct` as one or two temporal predicates.
fn temporal_predicate(conjunct: &Expr, schema: &DFSchema) -> Result<Vec<Temporal>, SqlError> {
    let refuse = |what: &str| SqlError::TemporalFilter {
        use_: format!("{what} ({conjunct})"),
    };
    match conjunct {
        Expr::Between(between) if is_now(&between.expr) && !between.negated => {
            check_bound(&between.low, &refuse)?;
            check_bound(&between.high, &refuse)?;
            Ok(vec![
                (TemporalBound::AtLeast, (*between.low).clone()),
                (TemporalBound::AtMost, (*between.high).clone()),
            ])
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (now_side, other, op) = if mentions_now(left) {
                (left, right, *op)
            } else {
                let flipped = match op {
                    Operator::Lt => Operator::Gt,
                    Operator::LtEq => Operator::GtEq,
                    Operator::Gt => Operator::Lt,
                    Operator::GtEq => Operator::LtEq,
                    other => *other,
                };
                (right, left, flipped)
            };
            match op {
                Operator::Or => return Err(refuse("now() under OR")),
                Operator::NotEq => return Err(refuse("now() compared with <>")),
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq | Operator::Eq => {}
                _ => return Err(refuse("this use of now()")),
            }
            check_bound(other, &refuse)?;
            let bound = isolate_now(now_side, (**other).clone(), schema)
                .ok_or_else(|| refuse("this use of now()"))?;
            Ok(match op {
                Operator::Lt => vec![(TemporalBound::Before, bound)],
                Operator::LtEq => vec![(TemporalBound::AtMost, bound)],
                Operator::Gt => vec![(TemporalBound::After, bound)],
                Operator::GtEq => vec![(TemporalBound::AtLeast, bound)],
                _ => vec![
                    (TemporalBound::AtLeast, bound.clone()),
                    (TemporalBound::AtMost, bound),
                ],
            })
        }
        Expr::Not(_) => Err(refuse("now() under NOT")),
        _ => Err(refuse("this use of now()")),
    }
}

fn check_bound(bound: &Expr, refuse: &impl Fn(&str) -> SqlError) -> Result<(), SqlError> {
    if mentions_now(bound) {
        return Err(refuse("now() on both sides of a comparison"));
    }
    Ok(())
}

/// Rewrites `side <op> other`, where `side` is `now()` plus or minus terms, into
/// `now() <op> bound` and returns the bound.
fn isolate_now(side: &Expr, other: Expr, schema: &DFSchema) -> Option<Expr> {
    if is_now(side) {
        return Some(other);
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = side else {
        return None;
    };
    match op {
        // now() + x <op> y  ⇔  now() <op> y - x   (and x + now() likewise)
        Operator::Plus if mentions_now(left) && !mentions_now(right) => {
            isolate_now(left, minus(other, (**right).clone()), schema)
        }
        Operator::Plus if mentions_now(right) && !mentions_now(left) => {
            isolate_now(right, minus(other, (**left).clone()), schema)
        }
        // now() - x <op> y  ⇔  now() <op> y + x, with the timestamp first so the
        // sum is a timestamp plus an interval.
        Operator::Minus if mentions_now(left) && !mentions_now(right) => {
            let x = (**right).clone();
            let sum = if is_timestamp(&x, schema) {
                plus(x, other)
            } else {
                plus(other, x)
            };
            isolate_now(left, sum, schema)
        }
        _ => None,
    }
}

fn is_timestamp(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64)
    )
}

fn plus(left: Expr, right: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(
        Box::new(left),
        Operator::Plus,
        Box::new(right),
    ))
}

fn minus(left: Expr, right: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(
        Box::new(left),
        Operator::Minus,
        Box::new(right),
    ))
}

/// A PostgreSQL interval literal (`'2 hours'`, `'1 day 3 hours'`, `'90s'`) in
/// milliseconds. Months are refused: they have no fixed length.
pub(crate) fn interval_ms(what: &str, text: &str) -> Result<u64, SqlError> {
    let invalid = |message: String| SqlError::InvalidOption {
        option: what.to_string(),
        message,
    };
    let datum = vigil_engine::repr::text::parse_datum(text, ScalarType::Interval)
        .map_err(|e| invalid(format!("{text:?} is not an interval: {e}")))?;
    let Datum::Interval(interval) = datum else {
        return Err(invalid(format!("{text:?} is not an interval")));
    };
    if interval.months != 0 {
        return Err(invalid(format!(
            "{text:?} counts months, which have no fixed length; use days"
        )));
    }
    let micros = i128::from(interval.days) * 86_400_000_000 + i128::from(interval.micros);
    if micros < 0 {
        return Err(invalid(format!("{text:?} is negative")));
    }
    u64::try_from(micros / 1000).map_err(|_| invalid(format!("{text:?} is too long")))
}

/// `ADVANCE CLOCK TO 'timestamptz' | BY 'interval'`.
pub(crate) fn parse_advance_clock(sql: &str) -> Result<ClockTarget, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_word("ADVANCE")?;
    cursor.expect_word("CLOCK")?;
    let target =
        if cursor.next_is_keyword(Keyword::TO) {
            let text = cursor.expect_string("TO")?;
            let datum = vigil_engine::repr::text::parse_datum(&text, ScalarType::TimestampTz)
                .map_err(|e| SqlError::InvalidDatetime {
                    ty: ScalarType::TimestampTz,
                    value: text.clone(),
                    reason: e.to_string(),
                })?;
            let Datum::TimestampTz(micros) = datum else {
                return Err(SqlError::Parse(format!("{text:?} is not a timestamp")));
            };
            ClockTarget::To(u64::try_from(micros.div_euclid(1000)).map_err(|_| {
                SqlError::ClockError(format!(
                    "{text} is before the engine's timeline starts (1970)"
                ))
            })?)
        } else {
            cursor.expect_word("BY")?;
            ClockTarget::By(interval_ms(
                "ADVANCE CLOCK BY",
                &cursor.expect_string("BY")?,
            )?)
        };
    cursor.expect_end("ADVANCE CLOCK")?;
    Ok(target)
}

/// Takes `WITH (RETAIN HISTORY [FOR] 'interval')` out of a `CREATE MATERIALIZED
/// VIEW`, which sqlparser does not know: the statement without it, and the interval
/// in milliseconds.
pub(crate) fn strip_retain_history(sql: &str) -> Result<(String, Option<u64>), SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    let Some((start, end, interval)) = cursor.find_retain_history()? else {
        return Ok((sql.to_string(), None));
    };
    let text = cursor.text_without(start, end);
    Ok((text, Some(interval_ms("RETAIN HISTORY", &interval)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_become_milliseconds() {
        assert_eq!(interval_ms("x", "2 hours").unwrap(), 7_200_000);
        assert_eq!(interval_ms("x", "1 day 30 minutes").unwrap(), 88_200_000);
        assert_eq!(interval_ms("x", "1.5 seconds").unwrap(), 1_500);
        for bad in ["1 month", "-1 hour", "soon"] {
            assert_eq!(interval_ms("x", bad).unwrap_err().code(), "22023", "{bad}");
        }
    }

    #[test]
    fn reads_advance_clock() {
        assert_eq!(
            parse_advance_clock("ADVANCE CLOCK BY '3 days';").unwrap(),
            ClockTarget::By(3 * 86_400_000)
        );
        assert_eq!(
            parse_advance_clock("advance clock to '2026-01-01 00:00:01+00'").unwrap(),
            ClockTarget::To(1_767_225_601_000)
        );
        assert_eq!(
            parse_advance_clock("ADVANCE CLOCK TO 'noon'")
                .unwrap_err()
                .code(),
            "22007"
        );
        assert_eq!(
            parse_advance_clock("ADVANCE CLOCK '1 day'")
                .unwrap_err()
                .code(),
            "42601"
        );
    }

    #[test]
    fn strips_retain_history() {
        let (sql, retain) = strip_retain_history(
            "CREATE MATERIALIZED VIEW v WITH (RETAIN HISTORY FOR '2 hours') AS SELECT 1",
        )
        .unwrap();
        assert_eq!(sql, "CREATE MATERIALIZED VIEW v AS SELECT 1");
        assert_eq!(retain, Some(7_200_000));
        let plain = "CREATE MATERIALIZED VIEW v AS SELECT 'RETAIN HISTORY'";
        assert_eq!(
            strip_retain_history(plain).unwrap(),
            (plain.to_string(), None)
        );
    }
}
