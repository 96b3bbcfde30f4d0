//! CSV imports end to end: a real server in this process (HTTP and the embedded
//! log), the CRDC sources of `views/sql/crdc/sources.sql`, mapping profiles saved
//! over HTTP, CSV files posted to `/api/v1/imports`, and the rows read back with SQL
//! from the sources, lineage and the `ingest_batches` record included.

mod in_process;

use std::path::PathBuf;

use in_process::InProcess;
use serde_json::{Value, json};
use vigil_server::config::ConfigLayer;
use vigil_sql::copy::sha256_hex;

const CRDC_SOURCES: &str = include_str!("../../views/sql/crdc/sources.sql");

/// A server over a data directory that outlives restarts.
struct Running(InProcess);

impl std::ops::Deref for Running {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.0
    }
}

impl Running {
    async fn start(data_dir: PathBuf) -> Running {
        let config = ConfigLayer {
            listen: Some("127.0.0.1:0".into()),
            http_listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir),
            workers: Some(2),
            builtin_views: Some(false),
            ..ConfigLayer::default()
        }
        .resolve()
        .expect("config");
        let running = Running(InProcess::start(&config).await);
        running.rows(CRDC_SOURCES).await;
        running
    }

    async fn stop(self) {
        self.0.stop().await;
    }

    async fn put_profile(&self, name: &str, profile: &Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/api/v1/import-profiles/{name}", self.http))
            .json(profile)
            .send()
            .await
            .expect("put");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.http))
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    async fn import(&self, query: &str, csv: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/imports?{query}", self.http))
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    fn end_offsets(&self, topic: &str) -> Vec<u64> {
        self.coordinator
            .log()
            .end_offsets(topic)
            .unwrap_or_default()
    }
}

fn students_profile() -> Value {
    json!({
        "relation": "students",
        "district_id": "D1",
        "columns": {
            "Student Number": "student_id",
            "Birth Date": "birth_date",
            "Gender": "sex",
            "Race": "race_ethnicity",
            "Grade Level": "grade",
            "Hispanic": "hispanic"
        },
        "values": {
            "race_ethnicity": {"Black or African American": "BL", "White": "WH"},
            "sex": {"Female": "F", "Male": "M"}
        },
        "defaults": {"enrollment_status": "active"}
    })
}

/// Two good rows, a bad date, a row without its student number; "Homeroom" maps
/// to nothing.
const EXPORT_CSV: &str = "\
Student Number,Birth Date,Gender,Race,Grade Level,Hispanic,Homeroom
1001,2012-03-04,Female,Black or African American,07,N,Rm 4
1002,2011-11-30,male,White,08,Y,Rm 5
1003,2012-02-30,Female,White,07,N,Rm 4
,2012-01-01,Male,White,07,N,Rm 6
";

/// A saved profile maps headers and values, loads the good rows with lineage, and
/// reports every bad value with its line; the batch is recorded with the file's hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_loads_good_rows_and_reports_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Running::start(dir.path().to_path_buf()).await;
    let (status, body) = server
        .put_profile("district-students", &students_profile())
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, summary) = server
        .import(
            "profile=district-students&file_name=students.csv",
            EXPORT_CSV,
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["relation"], "students");
    assert_eq!(summary["district_id"], "D1");
    assert_eq!(summary["rows_total"], 4);
    assert_eq!(summary["rows_loaded"], 2);
    assert_eq!(summary["rows_rejected"], 2);
    assert_eq!(summary["file_sha256"], sha256_hex(EXPORT_CSV.as_bytes()));
    assert_eq!(summary["unmapped_headers"], json!(["Homeroom"]));
    let rejects = summary["rejects"].as_array().expect("rejects");
    assert_eq!(rejects.len(), 2, "{summary}");
    assert_eq!(rejects[0]["line"], 4);
    assert_eq!(rejects[0]["column"], "Birth Date");
    assert_eq!(rejects[0]["value"], "2012-02-30");
    assert_eq!(rejects[1]["line"], 5);
    assert_eq!(rejects[1]["column"], "Student Number");
    assert!(
        rejects[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("student_id")),
        "{summary}"
    );
    let batch = summary["batch_id"].as_str().expect("batch id").to_owned();

    server
        .until(
            "SELECT district_id, student_id, birth_date::text, sex, race_ethnicity, grade, \
             hispanic::text, enrollment_status, source_system, source_record_id \
             FROM students ORDER BY student_id",
            &[
                &[
                    "D1",
                    "1001",
                    "2012-03-04",
                    "F",
                    "BL",
                    "07",
                    "false",
                    "active",
                    "csv",
                    "students.csv:2",
                ],
                &[
                    "D1",
                    "1002",
                    "2011-11-30",
                    "M",
                    "WH",
                    "08",
                    "true",
                    "active",
                    "csv",
                    "students.csv:3",
                ],
            ],
        )
        .await;
    let line2 = "1001,2012-03-04,Female,Black or African American,07,N,Rm 4";
    let lineage = server
        .rows("SELECT ingest_batch_id, payload_sha256 FROM students WHERE student_id = '1001'")
        .await;
    assert_eq!(lineage, [[batch.clone(), sha256_hex(line2.as_bytes())]]);

    server
        .until(
            "SELECT district_id, batch_id, source_system, relation, file_name, file_sha256, \
             profile, rows_total::text, rows_loaded::text, rows_rejected::text FROM ingest_batches",
            &[&[
                "D1",
                &batch,
                "csv",
                "students",
                "students.csv",
                &sha256_hex(EXPORT_CSV.as_bytes()),
                "district-students",
                "4",
                "2",
                "2",
            ]],
        )
        .await;

    // The reject report as CSV; the name from Content-Disposition.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/imports?profile=district-students",
            server.http
        ))
        .header("accept", "text/csv")
        .header("content-disposition", "attachment; filename=\"fall.csv\"")
        .body(EXPORT_CSV)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-vigil-rows-loaded"], "2");
    assert_eq!(response.headers()["x-vigil-rows-rejected"], "2");
    let report = response.text().await.expect("text");
    let mut lines = report.lines();
    assert_eq!(lines.next(), Some("line,column,value,error"));
    let first = lines.next().expect("a reject");
    assert!(first.starts_with("4,Birth Date,2012-02-30,"), "{report}");
    let second = lines.next().expect("a second reject");
    assert!(second.starts_with("5,Student Number,,"), "{report}");
    assert_eq!(lines.next(), None);
    // Loading again replaces the rows (upsert by key) with the new lineage.
    server
        .until(
            "SELECT count(*)::text, min(source_record_id) FROM students",
            &[&["2", "fall.csv:2"]],
        )
        .await;
    server.stop().await;
}

/// Profiles are checked against their relation, listed, and kept across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_checked_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Running::start(dir.path().to_path_buf()).await;

    let mut unknown_field = students_profile();
    unknown_field["columns"]["Homeroom"] = json!("homeroom");
    let (status, body) = server.put_profile("bad", &unknown_field).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_field"))
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("homeroom"))
    );

    let mut bad_default = students_profile();
    bad_default["defaults"] = json!({"birth_date": "someday"});
    let (status, body) = server.put_profile("bad", &bad_default).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_profile"))
    );

    let (status, body) = server
        .put_profile("bad", &json!({"relation": "pupils"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_relation"))
    );
    let (status, body) = server
        .put_profile("bad", &json!({"relation": "students", "colums": {}}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_profile"))
    );

    let (status, _) = server
        .put_profile("district-students", &students_profile())
        .await;
    assert_eq!(status, 200);
    let mut renamed = students_profile();
    renamed["columns"]["Student ID"] = json!("sis_id");
    let (status, _) = server.put_profile("district-students", &renamed).await;
    assert_eq!(status, 200);
    let (status, list) = server.get("/api/v1/import-profiles").await;
    assert_eq!(status, 200);
    assert_eq!(list["profiles"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["profiles"][0]["name"], "district-students");
    assert_eq!(list["profiles"][0]["columns"]["Student ID"], "sis_id");
    let (status, body) = server.get("/api/v1/import-profiles/nope").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_profile"))
    );

    server.stop().await;
    let server = Running::start(dir.path().to_path_buf()).await;
    let (status, profile) = server
        .get("/api/v1/import-profiles/district-students")
        .await;
    assert_eq!(status, 200, "{profile}");
    let mut expected = renamed.clone();
    expected["name"] = json!("district-students");
    assert_eq!(profile, expected);
    server.stop().await;
}

/// A file that cannot load as asked is refused as a whole (422, a stable code) and
/// nothing reaches the source or the batch log; a file with the canonical names
/// loads without a profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_are_refused_and_canonical_files_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Running::start(dir.path().to_path_buf()).await;

    let cases = [
        (
            "relation=students&district_id=D1",
            "foo,bar\n1,2\n",
            422,
            "no_usable_columns",
        ),
        (
            "relation=students&district_id=D1",
            "sex,grade\nF,07\n",
            422,
            "missing_columns",
        ),
        (
            "relation=students&district_id=D1",
            "",
            422,
            "missing_header",
        ),
        (
            "relation=students",
            "district_id,student_id\nD1,1\nD2,2\n",
            422,
            "district_required",
        ),
        ("relation=pupils", "a\n1\n", 400, "unknown_relation"),
        ("profile=nope", "a\n1\n", 404, "unknown_profile"),
        ("", "a\n1\n", 400, "missing_relation"),
    ];
    for (query, csv, status, code) in cases {
        let (got, body) = server.import(query, csv).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{query}: {body}"
        );
    }
    assert_eq!(server.end_offsets("crdc.students"), [0]);
    assert_eq!(server.end_offsets("crdc.ingest_batches"), [0]);

    // Canonical headers, a district from the file, a UTF-8 byte-order mark.
    let csv = "\u{feff}district_id,student_id,races,hispanic\nD2,7,\"{BL,WH}\",false\n";
    let (status, summary) = server.import("relation=students", csv).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (
            &summary["district_id"],
            &summary["rows_loaded"],
            &summary["profile"]
        ),
        (&json!("D2"), &json!(1), &Value::Null)
    );
    server
        .until(
            "SELECT district_id, student_id, races, source_record_id FROM students",
            &[&["D2", "7", "{BL,WH}", "upload.csv:2"]],
        )
        .await;
    server.stop().await;
}
