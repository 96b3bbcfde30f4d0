//! `vigil`: the command line. Everything it runs lives in the `vigil_server` library;
//! this file parses arguments, sets up logging and turns signals into a shutdown.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vigil_changelog::{ChangeLog, EmbeddedLog, KafkaLog};
use vigil_connectors::{Configured, RunStatus, SourceKind};
use vigil_server::config::{
    ConfigLayer, ConnectorEntry, DEFAULT_DATA_DIR, DEFAULT_HTTP_LISTEN, changelog_dir,
};
use vigil_server::connectors::RunSummary;
use vigil_server::demo;
use vigil_server::http::publish::{self, DEFAULT_BATCH, Job};
use vigil_server::{Config, Server};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "A streaming SQL engine that speaks the PostgreSQL protocol",
    long_about = "A streaming SQL engine that speaks the PostgreSQL protocol.\n\n\
        `vigil serve` runs the server: PostgreSQL clients on 127.0.0.1:6875, the HTTP API \
        on 127.0.0.1:6876. Sources (CREATE SOURCE … FROM TOPIC) read topics of the change \
        log, which is embedded in the data directory unless --kafka names brokers. \
        `vigil publish` writes JSON lines to a topic; `vigil connect` runs a source \
        connector (GitHub, Jira, Azure Boards, ClickUp) into the change log."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Publish JSON lines to a change-log topic.
    #[command(long_about = PUBLISH_ABOUT)]
    Publish(PublishArgs),
    /// Run a source connector into the change log, once or on a schedule.
    #[command(long_about = CONNECT_ABOUT)]
    Connect(ConnectArgs),
    /// Run the server with demo data: the engineering views, filled from recorded
    /// GitHub, Jira, Azure Boards and ClickUp payloads through the real connectors.
    #[command(long_about = DEMO_ABOUT)]
    Demo(ServeArgs),
    /// Generate a synthetic data set: CSV files or records in the change log.
    #[command(subcommand)]
    Generate(GenerateCommand),
}

#[derive(Subcommand)]
enum GenerateCommand {
    /// A school district for the CRDC 2025-26 collection, with injected errors.
    #[command(long_about = GENERATE_CRDC_ABOUT)]
    Crdc(GenerateCrdcArgs),
}

const GENERATE_CRDC_ABOUT: &str = "Generate a school district for the CRDC 2025-26 collection.

Schools of each level, students, October 1 enrollments, program flags (IDEA, 504, EL), discipline incidents, restraint and seclusion events and harassment allegations, with a documented rate of injected errors for every rule of the pack (see vigil_fixtures::generate::crdc). The same spec and seed give the same records.

With --out DIR, writes one CSV per canonical relation (students.csv, enrollments.csv, …) with the source's column names as headers, loadable with \\copy students FROM 'students.csv' (FORMAT csv, HEADER). With --publish, sends the records to the crdc.* topics: Kafka with --kafka, a running server's HTTP API at --http, or else the embedded change log of --data-dir.";

/// Flags of `vigil generate crdc`.
#[derive(Args)]
struct GenerateCrdcArgs {
    /// Students in the district
    #[arg(long, value_name = "N", default_value_t = 250_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    students: usize,
    /// The seed: the same seed gives the same district
    #[arg(long, value_name = "S", default_value_t = 7)]
    seed: u64,
    /// The district's id (the tenant of every row)
    #[arg(long, value_name = "ID", default_value = "lakeview")]
    district_id: String,
    /// The district collects sex X (otherwise a few students with X are errors)
    #[arg(long)]
    collects_nonbinary: bool,
    /// Write one CSV file per relation into this directory (created if missing)
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "publish",
        conflicts_with = "publish"
    )]
    out: Option<PathBuf>,
    /// Publish the records to the crdc.* topics of the change log
    #[arg(long)]
    publish: bool,
    /// Publish straight to these Kafka brokers instead of through a server
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]", conflicts_with = "out")]
    kafka: Option<String>,
    /// The HTTP address of a running vigil server
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_HTTP_LISTEN)]
    http: String,
    /// Data directory whose embedded change log is written when no server answers
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Records per batch
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch: usize,
}

const DEMO_ABOUT: &str = "Run the server with demo data, until Ctrl-C or SIGTERM.

A local server plays the GitHub, Jira, Azure Boards and ClickUp APIs with the recorded payloads in fixtures/; the real connectors fetch from it, and every engineering view (board_compliance, sprint_velocity, blocked_items, validation_results, …) fills within seconds. The demo's connector configs are written to DATA_DIR/demo-connectors; POST /api/v1/admin/connectors/{github,jira,azure,clickup}/run fetches again.

Takes the flags of `vigil serve`; the data directory defaults to ./vigil-demo.";

const CONNECT_ABOUT: &str = "Run a source connector into the change log, once or on a schedule.

Each run fetches every scope of the config (repositories, boards, projects, spaces) from its cursor, keeps the raw payloads in raw.SOURCE, publishes canonical records to the eng.* topics and records itself in eng.connector_runs.

The change log is Kafka with --kafka, otherwise the embedded log of --data-dir. A running server holds its embedded log: to run a connector there, name it in the server's config ([[connectors]], or --connector SOURCE=FILE) and run it with POST /api/v1/admin/connectors/ID/run.";

const PUBLISH_ABOUT: &str = "Publish JSON lines to a change-log topic.

Each line is one record: {\"key\": <any JSON, or null or left out>, \"value\": <any JSON, or null to delete the key>}.
Lines are checked before their batch is sent; a bad line stops the run, naming FILE:LINE, with nothing of its batch published.

Where the records go: with --kafka, straight to the brokers; otherwise to the vigil server at --http; and if nothing listens there, into the embedded change log of --data-dir (which fails if a server holds it).";

/// Flags of `vigil serve`. Each overrides the same key of the configuration file.
#[derive(Args)]
struct ServeArgs {
    /// Address for PostgreSQL clients [default: 127.0.0.1:6875]
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address for the HTTP API [default: 127.0.0.1:6876]
    #[arg(long, value_name = "HOST:PORT")]
    http_listen: Option<String>,
    /// Data directory: catalog, table contents, embedded change log [default: ./vigil-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Dataflow worker threads [default: number of cores]
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Kafka brokers for the change log [default: the embedded log in the data directory]
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    kafka: Option<String>,
    /// The clock views' now() follows: wall, or manual (moved by ADVANCE CLOCK) [default: wall]
    #[arg(long, value_name = "wall|manual")]
    clock: Option<String>,
    /// Where a manual clock starts on a new data directory [default: the wall clock's time]
    #[arg(long, value_name = "TIMESTAMP")]
    clock_start: Option<String>,
    /// Time limit of one webhook delivery attempt [default: 10s]
    #[arg(long, value_name = "DURATION")]
    webhook_timeout: Option<String>,
    /// Webhook delivery attempts before a change goes to vigil_sink_errors [default: 10]
    #[arg(long, value_name = "N")]
    webhook_attempts: Option<u32>,
    /// Do not install the built-in sources and views on start (an empty catalog)
    #[arg(long)]
    no_builtin_views: bool,
    /// A connector the server runs on request (POST /api/v1/admin/connectors/SOURCE/run);
    /// repeatable. Schedules and ids are set in the config file's [[connectors]]
    #[arg(long, value_name = "SOURCE=FILE", value_parser = ConnectorEntry::from_flag)]
    connector: Vec<ConnectorEntry>,
    /// TOML file with the keys `listen`, `http_listen`, `data_dir`, `workers`, `kafka`,
    /// `clock`, `clock_start`, `webhook_timeout`, `webhook_attempts`, `builtin_views` and
    /// `[[connectors]]` (`id`, `source`, `config`, `every`)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then the flags.
    fn config(self) -> anyhow::Result<Config> {
        self.config_over(ConfigLayer::default())
    }

    /// The configuration: defaults, then `base`, then the file, then the flags.
    fn config_over(self, base: ConfigLayer) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => ConfigLayer::load(path)?,
            None => ConfigLayer::default(),
        };
        let flags = ConfigLayer {
            listen: self.listen,
            http_listen: self.http_listen,
            data_dir: self.data_dir,
            workers: self.workers,
            kafka: self.kafka,
            clock: self.clock,
            clock_start: self.clock_start,
            webhook_timeout: self.webhook_timeout,
            webhook_attempts: self.webhook_attempts,
            builtin_views: self.no_builtin_views.then_some(false),
            connectors: (!self.connector.is_empty()).then_some(self.connector),
        };
        Ok(base.overridden_by(file).overridden_by(flags).resolve()?)
    }
}

/// Flags of `vigil publish`.
#[derive(Args)]
struct PublishArgs {
    /// The topic to publish to
    topic: String,
    /// A file of JSON lines [default: standard input]
    file: Option<PathBuf>,
    /// Partitions for the topic if it does not exist yet [default: 1]
    #[arg(long, value_name = "N")]
    partitions: Option<u32>,
    /// Publish straight to these Kafka brokers instead of through a server
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    kafka: Option<String>,
    /// The HTTP address of a running vigil server
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_HTTP_LISTEN)]
    http: String,
    /// Data directory whose embedded change log is written when no server answers
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Lines per request (a batch is also cut at 16 MiB)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch: usize,
}

/// Flags of `vigil connect`.
#[derive(Args)]
struct ConnectArgs {
    /// The source system: github, jira, azure or clickup
    source: SourceKind,
    /// The connector's config file (TOML; see connectors/README or `vigil_connectors::config`)
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Run every scope once, then exit (the default); the exit status says whether all succeeded
    #[arg(long, conflicts_with = "every")]
    once: bool,
    /// Run every scope now and then again each DURATION (such as 5m), until Ctrl-C
    #[arg(long, value_name = "DURATION", value_parser = parse_every)]
    every: Option<Duration>,
    /// Publish to these Kafka brokers instead of the embedded change log
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    kafka: Option<String>,
    /// Data directory whose embedded change log is written without --kafka
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

fn parse_every(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .ok()
        .filter(|every| !every.is_zero())
        .ok_or_else(|| format!("expected a duration such as 5m or 1h, not {text:?}"))
}

/// Progress is printed each time this many more records are published.
const PROGRESS_EVERY: u64 = 100_000;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging("info", false);
            let config = args.config()?;
            tokio::runtime::Runtime::new()
                .context("cannot start the async runtime")?
                .block_on(serve(config))
        }
        Command::Publish(args) => {
            // Logs go to stderr: stdout carries the summary line.
            init_logging("warn", true);
            publish(args)
        }
        Command::Demo(args) => {
            init_logging("warn", false);
            let chose_clock = args.clock.is_some() || args.clock_start.is_some();
            let config = args.config_over(demo::defaults(chose_clock))?;
            tokio::runtime::Runtime::new()
                .context("cannot start the async runtime")?
                .block_on(run_demo(config))
        }
        Command::Generate(GenerateCommand::Crdc(args)) => {
            // Logs go to stderr: stdout carries the summary line.
            init_logging("warn", true);
            generate_crdc(args)
        }
        Command::Connect(args) => {
            // Logs go to stderr: stdout carries one line per run.
            init_logging("warn", true);
            tokio::runtime::Runtime::new()
                .context("cannot start the async runtime")?
                .block_on(connect(args))
        }
    }
}

fn init_logging(default: &str, stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if stderr {
        builder.with_writer(std::io::stderr).init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(data_dir = %config.data_dir.display(), workers = config.workers, "starting");
    let server = Server::bind(&config)
        .await
        .context("vigil could not start")?;
    println!("{}", listening_line(server.local_addr()));
    println!(
        "vigil: HTTP API on http://{} (change log: {})",
        server.http_addr(),
        server.log_description()
    );
    server.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `vigil demo`: the server, the fixture API, one run of each connector, then the
/// views' row counts and where to connect.
async fn run_demo(mut config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let _fixture_api = demo::prepare(&mut config)
        .await
        .context("vigil demo could not start")?;
    let server = Server::bind(&config)
        .await
        .context("vigil could not start")?;
    let pg = server.local_addr();
    println!("{}", listening_line(pg));
    println!("vigil: HTTP API on http://{}", server.http_addr());
    let connectors = server.connectors();
    let coordinator = server.coordinator();
    let mut running = tokio::spawn(server.run(shutdown_signal()));
    println!(
        "vigil demo: loading recorded GitHub, Jira, Azure Boards and ClickUp data through the connectors (configs in {})",
        config.data_dir.join(demo::CONFIG_DIR).display()
    );
    let loaded = async {
        demo::load(&connectors, |source, run| {
            println!("  {source} {}", run.line());
        })
        .await?;
        demo::view_counts(&coordinator).await
    };
    let counts = tokio::select! {
        counts = loaded => counts?,
        stopped = &mut running => return Ok(stopped??),
    };
    println!(
        "vigil demo: loaded in {:.1}s; the engineering views:",
        started.elapsed().as_secs_f64()
    );
    for (view, rows) in counts {
        println!("  {view:<22} {rows:>4} rows");
    }
    println!(
        "vigil demo: ready. Try: psql -h 127.0.0.1 -p {} -U vigil vigil -c 'SELECT * FROM board_compliance'",
        pg.port()
    );
    if matches!(config.clock, vigil_sql::ClockMode::Manual { .. }) {
        println!(
            "vigil demo: the clock is manual, at the fixtures' day; move it with ADVANCE CLOCK BY '2 days' and watch blocked_items"
        );
    }
    running.await??;
    Ok(())
}

/// `vigil publish`: reads the input in batches and prints progress to stderr and a
/// summary line to stdout.
fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let (mut input, input_name): (Box<dyn BufRead>, String) = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            (
                Box::new(std::io::BufReader::new(file)),
                path.display().to_string(),
            )
        }
        None => (Box::new(std::io::stdin().lock()), "<stdin>".to_owned()),
    };
    let destination = publish::connect(args.kafka.as_deref(), &args.http, &args.data_dir)?;
    let job = Job {
        topic: &args.topic,
        partitions: args.partitions,
        batch: args.batch,
        input_name: &input_name,
    };
    let mut reported = 0;
    let mut progress = |total: u64| {
        if total / PROGRESS_EVERY > reported / PROGRESS_EVERY {
            eprintln!("vigil publish: {total} records published to {}", args.topic);
            reported = total;
        }
    };
    match publish::publish(&destination, &job, &mut input, &mut progress) {
        Ok(published) => {
            println!(
                "published {published} records to {} ({})",
                args.topic,
                destination.describe()
            );
            Ok(())
        }
        Err(stopped) => {
            if stopped.published > 0 {
                eprintln!(
                    "vigil publish: {} records of earlier batches were published to {} before the error",
                    stopped.published, args.topic
                );
            }
            Err(stopped.error.into())
        }
    }
}

/// `vigil generate crdc`: writes the district as CSV files or publishes it,
/// printing progress to stderr and a summary line to stdout.
fn generate_crdc(args: GenerateCrdcArgs) -> anyhow::Result<()> {
    use vigil_fixtures::generate::crdc::{District, DistrictSpec, topics, write_csv};

    let district = District::new(DistrictSpec {
        district_id: args.district_id.clone(),
        students: args.students,
        seed: args.seed,
        collects_nonbinary: args.collects_nonbinary,
        ..DistrictSpec::default()
    })?;
    let mut reported = 0;
    let mut progress = |total: u64| {
        if total / PROGRESS_EVERY > reported / PROGRESS_EVERY {
            eprintln!("vigil generate: {total} records");
            reported = total;
        }
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let stats = write_csv(&district, dir, args.batch, &mut progress)?;
        println!(
            "wrote {} records in {} files to {} ({} students, seed {})",
            stats.total_records(),
            topics::ALL.len(),
            dir.display(),
            args.students,
            args.seed
        );
        return Ok(());
    }
    let destination = publish::connect(args.kafka.as_deref(), &args.http, &args.data_dir)?;
    let mut published = 0u64;
    let mut lines = Vec::new();
    for batch in district.batches(args.batch) {
        lines.clear();
        for (key, value) in &batch.records {
            lines.extend_from_slice(b"{\"key\":");
            lines.extend_from_slice(key);
            lines.extend_from_slice(b",\"value\":");
            lines.extend_from_slice(value);
            lines.extend_from_slice(b"}\n");
        }
        let job = Job {
            topic: batch.topic,
            partitions: None,
            batch: batch.records.len(),
            input_name: batch.topic,
        };
        let sent = publish::publish(&destination, &job, &mut lines.as_slice(), &mut |_| {})
            .map_err(|stopped| {
                eprintln!(
                    "vigil generate: {} records were published before the error",
                    published + stopped.published
                );
                anyhow::Error::from(stopped.error)
            })?;
        published += sent;
        progress(published);
    }
    println!(
        "published {published} records to {} topics ({}; {} students, seed {})",
        topics::ALL.len(),
        destination.describe(),
        args.students,
        args.seed
    );
    Ok(())
}

/// `vigil connect`: runs every scope, once or on a schedule, printing one line per
/// run. Tokens come from the config or the environment and are never printed.
async fn connect(args: ConnectArgs) -> anyhow::Result<()> {
    let configured = Configured::load(args.source, &args.config)?;
    let log: Arc<dyn ChangeLog> = match &args.kafka {
        Some(brokers) => Arc::new(
            KafkaLog::connect(brokers)
                .with_context(|| format!("cannot connect to the kafka brokers {brokers}"))?,
        ),
        None => {
            let dir = changelog_dir(&args.data_dir);
            Arc::new(EmbeddedLog::open(&dir).with_context(|| {
                format!(
                    "cannot open the embedded change log in {}; if a vigil server runs on it, \
                     run the connector in the server ([[connectors]] in its config) and \
                     start it with POST /api/v1/admin/connectors/ID/run, or use --kafka",
                    dir.display()
                )
            })?)
        }
    };
    let Some(every) = args.every else {
        let failed = run_and_print(&configured, log.as_ref()).await;
        if failed > 0 {
            anyhow::bail!("{failed} of {} runs failed", configured.scopes.len());
        }
        return Ok(());
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            _ = ticks.tick() => {
                run_and_print(&configured, log.as_ref()).await;
            }
        }
    }
}

/// Runs every scope once, prints a line per run, and returns how many failed.
async fn run_and_print(configured: &Configured, log: &dyn ChangeLog) -> usize {
    let reports = configured.run_all(log).await;
    for report in &reports {
        println!("{} {}", report.connector, RunSummary::of(report).line());
    }
    reports
        .iter()
        .filter(|report| report.status != RunStatus::Succeeded)
        .count()
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
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command");
        };
        let config = args.config().unwrap();
        assert_eq!(config.listen, "127.0.0.1:7000");
        assert_eq!(config.workers, 5);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn serve_takes_the_http_address_and_kafka_brokers() {
        let cli = Cli::parse_from([
            "vigil",
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--kafka",
            "k1:9092,k2:9092",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command");
        };
        let config = args.config().unwrap();
        assert_eq!(config.http_listen, "127.0.0.1:0");
        assert_eq!(config.kafka.as_deref(), Some("k1:9092,k2:9092"));
    }

    #[test]
    fn publish_has_defaults_for_everything_but_the_topic() {
        let cli = Cli::parse_from(["vigil", "publish", "jira.issues"]);
        let Command::Publish(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args.topic, "jira.issues");
        assert_eq!(args.file, None);
        assert_eq!(args.http, "127.0.0.1:6876");
        assert_eq!(args.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(args.batch, 10_000);
        assert_eq!((args.partitions, args.kafka), (None, None));
    }

    #[test]
    fn generate_crdc_needs_exactly_one_destination() {
        let cli = Cli::parse_from(["vigil", "generate", "crdc", "--out", "district"]);
        let Command::Generate(GenerateCommand::Crdc(args)) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!((args.students, args.seed), (250_000, 7));
        assert_eq!(args.out, Some(PathBuf::from("district")));
        assert!(!args.publish && !args.collects_nonbinary);
        for refused in [
            &["vigil", "generate", "crdc"][..],
            &["vigil", "generate", "crdc", "--out", "d", "--publish"],
            &[
                "vigil", "generate", "crdc", "--out", "d", "--kafka", "k:9092",
            ],
            &["vigil", "generate", "crdc", "--publish", "--students", "0"],
        ] {
            assert!(Cli::try_parse_from(refused).is_err(), "{refused:?}");
        }
        let cli = Cli::parse_from([
            "vigil",
            "generate",
            "crdc",
            "--publish",
            "--kafka",
            "k:9092",
        ]);
        let Command::Generate(GenerateCommand::Crdc(args)) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!((args.out, args.kafka.as_deref()), (None, Some("k:9092")));
    }

    #[test]
    fn connect_takes_a_source_a_config_and_a_schedule() {
        let cli = Cli::parse_from([
            "vigil",
            "connect",
            "jira",
            "--config",
            "jira.toml",
            "--every",
            "5m",
        ]);
        let Command::Connect(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args.source, SourceKind::Jira);
        assert_eq!(args.config, PathBuf::from("jira.toml"));
        assert_eq!(args.every, Some(Duration::from_secs(300)));
        assert!(!args.once);
        for wrong in [
            &["vigil", "connect", "gitlab", "--config", "x.toml"][..],
            &["vigil", "connect", "jira"],
            &[
                "vigil", "connect", "jira", "--config", "x", "--once", "--every", "1m",
            ],
            &["vigil", "connect", "jira", "--config", "x", "--every", "0s"],
        ] {
            assert!(Cli::try_parse_from(wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn serve_takes_connectors() {
        let cli = Cli::parse_from(["vigil", "serve", "--connector", "github=gh.toml"]);
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command");
        };
        let config = args.config().unwrap();
        assert_eq!(config.connectors.len(), 1);
        assert_eq!(config.connectors[0].id, "github");
    }

    #[test]
    fn publish_refuses_an_empty_batch() {
        let parsed = Cli::try_parse_from(["vigil", "publish", "t", "--batch", "0"]);
        assert!(parsed.is_err());
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
