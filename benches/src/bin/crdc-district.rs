//! `cargo run --release -p vigil-benches --bin crdc-district [-- --students 250000 --probes 200 --seed 7 --batch 5000 --workers N]`
//!
//! Prints the table and writes `benches/results/crdc-district.json`.

use std::time::Duration;

use anyhow::{Context, bail};
use vigil_benches::crdc_district::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings {
        students: 250_000,
        seed: 7,
        workers: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        batch: 5_000,
        probes: 200,
        spacing: Duration::from_millis(20),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: cannot parse {value:?}");
        match flag.as_str() {
            "--students" => settings.students = value.parse().with_context(bad)?,
            "--seed" => settings.seed = value.parse().with_context(bad)?,
            "--workers" => settings.workers = value.parse().with_context(bad)?,
            "--batch" => settings.batch = value.parse().with_context(bad)?,
            "--probes" => settings.probes = value.parse().with_context(bad)?,
            _ => bail!("unknown flag {flag} (--students, --seed, --workers, --batch, --probes)"),
        }
    }
    if settings.students == 0 {
        bail!("--students must be positive");
    }
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("crdc-district.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
