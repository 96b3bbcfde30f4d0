//! Projections and filters: DataFusion physical expressions over batches of rows.
//!
//! Each container of updates arriving at the operator becomes one Arrow
//! `RecordBatch`; expressions evaluate over it column-at-a-time and the results turn
//! back into rows that keep their times and multiplicities. If a batch fails (say, a
//! division by zero in one row), its rows are evaluated one at a time so only the
//! failing rows are dropped and reported.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result as DfResult;
use datafusion::physical_expr::expressions::Column;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

use differential_dataflow::AsCollection;

use super::{Coll, RenderContext, project_columns};
use crate::plan::{Diff, ScalarExpr, Time};
use crate::repr::Row;
use crate::repr::arrow::{array_to_datums, rows_to_batch};

type Update = (Row, Time, Diff);

/// Replaces every row by the values of `exprs` over it.
pub(super) fn project<'s>(
    ctx: &RenderContext<'s>,
    input: Coll<'s>,
    schema: SchemaRef,
    exprs: Vec<ScalarExpr>,
) -> Coll<'s> {
    // Plain column references need no Arrow round trip.
    let columns: Option<Vec<usize>> = exprs
        .iter()
        .map(|e| e.expr.downcast_ref::<Column>().map(Column::index))
        .collect();
    if let Some(columns) = columns {
        return input.map(move |row| project_columns(&row, &columns));
    }
    let evaluator = Evaluator::new(ctx, schema);
    map_containers(input, "Project", move |updates| {
        evaluator.apply(
            updates,
            |batch| {
                let columns = evaluate_all(&exprs, batch)?;
                let fields: Vec<Field> = columns
                    .iter()
                    .map(|c| Field::new("", c.data_type().clone(), true))
                    .collect();
                let mut out: Vec<Row> = vec![Vec::with_capacity(columns.len()); batch.num_rows()];
                for (column, field) in columns.iter().zip(&fields) {
                    let datums = array_to_datums(column.as_ref(), field)
                        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                    for (row, datum) in out.iter_mut().zip(datums) {
                        row.push(datum);
                    }
                }
                Ok(out)
            },
            |(_, time, diff), row, out| out.push((row, time, diff)),
        )
    })
}

/// Keeps the rows for which `predicate` evaluates to true.
pub(super) fn filter<'s>(
    ctx: &RenderContext<'s>,
    input: Coll<'s>,
    schema: SchemaRef,
    predicate: ScalarExpr,
) -> Coll<'s> {
    let evaluator = Evaluator::new(ctx, schema);
    map_containers(input, "Filter", move |updates| {
        evaluator.apply_filter(updates, &predicate)
    })
}

/// Evaluates a predicate over a batch: `true` where the row passes.
pub(super) fn predicate_mask(predicate: &ScalarExpr, batch: &RecordBatch) -> DfResult<Vec<bool>> {
    let value = predicate
        .expr
        .evaluate(batch)?
        .into_array(batch.num_rows())?;
    let mask = match value.data_type() {
        DataType::Boolean => value.as_boolean().iter().map(|v| v == Some(true)).collect(),
        DataType::Null => vec![false; batch.num_rows()],
        other => {
            return Err(datafusion::error::DataFusionError::Execution(format!(
                "predicate evaluated to {other}, not boolean"
            )));
        }
    };
    Ok(mask)
}

fn evaluate_all(exprs: &[ScalarExpr], batch: &RecordBatch) -> DfResult<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.expr.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

/// Batch evaluation with a row-at-a-time fallback that isolates failing rows.
pub(super) struct Evaluator {
    schema: SchemaRef,
    dataflow: String,
    errors: super::ErrorLog,
}

impl Evaluator {
    pub(super) fn new(ctx: &RenderContext<'_>, schema: SchemaRef) -> Self {
        Evaluator {
            schema,
            dataflow: ctx.name.clone(),
            errors: ctx.errors.clone(),
        }
    }

    /// Evaluates `logic` (a batch to one value per row) over the rows of `updates`
    /// and lets `combine` turn each update and its value into output updates.
    pub(super) fn apply<T>(
        &self,
        updates: Vec<Update>,
        logic: impl Fn(&RecordBatch) -> DfResult<Vec<T>>,
        combine: impl Fn(Update, T, &mut Vec<Update>),
    ) -> Vec<Update> {
        let rows: Vec<Row> = updates.iter().map(|(row, _, _)| row.clone()).collect();
        match self.evaluate(&rows, &logic) {
            Ok(values) => {
                let mut out = Vec::with_capacity(updates.len());
                for (update, value) in updates.into_iter().zip(values) {
                    combine(update, value, &mut out);
                }
                out
            }
            Err(_) if updates.len() > 1 => {
                // Find the failing rows one by one; the others still count.
                let mut out = Vec::with_capacity(updates.len());
                for update in updates {
                    match self.evaluate(std::slice::from_ref(&update.0), &logic) {
                        Ok(mut values) => {
                            if let Some(value) = values.pop() {
                                combine(update, value, &mut out);
                            }
                        }
                        Err(e) => self.errors.push(&self.dataflow, e.to_string()),
                    }
                }
                out
            }
            Err(e) => {
                self.errors.push(&self.dataflow, e.to_string());
                Vec::new()
            }
        }
    }

    /// Keeps the updates whose rows satisfy `predicate`.
    pub(super) fn apply_filter(&self, updates: Vec<Update>, predicate: &ScalarExpr) -> Vec<Update> {
        self.apply(
            updates,
            |batch| predicate_mask(predicate, batch),
            |u, keep, out| {
                if keep {
                    out.push(u)
                }
            },
        )
    }

    fn evaluate<T>(
        &self,
        rows: &[Row],
        logic: &impl Fn(&RecordBatch) -> DfResult<Vec<T>>,
    ) -> DfResult<Vec<T>> {
        let batch = rows_to_batch(&self.schema, rows)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        logic(&batch)
    }
}

/// Applies `logic` to every container of updates flowing through the collection.
pub(super) fn map_containers<'s>(
    input: Coll<'s>,
    name: &str,
    mut logic: impl FnMut(Vec<Update>) -> Vec<Update> + 'static,
) -> Coll<'s> {
    input
        .inner
        .unary::<CapacityContainerBuilder<Vec<Update>>, _, _, _>(Pipeline, name, move |_, _| {
            move |input, output| {
                input.for_each(|time, data| {
                    let mut out = logic(std::mem::take(data));
                    if !out.is_empty() {
                        output.session(&time).give_container(&mut out);
                    }
                })
            }
        })
        .as_collection()
}
