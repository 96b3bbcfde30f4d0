//! Aggregates that are sums over rows (`count`, and `sum` of integers or numerics),
//! maintained in the multiplicity itself.
//!
//! Each row contributes a vector of numbers ([`Accums`]) instead of `+1`; differential
//! dataflow adds contributions as it adds multiplicities, so a group's aggregates are
//! always the accumulated vector of its key, and a change costs the same whatever the
//! size of its group. Other aggregates go through DataFusion's accumulators over the
//! whole group ([`super::reduce`]).

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};

use super::{Coll, project_columns};
use crate::plan::{AggregateExpr, Diff};
use crate::repr::{Datum, Numeric, Row, ScalarType};

/// One accumulable aggregate.
#[derive(Clone, Copy, Debug)]
enum Accumulable {
    /// `count(*)` (DataFusion's `count(1)`).
    CountRows,
    /// `count(column)`: the rows where it is not NULL.
    CountNonNull(usize),
    /// `sum(integer column)`, as bigint.
    SumInteger(usize),
    /// `sum(numeric column)`, at the column's scale.
    SumNumeric(usize, i8),
}

impl Accumulable {
    /// How an aggregate accumulates, if it does.
    fn of(aggregate: &AggregateExpr, schema: &SchemaRef) -> Option<Accumulable> {
        let expr = &aggregate.expr;
        if expr.is_distinct() || aggregate.filter.is_some() || !expr.order_bys().is_empty() {
            return None;
        }
        let args = expr.expressions();
        let [arg] = args.as_slice() else { return None };
        // `sum(int)` arrives as `sum(CAST(int AS bigint))`: the cast widens exactly.
        let column = arg.downcast_ref::<Column>().map(Column::index).or_else(|| {
            let cast = arg.downcast_ref::<CastExpr>()?;
            let widening = matches!(cast.cast_type(), DataType::Int64 | DataType::Decimal128(..));
            widening
                .then(|| cast.expr().downcast_ref::<Column>().map(Column::index))
                .flatten()
        });
        match (expr.fun().name(), column) {
            ("count", Some(c)) => Some(Accumulable::CountNonNull(c)),
            ("count", None) => {
                let literal = arg.downcast_ref::<Literal>()?;
                (!literal.value().is_null()).then_some(Accumulable::CountRows)
            }
            ("sum", Some(c)) => match (schema.field(c).data_type(), aggregate.output_type) {
                (DataType::Int16 | DataType::Int32 | DataType::Int64, ScalarType::Int64) => {
                    Some(Accumulable::SumInteger(c))
                }
                (DataType::Decimal128(_, scale), ScalarType::Numeric { scale: out, .. })
                    if *scale == out =>
                {
                    Some(Accumulable::SumNumeric(c, out))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Slots this aggregate uses in [`Accums`].
    fn width(self) -> usize {
        match self {
            Accumulable::CountRows | Accumulable::CountNonNull(_) => 1,
            // The sum, and how many values it has (NULL when none).
            Accumulable::SumInteger(_) | Accumulable::SumNumeric(..) => 2,
        }
    }
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
    input: &Coll<'s>,
    schema: &SchemaRef,
    group_key: &[usize],
    aggregates: &[AggregateExpr],
) -> Option<Coll<'s>> {
    let kinds: Vec<Accumulable> = aggregates
        .iter()
        .map(|a| Accumulable::of(a, schema))
        .collect::<Option<_>>()?;
    let key = group_key.to_vec();
    let contribute = kinds.clone();
    let grouped = input
        .clone()
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

fn contribution(row: &Row, kinds: &[Accumulable]) -> Accums {
    let mut slots = Vec::with_capacity(1 + kinds.iter().map(|k| k.width()).sum::<usize>());
    slots.push(1);
    for kind in kinds {
        match *kind {
            Accumulable::CountRows => slots.push(1),
            Accumulable::CountNonNull(c) => slots.push(i128::from(!row[c].is_null())),
            Accumulable::SumInteger(c) | Accumulable::SumNumeric(c, _) => {
                let value = match &row[c] {
                    Datum::Int16(v) => Some(i128::from(*v)),
                    Datum::Int32(v) => Some(i128::from(*v)),
                    Datum::Int64(v) => Some(i128::from(*v)),
                    Datum::Numeric(n) => Some(n.mantissa),
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
    for kind in kinds {
        let datum = match *kind {
            Accumulable::CountRows | Accumulable::CountNonNull(_) => {
                Datum::Int64(slot(next) as i64)
            }
            Accumulable::SumInteger(_) if slot(next + 1) == 0 => Datum::Null,
            // bigint arithmetic wraps, as DataFusion's sum does.
            Accumulable::SumInteger(_) => Datum::Int64(slot(next) as i64),
            Accumulable::SumNumeric(..) if slot(next + 1) == 0 => Datum::Null,
            Accumulable::SumNumeric(_, scale) => Datum::Numeric(Numeric {
                mantissa: slot(next),
                scale,
            }),
        };
        next += kind.width();
        out.push(datum);
    }
    out
}
