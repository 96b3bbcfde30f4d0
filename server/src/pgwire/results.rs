//! What the SQL layer answers, as pgwire responses: DataRows in the format each column
//! was asked for, and PostgreSQL's command tags.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use vigil_engine::repr::text::datum_to_text;
use vigil_engine::repr::{Datum, RelationDesc, Row};
use vigil_sql::CommandTag;

use super::binary;
use super::error::WireError;
use super::types::row_description;

/// The format of each of `columns` result columns, from a Bind message's result
/// format codes: none means all text, one applies to every column, otherwise one per
/// column.
pub fn result_formats(format: &Format, columns: usize) -> Result<Vec<FieldFormat>, WireError> {
    match format {
        Format::UnifiedText => Ok(vec![FieldFormat::Text; columns]),
        Format::UnifiedBinary => Ok(vec![FieldFormat::Binary; columns]),
        Format::Individual(codes) => {
            if codes.len() != columns {
                return Err(WireError::ResultFormatCount {
                    formats: codes.len(),
                    columns,
                });
            }
            codes.iter().map(|code| format_code(*code)).collect()
        }
    }
}

/// A single format code: 0 is text, 1 is binary, anything else is refused.
pub fn format_code(code: i16) -> Result<FieldFormat, WireError> {
    match code {
        0 => Ok(FieldFormat::Text),
        1 => Ok(FieldFormat::Binary),
        other => Err(WireError::UnsupportedFormatCode(other)),
    }
}

/// A result set as a pgwire response. Rows are encoded up front, so an unencodable
/// value fails the statement before any row is sent.
pub fn query_response(
    desc: &RelationDesc,
    rows: Vec<Row>,
    formats: &[FieldFormat],
) -> Result<Response, WireError> {
    let fields: Arc<Vec<FieldInfo>> = Arc::new(row_description(desc, formats));
    let mut encoded: Vec<PgWireResult<DataRow>> = Vec::with_capacity(rows.len());
    let mut buf = BytesMut::new();
    for row in &rows {
        encoded.push(Ok(encode_row(desc, row, formats, &mut buf)?));
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter(encoded),
    )))
}

fn encode_row(
    desc: &RelationDesc,
    row: &Row,
    formats: &[FieldFormat],
    buf: &mut BytesMut,
) -> Result<DataRow, WireError> {
    debug_assert_eq!(
        row.len(),
        desc.arity(),
        "row does not match its description"
    );
    for ((column, datum), format) in desc.columns.iter().zip(row).zip(formats) {
        match (datum, format) {
            (Datum::Null, _) => buf.put_i32(-1),
            (datum, FieldFormat::Text) => match datum_to_text(datum) {
                None => buf.put_i32(-1),
                Some(text) => {
                    buf.put_i32(wire_len(text.len()));
                    buf.put_slice(text.as_bytes());
                }
            },
            (datum, FieldFormat::Binary) => {
                let len_at = buf.len();
                buf.put_i32(0);
                binary::encode(datum, buf).map_err(|source| WireError::BinaryResult {
                    column: column.name.clone(),
                    source,
                })?;
                let len = wire_len(buf.len() - len_at - 4);
                buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    // A RelationDesc never has more than a few thousand columns (PostgreSQL's limit is
    // 1664), so the count fits.
    Ok(DataRow::new(buf.split(), desc.arity() as i16))
}

/// Value lengths are i32 on the wire; PostgreSQL caps a value at 1 GB, well below.
fn wire_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// How a completed command is reported, including whether it opens or closes a
/// transaction block (ReadyForQuery's status byte follows from that).
pub fn command_response(tag: &CommandTag) -> Response {
    let command = tag.command.as_str();
    let mut wire_tag = Tag::new(command);
    if let Some(rows) = tag.rows {
        // PostgreSQL still reports the long-gone OID of the inserted row as 0.
        if command == "INSERT" {
            wire_tag = wire_tag.with_oid(0);
        }
        wire_tag = wire_tag.with_rows(usize::try_from(rows).unwrap_or(usize::MAX));
    }
    match command {
        "BEGIN" | "START TRANSACTION" => Response::TransactionStart(wire_tag),
        "COMMIT" | "ROLLBACK" => Response::TransactionEnd(wire_tag),
        _ => Response::Execution(wire_tag),
    }
}

#[cfg(test)]
mod tests {
    use pgwire::messages::response::CommandComplete;

    use super::*;

    fn tag_text(command: &str, rows: Option<u64>) -> String {
        let response = command_response(&CommandTag {
            command: command.into(),
            rows,
        });
        let tag = match response {
            Response::Execution(tag)
            | Response::TransactionStart(tag)
            | Response::TransactionEnd(tag) => tag,
            other => panic!("unexpected response {other:?}"),
        };
        CommandComplete::from(tag).tag
    }

    #[test]
    fn command_tags_read_as_postgres_writes_them() {
        assert_eq!(tag_text("INSERT", Some(3)), "INSERT 0 3");
        assert_eq!(tag_text("UPDATE", Some(1)), "UPDATE 1");
        assert_eq!(tag_text("DELETE", Some(0)), "DELETE 0");
        assert_eq!(tag_text("COPY", Some(2)), "COPY 2");
        assert_eq!(tag_text("CREATE TABLE", None), "CREATE TABLE");
    }

    #[test]
    fn transaction_commands_move_the_transaction_status() {
        let start = CommandTag {
            command: "BEGIN".into(),
            rows: None,
        };
        let end = CommandTag {
            command: "ROLLBACK".into(),
            rows: None,
        };
        assert!(matches!(
            command_response(&start),
            Response::TransactionStart(_)
        ));
        assert!(matches!(
            command_response(&end),
            Response::TransactionEnd(_)
        ));
    }

    #[test]
    fn result_formats_follow_the_bind_rules() {
        assert_eq!(
            result_formats(&Format::UnifiedText, 2).unwrap(),
            [FieldFormat::Text; 2]
        );
        assert_eq!(
            result_formats(&Format::UnifiedBinary, 1).unwrap(),
            [FieldFormat::Binary]
        );
        assert_eq!(
            result_formats(&Format::Individual(vec![1, 0]), 2).unwrap(),
            [FieldFormat::Binary, FieldFormat::Text]
        );
        assert!(matches!(
            result_formats(&Format::Individual(vec![1, 0]), 3),
            Err(WireError::ResultFormatCount {
                formats: 2,
                columns: 3
            })
        ));
        assert!(matches!(
            result_formats(&Format::Individual(vec![1, 7]), 2),
            Err(WireError::UnsupportedFormatCode(7))
        ));
    }
}
