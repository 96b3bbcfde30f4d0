//! Envelopes: how a record of the change log changes the source's collection.
//!
//! - **upsert**: the record's key names a row; its value replaces the row (the old
//!   one is retracted) and a null value (tombstone) deletes it. Replaying a
//!   partition from its start gives the same rows, since the latest value wins.
//! - **append**: every record is a new row; tombstones are ignored.
//! - **debezium**: the value is a Debezium change event (`before`, `after`, `op`,
//!   optionally wrapped in `payload`); `after` upserts the row by its key and a null
//!   `after` deletes it, so replays are idempotent as with upsert.
//!
//! The key of an upsert or Debezium record is the record key (a bare value, an
//! object or an array, see [`JsonFormat::decode_key`]), or, for records without one,
//! the primary key columns of the value. State is per worker: a key always lands in
//! one partition, and a partition is read by one worker.

use std::collections::HashMap;

use serde_json::Value;
use vigil_changelog::Record;

use super::json::{DecodeError, JsonFormat};
use crate::plan::Diff;
use crate::repr::text::datum_to_text;
use crate::repr::{Datum, Row};

/// How records change the collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// Key → latest value; `key` holds the primary key's column positions.
    Upsert { key: Vec<usize> },
    /// Every record is a row.
    Append,
    /// Debezium before/after images, upserted by `key`.
    Debezium { key: Vec<usize> },
}

/// Turns records into row changes, remembering what upserts need.
pub(crate) struct Decoder {
    format: JsonFormat,
    envelope: Envelope,
    /// The current row of every key this worker has seen.
    rows: HashMap<Row, Row>,
}

impl Decoder {
    pub fn new(format: JsonFormat, envelope: Envelope) -> Decoder {
        Decoder {
            format,
            envelope,
            rows: HashMap::new(),
        }
    }

    /// Appends the changes `record` makes to `out`; on error nothing is appended and
    /// the row of the record's key, if any, stays as it was.
    pub fn apply(
        &mut self,
        record: &Record,
        out: &mut Vec<(Row, Diff)>,
    ) -> Result<(), DecodeError> {
        match &self.envelope {
            Envelope::Append => {
                if let Some(value) = &record.value {
                    let row = self.format.decode(&JsonFormat::parse(value)?)?;
                    out.push((row, 1));
                }
                Ok(())
            }
            Envelope::Upsert { key } => {
                let key = key.clone();
                let value = match &record.value {
                    Some(bytes) => Some(JsonFormat::parse(bytes)?),
                    None => None,
                };
                self.upsert(record, &key, value.as_ref(), out)
            }
            Envelope::Debezium { key } => {
                let key = key.clone();
                let Some(bytes) = &record.value else {
                    // Debezium follows a delete with a tombstone for compaction; the
                    // delete event already removed the row.
                    return Ok(());
                };
                let event = JsonFormat::parse(bytes)?;
                let event = event
                    .get("payload")
                    .filter(|p| p.is_object())
                    .unwrap_or(&event);
                if !event.is_object() {
                    return Err(DecodeError::NotAnObject);
                }
                let after = event.get("after").filter(|a| !a.is_null());
                match after {
                    Some(after) => self.upsert(record, &key, Some(after), out),
                    None => {
                        // A delete: the key comes from the record key or the before image.
                        let before = event.get("before").filter(|b| !b.is_null());
                        let key_row = self.key_of(record, &key, before)?;
                        self.remove(&key_row, out);
                        Ok(())
                    }
                }
            }
        }
    }

    fn upsert(
        &mut self,
        record: &Record,
        key: &[usize],
        value: Option<&Value>,
        out: &mut Vec<(Row, Diff)>,
    ) -> Result<(), DecodeError> {
        let key_row = self.key_of(record, key, value)?;
        let Some(value) = value else {
            self.remove(&key_row, out);
            return Ok(());
        };
        let mut row = self.format.decode_keyed(value, key)?;
        // The key names the row: key columns the value leaves out come from it, and
        // a value that contradicts its key is refused.
        for (&position, datum) in key.iter().zip(&key_row) {
            match &row[position] {
                Datum::Null => row[position] = datum.clone(),
                present if present == datum => {}
                present => {
                    let text = |d: &Datum| datum_to_text(d).unwrap_or_default();
                    return Err(DecodeError::Key(format!(
                        "the value's key column \"{}\" is {} but the record key says {}",
                        self.format.columns[position].column.name,
                        text(present),
                        text(datum)
                    )));
                }
            }
        }
        match self.rows.insert(key_row, row.clone()) {
            Some(old) if old == row => {}
            Some(old) => {
                out.push((old, -1));
                out.push((row, 1));
            }
            None => out.push((row, 1)),
        }
        Ok(())
    }

    fn remove(&mut self, key_row: &Row, out: &mut Vec<(Row, Diff)>) {
        if let Some(old) = self.rows.remove(key_row) {
            out.push((old, -1));
        }
    }

    /// The key of a record: its record key, else the key columns of `value`.
    fn key_of(
        &self,
        record: &Record,
        key: &[usize],
        value: Option<&Value>,
    ) -> Result<Row, DecodeError> {
        match (&record.key, value) {
            (Some(bytes), _) => {
                let document =
                    JsonFormat::parse(bytes).map_err(|e| DecodeError::Key(e.to_string()))?;
                self.format.decode_key(&document, key)
            }
            (None, Some(value)) => self.format.decode_key(value, key),
            (None, None) => Err(DecodeError::Key("a tombstone needs a record key".into())),
        }
    }
}
