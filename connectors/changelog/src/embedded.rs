//! [`EmbeddedLog`]: the change log in one redb file, for running without a broker.
//!
//! redb gives ACID transactions with immediate durability by default, so a publish is
//! one write transaction that is on disk when it returns, and a reader's poll is one
//! read transaction that sees a consistent snapshot of records and end offsets. The
//! file lives at `<dir>/changelog.redb`; redb locks it, so a second server on the same
//! directory gets a clear error instead of corrupting it.
//!
//! ```text
//!  topics         name                        -> partitions, retention
//!  end_offsets    (topic, partition)          -> next offset
//!  records        (topic, partition, offset)  -> key, value, timestamp
//!  latest_by_key  (topic, partition, key)     -> offset of the key's latest record
//! ```
//!
//! `latest_by_key` exists only for compacted topics: appending a keyed record deletes
//! the record its key pointed to, so compaction happens as records arrive, and a
//! partition's newest record is never deleted. Readers range-scan `records`, so gaps
//! left by compaction cost nothing.
//!
//! Readers hold a slot for their waker; the log keeps weak references to the slots per
//! topic and calls the wakers after each committed publish, so a dropped reader is
//! simply skipped (and pruned).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use crate::{
    ChangeLog, LogError, LogReader, Message, Offset, Partition, Record, Retention, TopicSpec,
    Waker, assignment, now_ms, validate_spec, validate_topic_name,
};

/// The file inside the log's directory.
const FILE_NAME: &str = "changelog.redb";

// Table names carry a format version, so a later layout can live beside this one while
// it migrates.
const TOPICS: TableDefinition<&str, &[u8]> = TableDefinition::new("topics.v1");
const END_OFFSETS: TableDefinition<(&str, u32), u64> = TableDefinition::new("end_offsets.v1");
const RECORDS: TableDefinition<(&str, u32, u64), &[u8]> = TableDefinition::new("records.v1");
const LATEST_BY_KEY: TableDefinition<(&str, u32, &[u8]), u64> =
    TableDefinition::new("latest_by_key.v1");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum StoredRetention {
    All,
    Compact,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct TopicMeta {
    partitions: u32,
    retention: StoredRetention,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredRecord<'a> {
    #[serde(borrow)]
    key: Option<&'a [u8]>,
    #[serde(borrow)]
    value: Option<&'a [u8]>,
    timestamp_ms: i64,
}

/// A reader's waker, filled in by [`LogReader::set_waker`].
type WakerSlot = Mutex<Option<Waker>>;

/// The durable change log of `vigil serve` when no Kafka brokers are configured.
///
/// Cheap to share: wrap it in an `Arc` and use it from any thread. Readers keep the
/// database open, so the file is released when the log and all its readers are dropped.
pub struct EmbeddedLog {
    shared: Arc<Shared>,
}

struct Shared {
    db: Database,
    path: PathBuf,
    /// Per topic, the waker slots of readers that asked to be woken.
    wakers: Mutex<HashMap<String, Vec<Weak<WakerSlot>>>>,
    /// Spreads keyless records over partitions; it needs no durability.
    round_robin: AtomicU32,
}

impl EmbeddedLog {
    /// Opens the log in `dir`, creating the directory and the file if needed.
    ///
    /// Fails with [`LogError::Storage`] if another process (or another `EmbeddedLog` in
    /// this one) has the log open.
    pub fn open(dir: &Path) -> Result<EmbeddedLog, LogError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            LogError::Storage(format!("cannot create directory {}: {e}", dir.display()))
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => LogError::Storage(format!(
                "change log {} is in use by another process; \
                 hint: stop the other vigil server or use another data directory",
                path.display()
            )),
            other => LogError::Storage(format!("cannot open {}: {other}", path.display())),
        })?;
        // Creating every table up front lets read transactions open them unconditionally.
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(TOPICS).map_err(storage)?;
        txn.open_table(END_OFFSETS).map_err(storage)?;
        txn.open_table(RECORDS).map_err(storage)?;
        txn.open_table(LATEST_BY_KEY).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(EmbeddedLog {
            shared: Arc::new(Shared {
                db,
                path,
                wakers: Mutex::new(HashMap::new()),
                round_robin: AtomicU32::new(0),
            }),
        })
    }

    /// The redb file the log lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    fn begin_read(&self) -> Result<ReadTransaction, LogError> {
        self.shared.db.begin_read().map_err(storage)
    }

    fn begin_write(&self) -> Result<WriteTransaction, LogError> {
        self.shared.db.begin_write().map_err(storage)
    }

    /// The topic's metadata, or [`LogError::UnknownTopic`].
    fn existing_topic(&self, topic: &str) -> Result<TopicMeta, LogError> {
        validate_topic_name(topic)?;
        let txn = self.begin_read()?;
        let topics = txn.open_table(TOPICS).map_err(storage)?;
        read_meta(&topics, topic)?.ok_or_else(|| LogError::UnknownTopic(topic.to_owned()))
    }

    /// Calls the wakers of the topic's live readers, pruning dropped ones.
    fn wake(&self, topic: &str) {
        let wakers: Vec<Waker> = {
            let mut registry = lock(&self.shared.wakers);
            let Some(slots) = registry.get_mut(topic) else {
                return;
            };
            slots.retain(|slot| slot.strong_count() > 0);
            let wakers = slots
                .iter()
                .filter_map(Weak::upgrade)
                .filter_map(|slot| lock(&slot).clone())
                .collect();
            if slots.is_empty() {
                registry.remove(topic);
            }
            wakers
        };
        // Outside the lock: a waker may well create a reader or publish.
        for waker in wakers {
            waker();
        }
    }

    fn register_waker_slot(&self, topic: &str, slot: &Arc<WakerSlot>) {
        let mut registry = lock(&self.shared.wakers);
        let slots = registry.entry(topic.to_owned()).or_default();
        slots.retain(|slot| slot.strong_count() > 0);
        slots.push(Arc::downgrade(slot));
    }

    fn partition_for(&self, key: Option<&[u8]>, partitions: u32) -> Partition {
        match key {
            Some(key) => {
                let hash = fnv1a(key) % u64::from(partitions);
                // The remainder is below `partitions`, a u32.
                u32::try_from(hash).unwrap_or(0)
            }
            None => self.shared.round_robin.fetch_add(1, Ordering::Relaxed) % partitions,
        }
    }
}

impl ChangeLog for EmbeddedLog {
    fn describe(&self) -> String {
        format!("embedded log at {}", self.shared.path.display())
    }

    fn ensure_topic(&self, topic: &str, spec: &TopicSpec) -> Result<u32, LogError> {
        validate_topic_name(topic)?;
        validate_spec(spec)?;
        // Most calls find the topic as wanted; they need no write transaction.
        {
            let txn = self.begin_read()?;
            let topics = txn.open_table(TOPICS).map_err(storage)?;
            if let Some(meta) = read_meta(&topics, topic)?
                && !needs_uncompacting(&meta, spec)
            {
                return Ok(meta.partitions);
            }
        }
        let txn = self.begin_write()?;
        let partitions = {
            let mut topics = txn.open_table(TOPICS).map_err(storage)?;
            match read_meta(&topics, topic)? {
                Some(meta) if needs_uncompacting(&meta, spec) => {
                    let meta = TopicMeta {
                        retention: StoredRetention::All,
                        ..meta
                    };
                    write_meta(&mut topics, topic, &meta)?;
                    // The index is only for compaction; without it nothing is deleted.
                    let mut latest = txn.open_table(LATEST_BY_KEY).map_err(storage)?;
                    let empty: &[u8] = &[];
                    latest
                        .retain_in(
                            (topic, 0, empty)..(topic, meta.partitions, empty),
                            |_, _| false,
                        )
                        .map_err(storage)?;
                    meta.partitions
                }
                Some(meta) => meta.partitions,
                None => {
                    write_meta(&mut topics, topic, &TopicMeta::from(spec))?;
                    spec.partitions
                }
            }
        };
        txn.commit().map_err(storage)?;
        Ok(partitions)
    }

    fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        Ok(self.existing_topic(topic)?.partitions)
    }

    fn publish(
        &self,
        topic: &str,
        messages: &[Message<'_>],
    ) -> Result<Vec<(Partition, Offset)>, LogError> {
        validate_topic_name(topic)?;
        let timestamp_ms = now_ms();
        let txn = self.begin_write()?;
        let landed = {
            let mut topics = txn.open_table(TOPICS).map_err(storage)?;
            let meta = match read_meta(&topics, topic)? {
                Some(meta) => meta,
                None => {
                    let meta = TopicMeta::from(&TopicSpec::default());
                    write_meta(&mut topics, topic, &meta)?;
                    meta
                }
            };
            let compact = meta.retention == StoredRetention::Compact;
            if compact && messages.iter().any(|m| m.key.is_none()) {
                // Dropping `txn` aborts it, so the batch is refused whole.
                return Err(LogError::MissingKey(topic.to_owned()));
            }
            let mut end_offsets = txn.open_table(END_OFFSETS).map_err(storage)?;
            let mut records = txn.open_table(RECORDS).map_err(storage)?;
            let mut latest = txn.open_table(LATEST_BY_KEY).map_err(storage)?;
            let mut next: BTreeMap<Partition, Offset> = BTreeMap::new();
            let mut landed = Vec::with_capacity(messages.len());
            for message in messages {
                let partition = self.partition_for(message.key, meta.partitions);
                let offset = match next.get(&partition) {
                    Some(&offset) => offset,
                    None => end_offsets
                        .get((topic, partition))
                        .map_err(storage)?
                        .map_or(0, |guard| guard.value()),
                };
                let stored = StoredRecord {
                    key: message.key,
                    value: message.value,
                    timestamp_ms,
                };
                let bytes = postcard::to_allocvec(&stored).map_err(storage)?;
                records
                    .insert((topic, partition, offset), bytes.as_slice())
                    .map_err(storage)?;
                if compact && let Some(key) = message.key {
                    let previous = latest
                        .insert((topic, partition, key), offset)
                        .map_err(storage)?
                        .map(|guard| guard.value());
                    if let Some(previous) = previous {
                        records
                            .remove((topic, partition, previous))
                            .map_err(storage)?;
                    }
                }
                next.insert(partition, offset + 1);
                landed.push((partition, offset));
            }
            for (partition, offset) in next {
                end_offsets
                    .insert((topic, partition), offset)
                    .map_err(storage)?;
            }
            landed
        };
        txn.commit().map_err(storage)?;
        self.wake(topic);
        Ok(landed)
    }

    fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>, LogError> {
        validate_topic_name(topic)?;
        let txn = self.begin_read()?;
        let topics = txn.open_table(TOPICS).map_err(storage)?;
        let meta =
            read_meta(&topics, topic)?.ok_or_else(|| LogError::UnknownTopic(topic.to_owned()))?;
        let end_offsets = txn.open_table(END_OFFSETS).map_err(storage)?;
        (0..meta.partitions)
            .map(|partition| end_offset(&end_offsets, topic, partition))
            .collect()
    }

    fn reader(
        &self,
        topic: &str,
        start: &[(Partition, Offset)],
    ) -> Result<Box<dyn LogReader>, LogError> {
        let meta = self.existing_topic(topic)?;
        let positions = assignment(topic, meta.partitions, start)?;
        Ok(Box::new(EmbeddedReader {
            log: EmbeddedLog {
                shared: Arc::clone(&self.shared),
            },
            topic: topic.to_owned(),
            positions,
            first: 0,
            waker: None,
        }))
    }
}

/// Reads some partitions of one topic of an [`EmbeddedLog`].
struct EmbeddedReader {
    log: EmbeddedLog,
    topic: String,
    positions: Vec<(Partition, Offset)>,
    /// The partition a poll starts with, rotated so a busy partition cannot starve the
    /// others when `max` is small.
    first: usize,
    waker: Option<Arc<WakerSlot>>,
}

impl LogReader for EmbeddedReader {
    fn poll(&mut self, max: usize, out: &mut Vec<Record>) -> Result<(), LogError> {
        let count = self.positions.len();
        if max == 0 || count == 0 {
            return Ok(());
        }
        let txn = self.log.begin_read()?;
        let end_offsets = txn.open_table(END_OFFSETS).map_err(storage)?;
        let records = txn.open_table(RECORDS).map_err(storage)?;
        let topic = self.topic.as_str();
        let mut budget = max;
        for i in 0..count {
            if budget == 0 {
                break;
            }
            let index = (self.first + i) % count;
            let (partition, position) = self.positions[index];
            let end = end_offset(&end_offsets, topic, partition)?;
            if position >= end {
                continue;
            }
            let mut next = position;
            let mut caught_up = true;
            for entry in records
                .range((topic, partition, position)..(topic, partition, end))
                .map_err(storage)?
            {
                if budget == 0 {
                    caught_up = false;
                    break;
                }
                let (key, value) = entry.map_err(storage)?;
                let offset = key.value().2;
                let stored: StoredRecord<'_> =
                    postcard::from_bytes(value.value()).map_err(|e| {
                        LogError::Storage(format!(
                            "corrupt record at {topic}/{partition}/{offset}: {e}"
                        ))
                    })?;
                out.push(Record {
                    partition,
                    offset,
                    key: stored.key.map(<[u8]>::to_vec),
                    value: stored.value.map(<[u8]>::to_vec),
                    timestamp_ms: stored.timestamp_ms,
                });
                next = offset + 1;
                budget -= 1;
            }
            // Having read to the end of this snapshot, skip any gaps compaction left.
            self.positions[index].1 = if caught_up { end } else { next };
        }
        self.first = (self.first + 1) % count;
        Ok(())
    }

    fn positions(&self) -> Vec<(Partition, Offset)> {
        self.positions.clone()
    }

    fn set_waker(&mut self, waker: Waker) -> bool {
        match &self.waker {
            Some(slot) => *lock(slot) = Some(waker),
            None => {
                let slot = Arc::new(Mutex::new(Some(waker)));
                self.log.register_waker_slot(&self.topic, &slot);
                self.waker = Some(slot);
            }
        }
        true
    }
}

impl From<&TopicSpec> for TopicMeta {
    fn from(spec: &TopicSpec) -> Self {
        TopicMeta {
            partitions: spec.partitions,
            retention: match spec.retention {
                Retention::All => StoredRetention::All,
                Retention::Compact => StoredRetention::Compact,
            },
        }
    }
}

/// Whether `spec` asks a compacted topic to keep everything from now on.
fn needs_uncompacting(meta: &TopicMeta, spec: &TopicSpec) -> bool {
    meta.retention == StoredRetention::Compact && spec.retention == Retention::All
}

fn read_meta(
    topics: &impl ReadableTable<&'static str, &'static [u8]>,
    topic: &str,
) -> Result<Option<TopicMeta>, LogError> {
    let Some(guard) = topics.get(topic).map_err(storage)? else {
        return Ok(None);
    };
    postcard::from_bytes(guard.value())
        .map(Some)
        .map_err(|e| LogError::Storage(format!("corrupt metadata of topic \"{topic}\": {e}")))
}

fn write_meta(
    topics: &mut redb::Table<'_, &'static str, &'static [u8]>,
    topic: &str,
    meta: &TopicMeta,
) -> Result<(), LogError> {
    let bytes = postcard::to_allocvec(meta).map_err(storage)?;
    topics.insert(topic, bytes.as_slice()).map_err(storage)?;
    Ok(())
}

fn end_offset(
    end_offsets: &impl ReadableTable<(&'static str, u32), u64>,
    topic: &str,
    partition: Partition,
) -> Result<Offset, LogError> {
    Ok(end_offsets
        .get((topic, partition))
        .map_err(storage)?
        .map_or(0, |guard| guard.value()))
}

/// 64-bit FNV-1a: stable across processes and versions, unlike std's seeded hasher, so
/// a key keeps its partition when the server restarts.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

fn storage(error: impl Display) -> LogError {
    LogError::Storage(error.to_string())
}

/// Locks a mutex whose data stays valid even if a holder panicked (wakers are plain
/// values and the registry only holds weak references).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
