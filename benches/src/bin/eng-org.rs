//! `cargo run --release -p vigil-benches --bin eng-org [-- --scale 0.1 --probes 200 --seed 1 --batch 5000 --workers N]`
//!
//! Prints the table and writes `benches/results/eng-org.json`.

use std::time::Duration;

use anyhow::bail;
use vigil_benches::eng_org::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings {
        scale: 1.0,
        seed: 1,
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
            "--scale" => settings.scale = flag.parse()?,
            "--seed" => settings.seed = flag.parse()?,
            "--workers" => settings.workers = flag.parse()?,
            "--batch" => settings.batch = flag.parse()?,
            "--probes" => settings.probes = flag.parse()?,
            _ => bail!("unknown flag {name} (--scale, --seed, --workers, --batch, --probes)"),
        }
    }
    if settings.scale.is_nan() || settings.scale <= 0.0 {
        bail!("--scale must be positive");
    }
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("eng-org.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
