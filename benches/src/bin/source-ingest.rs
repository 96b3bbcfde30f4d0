//! `cargo run --release -p vigil-benches --bin source-ingest [-- EVENTS RATE PROBES]`
//!
//! Prints the table and writes `benches/results/source-ingest.json`.

use vigil_benches::source_ingest::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| -> anyhow::Result<usize> {
        Ok(args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let events = next(1_000_000)?;
    let rate = next(2_000)?;
    let probes = next(200)?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let settings = Settings {
        events,
        customers: 10_000,
        workers,
        rate,
        probes,
    };
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("source-ingest.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
