//! The change log suite on [`KafkaLog`], against librdkafka's in-process mock cluster
//! (a Kafka-protocol broker). The mock has no CreateTopics, so topics are created
//! through it first; it neither compacts nor writes transaction markers, so offsets
//! without records cannot be made here and compaction is only checked as a fold.

mod suite;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use suite::{Backend, keyed, read_n};
use vigil_changelog::{ChangeLog, KafkaLog, TopicSpec};

struct MockKafka {
    // Declared first so it is dropped before the cluster it talks to.
    log: KafkaLog,
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Backend for MockKafka {
    fn log(&self) -> &dyn ChangeLog {
        &self.log
    }

    fn create_topic(&self, topic: &str, spec: TopicSpec) -> u32 {
        let partitions = i32::try_from(spec.partitions).expect("few partitions");
        self.cluster
            .create_topic(topic, partitions, 1)
            .expect("mock create_topic");
        self.log.ensure_topic(topic, &spec).expect("ensure_topic")
    }
}

fn mock_kafka() -> MockKafka {
    let cluster = MockCluster::new(3).expect("mock cluster");
    let log = KafkaLog::connect(&cluster.bootstrap_servers()).expect("connect");
    MockKafka { log, cluster }
}

changelog_suite!(mock_kafka());

#[test]
fn describe_names_the_brokers() {
    let backend = mock_kafka();
    let description = backend.log.describe();
    assert!(
        description.contains(&backend.cluster.bootstrap_servers()),
        "{description}"
    );
}

#[test]
fn readers_never_wait_for_a_waker() {
    let backend = mock_kafka();
    backend.create_topic("events", TopicSpec::default());
    let mut reader = backend.log.reader("events", &[(0, 0)]).expect("reader");
    assert!(!reader.set_waker(std::sync::Arc::new(|| {})));
    backend
        .log
        .publish("events", &[keyed("k", "v")])
        .expect("publish");
    assert_eq!(read_n(reader.as_mut(), 1)[0].offset, 0);
}
