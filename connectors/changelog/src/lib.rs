//! The change log: durable, partitioned, offset-addressed topics of keyed change
//! events, between the connectors that publish them and the engine's sources that
//! read them.
//!
//! ```text
//!  connectors, `vigil publish`, sinks ──publish──▶ ChangeLog ──reader──▶ engine sources
//!                                                 ├─ EmbeddedLog (redb, the default)
//!                                                 └─ KafkaLog (rdkafka, `--kafka`)
//! ```
//!
//! A topic has a fixed number of partitions. A record's partition follows from its
//! key, so every change to one key lands in one partition, in order; offsets count up
//! from 0 within a partition and never repeat. A reader starts at given offsets and
//! returns records in offset order per partition, so a consumer that remembers the
//! next offset of each partition can skip what it has seen and replay the rest.
//!
//! [`Retention::Compact`] keeps the latest record per key (a null value is a
//! tombstone that deletes the key); [`Retention::All`] keeps every record. Both
//! backends implement [`ChangeLog`], so the engine's code path is the same on both:
//!
//! - [`embedded`]: [`EmbeddedLog`], a redb file in the data directory. It is what
//!   `vigil serve` uses without a broker, so it is a real store: a publish is one
//!   durable transaction, and readers are woken when records arrive.
//! - [`kafka`]: [`KafkaLog`], topics on a Kafka cluster through librdkafka. Readers are
//!   polled; Kafka compacts on its own schedule, so a replay may still hold older
//!   records of a key, which an upserting consumer folds away.
//!
//! Topic names follow Kafka's rule on both backends ([`validate_topic_name`]), so a
//! deployment can move from one to the other without renaming.

pub mod embedded;
pub mod kafka;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use embedded::EmbeddedLog;
pub use kafka::KafkaLog;

/// A partition of a topic.
pub type Partition = u32;

/// A record's position within its partition.
pub type Offset = u64;

/// A record as read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: Partition,
    pub offset: Offset,
    /// The entity the record is about; `None` for keyless (append-only) records.
    pub key: Option<Vec<u8>>,
    /// The new value; `None` is a tombstone, deleting the key.
    pub value: Option<Vec<u8>>,
    /// When the record was appended, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// A record to append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// What a topic keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Every record.
    All,
    /// The latest record per key (Kafka's `cleanup.policy=compact`).
    Compact,
}

/// How to create a topic that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub partitions: u32,
    pub retention: Retention,
}

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec {
            partitions: 1,
            retention: Retention::All,
        }
    }
}

/// Errors from either backend.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("topic \"{0}\" does not exist")]
    UnknownTopic(String),
    #[error("invalid topic name \"{0}\": use 1 to 249 letters, digits, '.', '_' or '-'")]
    InvalidTopicName(String),
    #[error("topic \"{topic}\" has no partition {partition}")]
    UnknownPartition { topic: String, partition: Partition },
    #[error("invalid partition count {0}: a topic has 1 to {MAX_PARTITIONS} partitions")]
    InvalidPartitionCount(u32),
    #[error("topic \"{0}\" is compacted, so every record needs a key")]
    MissingKey(String),
    #[error("embedded log storage error: {0}")]
    Storage(String),
    #[error("kafka error: {0}")]
    Kafka(String),
}

/// Called, from any thread, when new records may be readable.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A durable, partitioned log of keyed records.
pub trait ChangeLog: Send + Sync + 'static {
    /// Where the log lives, for messages and `vigil_sources`.
    fn describe(&self) -> String;

    /// Creates `topic` if it does not exist and returns its partition count. An
    /// existing topic keeps its partitions; asking for [`Retention::All`] on a
    /// compacted embedded topic stops its compaction, so nothing a reader needs is lost.
    /// The other way round is not done: asking for [`Retention::Compact`] on a topic
    /// that keeps everything leaves it keeping everything, because compacting it would
    /// delete records that someone chose to keep. On Kafka an existing topic's
    /// configuration is left to its operators.
    fn ensure_topic(&self, topic: &str, spec: &TopicSpec) -> Result<u32, LogError>;

    /// The partition count of an existing topic.
    fn partitions(&self, topic: &str) -> Result<u32, LogError>;

    /// Appends `messages`, each to the partition its key hashes to (keyless ones
    /// spread over partitions), and returns where each landed, in the order given.
    /// Durable on return. A topic that does not exist is created with
    /// [`TopicSpec::default`]; a compacted topic refuses keyless messages
    /// ([`LogError::MissingKey`]). The embedded log appends a batch atomically; Kafka's
    /// idempotent producer does not, so a failed batch may be partly appended there.
    fn publish(
        &self,
        topic: &str,
        messages: &[Message<'_>],
    ) -> Result<Vec<(Partition, Offset)>, LogError>;

    /// Per partition, the offset the next appended record will get.
    fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>, LogError>;

    /// A reader over some partitions of `topic`, each starting at its offset. A
    /// partition listed twice is read once, from the offset listed last.
    fn reader(
        &self,
        topic: &str,
        start: &[(Partition, Offset)],
    ) -> Result<Box<dyn LogReader>, LogError>;
}

/// Reads records from some partitions of one topic.
pub trait LogReader: Send {
    /// Appends up to `max` readable records to `out` without blocking, in offset
    /// order within each partition.
    fn poll(&mut self, max: usize, out: &mut Vec<Record>) -> Result<(), LogError>;

    /// Per assigned partition, the offset of the next record this reader would
    /// return. Once a poll has returned everything up to a partition's end, its
    /// position is at least that end offset, even where compaction left gaps; so a
    /// reader has caught up with a snapshot of [`ChangeLog::end_offsets`] when every
    /// position has reached it.
    fn positions(&self) -> Vec<(Partition, Offset)>;

    /// Asks to be woken when records arrive. Returns false if this reader cannot tell,
    /// in which case the caller polls periodically.
    fn set_waker(&mut self, waker: Waker) -> bool;
}

/// The most partitions a topic may have: far more than a Vigil deployment uses, and
/// low enough that a per-partition vector of offsets stays small.
pub const MAX_PARTITIONS: u32 = 100_000;

/// Checks a topic name against Kafka's rule: 1 to 249 of `[A-Za-z0-9._-]`, and not
/// `.` or `..`.
pub fn validate_topic_name(topic: &str) -> Result<(), LogError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty()
        || topic.len() > 249
        || topic == "."
        || topic == ".."
        || !topic.chars().all(allowed)
    {
        return Err(LogError::InvalidTopicName(topic.to_owned()));
    }
    Ok(())
}

/// Checks what a new topic would be created with.
fn validate_spec(spec: &TopicSpec) -> Result<(), LogError> {
    if spec.partitions == 0 || spec.partitions > MAX_PARTITIONS {
        return Err(LogError::InvalidPartitionCount(spec.partitions));
    }
    Ok(())
}

/// The partitions a reader is asked for, each once (the offset listed last wins), in
/// partition order, checked against the topic's partition count.
fn assignment(
    topic: &str,
    partitions: u32,
    start: &[(Partition, Offset)],
) -> Result<Vec<(Partition, Offset)>, LogError> {
    let mut by_partition = BTreeMap::new();
    for &(partition, offset) in start {
        if partition >= partitions {
            return Err(LogError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            });
        }
        by_partition.insert(partition, offset);
    }
    Ok(by_partition.into_iter().collect())
}

/// Milliseconds since the Unix epoch, for records that carry no time of their own.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka() {
        for good in ["jira.issues", "a", "A-b_c.9", &"x".repeat(249)] {
            assert!(validate_topic_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "has space", "slash/y", "ü", &"x".repeat(250)] {
            assert!(
                matches!(validate_topic_name(bad), Err(LogError::InvalidTopicName(name)) if name == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn partition_counts_are_bounded() {
        for partitions in [0, MAX_PARTITIONS + 1] {
            let spec = TopicSpec {
                partitions,
                retention: Retention::All,
            };
            assert!(matches!(
                validate_spec(&spec),
                Err(LogError::InvalidPartitionCount(n)) if n == partitions
            ));
        }
        assert!(validate_spec(&TopicSpec::default()).is_ok());
        assert_eq!(
            LogError::InvalidPartitionCount(0).to_string(),
            "invalid partition count 0: a topic has 1 to 100000 partitions"
        );
    }

    #[test]
    fn assignment_dedupes_and_checks_partitions() {
        let assigned = assignment("t", 3, &[(2, 5), (0, 1), (2, 7)]).expect("valid");
        assert_eq!(assigned, vec![(0, 1), (2, 7)]);
        assert!(matches!(
            assignment("t", 3, &[(3, 0)]),
            Err(LogError::UnknownPartition { partition: 3, .. })
        ));
    }
}
