//! Splitting query strings into statements, and the statements Vigil reads itself
//! before handing the rest to sqlparser (PostgreSQL dialect).

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::SqlError;

/// Splits a simple-protocol query string at top-level semicolons. Quotes, dollar
/// quotes and comments are respected. Statements with nothing but white space and
/// comments come back as empty strings, so the caller can answer EmptyQuery.
pub fn split_statements(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut meaningful = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '-' if next == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    current.push(chars[i]);
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        current.push_str("/*");
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        current.push_str("*/");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        current.push(chars[i]);
                        i += 1;
                    }
                }
                continue;
            }
            '\'' | '"' => {
                meaningful = true;
                let backslash_escapes = c == '\''
                    && i > 0
                    && matches!(chars[i - 1], 'e' | 'E')
                    && (i < 2 || !chars[i - 2].is_alphanumeric());
                current.push(c);
                i += 1;
                while i < chars.len() {
                    let d = chars[i];
                    current.push(d);
                    i += 1;
                    if backslash_escapes && d == '\\' {
                        if let Some(&escaped) = chars.get(i) {
                            current.push(escaped);
                            i += 1;
                        }
                    } else if d == c {
                        if chars.get(i) == Some(&c) {
                            current.push(c);
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                continue;
            }
            '$' => {
                if let Some(tag) = dollar_tag(&chars[i..]) {
                    meaningful = true;
                    let tag: Vec<char> = tag.chars().collect();
                    current.extend(&tag);
                    i += tag.len();
                    while i < chars.len() && !chars[i..].starts_with(&tag) {
                        current.push(chars[i]);
                        i += 1;
                    }
                    if i < chars.len() {
                        current.extend(&tag);
                        i += tag.len();
                    }
                    continue;
                }
            }
            ';' => {
                statements.push(finish(&mut current, &mut meaningful));
                i += 1;
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            meaningful = true;
        }
        current.push(c);
        i += 1;
    }
    if meaningful || statements.is_empty() {
        statements.push(finish(&mut current, &mut meaningful));
    }
    statements
}

fn finish(current: &mut String, meaningful: &mut bool) -> String {
    let statement = if *meaningful {
        current.trim().to_string()
    } else {
        String::new()
    };
    current.clear();
    *meaningful = false;
    statement
}

/// `$tag$` at the start of `chars`, if it opens a dollar-quoted string.
fn dollar_tag(chars: &[char]) -> Option<String> {
    let end = chars.iter().skip(1).position(|&c| c == '$')? + 1;
    let tag: String = chars[1..end].iter().collect();
    (tag.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !tag.starts_with(|c: char| c.is_ascii_digit()))
    .then(|| format!("${tag}$"))
}

/// The statement's words, upper-cased, with comments and punctuation dropped; enough
/// to recognize the statements Vigil parses itself.
pub fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let mut words = Vec::new();
    for line in sql.lines() {
        let line = line.split("--").next().unwrap_or("");
        for word in line.split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ',') {
            if !word.is_empty() {
                words.push(word.to_uppercase());
                if words.len() == n {
                    return words;
                }
            }
        }
    }
    words
}

/// Parses one statement with sqlparser's PostgreSQL dialect.
pub fn parse_one(sql: &str) -> Result<Statement, SqlError> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| SqlError::Parse(parser_message(&e.to_string())))?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(SqlError::Parse("empty statement".into())),
        _ => Err(SqlError::Parse("expected one statement".into())),
    }
}

fn parser_message(message: &str) -> String {
    message.trim_start_matches("sql parser error: ").to_string()
}

/// The name after `words` in a statement like `SHOW COLUMNS FROM name`, unquoted and
/// normalized the way identifiers are (lower case unless double-quoted).
pub fn trailing_name(sql: &str, skip_words: usize) -> Option<String> {
    let rest: String = {
        let mut remaining = sql.trim();
        for _ in 0..skip_words {
            remaining = remaining.trim_start();
            let end = remaining.find(char::is_whitespace)?;
            remaining = &remaining[end..];
        }
        remaining.trim().trim_end_matches(';').trim().to_string()
    };
    if rest.is_empty() {
        return None;
    }
    Some(normalize_ident(&rest))
}

/// Lower-cases an unquoted identifier and unquotes a quoted one.
pub fn normalize_ident(ident: &str) -> String {
    if ident.len() >= 2 && ident.starts_with('"') && ident.ends_with('"') {
        ident[1..ident.len() - 1].replace("\"\"", "\"")
    } else {
        ident.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            split_statements("select 1; select 2"),
            vec!["select 1", "select 2"]
        );
        assert_eq!(
            split_statements("select ';'; select \"a;b\""),
            vec!["select ';'", "select \"a;b\""]
        );
        assert_eq!(split_statements("select $x$;$x$"), vec!["select $x$;$x$"]);
        assert_eq!(split_statements("select E'\\';'"), vec!["select E'\\';'"]);
        assert_eq!(split_statements("select 'it''s;'"), vec!["select 'it''s;'"]);
    }

    #[test]
    fn comment_only_statements_are_empty() {
        assert_eq!(split_statements("-- ping"), vec![""]);
        assert_eq!(split_statements(""), vec![""]);
        assert_eq!(split_statements(";"), vec![""]);
        assert_eq!(
            split_statements("/* a; */ select 1"),
            vec!["/* a; */ select 1"]
        );
        assert_eq!(split_statements("select 1; -- done"), vec!["select 1"]);
    }

    #[test]
    fn leading_words_skip_comments() {
        assert_eq!(
            leading_words("-- x\n show  materialized views;", 3),
            vec!["SHOW", "MATERIALIZED", "VIEWS"]
        );
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(
            trailing_name("SHOW COLUMNS FROM Foo", 3),
            Some("foo".into())
        );
        assert_eq!(
            trailing_name("SHOW CREATE VIEW \"Foo\";", 3),
            Some("Foo".into())
        );
        assert_eq!(trailing_name("SHOW TABLES", 2), None);
    }
}
