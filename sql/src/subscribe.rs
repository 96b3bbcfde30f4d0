//! `SUBSCRIBE`: a relation's or a query's changes, as they happen.
//!
//! ```sql
//! SUBSCRIBE [TO] blocked_sla_breaches [WITH (SNAPSHOT = true, PROGRESS = true)] [AS OF 1767225600000]
//! SUBSCRIBE (SELECT board, count(*) FROM items GROUP BY board)
//! COPY (SUBSCRIBE …) TO STDOUT
//! DECLARE c CURSOR FOR SUBSCRIBE …; FETCH 10 c WITH (timeout = '1s'); CLOSE c
//! ```
//!
//! Each output row is `vigil_timestamp` (the change's time, milliseconds on the
//! engine's timeline), `vigil_progressed` (only `WITH (PROGRESS)`), `vigil_diff`
//! (+n inserted, -n deleted) and the relation's columns. A progress row (timestamp
//! `t`, `vigil_progressed = true`, everything else NULL) says every change before
//! `t` has been sent: a client that remembers the last one resumes with
//! `WITH (SNAPSHOT = false) AS OF t` and neither misses nor repeats a change. By
//! default the first rows are the relation's contents at the as-of time; with
//! `SNAPSHOT = false` they are the changes from the as-of time on.
//!
//! The same subscriptions feed the HTTP change streams and the sinks, through
//! [`crate::Coordinator::subscribe`].

use vigil_engine::repr::{Column, Datum, RelationDesc, Row, ScalarType};
use vigil_engine::{Diff, Time};

use crate::SqlError;
use crate::tokens::{TokenCursor, expected, identifier};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

/// What to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscribeTarget {
    /// A table, source, view or materialized view, by name.
    Relation(String),
    /// The text of a `SELECT`.
    Query(String),
}

/// How to follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Start with the contents at the as-of time.
    pub snapshot: bool,
    /// Emit progress rows (SQL output only: [`Subscription::next`] always reports
    /// progress).
    pub progress: bool,
    /// The first time to read; the current time when `None`.
    pub as_of: Option<Time>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            snapshot: true,
            progress: false,
            as_of: None,
        }
    }
}

/// What a subscription delivers, in time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscribeEvent {
    /// Every change at `time`, consolidated. The snapshot is one such event at the
    /// as-of time.
    Updates {
        time: Time,
        updates: Vec<(Row, Diff)>,
    },
    /// Every change before this time has been delivered.
    Progress(Time),
}

/// A running subscription; dropping it stops it.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) desc: RelationDesc,
    pub(crate) as_of: Time,
    pub(crate) options: SubscribeOptions,
    pub(crate) inner: vigil_engine::Subscription,
}

impl Subscription {
    /// The followed relation's columns.
    pub fn desc(&self) -> &RelationDesc {
        &self.desc
    }

    /// The first time the subscription reads.
    pub fn as_of(&self) -> Time {
        self.as_of
    }

    /// The next event; `None` once the relation has been dropped or the engine has
    /// stopped.
    pub async fn next(&mut self) -> Option<Result<SubscribeEvent, SqlError>> {
        match self.inner.next().await? {
            vigil_engine::SubscribeEvent::Updates { time, updates } => {
                Some(Ok(SubscribeEvent::Updates { time, updates }))
            }
            vigil_engine::SubscribeEvent::Progress(time) => {
                Some(Ok(SubscribeEvent::Progress(time)))
            }
            vigil_engine::SubscribeEvent::Failed(e) => Some(Err(match e {
                vigil_engine::EngineError::HistoryCompacted { as_of, since } => {
                    SqlError::HistoryCompacted { as_of, since }
                }
                other => SqlError::Engine(other.to_string()),
            })),
        }
    }

    /// The columns of SQL output: `vigil_timestamp`, `vigil_progressed` (with
    /// `PROGRESS`), `vigil_diff`, then the relation's.
    pub fn output_desc(&self) -> RelationDesc {
        let mut columns = vec![Column {
            name: "vigil_timestamp".into(),
            ty: ScalarType::Int64,
            nullable: false,
        }];
        if self.options.progress {
            columns.push(Column {
                name: "vigil_progressed".into(),
                ty: ScalarType::Bool,
                nullable: false,
            });
        }
        columns.push(Column {
            name: "vigil_diff".into(),
            ty: ScalarType::Int64,
            nullable: true,
        });
        columns.extend(self.desc.columns.iter().map(|c| Column {
            nullable: true,
            ..c.clone()
        }));
        RelationDesc::new(columns)
    }

    /// `event` as rows of [`output_desc`](Self::output_desc); no rows for progress
    /// without `PROGRESS`.
    pub fn output_rows(&self, event: &SubscribeEvent) -> Vec<Row> {
        let time = Datum::Int64(i64::try_from(event_time(event)).unwrap_or(i64::MAX));
        match event {
            SubscribeEvent::Updates { updates, .. } => updates
                .iter()
                .map(|(row, diff)| {
                    let mut out = Vec::with_capacity(row.len() + 3);
                    out.push(time.clone());
                    if self.options.progress {
                        out.push(Datum::Bool(false));
                    }
                    out.push(Datum::Int64(*diff));
                    out.extend(row.iter().cloned());
                    out
                })
                .collect(),
            SubscribeEvent::Progress(_) if self.options.progress => {
                let mut out = vec![time, Datum::Bool(true), Datum::Null];
                out.extend(self.desc.columns.iter().map(|_| Datum::Null));
                vec![out]
            }
            SubscribeEvent::Progress(_) => Vec::new(),
        }
    }
}

fn event_time(event: &SubscribeEvent) -> Time {
    match event {
        SubscribeEvent::Updates { time, .. } | SubscribeEvent::Progress(time) => *time,
    }
}

/// A parsed `SUBSCRIBE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeStatement {
    pub target: SubscribeTarget,
    pub options: SubscribeOptions,
}

/// Parses `SUBSCRIBE [TO] name | (query) [WITH (…)] [AS OF n]`.
pub fn parse_subscribe(sql: &str) -> Result<SubscribeStatement, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_word("SUBSCRIBE")?;
    cursor.next_is_keyword(Keyword::TO);
    let target = match cursor.next_meaningful() {
        Some(Token::LParen) => SubscribeTarget::Query(cursor.parenthesized()?),
        Some(Token::Word(word)) => SubscribeTarget::Relation(identifier(&word)),
        other => return Err(expected("a relation name or a (query)", other)),
    };
    let mut options = SubscribeOptions::default();
    if cursor.next_is_keyword(Keyword::WITH) {
        for (option, value) in cursor.options()? {
            let flag = parse_bool(&option, &value)?;
            match option.as_str() {
                "snapshot" => options.snapshot = flag,
                "progress" => options.progress = flag,
                _ => {
                    return Err(SqlError::InvalidOption {
                        option,
                        message: "unknown option; expected snapshot or progress".into(),
                    });
                }
            }
        }
    }
    if cursor.next_is_keyword(Keyword::AS) {
        cursor.expect_keyword(Keyword::OF)?;
        options.as_of = Some(match cursor.next_meaningful() {
            Some(Token::Number(n, _)) => n.parse::<Time>().map_err(|_| {
                SqlError::Parse(format!(
                    "AS OF takes a timestamp in milliseconds (a vigil_timestamp), not {n}"
                ))
            })?,
            other => return Err(expected("a vigil_timestamp after AS OF", other)),
        });
    }
    cursor.expect_end("SUBSCRIBE")?;
    Ok(SubscribeStatement { target, options })
}

pub(crate) fn parse_bool(option: &str, value: &str) -> Result<bool, SqlError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" => Ok(false),
        _ => Err(SqlError::InvalidOption {
            option: option.to_string(),
            message: format!("expected true or false, found {value}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_options_and_as_of() {
        let s = parse_subscribe("SUBSCRIBE TO breaches").unwrap();
        assert_eq!(s.target, SubscribeTarget::Relation("breaches".into()));
        assert_eq!(s.options, SubscribeOptions::default());

        let s = parse_subscribe(
            "subscribe (SELECT a, count(*) FROM t GROUP BY (a)) WITH (SNAPSHOT = false, PROGRESS) AS OF 1700000000000;",
        )
        .unwrap();
        assert_eq!(
            s.target,
            SubscribeTarget::Query("SELECT a, count(*) FROM t GROUP BY (a)".into())
        );
        assert_eq!(
            s.options,
            SubscribeOptions {
                snapshot: false,
                progress: true,
                as_of: Some(1_700_000_000_000)
            }
        );
        let s = parse_subscribe("SUBSCRIBE \"Mixed\"").unwrap();
        assert_eq!(s.target, SubscribeTarget::Relation("Mixed".into()));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for (sql, code) in [
            ("SUBSCRIBE", "42601"),
            ("SUBSCRIBE v WITH (snapshot = maybe)", "22023"),
            ("SUBSCRIBE v WITH (colour = true)", "22023"),
            ("SUBSCRIBE v AS OF 'yesterday'", "42601"),
            ("SUBSCRIBE v AS OF -1", "42601"),
            ("SUBSCRIBE v extra", "42601"),
            ("SUBSCRIBE (SELECT 1", "42601"),
        ] {
            let err = parse_subscribe(sql).unwrap_err();
            assert_eq!(err.code(), code, "{sql}: {err}");
        }
    }
}

/// `COPY (SUBSCRIBE …) TO STDOUT [WITH (…)]`.
pub fn parse_copy_subscribe(sql: &str) -> Result<SubscribeStatement, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::COPY)?;
    match cursor.next_meaningful() {
        Some(Token::LParen) => {}
        other => return Err(expected("( after COPY", other)),
    }
    let inner = cursor.parenthesized()?;
    cursor.expect_keyword(Keyword::TO)?;
    cursor.expect_word("STDOUT")?;
    if cursor.next_is_keyword(Keyword::WITH) {
        for (option, value) in cursor.options()? {
            let text_format = option == "format" && value.eq_ignore_ascii_case("text");
            if !text_format {
                return Err(SqlError::InvalidOption {
                    option,
                    message: "COPY (SUBSCRIBE …) TO STDOUT streams the text format only".into(),
                });
            }
        }
    }
    cursor.expect_end("COPY")?;
    parse_subscribe(&inner)
}

/// `DECLARE name CURSOR [WITHOUT HOLD] FOR SUBSCRIBE …`: the name and the subscribe.
pub fn parse_declare(sql: &str) -> Result<(String, SubscribeStatement), SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::DECLARE)?;
    let name = match cursor.next_meaningful() {
        Some(Token::Word(word)) => identifier(&word),
        other => return Err(expected("a cursor name", other)),
    };
    cursor.expect_keyword(Keyword::CURSOR)?;
    if cursor.next_is_keyword(Keyword::WITHOUT) {
        cursor.expect_keyword(Keyword::HOLD)?;
    }
    cursor.expect_keyword(Keyword::FOR)?;
    let rest = cursor.rest();
    if !rest
        .split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("SUBSCRIBE"))
    {
        return Err(SqlError::Unsupported(
            "cursors over anything but SUBSCRIBE (run the SELECT directly)".into(),
        ));
    }
    Ok((name, parse_subscribe(&rest)?))
}

/// How many rows a `FETCH` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchCount {
    Rows(usize),
    All,
}

/// A parsed `FETCH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    pub cursor: String,
    pub count: FetchCount,
    /// How long to wait for a first row; `None` waits until one comes.
    pub timeout: Option<std::time::Duration>,
}

/// `FETCH [FORWARD] [n | ALL] [FROM | IN] name [WITH (timeout = '1s')]`.
pub fn parse_fetch(sql: &str) -> Result<Fetch, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::FETCH)?;
    cursor.next_is_keyword(Keyword::FORWARD);
    let mut count = FetchCount::Rows(1);
    if cursor.next_is_keyword(Keyword::ALL) {
        count = FetchCount::All;
    } else if let Some(Token::Number(n, _)) = cursor.peek_meaningful().cloned() {
        cursor.next_meaningful();
        count = FetchCount::Rows(
            n.parse()
                .map_err(|_| SqlError::Parse(format!("FETCH takes a row count, not {n}")))?,
        );
    }
    if !cursor.next_is_keyword(Keyword::FROM) {
        cursor.next_is_keyword(Keyword::IN);
    }
    let name = match cursor.next_meaningful() {
        Some(Token::Word(word)) => identifier(&word),
        other => return Err(expected("a cursor name", other)),
    };
    let mut timeout = None;
    if cursor.next_is_keyword(Keyword::WITH) {
        for (option, value) in cursor.options()? {
            if option != "timeout" {
                return Err(SqlError::InvalidOption {
                    option,
                    message: "unknown option; expected timeout".into(),
                });
            }
            let ms = crate::temporal::interval_ms("timeout", &value)?;
            timeout = Some(std::time::Duration::from_millis(ms));
        }
    }
    cursor.expect_end("FETCH")?;
    Ok(Fetch {
        cursor: name,
        count,
        timeout,
    })
}

/// `CLOSE name | ALL`: the name, `None` for all.
pub fn parse_close(sql: &str) -> Result<Option<String>, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::CLOSE)?;
    let name = match cursor.next_meaningful() {
        Some(Token::Word(word)) if word.keyword == Keyword::ALL && word.quote_style.is_none() => {
            None
        }
        Some(Token::Word(word)) => Some(identifier(&word)),
        other => return Err(expected("a cursor name or ALL", other)),
    };
    cursor.expect_end("CLOSE")?;
    Ok(name)
}

/// A cursor over a subscription: rows received but not fetched yet.
#[derive(Debug)]
pub struct Cursor {
    subscription: Subscription,
    ready: std::collections::VecDeque<Row>,
    ended: bool,
}

impl Cursor {
    pub fn new(subscription: Subscription) -> Cursor {
        Cursor {
            subscription,
            ready: std::collections::VecDeque::new(),
            ended: false,
        }
    }

    pub fn desc(&self) -> RelationDesc {
        self.subscription.output_desc()
    }

    /// Up to `limit` rows: waits (at most `timeout`) for the first, then takes what
    /// else is ready without waiting.
    pub async fn fetch(
        &mut self,
        limit: usize,
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<Row>, SqlError> {
        use futures::FutureExt;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        while self.ready.is_empty() && !self.ended {
            let event = match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, self.subscription.next()).await {
                        Ok(event) => event,
                        Err(_) => break,
                    }
                }
                None => self.subscription.next().await,
            };
            self.take(event)?;
        }
        while self.ready.len() < limit && !self.ended {
            match self.subscription.next().now_or_never() {
                Some(event) => self.take(event)?,
                None => break,
            }
        }
        let n = limit.min(self.ready.len());
        Ok(self.ready.drain(..n).collect())
    }

    fn take(&mut self, event: Option<Result<SubscribeEvent, SqlError>>) -> Result<(), SqlError> {
        match event {
            Some(event) => {
                let rows = self.subscription.output_rows(&event?);
                self.ready.extend(rows);
            }
            None => self.ended = true,
        }
        Ok(())
    }
}
