//! The real `psql` against a fresh `vigil serve`: a setup script with `-f`, a CSV
//! load with `\copy` (COPY FROM STDIN underneath), then a materialized view over a
//! join with GROUP BY, read with `-c` after every update and delete. Then psql's
//! describe commands (`\dt`, `\dv`, `\dm`, `\dn`, `\l`, `\d name`, `\d+ name`),
//! which query pg_catalog, with comments that survive a restart.
//!
//! Skipped, with a message and an `ignored` count, only when `psql` is not
//! installed; `scripts/install-test-deps.sh` installs it.

mod common;

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use common::VigilServer;
use sqllogictest::harness::{Arguments, Failed, Trial};

/// One psql invocation may take this long before it is killed and reported.
const PSQL_TIMEOUT: Duration = Duration::from_secs(60);

const SETUP_SQL: &str = "\
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, region text);
INSERT INTO customers VALUES (1, 'Ada', 'east'), (2, 'Grace', 'west'), (3, 'Linus', 'east');
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL,
    amount numeric(10,2),
    status text,
    note text
);
";

/// A header, a quoted field holding the delimiter, and empty unquoted fields,
/// which CSV format loads as NULL.
const ORDERS_CSV: &str = "\
id,customer_id,amount,status,note
1,1,10.50,paid,\"late, then paid\"
2,1,20.00,paid,
3,2,5.25,open,
4,3,100.00,paid,gift
5,2,7.75,cancelled,
";

const REVENUE_VIEW: &str = "\
CREATE MATERIALIZED VIEW revenue_by_region AS
SELECT c.region, count(*) AS orders, sum(o.amount) AS revenue
FROM orders o JOIN customers c ON o.customer_id = c.id
WHERE o.status <> 'cancelled'
GROUP BY c.region";

const READ_VIEW: &str = "SELECT * FROM revenue_by_region ORDER BY region";

fn main() {
    let args = Arguments::from_args();
    let installed = psql_installed();
    if !installed {
        eprintln!(
            "psql: SKIPPED: the psql binary is not installed (run scripts/install-test-deps.sh)"
        );
    }
    let trials = vec![
        Trial::test("psql_copy_and_materialized_view", || {
            copy_and_materialized_view().map_err(|e| Failed::from(format!("{e:#}")))
        }),
        Trial::test("psql_list_commands", || {
            with_server(list_commands).map_err(|e| Failed::from(format!("{e:#}")))
        }),
        Trial::test("psql_describe_commands", || {
            with_server(describe_commands).map_err(|e| Failed::from(format!("{e:#}")))
        }),
        Trial::test("psql_comments_survive_restart", || {
            comments_survive_restart().map_err(|e| Failed::from(format!("{e:#}")))
        }),
    ]
    .into_iter()
    .map(|trial| trial.with_ignored_flag(!installed))
    .collect();
    sqllogictest::harness::run(&args, trials).exit();
}

fn psql_installed() -> bool {
    Command::new("psql")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn copy_and_materialized_view() -> anyhow::Result<()> {
    let server = VigilServer::start(2)?;
    steps(&server).map_err(|e| anyhow::anyhow!("{e:#}\n{}", server.log_tail()))
}

fn steps(server: &VigilServer) -> anyhow::Result<()> {
    let scratch = server.scratch_dir();
    let setup = scratch.join("setup.sql");
    fs::write(&setup, SETUP_SQL)?;
    let csv = scratch.join("orders.csv");
    fs::write(&csv, ORDERS_CSV)?;

    expect(
        server,
        &["-f", &setup.display().to_string()],
        "CREATE TABLE\nINSERT 0 3\nCREATE TABLE",
    )?;
    let copy = format!(
        "\\copy orders FROM '{}' WITH (FORMAT csv, HEADER true)",
        csv.display()
    );
    expect(server, &["-c", &copy], "COPY 5")?;
    expect_sql(
        server,
        &["SELECT id, amount, coalesce(note, '<null>') FROM orders ORDER BY id"],
        "1|10.50|late, then paid\n2|20.00|<null>\n3|5.25|<null>\n4|100.00|gift\n5|7.75|<null>",
    )?;

    // Quiet: PostgreSQL tags CREATE MATERIALIZED VIEW as `SELECT n`, which is not
    // what this test is about.
    expect(server, &["-q", "-c", REVENUE_VIEW], "")?;
    expect_sql(server, &[READ_VIEW], "east|3|130.50\nwest|1|5.25")?;
    // Cancelling an order removes it from its region's count and sum.
    expect_sql(
        server,
        &[
            "UPDATE orders SET status = 'cancelled' WHERE id = 4",
            READ_VIEW,
        ],
        "UPDATE 1\neast|2|30.50\nwest|1|5.25",
    )?;
    // Un-cancelling one brings it back.
    expect_sql(
        server,
        &["UPDATE orders SET status = 'paid' WHERE id = 5", READ_VIEW],
        "UPDATE 1\neast|2|30.50\nwest|2|13.00",
    )?;
    // Deleting the only west customer makes the west group disappear.
    expect_sql(
        server,
        &["DELETE FROM customers WHERE id = 2", READ_VIEW],
        "DELETE 1\neast|2|30.50",
    )?;
    // Moving a customer to a new region creates that group.
    expect_sql(
        server,
        &[
            "UPDATE customers SET region = 'north' WHERE id = 3",
            "INSERT INTO orders VALUES (6, 3, 1.00, 'paid', NULL)",
            READ_VIEW,
        ],
        "UPDATE 1\nINSERT 0 1\neast|2|30.50\nnorth|1|1.00",
    )?;
    // Deleting several orders at once empties the east group.
    expect_sql(
        server,
        &["DELETE FROM orders WHERE customer_id = 1", READ_VIEW],
        "DELETE 2\nnorth|1|1.00",
    )?;
    Ok(())
}

/// Relations for the describe commands: a keyed table, a view and a materialized
/// view, with comments on the table, one of its columns and the view.
const DESCRIBE_SETUP: &str = "\
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, region text);
CREATE VIEW big_customers AS SELECT id, name FROM customers WHERE id > 1;
CREATE MATERIALIZED VIEW regions AS SELECT region, count(*) AS n FROM customers GROUP BY region;
COMMENT ON TABLE customers IS 'people who order';
COMMENT ON COLUMN customers.name IS 'full name';
COMMENT ON COLUMN big_customers.name IS 'their name';
";

/// Runs `steps` against a fresh server loaded with [`DESCRIBE_SETUP`], adding the
/// server's log to a failure.
fn with_server(steps: fn(&VigilServer) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let server = VigilServer::start(2)?;
    setup_describe(&server)
        .and_then(|()| steps(&server))
        .map_err(|e| anyhow::anyhow!("{e:#}\n{}", server.log_tail()))
}

fn setup_describe(server: &VigilServer) -> anyhow::Result<()> {
    let setup = server.scratch_dir().join("describe.sql");
    fs::write(&setup, DESCRIBE_SETUP)?;
    let script = setup.display().to_string();
    expect(server, &["-q", "-f", &script], "")
}

/// `\dt`, `\dv`, `\dm`, `\dn` and `\l` list exactly Vigil's relations, schema and
/// database, each of its own kind, owned by the connected user.
fn list_commands(server: &VigilServer) -> anyhow::Result<()> {
    expect(server, &["-c", "\\dt"], "public|customers|table|vigil")?;
    expect(server, &["-c", "\\dv"], "public|big_customers|view|vigil")?;
    expect(
        server,
        &["-c", "\\dm"],
        "public|regions|materialized view|vigil",
    )?;
    expect(server, &["-c", "\\dn"], "public|vigil")?;
    expect(server, &["-c", "\\l"], "vigil|vigil|UTF8|C|C||libc|")?;
    // A pattern narrows the listing; a table is no view.
    expect(
        server,
        &["-c", "\\dt cust*"],
        "public|customers|table|vigil",
    )?;
    expect(server, &["-c", "\\dv cust*"], "")
}

/// `\d name` shows columns, types, NOT NULL and the primary key's index; `\d+` adds
/// storage and comments, and for a view its definition.
fn describe_commands(server: &VigilServer) -> anyhow::Result<()> {
    expect_full(
        server,
        &["-c", "\\d customers"],
        "Table \"public.customers\"\n\
         Column|Type|Collation|Nullable|Default\n\
         id|integer||not null|\n\
         name|text||not null|\n\
         region|text|||\n\
         Indexes:\n    \"customers_pkey\" PRIMARY KEY, btree (id)",
    )?;
    expect_full(
        server,
        &["-c", "\\d+ big_customers"],
        "View \"public.big_customers\"\n\
         Column|Type|Collation|Nullable|Default|Storage|Description\n\
         id|integer||||plain|\n\
         name|text||||extended|their name\n\
         View definition:\n\
         SELECT id, name FROM customers WHERE id > 1",
    )?;
    expect_full(
        server,
        &["-c", "\\d regions"],
        "Materialized view \"public.regions\"\n\
         Column|Type|Collation|Nullable|Default\n\
         region|text|||\n\
         n|bigint|||",
    )?;
    // The table's own comment is what `\dt+` shows as its description.
    let listed = psql(server, &["-c", "\\dt+ customers"])?;
    ensure!(
        listed.trim_end().ends_with("|people who order"),
        "\\dt+ customers: {listed}"
    );
    // An unknown name is reported as psql reports it, not as a query error.
    let missing = psql_output(server, &["-t"], &["-c", "\\d no_such"])?;
    ensure!(
        missing
            .stderr
            .contains("Did not find any relation named \"no_such\""),
        "\\d no_such: {}",
        missing.stderr
    );
    Ok(())
}

/// Comments are stored durably: after a crash and restart `\d+` still shows them.
fn comments_survive_restart() -> anyhow::Result<()> {
    let mut server = VigilServer::start(2)?;
    let steps = |server: &mut VigilServer| -> anyhow::Result<()> {
        setup_describe(server)?;
        server.crash_and_restart(2)?;
        expect(
            server,
            &["-c", "\\d+ customers"],
            "id|integer||not null||plain|||\n\
             name|text||not null||extended|||full name\n\
             region|text||||extended|||",
        )?;
        expect_sql(
            server,
            &["SELECT obj_description('customers'::regclass, 'pg_class')"],
            "people who order",
        )
    };
    steps(&mut server).map_err(|e| anyhow::anyhow!("{e:#}\n{}", server.log_tail()))
}

/// Runs each statement with its own `-c`, in order, and compares what psql printed.
fn expect_sql(server: &VigilServer, statements: &[&str], expected: &str) -> anyhow::Result<()> {
    let args: Vec<&str> = statements.iter().flat_map(|s| ["-c", *s]).collect();
    expect(server, &args, expected)
}

fn expect(server: &VigilServer, args: &[&str], expected: &str) -> anyhow::Result<()> {
    let output = psql(server, args)?;
    ensure!(
        output.trim_end() == expected,
        "psql {args:?}\n--- expected ---\n{expected}\n--- got ---\n{}",
        output.trim_end()
    );
    Ok(())
}

/// Like [`expect`], with headers and footers (titles, indexes, view definitions).
fn expect_full(server: &VigilServer, args: &[&str], expected: &str) -> anyhow::Result<()> {
    let output = psql_output(server, &[], args)?;
    ensure!(
        output.status.success(),
        "psql {args:?} failed with {}\n{}",
        output.status,
        output.stderr
    );
    ensure!(
        output.stdout.trim_end() == expected,
        "psql {args:?}\n--- expected ---\n{expected}\n--- got ---\n{}",
        output.stdout.trim_end()
    );
    Ok(())
}

/// Runs psql unaligned, tuples only, stopping at the first error, and returns its
/// standard output.
fn psql(server: &VigilServer, args: &[&str]) -> anyhow::Result<String> {
    let output = psql_output(server, &["-t"], args)?;
    ensure!(
        output.status.success(),
        "psql {args:?} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        output.stdout,
        output.stderr
    );
    Ok(output.stdout)
}

/// What one psql run printed, and how it exited.
struct PsqlOutput {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs psql unaligned with `flags`, stopping at the first error.
fn psql_output(server: &VigilServer, flags: &[&str], args: &[&str]) -> anyhow::Result<PsqlOutput> {
    let scratch = server.scratch_dir();
    let stdout_path = scratch.join("psql.stdout");
    let stderr_path = scratch.join("psql.stderr");
    let mut child = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(["-U", "vigil", "-d", "vigil", "-v", "ON_ERROR_STOP=1"])
        .args(["-X", "-A", "-w"])
        .args(flags)
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?)
        .spawn()
        .context("spawning psql")?;
    let deadline = Instant::now() + PSQL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("psql {args:?} did not finish within {PSQL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(PsqlOutput {
        status,
        stdout: read(&stdout_path)?,
        stderr: read(&stderr_path)?,
    })
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
