//! Sinks: where a view's changes leave Vigil, as webhook requests (Slack, Teams or
//! plain JSON) or as messages on a change-log topic.
//!
//! ```text
//!  CREATE SINK … FROM view INTO WEBHOOK 'url' | TOPIC 'name'
//!     │
//!  runtime: a view's changes (row, time, diff), filtered by `on` (SinkOn)
//!     │
//!     ▼ format::Change
//!  format ─┬─ idempotency_key ──────────────┬─▶ Idempotency-Key header, topic message key
//!          ├─ webhook_body (json|slack|teams, template) ─▶ webhook::Webhook::deliver
//!          │                                                  POST, retries, backoff
//!          └─ topic_message ───────────────────────────────▶ ChangeLog::publish
//! ```
//!
//! Format is kept apart from transport (as in Feldera): [`format`] turns one change
//! into bytes and knows nothing of HTTP; [`webhook`] delivers bytes and knows nothing
//! of rows.
//!
//! Delivery is at least once. A receiver can be slow, down or rate limiting, and the
//! sink's own process can restart between a request and its answer, so the same
//! change may arrive twice. Every change therefore carries an idempotency key derived
//! only from its content (sink, view, time, diff and row), hashed over a versioned
//! encoding: the key a change gets after a restart, or from another build of Vigil, is
//! the key it got before, and a receiver that remembers keys can drop the repeat.
//!
//! Templates are parsed against the view's columns when the sink is created, so a
//! typo in a column name is refused by `CREATE SINK` instead of producing empty
//! messages at 3 a.m.

pub mod format;
pub mod runtime;
pub mod webhook;
