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
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: cannot parse {value:?}");
        match flag.as_str() {
            "--customers" => settings.customers = value.parse().with_context(bad)?,
            "--orders" => settings.orders = value.parse().with_context(bad)?,
            "--workers" => settings.workers = value.parse().with_context(bad)?,
            "--clients" => settings.clients = value.parse().with_context(bad)?,
            "--duration" => {
                let seconds: f64 = value.parse().with_context(bad)?;
                settings.duration = Duration::try_from_secs_f64(seconds).with_context(bad)?;
            }
            "--rate" => settings.rate = value.parse().with_context(bad)?,
            "--scan-every" => settings.scan_every = value.parse().with_context(bad)?,
            "--seed" => settings.seed = value.parse().with_context(bad)?,
            "--out" => out = Some(PathBuf::from(value)),
            _ => bail!(
                "unknown flag {flag} (--customers, --orders, --workers, --clients, --duration, \
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
