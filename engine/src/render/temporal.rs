//! Temporal filters: `now()` compared with a row's timestamps.
//!
//! A row that satisfies `lower <= now() < upper` belongs to the view during
//! `[lower, upper)` of the engine's timeline. An update `(row, t, d)` therefore
//! becomes `(row, max(t, lower), d)` and, when there is an upper bound,
//! `(row, upper, -d)`: the retraction is scheduled at its future time and the
//! arrangement applies it once the timeline passes it, with no new input. A
//! retracted input row retracts both, so a row that leaves the input before its
//! window closes leaves the view then.
//!
//! Timestamps are microseconds and the timeline is milliseconds: bounds round so
//! that a row is in the view at time `T` exactly when the predicate holds for a
//! `now()` of `T` milliseconds.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use datafusion::common::Result as DfResult;
use datafusion::error::DataFusionError;
use differential_dataflow::AsCollection;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

use super::mfp::Evaluator;
use super::{Coll, RenderContext};
use crate::plan::{Diff, TemporalBound, TemporalPredicate, Time};
use crate::repr::Row;

type Update = (Row, Time, Diff);

const NANOS_PER_MILLI: i128 = 1_000_000;

/// When a row belongs to the view: from `lower` (inclusive) to `upper` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    lower: Time,
    upper: Option<Time>,
}

pub(super) fn render<'s>(
    ctx: &RenderContext<'s>,
    input: Coll<'s>,
    schema: SchemaRef,
    predicates: Vec<TemporalPredicate>,
) -> Coll<'s> {
    let evaluator = Evaluator::new(ctx, schema);
    input
        .inner
        .unary::<CapacityContainerBuilder<Vec<Update>>, _, _, _>(
            Pipeline,
            "TemporalFilter",
            move |_, _| {
                move |input, output| {
                    input.for_each(|capability, data| {
                        let mut out = evaluator.apply(
                            std::mem::take(data),
                            |batch| windows(&predicates, batch),
                            |(row, time, diff), window, out| {
                                if let Some(window) = window {
                                    schedule(row, time, diff, window, out);
                                }
                            },
                        );
                        // Output times are at or after the input's, so the
                        // capability can be delayed to each of them.
                        out.sort_by_key(|(_, time, _)| *time);
                        let mut rest = out.as_slice();
                        while let Some((_, time, _)) = rest.first() {
                            let end = rest.partition_point(|(_, t, _)| t == time);
                            let (same, later) = rest.split_at(end);
                            output
                                .session(&capability.delayed(time, 0))
                                .give_iterator(same.iter().cloned());
                            rest = later;
                        }
                    })
                }
            },
        )
        .as_collection()
}

/// Emits the update's effect on the view: in from `max(time, lower)`, out at `upper`.
fn schedule(row: Row, time: Time, diff: Diff, window: Window, out: &mut Vec<Update>) {
    let start = time.max(window.lower);
    match window.upper {
        Some(upper) if upper <= start => {}
        Some(upper) => {
            out.push((row.clone(), start, diff));
            out.push((row, upper, -diff));
        }
        None => out.push((row, start, diff)),
    }
}

/// Per row of `batch`, its window, or `None` when a bound is NULL (the predicate is
/// then never true).
fn windows(
    predicates: &[TemporalPredicate],
    batch: &datafusion::arrow::record_batch::RecordBatch,
) -> DfResult<Vec<Option<Window>>> {
    let mut windows = vec![
        Some(Window {
            lower: 0,
            upper: None
        });
        batch.num_rows()
    ];
    for predicate in predicates {
        let values = predicate
            .expr
            .expr
            .evaluate(batch)?
            .into_array(batch.num_rows())?;
        for (window, nanos) in windows.iter_mut().zip(epoch_nanos(&values)?) {
            let (Some(w), Some(nanos)) = (window.as_mut(), nanos) else {
                *window = None;
                continue;
            };
            match predicate.bound {
                TemporalBound::AtLeast => w.lower = w.lower.max(to_time(ceil_ms(nanos))),
                TemporalBound::After => w.lower = w.lower.max(to_time(floor_ms(nanos) + 1)),
                TemporalBound::Before => {
                    let upper = to_time(ceil_ms(nanos));
                    w.upper = Some(w.upper.map_or(upper, |u| u.min(upper)));
                }
                TemporalBound::AtMost => {
                    let upper = to_time(floor_ms(nanos) + 1);
                    w.upper = Some(w.upper.map_or(upper, |u| u.min(upper)));
                }
            }
        }
    }
    Ok(windows)
}

fn floor_ms(nanos: i128) -> i128 {
    nanos.div_euclid(NANOS_PER_MILLI)
}

fn ceil_ms(nanos: i128) -> i128 {
    -(-nanos).div_euclid(NANOS_PER_MILLI)
}

/// A millisecond on the timeline; times before its start are its start.
fn to_time(ms: i128) -> Time {
    Time::try_from(ms.max(0)).unwrap_or(Time::MAX)
}

/// Nanoseconds since the Unix epoch of each value of a timestamp or date array.
fn epoch_nanos(values: &ArrayRef) -> DfResult<Vec<Option<i128>>> {
    let per_unit: i128 = match values.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1,
        DataType::Date32 => 86_400_000_000_000,
        DataType::Null => return Ok(vec![None; values.len()]),
        other => {
            return Err(DataFusionError::Execution(format!(
                "now() is compared with a value of type {other}; compare it with a timestamp or a date"
            )));
        }
    };
    // Every one of these types casts to its raw integer count of units.
    let raw = cast(values, &DataType::Int64)?;
    Ok(raw
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| i128::from(v) * per_unit))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(lower: Time, upper: Option<Time>) -> Window {
        Window { lower, upper }
    }

    #[test]
    fn rounding_matches_now_in_milliseconds() {
        // 1.5 ms after the epoch.
        let x = 1_500_000;
        // now() >= x holds from 2 ms; now() > x from 2 ms too.
        assert_eq!(to_time(ceil_ms(x)), 2);
        assert_eq!(to_time(floor_ms(x) + 1), 2);
        // Exactly 2 ms: now() >= x from 2, now() > x from 3.
        let x = 2_000_000;
        assert_eq!(to_time(ceil_ms(x)), 2);
        assert_eq!(to_time(floor_ms(x) + 1), 3);
        // Before the epoch: always past.
        assert_eq!(to_time(ceil_ms(-5_000_000)), 0);
    }

    #[test]
    fn updates_enter_and_leave_on_schedule() {
        let row = vec![];
        let mut out = Vec::new();
        schedule(row.clone(), 5, 1, window(10, Some(20)), &mut out);
        assert_eq!(out, vec![(row.clone(), 10, 1), (row.clone(), 20, -1)]);

        out.clear();
        // Inserted after the window opened: in at once.
        schedule(row.clone(), 12, 1, window(10, Some(20)), &mut out);
        assert_eq!(out, vec![(row.clone(), 12, 1), (row.clone(), 20, -1)]);

        out.clear();
        // Inserted after the window closed, or into an empty window: never in.
        schedule(row.clone(), 25, 1, window(10, Some(20)), &mut out);
        schedule(row.clone(), 1, 1, window(10, Some(10)), &mut out);
        assert!(out.is_empty());

        // No upper bound: in for good.
        schedule(row.clone(), 1, -1, window(10, None), &mut out);
        assert_eq!(out, vec![(row, 10, -1)]);
    }
}
