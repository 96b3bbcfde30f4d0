//! [`KafkaLog`]: the change log on a Kafka cluster, through librdkafka.
//!
//! ```text
//!  publish ──FutureProducer (idempotent, acks=all)──▶ brokers ──BaseConsumer (assign)──▶ reader
//!  ensure_topic ──AdminClient CreateTopics──▶ brokers      end_offsets ◀── high watermarks
//! ```
//!
//! Publishing blocks until the brokers acknowledged every message, so it is durable on
//! return like the embedded log. Partitions come from librdkafka's default partitioner
//! (a hash of the key; keyless messages spread), so Vigil and other Kafka producers
//! agree on where a key lives.
//!
//! A reader is a consumer that assigns itself the partitions it was given and never
//! commits offsets: the engine, not a consumer group, remembers how far it read. It
//! asks for end-of-partition events, and on one it raises the partition's position to
//! the high watermark, because compaction, expired tombstones and transaction markers
//! leave offsets no record is returned for. Kafka has no notification a reader could
//! wake on, so [`LogReader::set_waker`] returns false and callers poll.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Display;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message as _, TopicPartitionList};

use crate::{
    ChangeLog, LogError, LogReader, Message, Offset, Partition, Record, Retention, TopicSpec,
    Waker, assignment, now_ms, validate_spec, validate_topic_name,
};

/// How long a metadata or watermark request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a created topic may take to show in metadata, and the broker to create it.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a message may wait for the brokers before its publish fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// A reader's watermark request must not hold up the engine's poll for long; a failed
/// one is retried on a later poll.
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(1);
/// A partition that keeps reaching its end (a topic receiving a trickle) asks the broker
/// for its watermark at most this often.
const WATERMARK_INTERVAL: Duration = Duration::from_millis(100);
/// Readers assign partitions and never commit, so they share a group id that holds no
/// offsets; it is only there because librdkafka's consumer wants one.
const READER_GROUP: &str = "vigil-changelog-reader";

/// Topics on a Kafka cluster, as a [`ChangeLog`].
pub struct KafkaLog {
    brokers: String,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Topics this log has seen exist, so publishing skips the metadata request.
    known: Mutex<HashSet<String>>,
}

/// What metadata says about one topic.
enum TopicState {
    Missing,
    Present { partitions: u32 },
}

impl KafkaLog {
    /// Connects to the cluster at `brokers` (`host:port[,host:port…]`) and checks that it
    /// answers.
    pub fn connect(brokers: &str) -> Result<KafkaLog, LogError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Topics are created by `ensure_topic`, with the partitions asked for, never
            // by the broker's defaults as a side effect of a metadata request.
            .set("allow.auto.create.topics", "false")
            .set("message.timeout.ms", millis(DELIVERY_TIMEOUT))
            .create()
            .map_err(|e| LogError::Kafka(format!("cannot create producer for {brokers}: {e}")))?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()
            .map_err(|e| {
                LogError::Kafka(format!("cannot create admin client for {brokers}: {e}"))
            })?;
        producer
            .client()
            .fetch_metadata(None, METADATA_TIMEOUT)
            .map_err(|e| LogError::Kafka(format!("cannot reach brokers {brokers}: {e}")))?;
        Ok(KafkaLog {
            brokers: brokers.to_owned(),
            producer,
            admin,
            known: Mutex::new(HashSet::new()),
        })
    }

    fn topic_state(&self, topic: &str) -> Result<TopicState, LogError> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(|e| {
                LogError::Kafka(format!("cannot read metadata of topic \"{topic}\": {e}"))
            })?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(TopicState::Missing);
        };
        match found.error() {
            None if !found.partitions().is_empty() => Ok(TopicState::Present {
                partitions: partition_count(found.partitions().len())?,
            }),
            None | Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                Ok(TopicState::Missing)
            }
            Some(error) => Err(LogError::Kafka(format!(
                "metadata of topic \"{topic}\": {}",
                RDKafkaErrorCode::from(error)
            ))),
        }
    }

    /// The partition count of a topic that must exist.
    fn existing_topic(&self, topic: &str) -> Result<u32, LogError> {
        validate_topic_name(topic)?;
        match self.topic_state(topic)? {
            TopicState::Present { partitions } => {
                lock(&self.known).insert(topic.to_owned());
                Ok(partitions)
            }
            TopicState::Missing => Err(LogError::UnknownTopic(topic.to_owned())),
        }
    }

    fn create_topic(&self, topic: &str, spec: &TopicSpec) -> Result<(), LogError> {
        let partitions = i32::try_from(spec.partitions)
            .map_err(|_| LogError::InvalidPartitionCount(spec.partitions))?;
        // -1: the broker's default replication factor.
        let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
        if spec.retention == Retention::Compact {
            new_topic = new_topic.set("cleanup.policy", "compact");
        }
        let options = AdminOptions::new()
            .request_timeout(Some(CREATE_TIMEOUT))
            .operation_timeout(Some(CREATE_TIMEOUT));
        let results = block_on(self.admin.create_topics([&new_topic], &options))
            .map_err(|e| LogError::Kafka(format!("cannot create topic \"{topic}\": {e}")))?;
        for result in results {
            match result {
                // Another process may have won the race; the topic exists either way.
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(LogError::Kafka(format!(
                        "cannot create topic \"{name}\": {code}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Enqueues one message, waiting while the producer's queue is full.
    fn enqueue<'a>(
        &self,
        mut record: FutureRecord<'a, [u8], [u8]>,
    ) -> Result<DeliveryFuture, LogError> {
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                    if Instant::now() < deadline =>
                {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, returned)) => {
                    return Err(LogError::Kafka(format!(
                        "cannot publish to topic \"{}\": {error}",
                        returned.topic
                    )));
                }
            }
        }
    }
}

impl ChangeLog for KafkaLog {
    fn describe(&self) -> String {
        format!("kafka at {}", self.brokers)
    }

    fn ensure_topic(&self, topic: &str, spec: &TopicSpec) -> Result<u32, LogError> {
        validate_topic_name(topic)?;
        validate_spec(spec)?;
        // Looking first spares the CreateTopics request (and the ACL it needs) for topics
        // an operator created.
        if let TopicState::Present { partitions } = self.topic_state(topic)? {
            lock(&self.known).insert(topic.to_owned());
            return Ok(partitions);
        }
        self.create_topic(topic, spec)?;
        // Metadata lags creation on a real cluster.
        let deadline = Instant::now() + CREATE_TIMEOUT;
        loop {
            let state = self.topic_state(topic);
            match state {
                Ok(TopicState::Present { partitions }) => {
                    lock(&self.known).insert(topic.to_owned());
                    return Ok(partitions);
                }
                Ok(TopicState::Missing) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok(TopicState::Missing) => {
                    return Err(LogError::Kafka(format!(
                        "topic \"{topic}\" was created but is not in the metadata after {}s",
                        CREATE_TIMEOUT.as_secs()
                    )));
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        self.existing_topic(topic)
    }

    fn publish(
        &self,
        topic: &str,
        messages: &[Message<'_>],
    ) -> Result<Vec<(Partition, Offset)>, LogError> {
        validate_topic_name(topic)?;
        if !lock(&self.known).contains(topic) {
            self.ensure_topic(topic, &TopicSpec::default())?;
        }
        let mut deliveries = Vec::with_capacity(messages.len());
        for message in messages {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic);
            record.key = message.key;
            record.payload = message.value;
            deliveries.push(self.enqueue(record)?);
        }
        block_on(join_all(deliveries))
            .into_iter()
            .map(|delivered| match delivered {
                Ok(Ok(delivery)) => Ok((
                    from_kafka_partition(delivery.partition)?,
                    from_kafka_offset(delivery.offset)?,
                )),
                Ok(Err((error, _))) => Err(LogError::Kafka(format!(
                    "cannot publish to topic \"{topic}\": {error}"
                ))),
                Err(_canceled) => Err(LogError::Kafka(format!(
                    "cannot publish to topic \"{topic}\": the producer shut down before delivery"
                ))),
            })
            .collect()
    }

    fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>, LogError> {
        let partitions = self.existing_topic(topic)?;
        (0..partitions)
            .map(|partition| {
                let (_low, high) = self
                    .producer
                    .client()
                    .fetch_watermarks(topic, to_kafka_partition(partition)?, METADATA_TIMEOUT)
                    .map_err(|e| {
                        LogError::Kafka(format!("cannot read the end of {topic}/{partition}: {e}"))
                    })?;
                from_kafka_offset(high)
            })
            .collect()
    }

    fn reader(
        &self,
        topic: &str,
        start: &[(Partition, Offset)],
    ) -> Result<Box<dyn LogReader>, LogError> {
        let partitions = self.existing_topic(topic)?;
        let positions = assignment(topic, partitions, start)?;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", READER_GROUP)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // A start offset that retention already deleted reads from the oldest record
            // left, which is what replaying from there means.
            .set("auto.offset.reset", "earliest")
            .set("allow.auto.create.topics", "false")
            .create()
            .map_err(|e| LogError::Kafka(format!("cannot create consumer: {e}")))?;
        let mut assigned = TopicPartitionList::new();
        for &(partition, offset) in &positions {
            assigned
                .add_partition_offset(
                    topic,
                    to_kafka_partition(partition)?,
                    rdkafka::Offset::Offset(to_kafka_offset(offset)?),
                )
                .map_err(kafka)?;
        }
        consumer.assign(&assigned).map_err(kafka)?;
        Ok(Box::new(KafkaReader {
            consumer,
            topic: topic.to_owned(),
            positions: positions.into_iter().collect(),
            at_end: BTreeSet::new(),
            asked: BTreeMap::new(),
        }))
    }
}

/// Reads some partitions of one topic from Kafka.
struct KafkaReader {
    consumer: BaseConsumer,
    topic: String,
    positions: BTreeMap<Partition, Offset>,
    /// Partitions that reported reaching their end and whose position may still have
    /// to skip offsets that hold no record.
    at_end: BTreeSet<Partition>,
    /// When each partition's watermark was last asked for.
    asked: BTreeMap<Partition, Instant>,
}

impl KafkaReader {
    /// Raises the position of each partition that reached its end to the partition's
    /// high watermark.
    ///
    /// rust-rdkafka's end-of-partition event does not carry the offset it was raised at,
    /// so this asks the broker, after the queue was drained: everything fetched before
    /// the event has been returned by then. A record appended between the event and the
    /// answer can still be counted as read a moment before it is returned; the next
    /// poll returns it.
    fn settle_ends(&mut self) {
        let now = Instant::now();
        let due: Vec<Partition> = self
            .at_end
            .iter()
            .copied()
            .filter(|partition| {
                self.asked
                    .get(partition)
                    .is_none_or(|&asked| now.duration_since(asked) >= WATERMARK_INTERVAL)
            })
            .collect();
        for partition in due {
            self.asked.insert(partition, now);
            let Ok(kafka_partition) = to_kafka_partition(partition) else {
                self.at_end.remove(&partition);
                continue;
            };
            match self
                .consumer
                .fetch_watermarks(&self.topic, kafka_partition, WATERMARK_TIMEOUT)
            {
                Ok((_low, high)) => {
                    if let Ok(high) = from_kafka_offset(high)
                        && let Some(position) = self.positions.get_mut(&partition)
                    {
                        *position = (*position).max(high);
                    }
                    self.at_end.remove(&partition);
                }
                Err(error) => tracing::warn!(
                    topic = %self.topic,
                    partition,
                    %error,
                    "cannot read the partition's high watermark; will ask again"
                ),
            }
        }
    }
}

impl LogReader for KafkaReader {
    fn poll(&mut self, max: usize, out: &mut Vec<Record>) -> Result<(), LogError> {
        let mut taken = 0;
        let mut drained = false;
        while taken < max {
            match self.consumer.poll(Duration::ZERO) {
                None => {
                    drained = true;
                    break;
                }
                Some(Ok(message)) => {
                    let record = to_record(&message)?;
                    // The next record's offset, even if a reset moved the consumer back.
                    self.positions.insert(record.partition, record.offset + 1);
                    out.push(record);
                    taken += 1;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    if let Ok(partition) = from_kafka_partition(partition) {
                        self.at_end.insert(partition);
                    }
                }
                Some(Err(KafkaError::MessageConsumption(code))) if is_transient(code) => {
                    // librdkafka retries these itself; the engine keeps what was read.
                    tracing::warn!(topic = %self.topic, error = %code, "kafka reader: transient error");
                    break;
                }
                Some(Err(error)) => {
                    return Err(LogError::Kafka(format!(
                        "cannot read topic \"{}\": {error}",
                        self.topic
                    )));
                }
            }
        }
        if drained && !self.at_end.is_empty() {
            self.settle_ends();
        }
        Ok(())
    }

    fn positions(&self) -> Vec<(Partition, Offset)> {
        self.positions.iter().map(|(&p, &o)| (p, o)).collect()
    }

    fn set_waker(&mut self, _waker: Waker) -> bool {
        false
    }
}

fn to_record(message: &BorrowedMessage<'_>) -> Result<Record, LogError> {
    Ok(Record {
        partition: from_kafka_partition(message.partition())?,
        offset: from_kafka_offset(message.offset())?,
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        timestamp_ms: message.timestamp().to_millis().unwrap_or_else(now_ms),
    })
}

/// Consumer errors that librdkafka recovers from by itself (reconnecting, finding the
/// new leader, resetting an offset) and that a reader should wait out.
fn is_transient(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::TimedOutQueue
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::ReplicaNotAvailable
            | RDKafkaErrorCode::KafkaStorageError
            | RDKafkaErrorCode::FencedLeaderEpoch
            | RDKafkaErrorCode::UnknownLeaderEpoch
            | RDKafkaErrorCode::OffsetNotAvailable
            | RDKafkaErrorCode::AutoOffsetReset
    )
}

fn partition_count(count: usize) -> Result<u32, LogError> {
    u32::try_from(count)
        .map_err(|_| LogError::Kafka(format!("the broker reported {count} partitions")))
}

fn to_kafka_partition(partition: Partition) -> Result<i32, LogError> {
    i32::try_from(partition)
        .map_err(|_| LogError::Kafka(format!("partition {partition} is beyond Kafka's range")))
}

fn from_kafka_partition(partition: i32) -> Result<Partition, LogError> {
    u32::try_from(partition)
        .map_err(|_| LogError::Kafka(format!("the broker reported partition {partition}")))
}

fn to_kafka_offset(offset: Offset) -> Result<i64, LogError> {
    i64::try_from(offset)
        .map_err(|_| LogError::Kafka(format!("offset {offset} is beyond Kafka's range")))
}

fn from_kafka_offset(offset: i64) -> Result<Offset, LogError> {
    u64::try_from(offset)
        .map_err(|_| LogError::Kafka(format!("the broker reported offset {offset}")))
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

fn kafka(error: impl Display) -> LogError {
    LogError::Kafka(error.to_string())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
