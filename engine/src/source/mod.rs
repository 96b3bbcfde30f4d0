//! Sources: topics of the change log turned into collections that views read.
//!
//! ```text
//!  ChangeLog topic ── partitions p % workers == worker ──▶ LogReader (one per worker)
//!     ─▶ json (format: JSON → typed row) ─▶ envelope (upsert / append / debezium)
//!     ─▶ row changes at the current time ─▶ arrangement (like a table's)
//! ```
//!
//! A source's partitions are spread over the timely workers; each worker reads its
//! partitions, decodes records, keeps the upsert state of the keys it owns, and
//! emits changes at the engine's current input time. A record the source cannot
//! decode becomes a [`SourceError`] (readable as `vigil_source_errors`) and the
//! source goes on.
//!
//! On start a source reads its topic from the beginning (compacted topics keep the
//! latest value per key, append topics everything), and holds its output frontier
//! at the time it was created until it has read what the log held then. A read of
//! the source, or of a view over it, therefore waits for the replay and never sees a
//! half-rebuilt state: after a restart, views equal what they were.
//!
//! Offsets make replays idempotent: each worker remembers the next offset of each of
//! its partitions and skips anything before it.

mod envelope;
pub mod json;
mod operator;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use vigil_changelog::{ChangeLog, Offset, Partition};

pub use envelope::Envelope;
pub(crate) use operator::render_source;

use self::json::JsonFormat;

/// Everything a worker needs to read a source.
#[derive(Clone)]
pub struct SourceSpec {
    pub topic: String,
    pub log: Arc<dyn ChangeLog>,
    /// The topic's partitions, as the coordinator found them at creation.
    pub partitions: u32,
    pub format: JsonFormat,
    pub envelope: Envelope,
    /// Counters the workers update and `vigil_sources` reads.
    pub status: Arc<SourceStatus>,
}

/// A source's progress, shared by the workers reading it.
#[derive(Debug, Default)]
pub struct SourceStatus {
    partitions: Mutex<BTreeMap<Partition, PartitionStatus>>,
    /// Workers still replaying what the log held when the source started.
    pub replaying: AtomicU64,
    /// Workers whose last read filled a whole batch: more is waiting in the log.
    pub backlogged: AtomicU64,
    /// The last problem reading the log (unreachable broker, missing topic), if any.
    problem: Mutex<Option<String>>,
    /// Woken whenever a worker has read further.
    advanced: tokio::sync::Notify,
}

/// What one partition's reader has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The next offset the reader will read.
    pub next_offset: Offset,
    /// Records read, decoded or not.
    pub records: u64,
    /// Bytes of keys and values read.
    pub bytes: u64,
    /// Records that did not decode.
    pub errors: u64,
    /// Append time of the newest record read, milliseconds since the Unix epoch.
    pub last_event_ms: Option<i64>,
}

impl SourceStatus {
    pub fn partitions(&self) -> BTreeMap<Partition, PartitionStatus> {
        lock(&self.partitions).clone()
    }

    /// Returns once every partition in `needed` has been read up to (not including)
    /// its offset: what a writer waits for before its records count in views.
    pub async fn read_through(&self, needed: &BTreeMap<Partition, Offset>) {
        loop {
            // Registered before the check, so an update between the two still wakes.
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            let caught_up = {
                let read = lock(&self.partitions);
                needed.iter().all(|(partition, next)| {
                    read.get(partition).is_some_and(|p| p.next_offset >= *next)
                })
            };
            if caught_up {
                return;
            }
            advanced.await;
        }
    }

    pub fn problem(&self) -> Option<String> {
        lock(&self.problem).clone()
    }

    /// Adds what a worker read from its partitions in one batch.
    fn update(&self, read: &BTreeMap<Partition, PartitionStatus>) {
        let mut partitions = lock(&self.partitions);
        for (partition, batch) in read {
            let total = partitions.entry(*partition).or_default();
            total.next_offset = total.next_offset.max(batch.next_offset);
            total.records += batch.records;
            total.bytes += batch.bytes;
            total.errors += batch.errors;
            total.last_event_ms = total.last_event_ms.max(batch.last_event_ms);
        }
        drop(partitions);
        self.advanced.notify_waiters();
    }

    fn set_problem(&self, problem: Option<String>) {
        *lock(&self.problem) = problem;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A record a source could not turn into a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceError {
    /// When the record was read, milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub source: String,
    pub partition: Partition,
    pub offset: Offset,
    /// The record key, as text, shortened.
    pub key: Option<String>,
    /// The start of the record value, as text.
    pub payload: Option<String>,
    pub message: String,
}

/// Records that sources could not decode, newest last, bounded in size.
#[derive(Clone, Debug, Default)]
pub struct SourceErrorLog {
    inner: Arc<Mutex<VecDeque<SourceError>>>,
}

/// The newest source errors kept; older ones are forgotten first.
const SOURCE_ERROR_CAPACITY: usize = 10_000;

/// How much of a bad record's payload an error keeps.
const EXCERPT_CHARS: usize = 200;

impl SourceErrorLog {
    fn push(&self, error: SourceError) {
        tracing::warn!(
            source = %error.source,
            partition = error.partition,
            offset = error.offset,
            message = %error.message,
            "record skipped"
        );
        let mut errors = lock(&self.inner);
        if errors.len() >= SOURCE_ERROR_CAPACITY {
            errors.pop_front();
        }
        errors.push_back(error);
    }

    pub fn snapshot(&self) -> Vec<SourceError> {
        lock(&self.inner).iter().cloned().collect()
    }

    /// Forgets the errors of a dropped source.
    pub fn remove_source(&self, source: &str) {
        lock(&self.inner).retain(|e| e.source != source);
    }
}

/// The start of `bytes` as text, for error reports.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}
