//! One table of every benchmark's figures, next to its baselines.
//!
//! Each harness writes its own JSON under `benches/results/`; `scripts/bench.sh` runs
//! them one process each and then this summary, which reads whatever files are there
//! and lines Vigil's figure up with the baseline for the same work (PostgreSQL
//! `REFRESH MATERIALIZED VIEW` and a DataFusion recompute, from `baselines.json` and
//! the harnesses' own recompute fields):
//!
//! ```text
//! results/*.json ──▶ Results (by file stem) ──▶ rows() ──▶ markdown / CSV / JSON
//! ```
//!
//! A file that is missing makes its rows say "not run"; a field a file lacks (an
//! older harness) says "not measured". Neither stops the table, so a partial run still
//! summarizes what it did.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// Every results file, by file stem (`update-latency`, `baselines`, …).
#[derive(Clone, Debug, Default)]
pub struct Results {
    files: BTreeMap<String, Value>,
    /// Files that could not be read or parsed.
    unreadable: Vec<String>,
}

impl Results {
    /// Reads every `*.json` in `dir` except the summary's own output. A missing
    /// directory is an empty set of results.
    pub fn load(dir: &Path) -> Results {
        let mut results = Results::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return results;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().and_then(|e| e.to_str()) != Some("json") || stem == "summary" {
                continue;
            }
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
            match parsed {
                Ok(value) => results.insert(stem, value),
                Err(e) => results.unreadable.push(format!("{stem}.json: {e}")),
            }
        }
        results
    }

    pub fn insert(&mut self, stem: &str, value: Value) {
        self.files.insert(stem.to_string(), value);
    }

    fn file(&self, stem: &str) -> Option<&Value> {
        self.files.get(stem)
    }

    /// A number at `path` in file `stem`.
    fn figure(&self, stem: &str, path: &[&str]) -> Cell {
        match self.file(stem) {
            None => Cell::NotRun,
            Some(value) => number(value, path),
        }
    }

    /// A number of `scenario` in `baselines.json`.
    fn baseline(&self, scenario: &str, field: &str) -> Cell {
        let found = self.file("baselines").and_then(|b| {
            b.get("scenarios")?
                .as_array()?
                .iter()
                .find(|s| s.get("scenario").and_then(Value::as_str) == Some(scenario))
        });
        match found {
            None => Cell::NotRun,
            Some(value) => number(value, &[field]),
        }
    }

    /// The source-ingest runs' worker counts: 1 and 2 always (so a missing run shows),
    /// and any other present.
    fn ingest_workers(&self) -> Vec<u64> {
        let mut workers: Vec<u64> = vec![1, 2];
        for stem in self.files.keys() {
            let count = stem
                .strip_prefix("source-ingest-")
                .and_then(|rest| rest.strip_suffix('w'))
                .and_then(|n| n.parse().ok());
            if let Some(n) = count
                && !workers.contains(&n)
            {
                workers.push(n);
            }
        }
        workers.sort_unstable();
        workers
    }
}

fn number(value: &Value, path: &[&str]) -> Cell {
    let mut at = value;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return Cell::NotMeasured,
        }
    }
    at.as_f64().map_or(Cell::NotMeasured, Cell::Value)
}

/// One figure, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    Value(f64),
    /// Its results file is missing.
    NotRun,
    /// Its results file lacks the field.
    NotMeasured,
}

impl Cell {
    fn value(self) -> Option<f64> {
        match self {
            Cell::Value(v) => Some(v),
            Cell::NotRun | Cell::NotMeasured => None,
        }
    }

    fn status(self) -> &'static str {
        match self {
            Cell::Value(_) => "measured",
            Cell::NotRun => "not run",
            Cell::NotMeasured => "not measured",
        }
    }

    fn show(self, unit: Unit) -> String {
        match self {
            Cell::Value(v) => unit.show(v),
            Cell::NotRun | Cell::NotMeasured => self.status().to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Ms,
    Seconds,
    EventsPerSecond,
    QueriesPerSecond,
    Mib,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Seconds => "s",
            Unit::EventsPerSecond => "events/s",
            Unit::QueriesPerSecond => "queries/s",
            Unit::Mib => "MiB",
        }
    }

    fn show(self, v: f64) -> String {
        let digits = match self {
            Unit::Ms if v < 10.0 => 2,
            Unit::Ms | Unit::Seconds if v < 100.0 => 1,
            Unit::Ms | Unit::Seconds | Unit::EventsPerSecond | Unit::QueriesPerSecond => 0,
            Unit::Mib => 0,
        };
        format!("{v:.digits$} {}", self.name())
    }
}

/// What a Vigil figure is compared with.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    pub name: String,
    pub cell: Cell,
}

/// One line of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub scenario: &'static str,
    pub figure: String,
    pub unit: Unit,
    pub vigil: Cell,
    pub baseline: Option<Baseline>,
}

impl Row {
    fn new(scenario: &'static str, figure: impl Into<String>, unit: Unit, vigil: Cell) -> Row {
        Row {
            scenario,
            figure: figure.into(),
            unit,
            vigil,
            baseline: None,
        }
    }

    fn against(mut self, name: &str, cell: Cell) -> Row {
        self.baseline = Some(Baseline {
            name: name.to_string(),
            cell,
        });
        self
    }

    /// Baseline over Vigil: how many times longer the baseline takes.
    pub fn ratio(&self) -> Option<f64> {
        let vigil = self.vigil.value().filter(|v| *v > 0.0)?;
        let baseline = self.baseline.as_ref()?.cell.value()?;
        Some(baseline / vigil)
    }
}

/// Every row of the summary, in a fixed order.
pub fn rows(results: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    let r = results;

    // One change through a join + aggregate view (update-latency), and the two
    // domains' change paths, each against refreshing and recomputing.
    let changes = [
        (
            "join-aggregate",
            "update-latency",
            "one UPDATE → view current",
            ["update_to_view_ms_p50", "update_to_view_ms_p99"],
            "recompute_ms_p50",
        ),
        (
            "crdc-district",
            "crdc-district",
            "one student change → readiness current",
            ["probe_ms_p50", "probe_ms_p99"],
            "datafusion_recompute_ms_p50",
        ),
        (
            "eng-org",
            "eng-org",
            "one work-item change → every view current",
            ["probe_ms_p50", "probe_ms_p99"],
            "datafusion_recompute_ms_p50",
        ),
    ];
    for (scenario, stem, figure, [p50, p99], recompute) in changes {
        let p50_cell = r.figure(stem, &[p50]);
        rows.push(
            Row::new(scenario, format!("{figure}, p50"), Unit::Ms, p50_cell).against(
                "PostgreSQL REFRESH p50",
                r.baseline(scenario, "postgres_refresh_ms_p50"),
            ),
        );
        rows.push(
            Row::new(scenario, format!("{figure}, p50"), Unit::Ms, p50_cell)
                .against("DataFusion recompute p50", r.figure(stem, &[recompute])),
        );
        rows.push(
            Row::new(
                scenario,
                format!("{figure}, p99"),
                Unit::Ms,
                r.figure(stem, &[p99]),
            )
            .against(
                "PostgreSQL REFRESH p99",
                r.baseline(scenario, "postgres_refresh_ms_p99"),
            ),
        );
        if stem != "update-latency" {
            rows.push(
                Row::new(
                    scenario,
                    "load from empty, every view current",
                    Unit::Seconds,
                    r.figure(stem, &["load_seconds"]),
                )
                .against(
                    "PostgreSQL load + create views",
                    r.baseline(scenario, "postgres_load_seconds"),
                ),
            );
            rows.push(Row::new(
                scenario,
                "peak RSS after load",
                Unit::Mib,
                r.figure(stem, &["peak_rss_mib"]),
            ));
        }
    }

    let workers = r.ingest_workers();
    for w in &workers {
        let stem = format!("source-ingest-{w}w");
        let label = if *w == 1 { "worker" } else { "workers" };
        rows.push(Row::new(
            "ingest",
            format!("upserts into join + aggregate, {w} {label}"),
            Unit::EventsPerSecond,
            r.figure(&stem, &["ingest_events_per_second"]),
        ));
    }
    for w in &workers {
        let stem = format!("source-ingest-{w}w");
        let rate = match r.figure(&stem, &["background_rate"]) {
            Cell::Value(rate) => format!(" at {rate:.0} events/s"),
            Cell::NotRun | Cell::NotMeasured => String::new(),
        };
        let label = if *w == 1 { "worker" } else { "workers" };
        for (q, field) in [("p50", "freshness_ms_p50"), ("p99", "freshness_ms_p99")] {
            rows.push(Row::new(
                "freshness",
                format!("publish → SUBSCRIBE row, {q}, {w} {label}{rate}"),
                Unit::Ms,
                r.figure(&stem, &[field]),
            ));
        }
    }

    let clients = match r.figure("serving", &["clients"]) {
        Cell::Value(n) => format!("{n:.0} clients"),
        Cell::NotRun | Cell::NotMeasured => "16 clients".to_string(),
    };
    for (figure, field, unit) in [
        ("point query, p50", "point_ms_p50", Unit::Ms),
        ("point query, p99", "point_ms_p99", Unit::Ms),
        ("point queries", "point_per_second", Unit::QueriesPerSecond),
        ("whole-view scan, p50", "scan_ms_p50", Unit::Ms),
        ("whole-view scan, p99", "scan_ms_p99", Unit::Ms),
        (
            "whole-view scans",
            "scan_per_second",
            Unit::QueriesPerSecond,
        ),
        (
            "upserts ingested during the run",
            "ingest_events_per_second",
            Unit::EventsPerSecond,
        ),
    ] {
        rows.push(Row::new(
            "serving",
            format!("{figure}, {clients}"),
            unit,
            r.figure("serving", &[field]),
        ));
    }

    for (figure, field) in [
        ("INSERT → SUBSCRIBE row, p50", "insert_to_subscribe_ms_p50"),
        ("INSERT → SUBSCRIBE row, p99", "insert_to_subscribe_ms_p99"),
        ("INSERT → webhook delivery, p50", "insert_to_webhook_ms_p50"),
    ] {
        rows.push(Row::new(
            "alerts",
            figure,
            Unit::Ms,
            r.figure("alert-latency", &[field]),
        ));
    }
    rows
}

/// What the reader should know about the files: debug builds and unreadable files.
pub fn notes(results: &Results) -> Vec<String> {
    let mut notes: Vec<String> = results
        .unreadable
        .iter()
        .map(|e| format!("unreadable: {e}"))
        .collect();
    let debug: Vec<&str> = results
        .files
        .iter()
        .filter(|(_, v)| v.get("build").and_then(Value::as_str) == Some("debug"))
        .map(|(stem, _)| stem.as_str())
        .collect();
    if !debug.is_empty() {
        notes.push(format!(
            "from a debug build (not comparable): {}",
            debug.join(", ")
        ));
    }
    notes
}

fn ratio_text(row: &Row) -> String {
    // Below 1 the baseline is faster; one decimal would round it to nothing.
    row.ratio().map_or_else(String::new, |x| {
        if x < 1.0 {
            format!("{x:.2}x")
        } else {
            format!("{x:.1}x")
        }
    })
}

fn baseline_text(row: &Row) -> String {
    match &row.baseline {
        Some(b) => format!("{} {}", b.name, b.cell.show(row.unit)),
        None => String::new(),
    }
}

/// The rows as one markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | figure | Vigil | baseline | baseline / Vigil |\n|---|---|---:|---|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.scenario,
            row.figure,
            row.vigil.show(row.unit),
            baseline_text(row),
            ratio_text(row)
        );
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn csv_number(cell: Cell) -> String {
    match cell {
        Cell::Value(v) => v.to_string(),
        Cell::NotRun | Cell::NotMeasured => cell.status().to_string(),
    }
}

/// The rows as CSV: plain numbers in the row's unit, or why there is none.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from("scenario,figure,unit,vigil,baseline,baseline_value,ratio\n");
    for row in rows {
        let (name, value) = match &row.baseline {
            Some(b) => (b.name.as_str(), csv_number(b.cell)),
            None => ("", String::new()),
        };
        let ratio = row.ratio().map_or_else(String::new, |x| x.to_string());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            csv_field(row.scenario),
            csv_field(&row.figure),
            row.unit.name(),
            csv_number(row.vigil),
            csv_field(name),
            value,
            ratio
        );
    }
    out
}

/// The rows and notes as JSON: `null` figures carry their status beside them.
pub fn json(rows: &[Row], notes: &[String]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "scenario": row.scenario,
                "figure": row.figure,
                "unit": row.unit.name(),
                "vigil": row.vigil.value(),
                "vigil_status": row.vigil.status(),
                "baseline": row.baseline.as_ref().map(|b| b.name.clone()),
                "baseline_value": row.baseline.as_ref().and_then(|b| b.cell.value()),
                "baseline_status": row.baseline.as_ref().map(|b| b.cell.status()),
                "ratio": row.ratio(),
            })
        })
        .collect();
    serde_json::json!({ "rows": rows, "notes": notes })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn find<'a>(rows: &'a [Row], scenario: &str, figure: &str, baseline: &str) -> &'a Row {
        rows.iter()
            .find(|r| {
                r.scenario == scenario
                    && r.figure == figure
                    && r.baseline.as_ref().map_or("", |b| b.name.as_str()) == baseline
            })
            .unwrap_or_else(|| panic!("no row {scenario} / {figure} / {baseline}"))
    }

    fn sample() -> Results {
        let mut results = Results::default();
        results.insert(
            "update-latency",
            json!({"update_to_view_ms_p50": 2.5, "update_to_view_ms_p99": 17.0, "recompute_ms_p50": 40.0}),
        );
        results.insert(
            "baselines",
            json!({"build": "release", "postgres_version": "17", "scenarios": [
                {"scenario": "join-aggregate", "rows_loaded": 1000000, "postgres_load_seconds": 3.0,
                 "refreshes": 20, "postgres_refresh_ms_p50": 500.0, "postgres_refresh_ms_p99": 800.0,
                 "slowest_views": [["customer_totals", 500.0]], "counts_match": true}
            ]}),
        );
        results.insert(
            "source-ingest-2w",
            json!({"build": "debug", "workers": 2, "ingest_events_per_second": 41000.0,
                   "background_rate": 2000, "freshness_ms_p50": 12.0, "freshness_ms_p99": 30.0}),
        );
        results.insert("crdc-district", json!({"probe_ms_p50": 40.0}));
        results
    }

    #[test]
    fn ratios_divide_the_baseline_by_vigil() {
        let rows = rows(&sample());
        let refresh = find(
            &rows,
            "join-aggregate",
            "one UPDATE → view current, p50",
            "PostgreSQL REFRESH p50",
        );
        assert_eq!(refresh.vigil, Cell::Value(2.5));
        assert_eq!(refresh.ratio(), Some(200.0));
        let recompute = find(
            &rows,
            "join-aggregate",
            "one UPDATE → view current, p50",
            "DataFusion recompute p50",
        );
        assert_eq!(recompute.ratio(), Some(16.0));
    }

    #[test]
    fn missing_files_say_not_run_and_missing_fields_not_measured() {
        let rows = rows(&sample());
        let one_worker = find(
            &rows,
            "ingest",
            "upserts into join + aggregate, 1 worker",
            "",
        );
        assert_eq!(one_worker.vigil, Cell::NotRun);
        let crdc_recompute = find(
            &rows,
            "crdc-district",
            "one student change → readiness current, p50",
            "DataFusion recompute p50",
        );
        assert_eq!(crdc_recompute.vigil, Cell::Value(40.0));
        assert_eq!(
            crdc_recompute.baseline.as_ref().map(|b| b.cell),
            Some(Cell::NotMeasured)
        );
        // baselines.json has no crdc-district scenario.
        let crdc_refresh = find(
            &rows,
            "crdc-district",
            "one student change → readiness current, p50",
            "PostgreSQL REFRESH p50",
        );
        assert_eq!(
            crdc_refresh.baseline.as_ref().map(|b| b.cell),
            Some(Cell::NotRun)
        );
        assert_eq!(crdc_refresh.ratio(), None);

        let table = markdown(&rows);
        assert!(table.contains("| serving | point query, p50, 16 clients | not run |  |  |"));
        assert!(table.contains(
            "| join-aggregate | one UPDATE → view current, p50 | 2.50 ms | PostgreSQL REFRESH p50 500 ms | 200.0x |"
        ));
        assert!(table.contains(
            "| freshness | publish → SUBSCRIBE row, p99, 2 workers at 2000 events/s | 30.0 ms |  |  |"
        ));
    }

    #[test]
    fn an_empty_directory_gives_every_row_as_not_run() {
        let rows = rows(&Results::default());
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r.vigil == Cell::NotRun));
        let csv = csv(&rows);
        assert_eq!(csv.lines().count(), rows.len() + 1);
        assert!(csv.lines().nth(1).is_some_and(|l| l.contains(",not run,")));
    }

    #[test]
    fn a_faster_baseline_keeps_two_decimals() {
        let row = Row::new("crdc-district", "load", Unit::Seconds, Cell::Value(200.0))
            .against("PostgreSQL load + create views", Cell::Value(2.0));
        assert_eq!(ratio_text(&row), "0.01x");
        assert_eq!(baseline_text(&row), "PostgreSQL load + create views 2.0 s");
    }

    #[test]
    fn notes_name_debug_builds() {
        assert_eq!(
            notes(&sample()),
            vec!["from a debug build (not comparable): source-ingest-2w".to_string()]
        );
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        let rows = rows(&sample());
        let csv = csv(&rows);
        assert!(csv.contains(
            "join-aggregate,\"one UPDATE → view current, p50\",ms,2.5,PostgreSQL REFRESH p50,500,200\n"
        ));
    }
}
