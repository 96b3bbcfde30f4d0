//! Aggregates that are sums over rows (`count`, and `sum` of integers or numerics,
//! with or without `FILTER (WHERE …)`), maintained in the multiplicity itself.
//!
//! Each row contributes a vector of numbers ([`Accums`]) instead of `+1`; differential
//! dataflow adds contributions as it adds multiplicities, so a group's aggregates are
//! always the accumulated vector of its key, and a change costs the same whatever the
//! size of its group. Arguments that are not plain columns (`sum(CASE …)`,
//! `count(a + b)`) and FILTER predicates are evaluated first, batch-wise, by a
//! projection ([`super::mfp`]), so only the contribution step is row-at-a-time.
//! Other aggregates go through DataFusion's accumulators over the whole group
//! ([`super::reduce`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};

use super::{Coll, RenderContext, mfp, project_columns};
use crate::plan::{AggregateExpr, Diff, ScalarExpr};
use crate::repr::{Datum, Numeric, Row, ScalarType};

/// What an accumulable aggregate adds up.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `count(*)` (DataFusion's `count(1)`).
    CountRows,
    /// `count(x)`: the rows where `x` is not NULL.
    CountNonNull,
    /// `sum(x)` of an integer `x`, as bigint.
    SumInteger,
    /// `sum(x)` of a numeric `x`, at its scale.
    SumNumeric(i8),
}

impl Kind {
    /// Slots this aggregate uses in [`Accums`].
    fn width(self) -> usize {
        match self {
            Kind::CountRows | Kind::CountNonNull => 1,
            // The sum, and how many values it has (NULL when none).
            Kind::SumInteger | Kind::SumNumeric(_) => 2,
        }
    }
}

/// One accumulable aggregate over the rows it accumulates from: its argument and
/// FILTER are columns of those rows.
#[derive(Clone, Copy, Debug)]
struct Accumulable {
    kind: Kind,
    arg: Option<usize>,
    /// A boolean column: the row counts only where it is true.
    filter: Option<usize>,
}

/// An aggregate's argument as the input rows have it.
enum Arg {
    /// `count(*)`: none.
    Rows,
    Column(usize),
    /// Anything else, evaluated before accumulating.
    Expr(Arc<dyn PhysicalExpr>),
}

/// An aggregate that accumulates, before its argument and filter have columns.
struct Classified {
    kind: Kind,
    arg: Arg,
    filter: Option<Arc<dyn PhysicalExpr>>,
}

impl Classified {
    /// How an aggregate accumulates, if it does.
    fn of(aggregate: &AggregateExpr, schema: &SchemaRef) -> Option<Classified> {
        let expr = &aggregate.expr;
        if expr.is_distinct() || !expr.order_bys().is_empty() {
            return None;
        }
        let args = expr.expressions();
        let [arg] = args.as_slice() else { return None };
        let filter = aggregate.filter.clone();
        if let Some(literal) = arg.downcast_ref::<Literal>() {
            // `count(*)` arrives as `count(1)`; a count of NULLs is always 0 and is
            // left to the general path, as is a sum of a constant.
            let counts_rows = expr.fun().name() == "count" && !literal.value().is_null();
            return counts_rows.then_some(Classified {
                kind: Kind::CountRows,
                arg: Arg::Rows,
                filter,
            });
        }
        // A plain column accumulates its stored values, so its own type decides.
        let (arg, arg_type) = match plain_column(arg) {
            Some(c) => (Arg::Column(c), schema.field(c).data_type().clone()),
            None => (Arg::Expr(arg.clone()), arg.data_type(schema).ok()?),
        };
        let kind = match (expr.fun().name(), &arg_type, aggregate.output_type) {
            ("count", _, _) => Kind::CountNonNull,
            ("sum", DataType::Int16 | DataType::Int32 | DataType::Int64, ScalarType::Int64) => {
                Kind::SumInteger
            }
            ("sum", DataType::Decimal128(_, scale), ScalarType::Numeric { scale: out, .. })
                if *scale == out =>
            {
                Kind::SumNumeric(out)
            }
            _ => return None,
        };
        Some(Classified { kind, arg, filter })
    }

    /// Whether the input rows hold everything this aggregate reads.
    fn reads_columns_only(&self) -> bool {
        !matches!(self.arg, Arg::Expr(_)) && self.filter.is_none()
    }
}

/// A column, or a column widened exactly (`sum(int)` arrives as
/// `sum(CAST(int AS bigint))`), whose values accumulate as they are.
fn plain_column(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    if let Some(column) = expr.downcast_ref::<Column>() {
        return Some(column.index());
    }
    let cast = expr.downcast_ref::<CastExpr>()?;
    let widening = matches!(cast.cast_type(), DataType::Int64 | DataType::Decimal128(..));
    widening
        .then(|| cast.expr().downcast_ref::<Column>().map(Column::index))
        .flatten()
}

/// The accumulated contributions of a group's rows. Slot 0 counts rows, so a group
/// with no rows is zero and leaves the output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Accums(Vec<i128>);

impl IsZero for Accums {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|x| *x == 0)
    }
}

impl Semigroup for Accums {
    fn plus_equals(&mut self, rhs: &Self) {
        if self.0.len() < rhs.0.len() {
            self.0.resize(rhs.0.len(), 0);
        }
        for (x, y) in self.0.iter_mut().zip(&rhs.0) {
            *x += y;
        }
    }
}

impl Monoid for Accums {
    fn zero() -> Self {
        Accums(Vec::new())
    }
}

impl Abelian for Accums {
    fn negate(&mut self) {
        self.0.iter_mut().for_each(|x| *x = -*x);
    }
}

impl Multiply<Diff> for Accums {
    type Output = Accums;
    fn multiply(mut self, rhs: &Diff) -> Accums {
        self.0.iter_mut().for_each(|x| *x *= i128::from(*rhs));
        self
    }
}

/// Renders the reduction if every aggregate accumulates; `None` otherwise.
pub(super) fn render<'s>(
    ctx: &RenderContext<'s>,
    input: &Coll<'s>,
    schema: &SchemaRef,
    group_key: &[usize],
    aggregates: &[AggregateExpr],
) -> Option<Coll<'s>> {
    let classified: Vec<Classified> = aggregates
        .iter()
        .map(|a| Classified::of(a, schema))
        .collect::<Option<_>>()?;
    let (rows, key, kinds) = if classified.iter().all(Classified::reads_columns_only) {
        let kinds = classified
            .iter()
            .map(|c| Accumulable {
                kind: c.kind,
                arg: match c.arg {
                    Arg::Column(column) => Some(column),
                    Arg::Rows | Arg::Expr(_) => None,
                },
                filter: None,
            })
            .collect();
        (input.clone(), group_key.to_vec(), kinds)
    } else {
        let (exprs, kinds) = evaluated(schema, group_key, classified);
        let rows = mfp::project(ctx, input.clone(), schema.clone(), exprs);
        (rows, (0..group_key.len()).collect(), kinds)
    };
    let contribute: Vec<Accumulable> = kinds.clone();
    let grouped = rows
        .explode(move |row| {
            let accums = contribution(&row, &contribute);
            Some((project_columns(&row, &key), accums))
        })
        .count_total_core::<Diff>();
    Some(grouped.map(move |(mut key, accums)| {
        key.extend(values(&accums, &kinds));
        key
    }))
}

/// A projection of the group key's columns followed by every argument and filter
/// the aggregates read, and the aggregates over its columns.
fn evaluated(
    schema: &SchemaRef,
    group_key: &[usize],
    classified: Vec<Classified>,
) -> (Vec<ScalarExpr>, Vec<Accumulable>) {
    let column =
        |c: usize| -> Arc<dyn PhysicalExpr> { Arc::new(Column::new(schema.field(c).name(), c)) };
    let mut exprs: Vec<Arc<dyn PhysicalExpr>> = group_key.iter().map(|&c| column(c)).collect();
    let mut push = |expr: Arc<dyn PhysicalExpr>| {
        exprs.push(expr);
        exprs.len() - 1
    };
    let kinds = classified
        .into_iter()
        .map(|c| Accumulable {
            kind: c.kind,
            arg: match c.arg {
                Arg::Rows => None,
                Arg::Column(index) => Some(push(column(index))),
                Arg::Expr(expr) => Some(push(expr)),
            },
            filter: c.filter.map(&mut push),
        })
        .collect();
    let exprs = exprs
        .into_iter()
        .map(|expr| ScalarExpr {
            display: expr.to_string(),
            expr,
        })
        .collect();
    (exprs, kinds)
}

fn contribution(row: &Row, kinds: &[Accumulable]) -> Accums {
    let mut slots = Vec::with_capacity(1 + kinds.iter().map(|a| a.kind.width()).sum::<usize>());
    slots.push(1);
    for aggregate in kinds {
        let counted = aggregate
            .filter
            .is_none_or(|f| matches!(row.get(f), Some(Datum::Bool(true))));
        let arg = aggregate.arg.and_then(|c| row.get(c)).filter(|_| counted);
        match aggregate.kind {
            Kind::CountRows => slots.push(i128::from(counted)),
            Kind::CountNonNull => slots.push(i128::from(arg.is_some_and(|d| !d.is_null()))),
            Kind::SumInteger | Kind::SumNumeric(_) => {
                let value = match arg {
                    Some(Datum::Int16(v)) => Some(i128::from(*v)),
                    Some(Datum::Int32(v)) => Some(i128::from(*v)),
                    Some(Datum::Int64(v)) => Some(i128::from(*v)),
                    Some(Datum::Numeric(n)) => Some(n.mantissa),
                    _ => None,
                };
                slots.push(value.unwrap_or(0));
                slots.push(i128::from(value.is_some()));
            }
        }
    }
    Accums(slots)
}

fn values(accums: &Accums, kinds: &[Accumulable]) -> Vec<Datum> {
    let slot = |i: usize| accums.0.get(i).copied().unwrap_or(0);
    let mut next = 1;
    let mut out = Vec::with_capacity(kinds.len());
    for aggregate in kinds {
        let datum = match aggregate.kind {
            Kind::CountRows | Kind::CountNonNull => Datum::Int64(slot(next) as i64),
            Kind::SumInteger | Kind::SumNumeric(_) if slot(next + 1) == 0 => Datum::Null,
            // bigint arithmetic wraps, as DataFusion's sum does.
            Kind::SumInteger => Datum::Int64(slot(next) as i64),
            Kind::SumNumeric(scale) => Datum::Numeric(Numeric {
                mantissa: slot(next),
                scale,
            }),
        };
        next += aggregate.kind.width();
        out.push(datum);
    }
    out
}
