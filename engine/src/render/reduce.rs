//! GROUP BY and top-k: differential `reduce` over rows keyed by their group.
//!
//! When every aggregate is a sum over rows (`count`, `sum` of integers or numerics,
//! filtered or not), the reduction accumulates them in the multiplicities ([`super::accumulate`]) and a
//! change costs the same whatever the size of its group. Otherwise each aggregate is
//! evaluated by DataFusion's own accumulator over the rows of a group whenever the
//! group changes, so every aggregate DataFusion offers (including `string_agg …
//! ORDER BY`, `median`, `percentile_cont`) means the same in a view as in an ad-hoc
//! query; the cost of a change is then proportional to the size of its group.
//!
//! A reduction without GROUP BY yields exactly one row, also over empty input: the
//! accumulators' value over no rows stands in while the input is empty.

use std::cmp::Ordering;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DataFusionError;

use super::mfp::predicate_mask;
use super::{Coll, RenderContext, project_columns};
use crate::plan::{AggregateExpr, Diff, ScalarExpr, SortKey};
use crate::repr::arrow::{rows_to_batch, scalar_value_to_datum};
use crate::repr::{Datum, Row};

pub(super) fn render_reduce<'s>(
    ctx: &RenderContext<'s>,
    input: Coll<'s>,
    schema: SchemaRef,
    group_key: Vec<usize>,
    aggregates: Vec<AggregateExpr>,
) -> Coll<'s> {
    let out = match super::accumulate::render(ctx, &input, &schema, &group_key, &aggregates) {
        Some(out) => out,
        None => reduce_groups(
            ctx,
            input,
            schema.clone(),
            group_key.clone(),
            aggregates.clone(),
        ),
    };
    if !group_key.is_empty() {
        return out;
    }
    match evaluate_aggregates(&schema, &aggregates, &[]) {
        Ok(empty) => {
            let stand_in = empty.clone();
            out.clone()
                .concat(ctx.constant(vec![(empty, 1)]))
                .concat(out.map(move |_| stand_in.clone()).negate())
        }
        Err(e) => {
            ctx.errors.push(&ctx.name, e.to_string());
            out
        }
    }
}

/// Evaluates the aggregates with DataFusion's accumulators over every row of a
/// group, whenever the group changes.
fn reduce_groups<'s>(
    ctx: &RenderContext<'s>,
    input: Coll<'s>,
    schema: SchemaRef,
    group_key: Vec<usize>,
    aggregates: Vec<AggregateExpr>,
) -> Coll<'s> {
    let key = group_key;
    let keyed = input.map(move |row| (project_columns(&row, &key), row));

    let (dataflow, errors) = (ctx.name.clone(), ctx.errors.clone());
    let reduced = keyed.reduce_named(
        "Aggregate",
        move |_key, group: &[(&Row, Diff)], output: &mut Vec<(Row, Diff)>| {
            let rows = expand(group);
            match evaluate_aggregates(&schema, &aggregates, &rows) {
                Ok(values) => output.push((values, 1)),
                Err(e) => errors.push(&dataflow, e.to_string()),
            }
        },
    );
    reduced.map(|(mut key, values)| {
        key.extend(values);
        key
    })
}

/// The rows of a group, each repeated by its multiplicity.
fn expand(group: &[(&Row, Diff)]) -> Vec<Row> {
    let mut rows = Vec::with_capacity(group.len());
    for (row, diff) in group {
        for _ in 0..(*diff).max(0) {
            rows.push((*row).clone());
        }
    }
    rows
}

/// Evaluates every aggregate over `rows`, in order.
pub(crate) fn evaluate_aggregates(
    schema: &SchemaRef,
    aggregates: &[AggregateExpr],
    rows: &[Row],
) -> Result<Row, DataFusionError> {
    let batch = rows_to_batch(schema, rows).map_err(|e| DataFusionError::External(Box::new(e)))?;
    aggregates
        .iter()
        .map(|aggregate| evaluate_aggregate(aggregate, &batch))
        .collect()
}

fn evaluate_aggregate(
    aggregate: &AggregateExpr,
    batch: &RecordBatch,
) -> Result<Datum, DataFusionError> {
    let filtered;
    let batch = match &aggregate.filter {
        Some(filter) => {
            let predicate = ScalarExpr {
                expr: filter.clone(),
                display: String::new(),
            };
            let mask = predicate_mask(&predicate, batch)?;
            filtered = filter_record_batch(batch, &mask.into())?;
            &filtered
        }
        None => batch,
    };
    // Arguments, then the aggregate's ORDER BY columns: order-sensitive accumulators
    // sort by those themselves (as DataFusion's AggregateExec arranges).
    let expressions = aggregate.expr.expressions().into_iter().chain(
        aggregate
            .expr
            .order_bys()
            .iter()
            .map(|sort| sort.expr.clone()),
    );
    let values = expressions
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let mut accumulator = aggregate.expr.create_accumulator()?;
    accumulator.update_batch(&values)?;
    let value = accumulator.evaluate()?;
    scalar_value_to_datum(&value).map_err(|e| DataFusionError::External(Box::new(e)))
}

pub(super) fn render_topk<'s>(
    input: Coll<'s>,
    group_key: Vec<usize>,
    order: Vec<SortKey>,
    limit: Option<usize>,
    offset: usize,
) -> Coll<'s> {
    let keyed = input.map(move |row| (project_columns(&row, &group_key), row));
    keyed
        .reduce_named(
            "TopK",
            move |_key, group: &[(&Row, Diff)], output: &mut Vec<(Row, Diff)>| {
                let mut sorted: Vec<(&Row, Diff)> =
                    group.iter().map(|(row, diff)| (*row, *diff)).collect();
                sorted.sort_by(|a, b| compare_rows(a.0, b.0, &order).then_with(|| a.0.cmp(b.0)));
                let mut skip = offset;
                let mut remaining = limit.unwrap_or(usize::MAX);
                for (row, diff) in sorted {
                    if remaining == 0 {
                        break;
                    }
                    let mut count = usize::try_from(diff).unwrap_or(0);
                    let skipped = skip.min(count);
                    skip -= skipped;
                    count -= skipped;
                    let taken = count.min(remaining);
                    remaining -= taken;
                    if taken > 0 {
                        output.push((row.clone(), taken as Diff));
                    }
                }
            },
        )
        .map(|(_key, row)| row)
}

/// Compares two rows by ORDER BY keys, with SQL's NULL placement.
pub(crate) fn compare_rows(a: &Row, b: &Row, order: &[SortKey]) -> Ordering {
    for key in order {
        let (x, y) = (&a[key.column], &b[key.column]);
        let ordering = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                return if key.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            (false, true) => {
                return if key.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }
            (false, false) if key.descending => y.cmp(x),
            (false, false) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}
