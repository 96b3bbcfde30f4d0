//! The JSON format: one JSON document per record value (and key) into a typed row.
//!
//! Each column reads the field of its name, or the nested field its `path` names
//! (`fields.status.name`, array elements by index: `labels.0`). Values convert the
//! way a PostgreSQL client would expect:
//!
//! - strings go through the column type's PostgreSQL input function, so numbers that
//!   arrive as strings (`"42"`, `"3.50"`), RFC 3339 and ISO 8601 timestamps, dates
//!   and intervals all read;
//! - numbers fill numeric columns exactly as written when they are integral, and
//!   timestamps, timestamptz and dates as milliseconds since the Unix epoch;
//! - any JSON value fills a `jsonb` column, and a `json` column as its compact text
//!   (the document is parsed before the columns are read, so its spacing and key
//!   order are already gone); an array of strings fills `text[]`;
//! - a missing field or JSON `null` is SQL `NULL`, refused for NOT NULL columns.

use serde_json::Value;

use crate::repr::text::{ReprError, canonical_jsonb, parse_datum};
use crate::repr::{Column, Datum, F64, RelationDesc, Row, ScalarType};

/// Why a record did not decode; the message becomes a row of `vigil_source_errors`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("value is not valid JSON: {0}")]
    Syntax(String),
    #[error("value is not a JSON object")]
    NotAnObject,
    #[error("column \"{column}\": {message}")]
    Column { column: String, message: String },
    #[error("column \"{0}\" is NOT NULL but the record has no value for it")]
    MissingValue(String),
    #[error("key: {0}")]
    Key(String),
}

/// Where a column's value sits in the JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonColumn {
    pub column: Column,
    /// Field names (or array indexes) from the document's root.
    pub path: Vec<String>,
}

impl JsonColumn {
    /// A column read from the top-level field of its own name.
    pub fn named(column: Column) -> JsonColumn {
        let path = vec![column.name.clone()];
        JsonColumn { column, path }
    }

    /// A column read from a dotted path such as `fields.status.name`.
    pub fn at_path(column: Column, path: &str) -> JsonColumn {
        JsonColumn {
            column,
            path: path.split('.').map(str::to_owned).collect(),
        }
    }
}

/// Decodes JSON documents into rows of a relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonFormat {
    pub columns: Vec<JsonColumn>,
}

impl JsonFormat {
    /// Every column read from the top-level field of its name.
    pub fn for_desc(desc: &RelationDesc) -> JsonFormat {
        JsonFormat {
            columns: desc
                .columns
                .iter()
                .cloned()
                .map(JsonColumn::named)
                .collect(),
        }
    }

    /// Parses `bytes` as a JSON document.
    pub fn parse(bytes: &[u8]) -> Result<Value, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Syntax(e.to_string()))
    }

    /// The row a JSON object describes.
    pub fn decode(&self, document: &Value) -> Result<Row, DecodeError> {
        self.decode_keyed(document, &[])
    }

    /// Like [`decode`](Self::decode), but the columns at `key` may be missing: the
    /// record key supplies them.
    pub fn decode_keyed(&self, document: &Value, key: &[usize]) -> Result<Row, DecodeError> {
        if !document.is_object() {
            return Err(DecodeError::NotAnObject);
        }
        self.columns
            .iter()
            .enumerate()
            .map(|(position, c)| {
                let value = lookup(document, &c.path).unwrap_or(&Value::Null);
                let datum =
                    to_datum(value, c.column.ty).map_err(|message| DecodeError::Column {
                        column: c.column.name.clone(),
                        message,
                    })?;
                if datum.is_null() && !c.column.nullable && !key.contains(&position) {
                    return Err(DecodeError::MissingValue(c.column.name.clone()));
                }
                Ok(datum)
            })
            .collect()
    }

    /// The values of the columns at `positions` that a record key describes: a JSON
    /// object with those columns' fields, an array in their order, or, for a
    /// one-column key, the bare value.
    pub fn decode_key(&self, key: &Value, positions: &[usize]) -> Result<Row, DecodeError> {
        let column = |p: usize| -> Result<&JsonColumn, DecodeError> {
            self.columns
                .get(p)
                .ok_or_else(|| DecodeError::Key(format!("no column at position {p}")))
        };
        let datums: Result<Row, DecodeError> = match key {
            Value::Object(fields) => positions
                .iter()
                .map(|&p| {
                    let c = column(p)?;
                    let value = fields
                        .get(&c.column.name)
                        .or_else(|| lookup(key, &c.path))
                        .unwrap_or(&Value::Null);
                    key_datum(value, c)
                })
                .collect(),
            Value::Array(items) if positions.len() > 1 => {
                if items.len() != positions.len() {
                    return Err(DecodeError::Key(format!(
                        "expected {} values, found {}",
                        positions.len(),
                        items.len()
                    )));
                }
                positions
                    .iter()
                    .zip(items)
                    .map(|(&p, value)| key_datum(value, column(p)?))
                    .collect()
            }
            scalar if positions.len() == 1 => Ok(vec![key_datum(scalar, column(positions[0])?)?]),
            _ => Err(DecodeError::Key(format!(
                "expected an object or an array of {} values",
                positions.len()
            ))),
        };
        datums
    }
}

fn key_datum(value: &Value, c: &JsonColumn) -> Result<Datum, DecodeError> {
    match to_datum(value, c.column.ty) {
        Ok(Datum::Null) => Err(DecodeError::Key(format!(
            "key column \"{}\" is null",
            c.column.name
        ))),
        Ok(datum) => Ok(datum),
        Err(message) => Err(DecodeError::Key(format!(
            "column \"{}\": {message}",
            c.column.name
        ))),
    }
}

/// The value at `path` under `document`, if there is one.
fn lookup<'v>(document: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(document, |value, step| match value {
        Value::Object(fields) => fields.get(step),
        Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

const MICROS_PER_MILLI: i64 = 1_000;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// One JSON value as a datum of `ty`; the error is the message for the column.
fn to_datum(value: &Value, ty: ScalarType) -> Result<Datum, String> {
    let repr = |e: ReprError| e.to_string();
    match (value, ty) {
        (Value::Null, _) => Ok(Datum::Null),
        (value, ScalarType::Jsonb) => Ok(Datum::Jsonb(canonical_jsonb(value))),
        (value, ScalarType::Json) => Ok(Datum::Json(value.to_string())),
        (Value::String(s), ty) => parse_datum(s, ty).map_err(repr),
        (Value::Bool(b), ScalarType::Bool) => Ok(Datum::Bool(*b)),
        (Value::Bool(b), ScalarType::Text) => Ok(Datum::Text(b.to_string())),
        (Value::Number(n), ScalarType::Float64) => n
            .as_f64()
            .map(|f| Datum::Float64(F64(f)))
            .ok_or_else(|| format!("{n} is not a double precision value")),
        (Value::Number(n), ScalarType::Timestamp | ScalarType::TimestampTz) => {
            let millis = epoch_millis(n)?;
            let micros = millis
                .checked_mul(MICROS_PER_MILLI)
                .ok_or_else(|| format!("{n} milliseconds is out of range for type {ty}"))?;
            Ok(if ty == ScalarType::Timestamp {
                Datum::Timestamp(micros)
            } else {
                Datum::TimestampTz(micros)
            })
        }
        (Value::Number(n), ScalarType::Date) => {
            let days = epoch_millis(n)?.div_euclid(MILLIS_PER_DAY);
            i32::try_from(days)
                .map(Datum::Date)
                .map_err(|_| format!("{n} milliseconds is out of range for type date"))
        }
        // Integers and decimals read through the type's text input, which checks
        // range and scale exactly as PostgreSQL does.
        (
            Value::Number(n),
            ScalarType::Int16
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Numeric { .. }
            | ScalarType::Text,
        ) => parse_datum(&n.to_string(), ty).map_err(repr),
        (Value::Array(items), ScalarType::TextArray) => items
            .iter()
            .map(|item| match item {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                Value::Number(_) | Value::Bool(_) => Ok(Some(item.to_string())),
                _ => Err("text[] elements must be strings, numbers or booleans".to_string()),
            })
            .collect::<Result<_, _>>()
            .map(Datum::TextArray),
        (value, ty) => Err(format!("a JSON {} cannot be {ty}", json_kind(value))),
    }
}

/// A JSON number of milliseconds since the Unix epoch.
fn epoch_millis(n: &serde_json::Number) -> Result<i64, String> {
    if let Some(millis) = n.as_i64() {
        return Ok(millis);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.abs() < 9.0e15 => Ok(f.trunc() as i64),
        _ => Err(format!("{n} is not a number of milliseconds since 1970")),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn column(name: &str, ty: ScalarType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable,
        }
    }

    fn format() -> JsonFormat {
        JsonFormat {
            columns: vec![
                JsonColumn::named(column("id", ScalarType::Int64, false)),
                JsonColumn::at_path(
                    column("status", ScalarType::Text, true),
                    "fields.status.name",
                ),
                JsonColumn::named(column(
                    "points",
                    ScalarType::Numeric {
                        precision: 10,
                        scale: 2,
                    },
                    true,
                )),
                JsonColumn::named(column("updated", ScalarType::TimestampTz, true)),
                JsonColumn::named(column("labels", ScalarType::TextArray, true)),
                JsonColumn::named(column("raw", ScalarType::Jsonb, true)),
            ],
        }
    }

    #[test]
    fn decodes_nested_paths_strings_as_numbers_and_both_timestamp_forms() {
        let f = format();
        let row = f
            .decode(&json!({
                "id": "42",
                "fields": {"status": {"name": "Done"}},
                "points": "3.5",
                "updated": "2025-03-01T12:00:00Z",
                "labels": ["a", null],
                "raw": {"b": 1, "a": [true]}
            }))
            .unwrap();
        assert_eq!(row[0], Datum::Int64(42));
        assert_eq!(row[1], Datum::Text("Done".into()));
        assert_eq!(
            row[2],
            parse_datum(
                "3.50",
                ScalarType::Numeric {
                    precision: 10,
                    scale: 2
                }
            )
            .unwrap()
        );
        assert_eq!(
            row[3],
            parse_datum("2025-03-01 12:00:00+00", ScalarType::TimestampTz).unwrap()
        );
        assert_eq!(row[4], Datum::TextArray(vec![Some("a".into()), None]));
        assert_eq!(row[5], Datum::Jsonb(r#"{"a": [true], "b": 1}"#.into()));

        let millis = f
            .decode(&json!({"id": 1, "updated": 1740830400000i64}))
            .unwrap();
        assert_eq!(millis[3], row[3]);
        assert_eq!(millis[1], Datum::Null);
    }

    #[test]
    fn a_json_column_reads_the_value_as_json_text() {
        let f = JsonFormat {
            columns: vec![JsonColumn::named(column("doc", ScalarType::Json, true))],
        };
        let row = f.decode(&json!({"doc": {"a": [1, "x"]}})).unwrap();
        assert_eq!(row, [Datum::Json(r#"{"a":[1,"x"]}"#.into())]);
        let row = f.decode(&json!({"doc": "s"})).unwrap();
        assert_eq!(row, [Datum::Json(r#""s""#.into())]);
    }

    #[test]
    fn bad_values_name_their_column() {
        let f = format();
        assert_eq!(
            f.decode(&json!({"fields": {}})),
            Err(DecodeError::MissingValue("id".into()))
        );
        let err = f.decode(&json!({"id": "x"})).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Column { column, .. } if column == "id"),
            "{err}"
        );
        let err = f.decode(&json!({"id": 1.5})).unwrap_err();
        assert!(matches!(&err, DecodeError::Column { column, .. } if column == "id"));
        let err = f.decode(&json!({"id": 1, "points": {"x": 1}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column \"points\": a JSON object cannot be numeric(10,2)"
        );
        assert_eq!(f.decode(&json!([1])), Err(DecodeError::NotAnObject));
        assert!(matches!(
            JsonFormat::parse(b"{nope"),
            Err(DecodeError::Syntax(_))
        ));
    }

    #[test]
    fn keys_are_objects_arrays_or_bare_values() {
        let f = format();
        assert_eq!(f.decode_key(&json!(7), &[0]), Ok(vec![Datum::Int64(7)]));
        assert_eq!(f.decode_key(&json!("7"), &[0]), Ok(vec![Datum::Int64(7)]));
        assert_eq!(
            f.decode_key(&json!({"id": 7}), &[0]),
            Ok(vec![Datum::Int64(7)])
        );
        assert_eq!(
            f.decode_key(&json!([7, "Done"]), &[0, 1]),
            Ok(vec![Datum::Int64(7), Datum::Text("Done".into())])
        );
        assert!(f.decode_key(&json!(null), &[0]).is_err());
        assert!(f.decode_key(&json!([7]), &[0, 1]).is_err());
    }
}
