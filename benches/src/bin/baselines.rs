//! `cargo run --release -p vigil-benches --bin baselines [-- --students 250000 --scale 1.0 --orders 1000000 --refreshes 5 --only join-aggregate,crdc-district,eng-org --port 54330]`
//!
//! Prints the table and writes `benches/results/baselines.json`.

use anyhow::{Context, bail};
use vigil_benches::baseline::{Scenario, Settings, run, table};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings {
        students: 250_000,
        scale: 1.0,
        orders: 1_000_000,
        refreshes: 5,
        only: Scenario::ALL.to_vec(),
        port: 54330,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: cannot parse {value:?}");
        match flag.as_str() {
            "--students" => settings.students = value.parse().with_context(bad)?,
            "--scale" => settings.scale = value.parse().with_context(bad)?,
            "--orders" => settings.orders = value.parse().with_context(bad)?,
            "--refreshes" => settings.refreshes = value.parse().with_context(bad)?,
            "--port" => settings.port = value.parse().with_context(bad)?,
            "--only" => {
                settings.only = value
                    .split(',')
                    .map(|name| {
                        Scenario::parse(name.trim()).with_context(|| {
                            format!(
                                "--only: unknown scenario {name:?} (join-aggregate, \
                                 crdc-district, eng-org)"
                            )
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            _ => bail!(
                "unknown flag {flag} (--students, --scale, --orders, --refreshes, --only, --port)"
            ),
        }
    }
    if settings.students == 0 || settings.orders == 0 || settings.refreshes == 0 {
        bail!("--students, --orders and --refreshes must be positive");
    }
    if settings.scale.is_nan() || settings.scale <= 0.0 {
        bail!("--scale must be positive");
    }
    let report = run(&settings).await?;
    print!("{}", table(&report));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("baselines.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
