//! `COPY table FROM STDIN`: PostgreSQL's text and CSV formats decoded into rows.
//!
//! A bad row fails the whole COPY with its line number and column, as in
//! PostgreSQL, so a load is all or nothing.

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};
use vigil_engine::repr::text::parse_datum;
use vigil_engine::repr::{Column, Datum, Row};

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
        if self.csv {
            self.decode_csv(data, columns)
        } else {
            self.decode_text(data, columns)
        }
    }

    fn decode_csv(&self, data: &[u8], columns: &[Column]) -> Result<Vec<Row>, SqlError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(self.header)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .escape(self.escape)
            .double_quote(self.escape.is_none())
            .flexible(true)
            .from_reader(data);
        let mut rows = Vec::new();
        for (n, record) in reader.records().enumerate() {
            let line = n + 1 + usize::from(self.header);
            let record = record.map_err(|e| copy_error(line, &format!("malformed CSV: {e}")))?;
            // A lone `\.` ends the data in CSV as in text format.
            if record.len() == 1 && record.get(0) == Some("\\.") {
                break;
            }
            let fields: Vec<Option<&str>> = record
                .iter()
                .map(|f| if f == self.null { None } else { Some(f) })
                .collect();
            rows.push(decode_fields(&fields, columns, line)?);
        }
        Ok(rows)
    }

    fn decode_text(&self, data: &[u8], columns: &[Column]) -> Result<Vec<Row>, SqlError> {
        let text = std::str::from_utf8(data)
            .map_err(|e| SqlError::DataException(format!("COPY data is not valid UTF-8: {e}")))?;
        let mut rows = Vec::new();
        for (n, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if n == 0 && self.header {
                continue;
            }
            if line == "\\." {
                break;
            }
            if line.is_empty() && columns.len() != 1 {
                continue;
            }
            let fields: Vec<Option<String>> = line
                .split(self.delimiter as char)
                .map(|f| {
                    if f == self.null {
                        None
                    } else {
                        Some(unescape_text(f))
                    }
                })
                .collect();
            let fields: Vec<Option<&str>> = fields.iter().map(|f| f.as_deref()).collect();
            rows.push(decode_fields(&fields, columns, n + 1)?);
        }
        Ok(rows)
    }
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
}
