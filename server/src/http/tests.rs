//! The router driven without a socket (`ServiceExt::oneshot`), over a real
//! `EmbeddedLog` in a temporary directory; what each request published is read back
//! from the log itself.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use vigil_changelog::{ChangeLog, EmbeddedLog, Record, Retention, TopicSpec};

use super::{AppState, MAX_BODY_BYTES, app};

struct Fixture {
    log: Arc<EmbeddedLog>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(EmbeddedLog::open(dir.path()).expect("open log"));
        Fixture { log, _dir: dir }
    }

    async fn request(
        &self,
        method: Method,
        uri: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body.into())
            .expect("request");
        let response = app(AppState::new(self.log.clone()))
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, json)
    }

    async fn post(&self, uri: &str, body: &str) -> (StatusCode, Value) {
        self.request(Method::POST, uri, body.to_owned()).await
    }

    /// Everything the topic holds, in partition and offset order.
    fn records(&self, topic: &str) -> Vec<Record> {
        let partitions = self.log.partitions(topic).expect("topic exists");
        let start: Vec<_> = (0..partitions).map(|p| (p, 0)).collect();
        let mut reader = self.log.reader(topic, &start).expect("reader");
        let mut records = Vec::new();
        reader.poll(usize::MAX, &mut records).expect("poll");
        records
    }
}

fn key_value(record: &Record) -> (Option<String>, Option<String>) {
    let text = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_ref()
            .map(|b| String::from_utf8(b.clone()).expect("utf-8"))
    };
    (text(&record.key), text(&record.value))
}

#[tokio::test]
async fn health_answers_ok() {
    let fixture = Fixture::new();
    let (status, body) = fixture.request(Method::GET, "/health", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn publish_stores_lines_as_compact_json_in_order() {
    let fixture = Fixture::new();
    let body = "{\"key\": \"A-1\", \"value\": {\"id\": \"A-1\", \"status\": \"open\"}}\n\
                {\"key\": \"A-2\", \"value\": {\"id\": \"A-2\"}}\n\
                \n\
                {\"key\": \"A-1\", \"value\": {\"id\": \"A-1\", \"status\": \"done\"}}\n";
    let (status, answer) = fixture.post("/api/v1/topics/jira.issues", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // One partition (the default), so offsets follow the lines.
    assert_eq!(
        answer,
        json!({"published": 3, "partitions": [0, 0, 0], "offsets": [0, 1, 2]})
    );
    let stored: Vec<_> = fixture
        .records("jira.issues")
        .iter()
        .map(key_value)
        .collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        stored,
        vec![
            (some(r#""A-1""#), some(r#"{"id":"A-1","status":"open"}"#)),
            (some(r#""A-2""#), some(r#"{"id":"A-2"}"#)),
            (some(r#""A-1""#), some(r#"{"id":"A-1","status":"done"}"#)),
        ]
    );
}

#[tokio::test]
async fn null_values_are_tombstones_and_null_keys_are_keyless() {
    let fixture = Fixture::new();
    let body =
        "{\"key\": {\"id\": 7}, \"value\": null}\n{\"key\": null, \"value\": 1}\n{\"value\": 2}";
    let (status, answer) = fixture.post("/api/v1/topics/t", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["published"], 3);
    let stored: Vec<_> = fixture.records("t").iter().map(key_value).collect();
    assert_eq!(
        stored,
        vec![
            (Some(r#"{"id":7}"#.to_owned()), None),
            (None, Some("1".to_owned())),
            (None, Some("2".to_owned())),
        ]
    );
}

#[tokio::test]
async fn a_bad_line_is_400_and_publishes_nothing() {
    let fixture = Fixture::new();
    fixture
        .log
        .ensure_topic("t", &TopicSpec::default())
        .expect("create");
    let body =
        "{\"key\": 1, \"value\": 1}\n{\"key\": 2, \"value\": 2}\n{\"key\": 3, \"value\": }\n";
    let (status, answer) = fixture.post("/api/v1/topics/t", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "bad_record");
    assert_eq!(answer["line"], 3);
    assert_eq!(
        answer["message"],
        "line 3: invalid JSON at column 21: expected value"
    );
    assert_eq!(fixture.log.end_offsets("t").expect("offsets"), vec![0]);
    assert!(fixture.records("t").is_empty());
}

#[tokio::test]
async fn a_bad_line_does_not_create_the_topic() {
    let fixture = Fixture::new();
    let (status, answer) = fixture
        .post("/api/v1/topics/fresh?partitions=3", "[1]\n")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "bad_record");
    let (status, answer) = fixture
        .request(Method::GET, "/api/v1/topics/fresh", Body::empty())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

#[tokio::test]
async fn partitions_creates_a_missing_topic_and_leaves_an_existing_one() {
    let fixture = Fixture::new();
    let body = (0..20)
        .map(|i| format!("{{\"key\": {i}, \"value\": {i}}}\n"))
        .collect::<String>();
    let (status, answer) = fixture
        .post("/api/v1/topics/spread?partitions=4", &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(fixture.log.partitions("spread").expect("exists"), 4);
    let partitions: Vec<u64> = serde_json::from_value(answer["partitions"].clone()).expect("list");
    assert_eq!(partitions.len(), 20);
    assert!(partitions.iter().all(|&p| p < 4), "{partitions:?}");

    // A compacted topic (as an upsert source creates) keeps its partitions and its
    // compaction: the second record of key 1 replaces the first.
    fixture
        .log
        .ensure_topic(
            "upserts",
            &TopicSpec {
                partitions: 1,
                retention: Retention::Compact,
            },
        )
        .expect("create");
    let (status, answer) = fixture
        .post(
            "/api/v1/topics/upserts?partitions=8",
            "{\"key\": 1, \"value\": \"a\"}\n{\"key\": 1, \"value\": \"b\"}\n",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(fixture.log.partitions("upserts").expect("exists"), 1);
    let stored: Vec<_> = fixture.records("upserts").iter().map(key_value).collect();
    assert_eq!(
        stored,
        vec![(Some("1".to_owned()), Some("\"b\"".to_owned()))]
    );
}

#[tokio::test]
async fn describe_reports_partitions_and_end_offsets() {
    let fixture = Fixture::new();
    let (status, _) = fixture
        .post(
            "/api/v1/topics/t?partitions=2",
            "{\"key\":1,\"value\":1}\n{\"key\":2,\"value\":2}\n{\"key\":3,\"value\":3}\n",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = fixture
        .request(Method::GET, "/api/v1/topics/t", Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["topic"], "t");
    assert_eq!(answer["partitions"], 2);
    let ends: Vec<u64> = serde_json::from_value(answer["end_offsets"].clone()).expect("list");
    assert_eq!(ends, fixture.log.end_offsets("t").expect("offsets"));
    assert_eq!(ends.iter().sum::<u64>(), 3);
}

#[tokio::test]
async fn an_unknown_topic_is_404() {
    let fixture = Fixture::new();
    let (status, answer) = fixture
        .request(Method::GET, "/api/v1/topics/nope", Body::empty())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["code"], "unknown_topic");
    assert_eq!(answer["message"], "topic \"nope\" does not exist");
}

#[tokio::test]
async fn bad_names_queries_and_routes_have_codes() {
    let fixture = Fixture::new();
    let line = "{\"value\": 1}\n";
    let cases = [
        (
            "/api/v1/topics/has%20space",
            StatusCode::BAD_REQUEST,
            "invalid_topic",
        ),
        (
            "/api/v1/topics/t?partitions=zero",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/api/v1/topics/t?partitions=0",
            StatusCode::BAD_REQUEST,
            "invalid_partitions",
        ),
        (
            "/api/v1/topics/t?color=red",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        ("/api/v1/nothing/here", StatusCode::NOT_FOUND, "not_found"),
    ];
    for (uri, expected_status, expected_code) in cases {
        let (status, answer) = fixture.post(uri, line).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (expected_status, Some(expected_code)),
            "{uri}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_a_code() {
    let fixture = Fixture::new();
    let (status, answer) = fixture
        .request(Method::DELETE, "/api/v1/topics/t", Body::empty())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer["code"], "method_not_allowed");
}

#[tokio::test]
async fn a_keyless_line_on_a_compacted_topic_is_refused_whole() {
    let fixture = Fixture::new();
    fixture
        .log
        .ensure_topic(
            "c",
            &TopicSpec {
                partitions: 1,
                retention: Retention::Compact,
            },
        )
        .expect("create");
    let (status, answer) = fixture
        .post(
            "/api/v1/topics/c",
            "{\"key\":1,\"value\":1}\n{\"value\":2}\n",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "missing_key");
    assert!(fixture.records("c").is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let fixture = Fixture::new();
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let (status, answer) = fixture
        .request(Method::POST, "/api/v1/topics/t", body)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["code"], "body_too_large");
    assert!(
        fixture.log.partitions("t").is_err(),
        "nothing was published"
    );
}
