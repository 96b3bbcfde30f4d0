//! The CRDC domain end to end: the built-ins installed on a fresh data directory, a
//! small hand-built district published to the `crdc.*` topics, and the exact
//! contents of crdc_rule_results, crdc_school_counts and readiness, worked out by
//! hand below. Then one student's record is fixed (readiness moves by exactly the
//! hand-computed amount), a result is explained in `exceptions` (it leaves the open
//! counts), a day boundary is crossed (a snapshot, and readiness_trend against it),
//! and a rule pack is swapped in without a restart.
//!
//! The fixture. Collection 2025-26: snapshot 2025-10-01, school year 2025-07-01 …
//! 2026-06-30. The clock starts on Monday 2026-03-02 09:00 UTC. Every enrollment
//! starts 2025-08-20 with no exit unless said.
//!
//! District D1 (does not collect sex X):
//! - schools ELM (KG–05), OAK (06–08), PINE (09–12, no records at all);
//! - at ELM: S01 F Hispanic (races WH) → HI, grade 03, IDEA and 504 → IDEA;
//!   S02 M BL, 504 → 504-only; S03 F AS+WH → TR, EL; S04 M with no race at all
//!   (ENR-004, and ENR-001 for ELM:M); S05 sex X (ENR-005), WH; S06 F WH enrolled in
//!   grade 07 (ENR-006); S07 M AM, also enrolled at OAK from 2026-01-05 (ENR-007 on
//!   that later enrollment E07B); S08 F WH who left on 2025-09-15 (not in the
//!   October 1 count);
//! - at OAK: S11 M WH, S12 F BL with IDEA, S13 M Hispanic → HI, S14 F WH, S15 M AS
//!   with EL;
//! - incidents: I01 (10-10) and I02 (11-12, 12 days: DIS-107) OSS of S11 at OAK;
//!   I03 OSS of S12 with 0 days (DIS-105); I04 expulsion with services of S13 and
//!   I05 ISS of S14, both flagged zero tolerance (2 > 1 expulsion: DIS-104); I06
//!   referral of S14 for harassment on race, with no race allegation at OAK
//!   (HIB-001); I07 ISS of S15 for harassment on sex (an allegation on sex exists:
//!   passes); I08 ISS of S08 at ELM on 11-03, after S08 left (DIS-103); I09 ISS of S01
//!   on 2026-05-20, in the future (GEN-001); I10 ISS of S06. ELM then has 2 WH F
//!   students disciplined (S06, S08) against 1 enrolled (DIS-102);
//! - restraint: R01 physical 15 min and R02 physical 0 min (RST-003) of S12 at OAK;
//!   R03 mechanical during an arrest of S13 (RST-004; not counted); R04 seclusion
//!   300 min of S02 at ELM (RST-003); R05 seclusion of S02 with -5 min (GEN-001);
//! - allegations: A01 at OAK on sex (2025-11-01); A02 at ELM on race reported
//!   2026-04-01, in the future (GEN-001).
//!
//! District D2 (collects sex X), school D2S (KG–12): T1 M WH, T2 F BL, T3 X WH
//! (fine: D2 collects it), T4 F AS, T5 M Hispanic, T6 M with no race (ENR-004 and
//! ENR-001 for D2S:M). No discipline, restraint or allegations.
//!
//! ENR-002, ENR-003, DIS-101, DIS-106 and RST-001 hold by construction for counts
//! derived from records (see the pack's header): the fixture has cells they check
//! (programs, one and several OSS, a referral, restraints) and they pass. RST-002
//! (100,000+ students) passes here and fails in the pack-swap test, whose pack
//! lowers the threshold.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_changelog::Message;
use vigil_engine::repr::Row;
use vigil_engine::repr::text::datum_to_text;
use vigil_sql::{ClockMode, Config, Coordinator, ExecuteResponse};
use vigil_views::crdc::{Snapshot, install_pack, snapshot_if_due};
use vigil_views::{CRDC_RULES, CRDC_VIEWS, ObjectKind};

/// Monday 2026-03-02 09:00:00 UTC.
const START_MS: u64 = 1_772_442_000_000;

struct Harness {
    _dir: tempfile::TempDir,
    coordinator: Coordinator,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = Coordinator::open(Config {
            data_dir: dir.path().to_path_buf(),
            workers: 2,
            log: None,
            clock: ClockMode::Manual {
                start: Some(START_MS),
            },
        })
        .expect("open coordinator");
        Harness {
            _dir: dir,
            coordinator,
            runtime,
        }
    }

    fn install(&self) -> vigil_views::Installed {
        self.runtime
            .block_on(vigil_views::install(&self.coordinator))
            .unwrap_or_else(|e| panic!("install: {e}"))
    }

    fn run(&self, sql: &str) -> Vec<Vec<String>> {
        let mut session = self.coordinator.session();
        self.runtime.block_on(async {
            match session.execute_batch(sql).await.pop() {
                Some(Ok(ExecuteResponse::Rows { rows, .. })) => text(rows),
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => panic!("{sql}: {e} ({})", e.code()),
                None => panic!("{sql}: no result"),
            }
        })
    }

    fn snapshot(&self) -> Option<Snapshot> {
        self.runtime
            .block_on(snapshot_if_due(&self.coordinator))
            .unwrap_or_else(|e| panic!("snapshot: {e}"))
    }

    fn publish(&self, records: &[Record]) {
        let log = self.coordinator.log();
        let mut by_topic: BTreeMap<&str, Vec<(String, Option<String>)>> = BTreeMap::new();
        for record in records {
            by_topic.entry(record.topic).or_default().push((
                record.key.to_string(),
                record.value.as_ref().map(Value::to_string),
            ));
        }
        for (topic, records) in &by_topic {
            let messages: Vec<Message<'_>> = records
                .iter()
                .map(|(key, value)| Message {
                    key: Some(key.as_bytes()),
                    value: value.as_ref().map(|v| v.as_bytes()),
                })
                .collect();
            log.publish(topic, &messages).expect("publish");
        }
    }

    /// Polls `query` until it returns exactly `expected` (in any order).
    fn eventually(&self, query: &str, expected: &[&[&str]]) {
        let expected: BTreeSet<Vec<String>> = expected.iter().map(|r| row(r)).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got: BTreeSet<Vec<String>> = self.run(query).into_iter().collect();
            if got == expected {
                return;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = expected.difference(&got).collect();
                let unexpected: Vec<_> = got.difference(&expected).collect();
                panic!("{query}\n  missing:    {missing:?}\n  unexpected: {unexpected:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn text(rows: Vec<Row>) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|d| datum_to_text(d).unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

fn row(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// One change event for a canonical topic.
struct Record {
    topic: &'static str,
    key: Value,
    value: Option<Value>,
}

/// A record of `relation` whose key is the `key` columns of `value`, with lineage.
fn record(relation: &'static str, topic: &'static str, key: &[&str], value: Value) -> Record {
    let mut value = value;
    let id = key
        .iter()
        .map(|k| value[*k].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("/");
    let key_json: serde_json::Map<String, Value> = key
        .iter()
        .map(|k| (k.to_string(), value[*k].clone()))
        .collect();
    if let Some(object) = value.as_object_mut() {
        object.insert("source_system".into(), json!("generator"));
        object.insert("source_record_id".into(), json!(format!("{relation}:{id}")));
        object.insert("ingest_batch_id".into(), json!("batch-1"));
        object.insert("payload_sha256".into(), json!(format!("sha-{id}")));
    }
    Record {
        topic,
        key: Value::Object(key_json),
        value: Some(value),
    }
}

fn district(id: &str, nonbinary: bool) -> Record {
    record(
        "districts",
        "crdc.districts",
        &["district_id"],
        json!({"district_id": id, "name": format!("District {id}"), "nces_id": "0100001",
               "timezone": "America/Chicago", "collects_nonbinary": nonbinary}),
    )
}

fn school(d: &str, id: &str, level: &str, low: &str, high: &str) -> Record {
    record(
        "schools",
        "crdc.schools",
        &["district_id", "school_id"],
        json!({"district_id": d, "school_id": id, "name": format!("{id} School"),
               "nces_id": "010000100001", "level": level, "lowest_grade": low,
               "highest_grade": high}),
    )
}

/// A student; `races` as reported, `hispanic` the flag.
fn student(d: &str, id: &str, sex: &str, hispanic: bool, races: &[&str], grade: &str) -> Record {
    record(
        "students",
        "crdc.students",
        &["district_id", "student_id"],
        json!({"district_id": d, "student_id": id, "sis_id": format!("sis-{id}"),
               "birth_date": "2015-05-05", "sex": sex, "hispanic": hispanic, "races": races,
               "grade": grade, "enrollment_status": "active"}),
    )
}

fn enrollment(
    d: &str,
    id: &str,
    student: &str,
    school: &str,
    grade: &str,
    entry: &str,
    exit: Option<&str>,
) -> Record {
    record(
        "enrollments",
        "crdc.enrollments",
        &["district_id", "enrollment_id"],
        json!({"district_id": d, "enrollment_id": id, "student_id": student,
               "school_id": school, "entry_date": entry, "exit_date": exit, "grade": grade}),
    )
}

fn program(student: &str, program: &str) -> Record {
    record(
        "program_enrollments",
        "crdc.program_enrollments",
        &["district_id", "student_id", "program", "start_date"],
        json!({"district_id": "D1", "student_id": student, "program": program,
               "start_date": "2025-01-01", "end_date": null}),
    )
}

/// An incident of D1: `fields` add zero_tolerance, harassment_basis.
fn incident(
    id: &str,
    student: &str,
    school: &str,
    on: &str,
    action: &str,
    days: f64,
    fields: Value,
) -> Record {
    let mut value = json!({"district_id": "D1", "incident_id": id, "student_id": student,
        "school_id": school, "occurred_on": on, "action": action, "zero_tolerance": false,
        "days_removed": days});
    if let (Some(value), Value::Object(fields)) = (value.as_object_mut(), fields) {
        value.extend(fields);
    }
    record(
        "discipline_incidents",
        "crdc.discipline_incidents",
        &["district_id", "incident_id"],
        value,
    )
}

fn restraint(
    id: &str,
    student: &str,
    school: &str,
    at: &str,
    kind: &str,
    minutes: i64,
    arrest: bool,
) -> Record {
    record(
        "restraint_seclusion_events",
        "crdc.restraint_seclusion_events",
        &["district_id", "event_id"],
        json!({"district_id": "D1", "event_id": id, "student_id": student, "school_id": school,
               "occurred_at": at, "kind": kind, "duration_minutes": minutes,
               "during_arrest": arrest}),
    )
}

fn allegation(id: &str, school: &str, on: &str, bases: &[&str]) -> Record {
    record(
        "harassment_allegations",
        "crdc.harassment_allegations",
        &["district_id", "allegation_id"],
        json!({"district_id": "D1", "allegation_id": id, "school_id": school,
               "reported_on": on, "bases": bases}),
    )
}

const ENTRY: &str = "2025-08-20";

fn fixture() -> Vec<Record> {
    let none = json!({});
    let mut records = vec![
        Record {
            topic: "crdc.collections",
            key: json!({"year": "2025-26"}),
            value: Some(json!({"year": "2025-26", "snapshot_date": "2025-10-01",
                               "window_start": "2025-07-01", "window_end": "2026-06-30"})),
        },
        district("D1", false),
        district("D2", true),
        school("D1", "ELM", "elementary", "KG", "05"),
        school("D1", "OAK", "middle", "06", "08"),
        school("D1", "PINE", "high", "09", "12"),
        school("D2", "D2S", "other", "KG", "12"),
        student("D1", "S01", "F", true, &["WH"], "03"),
        student("D1", "S02", "M", false, &["BL"], "04"),
        student("D1", "S03", "F", false, &["AS", "WH"], "02"),
        student("D1", "S04", "M", false, &[], "04"),
        student("D1", "S05", "X", false, &["WH"], "01"),
        student("D1", "S06", "F", false, &["WH"], "07"),
        student("D1", "S07", "M", false, &["AM"], "05"),
        student("D1", "S08", "F", false, &["WH"], "01"),
        student("D1", "S11", "M", false, &["WH"], "06"),
        student("D1", "S12", "F", false, &["BL"], "07"),
        student("D1", "S13", "M", true, &[], "08"),
        student("D1", "S14", "F", false, &["WH"], "08"),
        student("D1", "S15", "M", false, &["AS"], "06"),
        enrollment("D1", "E07B", "S07", "OAK", "06", "2026-01-05", None),
        enrollment("D1", "E08", "S08", "ELM", "01", ENTRY, Some("2025-09-15")),
        program("S01", "IDEA"),
        program("S01", "SEC504"),
        program("S02", "SEC504"),
        program("S03", "EL"),
        program("S12", "IDEA"),
        program("S15", "EL"),
        incident("I01", "S11", "OAK", "2025-10-10", "OSS", 3.0, none.clone()),
        incident("I02", "S11", "OAK", "2025-11-12", "OSS", 12.0, none.clone()),
        incident("I03", "S12", "OAK", "2025-12-01", "OSS", 0.0, none.clone()),
        incident(
            "I04",
            "S13",
            "OAK",
            "2026-01-15",
            "EXPULSION_WITH_SERVICES",
            45.0,
            json!({"zero_tolerance": true}),
        ),
        incident(
            "I05",
            "S14",
            "OAK",
            "2026-02-02",
            "ISS",
            1.0,
            json!({"zero_tolerance": true}),
        ),
        incident(
            "I06",
            "S14",
            "OAK",
            "2026-02-10",
            "REFERRAL",
            0.0,
            json!({"harassment_basis": "race"}),
        ),
        incident(
            "I07",
            "S15",
            "OAK",
            "2026-02-11",
            "ISS",
            1.0,
            json!({"harassment_basis": "sex"}),
        ),
        incident("I08", "S08", "ELM", "2025-11-03", "ISS", 1.0, none.clone()),
        incident("I09", "S01", "ELM", "2026-05-20", "ISS", 1.0, none.clone()),
        incident("I10", "S06", "ELM", "2025-12-02", "ISS", 1.0, none),
        restraint(
            "R01",
            "S12",
            "OAK",
            "2025-10-20T10:00:00Z",
            "PHYSICAL",
            15,
            false,
        ),
        restraint(
            "R02",
            "S12",
            "OAK",
            "2025-11-20T10:00:00Z",
            "PHYSICAL",
            0,
            false,
        ),
        restraint(
            "R03",
            "S13",
            "OAK",
            "2026-01-15T11:00:00Z",
            "MECHANICAL",
            30,
            true,
        ),
        restraint(
            "R04",
            "S02",
            "ELM",
            "2025-12-05T09:00:00Z",
            "SECLUSION",
            300,
            false,
        ),
        restraint(
            "R05",
            "S02",
            "ELM",
            "2025-09-10T09:00:00Z",
            "SECLUSION",
            -5,
            false,
        ),
        allegation("A01", "OAK", "2025-11-01", &["sex"]),
        allegation("A02", "ELM", "2026-04-01", &["race"]),
        student("D2", "T1", "M", false, &["WH"], "05"),
        student("D2", "T2", "F", false, &["BL"], "05"),
        student("D2", "T3", "X", false, &["WH"], "05"),
        student("D2", "T4", "F", false, &["AS"], "05"),
        student("D2", "T5", "M", true, &[], "05"),
        student("D2", "T6", "M", false, &[], "05"),
    ];
    // Enrollment E<nn> of S<nn> at its school in its grade.
    for (id, school, grade) in [
        ("01", "ELM", "03"),
        ("02", "ELM", "04"),
        ("03", "ELM", "02"),
        ("04", "ELM", "04"),
        ("05", "ELM", "01"),
        ("06", "ELM", "07"),
        ("07", "ELM", "05"),
        ("11", "OAK", "06"),
        ("12", "OAK", "07"),
        ("13", "OAK", "08"),
        ("14", "OAK", "08"),
        ("15", "OAK", "06"),
    ] {
        records.push(enrollment(
            "D1",
            &format!("E{id}"),
            &format!("S{id}"),
            school,
            grade,
            ENTRY,
            None,
        ));
    }
    for t in ["T1", "T2", "T3", "T4", "T5", "T6"] {
        records.push(enrollment(
            "D2",
            &format!("F{t}"),
            t,
            "D2S",
            "05",
            ENTRY,
            None,
        ));
    }
    records
}

const RESULTS: &str = "SELECT district_id, rule_id, level, entity_type, entity_id, \
                       coalesce(school_id, 'NULL'), severity, result_key FROM crdc_rule_results";

/// Every failing (rule, entity) of the fixture, from the notes above.
fn expected_results() -> Vec<[&'static str; 8]> {
    vec![
        [
            "D1",
            "ENR-001",
            "school",
            "school",
            "ELM:M",
            "ELM",
            "error",
            "ENR-001:school:ELM:M",
        ],
        [
            "D1",
            "ENR-004",
            "record",
            "student",
            "S04",
            "ELM",
            "error",
            "ENR-004:student:S04",
        ],
        [
            "D1",
            "ENR-005",
            "record",
            "student",
            "S05",
            "ELM",
            "error",
            "ENR-005:student:S05",
        ],
        [
            "D1",
            "ENR-006",
            "record",
            "enrollment",
            "E06",
            "ELM",
            "error",
            "ENR-006:enrollment:E06",
        ],
        [
            "D1",
            "ENR-007",
            "record",
            "enrollment",
            "E07B",
            "OAK",
            "error",
            "ENR-007:enrollment:E07B",
        ],
        [
            "D1",
            "GEN-001",
            "record",
            "discipline_incident",
            "I09",
            "ELM",
            "error",
            "GEN-001:discipline_incident:I09",
        ],
        [
            "D1",
            "GEN-001",
            "record",
            "restraint_event",
            "R05",
            "ELM",
            "error",
            "GEN-001:restraint_event:R05",
        ],
        [
            "D1",
            "GEN-001",
            "record",
            "harassment_allegation",
            "A02",
            "ELM",
            "error",
            "GEN-001:harassment_allegation:A02",
        ],
        [
            "D1",
            "DIS-102",
            "school",
            "school",
            "ELM:WH:F",
            "ELM",
            "warning",
            "DIS-102:school:ELM:WH:F",
        ],
        [
            "D1",
            "DIS-103",
            "record",
            "discipline_incident",
            "I08",
            "ELM",
            "error",
            "DIS-103:discipline_incident:I08",
        ],
        [
            "D1",
            "DIS-104",
            "school",
            "school",
            "OAK",
            "OAK",
            "warning",
            "DIS-104:school:OAK",
        ],
        [
            "D1",
            "DIS-105",
            "record",
            "discipline_incident",
            "I03",
            "OAK",
            "error",
            "DIS-105:discipline_incident:I03",
        ],
        [
            "D1",
            "DIS-107",
            "record",
            "discipline_incident",
            "I02",
            "OAK",
            "warning",
            "DIS-107:discipline_incident:I02",
        ],
        [
            "D1",
            "RST-003",
            "record",
            "restraint_event",
            "R02",
            "OAK",
            "warning",
            "RST-003:restraint_event:R02",
        ],
        [
            "D1",
            "RST-003",
            "record",
            "restraint_event",
            "R04",
            "ELM",
            "warning",
            "RST-003:restraint_event:R04",
        ],
        [
            "D1",
            "RST-004",
            "record",
            "restraint_event",
            "R03",
            "OAK",
            "info",
            "RST-004:restraint_event:R03",
        ],
        [
            "D1",
            "HIB-001",
            "school",
            "school",
            "OAK:race",
            "OAK",
            "warning",
            "HIB-001:school:OAK:race",
        ],
        [
            "D2",
            "ENR-001",
            "school",
            "school",
            "D2S:M",
            "D2S",
            "error",
            "ENR-001:school:D2S:M",
        ],
        [
            "D2",
            "ENR-004",
            "record",
            "student",
            "T6",
            "D2S",
            "error",
            "ENR-004:student:T6",
        ],
    ]
}

const READINESS: &str = "SELECT district_id, school_id, category, n, errors, warnings, capped, \
                         score, band FROM readiness";

/// readiness at the start, worked out by hand. N: ELM enrolls S01–S07 on October 1
/// (S08 left), has incidents I08–I10, events R04–R05, allegation A02; OAK enrolls
/// S11–S15 (S07 only from January), I01–I07, R01–R03, A01. general counts them all.
///
/// - ELM enrollment: errors S04 (ENR-004), S05 (ENR-005), S06 (ENR-006 on E06):
///   100 × (1 − 3/7) = 57.14; ENR-001 failed at ELM, so capped (79 is above anyway).
/// - ELM discipline: I08 (DIS-103): 100 × (1 − 1/3) = 66.67. DIS-102 is a school-
///   level warning: neither counted nor capping.
/// - ELM restraint: R04 warning (RST-003): 100 × (1 − 0.25/2) = 87.50. R05's error
///   is GEN-001, category general.
/// - ELM general: I09, R05, A02 (GEN-001) of 7 + 3 + 2 + 1 = 13: 100 × (1 − 3/13)
///   = 76.92.
/// - OAK enrollment: 100; ENR-007 is on E07B of S07, who is not in OAK's October 1
///   enrollment. OAK discipline: I03 error, I02 warning of 7: 100 × (1 − 1.25/7) =
///   82.14. OAK restraint: R02 warning of 3 (R03 is info): 100 × (1 − 0.25/3) =
///   91.67. OAK harassment: HIB-001 is school-level: 100.
/// - D2S enrollment: T6 of 6: 100 × 5/6 = 83.33, capped at 79 by ENR-001 (D2S:M).
fn expected_readiness() -> Vec<[&'static str; 9]> {
    let mut rows = vec![
        [
            "D1",
            "ELM",
            "enrollment",
            "7",
            "3",
            "0",
            "t",
            "57.14",
            "red",
        ],
        [
            "D1",
            "ELM",
            "discipline",
            "3",
            "1",
            "0",
            "f",
            "66.67",
            "red",
        ],
        [
            "D1",
            "ELM",
            "restraint_seclusion",
            "2",
            "0",
            "1",
            "f",
            "87.50",
            "yellow",
        ],
        [
            "D1",
            "ELM",
            "harassment",
            "1",
            "0",
            "0",
            "f",
            "100.00",
            "green",
        ],
        ["D1", "ELM", "general", "13", "3", "0", "f", "76.92", "red"],
        [
            "D1",
            "OAK",
            "enrollment",
            "5",
            "0",
            "0",
            "f",
            "100.00",
            "green",
        ],
        [
            "D1",
            "OAK",
            "discipline",
            "7",
            "1",
            "1",
            "f",
            "82.14",
            "yellow",
        ],
        [
            "D1",
            "OAK",
            "restraint_seclusion",
            "3",
            "0",
            "1",
            "f",
            "91.67",
            "yellow",
        ],
        [
            "D1",
            "OAK",
            "harassment",
            "1",
            "0",
            "0",
            "f",
            "100.00",
            "green",
        ],
        [
            "D1", "OAK", "general", "16", "0", "0", "f", "100.00", "green",
        ],
        [
            "D2",
            "D2S",
            "enrollment",
            "6",
            "1",
            "0",
            "t",
            "79.00",
            "red",
        ],
        [
            "D2", "D2S", "general", "6", "0", "0", "f", "100.00", "green",
        ],
    ];
    for category in [
        "enrollment",
        "discipline",
        "restraint_seclusion",
        "harassment",
        "general",
    ] {
        rows.push([
            "D1", "PINE", category, "0", "0", "0", "f", "100.00", "green",
        ]);
    }
    for category in ["discipline", "restraint_seclusion", "harassment"] {
        rows.push(["D2", "D2S", category, "0", "0", "0", "f", "100.00", "green"]);
    }
    rows
}

const DISTRICT: &str = "SELECT district_id, category, n, score, band FROM readiness_district \
                        WHERE district_id = 'D1'";

/// D1's rollup, the schools' scores weighted by N (PINE weighs nothing):
/// enrollment (7 × 57.14 + 5 × 100) / 12 = 75.00; discipline (3 × 66.67 + 7 ×
/// 82.14) / 10 = 77.50; restraint (2 × 87.50 + 3 × 91.67) / 5 = 90.00; harassment
/// 100; general (13 × 76.92 + 16 × 100) / 29 = 89.65.
const DISTRICT_AT_START: [[&str; 5]; 5] = [
    ["D1", "enrollment", "12", "75.00", "red"],
    ["D1", "discipline", "10", "77.50", "red"],
    ["D1", "restraint_seclusion", "5", "90.00", "yellow"],
    ["D1", "harassment", "2", "100.00", "green"],
    ["D1", "general", "29", "89.65", "yellow"],
];

fn rows<const N: usize>(rows: &[[&str; N]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| row(r)).collect()
}

fn eventually_rows<const N: usize>(h: &Harness, query: &str, expected: &[[&str; N]]) {
    let expected = rows(expected);
    let refs: Vec<Vec<&str>> = expected
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
    h.eventually(query, &slices);
}

const ENRL_CELLS: &str = "SELECT school_id, measure, coalesce(race, '-'), sex, value \
                          FROM crdc_school_counts \
                          WHERE district_id = 'D1' AND module = 'ENRL' AND value > 0";

/// D1's enrollment cells that are not 0: ELM F: S01 HI, S03 TR, S06 WH; ELM M: S02
/// BL, S07 AM, and S04 in the total only; S05 (X) in none, D1 not collecting X.
/// IDEA: S01 (IEP wins over her 504); 504-only: S02; EL: S03. OAK: S11 WH M, S12 BL F
/// (IDEA), S13 HI M, S14 WH F, S15 AS M (EL).
const ENRL_AT_START: [[&str; 5]; 19] = [
    ["ELM", "enrolled", "HI", "F", "1"],
    ["ELM", "enrolled", "TR", "F", "1"],
    ["ELM", "enrolled", "WH", "F", "1"],
    ["ELM", "enrolled", "BL", "M", "1"],
    ["ELM", "enrolled", "AM", "M", "1"],
    ["ELM", "enrolled_total", "-", "F", "3"],
    ["ELM", "enrolled_total", "-", "M", "3"],
    ["ELM", "idea", "-", "F", "1"],
    ["ELM", "sec504_only", "-", "M", "1"],
    ["ELM", "el", "-", "F", "1"],
    ["OAK", "enrolled", "WH", "M", "1"],
    ["OAK", "enrolled", "BL", "F", "1"],
    ["OAK", "enrolled", "HI", "M", "1"],
    ["OAK", "enrolled", "WH", "F", "1"],
    ["OAK", "enrolled", "AS", "M", "1"],
    ["OAK", "enrolled_total", "-", "F", "2"],
    ["OAK", "enrolled_total", "-", "M", "3"],
    ["OAK", "idea", "-", "F", "1"],
    ["OAK", "el", "-", "M", "1"],
];

const OTHER_CELLS: &str = "SELECT school_id, module, measure, coalesce(race, '-'), \
                           coalesce(sex, '-'), coalesce(disability, '-'), coalesce(kind, '-'), \
                           value FROM crdc_school_counts \
                           WHERE district_id = 'D1' AND module <> 'ENRL'";

/// D1's discipline, restraint and harassment cells (all of them: a blank is no
/// record, not a 0). Disability as of October 1: S01 and S12 IDEA, others NONE
/// (S08, who left, too).
const OTHER_AT_START: [[&str; 8]; 29] = [
    // Students with any incident, by race × sex.
    [
        "OAK",
        "DISC",
        "students_disciplined",
        "WH",
        "M",
        "-",
        "-",
        "1",
    ],
    [
        "OAK",
        "DISC",
        "students_disciplined",
        "BL",
        "F",
        "-",
        "-",
        "1",
    ],
    [
        "OAK",
        "DISC",
        "students_disciplined",
        "HI",
        "M",
        "-",
        "-",
        "1",
    ],
    [
        "OAK",
        "DISC",
        "students_disciplined",
        "WH",
        "F",
        "-",
        "-",
        "1",
    ],
    [
        "OAK",
        "DISC",
        "students_disciplined",
        "AS",
        "M",
        "-",
        "-",
        "1",
    ],
    [
        "ELM",
        "DISC",
        "students_disciplined",
        "WH",
        "F",
        "-",
        "-",
        "2",
    ],
    [
        "ELM",
        "DISC",
        "students_disciplined",
        "HI",
        "F",
        "-",
        "-",
        "1",
    ],
    // Students per action: S13 expelled; S14 ISS and referral; S15 ISS; S11 two
    // OSS, S12 one; at ELM S08 and S06 ISS, S01 ISS.
    [
        "OAK",
        "DISC",
        "students",
        "HI",
        "M",
        "NONE",
        "EXPULSION_WITH_SERVICES",
        "1",
    ],
    ["OAK", "DISC", "students", "WH", "F", "NONE", "ISS", "1"],
    [
        "OAK", "DISC", "students", "WH", "F", "NONE", "REFERRAL", "1",
    ],
    ["OAK", "DISC", "students", "AS", "M", "NONE", "ISS", "1"],
    [
        "OAK",
        "DISC",
        "students",
        "WH",
        "M",
        "NONE",
        "oss_multiple",
        "1",
    ],
    ["OAK", "DISC", "students", "BL", "F", "IDEA", "oss_one", "1"],
    ["ELM", "DISC", "students", "WH", "F", "NONE", "ISS", "2"],
    ["ELM", "DISC", "students", "HI", "F", "IDEA", "ISS", "1"],
    // Incidents per action; I04 and I05 are zero tolerance.
    ["OAK", "DISC", "instances", "-", "-", "-", "OSS", "3"],
    [
        "OAK",
        "DISC",
        "instances",
        "-",
        "-",
        "-",
        "EXPULSION_WITH_SERVICES",
        "1",
    ],
    ["OAK", "DISC", "instances", "-", "-", "-", "ISS", "2"],
    ["OAK", "DISC", "instances", "-", "-", "-", "REFERRAL", "1"],
    ["ELM", "DISC", "instances", "-", "-", "-", "ISS", "3"],
    [
        "OAK",
        "DISC",
        "expulsions_zero_tolerance",
        "-",
        "-",
        "-",
        "-",
        "2",
    ],
    // R03 (handcuffs during an arrest) is not counted.
    ["OAK", "RSTR", "instances", "-", "-", "-", "PHYSICAL", "2"],
    ["OAK", "RSTR", "students", "-", "-", "-", "PHYSICAL", "1"],
    ["ELM", "RSTR", "instances", "-", "-", "-", "SECLUSION", "2"],
    ["ELM", "RSTR", "students", "-", "-", "-", "SECLUSION", "1"],
    ["OAK", "HIBS", "allegations", "-", "-", "-", "sex", "1"],
    ["ELM", "HIBS", "allegations", "-", "-", "-", "race", "1"],
    [
        "OAK",
        "HIBS",
        "students_disciplined_harassment",
        "-",
        "-",
        "-",
        "race",
        "1",
    ],
    [
        "OAK",
        "HIBS",
        "students_disciplined_harassment",
        "-",
        "-",
        "-",
        "sex",
        "1",
    ],
];

/// Waits for the fixture's starting state in every checked view.
fn check_start(h: &Harness) {
    eventually_rows(h, RESULTS, &expected_results());
    eventually_rows(h, ENRL_CELLS, &ENRL_AT_START);
    eventually_rows(h, OTHER_CELLS, &OTHER_AT_START);
    eventually_rows(h, READINESS, &expected_readiness());
    eventually_rows(h, DISTRICT, &DISTRICT_AT_START);
}

#[test]
fn crdc_views_follow_the_data_exceptions_and_the_days() {
    let h = Harness::new();

    // A fresh data directory gets every CRDC built-in; the views show their SQL.
    let installed = h.install();
    let crdc = vigil_views::crdc().expect("built-ins");
    for builtin in &crdc {
        assert!(
            installed.created.contains(&builtin.name),
            "{} not created",
            builtin.name
        );
        let noun = match builtin.kind {
            ObjectKind::Source => "SOURCE",
            ObjectKind::Table => continue,
            ObjectKind::View => "VIEW",
            ObjectKind::MaterializedView => "MATERIALIZED VIEW",
        };
        let shown = h.run(&format!("SHOW CREATE {noun} {}", builtin.name));
        assert_eq!(shown, [[builtin.name.clone(), builtin.sql.clone()]]);
    }
    for view in CRDC_VIEWS {
        assert!(
            crdc.iter().any(|b| b.name == view),
            "{view} is not a built-in"
        );
    }
    // Installing again creates nothing.
    let again = h.install();
    assert!(again.created.is_empty(), "{again:?}");

    h.publish(&fixture());
    check_start(&h);

    // Zero cells are reported where enrollment was collected: ELM and OAK have 2
    // sexes × 7 races + 4 measures × 2 sexes = 22 enrollment cells each, 19 of the
    // 44 above 0 (ENRL_AT_START), so 25 are 0.
    // PINE, with no enrollment, has none; D1 reports no X cells.
    h.eventually(
        "SELECT count(*) FILTER (WHERE value = 0), count(*) FILTER (WHERE sex = 'X'), \
         count(*) FILTER (WHERE school_id = 'PINE') FROM crdc_school_counts \
         WHERE district_id = 'D1' AND module = 'ENRL'",
        &[&["25", "0", "0"]],
    );
    // D2 collects X: T3's cell is there.
    h.eventually(
        "SELECT value FROM crdc_school_counts WHERE district_id = 'D2' \
         AND measure = 'enrolled' AND race = 'WH' AND sex = 'X'",
        &[&["1"]],
    );

    // A whole result row: the message from the template, lineage from the record.
    assert_eq!(
        h.run(
            "SELECT domain, collection, rule_version, category, message, remediation, clearable, \
             source_system, source_record_id, ingest_batch_id, payload_sha256 \
             FROM crdc_rule_results WHERE result_key = 'ENR-004:student:S04'"
        ),
        [row(&[
            "crdc",
            "2025-26",
            "1",
            "ENRL",
            "student sis-S04 at ELM has race/ethnicity none and sex M; the CRDC needs one of \
             HI, AM, AS, HP, BL, WH, TR and one of M, F, X",
            "Record the Hispanic flag and races (or the roll-up) and the sex of student sis-S04 \
             in generator.",
            "f",
            "generator",
            "students:D1/S04",
            "batch-1",
            "sha-D1/S04",
        ])]
    );
    // A school-level result has no lineage.
    assert_eq!(
        h.run(
            "SELECT message, coalesce(source_system, 'NULL') FROM crdc_rule_results \
             WHERE result_key = 'ENR-001:school:ELM:M'"
        ),
        [row(&[
            "ELM: 3 students of sex M enrolled on the snapshot date, but the race × sex cells \
             add up to 2",
            "NULL",
        ])]
    );
    assert_eq!(
        h.run("SELECT count(*), count(*) FILTER (WHERE level = 'school') FROM crdc_rules"),
        // ENR-001, ENR-002, ENR-003, DIS-101, DIS-102, DIS-104, DIS-106, RST-001, HIB-001.
        [row(&["20", "9"])]
    );

    // Today's snapshot, once: 3 D1 schools and D2S, 5 categories each.
    assert_eq!(
        h.snapshot(),
        Some(Snapshot {
            day: "2026-03-02".into(),
            rows: 20
        })
    );
    assert_eq!(h.snapshot(), None);
    // No snapshot before today yet: no previous score.
    h.eventually(
        "SELECT score, coalesce(CAST(previous_score AS text), 'NULL') FROM readiness_trend \
         WHERE school_id = 'ELM' AND category = 'enrollment'",
        &[&["57.14", "NULL"]],
    );

    // Fixing S04's record (races BL): ENR-004 leaves, and ELM's male race cells add
    // up again (BL 2 + AM 1 = 3), so ENR-001 leaves too and the cap goes. ELM
    // enrollment: S05 and S06 remain, 100 × (1 − 2/7) = 71.43, a move of exactly
    // +14.29 (100/7 rounded); the district's enrollment (7 × 71.43 + 500) / 12 = 83.33.
    h.publish(&[student("D1", "S04", "M", false, &["BL"], "04")]);
    let mut results = expected_results();
    results.retain(|r| r[7] != "ENR-004:student:S04" && r[7] != "ENR-001:school:ELM:M");
    eventually_rows(&h, RESULTS, &results);
    let mut readiness = expected_readiness();
    readiness[0] = [
        "D1",
        "ELM",
        "enrollment",
        "7",
        "2",
        "0",
        "f",
        "71.43",
        "red",
    ];
    eventually_rows(&h, READINESS, &readiness);
    let mut district = DISTRICT_AT_START;
    district[0] = ["D1", "enrollment", "12", "83.33", "yellow"];
    eventually_rows(&h, DISTRICT, &district);
    h.eventually(
        "SELECT CAST(r.score - s.score AS text) FROM readiness r JOIN readiness_snapshots s \
         ON s.district_id = r.district_id AND s.school_id = r.school_id \
         AND s.category = r.category WHERE r.school_id = 'ELM' AND r.category = 'enrollment'",
        &[&["14.29"]],
    );
    h.eventually(
        "SELECT value FROM crdc_school_counts WHERE school_id = 'ELM' AND measure = 'enrolled' \
         AND race = 'BL' AND sex = 'M'",
        &[&["2"]],
    );

    // S05's sex X is explained. in_review keeps the result open; explained takes it
    // out of the open counts (not out of the results): ELM enrollment has S06 alone,
    // 100 × (1 − 1/7) = 85.71, yellow; the district (7 × 85.71 + 500) / 12 = 91.66.
    let key = "ENR-005:student:S05";
    h.run(&format!(
        "INSERT INTO exceptions VALUES ('D1', '{key}', 'ENR-005', 'student', 'S05', 'ELM', \
         'ana', 'in_review', DATE '2026-03-13', NULL, NULL, 'ana', \
         TIMESTAMPTZ '2026-03-02 09:00:00+00')"
    ));
    h.run(&format!(
        "INSERT INTO exception_activity VALUES \
         ('D1', '{key}', 1, TIMESTAMPTZ '2026-03-02 09:00:00+00', 'ana', 'created', 'in_review'), \
         ('D1', '{key}', 2, TIMESTAMPTZ '2026-03-02 09:00:00+00', 'ana', 'assigned', 'to ana')"
    ));
    h.eventually(
        &format!("SELECT count(*) FROM crdc_open_results WHERE result_key = '{key}'"),
        &[&["1"]],
    );
    eventually_rows(&h, READINESS, &readiness);
    h.run(&format!(
        "UPDATE exceptions SET status = 'explained', reason_code = 'COLLECTED_LOCALLY', \
         comment = 'reported as X by the family' WHERE district_id = 'D1' AND result_key = '{key}'"
    ));
    h.eventually(
        &format!("SELECT count(*) FROM crdc_open_results WHERE result_key = '{key}'"),
        &[&["0"]],
    );
    eventually_rows(&h, RESULTS, &results);
    readiness[0] = [
        "D1",
        "ELM",
        "enrollment",
        "7",
        "1",
        "0",
        "f",
        "85.71",
        "yellow",
    ];
    eventually_rows(&h, READINESS, &readiness);
    district[0] = ["D1", "enrollment", "12", "91.66", "yellow"];
    eventually_rows(&h, DISTRICT, &district);

    // The next day (03-03 09:00): the trend compares with 03-02's snapshot (ELM
    // enrollment 57.14 then, 85.71 now; everything else unchanged), and the day's
    // snapshot is taken once.
    h.run("ADVANCE CLOCK BY '1 day'");
    h.eventually(
        "SELECT school_id, category, score, CAST(previous_day AS text), previous_score, \
         previous_band, change FROM readiness_trend \
         WHERE district_id = 'D1' AND school_id = 'ELM'",
        &[
            &[
                "ELM",
                "enrollment",
                "85.71",
                "2026-03-02",
                "57.14",
                "red",
                "28.57",
            ],
            &[
                "ELM",
                "discipline",
                "66.67",
                "2026-03-02",
                "66.67",
                "red",
                "0.00",
            ],
            &[
                "ELM",
                "restraint_seclusion",
                "87.50",
                "2026-03-02",
                "87.50",
                "yellow",
                "0.00",
            ],
            &[
                "ELM",
                "harassment",
                "100.00",
                "2026-03-02",
                "100.00",
                "green",
                "0.00",
            ],
            &[
                "ELM",
                "general",
                "76.92",
                "2026-03-02",
                "76.92",
                "red",
                "0.00",
            ],
        ],
    );
    assert_eq!(
        h.snapshot(),
        Some(Snapshot {
            day: "2026-03-03".into(),
            rows: 20
        })
    );
    assert_eq!(h.snapshot(), None);
    assert_eq!(
        h.run(
            "SELECT CAST(day AS text) AS d, count(*) FROM readiness_snapshots GROUP BY d ORDER BY d"
        ),
        [row(&["2026-03-02", "20"]), row(&["2026-03-03", "20"])]
    );

    // On 2026-05-20 just after midnight, with no input: A02 (reported 04-01) and I09
    // (05-20) are no longer in the future, so GEN-001 keeps R05 alone and ELM's
    // general score is 100 × (1 − 1/13) = 92.31.
    h.run("ADVANCE CLOCK TO '2026-05-20 00:00:01+00'");
    h.eventually(
        "SELECT entity_id FROM crdc_rule_results WHERE rule_id = 'GEN-001'",
        &[&["R05"]],
    );
    h.eventually(
        "SELECT errors, score, band FROM readiness \
         WHERE school_id = 'ELM' AND category = 'general'",
        &[&["1", "92.31", "yellow"]],
    );
}

#[test]
fn a_rule_pack_is_swapped_without_a_restart() {
    let h = Harness::new();
    h.install();
    h.publish(&fixture());
    eventually_rows(&h, RESULTS, &expected_results());

    // A pack that cannot be planned is refused before anything is dropped.
    let broken = CRDC_RULES.replace("s.sis_id,", "s.no_such_column,");
    let error = h
        .runtime
        .block_on(install_pack(&h.coordinator, &broken))
        .expect_err("a broken pack");
    assert!(error.to_string().contains("rule_enr_004"), "{error}");
    eventually_rows(&h, RESULTS, &expected_results());

    // Version 2 of RST-002 flags districts of 5+ students without restraint or
    // seclusion: D2 (6 students, no events); D1 has counted events.
    let v2 = CRDC_RULES
        .replace(
            "  - id: RST-002\n    version: 1",
            "  - id: RST-002\n    version: 2",
        )
        .replace(">= 100000", ">= 5");
    assert_ne!(v2, CRDC_RULES);
    let swapped = h
        .runtime
        .block_on(install_pack(&h.coordinator, &v2))
        .unwrap_or_else(|e| panic!("swap: {e}"));
    assert_eq!(swapped.collection, "2025-26");
    assert_eq!(swapped.dropped.len(), 20);
    assert!(
        swapped.created.iter().any(|n| n == "readiness_trend"),
        "{swapped:?}"
    );
    let mut results = expected_results();
    results.push([
        "D2",
        "RST-002",
        "district",
        "district",
        "D2",
        "NULL",
        "warning",
        "RST-002:district:D2",
    ]);
    eventually_rows(&h, RESULTS, &results);
    assert_eq!(
        h.run("SELECT rule_version, message FROM crdc_rule_results WHERE rule_id = 'RST-002'"),
        [row(&[
            "2",
            "district D2 enrolls 6 students and reports no restraint or seclusion"
        ])]
    );
    assert_eq!(
        h.run("SELECT rule_version FROM crdc_rules WHERE rule_id = 'RST-002'"),
        [row(&["2"])]
    );
    // The views over the results were rebuilt: a district-level warning moves no
    // school's readiness.
    eventually_rows(&h, READINESS, &expected_readiness());
    eventually_rows(&h, DISTRICT, &DISTRICT_AT_START);
}
