//! PostgreSQL's system catalogs and functions over Vigil's catalog, so psql, BI tools
//! and drivers that introspect a "PostgreSQL" find Vigil's relations where they look.
//!
//! ```text
//!  Catalog + comments + session settings ─▶ PgSnapshot (one per statement)
//!     ├─ pg_catalog.* and information_schema.*: MemTables built on demand (tables)
//!     ├─ functions: version(), current_setting(), format_type(), … (functions)
//!     └─ casts: ::regclass, ::regtype, ::oid, ::name (types, rewrite)
//! ```
//!
//! Nothing here is stored: every relation is computed from the [`Catalog`] the
//! statement plans against, so it cannot drift from what Vigil serves. Object ids are
//! stable across restarts: a user relation's oid is `16384 + GlobalId`; system
//! relations and types keep PostgreSQL's own oids, which drivers hard-code.
//!
//! The snapshot travels in DataFusion's config as the [`PgContext`] extension, so
//! functions read the settings and catalog of the session that runs them, also inside
//! views planned earlier.
//!
//! - `columns`: every pg_catalog relation's columns, as in PostgreSQL 16.
//! - `tables`: the rows of those relations.
//! - `types`: built-in types, `format_type`, and the [`PgTypes`] type planner.
//! - `functions`: the scalar functions clients call.
//! - `rewrite`: PostgreSQL syntax DataFusion does not plan (`OPERATOR(pg_catalog.~)`,
//!   `COLLATE`, `::regclass`, functions in FROM, `pg_catalog.` prefixes), rewritten
//!   in the parsed statement before planning.

mod columns;
pub(crate) mod functions;
pub(crate) mod rewrite;
mod tables;
pub(crate) mod types;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Int16Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result as DfResult};
use vigil_engine::GlobalId;
use vigil_engine::repr::{DEFAULT_NUMERIC, ScalarType};

use crate::catalog::{Catalog, ItemKind};

pub(crate) use types::PgTypes;

/// Namespace oids, as PostgreSQL assigns the first two.
pub(crate) const PG_CATALOG_NAMESPACE: i32 = 11;
pub(crate) const PUBLIC_NAMESPACE: i32 = 2200;
pub(crate) const INFORMATION_SCHEMA_NAMESPACE: i32 = 13000;

/// The oid of the only role, which owns everything (PostgreSQL's bootstrap superuser).
pub(crate) const OWNER_OID: i32 = 10;
/// The oid of the only database.
pub(crate) const DATABASE_OID: i32 = 5;
/// Where user relation oids start in PostgreSQL; Vigil's are `16384 + GlobalId`.
pub(crate) const FIRST_USER_OID: i32 = 16384;
/// Primary keys appear as a constraint and an index; their oids are derived from the
/// table's id in ranges no relation oid reaches.
const CONSTRAINT_OID_BASE: i32 = 0x2000_0000;
const INDEX_OID_BASE: i32 = 0x3000_0000;

/// `pg_class.oid` of PostgreSQL's `pg_class`, the `classoid` of relation comments.
pub(crate) const PG_CLASS_OID: i32 = 1259;

/// The type of a system relation's column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `oid`, `regtype` (and `xid`): a 32-bit integer.
    Oid,
    /// `text`, `name`, `"char"`, `regproc`, `pg_node_tree`.
    Text,
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    TimestampTz,
    /// `text[]`, `aclitem[]`, `"char"[]`.
    TextArray,
    /// `oid[]`, `oidvector`.
    OidArray,
    /// `int2[]`, `int2vector`.
    Int2Array,
}

impl Ty {
    fn data_type(self) -> DataType {
        let list = |item| DataType::List(Arc::new(Field::new_list_field(item, true)));
        match self {
            Ty::Oid | Ty::Int4 => DataType::Int32,
            Ty::Text => DataType::Utf8,
            Ty::Bool => DataType::Boolean,
            Ty::Int2 => DataType::Int16,
            Ty::Int8 => DataType::Int64,
            Ty::Float4 => DataType::Float32,
            Ty::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            Ty::TextArray => list(DataType::Utf8),
            Ty::OidArray => list(DataType::Int32),
            Ty::Int2Array => list(DataType::Int16),
        }
    }

    /// The PostgreSQL type the column reads as, for `pg_attribute.atttypid`.
    fn type_oid(self) -> i32 {
        match self {
            Ty::Oid => 26,
            Ty::Text => 25,
            Ty::Bool => 16,
            Ty::Int2 => 21,
            Ty::Int4 => 23,
            Ty::Int8 => 20,
            Ty::Float4 => 700,
            Ty::TimestampTz => 1184,
            Ty::TextArray => 1009,
            Ty::OidArray => 1028,
            Ty::Int2Array => 1005,
        }
    }
}

/// A column of a system relation: name and type.
pub(crate) type Col = (&'static str, Ty);

/// Whether PostgreSQL has a system relation as a table or as a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SystemKind {
    Table,
    View,
}

/// A relation of `pg_catalog` or `information_schema`.
#[derive(Debug)]
pub(crate) struct SystemTable {
    pub name: &'static str,
    pub oid: i32,
    pub kind: SystemKind,
    pub columns: &'static [Col],
}

impl SystemTable {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(name, ty)| Field::new(*name, ty.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

/// One value of a system relation's row; converted to the column's type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Ints(Vec<i64>),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds one row of a system relation by column name; unset columns hold what an
/// empty catalog entry holds in PostgreSQL: 0 and false, NULL for text and arrays.
pub(crate) struct RowBuilder {
    columns: &'static [Col],
    values: Vec<Value>,
}

impl RowBuilder {
    pub(crate) fn new(columns: &'static [Col]) -> Self {
        let values = columns
            .iter()
            .map(|(_, ty)| match ty {
                Ty::Oid | Ty::Int2 | Ty::Int4 | Ty::Int8 => Value::Int(0),
                Ty::Float4 => Value::Float(0.0),
                Ty::Bool => Value::Bool(false),
                Ty::Text | Ty::TimestampTz | Ty::TextArray | Ty::OidArray | Ty::Int2Array => {
                    Value::Null
                }
            })
            .collect();
        RowBuilder { columns, values }
    }

    /// Sets a column; the names are this module's constants, checked by a unit test
    /// that builds every relation.
    pub(crate) fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        match self.columns.iter().position(|(n, _)| *n == name) {
            Some(i) => self.values[i] = value.into(),
            None => debug_assert!(false, "no column {name}"),
        }
        self
    }

    pub(crate) fn build(self) -> Vec<Value> {
        self.values
    }
}

/// A system relation's rows as a record batch of its schema.
pub(crate) fn to_batch(table: &SystemTable, rows: &[Vec<Value>]) -> DfResult<RecordBatch> {
    let schema = table.schema();
    let columns = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| column_array(name, *ty, rows.iter().map(|r| &r[i])))
        .collect::<DfResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn column_array<'a>(
    name: &str,
    ty: Ty,
    values: impl Iterator<Item = &'a Value>,
) -> DfResult<ArrayRef> {
    let mismatch = |v: &Value| {
        DataFusionError::Internal(format!("system column {name} of type {ty:?} given {v:?}"))
    };
    macro_rules! ints {
        ($builder:ty, $t:ty) => {{
            let mut b = <$builder>::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int(i) => b.append_value(*i as $t),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    macro_rules! int_lists {
        ($builder:ty, $t:ty) => {{
            let mut b = ListBuilder::new(<$builder>::new());
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Ints(items) => {
                        for i in items {
                            b.values().append_value(*i as $t);
                        }
                        b.append(true);
                    }
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match ty {
        Ty::Oid | Ty::Int4 => ints!(Int32Builder, i32),
        Ty::Int2 => ints!(Int16Builder, i16),
        Ty::Int8 => ints!(Int64Builder, i64),
        Ty::TimestampTz => {
            let mut b = TimestampMicrosecondBuilder::new().with_timezone("+00:00");
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int(i) => b.append_value(*i),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Float4 => {
            let mut b = Float32Builder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Float(f) => b.append_value(*f as f32),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Bool => {
            let mut b = BooleanBuilder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Bool(x) => b.append_value(*x),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish())
        }
        Ty::Text => {
            let mut b = StringBuilder::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Text(s) => b.append_value(s),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish())
        }
        // Options, ACLs and modes: Vigil has none.
        Ty::TextArray => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish())
        }
        Ty::OidArray => int_lists!(Int32Builder, i32),
        Ty::Int2Array => int_lists!(Int16Builder, i16),
    })
}

/// Comments set with `COMMENT ON`, by relation and column number (0: the relation).
/// Cloned into every statement, so shared until changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comments(Arc<BTreeMap<(GlobalId, i32), String>>);

impl Comments {
    pub fn get(&self, id: GlobalId, column: i32) -> Option<&str> {
        self.0.get(&(id, column)).map(String::as_str)
    }

    pub fn set(&mut self, id: GlobalId, column: i32, comment: Option<String>) {
        let comments = Arc::make_mut(&mut self.0);
        match comment {
            Some(text) => comments.insert((id, column), text),
            None => comments.remove(&(id, column)),
        };
    }

    /// Forgets every comment on a relation and its columns.
    pub fn remove_relation(&mut self, id: GlobalId) {
        Arc::make_mut(&mut self.0).retain(|(relation, _), _| *relation != id);
    }

    pub fn iter(&self) -> impl Iterator<Item = (GlobalId, i32, &str)> {
        self.0
            .iter()
            .map(|((id, n), text)| (*id, *n, text.as_str()))
    }
}

/// A session's settings, by lowercase name, as SET and SHOW see them.
pub type Settings = BTreeMap<String, String>;

/// What kind of relation a `pg_class` row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelKind {
    Table,
    View,
    MaterializedView,
}

impl RelKind {
    pub(crate) fn relkind(self) -> &'static str {
        match self {
            RelKind::Table => "r",
            RelKind::View => "v",
            RelKind::MaterializedView => "m",
        }
    }
}

/// A column of a relation, as pg_attribute describes it.
#[derive(Clone, Debug)]
pub(crate) struct Attribute {
    pub name: String,
    pub type_oid: i32,
    pub typmod: i32,
    pub not_null: bool,
    /// The Vigil type, for user relations; system columns have none.
    pub scalar: Option<ScalarType>,
}

/// A relation as the catalogs describe it: a user relation or a system one.
#[derive(Clone, Debug)]
pub(crate) struct Relation {
    pub oid: i32,
    pub name: String,
    pub namespace: i32,
    pub kind: RelKind,
    pub columns: Vec<Attribute>,
    /// Positions of the primary key's columns; empty without one.
    pub primary_key: Vec<usize>,
    /// A view's query.
    pub definition: Option<String>,
    /// The Vigil id of a user relation.
    pub id: Option<GlobalId>,
}

impl Relation {
    pub(crate) fn constraint_oid(&self) -> i32 {
        CONSTRAINT_OID_BASE.wrapping_add(self.oid)
    }

    pub(crate) fn index_oid(&self) -> i32 {
        INDEX_OID_BASE.wrapping_add(self.oid)
    }

    pub(crate) fn pkey_name(&self) -> String {
        format!("{}_pkey", self.name)
    }

    pub(crate) fn is_user(&self) -> bool {
        self.id.is_some()
    }
}

/// Everything the catalogs and functions report for one statement.
#[derive(Debug)]
pub struct PgSnapshot {
    /// User relations, in oid order.
    user: Vec<Relation>,
    pub(crate) comments: Comments,
    pub(crate) settings: Settings,
    /// The clock's reading (ms since the Unix epoch) when the statement started:
    /// what `now()` returns, in the statement and in the views it reads.
    pub(crate) now_ms: u64,
}

/// The relations of pg_catalog and information_schema: the same for every
/// statement, so built once.
static SYSTEM_RELATIONS: LazyLock<Vec<Relation>> = LazyLock::new(|| {
    let system = columns::PG_CATALOG
        .iter()
        .map(|t| (t, PG_CATALOG_NAMESPACE))
        .chain(
            crate::information_schema::RELATIONS
                .iter()
                .map(|t| (t, INFORMATION_SCHEMA_NAMESPACE)),
        );
    system
        .map(|(table, namespace)| Relation {
            oid: table.oid,
            name: table.name.to_string(),
            namespace,
            kind: match table.kind {
                SystemKind::Table => RelKind::Table,
                SystemKind::View => RelKind::View,
            },
            columns: table
                .columns
                .iter()
                .map(|(name, ty)| Attribute {
                    name: name.to_string(),
                    type_oid: ty.type_oid(),
                    typmod: -1,
                    not_null: false,
                    scalar: None,
                })
                .collect(),
            primary_key: Vec::new(),
            definition: None,
            id: None,
        })
        .collect()
});

/// The user relation oid of a Vigil id.
pub(crate) fn relation_oid(id: GlobalId) -> i32 {
    i32::try_from(id)
        .ok()
        .and_then(|id| FIRST_USER_OID.checked_add(id))
        .unwrap_or(i32::MAX)
}

/// The typmod PostgreSQL records for a column of `ty`.
pub(crate) fn typmod(ty: ScalarType) -> i32 {
    match ty {
        ScalarType::Numeric { precision, scale } if ty != DEFAULT_NUMERIC => {
            ((i32::from(precision) << 16) | i32::from(scale as u8)) + 4
        }
        ScalarType::Bool
        | ScalarType::Int16
        | ScalarType::Int32
        | ScalarType::Int64
        | ScalarType::Float64
        | ScalarType::Numeric { .. }
        | ScalarType::Text
        | ScalarType::Date
        | ScalarType::Timestamp
        | ScalarType::TimestampTz
        | ScalarType::Interval
        | ScalarType::Jsonb
        | ScalarType::Json
        | ScalarType::TextArray => -1,
    }
}

impl PgSnapshot {
    pub fn new(catalog: &Catalog, comments: Comments, settings: Settings) -> PgSnapshot {
        let mut user = Vec::new();
        for entry in catalog.relations() {
            let (kind, primary_key, definition) = match &entry.def.kind {
                ItemKind::Table { primary_key } => (RelKind::Table, primary_key.clone(), None),
                ItemKind::View { query } => (RelKind::View, Vec::new(), Some(query.clone())),
                ItemKind::MaterializedView { query, .. } => {
                    (RelKind::MaterializedView, Vec::new(), Some(query.clone()))
                }
                // Clients list sources with tables: rows arrive, keyed by the primary key.
                ItemKind::Source { primary_key, .. } => (RelKind::Table, primary_key.clone(), None),
                ItemKind::Sink { .. } => continue,
            };
            let columns = entry
                .def
                .desc
                .columns
                .iter()
                .map(|c| Attribute {
                    name: c.name.clone(),
                    type_oid: c.ty.pg_oid() as i32,
                    typmod: typmod(c.ty),
                    // PostgreSQL records NOT NULL only for tables' columns.
                    not_null: kind == RelKind::Table && !c.nullable,
                    scalar: Some(c.ty),
                })
                .collect();
            user.push(Relation {
                oid: relation_oid(entry.id),
                name: entry.def.name.clone(),
                namespace: PUBLIC_NAMESPACE,
                kind,
                columns,
                primary_key,
                definition,
                id: Some(entry.id),
            });
        }
        user.sort_by_key(|r| r.oid);
        PgSnapshot {
            user,
            comments,
            settings,
            now_ms: 0,
        }
    }

    /// The snapshot of a statement that started at `now_ms` on the clock.
    pub fn at(mut self, now_ms: u64) -> PgSnapshot {
        self.now_ms = now_ms;
        self
    }

    /// Every relation: user relations, then system ones.
    pub(crate) fn relations(&self) -> impl Iterator<Item = &Relation> {
        self.user.iter().chain(SYSTEM_RELATIONS.iter())
    }

    pub(crate) fn relation(&self, oid: i32) -> Option<&Relation> {
        match self.user.binary_search_by_key(&oid, |r| r.oid) {
            Ok(i) => Some(&self.user[i]),
            Err(_) => SYSTEM_RELATIONS.iter().find(|r| r.oid == oid),
        }
    }

    /// The relation a primary key index or constraint oid belongs to.
    pub(crate) fn relation_of_key(&self, oid: i32) -> Option<&Relation> {
        self.user.iter().find(|r| {
            !r.primary_key.is_empty() && (r.index_oid() == oid || r.constraint_oid() == oid)
        })
    }

    /// Resolves a relation name as PostgreSQL's search path would: an unqualified name
    /// finds user relations first, then pg_catalog.
    pub(crate) fn resolve(&self, schema: Option<&str>, name: &str) -> Option<&Relation> {
        let namespace = match schema {
            None => {
                return self
                    .find(PUBLIC_NAMESPACE, name)
                    .or_else(|| self.find(PG_CATALOG_NAMESPACE, name));
            }
            Some("public") => PUBLIC_NAMESPACE,
            Some("pg_catalog") => PG_CATALOG_NAMESPACE,
            Some("information_schema") => INFORMATION_SCHEMA_NAMESPACE,
            Some(_) => return None,
        };
        self.find(namespace, name)
    }

    fn find(&self, namespace: i32, name: &str) -> Option<&Relation> {
        self.relations()
            .find(|r| r.namespace == namespace && r.name == name)
    }

    pub(crate) fn namespace_name(oid: i32) -> Option<&'static str> {
        match oid {
            PG_CATALOG_NAMESPACE => Some("pg_catalog"),
            PUBLIC_NAMESPACE => Some("public"),
            INFORMATION_SCHEMA_NAMESPACE => Some("information_schema"),
            _ => None,
        }
    }

    pub(crate) fn namespace_oid(name: &str) -> Option<i32> {
        match name {
            "pg_catalog" => Some(PG_CATALOG_NAMESPACE),
            "public" => Some(PUBLIC_NAMESPACE),
            "information_schema" => Some(INFORMATION_SCHEMA_NAMESPACE),
            _ => None,
        }
    }

    /// A setting's value, by case-insensitive name.
    pub(crate) fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(&name.to_lowercase()).map(String::as_str)
    }

    /// The role every object belongs to: the session's user.
    pub(crate) fn user(&self) -> &str {
        self.setting("session_authorization")
            .filter(|u| !u.is_empty())
            .unwrap_or("vigil")
    }

    pub(crate) fn database(&self) -> &str {
        self.setting("database")
            .filter(|d| !d.is_empty())
            .unwrap_or("vigil")
    }

    /// A relation's comment, or a column's (`column` > 0).
    pub(crate) fn comment(&self, oid: i32, column: i32) -> Option<&str> {
        let id = self.relation(oid)?.id?;
        self.comments.get(id, column)
    }
}

/// The snapshot and settings as a DataFusion config extension, so functions find
/// them at execution through `ScalarFunctionArgs::config_options`.
#[derive(Clone, Debug)]
pub struct PgContext(pub Arc<PgSnapshot>);

impl ConfigExtension for PgContext {
    const PREFIX: &'static str = "vigil_pg";
}

impl ExtensionOptions for PgContext {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> DfResult<()> {
        Err(DataFusionError::Configuration(format!(
            "session settings are changed with SET, not through {key}"
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        self.0
            .settings
            .iter()
            .map(|(k, v)| ConfigEntry {
                key: format!("{}.{k}", Self::PREFIX),
                value: Some(v.clone()),
                description: "",
            })
            .collect()
    }
}

/// The `pg_catalog` schema: every relation of [`columns::PG_CATALOG`], built when a
/// statement names it.
#[derive(Debug)]
pub struct PgCatalogSchema {
    snapshot: Arc<PgSnapshot>,
}

impl PgCatalogSchema {
    pub fn new(snapshot: Arc<PgSnapshot>) -> Self {
        PgCatalogSchema { snapshot }
    }

    /// The relation `name` of pg_catalog, if there is one.
    pub fn relation(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(table) = columns::PG_CATALOG.iter().find(|t| t.name == name) else {
            return Ok(None);
        };
        let rows = tables::rows(table.name, &self.snapshot);
        memtable(table, &rows).map(Some)
    }

    pub fn has(name: &str) -> bool {
        columns::PG_CATALOG.iter().any(|t| t.name == name)
    }
}

pub(crate) fn memtable(
    table: &SystemTable,
    rows: &[Vec<Value>],
) -> DfResult<Arc<dyn TableProvider>> {
    let batch = to_batch(table, rows)?;
    Ok(Arc::new(MemTable::try_new(
        table.schema(),
        vec![vec![batch]],
    )?))
}

#[async_trait]
impl SchemaProvider for PgCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        columns::PG_CATALOG
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.relation(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        Self::has(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> PgSnapshot {
        PgSnapshot::new(&Catalog::default(), Comments::default(), Settings::new())
    }

    /// Every relation builds: its rows fit its columns (a misspelt column name in a
    /// builder would fail here).
    #[test]
    fn every_relation_builds() {
        let snapshot = snapshot();
        for table in columns::PG_CATALOG {
            let rows = tables::rows(table.name, &snapshot);
            let batch = to_batch(table, &rows).expect(table.name);
            assert_eq!(batch.num_columns(), table.columns.len(), "{}", table.name);
        }
        for table in crate::information_schema::RELATIONS {
            let rows = crate::information_schema::rows(table.name, &snapshot);
            to_batch(table, &rows).expect(table.name);
        }
    }

    #[test]
    fn system_relations_keep_postgres_oids() {
        let snapshot = snapshot();
        let class = snapshot.resolve(Some("pg_catalog"), "pg_class").unwrap();
        assert_eq!(class.oid, PG_CLASS_OID);
        assert_eq!(snapshot.resolve(None, "pg_type").unwrap().oid, 1247);
        assert!(snapshot.resolve(Some("public"), "pg_type").is_none());
    }

    /// The relations the rewrite treats as never filled have no rows even when
    /// the catalog has keyed tables, views and comments.
    #[test]
    fn always_empty_relations_have_no_rows() {
        use crate::catalog::{Entry, ItemDef};
        use vigil_engine::repr::{Column, RelationDesc};
        let mut catalog = Catalog::default();
        let def = ItemDef {
            name: "t".into(),
            kind: ItemKind::Table {
                primary_key: vec![0],
            },
            desc: RelationDesc::new(vec![Column {
                name: "id".into(),
                ty: ScalarType::Int32,
                nullable: false,
            }]),
            create_sql: String::new(),
            depends_on: Vec::new(),
        };
        let provider =
            Arc::new(MemTable::try_new(Arc::new(Schema::empty()), vec![vec![]]).unwrap());
        let view = ItemDef {
            name: "v".into(),
            kind: ItemKind::MaterializedView {
                query: "SELECT id FROM t".into(),
                retain_ms: 0,
            },
            ..def.clone()
        };
        catalog.insert(Entry {
            id: 1,
            def,
            provider: provider.clone(),
        });
        catalog.insert(Entry {
            id: 2,
            def: view,
            provider,
        });
        let mut comments = Comments::default();
        comments.set(1, 0, Some("a table".into()));
        let settings = Settings::from([("timezone".to_string(), "UTC".to_string())]);
        let snapshot = PgSnapshot::new(&catalog, comments, settings);
        for table in columns::PG_CATALOG {
            let rows = tables::rows(table.name, &snapshot);
            assert_eq!(
                tables::always_empty(table.name),
                rows.is_empty(),
                "{}",
                table.name
            );
        }
    }

    #[test]
    fn numeric_typmod_packs_precision_and_scale() {
        let ty = ScalarType::Numeric {
            precision: 10,
            scale: 2,
        };
        assert_eq!(typmod(ty), (10 << 16) + 2 + 4);
        assert_eq!(typmod(DEFAULT_NUMERIC), -1);
        assert_eq!(typmod(ScalarType::Text), -1);
    }
}
