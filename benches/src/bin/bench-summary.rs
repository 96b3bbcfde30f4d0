//! `cargo run --release -p vigil-benches --bin bench-summary [-- DIR]`
//!
//! Reads every `*.json` in `DIR` (default `benches/results`), prints one markdown
//! table of the figures next to their baselines, and writes `summary.csv` and
//! `summary.json` beside them.

use std::path::PathBuf;

use anyhow::Context;
use vigil_benches::summary::{Results, csv, json, markdown, notes, rows};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"),
        PathBuf::from,
    );
    let results = Results::load(&dir);
    let rows = rows(&results);
    let notes = notes(&results);
    print!("{}", markdown(&rows));
    for note in &notes {
        println!("\nnote: {note}");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv_path = dir.join("summary.csv");
    std::fs::write(&csv_path, csv(&rows))
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let json_path = dir.join("summary.json");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&json(&rows, &notes))?,
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("wrote {} and {}", csv_path.display(), json_path.display());
    Ok(())
}
