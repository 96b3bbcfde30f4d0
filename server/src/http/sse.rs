//! `GET /api/v1/views/{name}/changes`: a view's changes as server-sent events.
//!
//! ```text
//!  Coordinator::subscribe ─▶ forwarding task ─▶ bounded channel ─▶ SSE stream ─▶ client
//!     (snapshot at as_of,      (ends when the                       changes / progress /
//!      then each time)          client is gone)                     error events
//! ```
//!
//! Every event's `id` is a timestamp `T` with a promise: every change at or before
//! `T` has been sent. A `changes` event carries all changes at `T`, consolidated,
//! retractions first; the first one, at the subscription's as-of time, is the
//! snapshot (empty for an empty view). A `progress` event says that times up to `T`
//! closed without changes (the engine's `Progress(t)` promises the times before
//! `t`, so its event is `T = t - 1`).
//!
//! A client that reconnects with `Last-Event-ID: T` (or `?last_event_id=T`, for
//! EventSource polyfills that cannot set headers) subscribes without a snapshot as
//! of `T + 1`, the first time it has not seen, and so receives exactly the changes
//! after `T`. An as-of older than the history the view retains (a materialized
//! view's `RETAIN HISTORY`, an hour by default; a plain view reads tables, which
//! retain none) is a 410 `history_compacted` before the stream starts: the client
//! starts over without an id. A subscription that fails later ends the stream with
//! an `error` event whose data is the error body (`code`, `message`, `sqlstate`); a
//! dropped view ends it without one.
//!
//! Progress events are throttled to one per [`PROGRESS_INTERVAL`] (a quiet view
//! would otherwise send one per clock tick): one that comes too soon is held and
//! sent when the interval is up, replaced by any later one, and dropped when
//! changes come first. Changes are always sent at once. A comment every
//! [`KEEP_ALIVE`] keeps proxies from closing an idle stream. The subscription runs
//! in its own task that stops, dropping the subscription and its dataflow, as soon
//! as axum drops the stream of a client that went away.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use vigil_engine::repr::json::RowJson;
use vigil_engine::repr::{RelationDesc, Row};
use vigil_sql::{SqlError, SubscribeEvent, SubscribeOptions, SubscribeTarget, Subscription};

use super::AppState;
use super::error::AppError;
use super::views::require_view;

/// The shortest time between two progress events of one stream.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long the response waits for the subscription's first event, so that an
/// as-of the view no longer retains is a 410 rather than an event in a 200 stream.
/// A snapshot that takes longer starts streaming without it.
const FIRST_EVENT_WAIT: Duration = Duration::from_secs(5);

/// Events buffered between the subscription and a slow client.
const BUFFER: usize = 64;

/// The header an EventSource sends when it reconnects.
const LAST_EVENT_ID: &str = "last-event-id";

/// `?last_event_id=T`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesParams {
    pub last_event_id: Option<String>,
}

/// The data of a `changes` event.
#[derive(Serialize)]
struct Changes<'a> {
    timestamp: u64,
    changes: Vec<Change<'a>>,
}

#[derive(Serialize)]
struct Change<'a> {
    diff: i64,
    row: RowJson<'a>,
}

/// The data of a `progress` event.
#[derive(Serialize)]
struct Progress {
    timestamp: u64,
}

/// `GET /api/v1/views/{name}/changes`.
pub async fn changes(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<ChangesParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let Path(name) = name?;
    let Query(params) = params?;
    let resume = last_event_id(&headers, params.last_event_id.as_deref())?;
    require_view(&mut state.coordinator.session(), &name).await?;
    // Without a snapshot the subscription sends the changes at and after its as-of;
    // the client has every change up to its last id.
    let as_of = match resume {
        None => None,
        Some(last) => Some(
            last.checked_add(1)
                .ok_or_else(|| AppError::InvalidEventId(last.to_string()))?,
        ),
    };
    let options = SubscribeOptions {
        snapshot: resume.is_none(),
        as_of,
        ..SubscribeOptions::default()
    };
    let subscription = state
        .coordinator
        .subscribe(SubscribeTarget::Relation(name.clone()), options)
        .await?;
    let desc = subscription.desc().clone();
    let as_of = subscription.as_of();
    let (sender, mut receiver) = mpsc::channel(BUFFER);
    tokio::spawn(
        forward(subscription, sender).instrument(tracing::info_span!("sse_changes", view = %name)),
    );
    // The subscription may report a too-old as-of as its first event rather than on
    // creation: wait briefly for that event so either way is an HTTP error.
    let first = match tokio::time::timeout(FIRST_EVENT_WAIT, receiver.recv()).await {
        Ok(Some(Err(error))) => return Err(error.into()),
        Ok(Some(Ok(event))) => Some(event),
        Ok(None) => return Err(AppError::UnknownView(name)),
        Err(_elapsed) => None,
    };
    let feed = Feed {
        receiver,
        desc,
        first,
        as_of,
        snapshot_pending: resume.is_none(),
        last_id: resume,
        last_sent: None,
        held_progress: None,
        ended: false,
    };
    Ok(Sse::new(feed.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The timestamp to resume after: the `Last-Event-ID` header, else the query's. An
/// empty one means none, as in the SSE specification.
fn last_event_id(headers: &HeaderMap, query: Option<&str>) -> Result<Option<u64>, AppError> {
    let header = headers
        .get(LAST_EVENT_ID)
        .map(|value| {
            value.to_str().map_err(|_| {
                AppError::InvalidEventId(String::from_utf8_lossy(value.as_bytes()).into())
            })
        })
        .transpose()?;
    match header.or(query).filter(|text| !text.trim().is_empty()) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| AppError::InvalidEventId(text.to_owned())),
    }
}

/// Moves the subscription's events into `sender` until the subscription ends or the
/// receiver (the client's stream) is dropped; returning drops the subscription.
async fn forward(
    mut subscription: Subscription,
    sender: mpsc::Sender<Result<SubscribeEvent, SqlError>>,
) {
    loop {
        let event = tokio::select! {
            () = sender.closed() => break,
            event = subscription.next() => event,
        };
        let Some(event) = event else { break };
        let failed = event.is_err();
        if sender.send(event).await.is_err() || failed {
            break;
        }
    }
    tracing::debug!("change stream ended");
}

/// The state of one client's stream.
struct Feed {
    receiver: mpsc::Receiver<Result<SubscribeEvent, SqlError>>,
    desc: RelationDesc,
    /// The event read while the response was being decided.
    first: Option<SubscribeEvent>,
    as_of: u64,
    /// A snapshot was asked for and not sent yet. The engine sends none for an empty
    /// view; the stream sends an empty one, so every client learns where it stands.
    snapshot_pending: bool,
    /// The id of the last event sent (or the one the client resumed from).
    last_id: Option<u64>,
    /// When the last event was sent, for throttling progress.
    last_sent: Option<Instant>,
    /// The latest progress not sent yet because the last event was too recent.
    held_progress: Option<u64>,
    ended: bool,
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures::stream::unfold(self, |mut feed| async move {
            let event = feed.next_event().await?;
            Some((Ok(event), feed))
        })
    }

    /// The next event to send, `None` once the stream is over.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.ended {
                return None;
            }
            let item = if let Some(event) = self.first.take() {
                Ok(event)
            } else if let Some(complete) = self.held_progress {
                let due = self
                    .last_sent
                    .map_or_else(Instant::now, |at| at + PROGRESS_INTERVAL);
                tokio::select! {
                    item = self.receiver.recv() => item?,
                    () = tokio::time::sleep_until(due) => {
                        self.held_progress = None;
                        return Some(self.sent(complete, progress_event(complete)));
                    }
                }
            } else {
                self.receiver.recv().await?
            };
            match item {
                Ok(SubscribeEvent::Updates { time, updates }) => {
                    // Later than any progress held back, which it makes redundant.
                    self.held_progress = None;
                    self.snapshot_pending = false;
                    return Some(self.sent(time, changes_event(&self.desc, time, &updates)));
                }
                Ok(SubscribeEvent::Progress(frontier)) => {
                    // Times before the frontier are complete; nothing before the
                    // as-of is news to the client.
                    let Some(complete) = frontier.checked_sub(1) else {
                        continue;
                    };
                    if complete < self.as_of {
                        continue;
                    }
                    if self.snapshot_pending {
                        self.snapshot_pending = false;
                        let as_of = self.as_of;
                        return Some(self.sent(as_of, changes_event(&self.desc, as_of, &[])));
                    }
                    if self.last_id.is_some_and(|last| complete <= last) {
                        continue;
                    }
                    let due = self
                        .last_sent
                        .is_none_or(|at| at.elapsed() >= PROGRESS_INTERVAL);
                    if due {
                        return Some(self.sent(complete, progress_event(complete)));
                    }
                    // Too soon: keep the latest, sent when the interval is up
                    // unless changes come first.
                    self.held_progress = Some(complete);
                }
                Err(error) => {
                    self.ended = true;
                    return Some(error_event(&AppError::from(error)));
                }
            }
        }
    }

    fn sent(&mut self, id: u64, event: Event) -> Event {
        self.last_id = Some(id);
        self.last_sent = Some(Instant::now());
        event
    }
}

/// A `changes` event: retractions before insertions, so a client that applies
/// them one by one to rows keyed by a primary key never deletes the row an update
/// just wrote; each group in row order.
fn changes_event(desc: &RelationDesc, time: u64, updates: &[(Row, i64)]) -> Event {
    let mut changes: Vec<Change<'_>> = updates
        .iter()
        .map(|(row, diff)| Change {
            diff: *diff,
            row: RowJson { desc, row },
        })
        .collect();
    // Stable: the subscription delivers each time's changes in row order.
    changes.sort_by_key(|change| change.diff > 0);
    let data = Changes {
        timestamp: time,
        changes,
    };
    json_event("changes", &data).id(time.to_string())
}

fn progress_event(time: u64) -> Event {
    json_event("progress", &Progress { timestamp: time }).id(time.to_string())
}

/// The last event of a stream whose subscription failed: the error body as data.
fn error_event(error: &AppError) -> Event {
    json_event("error", &error.body())
}

fn json_event(kind: &str, data: &impl Serialize) -> Event {
    match serde_json::to_string(data) {
        Ok(json) => Event::default().event(kind).data(json),
        // Serializing maps of string keys and JSON values cannot fail; should it,
        // the client still learns that something went wrong.
        Err(error) => Event::default().event("error").data(
            serde_json::json!({"code": "internal_error", "message": error.to_string()}).to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(last: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(last) = last {
            headers.insert(LAST_EVENT_ID, last.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn the_header_wins_over_the_query_and_empty_means_none() {
        let id = |header, query| last_event_id(&headers(header), query).map_err(|e| e.code());
        assert_eq!(id(None, None), Ok(None));
        assert_eq!(id(Some("42"), None), Ok(Some(42)));
        assert_eq!(id(None, Some("7")), Ok(Some(7)));
        assert_eq!(id(Some("42"), Some("7")), Ok(Some(42)));
        assert_eq!(id(Some(""), None), Ok(None));
        assert_eq!(id(Some("-1"), None), Err("invalid_event_id"));
        assert_eq!(id(None, Some("1.5")), Err("invalid_event_id"));
    }
}
