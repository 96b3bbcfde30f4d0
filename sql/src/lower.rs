//! Lowering: DataFusion's optimized `LogicalPlan` becomes Vigil's dataflow [`Plan`].
//!
//! Each logical operator maps to the dataflow operator that maintains it
//! incrementally. Scalar expressions and aggregates are turned into DataFusion
//! physical expressions against the operator's input schema, so they evaluate with
//! DataFusion's semantics inside the dataflow.
//!
//! What cannot be maintained (window functions, volatile or time-dependent functions,
//! recursive queries, …) is refused with [`SqlError::NotIncremental`], which names the
//! construct and carries SQLSTATE 0A000.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef, JoinType, NullEquality, TableReference};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Aggregate, Distinct, Expr, ExprSchemable, FetchType, Join, Limit, LogicalPlan, SkipType, Sort,
    SortExpr, Volatility,
};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr, expressions};
use vigil_engine::plan::{AggregateExpr, JoinKind, Plan, ScalarExpr, SortKey, TemporalPredicate};
use vigil_engine::repr::arrow::{scalar_type_of_field, scalar_value_to_datum};

use crate::SqlError;
use crate::context::scan_target;
use crate::temporal::{mentions_now, misplaced_now, split_temporal};

/// Refuses constructs whose value depends on when or how often they are evaluated.
/// Runs on the unoptimized plan: the optimizer folds `now()` into a constant.
pub fn check_deterministic(plan: &LogicalPlan) -> Result<(), SqlError> {
    let mut found: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Window(_) = node {
            found = Some("window functions".into());
            return Ok(TreeNodeRecursion::Stop);
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                // now() is a temporal filter where lowering can make it one, and
                // refused there otherwise.
                if let Expr::ScalarFunction(f) = e
                    && f.func.signature().volatility != Volatility::Immutable
                    && f.func.name() != "now"
                {
                    found = Some(format!("{}()", f.func.name()));
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .map_err(|e| SqlError::Plan(e.to_string()))?;
    match found {
        Some(construct) => Err(SqlError::NotIncremental { construct }),
        None => Ok(()),
    }
}

/// Lowers an optimized logical plan.
pub fn lower(plan: &LogicalPlan) -> Result<Plan, SqlError> {
    check_now(plan)?;
    Lowering {
        props: ExecutionProps::new(),
    }
    .lower(plan)
}

struct Lowering {
    props: ExecutionProps,
}

/// Refuses `now()` anywhere but a filter, where it becomes a temporal filter.
fn check_now(plan: &LogicalPlan) -> Result<(), SqlError> {
    let mut misplaced = None;
    plan.apply_with_subqueries(|node| {
        if matches!(node, LogicalPlan::Filter(_)) {
            return Ok(TreeNodeRecursion::Continue);
        }
        let mut found = false;
        node.apply_expressions(|expr| {
            found |= mentions_now(expr);
            Ok(TreeNodeRecursion::Continue)
        })?;
        if found {
            misplaced = Some(match node {
                LogicalPlan::Projection(_) => "the select list",
                LogicalPlan::Aggregate(_) => "an aggregate or GROUP BY",
                LogicalPlan::Join(_) => "a join condition",
                LogicalPlan::Sort(_) => "ORDER BY",
                _ => "this position",
            });
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| SqlError::Plan(e.to_string()))?;
    match misplaced {
        Some(place) => Err(misplaced_now(place)),
        None => Ok(()),
    }
}

/// `exprs` joined by AND, if any.
fn conjunction(exprs: Vec<Expr>) -> Option<Expr> {
    exprs.into_iter().reduce(|all, e| all.and(e))
}

fn not_incremental(construct: &str) -> SqlError {
    SqlError::NotIncremental {
        construct: construct.to_string(),
    }
}

fn df_error(e: datafusion::error::DataFusionError) -> SqlError {
    SqlError::Plan(e.to_string())
}

impl Lowering {
    fn lower(&self, plan: &LogicalPlan) -> Result<Plan, SqlError> {
        match plan {
            LogicalPlan::Projection(projection) => {
                let input = self.lower(&projection.input)?;
                self.project(input, projection.input.schema(), &projection.expr)
            }
            LogicalPlan::Filter(filter) => {
                let mut plan = self.lower(&filter.input)?;
                let schema = filter.input.schema();
                let (temporal, rest) = split_temporal(&filter.predicate, schema)?;
                if let Some(predicate) = conjunction(rest) {
                    plan = Plan::Filter {
                        input: Box::new(plan),
                        input_schema: arrow_schema(schema),
                        predicate: self.scalar(&predicate, schema)?,
                    };
                }
                if !temporal.is_empty() {
                    plan = Plan::TemporalFilter {
                        input: Box::new(plan),
                        input_schema: arrow_schema(schema),
                        predicates: temporal
                            .into_iter()
                            .map(|(bound, expr)| {
                                Ok(TemporalPredicate {
                                    bound,
                                    expr: self.scalar(&expr, schema)?,
                                })
                            })
                            .collect::<Result<_, SqlError>>()?,
                    };
                }
                Ok(plan)
            }
            LogicalPlan::TableScan(scan) => {
                let id = scan_target(&scan.source).ok_or_else(|| {
                    SqlError::Unsupported(format!(
                        "reading {} in a materialized view",
                        scan.table_name
                    ))
                })?;
                let mut plan = Plan::Get {
                    id,
                    name: scan.table_name.table().to_string(),
                };
                let source_schema = scan.source.schema();
                if let Some(projection) = &scan.projection {
                    let exprs = projection
                        .iter()
                        .map(|&i| column_expr(source_schema.field(i).name(), i))
                        .collect();
                    plan = Plan::Project {
                        input: Box::new(plan),
                        input_schema: source_schema,
                        exprs,
                    };
                }
                for filter in &scan.filters {
                    plan = Plan::Filter {
                        input: Box::new(plan),
                        input_schema: arrow_schema(&scan.projected_schema),
                        predicate: self.scalar(filter, &scan.projected_schema)?,
                    };
                }
                if let Some(fetch) = scan.fetch {
                    plan = top_k(plan, Vec::new(), Some(fetch), 0);
                }
                Ok(plan)
            }
            LogicalPlan::Join(join) => self.join(join),
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Distinct(Distinct::All(input)) => Ok(Plan::Distinct {
                input: Box::new(self.lower(input)?),
            }),
            LogicalPlan::Distinct(Distinct::On(_)) => Err(not_incremental("DISTINCT ON")),
            LogicalPlan::Union(union) => Ok(Plan::Union {
                inputs: union
                    .inputs
                    .iter()
                    .map(|i| self.lower(i))
                    .collect::<Result<_, _>>()?,
            }),
            LogicalPlan::Sort(sort) => match sort.fetch {
                Some(fetch) => self.sort(sort, Some(fetch), 0),
                // A view is a set: its order is the reader's business.
                None => self.lower(&sort.input),
            },
            LogicalPlan::Limit(limit) => self.limit(limit),
            LogicalPlan::SubqueryAlias(alias) => self.lower(&alias.input),
            LogicalPlan::Repartition(repartition) => self.lower(&repartition.input),
            LogicalPlan::EmptyRelation(empty) => Ok(Plan::Constant {
                rows: if empty.produce_one_row {
                    vec![(Vec::new(), 1)]
                } else {
                    Vec::new()
                },
            }),
            LogicalPlan::Values(values) => self.values(&values.values),
            LogicalPlan::Window(_) => Err(not_incremental("window functions")),
            LogicalPlan::Subquery(_) => Err(not_incremental("this subquery")),
            LogicalPlan::Unnest(_) => Err(not_incremental("UNNEST")),
            LogicalPlan::RecursiveQuery(_) => Err(not_incremental("WITH RECURSIVE")),
            LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Extension(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_) => Err(SqlError::Unsupported(format!(
                "{} in a materialized view",
                plan.display()
            ))),
        }
    }

    fn scalar(&self, expr: &Expr, schema: &DFSchema) -> Result<ScalarExpr, SqlError> {
        let physical = create_physical_expr(
            expr,
            schema,
            &self.props,
            &PhysicalPlanningContext::default(),
        )
        .map_err(df_error)?;
        Ok(ScalarExpr {
            expr: physical,
            display: expr.human_display().to_string(),
        })
    }

    fn project(&self, input: Plan, schema: &DFSchemaRef, exprs: &[Expr]) -> Result<Plan, SqlError> {
        let exprs = exprs
            .iter()
            .map(|e| self.scalar(e, schema))
            .collect::<Result<_, _>>()?;
        Ok(Plan::Project {
            input: Box::new(input),
            input_schema: arrow_schema(schema),
            exprs,
        })
    }

    /// Appends computed columns for `exprs` that are not plain columns of `schema`;
    /// returns the extended plan and schema and each expression's column.
    fn with_columns(
        &self,
        input: Plan,
        schema: &DFSchemaRef,
        exprs: &[&Expr],
        prefix: &str,
    ) -> Result<(Plan, DFSchemaRef, Vec<usize>), SqlError> {
        let arity = schema.fields().len();
        let mut extra: Vec<&Expr> = Vec::new();
        let mut positions = Vec::with_capacity(exprs.len());
        for expr in exprs {
            match expr {
                Expr::Column(column) => {
                    positions.push(schema.index_of_column(column).map_err(df_error)?)
                }
                _ => {
                    positions.push(arity + extra.len());
                    extra.push(expr);
                }
            }
        }
        if extra.is_empty() {
            return Ok((input, schema.clone(), positions));
        }
        let mut fields: Vec<(Option<TableReference>, Arc<Field>)> = schema
            .iter()
            .map(|(q, f)| (q.cloned(), f.clone()))
            .collect();
        let mut projection: Vec<ScalarExpr> = schema
            .iter()
            .enumerate()
            .map(|(i, (_, f))| column_expr(f.name(), i))
            .collect();
        for (n, expr) in extra.iter().enumerate() {
            let (_, field) = expr.to_field(schema).map_err(df_error)?;
            let name = format!("__vigil_{prefix}_{n}");
            fields.push((
                None,
                Arc::new(Field::new(
                    name,
                    field.data_type().clone(),
                    field.is_nullable(),
                )),
            ));
            projection.push(self.scalar(expr, schema)?);
        }
        let extended =
            Arc::new(DFSchema::new_with_metadata(fields, HashMap::new()).map_err(df_error)?);
        let plan = Plan::Project {
            input: Box::new(input),
            input_schema: arrow_schema(schema),
            exprs: projection,
        };
        Ok((plan, extended, positions))
    }

    fn join(&self, join: &Join) -> Result<Plan, SqlError> {
        let (kind, swap) = match join.join_type {
            JoinType::Inner => (JoinKind::Inner, false),
            JoinType::Left => (JoinKind::Left, false),
            JoinType::Right => (JoinKind::Right, false),
            JoinType::Full => (JoinKind::Full, false),
            JoinType::LeftSemi => (JoinKind::Semi, false),
            JoinType::RightSemi => (JoinKind::Semi, true),
            JoinType::LeftAnti if join.null_aware => (JoinKind::NullAwareAnti, false),
            JoinType::LeftAnti => (JoinKind::Anti, false),
            JoinType::RightAnti if join.null_aware => (JoinKind::NullAwareAnti, true),
            JoinType::RightAnti => (JoinKind::Anti, true),
            JoinType::LeftMark | JoinType::RightMark => {
                return Err(not_incremental(
                    "EXISTS or IN inside an OR or a SELECT list",
                ));
            }
        };
        let (left, right) = if swap {
            (&join.right, &join.left)
        } else {
            (&join.left, &join.right)
        };
        let (left_on, right_on): (Vec<&Expr>, Vec<&Expr>) = join
            .on
            .iter()
            .map(|(l, r)| if swap { (r, l) } else { (l, r) })
            .unzip();

        let (left_plan, left_schema, left_key) =
            self.with_columns(self.lower(left)?, left.schema(), &left_on, "left_key")?;
        let (right_plan, right_schema, right_key) =
            self.with_columns(self.lower(right)?, right.schema(), &right_on, "right_key")?;
        let (left_arity, right_arity) = (left_schema.fields().len(), right_schema.fields().len());

        let residual = match &join.filter {
            Some(filter) => {
                let joined = left_schema.join(&right_schema).map_err(df_error)?;
                Some((arrow_schema(&joined), self.scalar(filter, &joined)?))
            }
            None => None,
        };
        let plan = Plan::Join {
            left: Box::new(left_plan),
            right: Box::new(right_plan),
            left_key,
            right_key,
            kind,
            residual,
            nulls_equal: join.null_equality == NullEquality::NullEqualsNull,
            left_arity,
            right_arity,
        };

        // Drop computed key columns again, so the output matches the logical schema.
        let (original_left, original_right) =
            (left.schema().fields().len(), right.schema().fields().len());
        let keep: Vec<usize> = match kind {
            JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti => {
                (0..original_left).collect()
            }
            _ => (0..original_left)
                .chain(left_arity..left_arity + original_right)
                .collect(),
        };
        let output_arity = match kind {
            JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti => left_arity,
            _ => left_arity + right_arity,
        };
        if keep.len() == output_arity {
            return Ok(plan);
        }
        let output_schema = match kind {
            JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti => {
                left_schema.inner().clone()
            }
            _ => arrow_schema(&left_schema.join(&right_schema).map_err(df_error)?),
        };
        let exprs = keep
            .iter()
            .map(|&i| column_expr(output_schema.field(i).name(), i))
            .collect();
        Ok(Plan::Project {
            input: Box::new(plan),
            input_schema: output_schema,
            exprs,
        })
    }

    fn aggregate(&self, aggregate: &Aggregate) -> Result<Plan, SqlError> {
        if aggregate
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Err(not_incremental("GROUPING SETS, ROLLUP and CUBE"));
        }
        let input = self.lower(&aggregate.input)?;
        let group: Vec<&Expr> = aggregate.group_expr.iter().collect();
        let (input, schema, group_key) =
            self.with_columns(input, aggregate.input.schema(), &group, "group")?;
        let input_schema = arrow_schema(&schema);

        if aggregate.aggr_expr.is_empty() {
            let exprs = group_key
                .iter()
                .map(|&i| column_expr(input_schema.field(i).name(), i))
                .collect();
            let keys = Plan::Project {
                input: Box::new(input),
                input_schema,
                exprs,
            };
            return Ok(Plan::Distinct {
                input: Box::new(keys),
            });
        }

        let planning = PhysicalPlanningContext::default();
        let aggregates = aggregate
            .aggr_expr
            .iter()
            .map(|expr| {
                let lowered = LoweredAggregateBuilder::new(
                    expr,
                    &schema,
                    &input_schema,
                    &self.props,
                    &planning,
                )
                .build()
                .map_err(df_error)?;
                let output_type = scalar_type_of_field(&lowered.aggregate.field())
                    .map_err(|e| SqlError::Unsupported(format!("{}: {e}", expr.human_display())))?;
                Ok(AggregateExpr {
                    expr: lowered.aggregate,
                    filter: lowered.filter,
                    output_type,
                    display: expr.human_display().to_string(),
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        Ok(Plan::Reduce {
            input: Box::new(input),
            input_schema,
            group_key,
            aggregates,
        })
    }

    fn sort(&self, sort: &Sort, limit: Option<usize>, offset: usize) -> Result<Plan, SqlError> {
        let input = self.lower(&sort.input)?;
        let exprs: Vec<&Expr> = sort.expr.iter().map(|s: &SortExpr| &s.expr).collect();
        let schema = sort.input.schema();
        let arity = schema.fields().len();
        let (input, extended, columns) = self.with_columns(input, schema, &exprs, "order")?;
        let order = sort
            .expr
            .iter()
            .zip(columns)
            .map(|(s, column)| SortKey {
                column,
                descending: !s.asc,
                nulls_first: s.nulls_first,
            })
            .collect();
        let plan = top_k(input, order, limit, offset);
        if extended.fields().len() == arity {
            return Ok(plan);
        }
        let extended = arrow_schema(&extended);
        let exprs = (0..arity)
            .map(|i| column_expr(extended.field(i).name(), i))
            .collect();
        Ok(Plan::Project {
            input: Box::new(plan),
            input_schema: extended,
            exprs,
        })
    }

    fn limit(&self, limit: &Limit) -> Result<Plan, SqlError> {
        let offset = match limit.get_skip_type().map_err(df_error)? {
            SkipType::Literal(skip) => skip,
            SkipType::UnsupportedExpr => {
                return Err(not_incremental("OFFSET with a non-constant value"));
            }
        };
        let fetch = match limit.get_fetch_type().map_err(df_error)? {
            FetchType::Literal(fetch) => fetch,
            FetchType::UnsupportedExpr => {
                return Err(not_incremental("LIMIT with a non-constant value"));
            }
        };
        match limit.input.as_ref() {
            LogicalPlan::Sort(sort) => self.sort(sort, fetch, offset),
            input => Ok(top_k(self.lower(input)?, Vec::new(), fetch, offset)),
        }
    }

    fn values(&self, values: &[Vec<Expr>]) -> Result<Plan, SqlError> {
        let empty = DFSchema::empty();
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            Vec::new(),
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .map_err(|e| SqlError::Plan(e.to_string()))?;
        let mut rows = Vec::with_capacity(values.len());
        for exprs in values {
            let mut row = Vec::with_capacity(exprs.len());
            for expr in exprs {
                let physical = self.scalar(expr, &empty)?;
                let value = physical.expr.evaluate(&batch).map_err(df_error)?;
                let scalar = match value {
                    datafusion::logical_expr::ColumnarValue::Scalar(s) => s,
                    datafusion::logical_expr::ColumnarValue::Array(a) => {
                        datafusion::common::ScalarValue::try_from_array(&a, 0).map_err(df_error)?
                    }
                };
                row.push(
                    scalar_value_to_datum(&scalar).map_err(|e| SqlError::Plan(e.to_string()))?,
                );
            }
            rows.push((row, 1));
        }
        Ok(Plan::Constant { rows })
    }
}

fn top_k(input: Plan, order: Vec<SortKey>, limit: Option<usize>, offset: usize) -> Plan {
    Plan::TopK {
        input: Box::new(input),
        group_key: Vec::new(),
        order,
        limit,
        offset,
    }
}

fn column_expr(name: &str, index: usize) -> ScalarExpr {
    let expr: Arc<dyn PhysicalExpr> = Arc::new(expressions::Column::new(name, index));
    ScalarExpr {
        expr,
        display: format!("#{index}"),
    }
}

fn arrow_schema(schema: &DFSchema) -> SchemaRef {
    Arc::new(schema.as_arrow().clone())
}
