//! `vigil`: the command line. Everything it runs lives in the `vigil_server` library;
//! this file parses arguments, sets up logging and turns signals into a shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vigil_server::config::ConfigLayer;
use vigil_server::{Config, Server};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "A streaming SQL engine that speaks the PostgreSQL protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// `demo`, `connect` and `publish` will join `serve` here.
#[derive(Subcommand)]
enum Command {
    /// Run the server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

/// Flags of `vigil serve`. Each overrides the same key of the configuration file.
#[derive(Args)]
struct ServeArgs {
    /// Address for PostgreSQL clients [default: 127.0.0.1:6875]
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Data directory: catalog and table contents [default: ./vigil-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Dataflow worker threads [default: number of cores]
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// TOML file with the keys `listen`, `data_dir`, `workers`
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then the flags.
    fn config(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => ConfigLayer::load(path)?,
            None => ConfigLayer::default(),
        };
        let flags = ConfigLayer {
            listen: self.listen,
            data_dir: self.data_dir,
            workers: self.workers,
        };
        Ok(file.overridden_by(flags).resolve()?)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Command::Serve(args) => serve(args.config()?).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(data_dir = %config.data_dir.display(), workers = config.workers, "starting");
    let server = Server::bind(&config)
        .await
        .context("vigil could not start")?;
    println!("{}", listening_line(server.local_addr()));
    server.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The line that tells a person where to point psql.
fn listening_line(addr: SocketAddr) -> String {
    // A wildcard address is not something to connect to; loopback reaches it.
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    format!(
        "vigil: listening for PostgreSQL clients on {addr} (psql -h {host} -p {port})",
        port = addr.port()
    )
}

/// Resolves on the first Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; finishing open connections");
}

#[cfg(test)]
mod tests {
    use vigil_server::config::DEFAULT_DATA_DIR;

    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vigil.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\nworkers = 2\n").unwrap();
        let cli = Cli::parse_from([
            "vigil",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--workers",
            "5",
        ]);
        let Command::Serve(args) = cli.command;
        let config = args.config().unwrap();
        assert_eq!(config.listen, "127.0.0.1:7000");
        assert_eq!(config.workers, 5);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn the_listening_line_names_a_connectable_host() {
        let line = listening_line("0.0.0.0:6875".parse().unwrap());
        assert_eq!(
            line,
            "vigil: listening for PostgreSQL clients on 0.0.0.0:6875 (psql -h 127.0.0.1 -p 6875)"
        );
    }
}
