//! `cargo run --release -p vigil-benches --bin source-ingest [-- --events 1000000 --rate 2000 --probes 200 --workers N --customers 10000 --out FILE]`
//!
//! Prints the table and writes `benches/results/source-ingest-{N}w.json` (N the
//! workers), or `--out FILE`, so runs with different worker counts sit side by side.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use vigil_benches::source_ingest::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings {
        events: 1_000_000,
        customers: 10_000,
        workers: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        rate: 2_000,
        probes: 200,
        spacing: Duration::from_millis(50),
    };
    let mut out: Option<PathBuf> = None;
    for flag in vigil_benches::flags::pairs(std::env::args().skip(1)) {
        let flag = flag?;
        let name = flag.name.as_str();
        match name {
            "--events" => settings.events = flag.parse()?,
            "--customers" => settings.customers = flag.parse()?,
            "--workers" => settings.workers = flag.parse()?,
            "--rate" => settings.rate = flag.parse()?,
            "--probes" => settings.probes = flag.parse()?,
            "--out" => out = Some(PathBuf::from(&flag.value)),
            _ => bail!(
                "unknown flag {name} (--events, --customers, --workers, --rate, --probes, --out)"
            ),
        }
    }
    if settings.workers == 0 {
        bail!("--workers must be positive");
    }
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let out = match out {
        Some(out) => out,
        None => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
            std::fs::create_dir_all(&dir)?;
            dir.join(format!("source-ingest-{}w.json", settings.workers))
        }
    };
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
