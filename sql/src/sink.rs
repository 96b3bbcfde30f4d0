//! `CREATE SINK`: a view's changes pushed out of Vigil.
//!
//! ```sql
//! CREATE SINK sla_alerts FROM blocked_sla_breaches
//!     INTO WEBHOOK 'https://hooks.slack.com/services/…'
//!     WITH (format = 'slack', on = 'insert', template = '{{title}} is past its SLA')
//! CREATE SINK breaches_out FROM blocked_sla_breaches INTO TOPIC 'alerts.breaches'
//! ```
//!
//! The SQL layer keeps a sink in the catalog (it depends on its view, so the view
//! cannot be dropped under it) together with what it has delivered: the rows the
//! receiver has been told about, with counts, and the time it has delivered
//! through, both in the data directory. The server runs the sinks: it subscribes
//! to each view, sends each change, and commits it with
//! [`crate::Coordinator::commit_sink`]. After a restart a sink compares the view
//! with what it delivered and sends only the difference, so nothing is sent twice
//! and nothing changed while it was down is missed.
//!
//! Option values that only the delivery side understands (`format`, `on`,
//! `template`, the URL) are checked by the [`SinkCheck`] the server installs, so
//! `CREATE SINK` refuses a bad template before anything runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;
use serde::{Deserialize, Serialize};
use vigil_engine::repr::RelationDesc;
use vigil_engine::{GlobalId, Time};

use crate::SqlError;
use crate::tokens::{TokenCursor, expected, identifier};

/// Where a sink sends changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SinkTarget {
    /// POST each change to this URL.
    Webhook { url: String },
    /// Publish each change to this topic of the change log.
    Topic { topic: String },
}

impl SinkTarget {
    /// The target without secrets: a webhook's scheme and host (its path often
    /// carries a token), a topic's name.
    pub fn redacted(&self) -> String {
        match self {
            SinkTarget::Webhook { url } => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let scheme = url.split_once("://").map_or("", |(s, _)| s);
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = host.rsplit('@').next().unwrap_or(host);
                format!("webhook {scheme}://{host}/…")
            }
            SinkTarget::Topic { topic } => format!("topic {topic}"),
        }
    }
}

/// A parsed `CREATE SINK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSink {
    pub name: String,
    pub if_not_exists: bool,
    pub from: String,
    pub target: SinkTarget,
    pub options: BTreeMap<String, String>,
}

/// A sink as the server runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkDef {
    pub id: GlobalId,
    pub name: String,
    /// The view (or table, or source) whose changes it sends.
    pub from: String,
    pub from_desc: RelationDesc,
    pub target: SinkTarget,
    /// The `WITH` options as given (lower-case names).
    pub options: BTreeMap<String, String>,
}

impl SinkDef {
    /// Whether a new sink starts with the view's current contents (`snapshot`,
    /// true by default) or only with changes after its creation.
    pub fn snapshot(&self) -> bool {
        self.options
            .get("snapshot")
            .is_none_or(|v| crate::subscribe::parse_bool("snapshot", v).unwrap_or(true))
    }
}

/// What a sink has delivered so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkProgress {
    /// The time the sink was created at: a first start reads the view as of then,
    /// so changes between `CREATE SINK` and the sink's start are not lost.
    pub created: Option<Time>,
    /// Every change before this time has been delivered; `None` before the first.
    pub frontier: Option<Time>,
    /// The rows the receiver has been told are in the view, with their counts.
    pub delivered: Vec<(vigil_engine::repr::Row, vigil_engine::Diff)>,
}

/// Checks a sink's target and options against the view's columns before the sink
/// is created; the message becomes the error `CREATE SINK` reports.
pub type SinkCheck = Arc<
    dyn Fn(&SinkTarget, &BTreeMap<String, String>, &RelationDesc) -> Result<(), String>
        + Send
        + Sync,
>;

/// Options every sink takes, and those of each kind of target.
const COMMON_OPTIONS: &[&str] = &["snapshot"];
const WEBHOOK_OPTIONS: &[&str] = &["format", "on", "template"];
const TOPIC_OPTIONS: &[&str] = &["partitions"];

/// Parses `CREATE SINK [IF NOT EXISTS] name FROM relation INTO WEBHOOK 'url' | TOPIC
/// 'name' [WITH (…)]`.
pub fn parse_create_sink(sql: &str) -> Result<CreateSink, SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::CREATE)?;
    cursor.expect_word("SINK")?;
    let mut if_not_exists = false;
    if cursor.next_is_keyword(Keyword::IF) {
        cursor.expect_keyword(Keyword::NOT)?;
        cursor.expect_keyword(Keyword::EXISTS)?;
        if_not_exists = true;
    }
    let name = read_name(&mut cursor, "a sink name")?;
    cursor.expect_keyword(Keyword::FROM)?;
    let from = read_name(&mut cursor, "the name of the view it reads")?;
    cursor.expect_keyword(Keyword::INTO)?;
    let target = match cursor.next_meaningful() {
        Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("WEBHOOK") => SinkTarget::Webhook {
            url: cursor.expect_string("WEBHOOK")?,
        },
        Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("TOPIC") => SinkTarget::Topic {
            topic: cursor.expect_string("TOPIC")?,
        },
        other => return Err(expected("WEBHOOK 'url' or TOPIC 'name' after INTO", other)),
    };
    let options = cursor.with_options()?;
    cursor.expect_end("CREATE SINK")?;
    let allowed = match target {
        SinkTarget::Webhook { .. } => WEBHOOK_OPTIONS,
        SinkTarget::Topic { .. } => TOPIC_OPTIONS,
    };
    for (option, value) in &options {
        if option == "snapshot" {
            crate::subscribe::parse_bool(option, value)?;
        } else if option == "partitions" {
            if !value.parse::<u32>().is_ok_and(|n| n > 0) {
                return Err(SqlError::InvalidOption {
                    option: option.clone(),
                    message: "expected a positive number of partitions".into(),
                });
            }
        } else if !allowed.contains(&option.as_str()) {
            let known: Vec<&str> = COMMON_OPTIONS.iter().chain(allowed).copied().collect();
            return Err(SqlError::InvalidOption {
                option: option.clone(),
                message: format!("unknown option; expected one of {}", known.join(", ")),
            });
        }
    }
    Ok(CreateSink {
        name,
        if_not_exists,
        from,
        target,
        options,
    })
}

fn read_name(cursor: &mut TokenCursor, what: &str) -> Result<String, SqlError> {
    match cursor.next_meaningful() {
        Some(Token::Word(word)) => Ok(identifier(&word)),
        other => Err(expected(what, other)),
    }
}

/// `DROP SINK [IF EXISTS] name [, …]`: the names and whether IF EXISTS was given.
pub fn parse_drop_sink(sql: &str) -> Result<(bool, Vec<String>), SqlError> {
    let mut cursor = TokenCursor::new(sql)?;
    cursor.expect_keyword(Keyword::DROP)?;
    cursor.expect_word("SINK")?;
    let mut if_exists = false;
    if cursor.next_is_keyword(Keyword::IF) {
        cursor.expect_keyword(Keyword::EXISTS)?;
        if_exists = true;
    }
    let mut names = vec![read_name(&mut cursor, "a sink name")?];
    loop {
        match cursor.next_meaningful() {
            None => return Ok((if_exists, names)),
            Some(Token::Comma) => names.push(read_name(&mut cursor, "a sink name")?),
            other => return Err(expected(", or the end of DROP SINK", other)),
        }
    }
}

/// The storage key of the time a sink has delivered through.
pub(crate) fn frontier_key(id: GlobalId) -> String {
    format!("sink {id} frontier")
}

/// The storage key of the time a sink was created at.
pub(crate) fn created_key(id: GlobalId) -> String {
    format!("sink {id} created")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_webhook_and_topic_sinks() {
        let sink = parse_create_sink(
            "CREATE SINK IF NOT EXISTS alerts FROM breaches INTO WEBHOOK 'http://127.0.0.1:9/hook' \
             WITH (format = 'slack', on = 'insert', template = '{{id}} breached', snapshot = false);",
        )
        .unwrap();
        assert!(sink.if_not_exists);
        assert_eq!(sink.name, "alerts");
        assert_eq!(sink.from, "breaches");
        assert_eq!(
            sink.target,
            SinkTarget::Webhook {
                url: "http://127.0.0.1:9/hook".into()
            }
        );
        assert_eq!(sink.options["template"], "{{id}} breached");
        let sink = parse_create_sink("create sink out from v into topic 'alerts'").unwrap();
        assert_eq!(
            sink.target,
            SinkTarget::Topic {
                topic: "alerts".into()
            }
        );
        assert_eq!(
            parse_drop_sink("DROP SINK IF EXISTS a, b").unwrap(),
            (true, vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn refuses_bad_sinks() {
        for (sql, code) in [
            ("CREATE SINK s FROM v INTO WEBHOOK", "42601"),
            ("CREATE SINK s FROM v INTO EMAIL 'a@b'", "42601"),
            (
                "CREATE SINK s FROM v INTO TOPIC 't' WITH (format = 'slack')",
                "22023",
            ),
            (
                "CREATE SINK s FROM v INTO WEBHOOK 'u' WITH (colour = 'red')",
                "22023",
            ),
            (
                "CREATE SINK s FROM v INTO WEBHOOK 'u' WITH (snapshot = maybe)",
                "22023",
            ),
            (
                "CREATE SINK s FROM v INTO TOPIC 't' WITH (partitions = 0)",
                "22023",
            ),
            ("CREATE SINK s FROM v INTO TOPIC 't' trailing", "42601"),
        ] {
            let err = parse_create_sink(sql).unwrap_err();
            assert_eq!(err.code(), code, "{sql}: {err}");
        }
    }
}

/// A running sink's counters, for `vigil_sinks`; the server updates them.
#[derive(Debug, Default)]
pub struct SinkStatus {
    /// Changes delivered (acknowledged by the receiver or written to the topic).
    pub delivered: AtomicU64,
    /// Changes given up on (see `vigil_sink_errors`).
    pub failed: AtomicU64,
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Every change before this time has been delivered or given up on.
    pub through: AtomicU64,
    problem: Mutex<Option<String>>,
}

impl SinkStatus {
    /// Records what keeps the sink from delivering, or clears it with `None`.
    pub fn set_problem(&self, problem: Option<String>) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = problem;
    }

    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A change a sink gave up delivering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkError {
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub sink: String,
    /// The change's idempotency key.
    pub key: String,
    /// The change's time on the engine's timeline.
    pub time: Time,
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    pub status: Option<u16>,
    pub message: String,
    /// The body that was not delivered, so nothing is lost.
    pub payload: String,
}

/// Changes sinks gave up on, newest last, bounded in size.
#[derive(Clone, Debug, Default)]
pub struct SinkErrorLog {
    inner: Arc<Mutex<VecDeque<SinkError>>>,
}

/// The newest sink errors kept; older ones are forgotten first.
const SINK_ERROR_CAPACITY: usize = 10_000;

impl SinkErrorLog {
    pub fn push(&self, error: SinkError) {
        tracing::warn!(sink = %error.sink, key = %error.key, message = %error.message, "sink gave up on a change");
        let mut errors = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() >= SINK_ERROR_CAPACITY {
            errors.pop_front();
        }
        errors.push_back(error);
    }

    pub fn snapshot(&self) -> Vec<SinkError> {
        let errors = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        errors.iter().cloned().collect()
    }

    /// Forgets a dropped sink's errors.
    pub fn remove_sink(&self, sink: &str) {
        let mut errors = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        errors.retain(|e| e.sink != sink);
    }
}
