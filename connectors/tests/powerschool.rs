//! The PowerSchool connector end to end: the shared fixture API
//! ([`vigil_fixtures::api`]) plays PowerSchool over `fixtures/powerschool` (a
//! district of two schools and ten students; client-credentials tokens it issues
//! itself; students paged by `page` from 1 and `pagesize`, a last page of one
//! student serialized as an object; PowerQueries for IDEA, 504, EL and incidents),
//! the connector runs against an embedded change log in a temp dir, and the CRDC
//! topics are read back and compared with rows written out by hand.
//!
//! With `pagesize = 3` the ten students take four pages, the last holding one
//! student: the one-element-object quirk on every full run.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{assert_rows, keyed, latest, log, normal_key, records, sha256_hex, succeeded};
use serde_json::{Value, json};
use vigil_changelog::ChangeLog;
use vigil_connectors::run::{
    CRDC_DISCIPLINE_INCIDENTS, CRDC_ENROLLMENTS, CRDC_PROGRAM_ENROLLMENTS, CRDC_SCHOOLS,
    CRDC_STUDENTS, CURSORS_TOPIC, Relation, RunReport, RunStatus,
};
use vigil_connectors::{PowerSchoolConfig, PowerSchoolConnector, run_once};
use vigil_fixtures::api::{Api, Fault, FixtureApi, Request};

const DISTRICT: &str = "demo-ps";

// ---------------------------------------------------------------------------------
// The fixture API playing PowerSchool, and the connector pointed at it.

fn connector(api: &FixtureApi) -> PowerSchoolConnector {
    let text = format!(
        r#"
        tenant_id = "{DISTRICT}"
        base_url = "{}"
        client_id = "demo-powerschool-client"
        client_secret = "demo-powerschool-secret"
        pagesize = 3

        [powerqueries]
        idea = "com.vigil.crdc.idea"
        sec504 = "com.vigil.crdc.sec504"
        el = "com.vigil.crdc.el"
        incidents = "com.vigil.crdc.incidents"

        [http]
        timeout = "5s"
        max_attempts = 4
        backoff_initial = "10ms"
        backoff_max = "50ms"
        max_rate_limit_wait = "10s"
        "#,
        api.base_url(Api::PowerSchool)
    );
    let config = PowerSchoolConfig::parse("test", &text, |_| None).expect("config");
    PowerSchoolConnector::new(config).expect("connector")
}

fn fixture_array(path: &str) -> Vec<Value> {
    let bytes = vigil_fixtures::api::file(&format!("powerschool/{path}")).expect(path);
    match serde_json::from_slice(bytes).expect("fixture json") {
        Value::Array(values) => values,
        other => panic!("{path} is not an array: {other}"),
    }
}

/// The hash of a list element as the connector keeps it: serialized compactly.
fn element_sha(path: &str, field: &str, id: &str) -> String {
    let element = fixture_array(path)
        .into_iter()
        .find(|element| match &element[field] {
            Value::String(text) => text == id,
            other => other.as_u64().is_some_and(|n| id.parse() == Ok(n)),
        })
        .unwrap_or_else(|| panic!("no {field} {id} in {path}"));
    sha256_hex(element.to_string().as_bytes())
}

/// `(key, status)` of every request, in order.
fn seen(api: &FixtureApi) -> Vec<(String, u16)> {
    api.requests()
        .into_iter()
        .filter(|request| request.api == Api::PowerSchool)
        .map(|request| (request.key, request.status))
        .collect()
}

fn keys(requests: &[(String, u16)]) -> Vec<&str> {
    requests.iter().map(|(key, _)| key.as_str()).collect()
}

/// A full run's requests: one token, then the pages.
fn full_run() -> Vec<&'static str> {
    vec![
        "POST token",
        "school?page=1",
        "student/count",
        "student?page=1",
        "student?page=2",
        "student?page=3",
        "student?page=4",
        "query/com.vigil.crdc.idea?page=1",
        "query/com.vigil.crdc.sec504?page=1",
        "query/com.vigil.crdc.el?page=1",
        "query/com.vigil.crdc.incidents?page=1",
        // Three incidents fill a page of three: the next page is empty.
        "query/com.vigil.crdc.incidents?page=2",
    ]
}

// ---------------------------------------------------------------------------------
// Expected rows, written by hand from `fixtures/powerschool`.

/// Adds the tenant and the lineage every row carries.
fn with_lineage(mut row: Value, source_record_id: &str, sha: String, run_id: &str) -> Value {
    row["district_id"] = DISTRICT.into();
    row["tenant_id"] = DISTRICT.into();
    row["source_system"] = "powerschool".into();
    row["source_record_id"] = source_record_id.into();
    row["ingest_batch_id"] = run_id.into();
    row["payload_sha256"] = sha.into();
    row["mapping_version"] = 1.into();
    row
}

struct Student {
    id: &'static str,
    birth: &'static str,
    sex: &'static str,
    hispanic: bool,
    races: &'static [&'static str],
    race_ethnicity: Option<&'static str>,
    grade: &'static str,
    status: &'static str,
    school: &'static str,
    entry: &'static str,
    exit: Option<&'static str>,
}

const STUDENTS: [Student; 10] = [
    student(
        "1001",
        "2016-04-12",
        "F",
        false,
        &["WH"],
        Some("WH"),
        "02",
        "2",
    ),
    student(
        "1002",
        "2015-09-03",
        "M",
        true,
        &["WH"],
        Some("HI"),
        "03",
        "2",
    ),
    student(
        "1003",
        "2013-01-22",
        "F",
        false,
        &["BL"],
        Some("BL"),
        "06",
        "3",
    ),
    student(
        "1004",
        "2012-11-30",
        "M",
        false,
        &["BL", "WH"],
        Some("TR"),
        "07",
        "3",
    ),
    student(
        "1005",
        "2017-06-05",
        "X",
        false,
        &["AS"],
        Some("AS"),
        "01",
        "2",
    ),
    Student {
        entry: "2024-08-19",
        ..student(
            "1006",
            "2019-02-14",
            "F",
            false,
            &["AM"],
            Some("AM"),
            "PK",
            "2",
        )
    },
    student(
        "1007",
        "2018-07-21",
        "M",
        false,
        &["HP"],
        Some("HP"),
        "KG",
        "2",
    ),
    // No race reported: a blank, not a category.
    student("1008", "2011-12-01", "F", false, &[], None, "08", "3"),
    // Transferred out: its exit date is real.
    Student {
        status: "withdrawn",
        exit: Some("2024-12-20"),
        ..student(
            "1009",
            "2012-03-17",
            "M",
            false,
            &["WH"],
            Some("WH"),
            "08",
            "3",
        )
    },
    student(
        "1010",
        "2014-10-09",
        "F",
        true,
        &["AS", "WH"],
        Some("HI"),
        "04",
        "2",
    ),
];

#[allow(clippy::too_many_arguments)]
const fn student(
    id: &'static str,
    birth: &'static str,
    sex: &'static str,
    hispanic: bool,
    races: &'static [&'static str],
    race_ethnicity: Option<&'static str>,
    grade: &'static str,
    school: &'static str,
) -> Student {
    Student {
        id,
        birth,
        sex,
        hispanic,
        races,
        race_ethnicity,
        grade,
        status: "active",
        school,
        entry: "2024-08-14",
        // Active: PowerSchool's scheduled last day is not an exit.
        exit: None,
    }
}

fn student_sha(id: &str) -> String {
    element_sha("students.json", "id", id)
}

fn expected_students(run_id: &str) -> BTreeMap<String, Value> {
    let rows = STUDENTS
        .iter()
        .map(|s| {
            let number = s.id.parse::<u32>().expect("id") - 1000 + 50000;
            with_lineage(
                json!({
                    "student_id": s.id, "sis_id": number.to_string(), "state_id": format!("TX{}", s.id),
                    "birth_date": s.birth, "sex": s.sex, "hispanic": s.hispanic, "races": s.races,
                    "race_ethnicity": s.race_ethnicity, "grade": s.grade, "enrollment_status": s.status,
                }),
                s.id,
                student_sha(s.id),
                run_id,
            )
        })
        .collect();
    keyed(CRDC_STUDENTS.key, rows)
}

fn expected_enrollments(run_id: &str) -> BTreeMap<String, Value> {
    let rows = STUDENTS
        .iter()
        .map(|s| {
            with_lineage(
                json!({
                    "enrollment_id": format!("{}:{}:{}", s.id, s.school, s.entry),
                    "student_id": s.id, "school_id": s.school, "entry_date": s.entry,
                    "exit_date": s.exit, "grade": s.grade,
                }),
                s.id,
                student_sha(s.id),
                run_id,
            )
        })
        .collect();
    keyed(CRDC_ENROLLMENTS.key, rows)
}

fn expected_schools(run_id: &str) -> BTreeMap<String, Value> {
    let school = |id: &str, name: &str, level: &str, low: &str, high: &str| {
        with_lineage(
            json!({
                "school_id": id, "name": name, "nces_id": null, "level": level,
                "lowest_grade": low, "highest_grade": high,
            }),
            id,
            element_sha("schools.json", "id", id),
            run_id,
        )
    };
    keyed(
        CRDC_SCHOOLS.key,
        vec![
            school("2", "Lincoln Elementary", "elementary", "PK", "05"),
            school("3", "Roosevelt Middle", "middle", "06", "08"),
        ],
    )
}

fn expected_programs(run_id: &str) -> BTreeMap<String, Value> {
    let row = |query: &str, program: &str, student: &str, start: &str, end: Option<&str>| {
        let file = format!("powerqueries/{query}.json");
        let record = fixture_array(&file)
            .into_iter()
            .find(|record| record["student_dcid"] == student)
            .expect("record");
        with_lineage(
            json!({"student_id": student, "program": program, "start_date": start, "end_date": end}),
            &format!("{query}:{student}:{start}"),
            sha256_hex(record.to_string().as_bytes()),
            run_id,
        )
    };
    keyed(
        CRDC_PROGRAM_ENROLLMENTS.key,
        vec![
            row("com.vigil.crdc.idea", "IDEA", "1004", "2023-09-10", None),
            row("com.vigil.crdc.idea", "IDEA", "1006", "2024-08-20", None),
            row(
                "com.vigil.crdc.sec504",
                "SEC504",
                "1003",
                "2024-01-15",
                None,
            ),
            row("com.vigil.crdc.el", "EL", "1005", "2022-08-20", None),
            row(
                "com.vigil.crdc.el",
                "EL",
                "1010",
                "2020-08-25",
                Some("2024-05-30"),
            ),
        ],
    )
}

fn expected_incidents(run_id: &str) -> BTreeMap<String, Value> {
    let query = "com.vigil.crdc.incidents";
    let row = |id: &str, columns: Value| {
        let mut row = columns;
        row["incident_id"] = id.into();
        with_lineage(
            row,
            &format!("{query}:{id}"),
            element_sha(&format!("powerqueries/{query}.json"), "incident_id", id),
            run_id,
        )
    };
    keyed(
        CRDC_DISCIPLINE_INCIDENTS.key,
        vec![
            row(
                "INC-1",
                json!({"student_id": "1004", "school_id": "3", "occurred_on": "2024-10-03",
                       "action": "OSS", "zero_tolerance": false, "days_removed": 2.0,
                       "harassment_basis": null}),
            ),
            row(
                "INC-2",
                json!({"student_id": "1008", "school_id": "3", "occurred_on": "2024-11-12",
                       "action": "ISS", "zero_tolerance": false, "days_removed": 1.0,
                       "harassment_basis": "race"}),
            ),
            row(
                "INC-3",
                json!({"student_id": "1009", "school_id": "3", "occurred_on": "2024-12-02",
                       "action": "EXPULSION_WITH_SERVICES", "zero_tolerance": true,
                       "days_removed": null, "harassment_basis": null}),
            ),
        ],
    )
}

/// Compares rows key by key, so a failure names the row that differs.
/// Every relation as one full run of `run_id` leaves it.
fn assert_district(
    log: &dyn ChangeLog,
    rows: impl Fn(&dyn ChangeLog, &str) -> BTreeMap<String, Value>,
    run_id: &str,
) {
    let relations: [(&Relation, BTreeMap<String, Value>); 5] = [
        (&CRDC_SCHOOLS, expected_schools(run_id)),
        (&CRDC_STUDENTS, expected_students(run_id)),
        (&CRDC_ENROLLMENTS, expected_enrollments(run_id)),
        (&CRDC_PROGRAM_ENROLLMENTS, expected_programs(run_id)),
        (&CRDC_DISCIPLINE_INCIDENTS, expected_incidents(run_id)),
    ];
    for (relation, expected) in relations {
        assert_rows(relation.topic, rows(log, relation.topic), expected);
    }
}

/// The latest value per key, over runs that may each publish a key again (an
/// upsert, not a duplicate); a tombstone removes the key.
fn upserted(log: &dyn ChangeLog, topic: &str) -> BTreeMap<String, Value> {
    let mut rows = BTreeMap::new();
    for (key, value) in records(log, topic) {
        let key = normal_key(&key);
        match value {
            Some(value) => rows.insert(key, serde_json::from_str(&value).expect("json")),
            None => rows.remove(&key),
        };
    }
    rows
}

fn runs_row(log: &dyn ChangeLog, report: &RunReport) -> Value {
    let key = normal_key(&json!({"run_id": report.run_id, "tenant_id": DISTRICT}).to_string());
    latest(log, "eng.connector_runs")
        .remove(&key)
        .unwrap_or_else(|| panic!("no connector_runs row for {}", report.run_id))
}

fn cursor_of(log: &dyn ChangeLog) -> Option<Value> {
    latest(log, CURSORS_TOPIC).remove(&format!("powerschool:{DISTRICT}:{DISTRICT}"))
}

// ---------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn a_full_run_publishes_the_district_with_tenant_and_lineage() {
    let api = FixtureApi::start().await.expect("fixture api");
    let connector = connector(&api);
    let log = log();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    assert_eq!((report.rejected, report.published), (0, 2 + 20 + 5 + 3));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_district(&log.log, latest, &report.run_id);

    let requests = seen(&api);
    assert_eq!(keys(&requests), full_run());
    assert!(
        requests.iter().all(|(_, status)| *status == 200),
        "{requests:?}"
    );
    // Every student page asked for the three expansions, by page and pagesize.
    let pages: Vec<Request> = api
        .requests()
        .into_iter()
        .filter(|request| request.key.starts_with("student?"))
        .collect();
    for request in &pages {
        assert_eq!(
            request.query.get("expansions").map(String::as_str),
            Some("demographics,school_enrollment,ethnicity_race")
        );
        assert_eq!(request.query.get("pagesize").map(String::as_str), Some("3"));
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer powerschool-access-1")
        );
    }
    let run = runs_row(&log.log, &report);
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run.get("warnings"), None, "{run}");
    // A full read: the cursor says when the last complete one started.
    let cursor = cursor_of(&log.log).expect("a cursor");
    let cursor =
        vigil_connectors::Cursor::from_json(cursor.to_string().as_bytes()).expect("cursor");
    assert!(cursor.updated_at >= report.started_at && cursor.updated_at <= report.finished_at);
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_refreshed_once_and_the_run_goes_on() {
    let api = FixtureApi::start().await.expect("fixture api");
    // The first token takes three requests: the schools, the count, page 1.
    api.expire_token_after(Api::PowerSchool, 3);
    let connector = connector(&api);
    let log = log();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    let requests = seen(&api);
    assert_eq!(
        requests[..7],
        [
            ("POST token".to_owned(), 200),
            ("school?page=1".to_owned(), 200),
            ("student/count".to_owned(), 200),
            ("student?page=1".to_owned(), 200),
            ("student?page=2".to_owned(), 401),
            ("POST token".to_owned(), 200),
            ("student?page=2".to_owned(), 200),
        ]
    );
    let tokens: Vec<Option<String>> = api
        .requests()
        .into_iter()
        .filter(|request| request.key == "student?page=3")
        .map(|request| request.authorization)
        .collect();
    assert_eq!(tokens, [Some("Bearer powerschool-access-2".to_owned())]);
    assert_eq!(requests.len(), full_run().len() + 2);
    assert_district(&log.log, latest, &report.run_id);

    // A second run keeps using the refreshed token: no new token request.
    api.forget_requests();
    succeeded(&run_once(&connector, DISTRICT, &log.log).await);
    assert_eq!(keys(&seen(&api)), full_run()[1..]);
}

#[tokio::test]
async fn a_wrong_client_secret_fails_the_run_with_the_token_refusal() {
    let api = FixtureApi::start().await.expect("fixture api");
    let text = vigil_fixtures::api::demo_config(Api::PowerSchool, &api.url())
        .replace("demo-powerschool-secret", "wrong");
    let config = PowerSchoolConfig::parse("test", &text, |_| None).expect("config");
    let connector = PowerSchoolConnector::new(config).expect("connector");
    let log = log();
    let report = run_once(&connector, "demo-ps", &log.log).await;
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        error,
        "POST /powerschool/oauth/access_token on 127.0.0.1 answered 401: \
         {\"message\":\"Invalid or expired access token\"} (after 1 attempt)"
    );
    assert!(!error.contains("wrong"), "the secret leaks: {error}");
    assert_eq!(keys(&seen(&api)), ["POST token"]);
}

#[tokio::test]
async fn a_429_and_a_503_are_waited_out() {
    let api = FixtureApi::start().await.expect("fixture api");
    api.fault(Api::PowerSchool, "POST token", Fault::Status(503, vec![]));
    api.fault(
        Api::PowerSchool,
        "student?page=2",
        Fault::Status(429, vec![("retry-after", "1".to_owned())]),
    );
    api.fault(
        Api::PowerSchool,
        "query/com.vigil.crdc.idea?page=1",
        Fault::Status(503, vec![]),
    );
    let connector = connector(&api);
    let log = log();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.rate_limit_waits, 1);
    assert_eq!(report.http.rate_limit_wait, Duration::from_secs(1));
    // The token request's 503, the page's 429, the query's 503.
    assert_eq!(report.http.retries, 3);
    let requests = api.requests();
    let page2: Vec<&Request> = requests
        .iter()
        .filter(|request| request.key == "student?page=2")
        .collect();
    assert_eq!(
        page2.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    assert!(page2[1].instant - page2[0].instant >= Duration::from_secs(1));
    let idea: Vec<u16> = requests
        .iter()
        .filter(|request| request.key == "query/com.vigil.crdc.idea?page=1")
        .map(|request| request.status)
        .collect();
    assert_eq!(idea, [503, 200]);
    let token: Vec<u16> = requests
        .iter()
        .filter(|request| request.key == "POST token")
        .map(|request| request.status)
        .collect();
    assert_eq!(token, [503, 200]);
    assert_district(&log.log, latest, &report.run_id);
}

#[tokio::test]
async fn a_malformed_page_fails_the_run_and_the_next_run_completes_it() {
    let api = FixtureApi::start().await.expect("fixture api");
    api.fault(
        Api::PowerSchool,
        "student?page=3",
        Fault::Body(r#"{"students": {"student": ["#.to_owned()),
    );
    let connector = connector(&api);
    let log = log();
    let failed = run_once(&connector, DISTRICT, &log.log).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        error.starts_with("malformed json from /powerschool/ws/v1/district/student:"),
        "{error}"
    );
    // What came before the broken page is published; the cursor stays unset.
    let students = latest(&log.log, CRDC_STUDENTS.topic);
    let ids: Vec<&Value> = students.values().map(|row| &row["student_id"]).collect();
    assert_eq!(ids, ["1001", "1002", "1003", "1004", "1005", "1006"]);
    assert_eq!(cursor_of(&log.log), None);
    let run = runs_row(&log.log, &failed);
    assert_eq!(
        (&run["status"], &run["error"]),
        (&json!("failed"), &json!(error))
    );

    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    // Every key once in the relation, the second run's rows everywhere.
    assert_district(&log.log, upserted, &report.run_id);
    assert!(cursor_of(&log.log).is_some());
}
