//! The publish format: JSON lines, one record per line, shared by the HTTP endpoint
//! and `vigil publish` so both accept and refuse exactly the same input.
//!
//! ```text
//! {"key": "PROJ-1", "value": {"id": "PROJ-1", "status": "open"}}
//! {"key": {"id": "PROJ-1"}, "value": null}        ← a tombstone: deletes the key
//! {"value": {"event": "login"}}                   ← keyless, for append sources
//! ```
//!
//! `value` is required (null for a tombstone), so a bare document without the
//! envelope is refused instead of being read as a keyless tombstone; `key` may be
//! left out or null. Nothing else may appear, so a misspelt field is an error.
//!
//! Keys and values are stored as compact JSON with object members in sorted order.
//! That makes a key's bytes canonical: `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are
//! the same key, hash to the same partition and replace each other on compaction.
//! Blank lines are skipped; line numbers count every line, blank or not, so they
//! match what an editor shows.

use serde_json::Value;
use vigil_changelog::Message;

/// One record, ready to publish: its key and value as JSON bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

impl Record {
    /// The record as the change log takes it.
    pub fn message(&self) -> Message<'_> {
        Message {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
        }
    }
}

/// Why one line is not a record.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// `column` counts bytes of the line from 1.
    #[error("invalid JSON at column {column}: {message}")]
    Json { message: String, column: usize },
    #[error("expected an object with \"key\" and \"value\", found {0}")]
    NotAnObject(&'static str),
    #[error("missing \"value\" (use null for a tombstone)")]
    MissingValue,
    #[error("unknown field \"{0}\": a record has only \"key\" and \"value\"")]
    UnknownField(String),
}

/// A line of a request body that is not a record.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct BadRecord {
    /// 1-based, counting blank lines.
    pub line: usize,
    #[source]
    pub error: LineError,
}

/// The lines of `body`, without their line terminators (`\n` or `\r\n`), numbered
/// from 1.
pub fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    // An empty body has no lines, not one empty line.
    let lines = (!body.is_empty()).then(|| body.split(|&b| b == b'\n'));
    lines
        .into_iter()
        .flatten()
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}

/// Parses one line; `Ok(None)` for a blank line.
pub fn parse_line(line: &[u8]) -> Result<Option<Record>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let document: Value = serde_json::from_slice(line).map_err(json_error)?;
    let Value::Object(mut fields) = document else {
        return Err(LineError::NotAnObject(kind(&document)));
    };
    let value = fields.remove("value").ok_or(LineError::MissingValue)?;
    let key = fields.remove("key");
    if let Some(unknown) = fields.keys().next() {
        return Err(LineError::UnknownField(unknown.clone()));
    }
    Ok(Some(Record {
        key: key.as_ref().and_then(compact),
        value: compact(&value),
    }))
}

/// Parses a whole request body; the first bad line fails all of it, so a request is
/// published entirely or not at all.
pub fn parse(body: &[u8]) -> Result<Vec<Record>, BadRecord> {
    let mut records = Vec::new();
    for (line, text) in lines(body) {
        match parse_line(text) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => {}
            Err(error) => return Err(BadRecord { line, error }),
        }
    }
    Ok(records)
}

/// serde_json's message without its position, which is always "line 1" here and
/// would read as a line of the file.
fn json_error(error: serde_json::Error) -> LineError {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&position).unwrap_or(&text).to_owned();
    LineError::Json {
        message,
        column: error.column(),
    }
}

/// Compact JSON bytes, or `None` for JSON null.
fn compact(value: &Value) -> Option<Vec<u8>> {
    if value.is_null() {
        return None;
    }
    // Serializing a `Value` writes into a Vec and cannot fail.
    Some(value.to_string().into_bytes())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<&str>, value: Option<&str>) -> Record {
        Record {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn keys_and_values_become_compact_json() {
        let parsed = parse_line(br#"{"key": "A-1", "value": {"id": "A-1", "n": [1, 2.5]}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            parsed,
            record(Some(r#""A-1""#), Some(r#"{"id":"A-1","n":[1,2.5]}"#))
        );
    }

    #[test]
    fn object_keys_are_canonical() {
        let one = parse_line(br#"{"key": {"b": 2, "a": 1}, "value": 1}"#).unwrap();
        let other = parse_line(br#"{"value": 1, "key": {"a":1,"b":2}}"#).unwrap();
        assert_eq!(one, other);
        assert_eq!(one.unwrap().key.unwrap(), br#"{"a":1,"b":2}"#);
    }

    #[test]
    fn null_value_is_a_tombstone_and_null_or_absent_key_is_keyless() {
        assert_eq!(
            parse_line(br#"{"key": 7, "value": null}"#).unwrap(),
            Some(record(Some("7"), None))
        );
        assert_eq!(
            parse_line(br#"{"key": null, "value": "x"}"#).unwrap(),
            Some(record(None, Some(r#""x""#)))
        );
        assert_eq!(
            parse_line(br#"{"value": false}"#).unwrap(),
            Some(record(None, Some("false")))
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"{\"key\": 1, \"value\":",
                "invalid JSON at column 19: EOF while parsing a value",
            ),
            (
                b"[1, 2]",
                "expected an object with \"key\" and \"value\", found an array",
            ),
            (
                br#"{"id": 1, "name": "x"}"#,
                "missing \"value\" (use null for a tombstone)",
            ),
            (
                br#"{"key": 1, "value": 2, "vaule": 3}"#,
                "unknown field \"vaule\": a record has only \"key\" and \"value\"",
            ),
            (
                b"{\"value\": \"\xff\"}",
                "invalid JSON at column 12: invalid unicode",
            ),
        ];
        for (line, expected) in cases {
            let error = parse_line(line).unwrap_err().to_string();
            assert!(
                error.starts_with(expected),
                "{}: {error}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_body_is_parsed_whole_skipping_blank_lines() {
        let body = b"{\"key\":1,\"value\":1}\r\n\n  \n{\"key\":2,\"value\":null}\n";
        assert_eq!(
            parse(body).unwrap(),
            vec![record(Some("1"), Some("1")), record(Some("2"), None)]
        );
        assert_eq!(parse(b"").unwrap(), Vec::new());
        assert_eq!(parse(b"\n").unwrap(), Vec::new());
    }

    #[test]
    fn the_first_bad_line_fails_the_body_and_is_numbered_from_one() {
        let body = b"{\"key\":1,\"value\":1}\n\n{\"key\":2}\n{oops}\n";
        let bad = parse(body).unwrap_err();
        assert_eq!(bad.line, 3);
        assert!(matches!(bad.error, LineError::MissingValue));
        assert_eq!(
            bad.to_string(),
            "line 3: missing \"value\" (use null for a tombstone)"
        );
    }

    #[test]
    fn lines_strip_terminators_and_keep_a_last_line_without_one() {
        let numbered: Vec<(usize, &[u8])> = lines(b"a\r\nb\n\nc").collect();
        assert_eq!(
            numbered,
            vec![
                (1, &b"a"[..]),
                (2, &b"b"[..]),
                (3, &b""[..]),
                (4, &b"c"[..])
            ]
        );
        assert_eq!(lines(b"").count(), 0);
    }
}
