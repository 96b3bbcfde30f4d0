//! Recognizing query strings that hold no statement.
//!
//! Health checks send comment-only queries (Grafana's "Save & test" sends `-- ping`)
//! and expect EmptyQueryResponse. Answering them here keeps them off the planner, so
//! a health check never waits behind a long statement or depends on the catalog.

/// Whether `sql` has nothing but whitespace, semicolons and comments. An unterminated
/// block comment is not empty: the SQL layer reports it as a syntax error.
pub fn is_empty_query(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if rest.is_empty() {
            return true;
        }
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if rest.starts_with("/*") {
            match skip_block_comment(rest) {
                Some(after) => rest = after,
                None => return false,
            }
        } else {
            return false;
        }
    }
}

/// Skips a block comment at the start of `s`, which may nest like PostgreSQL's.
fn skip_block_comment(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut i = 0;
    let bytes = s.as_bytes();
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return s.get(i..);
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::is_empty_query;

    #[test]
    fn whitespace_semicolons_and_comments_are_empty() {
        for sql in [
            "",
            " ",
            ";",
            " ;; ",
            "-- ping",
            "-- ping\n",
            "/* a */",
            "/* a /* nested */ b */;",
            "--x\n/*y*/ ; -- z",
        ] {
            assert!(is_empty_query(sql), "{sql:?}");
        }
    }

    #[test]
    fn statements_and_unterminated_comments_are_not_empty() {
        for sql in [
            "SELECT 1",
            "-- c\nSELECT 1",
            "/* a */ SELECT 1",
            "/* open",
            "/* a /* b */",
            "';'",
        ] {
            assert!(!is_empty_query(sql), "{sql:?}");
        }
    }
}
