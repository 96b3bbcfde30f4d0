//! What the connector tests share: a throwaway embedded change log, reading a
//! topic back (every record, or the latest value per key with a check that no key
//! was published twice), and small checks on runs.

#![allow(dead_code)] // each test target uses a different part of this module

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vigil_changelog::{ChangeLog, EmbeddedLog, Offset, Partition};
use vigil_connectors::{RunReport, RunStatus};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub struct Log {
    pub log: EmbeddedLog,
    _dir: tempfile::TempDir,
}

pub fn log() -> Log {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(&dir.path().join("log")).expect("open");
    Log { log, _dir: dir }
}

/// Every record of `topic`, as (key, value) text, in offset order.
pub fn records(log: &dyn ChangeLog, topic: &str) -> Vec<(String, Option<String>)> {
    let ends = log.end_offsets(topic).expect("end offsets");
    let start: Vec<(Partition, Offset)> = (0..).zip(ends.iter().map(|_| 0)).collect();
    let mut reader = log.reader(topic, &start).expect("reader");
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        reader.poll(1000, &mut out).expect("poll");
        let caught_up = reader
            .positions()
            .iter()
            .all(|&(p, position)| position >= ends[p as usize]);
        if caught_up {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reading {topic} timed out"
        );
    }
    let text = |bytes: Option<Vec<u8>>| bytes.map(|b| String::from_utf8(b).expect("utf8"));
    out.into_iter()
        .map(|r| (text(r.key).expect("keyed"), text(r.value)))
        .collect()
}

/// A record key with its columns in name order, whatever order they were written
/// in.
pub fn normal_key(key: &str) -> String {
    // Cursor keys are plain text.
    match serde_json::from_str::<BTreeMap<String, Value>>(key) {
        Ok(columns) => serde_json::to_string(&columns).expect("key"),
        Err(_) => key.to_owned(),
    }
}

/// The latest JSON value per key; also checks no key appears twice.
pub fn latest(log: &dyn ChangeLog, topic: &str) -> BTreeMap<String, Value> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = BTreeMap::new();
    for (key, value) in records(log, topic) {
        let key = normal_key(&key);
        *counts.entry(key.clone()).or_default() += 1;
        match value {
            Some(value) => rows.insert(key, serde_json::from_str(&value).expect("json")),
            None => rows.remove(&key),
        };
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "{topic} holds keys more than once: {repeated:?}"
    );
    rows
}

/// A relation's expected rows, keyed like [`latest`].
pub fn keyed(key_columns: &[&str], rows: Vec<Value>) -> BTreeMap<String, Value> {
    rows.into_iter()
        .map(|row| {
            let key: BTreeMap<String, Value> = key_columns
                .iter()
                .map(|column| ((*column).to_owned(), row[*column].clone()))
                .collect();
            (serde_json::to_string(&key).unwrap(), row)
        })
        .collect()
}

pub fn succeeded(report: &RunReport) {
    assert_eq!(
        report.status,
        RunStatus::Succeeded,
        "run failed: {:?}",
        report.error.as_ref().map(ToString::to_string)
    );
}

/// Checks a topic's latest rows against the expected ones, key by key, so a
/// failure names the row that differs.
pub fn assert_rows(
    topic: &str,
    actual: BTreeMap<String, Value>,
    expected: BTreeMap<String, Value>,
) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the keys of {topic} differ"
    );
    for (key, row) in &expected {
        assert_eq!(&actual[key], row, "{topic} row {key}");
    }
}

/// The `eng.connector_runs` row of a run of tenant `acme`.
pub fn runs_row(log: &dyn ChangeLog, report: &RunReport) -> Value {
    let key = normal_key(&json!({"run_id": report.run_id, "tenant_id": "acme"}).to_string());
    latest(log, "eng.connector_runs")
        .remove(&key)
        .unwrap_or_else(|| panic!("no connector_runs row for {}", report.run_id))
}
