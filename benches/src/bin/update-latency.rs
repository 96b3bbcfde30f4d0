//! `cargo run --release -p vigil-benches --bin update-latency [-- ROWS UPDATES]`
//!
//! Prints the table and writes `benches/results/update-latency.json`.

use vigil_benches::update_latency::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let updates = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let settings = Settings {
        rows,
        updates,
        workers,
        recomputes: 5,
    };
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("update-latency.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
