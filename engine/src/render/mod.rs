//! Rendering: a [`Plan`] becomes differential dataflow operators inside one worker.
//!
//! Every plan node renders to a collection of [`Row`]s with `i64` multiplicities at
//! [`Time`]s. Scalar work (projections, filters, residual join predicates) runs
//! DataFusion's physical expressions over Arrow batches of rows ([`mfp`]); joins,
//! reductions and top-k are differential operators keyed by rows ([`join`],
//! [`reduce`]); counts and sums accumulate in the multiplicities ([`accumulate`]).
//!
//! A row whose expression fails to evaluate (division by zero, overflow) is dropped
//! from the view and reported to the [`ErrorLog`], never a panic; SQL reads the log
//! as `vigil_dataflow_errors`.

mod accumulate;
mod join;
mod mfp;
mod reduce;
mod temporal;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use differential_dataflow::VecCollection;
use differential_dataflow::input::Input;
use timely::dataflow::Scope;

use crate::plan::{Diff, GlobalId, Plan, Time};
use crate::repr::{Datum, Row};

/// A collection of rows in a dataflow scope.
pub type Coll<'s> = VecCollection<'s, Time, Row, Diff>;

/// Errors met while maintaining views, newest last, bounded in size.
#[derive(Clone, Debug, Default)]
pub struct ErrorLog {
    inner: Arc<Mutex<VecDeque<DataflowError>>>,
}

/// One row that a view could not compute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataflowError {
    /// Wall-clock time of the failure, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The view (dataflow) whose operator failed.
    pub dataflow: String,
    pub message: String,
}

/// The newest errors kept; older ones are forgotten first.
const ERROR_LOG_CAPACITY: usize = 10_000;

impl ErrorLog {
    pub fn push(&self, dataflow: &str, message: String) {
        tracing::warn!(dataflow, %message, "row dropped from view");
        let mut errors = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() >= ERROR_LOG_CAPACITY {
            errors.pop_front();
        }
        let at_ms = crate::wall_clock_ms();
        errors.push_back(DataflowError {
            at_ms,
            dataflow: dataflow.to_string(),
            message,
        });
    }

    pub fn snapshot(&self) -> Vec<DataflowError> {
        let errors = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        errors.iter().cloned().collect()
    }
}

/// What rendering needs besides the plan.
pub(crate) struct RenderContext<'s> {
    pub scope: Scope<'s, Time>,
    /// The collections of the relations the plan reads.
    pub imports: BTreeMap<GlobalId, Coll<'s>>,
    /// The dataflow's name, for operator names and error reports.
    pub name: String,
    pub errors: ErrorLog,
}

impl<'s> RenderContext<'s> {
    pub(crate) fn render(&self, plan: &Plan) -> Coll<'s> {
        match plan {
            Plan::Get { id, name } => match self.imports.get(id) {
                Some(coll) => coll.clone(),
                None => {
                    // The coordinator imports every relation a plan reads; reaching
                    // this means the catalog and the engine disagree.
                    self.errors.push(
                        &self.name,
                        format!("relation {name} (u{id}) is not available"),
                    );
                    self.constant(Vec::new())
                }
            },
            Plan::Constant { rows } => self.constant(rows.clone()),
            Plan::Project {
                input,
                input_schema,
                exprs,
            } => mfp::project(
                self,
                self.render(input),
                input_schema.clone(),
                exprs.clone(),
            ),
            Plan::Filter {
                input,
                input_schema,
                predicate,
            } => mfp::filter(
                self,
                self.render(input),
                input_schema.clone(),
                predicate.clone(),
            ),
            Plan::TemporalFilter {
                input,
                input_schema,
                predicates,
            } => temporal::render(
                self,
                self.render(input),
                input_schema.clone(),
                predicates.clone(),
            ),
            Plan::Join {
                left,
                right,
                left_key,
                right_key,
                kind,
                residual,
                nulls_equal,
                left_arity,
                right_arity,
            } => join::render(
                self,
                self.render(left),
                self.render(right),
                join::JoinSpec {
                    left_key: left_key.clone(),
                    right_key: right_key.clone(),
                    kind: *kind,
                    residual: residual.clone(),
                    nulls_equal: *nulls_equal,
                    left_arity: *left_arity,
                    right_arity: *right_arity,
                },
            ),
            Plan::Reduce {
                input,
                input_schema,
                group_key,
                aggregates,
            } => reduce::render_reduce(
                self,
                self.render(input),
                input_schema.clone(),
                group_key.clone(),
                aggregates.clone(),
            ),
            Plan::Distinct { input } => self.render(input).distinct_core::<Diff>(),
            Plan::Union { inputs } => {
                let mut iter = inputs.iter();
                match iter.next() {
                    Some(first) => {
                        let first = self.render(first);
                        let rest: Vec<_> = iter.map(|input| self.render(input)).collect();
                        first.concatenate(rest)
                    }
                    None => self.constant(Vec::new()),
                }
            }
            Plan::TopK {
                input,
                group_key,
                order,
                limit,
                offset,
            } => reduce::render_topk(
                self.render(input),
                group_key.clone(),
                order.clone(),
                *limit,
                *offset,
            ),
        }
    }

    /// A collection holding `rows` from the start of time. Only worker 0 holds them, so
    /// each row counts once however many workers there are.
    fn constant(&self, rows: Vec<(Row, Diff)>) -> Coll<'s> {
        let rows = if self.scope.index() == 0 {
            rows
        } else {
            Vec::new()
        };
        let (_input, coll) = self
            .scope
            .new_collection_from_raw(rows.into_iter().map(|(row, diff)| (row, 0, diff)));
        coll
    }
}

/// The values of `columns` of `row`, in order.
pub(crate) fn project_columns(row: &Row, columns: &[usize]) -> Row {
    columns
        .iter()
        .map(|&c| row.get(c).cloned().unwrap_or(Datum::Null))
        .collect()
}
