//! The real `psql` against a fresh `vigil serve`: a setup script with `-f`, a CSV
//! load with `\copy` (COPY FROM STDIN underneath), then a materialized view over a
//! join with GROUP BY, read with `-c` after every update and delete.
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
    let trial = Trial::test("psql_copy_and_materialized_view", || {
        copy_and_materialized_view().map_err(|e| Failed::from(format!("{e:#}")))
    })
    .with_ignored_flag(!installed);
    sqllogictest::harness::run(&args, vec![trial]).exit();
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

/// Runs psql unaligned, tuples only, stopping at the first error, and returns its
/// standard output.
fn psql(server: &VigilServer, args: &[&str]) -> anyhow::Result<String> {
    let scratch = server.scratch_dir();
    let stdout_path = scratch.join("psql.stdout");
    let stderr_path = scratch.join("psql.stderr");
    let mut child = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(["-U", "vigil", "-d", "vigil", "-v", "ON_ERROR_STOP=1"])
        .args(["-X", "-A", "-t", "-w"])
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
    let stdout = read(&stdout_path)?;
    let stderr = read(&stderr_path)?;
    ensure!(
        status.success(),
        "psql {args:?} failed with {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    Ok(stdout)
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
