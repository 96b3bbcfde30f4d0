//! `cargo run --release -p vigil-benches --bin serving [-- --customers 10000 --orders 1000000 --clients 16 --duration 30 --rate 2000 --scan-every 10 --workers N --seed 1 --out FILE]`
//!
//! Prints the table and writes `benches/results/serving.json` (or `--out FILE`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use vigil_benches::serving::{Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings {
        customers: 10_000,
        orders: 1_000_000,
        workers: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        clients: 16,
        duration: Duration::from_secs(30),
        rate: 2_000,
        scan_every: 10,
        seed: 1,
    };
    let mut out: Option<PathBuf> = None;
    for flag in vigil_benches::flags::pairs(std::env::args().skip(1)) {
        let flag = flag?;
        let name = flag.name.as_str();
        match name {
            "--customers" => settings.customers = flag.parse()?,
            "--orders" => settings.orders = flag.parse()?,
            "--workers" => settings.workers = flag.parse()?,
            "--clients" => settings.clients = flag.parse()?,
            "--duration" => {
                let seconds: f64 = flag.parse()?;
                settings.duration =
                    Duration::try_from_secs_f64(seconds).with_context(|| flag.invalid())?;
            }
            "--rate" => settings.rate = flag.parse()?,
            "--scan-every" => settings.scan_every = flag.parse()?,
            "--seed" => settings.seed = flag.parse()?,
            "--out" => out = Some(PathBuf::from(&flag.value)),
            _ => bail!(
                "unknown flag {name} (--customers, --orders, --workers, --clients, --duration, \
                 --rate, --scan-every, --seed, --out)"
            ),
        }
    }
    if settings.workers == 0 || settings.scan_every == 0 {
        bail!("--workers and --scan-every must be positive");
    }
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let out = match out {
        Some(out) => out,
        None => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
            std::fs::create_dir_all(&dir)?;
            dir.join("serving.json")
        }
    };
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
