//! `cargo run --release -p vigil-benches --bin alert-latency [-- PROBES]`
//!
//! Prints the table and writes `benches/results/alert-latency.json`.

use std::time::Duration;

use vigil_benches::alert_latency::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let probes = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(300);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let settings = Settings {
        probes,
        workers,
        spacing: Duration::from_millis(20),
    };
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("alert-latency.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
