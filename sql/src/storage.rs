//! Durable state in the data directory: the catalog and every table's rows, in one
//! redb database (`vigil.redb`).
//!
//! A write is one redb transaction committed with immediate durability before the
//! client hears back, so a crash (even `kill -9`) loses no acknowledged write.
//!
//! Tables with a primary key store one entry per key (`(table, key) → row`); tables
//! without one are multisets and store `(table, row) → row and count`.
//!
//! `COMMENT ON` texts live in their own table, `(relation, column number) → text`
//! (column 0 is the relation), so item definitions keep their serialized form.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use vigil_engine::repr::Row;
use vigil_engine::{Diff, GlobalId};

use crate::SqlError;
use crate::pg_catalog::Comments;

const CATALOG: TableDefinition<u64, &[u8]> = TableDefinition::new("catalog");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const ROWS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("rows");
const COMMENTS: TableDefinition<(u64, i32), &str> = TableDefinition::new("comments");

const NEXT_ID: &str = "next_id";

/// The data directory's database.
pub struct Storage {
    db: Database,
}

/// How a table's rows are keyed in storage.
#[derive(Clone, Debug)]
pub enum RowKey {
    /// Positions of the primary key columns.
    Primary(Vec<usize>),
    /// No primary key: the whole row is the key and duplicates are counted.
    WholeRow,
}

impl RowKey {
    fn key_bytes(&self, row: &Row) -> Result<Vec<u8>, SqlError> {
        match self {
            RowKey::Primary(columns) => {
                let key: Row = columns.iter().map(|&c| row[c].clone()).collect();
                encode(&key)
            }
            RowKey::WholeRow => encode(row),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredRow {
    row: Row,
    count: u64,
}

/// Changes to one table's rows.
struct TableUpdates {
    table: GlobalId,
    key: RowKey,
    updates: Vec<(Row, Diff)>,
}

/// One atomic change to storage.
#[derive(Default)]
pub struct WriteBatch {
    catalog_puts: Vec<(GlobalId, Vec<u8>)>,
    catalog_deletes: Vec<GlobalId>,
    row_updates: Vec<TableUpdates>,
    next_id: Option<GlobalId>,
    comments: Vec<(GlobalId, i32, Option<String>)>,
    meta: Vec<(String, u64)>,
    meta_deletes: Vec<String>,
}

impl WriteBatch {
    pub fn put_catalog_item(
        &mut self,
        id: GlobalId,
        item: &impl Serialize,
    ) -> Result<(), SqlError> {
        self.catalog_puts.push((id, encode(item)?));
        Ok(())
    }

    /// Sets (or, with `None`, removes) the comment on a relation (`column` 0) or
    /// one of its columns.
    pub fn set_comment(&mut self, id: GlobalId, column: i32, comment: Option<String>) {
        self.comments.push((id, column, comment));
    }

    /// Removes a catalog item, its comments and, if it is a table, all its rows.
    pub fn delete_catalog_item(&mut self, id: GlobalId) {
        self.catalog_deletes.push(id);
    }

    pub fn update_rows(&mut self, table: GlobalId, key: RowKey, updates: Vec<(Row, Diff)>) {
        self.row_updates.push(TableUpdates {
            table,
            key,
            updates,
        });
    }

    pub fn set_next_id(&mut self, id: GlobalId) {
        self.next_id = Some(id);
    }

    pub fn delete_meta(&mut self, key: &str) {
        self.meta_deletes.push(key.to_string());
    }

    /// Sets a named number (the manual clock, a sink's progress).
    pub fn set_meta(&mut self, key: &str, value: u64) {
        self.meta.push((key.to_string(), value));
    }
}

impl Storage {
    /// Opens or creates `dir/vigil.redb`.
    pub fn open(dir: &Path) -> Result<Storage, SqlError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            SqlError::Storage(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("vigil.redb");
        let db = Database::create(&path)
            .map_err(|e| SqlError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(storage_error)?;
        {
            txn.open_table(CATALOG).map_err(storage_error)?;
            txn.open_table(META).map_err(storage_error)?;
            txn.open_table(ROWS).map_err(storage_error)?;
            txn.open_table(COMMENTS).map_err(storage_error)?;
        }
        txn.commit().map_err(storage_error)?;
        Ok(Storage { db })
    }

    /// Every catalog item, in id order, and the next free id.
    pub fn catalog<T: for<'a> Deserialize<'a>>(
        &self,
    ) -> Result<(Vec<(GlobalId, T)>, GlobalId), SqlError> {
        let txn = self.db.begin_read().map_err(storage_error)?;
        let catalog = txn.open_table(CATALOG).map_err(storage_error)?;
        let mut items = Vec::new();
        for entry in catalog.iter().map_err(storage_error)? {
            let (id, bytes) = entry.map_err(storage_error)?;
            items.push((id.value(), decode(bytes.value())?));
        }
        let meta = txn.open_table(META).map_err(storage_error)?;
        let next_id = meta
            .get(NEXT_ID)
            .map_err(storage_error)?
            .map(|v| v.value())
            .unwrap_or(1);
        Ok((items, next_id))
    }

    /// Every comment.
    pub fn comments(&self) -> Result<Comments, SqlError> {
        let txn = self.db.begin_read().map_err(storage_error)?;
        let table = txn.open_table(COMMENTS).map_err(storage_error)?;
        let mut comments = Comments::default();
        for entry in table.iter().map_err(storage_error)? {
            let (key, text) = entry.map_err(storage_error)?;
            let (id, column) = key.value();
            comments.set(id, column, Some(text.value().to_string()));
        }
        Ok(comments)
    }

    /// All rows of a table, with their multiplicities.
    pub fn table_rows(&self, table: GlobalId) -> Result<Vec<(Row, Diff)>, SqlError> {
        let txn = self.db.begin_read().map_err(storage_error)?;
        let rows = txn.open_table(ROWS).map_err(storage_error)?;
        let start: (u64, &[u8]) = (table, &[]);
        let mut out = Vec::new();
        for entry in rows.range(start..).map_err(storage_error)? {
            let (key, value) = entry.map_err(storage_error)?;
            if key.value().0 != table {
                break;
            }
            let stored: StoredRow = decode(value.value())?;
            out.push((stored.row, stored.count as Diff));
        }
        Ok(out)
    }

    /// The row stored under primary key `key` of a table, if any.
    pub fn lookup(&self, table: GlobalId, key: &Row) -> Result<Option<Row>, SqlError> {
        let txn = self.db.begin_read().map_err(storage_error)?;
        let rows = txn.open_table(ROWS).map_err(storage_error)?;
        let key = encode(key)?;
        match rows.get((table, key.as_slice())).map_err(storage_error)? {
            Some(value) => Ok(Some(decode::<StoredRow>(value.value())?.row)),
            None => Ok(None),
        }
    }

    /// A named number set with [`WriteBatch::set_meta`].
    pub fn meta(&self, key: &str) -> Result<Option<u64>, SqlError> {
        let txn = self.db.begin_read().map_err(storage_error)?;
        let meta = txn.open_table(META).map_err(storage_error)?;
        Ok(meta.get(key).map_err(storage_error)?.map(|v| v.value()))
    }

    /// Applies a batch atomically and durably.
    pub fn commit(&self, batch: WriteBatch) -> Result<(), SqlError> {
        let txn = self.db.begin_write().map_err(storage_error)?;
        {
            let mut catalog = txn.open_table(CATALOG).map_err(storage_error)?;
            let mut rows = txn.open_table(ROWS).map_err(storage_error)?;
            let mut comments = txn.open_table(COMMENTS).map_err(storage_error)?;
            for (id, column, comment) in &batch.comments {
                match comment {
                    Some(text) => comments.insert((*id, *column), text.as_str()),
                    None => comments.remove((*id, *column)),
                }
                .map_err(storage_error)?;
            }
            for (id, bytes) in &batch.catalog_puts {
                catalog
                    .insert(*id, bytes.as_slice())
                    .map_err(storage_error)?;
            }
            for id in &batch.catalog_deletes {
                catalog.remove(*id).map_err(storage_error)?;
                comments
                    .retain_in((*id, i32::MIN)..=(*id, i32::MAX), |_, _| false)
                    .map_err(storage_error)?;
                let start: (u64, &[u8]) = (*id, &[]);
                let keys: Vec<Vec<u8>> = rows
                    .range(start..)
                    .map_err(storage_error)?
                    .map_while(|entry| {
                        let (key, _) = entry.ok()?;
                        let (table, bytes) = key.value();
                        (table == *id).then(|| bytes.to_vec())
                    })
                    .collect();
                for key in keys {
                    rows.remove((*id, key.as_slice())).map_err(storage_error)?;
                }
            }
            for TableUpdates {
                table,
                key: row_key,
                updates,
            } in &batch.row_updates
            {
                // Retractions first, so an update that keeps its key replaces the row.
                let ordered = updates
                    .iter()
                    .filter(|u| u.1 < 0)
                    .chain(updates.iter().filter(|u| u.1 > 0));
                for (row, diff) in ordered {
                    let key = row_key.key_bytes(row)?;
                    let current = match rows.get((*table, key.as_slice())).map_err(storage_error)? {
                        Some(value) => decode::<StoredRow>(value.value())?.count as Diff,
                        None => 0,
                    };
                    let count = current + diff;
                    if count <= 0 {
                        rows.remove((*table, key.as_slice()))
                            .map_err(storage_error)?;
                    } else {
                        let stored = encode(&StoredRow {
                            row: row.clone(),
                            count: count as u64,
                        })?;
                        rows.insert((*table, key.as_slice()), stored.as_slice())
                            .map_err(storage_error)?;
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(storage_error)?;
            if let Some(next_id) = batch.next_id {
                meta.insert(NEXT_ID, next_id).map_err(storage_error)?;
            }
            for (key, value) in &batch.meta {
                meta.insert(key.as_str(), *value).map_err(storage_error)?;
            }
            for key in &batch.meta_deletes {
                meta.remove(key.as_str()).map_err(storage_error)?;
            }
        }
        txn.commit().map_err(storage_error)
    }
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, SqlError> {
    postcard::to_stdvec(value).map_err(|e| SqlError::Storage(format!("cannot encode: {e}")))
}

fn decode<T: for<'a> Deserialize<'a>>(bytes: &[u8]) -> Result<T, SqlError> {
    postcard::from_bytes(bytes)
        .map_err(|e| SqlError::Storage(format!("cannot decode stored value: {e}")))
}

fn storage_error(e: impl std::fmt::Display) -> SqlError {
    SqlError::Storage(e.to_string())
}
