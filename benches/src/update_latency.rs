//! Single-row UPDATE to view, against recomputing the view.
//!
//! Loads `orders` (`rows` rows) and `customers` (`rows / 10` rows) through COPY, creates
//!
//! ```sql
//! CREATE MATERIALIZED VIEW customer_totals AS
//!   SELECT c.id, c.region, count(*) AS orders, sum(o.amount) AS total
//!   FROM orders o JOIN customers c ON o.customer_id = c.id
//!   GROUP BY c.id, c.region
//! ```
//!
//! then times `UPDATE orders SET amount = amount + 1 WHERE id = k` for random `k`,
//! from sending the statement until the view's arrangement is complete through the
//! write (every worker has applied it). The baseline runs the view's query from
//! scratch with DataFusion over the same rows held in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use datafusion::arrow::array::{Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use vigil_sql::{Config, Coordinator, ExecuteResponse, Session};

use crate::quantile;

pub const VIEW: &str = "SELECT c.id, c.region, count(*) AS orders, sum(o.amount) AS total \
     FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.id, c.region";

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub rows: usize,
    pub updates: usize,
    pub workers: usize,
    pub recomputes: usize,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub rows: usize,
    pub workers: usize,
    pub load_seconds: f64,
    pub view_build_seconds: f64,
    pub update_to_view_ms_p50: f64,
    pub update_to_view_ms_p90: f64,
    pub update_to_view_ms_p99: f64,
    pub update_ack_ms_p50: f64,
    pub recompute_ms_p50: f64,
    pub recompute_over_update_ratio: f64,
}

/// A deterministic pseudo-random sequence (SplitMix64), so runs are comparable.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub(crate) struct Data {
    /// (id, customer_id, amount)
    pub(crate) orders: Vec<(i32, i32, i32)>,
    /// (id, region)
    pub(crate) customers: Vec<(i32, i32)>,
}

pub(crate) fn generate(rows: usize) -> Data {
    let mut rng = Rng(7);
    let customer_count = (rows / 10).max(1);
    let customers = (0..customer_count)
        .map(|id| (id as i32, (id % 50) as i32))
        .collect();
    let orders = (0..rows)
        .map(|id| {
            (
                id as i32,
                rng.below(customer_count) as i32,
                rng.below(1000) as i32,
            )
        })
        .collect();
    Data { orders, customers }
}

async fn execute(session: &mut Session, sql: &str) -> anyhow::Result<ExecuteResponse> {
    let mut results = session.execute_batch(sql).await;
    match results.pop() {
        Some(result) => result.with_context(|| sql.to_string()),
        None => bail!("no result for {sql}"),
    }
}

async fn copy(session: &mut Session, table: &str, csv: String) -> anyhow::Result<u64> {
    let ExecuteResponse::CopyIn { columns, .. } =
        execute(session, &format!("COPY {table} FROM STDIN (FORMAT csv)")).await?
    else {
        bail!("COPY did not ask for data");
    };
    Ok(session.copy_in(table, &columns, csv.as_bytes()).await?)
}

/// Runs the benchmark, printing progress to stderr.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    let data = generate(settings.rows);
    let dir = tempfile::tempdir()?;
    let coordinator = Coordinator::open(Config {
        log: None,
        clock: Default::default(),
        data_dir: dir.path().to_path_buf(),
        workers: settings.workers,
    })?;
    let mut session = coordinator.session();
    execute(
        &mut session,
        "CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL)",
    )
    .await?;
    execute(
        &mut session,
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount int NOT NULL)",
    )
    .await?;

    eprintln!(
        "loading {} orders and {} customers",
        data.orders.len(),
        data.customers.len()
    );
    let started = Instant::now();
    let csv: String = data
        .customers
        .iter()
        .map(|(id, region)| format!("{id},{region}\n"))
        .collect();
    copy(&mut session, "customers", csv).await?;
    let csv: String = data
        .orders
        .iter()
        .map(|(id, customer, amount)| format!("{id},{customer},{amount}\n"))
        .collect();
    copy(&mut session, "orders", csv).await?;
    session.await_current("orders").await?;
    let load = started.elapsed();

    eprintln!("building the view");
    let started = Instant::now();
    execute(
        &mut session,
        &format!("CREATE MATERIALIZED VIEW customer_totals AS {VIEW}"),
    )
    .await?;
    session.await_current("customer_totals").await?;
    let build = started.elapsed();

    eprintln!("timing {} single-row updates", settings.updates);
    let mut rng = Rng(11);
    let mut to_view = Vec::with_capacity(settings.updates);
    let mut acknowledged = Vec::with_capacity(settings.updates);
    for _ in 0..settings.updates {
        let id = rng.below(data.orders.len());
        let started = Instant::now();
        execute(
            &mut session,
            &format!("UPDATE orders SET amount = amount + 1 WHERE id = {id}"),
        )
        .await?;
        acknowledged.push(started.elapsed());
        session.await_current("customer_totals").await?;
        to_view.push(started.elapsed());
    }

    // The incremental result must equal the query run from scratch.
    let ExecuteResponse::Rows {
        rows: mut maintained,
        ..
    } = execute(&mut session, "SELECT * FROM customer_totals").await?
    else {
        bail!("SELECT returned no rows");
    };
    let ExecuteResponse::Rows {
        rows: mut expected, ..
    } = execute(&mut session, VIEW).await?
    else {
        bail!("SELECT returned no rows");
    };
    maintained.sort();
    expected.sort();
    if maintained != expected {
        bail!("the view differs from its query after the updates");
    }

    eprintln!("recomputing with DataFusion");
    let recompute = recompute(&data, settings.recomputes).await?;

    let p50 = quantile(&to_view, 0.5);
    let recompute_p50 = quantile(&recompute, 0.5);
    Ok(Report {
        rows: settings.rows,
        workers: settings.workers,
        load_seconds: load.as_secs_f64(),
        view_build_seconds: build.as_secs_f64(),
        update_to_view_ms_p50: p50.as_secs_f64() * 1e3,
        update_to_view_ms_p90: quantile(&to_view, 0.9).as_secs_f64() * 1e3,
        update_to_view_ms_p99: quantile(&to_view, 0.99).as_secs_f64() * 1e3,
        update_ack_ms_p50: quantile(&acknowledged, 0.5).as_secs_f64() * 1e3,
        recompute_ms_p50: recompute_p50.as_secs_f64() * 1e3,
        recompute_over_update_ratio: recompute_p50.as_secs_f64() / p50.as_secs_f64(),
    })
}

/// Times DataFusion computing the view's query from scratch over in-memory batches.
async fn recompute(data: &Data, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let ctx = SessionContext::new();
    let int = |name: &str| Field::new(name, DataType::Int32, false);
    let orders_schema = Arc::new(Schema::new(vec![
        int("id"),
        int("customer_id"),
        int("amount"),
    ]));
    let orders = RecordBatch::try_new(
        orders_schema.clone(),
        vec![
            Arc::new(Int32Array::from_iter_values(
                data.orders.iter().map(|o| o.0),
            )),
            Arc::new(Int32Array::from_iter_values(
                data.orders.iter().map(|o| o.1),
            )),
            Arc::new(Int32Array::from_iter_values(
                data.orders.iter().map(|o| o.2),
            )),
        ],
    )?;
    let customers_schema = Arc::new(Schema::new(vec![int("id"), int("region")]));
    let customers = RecordBatch::try_new(
        customers_schema.clone(),
        vec![
            Arc::new(Int32Array::from_iter_values(
                data.customers.iter().map(|c| c.0),
            )),
            Arc::new(Int32Array::from_iter_values(
                data.customers.iter().map(|c| c.1),
            )),
        ],
    )?;
    ctx.register_table(
        "orders",
        Arc::new(MemTable::try_new(orders_schema, vec![vec![orders]])?),
    )?;
    ctx.register_table(
        "customers",
        Arc::new(MemTable::try_new(customers_schema, vec![vec![customers]])?),
    )?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let batches = ctx.sql(VIEW).await?.collect().await?;
        times.push(started.elapsed());
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            bail!("the recomputed view is empty");
        }
    }
    Ok(times)
}

/// The report as a table.
pub fn table(report: &Report) -> String {
    let rows = [
        ("base rows (orders)", report.rows.to_string()),
        ("workers", report.workers.to_string()),
        (
            "load through COPY (s)",
            format!("{:.2}", report.load_seconds),
        ),
        (
            "build the view (s)",
            format!("{:.2}", report.view_build_seconds),
        ),
        (
            "UPDATE acknowledged, p50 (ms)",
            format!("{:.3}", report.update_ack_ms_p50),
        ),
        (
            "UPDATE to view, p50 (ms)",
            format!("{:.3}", report.update_to_view_ms_p50),
        ),
        (
            "UPDATE to view, p90 (ms)",
            format!("{:.3}", report.update_to_view_ms_p90),
        ),
        (
            "UPDATE to view, p99 (ms)",
            format!("{:.3}", report.update_to_view_ms_p99),
        ),
        (
            "DataFusion recompute, p50 (ms)",
            format!("{:.3}", report.recompute_ms_p50),
        ),
        (
            "recompute / incremental",
            format!("{:.1}x", report.recompute_over_update_ratio),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v:>12}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_run_keeps_the_view_correct() {
        let settings = Settings {
            rows: 2_000,
            updates: 20,
            workers: 2,
            recomputes: 1,
        };
        let report = run(&settings).await.unwrap();
        assert_eq!(report.rows, 2_000);
        assert!(report.update_to_view_ms_p50 > 0.0);
        assert!(table(&report).contains("UPDATE to view, p50"));
    }
}
