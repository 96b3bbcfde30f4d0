//! The change log suite on [`EmbeddedLog`], plus what only the embedded log promises:
//! exact compaction, atomic batches, persistence across reopen, the file lock and
//! wakers.

mod suite;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use suite::{Backend, keyed, keyless, read_n, read_to, text, tombstone};
use vigil_changelog::{ChangeLog, EmbeddedLog, LogError, Retention, TopicSpec};

struct Embedded {
    log: EmbeddedLog,
    _dir: tempfile::TempDir,
}

impl Backend for Embedded {
    fn log(&self) -> &dyn ChangeLog {
        &self.log
    }

    fn create_topic(&self, topic: &str, spec: TopicSpec) -> u32 {
        self.log.ensure_topic(topic, &spec).expect("ensure_topic")
    }
}

fn embedded() -> Embedded {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(&dir.path().join("log")).expect("open");
    Embedded { log, _dir: dir }
}

changelog_suite!(embedded());

const COMPACT_1: TopicSpec = TopicSpec {
    partitions: 1,
    retention: Retention::Compact,
};

fn replay(log: &EmbeddedLog, topic: &str) -> Vec<(u64, Option<String>, Option<String>)> {
    let ends = log.end_offsets(topic).expect("end offsets");
    let start: Vec<_> = (0..).zip(ends.iter().map(|_| 0)).collect();
    let ends: Vec<_> = (0..).zip(ends).collect();
    let mut reader = log.reader(topic, &start).expect("reader");
    let records = read_to(reader.as_mut(), &ends);
    assert_eq!(
        reader.positions(),
        ends,
        "positions reach the end across gaps"
    );
    records
        .iter()
        .map(|r| (r.offset, text(&r.key), text(&r.value)))
        .collect()
}

fn owned(offset: u64, key: &str, value: Option<&str>) -> (u64, Option<String>, Option<String>) {
    (offset, Some(key.to_owned()), value.map(str::to_owned))
}

#[test]
fn compaction_keeps_exactly_the_latest_record_per_key() {
    let backend = embedded();
    let log = &backend.log;
    log.ensure_topic("issues", &COMPACT_1).expect("ensure");
    log.publish(
        "issues",
        &[
            keyed("i1", "open"),
            keyed("i2", "open"),
            keyed("i1", "blocked"),
        ],
    )
    .expect("publish");
    log.publish(
        "issues",
        &[tombstone("i2"), keyed("i3", "open"), keyed("i1", "done")],
    )
    .expect("publish");
    assert_eq!(log.end_offsets("issues").expect("ends"), vec![6]);
    assert_eq!(
        replay(log, "issues"),
        vec![
            owned(3, "i2", None),
            owned(4, "i3", Some("open")),
            owned(5, "i1", Some("done")),
        ]
    );
}

#[test]
fn a_partial_poll_resumes_after_the_last_record_returned() {
    let backend = embedded();
    let log = &backend.log;
    log.ensure_topic("gaps", &COMPACT_1).expect("ensure");
    log.publish(
        "gaps",
        &[
            keyed("a", "1"),
            keyed("a", "2"),
            keyed("b", "1"),
            keyed("a", "3"),
        ],
    )
    .expect("publish");
    // Left: b at 2, a at 3.
    let mut reader = log.reader("gaps", &[(0, 0)]).expect("reader");
    let mut out = Vec::new();
    reader.poll(1, &mut out).expect("poll");
    assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2]);
    assert_eq!(reader.positions(), vec![(0, 3)]);
    reader.poll(1, &mut out).expect("poll");
    assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(reader.positions(), vec![(0, 4)]);
}

#[test]
fn a_small_poll_budget_is_shared_between_partitions() {
    let backend = embedded();
    let log = &backend.log;
    let spec = TopicSpec {
        partitions: 2,
        retention: Retention::All,
    };
    log.ensure_topic("busy", &spec).expect("ensure");
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let messages: Vec<_> = keys.iter().map(|k| keyed(k, "v")).collect();
    log.publish("busy", &messages).expect("publish");
    let mut reader = log.reader("busy", &[(0, 0), (1, 0)]).expect("reader");
    let mut out = Vec::new();
    reader.poll(1, &mut out).expect("poll");
    reader.poll(1, &mut out).expect("poll");
    let partitions: BTreeSet<_> = out.iter().map(|r| r.partition).collect();
    assert_eq!(partitions, BTreeSet::from([0, 1]));
}

#[test]
fn keyless_messages_spread_over_partitions() {
    let backend = embedded();
    let log = &backend.log;
    let spec = TopicSpec {
        partitions: 3,
        retention: Retention::All,
    };
    log.ensure_topic("audit", &spec).expect("ensure");
    let landed = log
        .publish("audit", &[keyless("a"), keyless("b"), keyless("c")])
        .expect("publish");
    let partitions: BTreeSet<_> = landed.iter().map(|(p, _)| *p).collect();
    assert_eq!(partitions, BTreeSet::from([0, 1, 2]));
}

#[test]
fn a_compacted_topic_refuses_a_batch_with_keyless_messages() {
    let backend = embedded();
    let log = &backend.log;
    log.ensure_topic("issues", &COMPACT_1).expect("ensure");
    let refused = log.publish("issues", &[keyed("i1", "open"), keyless("stray")]);
    assert!(matches!(refused, Err(LogError::MissingKey(t)) if t == "issues"));
    assert_eq!(
        log.end_offsets("issues").expect("ends"),
        vec![0],
        "nothing of the batch was appended"
    );
}

#[test]
fn publishing_to_a_missing_topic_creates_it_with_the_default_spec() {
    let backend = embedded();
    let log = &backend.log;
    let landed = log
        .publish("fresh", &[keyed("a", "1"), keyless("b")])
        .expect("publish");
    assert_eq!(landed, vec![(0, 0), (0, 1)]);
    assert_eq!(log.partitions("fresh").expect("partitions"), 1);
    // Retention::All: both records of a key stay.
    log.publish("fresh", &[keyed("a", "2")]).expect("publish");
    assert_eq!(replay(log, "fresh").len(), 3);
}

#[test]
fn asking_for_all_stops_compaction_but_not_the_other_way_round() {
    let backend = embedded();
    let log = &backend.log;
    log.ensure_topic("issues", &COMPACT_1).expect("ensure");
    log.publish("issues", &[keyed("i1", "a"), keyed("i1", "b")])
        .expect("publish");
    let all = TopicSpec::default();
    assert_eq!(log.ensure_topic("issues", &all).expect("ensure"), 1);
    log.publish("issues", &[keyed("i1", "c")]).expect("publish");
    assert_eq!(
        replay(log, "issues"),
        vec![owned(1, "i1", Some("b")), owned(2, "i1", Some("c"))]
    );

    log.ensure_topic("issues", &COMPACT_1).expect("ensure");
    log.publish("issues", &[keyed("i1", "d")]).expect("publish");
    assert_eq!(replay(log, "issues").len(), 3, "still keeping everything");
}

#[test]
fn the_log_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = EmbeddedLog::open(dir.path()).expect("open");
        log.ensure_topic("issues", &COMPACT_1).expect("ensure");
        log.ensure_topic("events", &TopicSpec::default())
            .expect("ensure");
        log.publish("issues", &[keyed("i1", "open"), keyed("i2", "open")])
            .expect("publish");
        log.publish("events", &[keyless("e0"), keyless("e1")])
            .expect("publish");
        let mut reader = log.reader("events", &[(0, 0)]).expect("reader");
        read_n(reader.as_mut(), 2);
    }
    let log = EmbeddedLog::open(dir.path()).expect("reopen");
    assert_eq!(log.partitions("issues").expect("partitions"), 1);
    assert_eq!(log.end_offsets("events").expect("ends"), vec![2]);
    // The key index came back too: this deletes i1's record at offset 0.
    log.publish("issues", &[keyed("i1", "done")])
        .expect("publish");
    assert_eq!(
        replay(&log, "issues"),
        vec![owned(1, "i2", Some("open")), owned(2, "i1", Some("done"))]
    );
    let events: Vec<_> = replay(&log, "events")
        .into_iter()
        .map(|(offset, _, value)| (offset, value))
        .collect();
    assert_eq!(
        events,
        vec![(0, Some("e0".to_owned())), (1, Some("e1".to_owned()))]
    );
}

#[test]
fn a_second_open_of_the_same_directory_says_the_log_is_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = EmbeddedLog::open(dir.path()).expect("open");
    match EmbeddedLog::open(dir.path()) {
        Err(LogError::Storage(message)) => {
            assert!(message.contains("in use"), "{message}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("opened a log that is in use"),
    }
}

#[test]
fn readers_are_woken_by_publishes_to_their_topic() {
    let backend = embedded();
    let log = &backend.log;
    log.ensure_topic("events", &TopicSpec::default())
        .expect("ensure");
    log.ensure_topic("other", &TopicSpec::default())
        .expect("ensure");

    let counter = |count: &Arc<AtomicUsize>| {
        let count = Arc::clone(count);
        Arc::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
    };
    let woken = Arc::new(AtomicUsize::new(0));
    let mut reader = log.reader("events", &[(0, 0)]).expect("reader");
    assert!(reader.set_waker(counter(&woken)));

    log.publish("events", &[keyless("1")]).expect("publish");
    assert_eq!(
        woken.load(Ordering::SeqCst),
        1,
        "woken before publish returns"
    );
    log.publish("other", &[keyless("x")]).expect("publish");
    assert_eq!(
        woken.load(Ordering::SeqCst),
        1,
        "not woken by another topic"
    );

    // A replaced waker is the one called.
    let replaced = Arc::new(AtomicUsize::new(0));
    assert!(reader.set_waker(counter(&replaced)));
    log.publish("events", &[keyless("2")]).expect("publish");
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    assert_eq!(replaced.load(Ordering::SeqCst), 1);
    assert_eq!(read_n(reader.as_mut(), 2).len(), 2);

    // A dropped reader is not woken.
    drop(reader);
    log.publish("events", &[keyless("3")]).expect("publish");
    assert_eq!(replaced.load(Ordering::SeqCst), 1);
}

#[test]
fn the_log_is_shared_between_threads() {
    let backend = embedded();
    let log: Arc<dyn ChangeLog> = Arc::new(backend.log);
    log.ensure_topic("events", &TopicSpec::default())
        .expect("ensure");
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let value = format!("{t}-{i}");
                    log.publish("events", &[keyed("k", &value)])
                        .expect("publish");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    assert_eq!(log.end_offsets("events").expect("ends"), vec![100]);
    let mut reader = log.reader("events", &[(0, 0)]).expect("reader");
    let offsets: Vec<u64> = read_n(reader.as_mut(), 100)
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
}
