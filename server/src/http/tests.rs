//! The router driven without a socket (`ServiceExt::oneshot`), over a real
//! `EmbeddedLog` and a real `Coordinator` in a temporary directory; what each request
//! published is read back from the log itself, and views are made and changed with
//! SQL through a session, as a pgwire client would.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigil_changelog::{ChangeLog, EmbeddedLog, Record, Retention, TopicSpec};
use vigil_sql::{ClockMode, Coordinator};

use super::{AppState, MAX_BODY_BYTES, app};

struct Fixture {
    log: Arc<EmbeddedLog>,
    coordinator: Coordinator,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_clock(ClockMode::Wall)
    }

    fn with_clock(clock: ClockMode) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(EmbeddedLog::open(&dir.path().join("changelog")).expect("open log"));
        let coordinator = Coordinator::open(vigil_sql::Config {
            data_dir: dir.path().join("data"),
            workers: 1,
            log: Some(log.clone()),
            clock,
        })
        .expect("open coordinator");
        Fixture {
            log,
            coordinator,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Response {
        app(AppState::new(self.coordinator.clone()))
            .oneshot(request)
            .await
            .expect("infallible")
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
        json_of(self.send(request).await).await
    }

    async fn post(&self, uri: &str, body: &str) -> (StatusCode, Value) {
        self.request(Method::POST, uri, body.to_owned()).await
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.request(Method::GET, uri, Body::empty()).await
    }

    /// A GET with `headers`, its response whole.
    async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::builder().method(Method::GET).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    /// Runs SQL statements, failing the test on any error.
    async fn sql(&self, sql: &str) {
        let mut session = self.coordinator.session();
        for result in session.execute_batch(sql).await {
            if let Err(error) = result {
                panic!("{sql}: {error}");
            }
        }
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

async fn body_bytes(response: Response) -> axum::body::Bytes {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
}

async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = body_bytes(response).await;
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
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

// ---- views ----

/// A table, two materialized views (one with a quoted, mixed-case name and column)
/// and a plain view over it.
async fn views_fixture() -> Fixture {
    let fixture = Fixture::new();
    fixture
        .sql(
            "CREATE TABLE people (id int PRIMARY KEY, name text, score double precision, team text);
             INSERT INTO people VALUES (2, 'bob', NULL, 'blue'), (1, 'ada', 9.5, 'red'),
                 (3, 'cy, \"the\" third', 7.25, 'red');
             CREATE MATERIALIZED VIEW roster AS SELECT id, name, score, team FROM people;
             CREATE VIEW red_team AS SELECT id, name FROM people WHERE team = 'red';
             CREATE MATERIALIZED VIEW \"Team Counts\" AS
                 SELECT team AS \"Team\", count(*) AS members FROM people GROUP BY team",
        )
        .await;
    fixture
}

/// The `id` of every row of a JSON snapshot, in order.
fn ids(snapshot: &Value) -> Vec<i64> {
    snapshot["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {snapshot}"))
        .iter()
        .map(|row| row["id"].as_i64().expect("an integer id"))
        .collect()
}

#[tokio::test]
async fn views_lists_views_and_materialized_views_by_name() {
    let fixture = views_fixture().await;
    let (status, answer) = fixture.get("/api/v1/views").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The table is not listed; "Team Counts" sorts first (upper case before lower).
    assert_eq!(
        answer,
        json!({"views": [
            {"name": "Team Counts", "kind": "materialized view", "columns": [
                {"name": "Team", "type": "text", "nullable": true},
                {"name": "members", "type": "bigint", "nullable": false},
            ]},
            {"name": "red_team", "kind": "view", "columns": [
                {"name": "id", "type": "integer", "nullable": false},
                {"name": "name", "type": "text", "nullable": true},
            ]},
            {"name": "roster", "kind": "materialized view", "columns": [
                {"name": "id", "type": "integer", "nullable": false},
                {"name": "name", "type": "text", "nullable": true},
                {"name": "score", "type": "double precision", "nullable": true},
                {"name": "team", "type": "text", "nullable": true},
            ]},
        ]})
    );
}

#[tokio::test]
async fn views_list_is_empty_without_views() {
    let fixture = Fixture::new();
    fixture.sql("CREATE TABLE t (a int)").await;
    let (status, answer) = fixture.get("/api/v1/views").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"views": []}));
}

#[tokio::test]
async fn a_snapshot_is_json_by_default_with_keys_in_column_order() {
    let fixture = views_fixture().await;
    for accept in [None, Some("*/*"), Some("application/json")] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let response = fixture.get_with("/api/v1/views/roster", &headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{accept:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = body_bytes(response).await;
        // Compared as text: key order is part of the contract.
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            concat!(
                r#"{"view":"roster","columns":[{"name":"id","type":"integer"},{"name":"name","type":"text"},"#,
                r#"{"name":"score","type":"double precision"},{"name":"team","type":"text"}],"rows":["#,
                r#"{"id":1,"name":"ada","score":9.5,"team":"red"},"#,
                r#"{"id":2,"name":"bob","score":null,"team":"blue"},"#,
                r#"{"id":3,"name":"cy, \"the\" third","score":7.25,"team":"red"}]}"#
            ),
            "{accept:?}"
        );
    }
}

#[tokio::test]
async fn a_snapshot_as_csv_has_a_header_and_empty_nulls() {
    let fixture = views_fixture().await;
    let response = fixture
        .get_with(
            "/api/v1/views/roster",
            &[("accept", "text/html;q=0.9, text/csv")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    let body = body_bytes(response).await;
    assert_eq!(
        std::str::from_utf8(&body).expect("utf-8"),
        "id,name,score,team\n1,ada,9.5,red\n2,bob,,blue\n3,\"cy, \"\"the\"\" third\",7.25,red\n"
    );
}

#[tokio::test]
async fn a_snapshot_as_arrow_is_one_ipc_stream() {
    use datafusion::arrow::array::{Array, Float64Array, Int32Array, StringArray};
    use datafusion::arrow::ipc::reader::StreamReader;

    let fixture = views_fixture().await;
    let response = fixture
        .get_with(
            "/api/v1/views/roster?team=red",
            &[("accept", "application/vnd.apache.arrow.stream")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let body = body_bytes(response).await;
    let reader = StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None).expect("ipc");
    let names: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "name", "score", "team"]);
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    let column = |i: usize| batch.column(i).as_any();
    let id = column(0).downcast_ref::<Int32Array>().expect("int32 ids");
    assert_eq!(id.values().to_vec(), vec![1, 3]);
    let name = column(1).downcast_ref::<StringArray>().expect("text names");
    assert_eq!((name.value(0), name.value(1)), ("ada", "cy, \"the\" third"));
    let score = column(2)
        .downcast_ref::<Float64Array>()
        .expect("double scores");
    assert_eq!((score.value(0), score.value(1)), (9.5, 7.25));
    assert_eq!(score.null_count(), 0);

    // Nulls travel as Arrow nulls.
    let response = fixture
        .get_with(
            "/api/v1/views/roster?id=2",
            &[("accept", "application/vnd.apache.arrow.stream")],
        )
        .await;
    let body = body_bytes(response).await;
    let reader = StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None).expect("ipc");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(batches[0].num_rows(), 1);
    assert!(batches[0].column(2).is_null(0), "bob's score is NULL");
}

#[tokio::test]
async fn filters_compare_typed_values_for_equality() {
    let fixture = views_fixture().await;
    let cases: [(&str, Vec<i64>); 8] = [
        ("/api/v1/views/roster?team=red", vec![1, 3]),
        ("/api/v1/views/roster?team=red&id=3", vec![3]),
        ("/api/v1/views/roster?id=%2B2", vec![2]),
        ("/api/v1/views/roster?score=9.50", vec![1]),
        (
            "/api/v1/views/roster?name=cy%2C%20%22the%22%20third",
            vec![3],
        ),
        ("/api/v1/views/roster?team=green", vec![]),
        // A value is a value, never SQL.
        ("/api/v1/views/roster?team=red'%20OR%20'1'%3D'1", vec![]),
        ("/api/v1/views/red_team?id=1", vec![1]),
    ];
    for (uri, expected) in cases {
        let (status, answer) = fixture.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {answer}");
        assert_eq!(ids(&answer), expected, "{uri}");
    }
    let (status, answer) = fixture.get("/api/v1/views/Team%20Counts?Team=red").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rows"], json!([{"Team": "red", "members": 2}]));
}

#[tokio::test]
async fn limit_keeps_the_first_rows_in_value_order() {
    let fixture = views_fixture().await;
    let cases: [(&str, Vec<i64>); 5] = [
        ("/api/v1/views/roster?limit=2", vec![1, 2]),
        ("/api/v1/views/roster?limit=0", vec![]),
        ("/api/v1/views/roster?limit=100", vec![1, 2, 3]),
        ("/api/v1/views/roster?team=red&limit=1", vec![1]),
        ("/api/v1/views/roster?limit=1&team=blue", vec![2]),
    ];
    for (uri, expected) in cases {
        let (status, answer) = fixture.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {answer}");
        assert_eq!(ids(&answer), expected, "{uri}");
    }
}

#[tokio::test]
async fn view_errors_have_codes() {
    let fixture = views_fixture().await;
    let cases = [
        ("/api/v1/views/nope", StatusCode::NOT_FOUND, "unknown_view"),
        // Tables are not served here.
        (
            "/api/v1/views/people",
            StatusCode::NOT_FOUND,
            "unknown_view",
        ),
        // Names are exact: the view is "Team Counts".
        (
            "/api/v1/views/team%20counts",
            StatusCode::NOT_FOUND,
            "unknown_view",
        ),
        (
            "/api/v1/views/roster?colour=red",
            StatusCode::BAD_REQUEST,
            "unknown_column",
        ),
        (
            "/api/v1/views/roster?ID=1",
            StatusCode::BAD_REQUEST,
            "unknown_column",
        ),
        (
            "/api/v1/views/roster?id=99999999999",
            StatusCode::BAD_REQUEST,
            "invalid_filter",
        ),
        (
            "/api/v1/views/roster?limit=-1",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/api/v1/views/roster?limit=",
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (
            "/api/v1/views/nope/changes",
            StatusCode::NOT_FOUND,
            "unknown_view",
        ),
        (
            "/api/v1/views/people/changes",
            StatusCode::NOT_FOUND,
            "unknown_view",
        ),
        (
            "/api/v1/views/roster/changes?last_event_id=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_event_id",
        ),
        (
            "/api/v1/views/roster/changes?last_event_id=18446744073709551615",
            StatusCode::BAD_REQUEST,
            "invalid_event_id",
        ),
        (
            "/api/v1/views/roster/changes?since=1",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
    ];
    for (uri, expected_status, expected_code) in cases {
        let (status, answer) = fixture.get(uri).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (expected_status, Some(expected_code)),
            "{uri}: {answer}"
        );
    }
    let (status, answer) = fixture
        .request(Method::POST, "/api/v1/views", Body::empty())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{answer}");
    assert_eq!(answer["code"], "method_not_allowed");
}

#[tokio::test]
async fn an_unparsable_filter_names_the_column_and_its_type() {
    let fixture = views_fixture().await;
    let (status, answer) = fixture.get("/api/v1/views/roster?team=red&id=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer,
        json!({
            "code": "invalid_filter",
            "message": "invalid filter on column \"id\" of type integer: invalid input syntax for type integer: \"abc\"",
        })
    );
}

#[tokio::test]
async fn an_unservable_accept_is_406_listing_the_types() {
    let fixture = views_fixture().await;
    for accept in ["text/html", "application/xml, text/csv;q=0"] {
        let response = fixture
            .get_with("/api/v1/views/roster", &[("accept", accept)])
            .await;
        let (status, answer) = json_of(response).await;
        assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{accept}");
        assert_eq!(answer["code"], "not_acceptable");
        let message = answer["message"].as_str().expect("message");
        for served in [
            "application/json",
            "text/csv",
            "application/vnd.apache.arrow.stream",
        ] {
            assert!(message.contains(served), "{message}");
        }
    }
}

#[tokio::test]
async fn a_view_failing_to_compute_is_a_query_error_with_its_sqlstate() {
    let fixture = views_fixture().await;
    fixture
        .sql("CREATE VIEW ratios AS SELECT id, 10 / (id - 1) AS r FROM people")
        .await;
    let (status, answer) = fixture.get("/api/v1/views/ratios").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert_eq!(answer["code"], "query_failed");
    assert_eq!(answer["sqlstate"], "22012");
    // Rows the division does not fail on are still readable.
    let (status, answer) = fixture.get("/api/v1/views/ratios?id=3").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rows"], json!([{"id": 3, "r": 5}]));
}

// ---- change streams ----

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: Value,
}

/// Reads server-sent events from a response body.
struct SseReader {
    body: axum::body::BodyDataStream,
    buffer: String,
}

/// How long a test waits for an event it expects.
const EVENT_DEADLINE: Duration = Duration::from_secs(30);

impl SseReader {
    fn new(response: Response) -> SseReader {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), failing the test after [`EVENT_DEADLINE`].
    async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(EVENT_DEADLINE, self.next_event())
            .await
            .expect("an event within the deadline")
    }

    async fn next_event(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame) {
                    return event;
                }
                continue;
            }
            let chunk = self
                .body
                .next()
                .await
                .expect("the stream stays open")
                .expect("a chunk");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }

    /// The next `changes` event, skipping progress.
    async fn next_changes(&mut self) -> SseEvent {
        loop {
            let event = self.next().await;
            if event.event != "progress" {
                return event;
            }
        }
    }
}

/// An event of one frame, `None` for a comment-only frame (keep-alive).
fn parse_frame(frame: &str) -> Option<SseEvent> {
    let mut event = None;
    let mut id = None;
    let mut data = String::new();
    for line in frame.lines().filter(|line| !line.is_empty()) {
        let (field, value) = line.split_once(':')?;
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => {}
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push_str(value),
            other => panic!("unexpected field {other} in {frame:?}"),
        }
    }
    let event = event?;
    let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {frame:?}"));
    Some(SseEvent { event, id, data })
}

/// The id of a `changes` event, checked against its timestamp.
fn changes_id(event: &SseEvent) -> u64 {
    assert_eq!(event.event, "changes", "{event:?}");
    let id: u64 = event
        .id
        .as_deref()
        .expect("an id")
        .parse()
        .expect("a numeric id");
    assert_eq!(event.data["timestamp"], json!(id), "{event:?}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_stream_a_snapshot_then_each_timestamp_and_resume_after_an_id() {
    let fixture = views_fixture().await;
    let mut stream = SseReader::new(fixture.get_with("/api/v1/views/roster/changes", &[]).await);
    let snapshot = stream.next().await;
    let snapshot_id = changes_id(&snapshot);
    assert_eq!(
        snapshot.data["changes"],
        json!([
            {"diff": 1, "row": {"id": 1, "name": "ada", "score": 9.5, "team": "red"}},
            {"diff": 1, "row": {"id": 2, "name": "bob", "score": null, "team": "blue"}},
            {"diff": 1, "row": {"id": 3, "name": "cy, \"the\" third", "score": 7.25, "team": "red"}},
        ])
    );

    fixture
        .sql("INSERT INTO people VALUES (4, 'dee', 1.0, 'blue')")
        .await;
    let insert = stream.next_changes().await;
    let insert_id = changes_id(&insert);
    assert!(insert_id > snapshot_id, "{insert_id} after {snapshot_id}");
    assert_eq!(
        insert.data["changes"],
        json!([{"diff": 1, "row": {"id": 4, "name": "dee", "score": 1.0, "team": "blue"}}])
    );
    drop(stream);

    // While no one listens, the view changes: an update is two changes at one time.
    fixture
        .sql("UPDATE people SET team = 'red' WHERE id = 4")
        .await;
    let resume_id = insert_id.to_string();
    let mut resumed = SseReader::new(
        fixture
            .get_with(
                "/api/v1/views/roster/changes",
                &[("last-event-id", &resume_id)],
            )
            .await,
    );
    let update = resumed.next_changes().await;
    assert!(changes_id(&update) > insert_id);
    assert_eq!(
        update.data["changes"],
        json!([
            {"diff": -1, "row": {"id": 4, "name": "dee", "score": 1.0, "team": "blue"}},
            {"diff": 1, "row": {"id": 4, "name": "dee", "score": 1.0, "team": "red"}},
        ])
    );

    // The query parameter resumes the same way, for clients that cannot set headers.
    let mut polyfill = SseReader::new(
        fixture
            .get_with(
                &format!("/api/v1/views/roster/changes?last_event_id={insert_id}"),
                &[],
            )
            .await,
    );
    let again = polyfill.next_changes().await;
    assert_eq!(again.data, update.data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_view_streams_an_empty_snapshot_then_throttled_progress() {
    let fixture = views_fixture().await;
    fixture
        .sql("CREATE MATERIALIZED VIEW greens AS SELECT id FROM people WHERE team = 'green'")
        .await;
    let mut stream = SseReader::new(fixture.get_with("/api/v1/views/greens/changes", &[]).await);
    let snapshot = stream.next().await;
    let snapshot_id = changes_id(&snapshot);
    assert_eq!(snapshot.data["changes"], json!([]));

    // The clock ticks every few milliseconds; progress is sent at most once a second.
    let watch = Duration::from_millis(2500);
    let started = tokio::time::Instant::now();
    let mut progress = Vec::new();
    while let Ok(event) = tokio::time::timeout_at(started + watch, stream.next_event()).await {
        assert_eq!(event.event, "progress", "{event:?}");
        let id: u64 = event
            .id
            .as_deref()
            .expect("an id")
            .parse()
            .expect("numeric");
        assert_eq!(event.data, json!({"timestamp": id}));
        progress.push(id);
    }
    assert!(
        (1..=3).contains(&progress.len()),
        "{} progress events in {watch:?}: {progress:?}",
        progress.len()
    );
    let mut previous = snapshot_id;
    for id in progress {
        assert!(id > previous, "progress {id} after {previous}");
        previous = id;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_before_the_retained_history_is_410() {
    let fixture = views_fixture().await;
    let response = fixture
        .get_with("/api/v1/views/roster/changes", &[("last-event-id", "1")])
        .await;
    // Bounded: a stream (the failure) never ends.
    let (status, answer) = tokio::time::timeout(EVENT_DEADLINE, json_of(response))
        .await
        .expect("an error, not a stream");
    assert_eq!(status, StatusCode::GONE, "{answer}");
    assert_eq!(answer["code"], "history_compacted");
    assert_eq!(answer["sqlstate"], "22023");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_a_progress_id_misses_no_change_at_the_next_time() {
    // On a manual clock a write lands exactly at the frontier a progress event
    // reported, the one time a resume from that event could miss.
    let fixture = Fixture::with_clock(ClockMode::Manual { start: None });
    fixture
        .sql("CREATE TABLE t (id int PRIMARY KEY); CREATE MATERIALIZED VIEW v AS SELECT id FROM t")
        .await;
    let mut stream = SseReader::new(fixture.get_with("/api/v1/views/v/changes", &[]).await);
    let snapshot = stream.next().await;
    let snapshot_id = changes_id(&snapshot);
    assert_eq!(snapshot.data["changes"], json!([]));
    fixture.sql("ADVANCE CLOCK BY '1 minute'").await;
    // Held back for up to a second after the snapshot, then sent.
    let progress = stream.next().await;
    assert_eq!(progress.event, "progress", "{progress:?}");
    let progress_id: u64 = progress
        .id
        .as_deref()
        .expect("an id")
        .parse()
        .expect("numeric");
    assert!(
        progress_id > snapshot_id,
        "{progress_id} after {snapshot_id}"
    );
    drop(stream);

    fixture.sql("INSERT INTO t VALUES (7)").await;
    let resume = progress_id.to_string();
    let mut resumed = SseReader::new(
        fixture
            .get_with("/api/v1/views/v/changes", &[("last-event-id", &resume)])
            .await,
    );
    let insert = resumed.next_changes().await;
    assert!(changes_id(&insert) > progress_id);
    assert_eq!(
        insert.data["changes"],
        json!([{"diff": 1, "row": {"id": 7}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_view_streams_its_changes_too() {
    let fixture = views_fixture().await;
    let mut stream = SseReader::new(
        fixture
            .get_with("/api/v1/views/red_team/changes", &[])
            .await,
    );
    let snapshot = stream.next().await;
    changes_id(&snapshot);
    assert_eq!(
        snapshot.data["changes"],
        json!([
            {"diff": 1, "row": {"id": 1, "name": "ada"}},
            {"diff": 1, "row": {"id": 3, "name": "cy, \"the\" third"}},
        ])
    );
    fixture
        .sql("UPDATE people SET team = 'red' WHERE id = 2")
        .await;
    let joined = stream.next_changes().await;
    assert_eq!(
        joined.data["changes"],
        json!([{"diff": 1, "row": {"id": 2, "name": "bob"}}])
    );
}
