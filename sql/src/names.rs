//! PostgreSQL's names for the columns of a query, given before DataFusion plans it.
//!
//! Grafana and Metabase name series and columns after a query's result columns, and
//! `SELECT s.count FROM (SELECT count(*) FROM t) s` has to resolve, so an unaliased
//! select item is named the way PostgreSQL names it (`FigureColnameInternal` in
//! `parse_target.c`), not DataFusion's way (`count(*)`, `Int64(1)`, `t.n + Int64(1)`):
//!
//! | item | name |
//! | --- | --- |
//! | `n`, `t.n`, `(n)`, `n COLLATE "C"`, `(x).f`, `a[1]` | the column's (field's) name |
//! | `f(…)`, `schema.f(…)`, with `FILTER` / `OVER` | `f` |
//! | `x::T`, `CAST(x AS T)` | `x`'s name if it has one, else `T`'s (`int4`, `float8`, `bpchar`, …) |
//! | `date '…'`, `interval '…'` | the type's name |
//! | `CASE … ELSE x END` | `x`'s name if it has one, else `case` |
//! | `ARRAY[…]`, `ARRAY(…)` / `ROW(…)`, `(a, b)` / `EXISTS (…)` | `array` / `row` / `exists` |
//! | `(SELECT …)` | the subquery's first column's name |
//! | `extract`, `position`, `substring`, `overlay`, `trim` | `extract`, `position`, `substring`, `overlay`, `btrim` / `ltrim` / `rtrim` |
//! | `x AT TIME ZONE z`, `x IS NORMALIZED`, `ceil`, `floor` | `timezone`, `is_normalized`, `ceil`, `floor` |
//! | `current_date`, `current_user`, … | their name |
//! | anything else: operators, literals, `IS NULL`, `IN`, `NOT EXISTS` | `?column?` |
//!
//! The name becomes the item's alias. DataFusion refuses two columns of one name in
//! a projection, which PostgreSQL allows (`SELECT 1, 2` has two `?column?`), so a
//! name already taken in the same select list, or one that would clash with a column
//! DataFusion adds for ORDER BY, gets an internal name instead: the name followed by
//! a mark ([`marked`]). Later duplicates of explicit aliases and plain column
//! references are marked the same way; what the client sees is unchanged.
//! A wildcard's columns count as taken names when they are known (relations of the
//! catalog, subqueries in FROM); when they are not (system relations, CTEs, table
//! functions), every generated name beside the wildcard is marked.
//!
//! What becomes of a marked name:
//! - at the top of a query, [`unmark_output`] renames the result columns back when
//!   that leaves them unique; otherwise the marked names stay in the plan and
//!   [`display_name`] gives the client PostgreSQL's (duplicate) names;
//! - `CREATE [MATERIALIZED] VIEW` without a column list refuses duplicate names
//!   (42701), as PostgreSQL does;
//! - in a subquery, duplicates keep their internal names: PostgreSQL allows them but
//!   a reference to one is ambiguous there, so nothing is lost; here such a
//!   reference resolves to the first of them.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::common::Column;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr as DfExpr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, DataType, ExactNumberInfo, Expr, Ident, ObjectName,
    ObjectNamePart, OrderBy, OrderByKind, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, TimezoneInfo, TrimWhereField, Value, Visit, VisitMut, Visitor, VisitorMut,
};

/// Separates a name from the position that makes it unique (`?column?__vigil2`).
const MARK: &str = "__vigil";

/// PostgreSQL's name for an expression that has none of its own.
const NO_NAME: &str = "?column?";

/// Aliases every unaliased select item of every query in `statement` with its
/// PostgreSQL name; see the module doc. `relation_columns` gives the column names of
/// a relation of the catalog (by its normalized name), for what a wildcard expands to.
pub(crate) fn name_columns(
    statement: &mut Statement,
    relation_columns: &dyn Fn(&str) -> Option<Vec<String>>,
) {
    let mut ctes = CteNames::default();
    let _ = Visit::visit(&*statement, &mut ctes);
    let _ = statement.visit(&mut Namer {
        relation_columns,
        ctes: ctes.0,
    });
}

/// The names of every CTE of a statement: a wildcard over one of them does not
/// expand to the catalog relation of that name.
#[derive(Default)]
struct CteNames(BTreeSet<String>);

impl Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            self.0
                .extend(with.cte_tables.iter().map(|cte| normalize(&cte.alias.name)));
        }
        ControlFlow::Continue(())
    }
}

/// The name a client sees for a result column: PostgreSQL's, without the mark a
/// duplicate carries.
pub fn display_name(name: &str) -> &str {
    match name.rfind(MARK) {
        Some(at)
            if at > 0
                && name.len() > at + MARK.len()
                && name[at + MARK.len()..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &name[..at]
        }
        _ => name,
    }
}

/// The internal name of the item at `position` (1-based) whose name is `name`.
fn marked(name: &str, position: usize) -> String {
    format!("{name}{MARK}{position}")
}

/// Renames a query's marked result columns to their PostgreSQL names when those are
/// unique, so views and subscriptions get PostgreSQL's names in their schema.
pub(crate) fn unmark_output(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    let schema = plan.schema().clone();
    if !schema
        .fields()
        .iter()
        .any(|f| display_name(f.name()) != f.name())
    {
        return Ok(plan);
    }
    let mut seen = BTreeSet::new();
    if !schema
        .fields()
        .iter()
        .all(|f| seen.insert(display_name(f.name())))
    {
        return Ok(plan);
    }
    let exprs: Vec<DfExpr> = schema
        .iter()
        .map(|(qualifier, field)| {
            let column = DfExpr::Column(Column::from((qualifier, field)));
            let name = display_name(field.name());
            if name == field.name() {
                column
            } else {
                column.alias(name)
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

struct Namer<'a> {
    relation_columns: &'a dyn Fn(&str) -> Option<Vec<String>>,
    ctes: BTreeSet<String>,
}

impl Namer<'_> {
    /// The columns a wildcard in `select` may expand to (a superset for `t.*`), if
    /// every relation it reads is known here.
    fn wildcard_columns(&self, select: &Select) -> Option<BTreeSet<String>> {
        let mut columns = BTreeSet::new();
        for from in &select.from {
            for factor in
                std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
            {
                columns.extend(self.factor_columns(factor)?);
            }
        }
        Some(columns)
    }

    fn factor_columns(&self, factor: &TableFactor) -> Option<Vec<String>> {
        match factor {
            TableFactor::Table {
                name,
                args: None,
                alias,
                ..
            } => {
                if let Some(alias) = alias
                    && !alias.columns.is_empty()
                {
                    return Some(alias.columns.iter().map(|c| normalize(&c.name)).collect());
                }
                let relation = match name.0.as_slice() {
                    [ObjectNamePart::Identifier(name)] => normalize(name),
                    [
                        ObjectNamePart::Identifier(schema),
                        ObjectNamePart::Identifier(name),
                    ] if normalize(schema) == crate::context::SCHEMA_NAME => normalize(name),
                    _ => return None,
                };
                if self.ctes.contains(&relation) {
                    return None;
                }
                (self.relation_columns)(&relation)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                if let Some(alias) = alias
                    && !alias.columns.is_empty()
                {
                    return Some(alias.columns.iter().map(|c| normalize(&c.name)).collect());
                }
                output_names(&subquery.body)
            }
            _ => None,
        }
    }
}

/// The column names of a (named) query body, if it has no wildcard.
fn output_names(body: &SetExpr) -> Option<Vec<String>> {
    match body {
        SetExpr::Select(select) => select.projection.iter().map(given_name).collect(),
        SetExpr::SetOperation { left, .. } => output_names(left),
        SetExpr::Query(query) => output_names(&query.body),
        _ => None,
    }
}

impl VisitorMut for Namer<'_> {
    type Break = ();

    /// Runs after the query's subqueries are named, so a scalar subquery's name is
    /// its first column's final name.
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            name_set_expr(self, query.body.as_mut(), &BTreeSet::new());
            return ControlFlow::Continue(());
        };
        let mut keys: Vec<&mut Expr> = match &mut query.order_by {
            Some(OrderBy {
                kind: OrderByKind::Expressions(keys),
                ..
            }) => keys.iter_mut().map(|key| &mut key.expr).collect(),
            _ => Vec::new(),
        };
        let repeats = repeated_items(select, &keys);
        let sorted_by = sort_key_columns(
            keys.iter()
                .zip(&repeats)
                .filter(|(_, item)| item.is_none())
                .map(|(key, _)| &**key),
        );
        let wildcard = self.wildcard_columns(select);
        name_select(select, &sorted_by, wildcard.as_ref());
        for (key, item) in keys.iter_mut().zip(repeats) {
            if let Some(SelectItem::ExprWithAlias { alias, .. }) =
                item.and_then(|i| select.projection.get(i))
            {
                **key = Expr::Identifier(alias.clone());
            }
        }
        ControlFlow::Continue(())
    }
}

/// For each ORDER BY key of a SELECT DISTINCT, the select item it repeats, if that
/// item is about to get a name. The key then reads the item's column by that name:
/// DataFusion would not match the expression with an aliased item (`SELECT DISTINCT
/// upper(r) … ORDER BY upper(r)` fails). Without DISTINCT the key stays an
/// expression over the input, which a rewrite may have made differ from the item
/// (`ORDER BY c.oid::regclass` sorts by oid, the item prints a name). A constant is
/// a position or a constant, never an item.
fn repeated_items(select: &Select, keys: &[&mut Expr]) -> Vec<Option<usize>> {
    if select.distinct.is_none() {
        return keys.iter().map(|_| None).collect();
    }
    let items: Vec<Option<String>> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) if column_reference(expr).is_none() => {
                Some(expr.to_string())
            }
            _ => None,
        })
        .collect();
    keys.iter()
        .map(|key| {
            if matches!(**key, Expr::Value(_)) {
                return None;
            }
            let text = key.to_string();
            items.iter().position(|item| item.as_deref() == Some(&text))
        })
        .collect()
}

/// Names the select lists of a query body; every branch of a set operation needs
/// unique names, and the first one's are the result's.
fn name_set_expr(namer: &Namer, body: &mut SetExpr, sorted_by: &BTreeSet<String>) {
    match body {
        SetExpr::Select(select) => {
            let wildcard = namer.wildcard_columns(select);
            name_select(select, sorted_by, wildcard.as_ref());
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_set_expr(namer, left, &BTreeSet::new());
            name_set_expr(namer, right, &BTreeSet::new());
        }
        // A nested query is visited on its own; the others have no select list.
        SetExpr::Query(_)
        | SetExpr::Values(_)
        | SetExpr::Insert(_)
        | SetExpr::Update(_)
        | SetExpr::Delete(_)
        | SetExpr::Merge(_)
        | SetExpr::Table(_) => {}
    }
}

/// Column names an ORDER BY reads from the query's input: DataFusion adds those the
/// select list lacks to its output, where an unqualified alias of the same name would
/// make them ambiguous. A bare name is left out: like PostgreSQL, DataFusion reads it
/// as the output column of that name.
fn sort_key_columns<'a>(keys: impl Iterator<Item = &'a Expr>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for key in keys {
        let mut expr = key;
        while let Expr::Nested(inner) = expr {
            expr = inner;
        }
        if matches!(expr, Expr::Identifier(_)) {
            continue;
        }
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e: &Expr| {
            match e {
                Expr::Identifier(ident) => {
                    names.insert(normalize(ident));
                }
                Expr::CompoundIdentifier(idents) => names.extend(idents.last().map(normalize)),
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
    }
    names
}

/// Names a select list. `wildcard_columns` are what its wildcard expands to, if it
/// has one; when those are unknown, every generated name is marked.
fn name_select(
    select: &mut Select,
    sorted_by: &BTreeSet<String>,
    wildcard_columns: Option<&BTreeSet<String>>,
) {
    let wildcard = select.projection.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    let expanded = match wildcard_columns {
        Some(columns) if wildcard => columns.clone(),
        _ => BTreeSet::new(),
    };
    let mark_generated = wildcard && wildcard_columns.is_none();
    let given: Vec<Option<String>> = select.projection.iter().map(given_name).collect();
    let reserved: BTreeSet<&str> = given
        .iter()
        .flatten()
        .chain(&expanded)
        .map(String::as_str)
        .collect();
    let mut used: BTreeSet<String> = expanded.clone();
    for (i, item) in select.projection.iter_mut().enumerate() {
        let position = i + 1;
        if let Some(name) = &given[i] {
            if !used.insert(name.clone()) {
                set_alias(item, marked(name, position));
            }
            continue;
        }
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let name = column_name(expr);
        let clashes = mark_generated
            || reserved.contains(name.as_str())
            || sorted_by.contains(&name)
            || used.contains(&name);
        let alias = if clashes {
            marked(&name, position)
        } else {
            used.insert(name.clone());
            name
        };
        set_alias(item, alias);
    }
}

/// The name an item already has: its alias, or the column a plain reference reads.
fn given_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(normalize(alias)),
        SelectItem::UnnamedExpr(expr) => column_reference(expr),
        SelectItem::ExprWithAliases { .. }
        | SelectItem::Wildcard(_)
        | SelectItem::QualifiedWildcard(..) => None,
    }
}

fn column_reference(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(normalize(ident)),
        Expr::CompoundIdentifier(idents) => idents.last().map(normalize),
        Expr::Nested(inner) => column_reference(inner),
        _ => None,
    }
}

fn set_alias(item: &mut SelectItem, name: String) {
    let alias = Ident::with_quote('"', name);
    match item {
        SelectItem::UnnamedExpr(expr) => {
            let expr = std::mem::replace(expr, Expr::value(Value::Null));
            *item = SelectItem::ExprWithAlias { expr, alias };
        }
        SelectItem::ExprWithAlias { alias: old, .. } => *old = alias,
        SelectItem::ExprWithAliases { .. }
        | SelectItem::Wildcard(_)
        | SelectItem::QualifiedWildcard(..) => {}
    }
}

/// PostgreSQL's name for an unaliased select item.
pub(crate) fn column_name(expr: &Expr) -> String {
    figure(expr).map_or_else(|| NO_NAME.to_string(), |(name, _)| name)
}

/// How sure a name is: a type's name yields to a better one (`n::text` is `n`,
/// `1::text` is `text`), as in PostgreSQL.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    TypeName,
    Name,
}

fn named(name: &str) -> Option<(String, Strength)> {
    Some((name.to_string(), Strength::Name))
}

/// `FigureColnameInternal`: a name and its strength, or none (`?column?`).
fn figure(expr: &Expr) -> Option<(String, Strength)> {
    match expr {
        Expr::Identifier(ident) => Some((normalize(ident), Strength::Name)),
        Expr::CompoundIdentifier(idents) => idents.last().map(|i| (normalize(i), Strength::Name)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::CompoundFieldAccess { root, access_chain } => {
            let field = access_chain.iter().rev().find_map(|access| match access {
                AccessExpr::Dot(Expr::Identifier(ident)) => Some(normalize(ident)),
                AccessExpr::Dot(_) | AccessExpr::Subscript(_) => None,
            });
            match field {
                Some(field) => Some((field, Strength::Name)),
                None => figure(root),
            }
        }
        Expr::Function(function) => last_part(&function.name).map(|n| (n, Strength::Name)),
        Expr::Cast {
            expr, data_type, ..
        } => match figure(expr) {
            Some(name @ (_, Strength::Name)) => Some(name),
            _ => type_name(data_type).map(|n| (n, Strength::TypeName)),
        },
        Expr::TypedString(typed) => type_name(&typed.data_type).map(|n| (n, Strength::TypeName)),
        Expr::Interval(_) => Some(("interval".into(), Strength::TypeName)),
        Expr::Case { else_result, .. } => match else_result.as_deref().and_then(figure) {
            Some(name @ (_, Strength::Name)) => Some(name),
            _ => Some(("case".into(), Strength::TypeName)),
        },
        Expr::Exists { negated: false, .. } => named("exists"),
        Expr::Subquery(query) => first_column_name(&query.body).map(|n| (n, Strength::Name)),
        Expr::Array(_) => named("array"),
        Expr::Tuple(_) => named("row"),
        Expr::Extract { .. } => named("extract"),
        Expr::Position { .. } => named("position"),
        Expr::Substring { .. } => named("substring"),
        Expr::Overlay { .. } => named("overlay"),
        Expr::Trim { trim_where, .. } => named(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            Some(TrimWhereField::Both) | None => "btrim",
        }),
        Expr::Ceil { .. } => named("ceil"),
        Expr::Floor { .. } => named("floor"),
        Expr::AtTimeZone { .. } => named("timezone"),
        Expr::IsNormalized { .. } => named("is_normalized"),
        _ => None,
    }
}

/// The name of a (named) subquery's first column.
fn first_column_name(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::Select(select) => match select.projection.first()? {
            SelectItem::ExprWithAlias { alias, .. } => Some(display_name(&normalize(alias)).into()),
            item => given_name(item),
        },
        SetExpr::SetOperation { left, .. } => first_column_name(left),
        SetExpr::Query(query) => first_column_name(&query.body),
        _ => None,
    }
}

/// The last part of a (function or type) name, normalized as an identifier.
fn last_part(name: &ObjectName) -> Option<String> {
    match name.0.last()? {
        ObjectNamePart::Identifier(ident) => Some(normalize(ident)),
        ObjectNamePart::Function(_) => None,
    }
}

/// The last part of PostgreSQL's name for a type as written in a cast, which is the
/// internal name for SQL's spellings (`integer` is `int4`).
fn type_name(data_type: &DataType) -> Option<String> {
    let name = match data_type {
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
        DataType::BigInt(_) | DataType::Int8(_) => "int8",
        DataType::SmallInt(_) | DataType::Int2(_) => "int2",
        DataType::Real | DataType::Float4 => "float4",
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => "float8",
        DataType::Float(ExactNumberInfo::Precision(p))
        | DataType::Float(ExactNumberInfo::PrecisionAndScale(p, _))
            if *p <= 24 =>
        {
            "float4"
        }
        DataType::Float(_) => "float8",
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
        DataType::Bool | DataType::Boolean => "bool",
        DataType::Text => "text",
        DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
            "varchar"
        }
        DataType::Char(_) | DataType::Character(_) => "bpchar",
        DataType::Date => "date",
        DataType::Time(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timetz",
        DataType::Time(..) => "time",
        DataType::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timestamptz",
        DataType::Timestamp(..) => "timestamp",
        DataType::Interval { .. } => "interval",
        DataType::JSON => "json",
        DataType::JSONB => "jsonb",
        DataType::Bytea => "bytea",
        DataType::Uuid => "uuid",
        DataType::Regclass => "regclass",
        DataType::Bit(_) => "bit",
        DataType::BitVarying(_) | DataType::VarBit(_) => "varbit",
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(element, _)
            | ArrayElemTypeDef::AngleBracket(element)
            | ArrayElemTypeDef::Parenthesis(element),
        ) => return type_name(element),
        DataType::Custom(name, _) => return last_part(name),
        // Types PostgreSQL does not have: their SQL spelling, without modifiers.
        other => {
            let spelled = other.to_string().to_lowercase();
            let base = spelled.split('(').next().unwrap_or(&spelled).trim();
            return (!base.is_empty()).then(|| base.to_string());
        }
    };
    Some(name.to_string())
}

/// An identifier as DataFusion resolves it: lower case unless quoted.
fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalog of these tests: `t (n, r)`.
    fn columns_of(name: &str) -> Option<Vec<String>> {
        (name == "t").then(|| vec!["n".to_string(), "r".to_string()])
    }

    /// The select list of `sql` after naming: aliases, or the items without one.
    fn aliases(sql: &str) -> Vec<String> {
        let mut statement = crate::parse::parse_one(sql).expect("parses");
        name_columns(&mut statement, &columns_of);
        let Statement::Query(query) = statement else {
            panic!("not a query");
        };
        let SetExpr::Select(select) = *query.body else {
            panic!("not a select");
        };
        select
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    #[test]
    fn names_follow_postgres() {
        assert_eq!(
            aliases(
                "SELECT 1, count(*), sum(n), max(region), upper(region), n + 1, n::text, \
                 CASE WHEN n > 0 THEN 1 END FROM t"
            ),
            [
                "?column?",
                "count",
                "sum",
                "max",
                "upper",
                "?column?__vigil6",
                "n",
                "case"
            ]
        );
        assert_eq!(
            aliases(
                "SELECT 1::text, 1::int, 1::integer, 1::bigint, 1::smallint, 1::real, \
                 1::float, 1::float(10), 1::double precision, 1::numeric(10,2), true::boolean, \
                 'a'::varchar(3), 'a'::char(2), 'a'::\"char\", now()::time with time zone, \
                 now()::timestamptz, '{1}'::int[], 'x'::regclass, 'x'::pg_catalog.regtype"
            ),
            [
                "text",
                "int4",
                "int4__vigil3",
                "int8",
                "int2",
                "float4",
                "float8",
                "float4__vigil8",
                "float8__vigil9",
                "numeric",
                "bool",
                "varchar",
                "bpchar",
                "char",
                "now",
                "now__vigil16",
                "int4__vigil17",
                "regclass",
                "regtype"
            ]
        );
        assert_eq!(
            aliases(
                "SELECT interval '1 day', date '2024-01-01', timestamp '2024-01-01', \
                 CAST(n AS text), extract(year from ts), position('a' in r), \
                 substring(r from 1 for 2), trim(r), trim(leading 'x' from r), \
                 trim(trailing 'y' from r), ts at time zone 'UTC', j -> 'a', ceil(n) FROM t"
            ),
            [
                "interval",
                "date",
                "timestamp",
                "n",
                "extract",
                "position",
                "substring",
                "btrim",
                "ltrim",
                "rtrim",
                "timezone",
                "?column?",
                "ceil"
            ]
        );
        assert_eq!(
            aliases(
                "SELECT current_date, CURRENT_TIMESTAMP, current_user, coalesce(n, 0), \
                 nullif(n, 0), greatest(n, 1), ARRAY[1], ARRAY(SELECT 1), ROW(1, 2), (1, 2), \
                 EXISTS (SELECT 1), NOT EXISTS (SELECT 1), (SELECT count(*) FROM t), \
                 (SELECT n AS x FROM t), (SELECT 1 UNION SELECT 2) FROM t"
            ),
            [
                "current_date",
                "current_timestamp",
                "current_user",
                "coalesce",
                "nullif",
                "greatest",
                "array",
                "array__vigil8",
                "row",
                "row__vigil10",
                "exists",
                "?column?",
                "count",
                "x",
                "?column?__vigil15"
            ]
        );
        assert_eq!(
            aliases(
                "SELECT CASE WHEN n > 0 THEN 1 ELSE n END, CASE WHEN true THEN 1 ELSE 0::int END, \
                 CASE WHEN true THEN 1 ELSE (SELECT count(*) FROM t) END, count(*)::int, \
                 1::text::varchar, pg_catalog.UPPER(r), \"Upper\"(r), a[1], r COLLATE \"C\" FROM t"
            ),
            [
                "n",
                "case",
                "count",
                "count__vigil4",
                "varchar",
                "upper",
                "Upper",
                "a",
                "r"
            ]
        );
    }

    #[test]
    fn given_names_win_and_duplicates_are_marked() {
        // Explicit aliases and column references keep their names; a generated name
        // that clashes with one (or an earlier one) is marked.
        assert_eq!(
            aliases("SELECT count(*), n AS count, n, n::text, t.n FROM t"),
            ["count__vigil1", "count", "n", "n__vigil4", "n__vigil5"]
        );
        assert_eq!(aliases("SELECT 1 AS a, 2 AS a"), ["a", "a__vigil2"]);
        // What a wildcard brings is known for catalog relations and subqueries.
        assert_eq!(aliases("SELECT *, upper(r) FROM t"), ["*", "upper"]);
        assert_eq!(aliases("SELECT *, n FROM t"), ["*", "n__vigil2"]);
        assert_eq!(
            aliases("SELECT s.*, upper('a'), lower('a') FROM (SELECT 1 AS upper) s"),
            ["s.*", "upper__vigil2", "lower"]
        );
        // Not for other relations, nor for a CTE that shadows a table.
        assert_eq!(aliases("SELECT *, upper(r) FROM u"), ["*", "upper__vigil2"]);
        assert_eq!(
            aliases("WITH t AS (SELECT 1) SELECT *, upper('a') FROM t"),
            ["*", "upper__vigil2"]
        );
        // ORDER BY t.n adds t.n to the output; a bare n reads the output column.
        assert_eq!(aliases("SELECT n::text FROM t ORDER BY t.n"), ["n__vigil1"]);
        assert_eq!(aliases("SELECT n::text FROM t ORDER BY n"), ["n"]);
    }

    #[test]
    fn subqueries_and_set_operations_are_named() {
        let mut statement = crate::parse::parse_one(
            "WITH c AS (SELECT 1, 2) SELECT s.count FROM (SELECT count(*) FROM t) s \
             UNION SELECT 1 + 1",
        )
        .expect("parses");
        name_columns(&mut statement, &columns_of);
        assert_eq!(
            statement.to_string(),
            "WITH c AS (SELECT 1 AS \"?column?\", 2 AS \"?column?__vigil2\") \
             SELECT s.count FROM (SELECT count(*) AS \"count\" FROM t) s \
             UNION SELECT 1 + 1 AS \"?column?\""
        );
    }

    #[test]
    fn order_by_reads_a_repeated_item_by_name() {
        let named = |sql: &str| {
            let mut statement = crate::parse::parse_one(sql).expect("parses");
            name_columns(&mut statement, &columns_of);
            statement.to_string()
        };
        assert_eq!(
            named("SELECT DISTINCT upper(r) FROM t ORDER BY upper(r) DESC, r"),
            "SELECT DISTINCT upper(r) AS \"upper\" FROM t ORDER BY \"upper\" DESC, r"
        );
        // A number is a position, not the item `1`.
        assert_eq!(
            named("SELECT DISTINCT n, 1 FROM t ORDER BY 1"),
            "SELECT DISTINCT n, 1 AS \"?column?\" FROM t ORDER BY 1"
        );
        // Without DISTINCT the key is computed from the input.
        assert_eq!(
            named("SELECT upper(r) FROM t ORDER BY upper(r)"),
            "SELECT upper(r) AS \"upper\" FROM t ORDER BY upper(r)"
        );
        // `t.n` is not in the result; DataFusion adds it beside the cast's column.
        assert_eq!(
            named("SELECT n::text FROM t ORDER BY t.n"),
            "SELECT n::TEXT AS \"n__vigil1\" FROM t ORDER BY t.n"
        );
    }

    #[test]
    fn display_names_drop_the_mark() {
        assert_eq!(display_name("?column?__vigil12"), "?column?");
        assert_eq!(display_name("count"), "count");
        assert_eq!(display_name("__vigil2"), "__vigil2");
        assert_eq!(display_name("a__vigilx"), "a__vigilx");
        assert_eq!(display_name("a__vigil"), "a__vigil");
    }
}
