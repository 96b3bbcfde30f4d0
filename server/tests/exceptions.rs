//! Triage of CRDC rule results over HTTP, and the auto-close task, against an
//! in-process server with the built-in views on a manual clock.
//!
//! The district (worked out by hand against the 2025-26 pack):
//! - D1 does not collect nonbinary data; school ELM offers KG–05.
//! - Student A (F, white, grade 03) is enrolled at ELM from 2025-08-20, and was
//!   suspended out of school for 12 days on 2025-11-03: DIS-107 (an OSS longer than
//!   10 days needs review; a warning that an explanation may clear).
//! - Student B (grade 02, enrolled from 2025-08-20) has sex "Q": ENR-004 (no valid
//!   sex; an error only fixing the data clears).
//!
//! The clock stands at 2026-01-15, inside the school year and after every date.

mod in_process;

use in_process::InProcess;
use serde_json::{Value, json};
use vigil_changelog::Message;
use vigil_server::config::ConfigLayer;

struct Running(InProcess);

impl std::ops::Deref for Running {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.0
    }
}

impl Running {
    async fn start(dir: &std::path::Path) -> Running {
        let config = ConfigLayer {
            listen: Some("127.0.0.1:0".into()),
            http_listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.to_path_buf()),
            workers: Some(2),
            clock: Some("manual".into()),
            clock_start: Some("2026-01-15 09:00:00+00".into()),
            ..ConfigLayer::default()
        }
        .resolve()
        .expect("config");
        Running(InProcess::start(&config).await)
    }

    fn publish(&self, topic: &str, key: Value, value: Value) {
        let (key, value) = (key.to_string(), value.to_string());
        self.coordinator
            .log()
            .publish(
                topic,
                &[Message {
                    key: Some(key.as_bytes()),
                    value: Some(value.as_bytes()),
                }],
            )
            .expect("publish");
    }

    fn student(&self, id: &str, sex: &str, grade: &str) {
        self.publish(
            "crdc.students",
            json!({"district_id": "D1", "student_id": id}),
            json!({"district_id": "D1", "student_id": id, "sex": sex, "hispanic": false,
                   "races": ["WH"], "grade": grade, "birth_date": "2016-03-01",
                   "enrollment_status": "active"}),
        );
    }

    fn load_district(&self) {
        self.publish(
            "crdc.collections",
            json!({"year": "2025-26"}),
            json!({"year": "2025-26", "snapshot_date": "2025-10-01",
                   "window_start": "2025-07-01", "window_end": "2026-06-30"}),
        );
        self.publish(
            "crdc.districts",
            json!({"district_id": "D1"}),
            json!({"district_id": "D1", "name": "One", "collects_nonbinary": false}),
        );
        self.publish(
            "crdc.schools",
            json!({"district_id": "D1", "school_id": "ELM"}),
            json!({"district_id": "D1", "school_id": "ELM", "name": "Elm", "level": "elementary",
                   "lowest_grade": "KG", "highest_grade": "05"}),
        );
        self.student("A", "F", "03");
        self.student("B", "Q", "02");
        for (enrollment, student, grade) in [("EA", "A", "03"), ("EB", "B", "02")] {
            self.publish(
                "crdc.enrollments",
                json!({"district_id": "D1", "enrollment_id": enrollment}),
                json!({"district_id": "D1", "enrollment_id": enrollment, "student_id": student,
                       "school_id": "ELM", "entry_date": "2025-08-20", "exit_date": null,
                       "grade": grade}),
            );
        }
        self.publish(
            "crdc.discipline_incidents",
            json!({"district_id": "D1", "incident_id": "I1"}),
            json!({"district_id": "D1", "incident_id": "I1", "student_id": "A",
                   "school_id": "ELM", "occurred_on": "2025-11-03", "action": "OSS",
                   "zero_tolerance": false, "days_removed": 12}),
        );
    }

    async fn patch(&self, key: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .patch(format!("{}/api/v1/exceptions/{key}", self.http))
            .json(&body)
            .send()
            .await
            .expect("patch");
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
}

fn actions(exception: &Value) -> Vec<String> {
    exception["activity"]
        .as_array()
        .expect("activity")
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["actor"].as_str().unwrap(),
                a["action"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_are_triaged_over_http_and_close_when_the_data_is_fixed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Running::start(dir.path()).await;
    server.load_district();
    server
        .until(
            "SELECT rule_id, result_key, clearable FROM crdc_rule_results ORDER BY rule_id",
            &[
                &["DIS-107", "DIS-107:discipline_incident:I1", "t"],
                &["ENR-004", "ENR-004:student:B", "f"],
            ],
        )
        .await;
    let (dis, enr) = ("DIS-107:discipline_incident:I1", "ENR-004:student:B");

    // Refusals: nothing to explain away on a rule that must be fixed, an
    // explanation without its reason, a result that does not exist.
    let explain = json!({"district_id": "D1", "actor": "dd", "status": "explained",
                         "reason_code": "MIDYEAR", "comment": "moved in"});
    let (status, body) = server.patch(enr, explain.clone()).await;
    assert_eq!((status, &body["code"]), (409, &json!("not_clearable")));
    let (status, body) = server
        .patch(
            dis,
            json!({"district_id": "D1", "actor": "dd", "status": "explained"}),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (400, &json!("explanation_incomplete"))
    );
    let (status, body) = server
        .patch(
            "GEN-001:student:Z",
            json!({"district_id": "D1", "actor": "dd", "owner": "x"}),
        )
        .await;
    assert_eq!((status, &body["code"]), (404, &json!("unknown_result")));
    let (status, body) = server
        .patch(
            dis,
            json!({"district_id": "D1", "actor": "dd", "due_on": "soon"}),
        )
        .await;
    assert_eq!((status, &body["code"]), (400, &json!("invalid_date")));

    // Assign, then explain: the result leaves the open counts.
    let (status, body) = server
        .patch(
            dis,
            json!({"district_id": "D1", "actor": "dd", "owner": "ana", "due_on": "2026-02-01"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["owner"]),
        (&json!("open"), &json!("ana"))
    );
    assert_eq!(body["rule_id"], "DIS-107");
    assert_eq!(
        actions(&body),
        ["dd created", "dd assigned", "dd due_date_changed"]
    );
    server
        .until(
            "SELECT rule_id FROM crdc_open_results ORDER BY rule_id",
            &[&["DIS-107"], &["ENR-004"]],
        )
        .await;
    let (status, body) = server.patch(dis, explain).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "explained");
    assert_eq!(
        actions(&body)[3..],
        ["dd explained".to_owned(), "dd commented".to_owned()]
    );
    server
        .until("SELECT rule_id FROM crdc_open_results", &[&["ENR-004"]])
        .await;

    // ENR-004 is assigned; fixing B's sex closes it by itself, and breaking it
    // again reopens it.
    let (status, _) = server
        .patch(
            enr,
            json!({"district_id": "D1", "actor": "dd", "owner": "bo"}),
        )
        .await;
    assert_eq!(status, 200);
    server.student("B", "F", "02");
    server
        .until(
            "SELECT status, updated_by FROM exceptions WHERE result_key = 'ENR-004:student:B'",
            &[&["resolved", "vigil"]],
        )
        .await;
    server.student("B", "Q", "02");
    server
        .until(
            "SELECT status FROM exceptions WHERE result_key = 'ENR-004:student:B'",
            &[&["open"]],
        )
        .await;
    let (status, body) = server
        .get(&format!("/api/v1/exceptions/{enr}?district_id=D1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        actions(&body),
        [
            "dd created",
            "dd assigned",
            "vigil auto_resolved",
            "vigil reopened"
        ]
    );

    let (status, body) = server.get("/api/v1/exceptions?district_id=D1").await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = body["exceptions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["result_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [dis, enr]);
    let (status, body) = server
        .get("/api/v1/exceptions?district_id=D1&status=explained")
        .await;
    assert_eq!(
        (status, body["exceptions"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    server.0.stop().await;
}
