//! Equi-joins of every kind, built from one inner join.
//!
//! The inner join on the key columns, filtered by the residual predicate, gives the
//! matched pairs. Every other kind derives from those pairs:
//! - outer rows are the input rows that appear in no matched pair (an antijoin on the
//!   whole row against the distinct matched rows), padded with NULLs;
//! - a semijoin keeps the left rows that appear in a matched pair, an antijoin the
//!   others;
//! - `NOT IN` also consults whether the right side is empty or holds a NULL key.
//!
//! Each derived collection is maintained incrementally, so a change costs work in
//! proportion to the rows it touches.

use datafusion::arrow::datatypes::SchemaRef;

use super::{Coll, RenderContext, mfp, project_columns};
use crate::plan::{Diff, JoinKind, ScalarExpr};
use crate::repr::{Datum, Row};

pub(super) struct JoinSpec {
    pub left_key: Vec<usize>,
    pub right_key: Vec<usize>,
    pub kind: JoinKind,
    pub residual: Option<(SchemaRef, ScalarExpr)>,
    pub nulls_equal: bool,
    pub left_arity: usize,
    pub right_arity: usize,
}

pub(super) fn render<'s>(
    ctx: &RenderContext<'s>,
    left: Coll<'s>,
    right: Coll<'s>,
    spec: JoinSpec,
) -> Coll<'s> {
    let JoinSpec {
        left_key,
        right_key,
        kind,
        residual,
        nulls_equal,
        left_arity,
        right_arity,
    } = spec;

    let keyed_left = keyed(left.clone(), left_key.clone(), nulls_equal);
    let keyed_right = keyed(right.clone(), right_key.clone(), nulls_equal);
    let mut matched = keyed_left.join_map(keyed_right, |_key, l: &Row, r: &Row| {
        let mut row = Vec::with_capacity(l.len() + r.len());
        row.extend_from_slice(l);
        row.extend_from_slice(r);
        row
    });
    if let Some((schema, predicate)) = residual {
        matched = mfp::filter(ctx, matched, schema, predicate);
    }

    let left_columns: Vec<usize> = (0..left_arity).collect();
    let right_columns: Vec<usize> = (left_arity..left_arity + right_arity).collect();
    match kind {
        JoinKind::Inner => matched,
        JoinKind::Left => {
            let unmatched = unmatched(left, matched.clone(), left_columns);
            matched.concat(pad(unmatched, 0, right_arity))
        }
        JoinKind::Right => {
            let unmatched = unmatched(right, matched.clone(), right_columns);
            matched.concat(pad(unmatched, left_arity, 0))
        }
        JoinKind::Full => {
            let unmatched_left = unmatched(left, matched.clone(), left_columns);
            let unmatched_right = unmatched(right, matched.clone(), right_columns);
            matched
                .concat(pad(unmatched_left, 0, right_arity))
                .concat(pad(unmatched_right, left_arity, 0))
        }
        JoinKind::Semi => {
            let hits = matched
                .map(move |row| project_columns(&row, &left_columns))
                .distinct_core::<Diff>();
            left.map(|row| (row, ()))
                .semijoin(hits)
                .map(|(row, ())| row)
        }
        JoinKind::Anti => unmatched(left, matched, left_columns),
        JoinKind::NullAwareAnti => {
            let no_match = unmatched(left.clone(), matched, left_columns);
            null_aware(no_match, right, left_key, right_key)
        }
    }
}

/// Rows keyed by `key`; rows with a NULL key are left out unless `nulls_equal`.
fn keyed(
    rows: Coll<'_>,
    key: Vec<usize>,
    nulls_equal: bool,
) -> differential_dataflow::VecCollection<'_, crate::plan::Time, (Row, Row), Diff> {
    rows.flat_map(move |row| {
        let k = project_columns(&row, &key);
        (nulls_equal || !k.iter().any(Datum::is_null)).then_some((k, row))
    })
}

/// The rows of `input` that appear in no matched pair, as `columns` of the pair.
fn unmatched<'s>(input: Coll<'s>, matched: Coll<'s>, columns: Vec<usize>) -> Coll<'s> {
    let hits = matched
        .map(move |row| project_columns(&row, &columns))
        .distinct_core::<Diff>();
    input
        .map(|row| (row, ()))
        .antijoin(hits)
        .map(|(row, ())| row)
}

/// Surrounds each row with `before` NULLs on the left and `after` NULLs on the right.
fn pad(rows: Coll<'_>, before: usize, after: usize) -> Coll<'_> {
    rows.map(move |row| {
        let mut padded = Vec::with_capacity(before + row.len() + after);
        padded.resize(before, Datum::Null);
        padded.extend(row);
        padded.resize(padded.len() + after, Datum::Null);
        padded
    })
}

/// `NOT IN` semantics over the left rows that matched nothing: a NULL among the right
/// keys removes every row; a left row with a NULL key survives only an empty right.
fn null_aware<'s>(
    no_match: Coll<'s>,
    right: Coll<'s>,
    left_key: Vec<usize>,
    right_key: Vec<usize>,
) -> Coll<'s> {
    let right_has_null = right
        .clone()
        .flat_map(move |row| {
            project_columns(&row, &right_key)
                .iter()
                .any(Datum::is_null)
                .then_some(())
        })
        .distinct_core::<Diff>();
    let right_nonempty = right.map(|_| ()).distinct_core::<Diff>();

    let key = left_key.clone();
    let with_key = no_match
        .clone()
        .filter(move |row| !project_columns(row, &key).iter().any(Datum::is_null));
    let null_key =
        no_match.filter(move |row| project_columns(row, &left_key).iter().any(Datum::is_null));

    let with_key = with_key
        .map(|row| ((), row))
        .antijoin(right_has_null)
        .map(|((), row)| row);
    let null_key = null_key
        .map(|row| ((), row))
        .antijoin(right_nonempty)
        .map(|((), row)| row);
    with_key.concat(null_key)
}
