//! Vigil's dataflow plan: the IR between DataFusion's `LogicalPlan` and differential
//! operators.
//!
//! Every node produces a multiset of [`Row`]s. Column references are positions in the
//! input row. Scalar expressions and aggregates are DataFusion's own physical
//! expressions, so a view computes exactly what an ad-hoc query computes; the plan
//! decides only *how* the result is maintained (joins, reductions, arrangements).
//!
//! `EXPLAIN` prints this plan through its `Display` implementation.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;

use crate::repr::{Row, ScalarType};

/// Identifies a relation (table or materialized view) in the engine.
pub type GlobalId = u64;

/// Multiplicity change of a row.
pub type Diff = i64;

/// Logical time: milliseconds on the engine's timeline.
pub type Time = u64;

/// A scalar expression over the columns of an input row, evaluated by DataFusion
/// over batches of rows.
#[derive(Clone)]
pub struct ScalarExpr {
    pub expr: Arc<dyn PhysicalExpr>,
    /// The expression as SQL-ish text, for EXPLAIN.
    pub display: String,
}

impl fmt::Debug for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// One aggregate of a [`Plan::Reduce`]: DataFusion's aggregate expression, evaluated by
/// its own accumulator over every row of a group.
#[derive(Clone)]
pub struct AggregateExpr {
    pub expr: Arc<AggregateFunctionExpr>,
    /// `FILTER (WHERE …)`, if any.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    pub output_type: ScalarType,
    pub display: String,
}

impl fmt::Debug for AggregateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// How a [`Plan::Join`] combines its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    /// Left rows with at least one match; output has the left columns.
    Semi,
    /// Left rows with no match; output has the left columns.
    Anti,
    /// `NOT IN`: like `Anti`, except that a NULL key on the right removes every left
    /// row, and a left row with a NULL key survives only when the right is empty.
    NullAwareAnti,
}

/// How a temporal predicate compares `now()` with its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemporalBound {
    /// `now() >= bound`: the row enters the view at `bound`.
    AtLeast,
    /// `now() > bound`: the row enters just after `bound`.
    After,
    /// `now() < bound`: the row leaves the view at `bound`.
    Before,
    /// `now() <= bound`: the row leaves just after `bound`.
    AtMost,
}

/// One conjunct `now() <op> expr` of a [`Plan::TemporalFilter`]; `expr` evaluates to a
/// timestamp or a date over the input row.
#[derive(Clone, Debug)]
pub struct TemporalPredicate {
    pub bound: TemporalBound,
    pub expr: ScalarExpr,
}

/// Sort order of one column of a [`Plan::TopK`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// A dataflow plan node.
#[derive(Clone, Debug)]
pub enum Plan {
    /// The current contents of a table or materialized view.
    Get { id: GlobalId, name: String },
    /// A fixed multiset of rows.
    Constant { rows: Vec<(Row, Diff)> },
    /// Replaces each row by the values of `exprs` evaluated over it.
    Project {
        input: Box<Plan>,
        input_schema: SchemaRef,
        exprs: Vec<ScalarExpr>,
    },
    /// Keeps the rows for which `predicate` is true (not false, not NULL).
    Filter {
        input: Box<Plan>,
        input_schema: SchemaRef,
        predicate: ScalarExpr,
    },
    /// Keeps each row while every temporal predicate holds for the engine's time: a
    /// row enters when its lower bounds have passed and leaves when its first upper
    /// bound passes, with no new input (the retraction is scheduled at that time).
    TemporalFilter {
        input: Box<Plan>,
        input_schema: SchemaRef,
        predicates: Vec<TemporalPredicate>,
    },
    /// An equi-join on key columns, with an optional residual predicate over the
    /// concatenated row (left columns then right columns). Rows with a NULL key never
    /// match unless `nulls_equal`.
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        left_key: Vec<usize>,
        right_key: Vec<usize>,
        kind: JoinKind,
        residual: Option<(SchemaRef, ScalarExpr)>,
        nulls_equal: bool,
        left_arity: usize,
        right_arity: usize,
    },
    /// GROUP BY `group_key` computing `aggregates`; output is the key columns then one
    /// column per aggregate. With an empty key the output is always exactly one row.
    Reduce {
        input: Box<Plan>,
        input_schema: SchemaRef,
        group_key: Vec<usize>,
        aggregates: Vec<AggregateExpr>,
    },
    /// Removes duplicate rows.
    Distinct { input: Box<Plan> },
    /// Multiset union.
    Union { inputs: Vec<Plan> },
    /// Keeps the first `limit` rows (after `offset`) in `order`, per `group_key`.
    TopK {
        input: Box<Plan>,
        group_key: Vec<usize>,
        order: Vec<SortKey>,
        limit: Option<usize>,
        offset: usize,
    },
}

impl Plan {
    /// The relations the plan reads.
    pub fn depends_on(&self) -> Vec<GlobalId> {
        let mut ids = Vec::new();
        self.visit(&mut |plan| {
            if let Plan::Get { id, .. } = plan {
                ids.push(*id);
            }
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn visit(&self, f: &mut impl FnMut(&Plan)) {
        f(self);
        match self {
            Plan::Get { .. } | Plan::Constant { .. } => {}
            Plan::Project { input, .. }
            | Plan::Filter { input, .. }
            | Plan::TemporalFilter { input, .. }
            | Plan::Reduce { input, .. }
            | Plan::Distinct { input }
            | Plan::TopK { input, .. } => input.visit(f),
            Plan::Join { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Plan::Union { inputs } => inputs.iter().for_each(|i| i.visit(f)),
        }
    }

    fn fmt_indented(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        match self {
            Plan::Get { name, id } => writeln!(f, "{pad}Get {name} (u{id})")?,
            Plan::Constant { rows } => writeln!(f, "{pad}Constant ({} rows)", rows.len())?,
            Plan::Project { input, exprs, .. } => {
                writeln!(f, "{pad}Project {}", list(exprs))?;
                input.fmt_indented(f, depth + 1)?;
            }
            Plan::Filter {
                input, predicate, ..
            } => {
                writeln!(f, "{pad}Filter {predicate:?}")?;
                input.fmt_indented(f, depth + 1)?;
            }
            Plan::TemporalFilter {
                input, predicates, ..
            } => {
                let predicates = predicates
                    .iter()
                    .map(|p| {
                        let op = match p.bound {
                            TemporalBound::AtLeast => ">=",
                            TemporalBound::After => ">",
                            TemporalBound::Before => "<",
                            TemporalBound::AtMost => "<=",
                        };
                        format!("now() {op} {:?}", p.expr)
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ");
                writeln!(f, "{pad}TemporalFilter {predicates}")?;
                input.fmt_indented(f, depth + 1)?;
            }
            Plan::Join {
                left,
                right,
                left_key,
                right_key,
                kind,
                residual,
                nulls_equal,
                ..
            } => {
                let on = left_key
                    .iter()
                    .zip(right_key)
                    .map(|(l, r)| format!("#{l} = #{r}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                write!(f, "{pad}Join {kind:?} on [{on}]")?;
                if let Some((_, residual)) = residual {
                    write!(f, " residual {residual:?}")?;
                }
                if *nulls_equal {
                    write!(f, " (nulls equal)")?;
                }
                writeln!(f)?;
                left.fmt_indented(f, depth + 1)?;
                right.fmt_indented(f, depth + 1)?;
            }
            Plan::Reduce {
                input,
                group_key,
                aggregates,
                ..
            } => {
                writeln!(
                    f,
                    "{pad}Reduce group_by={group_key:?} aggregates={}",
                    list(aggregates)
                )?;
                input.fmt_indented(f, depth + 1)?;
            }
            Plan::Distinct { input } => {
                writeln!(f, "{pad}Distinct")?;
                input.fmt_indented(f, depth + 1)?;
            }
            Plan::Union { inputs } => {
                writeln!(f, "{pad}Union")?;
                for input in inputs {
                    input.fmt_indented(f, depth + 1)?;
                }
            }
            Plan::TopK {
                input,
                group_key,
                order,
                limit,
                offset,
            } => {
                let order = order
                    .iter()
                    .map(|k| {
                        format!(
                            "#{} {} nulls {}",
                            k.column,
                            if k.descending { "desc" } else { "asc" },
                            if k.nulls_first { "first" } else { "last" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(f, "{pad}TopK order_by=[{order}]")?;
                if !group_key.is_empty() {
                    write!(f, " group_by={group_key:?}")?;
                }
                if let Some(limit) = limit {
                    write!(f, " limit={limit}")?;
                }
                if *offset > 0 {
                    write!(f, " offset={offset}")?;
                }
                writeln!(f)?;
                input.fmt_indented(f, depth + 1)?;
            }
        }
        Ok(())
    }
}

fn list<T: fmt::Debug>(items: &[T]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_indented(f, 0)
    }
}
