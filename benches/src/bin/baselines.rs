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
    for flag in vigil_benches::flags::pairs(std::env::args().skip(1)) {
        let flag = flag?;
        let name = flag.name.as_str();
        match name {
            "--students" => settings.students = flag.parse()?,
            "--scale" => settings.scale = flag.parse()?,
            "--orders" => settings.orders = flag.parse()?,
            "--refreshes" => settings.refreshes = flag.parse()?,
            "--port" => settings.port = flag.parse()?,
            "--only" => {
                settings.only = flag
                    .value
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
                "unknown flag {name} (--students, --scale, --orders, --refreshes, --only, --port)"
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
