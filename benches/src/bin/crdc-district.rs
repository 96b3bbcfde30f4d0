//! `cargo run --release -p vigil-benches --bin crdc-district [-- --students 250000 --probes 200 --seed 7 --batch 5000 --workers N]`
//!
//! Prints the table and writes `benches/results/crdc-district.json`.

use std::time::Duration;

use anyhow::bail;
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
    for flag in vigil_benches::flags::pairs(std::env::args().skip(1)) {
        let flag = flag?;
        let name = flag.name.as_str();
        match name {
            "--students" => settings.students = flag.parse()?,
            "--seed" => settings.seed = flag.parse()?,
            "--workers" => settings.workers = flag.parse()?,
            "--batch" => settings.batch = flag.parse()?,
            "--probes" => settings.probes = flag.parse()?,
            _ => bail!("unknown flag {name} (--students, --seed, --workers, --batch, --probes)"),
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
