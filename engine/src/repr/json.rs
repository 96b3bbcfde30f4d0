//! Rows as JSON, for the HTTP API, server-sent events and sinks.
//!
//! Numbers stay numbers (exact numerics become JSON numbers when they round-trip
//! through `f64`, strings otherwise, so no digit is lost); json and jsonb are embedded as JSON;
//! `text[]` is an array; dates, timestamps and intervals use PostgreSQL's text form,
//! exactly what psql shows. Non-finite floats (`NaN`, `Infinity`), which JSON cannot
//! hold, become their PostgreSQL spelling as strings.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Number, Value};

use super::text::datum_to_text;
use super::{Datum, RelationDesc, Row};

/// One datum as a JSON value.
pub fn datum_to_json(datum: &Datum) -> Value {
    match datum {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int16(i) => Value::from(*i),
        Datum::Int32(i) => Value::from(*i),
        Datum::Int64(i) => Value::from(*i),
        Datum::Float64(f) => match Number::from_f64(f.0) {
            Some(n) => Value::Number(n),
            None => text_value(datum),
        },
        Datum::Numeric(_) => {
            let text = datum_to_text(datum).unwrap_or_default();
            match text.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) if exact(&text, &n) => Value::Number(n),
                _ => Value::String(text),
            }
        }
        Datum::Jsonb(text) | Datum::Json(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| text_value(datum))
        }
        Datum::TextArray(items) => Value::Array(
            items
                .iter()
                .map(|item| item.clone().map_or(Value::Null, Value::String))
                .collect(),
        ),
        Datum::Text(_)
        | Datum::Date(_)
        | Datum::Timestamp(_)
        | Datum::TimestampTz(_)
        | Datum::Interval(_) => text_value(datum),
    }
}

/// Whether the JSON number `n` reads back as the same decimal as `text`.
fn exact(text: &str, n: &Number) -> bool {
    let normalize = |s: &str| {
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            s
        };
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    };
    normalize(text) == normalize(&n.to_string())
}

fn text_value(datum: &Datum) -> Value {
    datum_to_text(datum).map_or(Value::Null, Value::String)
}

/// A row as a JSON object keyed by column name, for looking values up (its keys
/// are sorted; serialize a [`RowJson`] to keep column order).
pub fn row_to_object(desc: &RelationDesc, row: &Row) -> Map<String, Value> {
    desc.columns
        .iter()
        .zip(row)
        .map(|(column, datum)| (column.name.clone(), datum_to_json(datum)))
        .collect()
}

/// Serializes a row as a JSON object whose keys are in column order.
pub struct RowJson<'a> {
    pub desc: &'a RelationDesc,
    pub row: &'a Row,
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.desc.arity()))?;
        for (column, datum) in self.desc.columns.iter().zip(self.row) {
            map.serialize_entry(&column.name, &datum_to_json(datum))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::{Column, F64, Numeric, ScalarType};
    use serde_json::json;

    #[test]
    fn datums_become_json() {
        assert_eq!(datum_to_json(&Datum::Null), Value::Null);
        assert_eq!(datum_to_json(&Datum::Int64(-7)), json!(-7));
        assert_eq!(datum_to_json(&Datum::Float64(F64(1.5))), json!(1.5));
        assert_eq!(datum_to_json(&Datum::Float64(F64(f64::NAN))), json!("NaN"));
        let price = Datum::Numeric(Numeric {
            mantissa: 1250,
            scale: 2,
        });
        assert_eq!(datum_to_json(&price), json!(12.5));
        let huge = Datum::Numeric(Numeric {
            mantissa: 123_456_789_012_345_678_901_234_567,
            scale: 3,
        });
        assert_eq!(datum_to_json(&huge), json!("123456789012345678901234.567"));
        assert_eq!(
            datum_to_json(&Datum::Jsonb(r#"{"a": [1, null]}"#.into())),
            json!({"a": [1, null]})
        );
        assert_eq!(
            datum_to_json(&Datum::TextArray(vec![Some("x".into()), None])),
            json!(["x", null])
        );
        assert_eq!(datum_to_json(&Datum::Date(0)), json!("1970-01-01"));
    }

    #[test]
    fn rows_become_objects_in_column_order() {
        let desc = RelationDesc::new(vec![
            Column {
                name: "b".into(),
                ty: ScalarType::Text,
                nullable: true,
            },
            Column {
                name: "a".into(),
                ty: ScalarType::Int64,
                nullable: false,
            },
        ]);
        let row = vec![Datum::Text("x".into()), Datum::Int64(1)];
        let text = serde_json::to_string(&RowJson {
            desc: &desc,
            row: &row,
        })
        .unwrap();
        assert_eq!(text, r#"{"b":"x","a":1}"#);
        assert_eq!(row_to_object(&desc, &row)["a"], json!(1));
    }
}
