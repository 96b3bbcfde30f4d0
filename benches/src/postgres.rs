//! A throwaway PostgreSQL cluster for the baselines: started on a loopback port in a
//! temporary directory, stopped and removed on drop.
//!
//! The cluster is what Debian's `postgresql` package runs, with the settings Vigil
//! serves (C locale, UTF8, `TimeZone` UTC, `DateStyle` ISO) and more memory than the
//! defaults, so a refresh is not starved: `shared_buffers` 1 GB, `work_mem` and
//! `maintenance_work_mem` 256 MB. Durability stays as packaged (`fsync` on,
//! `synchronous_commit` on): Vigil's own figures are for durable writes too.
//!
//! `initdb` refuses to run as root, so as root the cluster runs as the `postgres`
//! user (`runuser`), the way `scripts/slt-against-postgres.sh` does.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A running cluster; dropping it stops the server and removes its directory.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    version: String,
}

impl Postgres {
    /// Starts a fresh cluster on `127.0.0.1:port`.
    pub fn start(port: u16) -> anyhow::Result<Postgres> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new().prefix("vigil-pg-").tempdir()?;
        if is_root() {
            // The postgres user must own the cluster's directory and reach it.
            set_mode(dir.path(), 0o755)?;
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "--locale=C",
            "-E",
            "UTF8",
        ]))
        .context("initdb")?;
        let options = format!(
            "-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c TimeZone=UTC \
             -c DateStyle=ISO,MDY -c shared_buffers=1GB -c work_mem=256MB \
             -c maintenance_work_mem=256MB",
            socket = dir.path().display(),
        );
        let log = dir.path().join("server.log");
        let started = run(as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "start", "-o", &options]));
        if let Err(e) = started {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "cannot start PostgreSQL on 127.0.0.1:{port}: {e:#}\n{}",
                tail.join("\n")
            );
        }
        let output = Command::new(bin.join("postgres"))
            .arg("--version")
            .output()?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok(Postgres {
            bin,
            dir,
            port,
            version,
        })
    }

    /// A new connection as the superuser to the `postgres` database; its connection
    /// task runs on the current tokio runtime.
    pub async fn client(&self) -> anyhow::Result<tokio_postgres::Client> {
        self.client_to("postgres").await
    }

    /// A new connection as the superuser to `database`.
    pub async fn client_to(&self, database: &str) -> anyhow::Result<tokio_postgres::Client> {
        let config = format!(
            "host=127.0.0.1 port={} user=postgres dbname={database}",
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to PostgreSQL on port {}", self.port))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("postgres connection: {e}");
            }
        });
        Ok(client)
    }

    /// `postgres --version`, e.g. `postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        // The cluster is thrown away, so there is nothing to shut down cleanly.
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// `PG_BIN`, or the newest `/usr/lib/postgresql/*/bin` holding `initdb`.
fn server_bin() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("PG_BIN") {
        let bin = PathBuf::from(bin);
        if bin.join("initdb").is_file() {
            return Ok(bin);
        }
        bail!(
            "PG_BIN={} holds no initdb; run scripts/install-test-deps.sh or point PG_BIN at \
             PostgreSQL's server binaries",
            bin.display()
        );
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major);
    match newest {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; run \
             scripts/install-test-deps.sh (or set PG_BIN)"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `program`, run as the postgres user when this process is root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
