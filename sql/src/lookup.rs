//! Point lookups: reading only the rows a query pins.
//!
//! Ad-hoc queries run in DataFusion over snapshots of the relations they scan. A
//! relation's arrangement keeps its rows sorted, so when a query's filter pins the
//! relation's leading columns to constants (`SELECT … FROM order_totals WHERE
//! customer_id = $1`), the snapshot can hold just the rows starting with those
//! values: a seek in each worker instead of a copy of the whole relation. The
//! query's own filter still runs over what was read, so narrowing the snapshot only
//! removes rows the filter would have removed anyway.
//!
//! UPDATE and DELETE use the same analysis to read a table row by its primary key
//! from storage.

use std::collections::BTreeMap;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use vigil_engine::plan::GlobalId;
use vigil_engine::repr::{Datum, RelationDesc, Row, ScalarType};

use crate::catalog::Catalog;
use crate::context::scan_target;

/// The columns of a relation (by position in `desc`) that `predicate`'s equality
/// conjuncts pin to constants, with the constants converted to the columns' types.
pub(crate) fn pinned_columns(predicate: &Expr, desc: &RelationDesc) -> BTreeMap<usize, Datum> {
    let mut pinned = BTreeMap::new();
    for conjunct in split_conjunction(predicate) {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = conjunct
        else {
            continue;
        };
        let (column, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), value) | (value, Expr::Column(c)) => (c, value),
            _ => continue,
        };
        let Some(position) = desc.position(&column.name) else {
            continue;
        };
        let literal = match value {
            Expr::Literal(v, _) => v,
            Expr::Cast(cast) => match cast.expr.as_ref() {
                Expr::Literal(v, _) => v,
                _ => continue,
            },
            _ => continue,
        };
        let Ok(datum) = vigil_engine::repr::arrow::scalar_value_to_datum(literal) else {
            continue;
        };
        // The literal's type may differ from the column's (`int = 5` plans 5 as
        // bigint): convert through the text form, as an explicit cast would.
        let Some(text) = vigil_engine::repr::text::datum_to_text(&datum) else {
            continue;
        };
        if let Ok(datum) = vigil_engine::repr::text::parse_datum(&text, desc.columns[position].ty) {
            pinned.insert(position, datum);
        }
    }
    pinned
}

/// For each relation `plan` scans exactly once, right under a filter that pins its
/// leading columns, the values of those columns.
pub(crate) fn prefixes(plan: &LogicalPlan, catalog: &Catalog) -> BTreeMap<GlobalId, Row> {
    let mut scans: BTreeMap<GlobalId, usize> = BTreeMap::new();
    let mut found = BTreeMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                if let Some(id) = scan_target(&scan.source) {
                    *scans.entry(id).or_default() += 1;
                }
            }
            LogicalPlan::Filter(filter) => {
                let mut input = filter.input.as_ref();
                if let LogicalPlan::SubqueryAlias(alias) = input {
                    input = alias.input.as_ref();
                }
                let LogicalPlan::TableScan(scan) = input else {
                    return Ok(TreeNodeRecursion::Continue);
                };
                let Some(entry) = scan_target(&scan.source).and_then(|id| catalog.get(id)) else {
                    return Ok(TreeNodeRecursion::Continue);
                };
                let desc = &entry.def.desc;
                let mut pinned = pinned_columns(&filter.predicate, desc);
                let prefix: Row = (0..desc.arity())
                    .map_while(|c| pinned.remove(&c).filter(|_| seekable(desc.columns[c].ty)))
                    .collect();
                if !prefix.is_empty() {
                    found.insert(entry.id, prefix);
                }
            }
            _ => {}
        }
        Ok::<_, datafusion::error::DataFusionError>(TreeNodeRecursion::Continue)
    });
    found.retain(|id, _| scans.get(id) == Some(&1));
    found
}

/// Types whose equal values are equal datums, so rows equal to a constant sit
/// together in a sorted arrangement. Numerics may differ in scale (1.0 = 1.00),
/// floats in the sign of zero, intervals in their units (1 day = 24 hours), and
/// json in its text: a seek could miss equal rows of those.
fn seekable(ty: ScalarType) -> bool {
    matches!(
        ty,
        ScalarType::Bool
            | ScalarType::Int16
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Text
            | ScalarType::Date
            | ScalarType::Timestamp
            | ScalarType::TimestampTz
    )
}
