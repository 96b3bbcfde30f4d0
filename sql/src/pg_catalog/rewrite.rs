//! PostgreSQL syntax in client queries that DataFusion does not plan, rewritten in the
//! parsed statement into equivalents it does:
//!
//! - `pg_catalog.f(…)` → `f(…)` (functions live in one namespace);
//! - `a OPERATOR(pg_catalog.~) b` → `a ~ b`; `x COLLATE "C"` → `x` (one collation);
//! - `x::regclass`, `::regtype`, `::regnamespace`, `::regproc` → a lookup: a string
//!   literal is resolved now (so an unknown name fails with its SQLSTATE), anything
//!   else by the `regclass(x)`… functions when the query runs; the value is an oid,
//!   except in a result column of the statement or a cast to text, where it prints
//!   as PostgreSQL prints it (`SELECT 'boards'::regclass` shows `boards`) through
//!   `regclassout(…)`, `regtypeout(…)`, `regnamespaceout(…)`;
//! - `x = ANY('{a,b}')` → `x = ANY('{a,b}'::text[])`;
//! - `ARRAY(subquery)` → `(SELECT array_agg(…) FROM (subquery))`;
//! - a function in FROM: its column is named after its alias, as in PostgreSQL
//!   (`generate_series(1, 3) AS i` has column `i`); a scalar function becomes a
//!   one-row derived table; `unnest(…)` becomes `UNNEST(…)`;
//! - `current_setting('name')` of an unknown literal name fails while planning;
//! - a SELECT that inner-joins a catalog Vigil never fills (`pg_policy`,
//!   `pg_inherits`, `pg_publication`, …) has no rows: it becomes `SELECT NULL, …
//!   WHERE false`, so psql's footers plan without their correlated subqueries;
//! - a scalar subquery over catalogs only (psql's collation lookup) takes `max` of
//!   its one column, which DataFusion needs to decorrelate it; catalog keys make it
//!   one row anyway;
//! - `ARRAY(SELECT … FROM unnest(c.reloptions))` is the empty array: Vigil has no
//!   relation options;
//! - `(record).field` → `get_field(record, 'field')`; `generate_subscripts` and
//!   `information_schema._pg_expandarray` in a SELECT list → DataFusion's `unnest`;
//! - `x IN (subquery)` in a SELECT list or ORDER BY (Grafana's search path test),
//!   which DataFusion plans only in WHERE, becomes `array_has(ARRAY(subquery), x)`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, CastKind, DataType as SqlType, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart,
    Query, SelectItem, SetExpr, Statement, TableAlias, TableAliasColumnDef, TableFactor, Value,
    VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::PgSnapshot;
use super::functions::lookup_relation;
use super::types::type_oid_by_name;
use crate::SqlError;

/// Rewrites `statement` in place; `is_table_function` says which names DataFusion
/// plans as table functions in FROM.
pub(crate) fn rewrite(
    statement: &mut Statement,
    snapshot: &PgSnapshot,
    is_table_function: &dyn Fn(&str) -> bool,
) -> Result<(), SqlError> {
    if let Statement::Query(query) = statement {
        let sorted_by = sort_key_columns(query);
        print_reg_columns(query.body.as_mut(), &sorted_by);
    }
    let mut rewriter = Rewriter {
        snapshot,
        is_table_function,
    };
    match statement.visit(&mut rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(error) => Err(error),
    }
}

struct Rewriter<'a> {
    snapshot: &'a PgSnapshot,
    is_table_function: &'a dyn Fn(&str) -> bool,
}

impl VisitorMut for Rewriter<'_> {
    type Break = SqlError;

    /// `x::regclass::text` prints the `regclass`; this runs before the inner cast
    /// becomes an oid, which would lose that it was one.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && is_text_type(data_type)
        {
            print_reg(inner);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        match self.rewrite_expr(expr) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
        match self.rewrite_query(query) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<SqlError> {
        match self.rewrite_table_factor(factor) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

/// The parts of a name, as written (quoted parts keep their case).
fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if ident.quote_style.is_some() => ident.value.clone(),
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            other => other.to_string(),
        })
        .collect()
}

/// `pg_catalog.x` as `x`; other names unchanged.
fn strip_pg_catalog(name: &mut ObjectName) {
    if name.0.len() == 2 && parts(name)[0] == "pg_catalog" {
        name.0.remove(0);
    }
}

/// The object identifier type a cast targets, if it is one.
fn reg_type(data_type: &SqlType) -> Option<&'static str> {
    let SqlType::Custom(name, modifiers) = data_type else {
        return matches!(data_type, SqlType::Regclass).then_some("regclass");
    };
    if !modifiers.is_empty() {
        return None;
    }
    let parts = parts(name);
    let last = match parts.as_slice() {
        [name] => name,
        [schema, name] if schema == "pg_catalog" => name,
        _ => return None,
    };
    [
        "regclass",
        "regtype",
        "regnamespace",
        "regproc",
        "regprocedure",
    ]
    .into_iter()
    .find(|t| t == last)
}

/// The function that prints a value of a `reg*` type that has an oid in Vigil
/// (`regproc` values are names already).
fn output_function(reg_type: &str) -> Option<&'static str> {
    match reg_type {
        "regclass" => Some("regclassout"),
        "regtype" => Some("regtypeout"),
        "regnamespace" => Some("regnamespaceout"),
        _ => None,
    }
}

/// `x::regclass` (or another oid-valued `reg*` cast, maybe parenthesized) as
/// `regclassout(x::regclass)`: its name rather than its oid, as PostgreSQL prints a
/// `regclass`. Returns the type's name if `expr` was one.
fn print_reg(expr: &mut Expr) -> Option<&'static str> {
    let mut cast = &mut *expr;
    while let Expr::Nested(inner) = cast {
        cast = inner.as_mut();
    }
    let Expr::Cast { data_type, .. } = cast else {
        return None;
    };
    let target = reg_type(data_type)?;
    let function = output_function(target)?;
    let value = std::mem::replace(cast, Expr::value(Value::Null));
    *cast = call(function, vec![value]);
    Some(target)
}

/// Whether a cast's target is a string type, so casting a `reg*` to it prints it.
fn is_text_type(data_type: &SqlType) -> bool {
    let name = data_type.to_string().to_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    matches!(
        name,
        "text" | "name" | "varchar" | "character varying" | "bpchar"
    ) || name.starts_with("varchar(")
        || name.starts_with("character varying(")
}

/// Result columns that are `reg*` casts print names, as PostgreSQL's do: `SELECT
/// 'boards'::regclass` shows `boards`. Everywhere else (`c.oid = 'boards'::regclass`,
/// function arguments, `::oid`) a `reg*` value stays the oid Vigil compares. Only the
/// statement's own columns print: a subquery's may be compared by its reader.
fn print_reg_columns(body: &mut SetExpr, sorted_by: &[String]) {
    match body {
        SetExpr::Select(select) => print_reg_items(select, sorted_by),
        // A set operation sorts by its own columns.
        SetExpr::SetOperation { left, right, .. } => {
            print_reg_columns(left, &[]);
            print_reg_columns(right, &[]);
        }
        SetExpr::Query(query) => {
            let sorted_by = sort_key_columns(query);
            print_reg_columns(query.body.as_mut(), &sorted_by);
        }
        _ => {}
    }
}

/// The (lowercased) names of the columns a query's ORDER BY reads. DataFusion sorts
/// by a column the SELECT does not return by adding it to the SELECT's columns, so
/// a result column must not take its name.
fn sort_key_columns(query: &Query) -> Vec<String> {
    let mut names = Vec::new();
    let _ = ast::visit_expressions(&query.order_by, |expr: &Expr| {
        match expr {
            Expr::Identifier(ident) => names.push(ident.value.to_lowercase()),
            Expr::CompoundIdentifier(idents) => {
                names.extend(idents.last().map(|i| i.value.to_lowercase()))
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

fn print_reg_items(select: &mut ast::Select, sorted_by: &[String]) {
    let mut names: Vec<Option<String>> = select.projection.iter().map(output_name).collect();
    for (i, item) in select.projection.iter_mut().enumerate() {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else {
            continue;
        };
        let column = column_name(expr);
        let Some(target) = print_reg(expr) else {
            continue;
        };
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        // PostgreSQL names the column after what was cast, or the type; DataFusion
        // refuses two columns of one name, which PostgreSQL allows, so a clash keeps
        // DataFusion's name.
        let alias = column.unwrap_or_else(|| Ident::new(target));
        let name = alias.value.to_lowercase();
        let clash = sorted_by.contains(&name)
            || names
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.as_deref() == Some(name.as_str()));
        if clash {
            continue;
        }
        names[i] = Some(name);
        let expr = std::mem::replace(expr, Expr::value(Value::Null));
        *item = SelectItem::ExprWithAlias { expr, alias };
    }
}

/// The name of a result column, lowercased, where it has one.
fn output_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
        SelectItem::UnnamedExpr(expr) => column_name(expr).map(|name| name.value.to_lowercase()),
        SelectItem::ExprWithAliases { .. }
        | SelectItem::Wildcard(_)
        | SelectItem::QualifiedWildcard(..) => None,
    }
}

/// The column name PostgreSQL gives an unaliased expression, where it is a name
/// (`c.oid::regclass` is `oid`); `None` where it would be a type's name.
fn column_name(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident.clone()),
        Expr::CompoundIdentifier(idents) => idents.last().cloned(),
        Expr::Function(function) => function.name.0.last().and_then(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(ident.clone()),
            _ => None,
        }),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => column_name(expr),
        _ => None,
    }
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn number(n: i32) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// The operator `OPERATOR(pg_catalog.op)` names.
fn builtin_operator(parts: &[String]) -> Option<BinaryOperator> {
    let op = match parts {
        [op] => op,
        [schema, op] if schema == "pg_catalog" => op,
        _ => return None,
    };
    Some(match op.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        "*" => BinaryOperator::Multiply,
        "/" => BinaryOperator::Divide,
        _ => return None,
    })
}

fn parse_expr(sql: &str) -> Result<Expr, SqlError> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Parse(e.to_string()))
}

fn parse_query(sql: &str) -> Result<Query, SqlError> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_query())
        .map(|q| *q)
        .map_err(|e| SqlError::Parse(e.to_string()))
}

/// The first FROM item of a query's SELECT, and its first projection.
fn select_parts(query: &mut Query) -> Option<(&mut TableFactor, &mut SelectItem)> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let factor = &mut select.from.first_mut()?.relation;
    let item = select.projection.first_mut()?;
    Some((factor, item))
}

impl Rewriter<'_> {
    /// Whether a table factor names a system relation (not shadowed by a user's).
    fn system_relation(&self, factor: &TableFactor) -> Option<&'static str> {
        let TableFactor::Table {
            name, args: None, ..
        } = factor
        else {
            return None;
        };
        let parts = parts(name);
        let (schema, relation) = match parts.as_slice() {
            [relation] => (None, relation),
            [schema, relation] => (Some(schema.as_str()), relation),
            _ => return None,
        };
        let found = self.snapshot.resolve(schema, relation)?;
        if found.is_user() {
            return None;
        }
        super::columns::PG_CATALOG
            .iter()
            .chain(crate::information_schema::RELATIONS)
            .find(|t| t.oid == found.oid)
            .map(|t| t.name)
    }

    /// A SELECT that inner-joins a catalog Vigil never fills yields no rows: its
    /// select list becomes NULLs, so what it computes (often correlated subqueries
    /// DataFusion cannot plan) need not plan.
    fn rewrite_query(&self, query: &mut Query) -> Result<(), SqlError> {
        let mut failure = None;
        let mut membership = |expr: &mut Expr| {
            if let Err(error) = in_subquery_as_array(expr) {
                failure = Some(error);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                let _ = ast::visit_expressions_mut(item, &mut membership);
            }
        }
        if let Some(order_by) = query.order_by.as_mut() {
            let _ = ast::visit_expressions_mut(order_by, &mut membership);
        }
        if let Some(error) = failure {
            return Err(error);
        }
        let emptied = self.empty_selects(query.body.as_mut())?;
        if emptied && matches!(query.body.as_ref(), SetExpr::Select(_)) {
            // Sorting no rows needs no sort keys, which may name dropped columns.
            query.order_by = None;
        }
        Ok(())
    }

    fn empty_selects(&self, body: &mut SetExpr) -> Result<bool, SqlError> {
        match body {
            SetExpr::SetOperation { left, right, .. } => {
                let left = self.empty_selects(left)?;
                let right = self.empty_selects(right)?;
                Ok(left || right)
            }
            SetExpr::Select(select) => {
                if !self.selects_nothing(select) {
                    return Ok(false);
                }
                let names = select
                    .projection
                    .iter()
                    .enumerate()
                    .map(|(i, item)| item_name(item, i))
                    .collect::<Option<Vec<_>>>();
                let Some(mut names) = names else {
                    return Ok(false);
                };
                // Unique names, as DataFusion requires of a projection.
                for i in 0..names.len() {
                    if names[..i].contains(&names[i]) {
                        names[i] = format!("{}_{}", names[i], i + 1);
                    }
                }
                let columns = names
                    .iter()
                    .map(|n| format!("NULL AS \"{}\"", n.replace('"', "\"\"")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let empty = parse_query(&format!("SELECT {columns} WHERE false"))?;
                *body = *empty.body;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether a SELECT reads an always-empty catalog where an empty input empties
    /// the result, and computes no aggregate (which would still yield a row).
    fn selects_nothing(&self, select: &ast::Select) -> bool {
        let grouped = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
            ast::GroupByExpr::All(_) => true,
        };
        if grouped || select.having.is_some() {
            return false;
        }
        let aggregates = select.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e)
            | SelectItem::ExprWithAlias { expr: e, .. }
            | SelectItem::ExprWithAliases { expr: e, .. } => has_aggregate(e),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => false,
        });
        if aggregates {
            return false;
        }
        let empty = |factor: &TableFactor| {
            self.system_relation(factor)
                .is_some_and(super::tables::always_empty)
        };
        select.from.iter().any(|from| {
            let inner_joins_only = from.joins.iter().all(|j| {
                matches!(
                    j.join_operator,
                    ast::JoinOperator::Join(_)
                        | ast::JoinOperator::Inner(_)
                        | ast::JoinOperator::CrossJoin(_)
                        | ast::JoinOperator::Left(_)
                        | ast::JoinOperator::LeftOuter(_)
                )
            });
            (inner_joins_only && empty(&from.relation))
                || from.joins.iter().any(|j| {
                    matches!(
                        j.join_operator,
                        ast::JoinOperator::Join(_)
                            | ast::JoinOperator::Inner(_)
                            | ast::JoinOperator::CrossJoin(_)
                    ) && empty(&j.relation)
                })
        })
    }

    /// `(SELECT x FROM catalogs WHERE …)` as `(SELECT max(x) FROM …)`: DataFusion
    /// decorrelates only aggregated scalar subqueries.
    fn aggregate_catalog_lookup(&self, query: &mut Query) {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return;
        };
        let grouped = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
            ast::GroupByExpr::All(_) => true,
        };
        let catalogs_only = !select.from.is_empty()
            && select.from.iter().all(|from| {
                self.system_relation(&from.relation).is_some()
                    && from
                        .joins
                        .iter()
                        .all(|j| self.system_relation(&j.relation).is_some())
            });
        if grouped || !catalogs_only || query.limit_clause.is_some() {
            return;
        }
        let [item] = select.projection.as_mut_slice() else {
            return;
        };
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else {
            return;
        };
        if has_aggregate(expr) {
            return;
        }
        let inner = std::mem::replace(expr, Expr::value(Value::Null));
        *expr = call("max", vec![inner]);
    }

    fn rewrite_expr(&self, expr: &mut Expr) -> Result<(), SqlError> {
        match expr {
            Expr::Function(function) => {
                strip_pg_catalog(&mut function.name);
                let name = parts(&function.name).join(".");
                if let Some(expanded) = set_returning(&name, function) {
                    *expr = expanded;
                    return Ok(());
                }
                if name == "array"
                    && let FunctionArguments::Subquery(query) = &function.args
                {
                    *expr = if unnests_relation_options(query) {
                        parse_expr("'{}'::text[]")?
                    } else {
                        array_of(query.as_ref().clone())?
                    };
                } else if name == "current_setting" {
                    self.check_setting(function)?;
                }
            }
            Expr::BinaryOp { op, .. } => {
                if let BinaryOperator::PGCustomBinaryOperator(names) = op
                    && let Some(builtin) = builtin_operator(names)
                {
                    *op = builtin;
                }
            }
            Expr::Subquery(query) => self.aggregate_catalog_lookup(query),
            // `(record).field`, which DataFusion plans as get_field.
            Expr::CompoundFieldAccess { root, access_chain }
                if !matches!(
                    root.as_ref(),
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                ) && access_chain
                    .iter()
                    .all(|a| matches!(a, ast::AccessExpr::Dot(Expr::Identifier(_)))) =>
            {
                let mut access = root.as_ref().clone();
                for step in access_chain.iter() {
                    if let ast::AccessExpr::Dot(Expr::Identifier(field)) = step {
                        let name = Expr::value(Value::SingleQuotedString(field.value.clone()));
                        access = call("get_field", vec![access, name]);
                    }
                }
                *expr = access;
            }
            Expr::Collate { expr: inner, .. } => {
                let inner = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
                *expr = inner;
            }
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. }
                if string_literal(right).is_some() =>
            {
                let literal = std::mem::replace(right.as_mut(), Expr::value(Value::Null));
                **right = Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(literal),
                    data_type: SqlType::Array(ast::ArrayElemTypeDef::SquareBracket(
                        Box::new(SqlType::Text),
                        None,
                    )),
                    array: false,
                    format: None,
                };
            }
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => {
                if let Some(target) = reg_type(data_type) {
                    *expr = self.reg_cast(target, inner.as_ref().clone())?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `x::regclass` and its kin.
    fn reg_cast(&self, target: &str, value: Expr) -> Result<Expr, SqlError> {
        let Some(text) = string_literal(&value) else {
            let function = if target == "regprocedure" {
                "regproc"
            } else {
                target
            };
            return Ok(call(function, vec![value]));
        };
        if let Ok(oid) = text.trim().parse::<i32>() {
            return Ok(number(oid));
        }
        Ok(match target {
            "regclass" => {
                let relation = lookup_relation(self.snapshot, text)
                    .map_err(|e| SqlError::Parse(e.to_string()))?
                    .ok_or_else(|| SqlError::UnknownRelation(text.to_string()))?;
                number(relation.oid)
            }
            "regtype" => number(
                type_oid_by_name(text).ok_or_else(|| SqlError::UnknownType(text.to_string()))?,
            ),
            "regnamespace" => number(
                PgSnapshot::namespace_oid(text)
                    .ok_or_else(|| SqlError::UnknownSchema(text.to_string()))?,
            ),
            _ => {
                let name = text.strip_prefix("pg_catalog.").unwrap_or(text);
                Expr::value(Value::SingleQuotedString(name.to_string()))
            }
        })
    }

    /// `current_setting('x')` of a literal name Vigil does not have fails now, as
    /// PostgreSQL's does, with its SQLSTATE.
    fn check_setting(&self, function: &Function) -> Result<(), SqlError> {
        let FunctionArguments::List(list) = &function.args else {
            return Ok(());
        };
        let [FunctionArg::Unnamed(FunctionArgExpr::Expr(name))] = list.args.as_slice() else {
            return Ok(());
        };
        match string_literal(name) {
            Some(name) if self.snapshot.setting(name).is_none() => {
                Err(SqlError::UnknownSetting(name.to_lowercase()))
            }
            _ => Ok(()),
        }
    }

    fn rewrite_table_factor(&self, factor: &mut TableFactor) -> Result<(), SqlError> {
        let TableFactor::Table {
            name,
            alias,
            args: Some(args),
            ..
        } = factor
        else {
            return Ok(());
        };
        strip_pg_catalog(name);
        let function = parts(name).join(".");
        // A function's single column is named after the function's alias.
        let mut alias = alias.clone();
        if let Some(alias) = alias.as_mut()
            && alias.columns.is_empty()
        {
            alias
                .columns
                .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
        }
        let exprs: Vec<Expr> = args
            .args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                other => Err(SqlError::Unsupported(format!("function argument {other}"))),
            })
            .collect::<Result<_, _>>()?;
        if function == "unnest" {
            *factor = TableFactor::UNNEST {
                alias,
                array_exprs: exprs,
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: false,
            };
        } else if (self.is_table_function)(&function) {
            if let TableFactor::Table { alias: a, .. } = factor {
                *a = alias;
            }
        } else {
            *factor = scalar_function_table(&function, exprs, alias)?;
        }
        Ok(())
    }
}

/// Aggregates a row-producing SELECT list must not contain to be known empty.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "first_value",
    "last_value",
];

/// Whether an expression calls an aggregate function, outside its subqueries.
fn has_aggregate(expr: &Expr) -> bool {
    struct Finder {
        depth: usize,
    }
    impl ast::Visitor for Finder {
        type Break = ();

        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }

        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }

        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if self.depth == 0
                && let Expr::Function(f) = e
                && parts(&f.name)
                    .last()
                    .is_some_and(|name| AGGREGATES.contains(&name.as_str()))
            {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    ast::Visit::visit(expr, &mut Finder { depth: 0 }).is_break()
}

/// `ARRAY(SELECT … FROM unnest(x.reloptions) …)`: over relation options, which no
/// Vigil relation has.
fn unnests_relation_options(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let [from] = select.from.as_slice() else {
        return false;
    };
    let (TableFactor::UNNEST { array_exprs, .. }, true) = (&from.relation, from.joins.is_empty())
    else {
        return false;
    };
    matches!(array_exprs.as_slice(),
        [Expr::CompoundIdentifier(idents)] if idents.last().is_some_and(|i| i.value == "reloptions"))
}

/// A name for the column a SELECT item produces, as PostgreSQL would name it.
fn item_name(item: &SelectItem, position: usize) -> Option<String> {
    Some(match item {
        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => ident.value.clone(),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(idents)) => idents.last()?.value.clone(),
        SelectItem::UnnamedExpr(Expr::Function(f)) => parts(&f.name).last()?.clone(),
        SelectItem::UnnamedExpr(_) => format!("column{}", position + 1),
        SelectItem::ExprWithAliases { .. }
        | SelectItem::Wildcard(_)
        | SelectItem::QualifiedWildcard(..) => return None,
    })
}

/// The arguments of a call, if all are plain expressions.
fn arguments(function: &Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// Set-returning functions of the SELECT list written with DataFusion's `unnest`:
/// `generate_subscripts(a, d)` → `unnest(generate_series(1, array_length(a, d)))`,
/// `information_schema._pg_expandarray(a)` → `unnest(_pg_expandarray(a))`.
fn set_returning(name: &str, function: &Function) -> Option<Expr> {
    let args = arguments(function)?;
    match (name, args.as_slice()) {
        ("generate_subscripts", [array, dimension]) => {
            let length = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(call("array_length", vec![array.clone(), dimension.clone()])),
                data_type: SqlType::BigInt(None),
                array: false,
                format: None,
            };
            Some(call(
                "unnest",
                vec![call("generate_series", vec![number(1), length])],
            ))
        }
        ("information_schema._pg_expandarray" | "_pg_expandarray", [array]) => Some(call(
            "unnest",
            vec![call("_pg_expandarray", vec![array.clone()])],
        )),
        _ => None,
    }
}

/// `x [NOT] IN (query)` as `[NOT] array_has(ARRAY(query), x)`.
fn in_subquery_as_array(expr: &mut Expr) -> Result<(), SqlError> {
    let Expr::InSubquery {
        expr: value,
        subquery,
        negated,
    } = expr
    else {
        return Ok(());
    };
    let member = call(
        "array_has",
        vec![array_of(subquery.as_ref().clone())?, value.as_ref().clone()],
    );
    *expr = if *negated {
        Expr::UnaryOp {
            op: ast::UnaryOperator::Not,
            expr: Box::new(member),
        }
    } else {
        member
    };
    Ok(())
}

/// `ARRAY(query)`: the query's single column aggregated into an array.
fn array_of(query: Query) -> Result<Expr, SqlError> {
    let mut outer = parse_query(
        "SELECT array_agg(__vigil_array.element) FROM (SELECT 1) AS __vigil_array (element)",
    )?;
    if let Some((TableFactor::Derived { subquery, .. }, _)) = select_parts(&mut outer) {
        **subquery = query;
    }
    Ok(Expr::Subquery(Box::new(outer)))
}

/// `f(args) AS a` for a scalar function: `(SELECT f(args) AS a) AS a`, one row.
fn scalar_function_table(
    function: &str,
    args: Vec<Expr>,
    alias: Option<TableAlias>,
) -> Result<TableFactor, SqlError> {
    let alias = alias.unwrap_or(TableAlias {
        explicit: true,
        name: Ident::new(function),
        columns: vec![TableAliasColumnDef::from_name(function)],
        at: None,
    });
    let mut subquery = parse_query("SELECT NULL")?;
    if let SetExpr::Select(select) = subquery.body.as_mut()
        && let Some(item) = select.projection.first_mut()
    {
        *item = SelectItem::UnnamedExpr(call(function, args));
    }
    Ok(TableFactor::Derived {
        lateral: false,
        subquery: Box::new(subquery),
        alias: Some(alias),
        sample: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::pg_catalog::{Comments, Settings};

    fn rewritten(sql: &str) -> Result<String, SqlError> {
        let snapshot = PgSnapshot::new(
            &Catalog::default(),
            Comments::default(),
            Settings::from([("search_path".to_string(), "public".to_string())]),
        );
        let mut statement = crate::parse::parse_one(sql)?;
        rewrite(&mut statement, &snapshot, &|name| name == "generate_series")?;
        Ok(statement.to_string())
    }

    #[test]
    fn psql_operators_and_collations_become_plain_sql() {
        assert_eq!(
            rewritten("SELECT 1 FROM t WHERE c.relname OPERATOR(pg_catalog.~) '^(x)$' COLLATE pg_catalog.default").unwrap(),
            "SELECT 1 FROM t WHERE c.relname ~ '^(x)$'"
        );
        assert_eq!(
            rewritten("SELECT pg_catalog.format_type(1, 2)").unwrap(),
            "SELECT format_type(1, 2)"
        );
    }

    #[test]
    fn regclass_literals_resolve_while_planning() {
        assert_eq!(
            rewritten(
                "SELECT 1 WHERE 'pg_class'::regclass = 'pg_catalog.pg_type'::pg_catalog.regclass"
            )
            .unwrap(),
            "SELECT 1 WHERE 1259 = 1247"
        );
        assert_eq!(
            rewritten("SELECT 1 WHERE 23 = 'int4'::regtype").unwrap(),
            "SELECT 1 WHERE 23 = 23"
        );
        assert_eq!(
            rewritten("SELECT 1 FROM c WHERE c.oid::regclass = 'pg_class'").unwrap(),
            "SELECT 1 FROM c WHERE regclass(c.oid) = 'pg_class'"
        );
        let error = rewritten("SELECT 'nope'::regclass").unwrap_err();
        assert_eq!(error.code(), "42P01");
        assert_eq!(
            rewritten("SELECT 'nope'::regtype").unwrap_err().code(),
            "42704"
        );
    }

    #[test]
    fn reg_values_print_as_names_in_result_columns_and_text_casts() {
        assert_eq!(
            rewritten("SELECT 'pg_class'::regclass, 'int4'::regtype, 'public'::regnamespace")
                .unwrap(),
            "SELECT regclassout(1259) AS regclass, regtypeout(23) AS regtype, \
             regnamespaceout(2200) AS regnamespace"
        );
        // Named after what was cast, as PostgreSQL names them; an alias stays.
        assert_eq!(
            rewritten("SELECT c.oid::pg_catalog.regclass, (c.oid::regclass) AS r FROM c").unwrap(),
            "SELECT regclassout(regclass(c.oid)) AS oid, (regclassout(regclass(c.oid))) AS r FROM c"
        );
        // Two columns of one name would not plan: the second keeps DataFusion's name.
        assert_eq!(
            rewritten("SELECT 'pg_class'::regclass, 'pg_type'::regclass").unwrap(),
            "SELECT regclassout(1259) AS regclass, regclassout(1247)"
        );
        // ORDER BY sorts a regclass by oid, as PostgreSQL does; the column it adds
        // for that is named oid, so the printed one is not.
        assert_eq!(
            rewritten("SELECT c.oid::regclass FROM c ORDER BY c.oid::regclass").unwrap(),
            "SELECT regclassout(regclass(c.oid)) FROM c ORDER BY regclass(c.oid)"
        );
        assert_eq!(
            rewritten("SELECT 1 UNION ALL SELECT 'pg_class'::regclass").unwrap(),
            "SELECT 1 UNION ALL SELECT regclassout(1259) AS regclass"
        );
        assert_eq!(
            rewritten(
                "SELECT 1 FROM c ORDER BY c.oid::regclass::text, ('pg_class'::regclass)::varchar"
            )
            .unwrap(),
            "SELECT 1 FROM c ORDER BY regclassout(regclass(c.oid))::TEXT, (regclassout(1259))::VARCHAR"
        );
    }

    #[test]
    fn reg_values_stay_oids_where_they_are_compared() {
        // What psql's \d and Metabase send.
        assert_eq!(
            rewritten("SELECT c.relname FROM c WHERE c.oid = 'pg_class'::regclass").unwrap(),
            "SELECT c.relname FROM c WHERE c.oid = 1259"
        );
        assert_eq!(
            rewritten("SELECT 'pg_class'::regclass::oid, col_description(format('%I', t)::regclass::oid, 1)")
                .unwrap(),
            "SELECT 1259::oid, col_description(regclass(format('%I', t))::oid, 1)"
        );
        // A subquery's columns may be compared by the query that reads them.
        assert_eq!(
            rewritten("SELECT r FROM (SELECT 'pg_class'::regclass AS r) AS s").unwrap(),
            "SELECT r FROM (SELECT 1259 AS r) AS s"
        );
        assert_eq!(
            rewritten("INSERT INTO t SELECT 'pg_class'::regclass").unwrap(),
            "INSERT INTO t SELECT 1259"
        );
    }

    #[test]
    fn functions_in_from_name_their_column_after_the_alias() {
        assert_eq!(
            rewritten("SELECT i FROM generate_series(1, 3) AS i").unwrap(),
            "SELECT i FROM generate_series(1, 3) AS i (i)"
        );
        assert_eq!(
            rewritten("SELECT s FROM string_to_array('a,b', ',') s").unwrap(),
            "SELECT s FROM (SELECT string_to_array('a,b', ',')) s (s)"
        );
    }

    #[test]
    fn unknown_literal_settings_fail_while_planning() {
        assert_eq!(
            rewritten("SELECT current_setting('no_such')")
                .unwrap_err()
                .code(),
            "42704"
        );
        assert!(rewritten("SELECT current_setting('search_path')").is_ok());
    }
}
