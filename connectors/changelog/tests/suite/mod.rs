//! The behaviour every [`ChangeLog`] backend owes the engine, written once and run
//! against each backend by [`changelog_suite!`].

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::{Duration, Instant};

use vigil_changelog::{
    ChangeLog, LogError, LogReader, Message, Offset, Partition, Record, Retention, TopicSpec,
};

/// A backend under test.
pub trait Backend {
    fn log(&self) -> &dyn ChangeLog;

    /// Makes `topic` exist as `spec` says and returns its partition count. Kafka's mock
    /// broker has no CreateTopics, so its backend creates topics through the mock first;
    /// either way the count comes from `ensure_topic`.
    fn create_topic(&self, topic: &str, spec: TopicSpec) -> u32;
}

/// Expands to one `#[test]` per suite function, each with a fresh backend from `$make`.
#[macro_export]
macro_rules! changelog_suite {
    ($make:expr) => {
        $crate::changelog_suite!(@tests $make;
            keys_stay_in_their_partition,
            tombstones_are_read_back,
            compacted_replay_folds_to_latest_per_key,
            readers_see_later_publishes,
            readers_start_mid_stream,
            readers_cover_only_their_partitions,
            keyless_messages_are_appended,
            unknown_topics_and_partitions_are_errors,
            invalid_names_and_counts_are_refused,
            ensure_topic_is_idempotent,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                let backend = $make;
                $crate::suite::$name(&backend);
            }
        )+
    };
}

const SPEC_ALL: TopicSpec = TopicSpec {
    partitions: 1,
    retention: Retention::All,
};

fn spec(partitions: u32, retention: Retention) -> TopicSpec {
    TopicSpec {
        partitions,
        retention,
    }
}

pub fn keyed<'a>(key: &'a str, value: &'a str) -> Message<'a> {
    Message {
        key: Some(key.as_bytes()),
        value: Some(value.as_bytes()),
    }
}

pub fn tombstone(key: &str) -> Message<'_> {
    Message {
        key: Some(key.as_bytes()),
        value: None,
    }
}

pub fn keyless(value: &str) -> Message<'_> {
    Message {
        key: None,
        value: Some(value.as_bytes()),
    }
}

pub fn text(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_ref()
        .map(|b| String::from_utf8(b.clone()).expect("utf-8 in test data"))
}

/// Polls until `want` records arrived, failing the test after 20 s.
pub fn read_n(reader: &mut dyn LogReader, want: usize) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    loop {
        reader.poll(7, &mut out).expect("poll");
        if out.len() >= want {
            assert_eq!(out.len(), want, "more records than published: {out:?}");
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "timed out with {} of {want} records",
            out.len()
        );
        sleep(Duration::from_millis(5));
    }
}

/// Polls until every position reached `ends`, returning what was read on the way.
pub fn read_to(reader: &mut dyn LogReader, ends: &[(Partition, Offset)]) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    loop {
        reader.poll(7, &mut out).expect("poll");
        let positions: BTreeMap<_, _> = reader.positions().into_iter().collect();
        if ends.iter().all(|(p, end)| positions[p] >= *end) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "timed out at positions {positions:?}, want {ends:?}"
        );
        sleep(Duration::from_millis(5));
    }
}

/// Polls for a while and fails if anything arrives.
pub fn assert_nothing_more(reader: &mut dyn LogReader) {
    let mut out = Vec::new();
    for _ in 0..20 {
        reader.poll(100, &mut out).expect("poll");
        sleep(Duration::from_millis(10));
    }
    assert!(out.is_empty(), "unexpected records: {out:?}");
}

fn all_from_zero(partitions: u32) -> Vec<(Partition, Offset)> {
    (0..partitions).map(|p| (p, 0)).collect()
}

fn with_ends(ends: &[Offset]) -> Vec<(Partition, Offset)> {
    ends.iter()
        .enumerate()
        .map(|(p, &end)| (u32::try_from(p).expect("few partitions"), end))
        .collect()
}

fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_millis()).expect("ms fit i64")
}

/// Every change to one key lands in one partition; offsets ascend per partition and
/// reading from 0 returns exactly what was published, where it was said to land.
pub fn keys_stay_in_their_partition(backend: &dyn Backend) {
    let log = backend.log();
    assert_eq!(backend.create_topic("orders", spec(4, Retention::All)), 4);
    let keys: Vec<String> = (0..20).map(|i| format!("order-{i}")).collect();
    let first: Vec<String> = (0..20).map(|i| format!("v1-{i}")).collect();
    let second: Vec<String> = (0..20).map(|i| format!("v2-{i}")).collect();

    let before = now_ms();
    let batch = |values: &[String]| -> Vec<(Partition, Offset)> {
        let messages: Vec<Message<'_>> =
            keys.iter().zip(values).map(|(k, v)| keyed(k, v)).collect();
        log.publish("orders", &messages).expect("publish")
    };
    let landed_first = batch(&first);
    let landed_second = batch(&second);
    let after = now_ms();

    assert_eq!(landed_first.len(), 20);
    for ((p1, _), (p2, _)) in landed_first.iter().zip(&landed_second) {
        assert!(*p1 < 4);
        assert_eq!(p1, p2, "a key moved partition");
    }
    let used: std::collections::BTreeSet<_> = landed_first.iter().map(|(p, _)| *p).collect();
    assert!(used.len() >= 2, "20 keys all hashed to {used:?}");

    let mut expected: BTreeMap<(Partition, Offset), (String, String)> = BTreeMap::new();
    let mut last: BTreeMap<Partition, Offset> = BTreeMap::new();
    for (landed, values) in [(&landed_first, &first), (&landed_second, &second)] {
        for ((&(partition, offset), key), value) in landed.iter().zip(&keys).zip(values) {
            if let Some(&previous) = last.get(&partition) {
                assert!(offset > previous, "offsets must ascend within a partition");
            }
            last.insert(partition, offset);
            expected.insert((partition, offset), (key.clone(), value.clone()));
        }
    }

    let ends = log.end_offsets("orders").expect("end offsets");
    assert_eq!(ends.len(), 4);
    for (partition, end) in ends.iter().enumerate() {
        let partition = u32::try_from(partition).expect("few partitions");
        assert_eq!(*end, last.get(&partition).map_or(0, |o| o + 1));
    }

    let mut reader = log.reader("orders", &all_from_zero(4)).expect("reader");
    let records = read_n(reader.as_mut(), 40);
    let mut seen_last: BTreeMap<Partition, Offset> = BTreeMap::new();
    for record in &records {
        if let Some(&previous) = seen_last.get(&record.partition) {
            assert!(record.offset > previous, "read out of order: {records:?}");
        }
        seen_last.insert(record.partition, record.offset);
        let (key, value) = &expected[&(record.partition, record.offset)];
        assert_eq!(text(&record.key).as_deref(), Some(key.as_str()));
        assert_eq!(text(&record.value).as_deref(), Some(value.as_str()));
        assert!(
            (before - 1000..=after + 1000).contains(&record.timestamp_ms),
            "timestamp {} not near publish time {before}..{after}",
            record.timestamp_ms
        );
    }
    read_to(reader.as_mut(), &with_ends(&ends));
    assert_eq!(reader.positions(), with_ends(&ends));
    assert_nothing_more(reader.as_mut());
}

/// A null value comes back as a tombstone for its key.
pub fn tombstones_are_read_back(backend: &dyn Backend) {
    let log = backend.log();
    backend.create_topic("users", spec(2, Retention::All));
    let landed = log
        .publish(
            "users",
            &[keyed("u1", "ann"), keyed("u2", "bob"), tombstone("u1")],
        )
        .expect("publish");
    assert_eq!(landed[0].0, landed[2].0, "the tombstone follows its key");

    let mut reader = log.reader("users", &all_from_zero(2)).expect("reader");
    let records = read_n(reader.as_mut(), 3);
    let u1: Vec<Option<String>> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(b"u1".as_slice()))
        .map(|r| text(&r.value))
        .collect();
    assert_eq!(u1, vec![Some("ann".to_owned()), None]);
}

/// Replaying a compacted topic and keeping the last record per key gives the latest
/// value of every key, tombstones included. (Kafka compacts later, if ever, so what a
/// replay holds beyond that differs by backend; the embedded tests pin it exactly.)
pub fn compacted_replay_folds_to_latest_per_key(backend: &dyn Backend) {
    let log = backend.log();
    backend.create_topic("issues", spec(2, Retention::Compact));
    log.publish(
        "issues",
        &[
            keyed("i1", "open"),
            keyed("i2", "open"),
            keyed("i1", "blocked"),
            keyed("i3", "open"),
        ],
    )
    .expect("publish");
    log.publish("issues", &[tombstone("i2"), keyed("i1", "done")])
        .expect("publish");

    let ends = log.end_offsets("issues").expect("end offsets");
    assert_eq!(ends.iter().sum::<u64>(), 6, "offsets count every append");
    let mut reader = log.reader("issues", &all_from_zero(2)).expect("reader");
    let records = read_to(reader.as_mut(), &with_ends(&ends));
    let mut latest: BTreeMap<String, Option<String>> = BTreeMap::new();
    for record in &records {
        latest.insert(text(&record.key).expect("keyed"), text(&record.value));
    }
    let want: BTreeMap<String, Option<String>> =
        [("i1", Some("done")), ("i2", None), ("i3", Some("open"))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
            .collect();
    assert_eq!(latest, want);
}

/// A reader created before records exist returns them once published.
pub fn readers_see_later_publishes(backend: &dyn Backend) {
    let log = backend.log();
    backend.create_topic("events", SPEC_ALL);
    let mut reader = log.reader("events", &[(0, 0)]).expect("reader");
    let mut out = Vec::new();
    reader.poll(10, &mut out).expect("poll");
    assert!(out.is_empty());
    assert_eq!(reader.positions(), vec![(0, 0)]);

    log.publish("events", &[keyed("a", "1"), keyed("b", "2")])
        .expect("publish");
    let records = read_n(reader.as_mut(), 2);
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1]
    );
    log.publish("events", &[keyed("c", "3")]).expect("publish");
    let records = read_n(reader.as_mut(), 1);
    assert_eq!(text(&records[0].value).as_deref(), Some("3"));
    assert_eq!(reader.positions(), vec![(0, 3)]);
}

/// A reader starting at an offset returns that record and later ones only.
pub fn readers_start_mid_stream(backend: &dyn Backend) {
    let log = backend.log();
    backend.create_topic("log", SPEC_ALL);
    let values: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| keyed("k", v)).collect();
    let landed = log.publish("log", &messages).expect("publish");
    assert_eq!(
        landed,
        (0..10).map(|o| (0, o)).collect::<Vec<_>>(),
        "one partition counts from 0"
    );

    let mut reader = log.reader("log", &[(0, 6)]).expect("reader");
    let records = read_n(reader.as_mut(), 4);
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![6, 7, 8, 9]
    );
    assert_eq!(text(&records[0].value).as_deref(), Some("r6"));
    assert_eq!(reader.positions(), vec![(0, 10)]);
    assert_nothing_more(reader.as_mut());

    // Starting at the end reads nothing and stays there.
    let mut at_end = log.reader("log", &[(0, 10)]).expect("reader");
    assert_nothing_more(at_end.as_mut());
    assert_eq!(at_end.positions(), vec![(0, 10)]);
}

/// A reader of some partitions returns records of those only.
pub fn readers_cover_only_their_partitions(backend: &dyn Backend) {
    let log = backend.log();
    backend.create_topic("split", spec(3, Retention::All));
    let keys: Vec<String> = (0..30).map(|i| format!("key-{i}")).collect();
    let messages: Vec<Message<'_>> = keys.iter().map(|k| keyed(k, "x")).collect();
    let landed = log.publish("split", &messages).expect("publish");
    let in_one = landed.iter().filter(|(p, _)| *p == 1).count();
    let in_two = landed.iter().filter(|(p, _)| *p == 2).count();
    assert!(
        in_one > 0 && in_two > 0,
        "30 keys missed a partition: {landed:?}"
    );

    let mut reader = log.reader("split", &[(2, 0), (1, 0)]).expect("reader");
    let records = read_n(reader.as_mut(), in_one + in_two);
    assert!(records.iter().all(|r| r.partition != 0));
    let ends = log.end_offsets("split").expect("end offsets");
    assert_eq!(reader.positions(), vec![(1, ends[1]), (2, ends[2])]);
    assert_nothing_more(reader.as_mut());
}

/// Keyless messages are appended and read back without a key.
pub fn keyless_messages_are_appended(backend: &dyn Backend) {
    let log = backend.log();
    backend.create_topic("audit", spec(3, Retention::All));
    let values: Vec<String> = (0..12).map(|i| format!("line {i}")).collect();
    let messages: Vec<Message<'_>> = values.iter().map(|v| keyless(v)).collect();
    let landed = log.publish("audit", &messages).expect("publish");
    assert!(landed.iter().all(|(p, _)| *p < 3));

    let mut reader = log.reader("audit", &all_from_zero(3)).expect("reader");
    let records = read_n(reader.as_mut(), 12);
    assert!(records.iter().all(|r| r.key.is_none()));
    let mut read: Vec<String> = records.iter().filter_map(|r| text(&r.value)).collect();
    read.sort();
    let mut want = values.clone();
    want.sort();
    assert_eq!(read, want);
}

/// Reading a topic that does not exist, or a partition it does not have, fails.
pub fn unknown_topics_and_partitions_are_errors(backend: &dyn Backend) {
    let log = backend.log();
    assert!(matches!(log.partitions("missing"), Err(LogError::UnknownTopic(t)) if t == "missing"));
    assert!(matches!(
        log.end_offsets("missing"),
        Err(LogError::UnknownTopic(_))
    ));
    assert!(matches!(
        log.reader("missing", &[(0, 0)]),
        Err(LogError::UnknownTopic(_))
    ));

    backend.create_topic("two", spec(2, Retention::All));
    assert!(matches!(
        log.reader("two", &[(0, 0), (2, 0)]),
        Err(LogError::UnknownPartition { topic, partition: 2 }) if topic == "two"
    ));
}

/// Names outside Kafka's rule and partition counts of 0 are refused everywhere.
pub fn invalid_names_and_counts_are_refused(backend: &dyn Backend) {
    let log = backend.log();
    let invalid = |result: Result<(), LogError>, name: &str| {
        assert!(
            matches!(&result, Err(LogError::InvalidTopicName(n)) if n == name),
            "{name:?}: {result:?}"
        );
    };
    invalid(
        log.ensure_topic("has space", &SPEC_ALL).map(drop),
        "has space",
    );
    invalid(log.publish("a/b", &[keyed("k", "v")]).map(drop), "a/b");
    invalid(log.partitions("").map(drop), "");
    invalid(log.end_offsets("..").map(drop), "..");
    invalid(log.reader("ü", &[(0, 0)]).map(drop), "ü");
    assert!(matches!(
        log.ensure_topic("zero", &spec(0, Retention::All)),
        Err(LogError::InvalidPartitionCount(0))
    ));
}

/// Asking for an existing topic again returns its partitions, whatever the spec says.
pub fn ensure_topic_is_idempotent(backend: &dyn Backend) {
    let log = backend.log();
    assert_eq!(backend.create_topic("stable", spec(3, Retention::All)), 3);
    assert_eq!(
        log.ensure_topic("stable", &spec(3, Retention::All))
            .expect("ensure"),
        3
    );
    assert_eq!(
        log.ensure_topic("stable", &spec(8, Retention::All))
            .expect("ensure"),
        3
    );
    assert_eq!(log.partitions("stable").expect("partitions"), 3);
    assert_eq!(log.end_offsets("stable").expect("ends"), vec![0, 0, 0]);
}
