//! `COPY … FROM STDIN`: PostgreSQL's text and CSV formats decoded into rows, and the
//! records a COPY into a source publishes.
//!
//! A bad row fails the whole COPY with its line number and column, as in
//! PostgreSQL, so a load is all or nothing.
//!
//! ```text
//!  data ─▶ CopyFormat::split ─▶ CopyData { header, lines } ─▶ CopyLine::decode (column types)
//!            table:  rows ─▶ the coordinator's write (redb, then the engine)
//!            source: rows ─▶ Lineage::fill ─▶ SourceEncoder (JSON key/value) ─▶ one publish
//! ```
//!
//! Into a table, a HEADER line is skipped unread, as PostgreSQL does. Into a source
//! it is checked, because sources hold the canonical relations and the files people
//! load into them are exported with the canonical names as headers: a column list
//! must match the header name for name, and without a column list the header picks
//! the columns (in any order, lineage columns optional). A file whose columns are in
//! another order than the statement assumes would otherwise load every value into
//! the wrong column without an error.

use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use vigil_engine::repr::json::datum_to_json;
use vigil_engine::repr::text::parse_datum;
use vigil_engine::repr::{Column, Datum, RelationDesc, Row, ScalarType};

use crate::SqlError;

/// How the client's data is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyFormat {
    pub csv: bool,
    pub header: bool,
    pub delimiter: u8,
    pub quote: u8,
    pub escape: Option<u8>,
    /// The string that stands for NULL.
    pub null: String,
}

impl Default for CopyFormat {
    fn default() -> Self {
        CopyFormat {
            csv: false,
            header: false,
            delimiter: b'\t',
            quote: b'"',
            escape: None,
            null: "\\N".into(),
        }
    }
}

impl CopyFormat {
    pub fn from_options(
        options: &[CopyOption],
        legacy: &[CopyLegacyOption],
    ) -> Result<CopyFormat, SqlError> {
        let mut format = CopyFormat::default();
        let mut delimiter = None;
        let mut null = None;
        for option in options {
            match option {
                CopyOption::Format(name) => match name.value.to_lowercase().as_str() {
                    "csv" => format.csv = true,
                    "text" => format.csv = false,
                    other => return Err(SqlError::Unsupported(format!("COPY format \"{other}\""))),
                },
                CopyOption::Header(header) => format.header = *header,
                CopyOption::Delimiter(c) => delimiter = Some(ascii(*c, "delimiter")?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Quote(c) => format.quote = ascii(*c, "quote")?,
                CopyOption::Escape(c) => format.escape = Some(ascii(*c, "escape")?),
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => return Err(SqlError::Unsupported(format!("COPY option {other}"))),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Csv(csv_options) => {
                    format.csv = true;
                    for csv_option in csv_options {
                        match csv_option {
                            CopyLegacyCsvOption::Header => format.header = true,
                            CopyLegacyCsvOption::Quote(c) => format.quote = ascii(*c, "quote")?,
                            CopyLegacyCsvOption::Escape(c) => {
                                format.escape = Some(ascii(*c, "escape")?)
                            }
                            other => {
                                return Err(SqlError::Unsupported(format!("COPY option {other}")));
                            }
                        }
                    }
                }
                CopyLegacyOption::Delimiter(c) => delimiter = Some(ascii(*c, "delimiter")?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                other => return Err(SqlError::Unsupported(format!("COPY option {other}"))),
            }
        }
        format.delimiter = delimiter.unwrap_or(if format.csv { b',' } else { b'\t' });
        format.null = null.unwrap_or_else(|| {
            if format.csv {
                String::new()
            } else {
                "\\N".into()
            }
        });
        Ok(format)
    }

    /// Decodes the data into rows of `columns` (the COPY's column list, in order).
    pub fn decode(&self, data: &[u8], columns: &[Column]) -> Result<Vec<Row>, SqlError> {
        self.split(data)?
            .lines
            .iter()
            // An empty line is no row, except of a one-column relation, where it is
            // the empty string (text format only: CSV readers skip empty lines).
            .filter(|line| columns.len() == 1 || !line.is_empty())
            .map(|line| line.decode(columns))
            .collect()
    }

    /// Splits the data into a header (when the format has one) and lines of fields,
    /// each field `None` where it spells NULL.
    pub fn split(&self, data: &[u8]) -> Result<CopyData, SqlError> {
        if self.csv {
            self.split_csv(data)
        } else {
            self.split_text(data)
        }
    }

    fn split_csv(&self, data: &[u8]) -> Result<CopyData, SqlError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .escape(self.escape)
            .double_quote(self.escape.is_none())
            .flexible(true)
            .from_reader(data);
        let mut starts = Vec::new();
        let mut records = Vec::new();
        let mut record = csv::ByteRecord::new();
        // Line ends in `data[..counted]`.
        let (mut counted, mut lines_before) = (0, 0);
        loop {
            let start = reader.position().clone();
            let more = reader.read_byte_record(&mut record).map_err(|e| {
                let line = e
                    .position()
                    .map_or(start.line(), csv::Position::line)
                    .try_into()
                    .unwrap_or(usize::MAX);
                copy_error(line, &format!("malformed CSV: {e}"))
            })?;
            if !more {
                break;
            }
            // The reader's positions count a `\r\n` as two line ends and may sit
            // before skipped empty lines: count from the record's first byte instead.
            let mut begin = record
                .position()
                .map_or(to_index(start.byte()), |p| to_index(p.byte()));
            while data.get(begin).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
                begin += 1;
            }
            let counted_to = begin.min(data.len());
            lines_before += data[counted.min(counted_to)..counted_to]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            counted = counted_to;
            let line = lines_before + 1;
            let fields = csv::StringRecord::from_byte_record(record.clone())
                .map_err(|e| copy_error(line, &format!("invalid UTF-8: {e}")))?;
            // A lone `\.` ends the data in CSV as in text format.
            if fields.len() == 1 && fields.get(0) == Some("\\.") {
                break;
            }
            starts.push((line, begin));
            records.push(fields);
        }
        let ends: Vec<usize> = starts
            .iter()
            .skip(1)
            .map(|&(_, begin)| begin)
            .chain([data.len()])
            .collect();
        let mut data_lines = Vec::new();
        let mut header = None;
        for (((line, start), end), fields) in starts.into_iter().zip(ends).zip(records) {
            if self.header && header.is_none() {
                header = Some(fields.iter().map(str::to_owned).collect());
                continue;
            }
            data_lines.push(CopyLine {
                line,
                fields: fields
                    .iter()
                    .map(|f| (f != self.null).then(|| f.to_owned()))
                    .collect(),
                raw: trim_line_end(data, start..end),
            });
        }
        Ok(CopyData {
            header,
            lines: data_lines,
        })
    }

    fn split_text(&self, data: &[u8]) -> Result<CopyData, SqlError> {
        let text = std::str::from_utf8(data)
            .map_err(|e| SqlError::DataException(format!("COPY data is not valid UTF-8: {e}")))?;
        let mut header = None;
        let mut lines = Vec::new();
        let mut offset = 0;
        let mut pieces = text.split('\n').enumerate().peekable();
        while let Some((n, piece)) = pieces.next() {
            let start = offset;
            offset += piece.len() + 1;
            // What follows the last newline is not a line.
            if pieces.peek().is_none() && piece.is_empty() {
                break;
            }
            let line = piece.strip_suffix('\r').unwrap_or(piece);
            if line == "\\." {
                break;
            }
            let fields = line.split(self.delimiter as char).map(|f| {
                if f == self.null {
                    None
                } else {
                    Some(unescape_text(f))
                }
            });
            if n == 0 && self.header {
                header = Some(fields.map(Option::unwrap_or_default).collect());
                continue;
            }
            lines.push(CopyLine {
                line: n + 1,
                fields: fields.collect(),
                raw: start..start + line.len(),
            });
        }
        Ok(CopyData { header, lines })
    }
}

/// COPY data split into lines of fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyData {
    /// The header line's names, when the format has a header and the data a line.
    pub header: Option<Vec<String>>,
    pub lines: Vec<CopyLine>,
}

/// One row of COPY data, not yet typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyLine {
    /// Where the row starts, counting lines from 1 (the header is line 1).
    pub line: usize,
    /// `None` where the field spells NULL.
    pub fields: Vec<Option<String>>,
    /// The row's bytes in the data, without the line ending.
    pub raw: Range<usize>,
}

impl CopyLine {
    /// Whether the line is empty (one empty field).
    pub fn is_empty(&self) -> bool {
        matches!(self.fields.as_slice(), [Some(field)] if field.is_empty())
    }

    /// The row of `columns` the fields spell, typed by each column's input function.
    pub fn decode(&self, columns: &[Column]) -> Result<Row, SqlError> {
        let fields: Vec<Option<&str>> = self.fields.iter().map(Option::as_deref).collect();
        decode_fields(&fields, columns, self.line)
    }
}

fn to_index(byte: u64) -> usize {
    usize::try_from(byte).unwrap_or(usize::MAX)
}

/// `range` without the `\n` or `\r\n` that ends it.
fn trim_line_end(data: &[u8], range: Range<usize>) -> Range<usize> {
    let mut end = range.end.min(data.len());
    let start = range.start.min(end);
    while end > start && matches!(data[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    start..end
}

fn decode_fields(
    fields: &[Option<&str>],
    columns: &[Column],
    line: usize,
) -> Result<Row, SqlError> {
    if fields.len() != columns.len() {
        let problem = if fields.len() < columns.len() {
            "missing data for a column"
        } else {
            "extra data after last expected column"
        };
        return Err(copy_error(
            line,
            &format!(
                "{problem}: expected {} columns, found {}",
                columns.len(),
                fields.len()
            ),
        ));
    }
    fields
        .iter()
        .zip(columns)
        .map(|(field, column)| match field {
            None => Ok(Datum::Null),
            Some(text) => parse_datum(text, column.ty).map_err(|e| SqlError::InvalidText {
                ty: column.ty,
                value: text.to_string(),
                reason: format!("COPY line {line}, column {}: {e}", column.name),
            }),
        })
        .collect()
}

/// The columns a source's HEADER line names, as positions in `desc`: any order, each
/// once.
pub fn header_positions(
    header: &[String],
    relation: &str,
    desc: &RelationDesc,
) -> Result<Vec<usize>, SqlError> {
    let mut positions: Vec<usize> = Vec::with_capacity(header.len());
    for name in header {
        let position = header_match(name, desc).ok_or_else(|| {
            SqlError::DataException(format!(
                "COPY header names column \"{}\", which relation \"{relation}\" does not have \
                 (its columns: {})",
                name.trim(),
                column_names(&desc.columns)
            ))
        })?;
        if positions.contains(&position) {
            return Err(SqlError::DuplicateColumn(
                desc.columns[position].name.clone(),
            ));
        }
        positions.push(position);
    }
    Ok(positions)
}

/// Checks that a HEADER line names `columns` (the COPY's column list), in order.
pub fn check_header(header: &[String], columns: &[Column]) -> Result<(), SqlError> {
    let desc = RelationDesc::new(columns.to_vec());
    let matches = header.len() == columns.len()
        && header
            .iter()
            .zip(0..)
            .all(|(name, position)| header_match(name, &desc) == Some(position));
    if matches {
        return Ok(());
    }
    Err(SqlError::DataException(format!(
        "COPY header does not match the column list: the header has {}, the COPY names {}",
        header
            .iter()
            .map(|name| format!("\"{}\"", name.trim()))
            .collect::<Vec<_>>()
            .join(", "),
        column_names(columns)
    )))
}

/// The column a header name means: its exact name, else case-insensitively (headers
/// are often written `Student_ID` for `student_id`).
fn header_match(name: &str, desc: &RelationDesc) -> Option<usize> {
    let name = name.trim();
    desc.position(name).or_else(|| {
        desc.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    })
}

fn column_names(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lineage columns every canonical row carries.
pub const LINEAGE_COLUMNS: [&str; 4] = [
    "source_system",
    "source_record_id",
    "ingest_batch_id",
    "payload_sha256",
];

/// Where a row came from: the values of the [`LINEAGE_COLUMNS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    pub source_system: String,
    pub source_record_id: String,
    pub ingest_batch_id: String,
    pub payload_sha256: String,
}

impl Lineage {
    fn values(&self) -> [&str; 4] {
        [
            &self.source_system,
            &self.source_record_id,
            &self.ingest_batch_id,
            &self.payload_sha256,
        ]
    }

    /// Sets each text lineage column of `desc` that is NULL in `row`: what the file
    /// says about its own lineage is kept.
    pub fn fill(&self, desc: &RelationDesc, row: &mut Row) {
        for (name, value) in LINEAGE_COLUMNS.iter().zip(self.values()) {
            if let Some(position) = desc.position(name)
                && desc.columns[position].ty == ScalarType::Text
                && row.get(position).is_some_and(Datum::is_null)
            {
                row[position] = Datum::Text(value.to_owned());
            }
        }
    }
}

/// Hex SHA-256 of `bytes`: a CSV line's `payload_sha256`, a file's `file_sha256`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new ingest batch id, `csv:SCOPE:TIME:RANDOM` (the shape of a connector run's id),
/// e.g. `csv:stdin:20261122T081500.123Z:1a2b3c4d`.
pub fn new_batch_id(scope: &str) -> String {
    // Each RandomState is freshly seeded, so this is a random number without a
    // random-number crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        "csv:{scope}:{}:{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        random as u32
    )
}

/// How rows become records of a source's topic: the value is a JSON object of every
/// column (at the column's JSON path), which is exactly what the source decodes; an
/// upsert source's key is the JSON object of its primary key's columns, an append
/// source's records are keyless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEncoder {
    /// Positions of the key columns; `None` for keyless records.
    pub key: Option<Vec<usize>>,
    /// Per column, the JSON path it is read from.
    pub paths: Vec<Vec<String>>,
}

impl SourceEncoder {
    /// An encoder for a source over `desc` whose columns read `paths` (`None`: the
    /// column's own name), keyed by `key` when there is one.
    pub fn new(desc: &RelationDesc, paths: &[Option<String>], key: Option<Vec<usize>>) -> Self {
        let paths = desc
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| match paths.get(i) {
                Some(Some(path)) => path.split('.').map(str::to_owned).collect(),
                _ => vec![column.name.clone()],
            })
            .collect();
        SourceEncoder { key, paths }
    }

    /// The record key of `row`.
    pub fn key(&self, desc: &RelationDesc, row: &Row) -> Option<Vec<u8>> {
        let key = self.key.as_ref()?;
        let object: Map<String, Value> = key
            .iter()
            .map(|&p| (desc.columns[p].name.clone(), datum_to_json(&row[p])))
            .collect();
        Some(Value::Object(object).to_string().into_bytes())
    }

    /// The record value of `row`.
    pub fn value(&self, row: &Row) -> Vec<u8> {
        let mut document = Value::Object(Map::new());
        for (path, datum) in self.paths.iter().zip(row) {
            set_path(&mut document, path, datum_to_json(datum));
        }
        document.to_string().into_bytes()
    }
}

/// Sets `value` at `path` under `document`, making objects on the way.
fn set_path(document: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = document;
    for step in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(fields) = node else {
            return;
        };
        node = fields
            .entry(step.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(fields) = node {
        fields.insert(last.clone(), value);
    }
}

/// PostgreSQL text-format escapes: `\t`, `\n`, `\r`, `\\` and friends.
pub fn unescape_text(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A field in PostgreSQL's text format: the inverse of [`unescape_text`], so a value
/// with tabs, newlines or backslashes (even one spelling `\N`) reads back as itself.
pub fn escape_text(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out
}

fn ascii(c: char, what: &str) -> Result<u8, SqlError> {
    u8::try_from(c).map_err(|_| {
        SqlError::Unsupported(format!("COPY {what} must be a single one-byte character"))
    })
}

fn copy_error(line: usize, message: &str) -> SqlError {
    SqlError::DataException(format!("COPY line {line}: {message}"))
}

#[cfg(test)]
mod tests {
    use vigil_engine::repr::ScalarType;

    use super::*;

    fn columns() -> Vec<Column> {
        vec![
            Column {
                name: "a".into(),
                ty: ScalarType::Int32,
                nullable: true,
            },
            Column {
                name: "b".into(),
                ty: ScalarType::Text,
                nullable: true,
            },
        ]
    }

    #[test]
    fn csv_with_header_and_nulls() {
        let format = CopyFormat {
            csv: true,
            header: true,
            delimiter: b',',
            null: String::new(),
            ..CopyFormat::default()
        };
        let rows = format
            .decode(b"a,b\n1,x\n2,\n,\"y,z\"\n", &columns())
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Datum::Int32(1), Datum::Text("x".into())],
                vec![Datum::Int32(2), Datum::Null],
                vec![Datum::Null, Datum::Text("y,z".into())],
            ]
        );
    }

    #[test]
    fn text_format_escapes() {
        let rows = CopyFormat::default()
            .decode(b"1\ta\\tb\n\\N\t\\N\n\\.\n", &columns())
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Datum::Int32(1), Datum::Text("a\tb".into())],
                vec![Datum::Null, Datum::Null]
            ]
        );
    }

    #[test]
    fn bad_value_names_line_and_column() {
        let format = CopyFormat {
            csv: true,
            delimiter: b',',
            null: String::new(),
            ..CopyFormat::default()
        };
        let err = format.decode(b"1,x\nzz,y\n", &columns()).unwrap_err();
        assert_eq!(err.code(), "22P02");
        assert!(
            err.detail().unwrap().contains("line 2, column a"),
            "{err:?}"
        );
    }

    #[test]
    fn wrong_field_count_fails() {
        let format = CopyFormat {
            csv: true,
            delimiter: b',',
            null: String::new(),
            ..CopyFormat::default()
        };
        assert!(format.decode(b"1,x,3\n", &columns()).is_err());
    }

    #[test]
    fn split_keeps_line_numbers_and_raw_bytes() {
        let format = CopyFormat {
            csv: true,
            header: true,
            delimiter: b',',
            null: String::new(),
            ..CopyFormat::default()
        };
        let data = b"a,b\r\n1,\"two\nlines\"\r\n\r\n3,x";
        let split = format.split(data).unwrap();
        assert_eq!(split.header, Some(vec!["a".to_string(), "b".to_string()]));
        let lines: Vec<(usize, &[u8])> = split
            .lines
            .iter()
            .map(|l| (l.line, &data[l.raw.clone()]))
            .collect();
        assert_eq!(lines, vec![(2, &b"1,\"two\nlines\""[..]), (5, &b"3,x"[..])]);
        assert_eq!(
            split.lines[0].fields,
            vec![Some("1".to_string()), Some("two\nlines".to_string())]
        );
    }

    #[test]
    fn text_format_trailing_newline_is_no_row() {
        let one = [Column {
            name: "a".into(),
            ty: ScalarType::Text,
            nullable: true,
        }];
        let rows = CopyFormat::default().decode(b"x\n\ny\n", &one).unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Datum::Text("x".into())],
                vec![Datum::Text(String::new())],
                vec![Datum::Text("y".into())]
            ]
        );
    }

    #[test]
    fn escaped_text_reads_back() {
        for value in ["plain", "tab\there", "new\nline\r", "back\\slash", "\\N"] {
            let escaped = escape_text(value);
            assert!(!escaped.contains(['\t', '\n', '\r']), "{escaped:?}");
            assert_eq!(unescape_text(&escaped), value);
        }
    }

    #[test]
    fn headers_pick_or_check_columns() {
        let desc = RelationDesc::new(columns());
        assert_eq!(
            header_positions(&[" B ".into(), "a".into()], "t", &desc).unwrap(),
            vec![1, 0]
        );
        let err = header_positions(&["a".into(), "c".into()], "t", &desc).unwrap_err();
        assert!(err.to_string().contains("\"c\""), "{err}");
        assert_eq!(
            header_positions(&["a".into(), "A".into()], "t", &desc)
                .unwrap_err()
                .code(),
            "42701"
        );
        assert!(check_header(&["a".into(), "b".into()], &columns()).is_ok());
        let err = check_header(&["b".into(), "a".into()], &columns()).unwrap_err();
        assert_eq!(err.code(), "22000");
        assert!(check_header(&["a".into()], &columns()).is_err());
    }

    #[test]
    fn lineage_fills_only_what_is_missing() {
        let desc = RelationDesc::new(
            ["id", "source_system", "source_record_id", "payload_sha256"]
                .into_iter()
                .map(|name| Column {
                    name: name.into(),
                    ty: ScalarType::Text,
                    nullable: true,
                })
                .collect(),
        );
        let mut row = vec![
            Datum::Text("1".into()),
            Datum::Text("sis".into()),
            Datum::Null,
            Datum::Null,
        ];
        Lineage {
            source_system: "csv".into(),
            source_record_id: "stdin:2".into(),
            ingest_batch_id: "b".into(),
            payload_sha256: sha256_hex(b"abc"),
        }
        .fill(&desc, &mut row);
        assert_eq!(
            row,
            vec![
                Datum::Text("1".into()),
                Datum::Text("sis".into()),
                Datum::Text("stdin:2".into()),
                Datum::Text(
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
                ),
            ]
        );
    }

    #[test]
    fn source_records_follow_paths_and_keys() {
        let desc = RelationDesc::new(columns());
        let row = vec![Datum::Int32(7), Datum::Text("x".into())];
        let keyed = SourceEncoder::new(&desc, &[None, Some("f.b".into())], Some(vec![0]));
        assert_eq!(keyed.key(&desc, &row), Some(br#"{"a":7}"#.to_vec()));
        assert_eq!(keyed.value(&row), br#"{"a":7,"f":{"b":"x"}}"#.to_vec());
        let keyless = SourceEncoder::new(&desc, &[None, None], None);
        assert_eq!(keyless.key(&desc, &row), None);
        assert_eq!(keyless.value(&row), br#"{"a":7,"b":"x"}"#.to_vec());
    }

    #[test]
    fn batch_ids_differ() {
        let a = new_batch_id("stdin");
        assert!(a.starts_with("csv:stdin:"), "{a}");
        assert_ne!(a, new_batch_id("stdin"));
    }
}
