//! A cursor over sqlparser's tokens, for the statements Vigil parses itself
//! (`CREATE SOURCE`, `CREATE SINK`, `SUBSCRIBE`, `ADVANCE CLOCK`, cursors).

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use crate::SqlError;

pub(crate) fn identifier(word: &Word) -> String {
    if word.quote_style.is_some() {
        word.value.clone()
    } else {
        word.value.to_lowercase()
    }
}

pub(crate) struct TokenCursor {
    tokens: Vec<Token>,
    pos: usize,
}

impl TokenCursor {
    /// Tokenizes `sql` with sqlparser's PostgreSQL dialect.
    pub(crate) fn new(sql: &str) -> Result<TokenCursor, SqlError> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize()
            .map_err(|e| SqlError::Parse(e.to_string()))?;
        Ok(TokenCursor { tokens, pos: 0 })
    }

    /// The text of the tokens not read yet, without a trailing semicolon.
    pub(crate) fn rest(&mut self) -> String {
        let text: String = self.tokens[self.pos.min(self.tokens.len())..]
            .iter()
            .map(|t| t.to_string())
            .collect();
        self.pos = self.tokens.len();
        text.trim().trim_end_matches(';').trim().to_string()
    }

    /// Finds `WITH ( RETAIN HISTORY [FOR] 'interval' )`: the token range it spans and
    /// the interval's text.
    pub(crate) fn find_retain_history(
        &mut self,
    ) -> Result<Option<(usize, usize, String)>, SqlError> {
        let meaningful: Vec<usize> = (0..self.tokens.len())
            .filter(|&i| !matches!(self.tokens[i], Token::Whitespace(_)))
            .collect();
        let word = |i: usize, w: &str| matches!(&self.tokens[i], Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w));
        for (n, &i) in meaningful.iter().enumerate() {
            if !word(i, "RETAIN") {
                continue;
            }
            let at = |k: usize| meaningful.get(n.wrapping_add(k)).copied();
            let before = (n >= 2).then(|| (meaningful[n - 2], meaningful[n - 1]));
            let Some((with, open)) = before else { continue };
            if !word(with, "WITH") || self.tokens[open] != Token::LParen {
                continue;
            }
            if at(1).filter(|&h| word(h, "HISTORY")).is_none() {
                return Err(SqlError::Parse("expected HISTORY after RETAIN".into()));
            }
            let mut next = n + 2;
            if meaningful.get(next).is_some_and(|&f| word(f, "FOR")) {
                next += 1;
            }
            let interval = match meaningful.get(next).map(|&k| &self.tokens[k]) {
                Some(Token::SingleQuotedString(s)) => s.clone(),
                other => {
                    return Err(expected(
                        "a quoted interval after RETAIN HISTORY FOR",
                        other.cloned(),
                    ));
                }
            };
            match meaningful.get(next + 1).map(|&k| (&self.tokens[k], k)) {
                Some((Token::RParen, close)) => return Ok(Some((with, close, interval))),
                other => {
                    return Err(expected(
                        ") after RETAIN HISTORY",
                        other.map(|(t, _)| t.clone()),
                    ));
                }
            }
        }
        Ok(None)
    }

    /// The statement's text without tokens `start..=end` (and the white space
    /// before them).
    pub(crate) fn text_without(&self, start: usize, end: usize) -> String {
        let mut first = start;
        while first > 0 && matches!(self.tokens[first - 1], Token::Whitespace(_)) {
            first -= 1;
        }
        self.tokens[..first]
            .iter()
            .chain(&self.tokens[end + 1..])
            .map(|t| t.to_string())
            .collect()
    }

    /// After an opening parenthesis: the text up to its matching closing one, which
    /// is consumed.
    pub(crate) fn parenthesized(&mut self) -> Result<String, SqlError> {
        let mut depth = 1usize;
        let mut text = String::new();
        while let Some(token) = self.next_any() {
            match token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(text.trim().to_string());
                    }
                }
                _ => {}
            }
            text.push_str(&token.to_string());
        }
        Err(SqlError::Parse("unbalanced parentheses".into()))
    }

    /// The next token, white space included.
    pub(crate) fn next_any(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    /// The next token that is not white space or a trailing semicolon.
    pub(crate) fn next_meaningful(&mut self) -> Option<Token> {
        while let Some(token) = self.next_any() {
            if !matches!(token, Token::Whitespace(_) | Token::SemiColon) {
                return Some(token);
            }
        }
        None
    }

    pub(crate) fn peek_meaningful(&self) -> Option<&Token> {
        self.tokens[self.pos.min(self.tokens.len())..]
            .iter()
            .find(|t| !matches!(t, Token::Whitespace(_)))
    }

    pub(crate) fn next_is_keyword(&mut self, keyword: Keyword) -> bool {
        let found = matches!(self.peek_meaningful(), Some(Token::Word(w)) if w.keyword == keyword);
        if found {
            self.next_meaningful();
        }
        found
    }

    pub(crate) fn expect_keyword(&mut self, keyword: Keyword) -> Result<(), SqlError> {
        match self.next_meaningful() {
            Some(Token::Word(w)) if w.keyword == keyword => Ok(()),
            other => Err(expected(&format!("{keyword:?}"), other)),
        }
    }

    pub(crate) fn expect_word(&mut self, word: &str) -> Result<(), SqlError> {
        match self.next_meaningful() {
            Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(word) => Ok(()),
            other => Err(expected(word, other)),
        }
    }

    pub(crate) fn expect_string(&mut self, after: &str) -> Result<String, SqlError> {
        match self.next_meaningful() {
            Some(Token::SingleQuotedString(s)) => Ok(s),
            other => Err(expected(&format!("a quoted string after {after}"), other)),
        }
    }

    /// Fails unless nothing but white space and a semicolon is left of `statement`.
    pub(crate) fn expect_end(&mut self, statement: &str) -> Result<(), SqlError> {
        match self.next_meaningful() {
            Some(extra) => Err(SqlError::Parse(format!(
                "unexpected {extra} at the end of {statement}"
            ))),
            None => Ok(()),
        }
    }

    /// `WITH ( name = value, … )` if it comes next, else no options.
    pub(crate) fn with_options(&mut self) -> Result<BTreeMap<String, String>, SqlError> {
        if self.next_is_keyword(Keyword::WITH) {
            self.options()
        } else {
            Ok(BTreeMap::new())
        }
    }

    /// `( name = value, … )` with string, number or bare-word values.
    pub(crate) fn options(&mut self) -> Result<BTreeMap<String, String>, SqlError> {
        match self.next_meaningful() {
            Some(Token::LParen) => {}
            other => return Err(expected("( after WITH", other)),
        }
        let mut options = BTreeMap::new();
        loop {
            let name = match self.next_meaningful() {
                Some(Token::Word(w)) => identifier(&w),
                Some(Token::RParen) if options.is_empty() => return Ok(options),
                other => return Err(expected("an option name", other)),
            };
            // A bare option name means true, as in `WITH (SNAPSHOT)`.
            if let Some(Token::Comma | Token::RParen) = self.peek_meaningful() {
                if options.insert(name.clone(), "true".into()).is_some() {
                    return Err(SqlError::InvalidOption {
                        option: name,
                        message: "given more than once".into(),
                    });
                }
                match self.next_meaningful() {
                    Some(Token::Comma) => continue,
                    _ => return Ok(options),
                }
            }
            match self.next_meaningful() {
                Some(Token::Eq) => {}
                other => return Err(expected(&format!("= after {name}"), other)),
            }
            let value = match self.next_meaningful() {
                Some(Token::SingleQuotedString(s)) => s,
                Some(Token::Number(n, _)) => n,
                Some(Token::Word(w)) => w.value,
                other => return Err(expected(&format!("a value for {name}"), other)),
            };
            if options.insert(name.clone(), value).is_some() {
                return Err(SqlError::InvalidOption {
                    option: name,
                    message: "given more than once".into(),
                });
            }
            match self.next_meaningful() {
                Some(Token::Comma) => {}
                Some(Token::RParen) => return Ok(options),
                other => return Err(expected(", or )", other)),
            }
        }
    }
}

pub(crate) fn expected(what: &str, found: Option<Token>) -> SqlError {
    match found {
        Some(token) => SqlError::Parse(format!("expected {what}, found {token}")),
        None => SqlError::Parse(format!("expected {what}, found the end of the statement")),
    }
}
