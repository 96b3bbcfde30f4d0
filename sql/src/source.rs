//! `CREATE SOURCE`: a topic of the change log as a relation.
//!
//! ```sql
//! CREATE SOURCE issues (
//!     id text,
//!     status text PATH 'fields.status.name',
//!     points numeric(6,2),
//!     updated timestamptz,
//!     PRIMARY KEY (id)
//! ) FROM TOPIC 'jira.issues' WITH (format = 'json', envelope = 'upsert')
//! ```
//!
//! The column list is a `CREATE TABLE` column list, plus an optional `PATH '…'`
//! after a column's type naming the nested JSON field it reads. Options:
//! `format` (`json`, the default), `envelope` (`upsert`, the default when there is
//! a primary key; `append`, the default without one; `debezium`) and `partitions`
//! (for a topic that does not exist yet; 1 by default).
//!
//! sqlparser does not know the statement, so it is taken apart with sqlparser's
//! tokenizer: the column list, without its `PATH` clauses, is parsed as a
//! `CREATE TABLE`, and the rest is read here.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{CreateTable, Statement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;
use serde::{Deserialize, Serialize};

use crate::SqlError;
use crate::tokens::{TokenCursor, identifier};

/// How a source's records change its rows (see `vigil_engine::source::Envelope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceEnvelope {
    Upsert,
    Append,
    Debezium,
}

/// A parsed `CREATE SOURCE`.
#[derive(Debug)]
pub struct CreateSource {
    /// The columns and primary key, as a `CREATE TABLE` would declare them.
    pub table: CreateTable,
    /// Per column name, the JSON path given with `PATH`.
    pub paths: BTreeMap<String, String>,
    pub topic: String,
    pub envelope: Option<SourceEnvelope>,
    pub partitions: Option<u32>,
}

/// Parses `CREATE SOURCE [IF NOT EXISTS] name (…) FROM TOPIC '…' [WITH (…)]`.
pub fn parse_create_source(sql: &str) -> Result<CreateSource, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::CREATE)?;
    cursor.expect_word("SOURCE")?;

    // Everything up to the column list's closing parenthesis becomes a CREATE TABLE.
    let mut table_sql = String::from("CREATE TABLE");
    let mut paths = BTreeMap::new();
    let mut depth = 0usize;
    let mut column: Option<String> = None;
    let mut expect_column = false;
    loop {
        let Some(token) = cursor.next_any() else {
            return Err(SqlError::Parse(
                "CREATE SOURCE needs a column list in parentheses".into(),
            ));
        };
        match &token {
            Token::LParen => {
                depth += 1;
                expect_column = depth == 1;
            }
            Token::RParen => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    SqlError::Parse("unbalanced parentheses in CREATE SOURCE".into())
                })?;
            }
            Token::Comma if depth == 1 => expect_column = true,
            Token::Word(word) if depth == 1 && word.value.eq_ignore_ascii_case("PATH") => {
                let path = cursor.expect_string("PATH")?;
                let name = column
                    .clone()
                    .ok_or_else(|| SqlError::Parse("PATH must follow a column's type".into()))?;
                paths.insert(name, path);
                continue;
            }
            Token::Word(word) if expect_column => {
                expect_column = false;
                column = Some(identifier(word));
            }
            _ => {}
        }
        table_sql.push_str(&token.to_string());
        if depth == 0 && token == Token::RParen {
            break;
        }
    }
    let table = match crate::parse::parse_one(&table_sql)? {
        Statement::CreateTable(table) => table,
        other => {
            return Err(SqlError::Parse(format!(
                "expected a column list, found {other}"
            )));
        }
    };

    cursor.expect_keyword(Keyword::FROM)?;
    cursor.expect_word("TOPIC")?;
    let topic = cursor.expect_string("TOPIC")?;
    let options = cursor.with_options()?;
    cursor.expect_end("CREATE SOURCE")?;

    let mut source = CreateSource {
        table,
        paths,
        topic,
        envelope: None,
        partitions: None,
    };
    for (option, value) in options {
        let invalid = |message: &str| SqlError::InvalidOption {
            option: option.clone(),
            message: message.to_string(),
        };
        match option.as_str() {
            "format" if value.eq_ignore_ascii_case("json") => {}
            "format" => return Err(invalid("the only format is 'json'")),
            "envelope" => {
                source.envelope = Some(match value.to_ascii_lowercase().as_str() {
                    "upsert" => SourceEnvelope::Upsert,
                    "append" => SourceEnvelope::Append,
                    "debezium" => SourceEnvelope::Debezium,
                    _ => return Err(invalid("expected 'upsert', 'append' or 'debezium'")),
                })
            }
            "partitions" => {
                source.partitions = match value.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(invalid("expected a positive number of partitions")),
                }
            }
            _ => {
                return Err(invalid(
                    "unknown option; expected format, envelope or partitions",
                ));
            }
        }
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_paths_topic_and_options() {
        let source = parse_create_source(
            "CREATE SOURCE IF NOT EXISTS issues (id text, \"Status\" text PATH 'fields.status.name', \
             pts numeric(6, 2), PRIMARY KEY (id)) FROM TOPIC 'jira.issues' \
             WITH (format = 'json', envelope = 'upsert', partitions = 3);",
        )
        .unwrap();
        assert!(source.table.if_not_exists);
        assert_eq!(source.table.name.to_string(), "issues");
        assert_eq!(source.table.columns.len(), 3);
        assert_eq!(source.table.constraints.len(), 1);
        assert_eq!(
            source.paths,
            BTreeMap::from([("Status".to_string(), "fields.status.name".to_string())])
        );
        assert_eq!(source.topic, "jira.issues");
        assert_eq!(source.envelope, Some(SourceEnvelope::Upsert));
        assert_eq!(source.partitions, Some(3));
    }

    #[test]
    fn refuses_bad_options_and_trailing_text() {
        let base = "CREATE SOURCE s (a int) FROM TOPIC 't'";
        assert!(parse_create_source(base).is_ok());
        for (sql, code) in [
            (format!("{base} WITH (envelope = 'sideways')"), "22023"),
            (format!("{base} WITH (format = 'avro')"), "22023"),
            (format!("{base} WITH (partitions = 0)"), "22023"),
            (format!("{base} WITH (colour = 'red')"), "22023"),
            (
                format!("{base} WITH (envelope = 'append', envelope = 'upsert')"),
                "22023",
            ),
            (format!("{base} extra"), "42601"),
            ("CREATE SOURCE s FROM TOPIC 't'".to_string(), "42601"),
            ("CREATE SOURCE s (a int) FROM 't'".to_string(), "42601"),
        ] {
            let err = parse_create_source(&sql).unwrap_err();
            assert_eq!(err.code(), code, "{sql}: {err}");
        }
    }
}
