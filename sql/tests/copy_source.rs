//! `COPY … FROM STDIN` into sources, end to end through a [`Session`]: the canonical
//! CRDC sources of `views/sql/crdc/sources.sql` over the embedded log, loaded with
//! CSV and text data the way `psql \copy` sends it. A COPY decodes every row with
//! the source's column types, publishes them in one call to the source's topic
//! (key and value JSON objects), fills the lineage columns the file leaves out, and
//! checks a HEADER line against the columns; the source reads the records like any
//! other. A bad row publishes nothing.

use std::time::{Duration, Instant};

use vigil_changelog::Record;
use vigil_engine::repr::Row;
use vigil_engine::repr::text::datum_to_text;
use vigil_sql::{Config, Coordinator, ExecuteResponse, Session, SqlError};

const CRDC_SOURCES: &str = include_str!("../../views/sql/crdc/sources.sql");

/// A coordinator over a fresh data directory and its embedded log, with the CRDC
/// sources created.
struct Harness {
    _dir: tempfile::TempDir,
    coordinator: Coordinator,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let coordinator = runtime.block_on(async {
            Coordinator::open(Config {
                data_dir: dir.path().to_path_buf(),
                workers: 2,
                log: None,
                clock: Default::default(),
            })
            .expect("open coordinator")
        });
        let harness = Harness {
            _dir: dir,
            coordinator,
            runtime,
        };
        harness.run(CRDC_SOURCES);
        harness
    }

    fn execute(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        let mut session = self.coordinator.session();
        self.runtime.block_on(async {
            let mut rows = Vec::new();
            for result in session.execute_batch(sql).await {
                if let ExecuteResponse::Rows { rows: r, .. } = result? {
                    rows = text_rows(r);
                }
            }
            Ok(rows)
        })
    }

    fn run(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs `statement` (a COPY … FROM STDIN) and sends `data` as its input.
    fn copy(&self, statement: &str, data: &str) -> Result<u64, SqlError> {
        let mut session: Session = self.coordinator.session();
        self.runtime.block_on(async {
            let result = session.execute_batch(statement).await.pop();
            match result {
                Some(Ok(ExecuteResponse::CopyIn { table, columns })) => {
                    session.copy_in(&table, &columns, data.as_bytes()).await
                }
                Some(Ok(other)) => panic!("{statement}: expected CopyIn, got {other:?}"),
                Some(Err(e)) => Err(e),
                None => panic!("{statement}: no result"),
            }
        })
    }

    /// Polls `query` until it returns `expected`, failing after a deadline.
    fn eventually(&self, query: &str, expected: &[&[&str]]) {
        let expected: Vec<Vec<Option<String>>> = expected
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| (*v != "NULL").then(|| v.to_string()))
                    .collect()
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = self.run(query);
            if rows == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{query}\n  got:      {rows:?}\n  expected: {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every record of `topic` (one partition), in offset order.
    fn records(&self, topic: &str) -> Vec<Record> {
        let log = self.coordinator.log();
        let end = log.end_offsets(topic).expect("end offsets");
        let start: Vec<(u32, u64)> = (0..end.len() as u32).map(|p| (p, 0)).collect();
        let mut reader = log.reader(topic, &start).expect("reader");
        let wanted: u64 = end.iter().sum();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (out.len() as u64) < wanted && Instant::now() < deadline {
            reader.poll(1000, &mut out).expect("poll");
        }
        out
    }

    fn end_offsets(&self, topic: &str) -> Vec<u64> {
        self.coordinator
            .log()
            .end_offsets(topic)
            .expect("end offsets")
    }
}

fn text_rows(rows: Vec<Row>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| row.iter().map(datum_to_text).collect())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    vigil_sql::copy::sha256_hex(bytes)
}

const STUDENTS_CSV: &str = "\
district_id,student_id,birth_date,sex,hispanic,races,race_ethnicity,grade
D1,S1,2012-03-04,F,false,\"{BL}\",BL,07
D1,S2,2011-11-30,M,true,\"{WH,AS}\",HI,08
";

/// A CSV file with the canonical names as headers loads with `HEADER` and no column
/// list: the header picks the columns, every value is typed by its column (date,
/// boolean, text[]), and the lineage columns the file leaves out are filled per line.
#[test]
fn csv_with_canonical_headers_loads_and_fills_lineage() {
    let h = Harness::new();
    let loaded = h
        .copy(
            "COPY students FROM STDIN (FORMAT csv, HEADER)",
            STUDENTS_CSV,
        )
        .expect("copy");
    assert_eq!(loaded, 2);
    h.eventually(
        "SELECT district_id, student_id, birth_date::text, sex, hispanic::text, races, \
         race_ethnicity, grade, sis_id FROM students ORDER BY student_id",
        &[
            &[
                "D1",
                "S1",
                "2012-03-04",
                "F",
                "false",
                "{BL}",
                "BL",
                "07",
                "NULL",
            ],
            &[
                "D1",
                "S2",
                "2011-11-30",
                "M",
                "true",
                "{WH,AS}",
                "HI",
                "08",
                "NULL",
            ],
        ],
    );
    let lineage = h.run(
        "SELECT source_system, source_record_id, ingest_batch_id, payload_sha256 \
         FROM students ORDER BY student_id",
    );
    let line2 = "D1,S1,2012-03-04,F,false,\"{BL}\",BL,07";
    let line3 = "D1,S2,2011-11-30,M,true,\"{WH,AS}\",HI,08";
    assert_eq!(lineage[0][0].as_deref(), Some("csv"));
    assert_eq!(lineage[0][1].as_deref(), Some("stdin:2"));
    assert_eq!(lineage[1][1].as_deref(), Some("stdin:3"));
    assert_eq!(lineage[0][3], Some(sha256_hex(line2.as_bytes())));
    assert_eq!(lineage[1][3], Some(sha256_hex(line3.as_bytes())));
    // One batch per COPY, shared by its rows.
    let batch = lineage[0][2].clone().expect("batch id");
    assert!(batch.starts_with("csv:stdin:"), "{batch}");
    assert_eq!(lineage[1][2].as_ref(), Some(&batch));

    // On the topic: key = the primary key's JSON object, value = every column.
    let records = h.records("crdc.students");
    assert_eq!(records.len(), 2);
    let key: serde_json::Value =
        serde_json::from_slice(records[0].key.as_deref().expect("keyed")).expect("json key");
    assert_eq!(
        key,
        serde_json::json!({"district_id": "D1", "student_id": "S1"})
    );
    let value: serde_json::Value =
        serde_json::from_slice(records[1].value.as_deref().expect("value")).expect("json value");
    assert_eq!(value["races"], serde_json::json!(["WH", "AS"]));
    assert_eq!(value["hispanic"], serde_json::json!(true));
    assert_eq!(value["birth_date"], serde_json::json!("2011-11-30"));
    assert_eq!(value["source_record_id"], serde_json::json!("stdin:3"));
}

/// The source is an upsert: loading a key again replaces its row, and lineage given
/// in the file is kept rather than overwritten.
#[test]
fn copy_again_replaces_rows_and_keeps_given_lineage() {
    let h = Harness::new();
    h.copy(
        "COPY students FROM STDIN (FORMAT csv, HEADER)",
        STUDENTS_CSV,
    )
    .expect("first copy");
    let again = "\
student_id,district_id,sex,source_system,source_record_id
S1,D1,X,sis-export,row-17
";
    let loaded = h
        .copy("COPY students FROM STDIN (FORMAT csv, HEADER)", again)
        .expect("second copy");
    assert_eq!(loaded, 1);
    h.eventually(
        "SELECT student_id, sex, birth_date::text, source_system, source_record_id \
         FROM students ORDER BY student_id",
        &[
            &["S1", "X", "NULL", "sis-export", "row-17"],
            &["S2", "M", "2011-11-30", "csv", "stdin:3"],
        ],
    );
}

/// A column list with HEADER: the header must name the listed columns in order, and
/// a mismatch names both, publishing nothing. Without a list, a header name that is
/// no column of the source is refused by name.
#[test]
fn header_is_checked_against_the_columns() {
    let h = Harness::new();
    let err = h
        .copy(
            "COPY schools (district_id, school_id, name) FROM STDIN (FORMAT csv, HEADER)",
            "district_id,name,school_id\nD1,Lincoln,SCH1\n",
        )
        .expect_err("mismatched header");
    assert_eq!(err.code(), "22000", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("\"district_id\", \"name\", \"school_id\"")
            && message.contains("\"district_id\", \"school_id\", \"name\""),
        "{message}"
    );

    let err = h
        .copy(
            "COPY schools FROM STDIN (FORMAT csv, HEADER)",
            "district_id,school_id,principal\nD1,SCH1,Ms. Frizzle\n",
        )
        .expect_err("unknown header");
    assert_eq!(err.code(), "22000", "{err}");
    assert!(err.to_string().contains("\"principal\""), "{err}");
    assert_eq!(h.end_offsets("crdc.schools"), [0]);

    // Matching names (case aside) load.
    let loaded = h
        .copy(
            "COPY schools (district_id, school_id, name) FROM STDIN (FORMAT csv, HEADER)",
            "District_ID,School_ID,Name\nD1,SCH1,Lincoln\n",
        )
        .expect("matching header");
    assert_eq!(loaded, 1);
    h.eventually(
        "SELECT district_id, school_id, name FROM schools",
        &[&["D1", "SCH1", "Lincoln"]],
    );
}

/// A bad value fails the whole COPY with its line and column, as into a table, and
/// nothing reaches the topic; so does a row without a NOT NULL column.
#[test]
fn a_bad_row_publishes_nothing() {
    let h = Harness::new();
    let data = "\
district_id,student_id,birth_date
D1,S1,2012-03-04
D1,S2,2012-02-30
";
    let err = h
        .copy("COPY students FROM STDIN (FORMAT csv, HEADER)", data)
        .expect_err("bad date");
    assert_eq!(err.code(), "22P02", "{err}");
    assert!(
        err.detail()
            .is_some_and(|d| d.contains("line 3, column birth_date")),
        "{err:?}"
    );
    assert_eq!(h.end_offsets("crdc.students"), [0]);

    let err = h
        .copy(
            "COPY students FROM STDIN (FORMAT csv, HEADER)",
            "district_id,student_id\nD1,S1\nD1,\n",
        )
        .expect_err("null key");
    assert_eq!(err.code(), "23502", "{err}");
    assert!(err.to_string().contains("student_id"), "{err}");
    assert_eq!(h.end_offsets("crdc.students"), [0]);
}

/// Text format with a column list and no header, escapes included.
#[test]
fn text_format_with_a_column_list() {
    let h = Harness::new();
    let loaded = h
        .copy(
            "COPY schools (district_id, school_id, name, lowest_grade) FROM STDIN",
            "D1\tSCH1\tLincoln\\tElementary\tKG\nD1\tSCH2\t\\N\t06\n\\.\n",
        )
        .expect("text copy");
    assert_eq!(loaded, 2);
    h.eventually(
        "SELECT school_id, name, lowest_grade, source_record_id FROM schools ORDER BY school_id",
        &[
            &["SCH1", "Lincoln\tElementary", "KG", "stdin:1"],
            &["SCH2", "NULL", "06", "stdin:2"],
        ],
    );
}

/// An append source gets keyless records; a Debezium source refuses COPY (0A000);
/// COPY into a table still ignores the header's names, as PostgreSQL does.
#[test]
fn append_sources_debezium_sources_and_tables() {
    let h = Harness::new();
    h.run(
        "CREATE SOURCE notes (district_id text, note text) FROM TOPIC 'notes'; \
         CREATE SOURCE cdc (id int, v text, PRIMARY KEY (id)) FROM TOPIC 'cdc' \
         WITH (envelope = 'debezium'); \
         CREATE TABLE t (a int, b text)",
    );
    let loaded = h
        .copy(
            "COPY notes FROM STDIN (FORMAT csv, HEADER)",
            "note,district_id\nsame,D1\nsame,D1\n",
        )
        .expect("append copy");
    assert_eq!(loaded, 2);
    let records = h.records("notes");
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.key.is_none()));
    h.eventually(
        "SELECT district_id, note FROM notes",
        &[&["D1", "same"], &["D1", "same"]],
    );

    let err = h
        .copy("COPY cdc FROM STDIN (FORMAT csv)", "1,x\n")
        .expect_err("debezium");
    assert_eq!(err.code(), "0A000", "{err}");

    let loaded = h
        .copy(
            "COPY t FROM STDIN (FORMAT csv, HEADER)",
            "whatever,names\n1,x\n",
        )
        .expect("table copy");
    assert_eq!(loaded, 1);
    assert_eq!(
        h.run("SELECT a::text, b FROM t"),
        [[Some("1".to_string()), Some("x".to_string())]]
    );
}
