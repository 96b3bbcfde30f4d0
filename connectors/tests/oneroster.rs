//! The OneRoster 1.2 connector (Infinite Campus) end to end: the shared fixture API
//! ([`vigil_fixtures::api`]) plays Campus over `fixtures/oneroster` (a district
//! org, two schools, ten students and a teacher, their demographics; client-
//! credentials tokens it issues itself; collections paged by `limit` and `offset`,
//! filtered by `dateLastModified>'…'`), the connector runs against an embedded
//! change log in a temp dir, and the CRDC topics are read back and compared with
//! rows written out by hand.
//!
//! With `limit = 4` the eleven users take three pages and the nine demographics
//! records three.

mod common;

use std::collections::BTreeMap;

use common::{assert_rows, keyed, latest, log, normal_key, records, sha256_hex, succeeded};
use serde_json::{Value, json};
use vigil_changelog::ChangeLog;
use vigil_connectors::run::{
    CRDC_ENROLLMENTS, CRDC_SCHOOLS, CRDC_STUDENTS, CURSORS_TOPIC, Relation, RunReport, RunStatus,
};
use vigil_connectors::{OneRosterConfig, OneRosterConnector, run_once};
use vigil_fixtures::api::{Api, Fault, FixtureApi};

const DISTRICT: &str = "demo-ic";
const FILTER_AFTER_RUN_1: &str = "dateLastModified>'2024-10-04T17:55:00.000Z'";

// ---------------------------------------------------------------------------------
// The fixture API playing Campus, and the connector pointed at it.

fn connector(api: &FixtureApi) -> OneRosterConnector {
    let text = format!(
        r#"
        tenant_id = "{DISTRICT}"
        base_url = "{}"
        app_name = "demo"
        client_id = "demo-oneroster-client"
        client_secret = "demo-oneroster-secret"
        limit = 4
        overlap = "5m"

        [http]
        timeout = "5s"
        max_attempts = 4
        backoff_initial = "10ms"
        backoff_max = "50ms"
        max_rate_limit_wait = "10s"
        "#,
        api.base_url(Api::OneRoster)
    );
    let config = OneRosterConfig::parse("test", &text, |_| None).expect("config");
    OneRosterConnector::new(config).expect("connector")
}

fn fixture_array(name: &str) -> Vec<Value> {
    let path = format!("oneroster/{name}.json");
    let bytes = vigil_fixtures::api::file(&path).expect("fixture");
    match serde_json::from_slice(bytes).expect("fixture json") {
        Value::Array(values) => values,
        other => panic!("{path} is not an array: {other}"),
    }
}

/// The hash of a record as the connector keeps it: serialized compactly.
fn sha(collection: &str, id: &str) -> String {
    let record = fixture_array(collection)
        .into_iter()
        .find(|record| record["sourcedId"] == id)
        .unwrap_or_else(|| panic!("no {id} in {collection}"));
    sha256_hex(record.to_string().as_bytes())
}

/// `(key, status)` of every request, in order.
fn seen(api: &FixtureApi) -> Vec<(String, u16)> {
    api.requests()
        .into_iter()
        .map(|request| (request.key, request.status))
        .collect()
}

fn keys(requests: &[(String, u16)]) -> Vec<&str> {
    requests.iter().map(|(key, _)| key.as_str()).collect()
}

/// A first run's requests after the token: the pages, four records each.
const PAGES: [&str; 8] = [
    "orgs?offset=0",
    "academicSessions?offset=0",
    "demographics?offset=0",
    "demographics?offset=4",
    "demographics?offset=8",
    "users?offset=0",
    "users?offset=4",
    "users?offset=8",
];

// ---------------------------------------------------------------------------------
// Expected rows, written by hand from `fixtures/oneroster`.

fn with_lineage(mut row: Value, source_record_id: &str, sha: String, run_id: &str) -> Value {
    row["district_id"] = DISTRICT.into();
    row["tenant_id"] = DISTRICT.into();
    row["source_system"] = "oneroster".into();
    row["source_record_id"] = source_record_id.into();
    row["ingest_batch_id"] = run_id.into();
    row["payload_sha256"] = sha.into();
    row["mapping_version"] = 1.into();
    row
}

fn expected_schools(run_id: &str) -> BTreeMap<String, Value> {
    let school = |id: &str, name: &str, nces: Option<&str>| {
        with_lineage(
            json!({"school_id": id, "name": name, "nces_id": nces, "level": null,
                   "lowest_grade": null, "highest_grade": null}),
            id,
            sha("orgs", id),
            run_id,
        )
    };
    keyed(
        CRDC_SCHOOLS.key,
        vec![
            // Its identifier is a local code, not a 12-digit NCES id.
            school("org-jeff", "Jefferson High", None),
            school("org-wash", "Washington Elementary", Some("480000200011")),
        ],
    )
}

/// `(birth_date, sex, hispanic, races, race_ethnicity)` from the demographics.
type Demo = (
    Option<&'static str>,
    Option<&'static str>,
    Option<bool>,
    Option<&'static [&'static str]>,
    Option<&'static str>,
);

/// `(id, demographics, grade, status)` of each student.
const STUDENTS: [(&str, Demo, &str, &str); 10] = [
    (
        "u-01",
        (
            Some("2015-03-02"),
            Some("M"),
            Some(false),
            Some(&["WH"]),
            Some("WH"),
        ),
        "03",
        "active",
    ),
    (
        "u-02",
        (
            Some("2014-07-19"),
            Some("F"),
            Some(true),
            Some(&["WH"]),
            Some("HI"),
        ),
        "04",
        "active",
    ),
    (
        "u-03",
        (
            Some("2019-01-30"),
            Some("M"),
            Some(false),
            Some(&["AM"]),
            Some("AM"),
        ),
        "KG",
        "active",
    ),
    (
        "u-04",
        (
            Some("2009-05-11"),
            Some("F"),
            Some(false),
            Some(&["BL"]),
            Some("BL"),
        ),
        "09",
        "active",
    ),
    (
        "u-05",
        (
            Some("2009-12-24"),
            Some("M"),
            Some(false),
            Some(&["AS", "WH"]),
            Some("TR"),
        ),
        "09",
        "active",
    ),
    (
        "u-06",
        (
            Some("2008-10-08"),
            Some("F"),
            Some(false),
            Some(&["HP"]),
            Some("HP"),
        ),
        "10",
        "active",
    ),
    // Sex unspecified, ethnicity not reported, no race: blanks.
    (
        "u-07",
        (Some("2020-04-17"), None, None, Some(&[]), None),
        "PK",
        "active",
    ),
    (
        "u-08",
        (
            Some("2007-09-27"),
            Some("X"),
            Some(false),
            Some(&["AS"]),
            Some("AS"),
        ),
        "11",
        "active",
    ),
    // String booleans, 1.1 style; a disabled user.
    (
        "u-09",
        (
            Some("2006-06-06"),
            Some("M"),
            Some(false),
            Some(&["BL", "WH"]),
            Some("TR"),
        ),
        "12",
        "inactive",
    ),
    // No demographics record at all.
    ("u-10", NO_DEMOGRAPHICS, "05", "active"),
];

const NO_DEMOGRAPHICS: Demo = (None, None, None, None, None);

fn student_row(id: &str, demo: Demo, grade: &str, status: &str, run_id: &str) -> Value {
    let (birth, sex, hispanic, races, race_ethnicity) = demo;
    let number = &id[2..];
    with_lineage(
        json!({
            "student_id": id, "sis_id": format!("600{number}"), "state_id": format!("TX20{number}"),
            "birth_date": birth, "sex": sex, "hispanic": hispanic, "races": races,
            "race_ethnicity": race_ethnicity, "grade": grade, "enrollment_status": status,
        }),
        id,
        sha("users", id),
        run_id,
    )
}

fn expected_students(run_id: &str, demographics: bool) -> BTreeMap<String, Value> {
    let rows = STUDENTS
        .iter()
        .map(|&(id, demo, grade, status)| {
            let demo = if demographics { demo } else { NO_DEMOGRAPHICS };
            student_row(id, demo, grade, status, run_id)
        })
        .collect();
    keyed(CRDC_STUDENTS.key, rows)
}

/// `(student, school, entry, exit, grade)` of each school role.
const ENROLLMENTS: [(&str, &str, &str, Option<&str>, &str); 11] = [
    ("u-01", "org-wash", "2024-08-14", None, "03"),
    ("u-02", "org-wash", "2024-08-14", None, "04"),
    ("u-03", "org-wash", "2024-08-14", None, "KG"),
    ("u-04", "org-jeff", "2024-08-14", None, "09"),
    // Moved from one school to the other mid-year: two enrollments.
    ("u-05", "org-wash", "2024-08-14", Some("2024-12-20"), "09"),
    ("u-05", "org-jeff", "2025-01-06", None, "09"),
    ("u-06", "org-jeff", "2024-08-14", None, "10"),
    ("u-07", "org-wash", "2024-08-26", None, "PK"),
    ("u-08", "org-jeff", "2024-08-14", None, "11"),
    ("u-09", "org-jeff", "2024-08-14", Some("2024-10-04"), "12"),
    ("u-10", "org-wash", "2024-08-14", None, "05"),
];

fn expected_enrollments(run_id: &str) -> BTreeMap<String, Value> {
    let rows = ENROLLMENTS
        .iter()
        .map(|&(student, school, entry, exit, grade)| {
            with_lineage(
                json!({
                    "enrollment_id": format!("{student}:{school}"), "student_id": student,
                    "school_id": school, "entry_date": entry, "exit_date": exit, "grade": grade,
                }),
                student,
                sha("users", student),
                run_id,
            )
        })
        .collect();
    keyed(CRDC_ENROLLMENTS.key, rows)
}

fn assert_district(
    log: &dyn ChangeLog,
    rows: impl Fn(&dyn ChangeLog, &str) -> BTreeMap<String, Value>,
    run_id: &str,
    demographics: bool,
) {
    let relations: [(&Relation, BTreeMap<String, Value>); 3] = [
        (&CRDC_SCHOOLS, expected_schools(run_id)),
        (&CRDC_STUDENTS, expected_students(run_id, demographics)),
        (&CRDC_ENROLLMENTS, expected_enrollments(run_id)),
    ];
    for (relation, expected) in relations {
        assert_rows(relation.topic, rows(log, relation.topic), expected);
    }
}

/// The latest value per key over runs that may publish a key again; a tombstone
/// removes the key.
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
    latest(log, CURSORS_TOPIC).remove(&format!("oneroster:{DISTRICT}:{DISTRICT}"))
}

fn key_of(columns: Value) -> String {
    normal_key(&columns.to_string())
}

// ---------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn a_first_run_publishes_schools_students_and_school_enrollments() {
    let api = FixtureApi::start().await.expect("fixture api");
    let connector = connector(&api);
    let log = log();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    assert_eq!((report.published, report.rejected), (2 + 10 + 11, 0));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_district(&log.log, latest, &report.run_id, true);

    let requests = seen(&api);
    let mut expected = vec!["POST token"];
    expected.extend(PAGES);
    assert_eq!(keys(&requests), expected);
    assert!(
        requests.iter().all(|(_, status)| *status == 200),
        "{requests:?}"
    );
    let token = &api.requests()[0];
    assert_eq!(
        (
            token.path.as_str(),
            token.query.get("appName").map(String::as_str)
        ),
        ("/campus/oauth2/token", Some("demo"))
    );
    // A first run asks for everything.
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.query.contains_key("filter"))
    );
    // The highest dateLastModified of anything read: user u-09.
    assert_eq!(
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-10-04T18:00:00Z"}))
    );
    assert_eq!(runs_row(&log.log, &report).get("warnings"), None);
}

#[tokio::test]
async fn a_later_run_asks_from_the_cursor_and_tobedeleted_is_a_tombstone() {
    let api = FixtureApi::start().await.expect("fixture api");
    let connector = connector(&api);
    let log = log();
    let first = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&first);

    // Between the runs: u-10 leaves the district, and u-03's birth date is fixed in
    // the demographics only.
    let after_orgs = "orgs?offset=0";
    api.edit_after(
        Api::OneRoster,
        after_orgs,
        "oneroster/users.json",
        |users| {
            for user in users.as_array_mut().expect("users") {
                if user["sourcedId"] == "u-10" {
                    user["status"] = "tobedeleted".into();
                    user["dateLastModified"] = "2024-10-10T08:00:00.000Z".into();
                }
            }
        },
    );
    api.edit_after(
        Api::OneRoster,
        after_orgs,
        "oneroster/demographics.json",
        |records| {
            for record in records.as_array_mut().expect("demographics") {
                if record["sourcedId"] == "u-03" {
                    record["birthDate"] = "2019-01-31".into();
                    record["dateLastModified"] = "2024-10-11T09:00:00.000Z".into();
                }
            }
        },
    );
    api.forget_requests();
    let second = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&second);

    let requests = api.requests();
    let asked: Vec<(&str, Option<&str>)> = requests
        .iter()
        .map(|r| (r.key.as_str(), r.query.get("filter").map(String::as_str)))
        .collect();
    assert_eq!(
        asked,
        [
            // The token is still good: no token request.
            ("orgs?offset=0", Some(FILTER_AFTER_RUN_1)),
            ("academicSessions?offset=0", Some(FILTER_AFTER_RUN_1)),
            // Demographics are read whole: a student row needs its user's.
            ("demographics?offset=0", None),
            ("demographics?offset=4", None),
            ("demographics?offset=8", None),
            // u-09 (changed at the cursor, within the overlap) and u-10.
            ("users?offset=0", Some(FILTER_AFTER_RUN_1)),
            // u-03 did not change, its demographics did.
            ("users/u-03", None),
        ]
    );
    // u-09 again (student and enrollment), u-10's two tombstones, u-03 again.
    assert_eq!(second.published, 6);

    let students = records(&log.log, CRDC_STUDENTS.topic);
    let u10 = key_of(json!({"district_id": DISTRICT, "student_id": "u-10"}));
    let last_u10 = students
        .iter()
        .rev()
        .find(|(key, _)| normal_key(key) == u10)
        .map(|(_, value)| value.clone());
    assert_eq!(last_u10, Some(None), "u-10's student row is a tombstone");

    let mut expected = expected_students(&first.run_id, true);
    expected.remove(&u10);
    let u03 = key_of(json!({"district_id": DISTRICT, "student_id": "u-03"}));
    let mut row = expected[&u03].clone();
    row["birth_date"] = "2019-01-31".into();
    row["ingest_batch_id"] = second.run_id.clone().into();
    expected.insert(u03, row);
    let u09 = key_of(json!({"district_id": DISTRICT, "student_id": "u-09"}));
    let mut row = expected[&u09].clone();
    row["ingest_batch_id"] = second.run_id.clone().into();
    expected.insert(u09, row);
    assert_rows(
        CRDC_STUDENTS.topic,
        upserted(&log.log, CRDC_STUDENTS.topic),
        expected,
    );
    let enrollments = upserted(&log.log, CRDC_ENROLLMENTS.topic);
    let gone = key_of(json!({"district_id": DISTRICT, "enrollment_id": "u-10:org-wash"}));
    assert!(!enrollments.contains_key(&gone), "u-10's enrollment stays");
    assert_eq!(enrollments.len(), 10);
    assert_eq!(
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-10-11T09:00:00Z"}))
    );
}

#[tokio::test]
async fn demographics_refused_with_403_is_a_warning_and_the_columns_stay_null() {
    let api = FixtureApi::start().await.expect("fixture api");
    api.fault(
        Api::OneRoster,
        "demographics?offset=0",
        Fault::Status(403, vec![]),
    );
    api.fault(Api::OneRoster, "orgs?offset=0", Fault::Status(503, vec![]));
    let connector = connector(&api);
    let log = log();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    assert_eq!(report.http.retries, 1, "the 503 is retried, the 403 is not");
    let warning = "demographics not granted: GET \
                   /oneroster/campus/api/ims/oneroster/rostering/v1p2/demographics on 127.0.0.1 \
                   answered 403 (after 1 attempt); birth_date, sex, hispanic, races and \
                   race_ethnicity are left null; hint: give the app the demographics grant in \
                   campus";
    assert_eq!(report.warnings, [warning]);
    let run = runs_row(&log.log, &report);
    assert_eq!(
        (&run["status"], &run["error"], &run["warnings"]),
        (&json!("succeeded"), &Value::Null, &json!([warning]))
    );
    assert_district(&log.log, latest, &report.run_id, false);
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_refreshed_once_and_the_run_goes_on() {
    let api = FixtureApi::start().await.expect("fixture api");
    api.expire_token_after(Api::OneRoster, 2);
    let connector = connector(&api);
    let log = log();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    let requests = seen(&api);
    assert_eq!(
        requests[..6],
        [
            ("POST token".to_owned(), 200),
            ("orgs?offset=0".to_owned(), 200),
            ("academicSessions?offset=0".to_owned(), 200),
            ("demographics?offset=0".to_owned(), 401),
            ("POST token".to_owned(), 200),
            ("demographics?offset=0".to_owned(), 200),
        ]
    );
    assert_eq!(requests.len(), PAGES.len() + 3);
    assert_district(&log.log, latest, &report.run_id, true);
}

#[tokio::test]
async fn a_malformed_page_fails_the_run_and_the_next_run_completes_it() {
    let api = FixtureApi::start().await.expect("fixture api");
    api.fault(
        Api::OneRoster,
        "users?offset=4",
        Fault::Body(r#"{"users": [{"sourcedId": "#.to_owned()),
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
        error.starts_with(
            "malformed json from /oneroster/campus/api/ims/oneroster/rostering/v1p2/users:"
        ),
        "{error}"
    );
    // The first page of users (the teacher and three students) is published; the
    // cursor does not move, so the next run asks for everything again.
    assert_eq!(latest(&log.log, CRDC_STUDENTS.topic).len(), 3);
    assert_eq!(cursor_of(&log.log), None);
    assert_eq!(runs_row(&log.log, &failed)["status"], "failed");

    api.forget_requests();
    let report = run_once(&connector, DISTRICT, &log.log).await;
    succeeded(&report);
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.query.contains_key("filter"))
    );
    assert_district(&log.log, upserted, &report.run_id, true);
    assert_eq!(
        cursor_of(&log.log),
        Some(json!({"updated_at": "2024-10-04T18:00:00Z"}))
    );
}
