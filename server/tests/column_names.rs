//! Result column names as PostgreSQL gives them to unaliased select items (`count`,
//! `?column?`, `upper`, the column a cast reads, …), which Grafana and Metabase show
//! as series and column names, over the simple protocol, the extended protocol's
//! Describe, SUBSCRIBE and the columns of views. The names of every query that
//! PostgreSQL runs too were checked against PostgreSQL 15.

mod common;

use anyhow::{Context, bail};
use common::VigilServer;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

async fn connect(server: &VigilServer) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&server.conninfo(), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn setup(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE t (region text, n bigint);
             INSERT INTO t VALUES ('east', 1), ('west', 2), ('east', 3);",
        )
        .await?;
    Ok(())
}

/// The names in the RowDescription of `sql`, by the simple protocol and by the
/// extended protocol's Describe; the query also has to run both ways.
async fn column_names(client: &Client, sql: &str) -> anyhow::Result<Vec<String>> {
    let mut simple = None;
    for message in client
        .simple_query(sql)
        .await
        .with_context(|| format!("simple query {sql}"))?
    {
        if let SimpleQueryMessage::RowDescription(columns) = message {
            simple = Some(columns.iter().map(|c| c.name().to_string()).collect());
        }
    }
    let Some(simple): Option<Vec<String>> = simple else {
        bail!("no RowDescription for {sql}");
    };
    let statement = client
        .prepare(sql)
        .await
        .with_context(|| format!("prepare {sql}"))?;
    let described: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    client
        .query(&statement, &[])
        .await
        .with_context(|| format!("execute {sql}"))?;
    anyhow::ensure!(
        simple == described,
        "{sql}: simple protocol says {simple:?}, Describe says {described:?}"
    );
    Ok(simple)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unaliased_items_get_postgres_names() -> anyhow::Result<()> {
    let server = VigilServer::start(1)?;
    let client = connect(&server).await?;
    setup(&client).await?;
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT 1, count(*), sum(n), max(region), upper(region), n + 1, n::text, \
             CASE WHEN n > 0 THEN 1 END FROM t GROUP BY region, n",
            &[
                "?column?", "count", "sum", "max", "upper", "?column?", "n", "case",
            ],
        ),
        // A subquery's column is referenced by PostgreSQL's name.
        ("SELECT s.count FROM (SELECT count(*) FROM t) s", &["count"]),
        // The first branch of a set operation names the columns.
        ("SELECT 1 AS a, 2 UNION SELECT 3, 4", &["a", "?column?"]),
        (
            "WITH c AS (SELECT 1, count(*) FROM t) SELECT * FROM c",
            &["?column?", "count"],
        ),
        // Duplicate names, which DataFusion refuses in one projection.
        ("SELECT 1, 2", &["?column?", "?column?"]),
        ("SELECT * FROM (SELECT 1, 2) s", &["?column?", "?column?"]),
        ("SELECT count(*), count(n) FROM t", &["count", "count"]),
        ("SELECT n, n FROM t", &["n", "n"]),
        (
            "SELECT j::json, j::jsonb FROM (SELECT '{\"a\":1}' AS j) s",
            &["j", "j"],
        ),
        (
            "SELECT '{\"a\":1}'::json, '{\"a\":1}'::jsonb",
            &["json", "jsonb"],
        ),
        // Casts and typed literals without a name of their own take the type's.
        (
            "SELECT interval '1 day', date '2024-01-01', 'x'::text, 1::int, \
             current_date = current_date",
            &["interval", "date", "text", "int4", "?column?"],
        ),
        // ORDER BY an input column the result lacks, a repeated item, an aggregate
        // and a result column's name.
        ("SELECT n::text FROM t ORDER BY t.n", &["n"]),
        (
            "SELECT DISTINCT upper(region) FROM t ORDER BY upper(region)",
            &["upper"],
        ),
        (
            "SELECT region, count(*) FROM t GROUP BY region ORDER BY count(*) DESC, count",
            &["region", "count"],
        ),
        (
            "SELECT extract(year from date '2024-01-01'), position('a' in region), \
             substring(region from 1 for 2), trim(region), coalesce(n, 0), nullif(n, 0), \
             greatest(n, 1), ARRAY[1], (SELECT max(n) FROM t) FROM t",
            &[
                "extract",
                "position",
                "substring",
                "btrim",
                "coalesce",
                "nullif",
                "greatest",
                "array",
                "max",
            ],
        ),
        (
            "SELECT 't'::regclass, '{\"a\":1}'::jsonb -> 'a', n IS NULL, n + 1 FROM t",
            &["regclass", "?column?", "?column?", "?column?"],
        ),
        // Beside a wildcard.
        ("SELECT *, n FROM t", &["region", "n", "n"]),
        (
            "SELECT *, upper(region) FROM t ORDER BY upper",
            &["region", "n", "upper"],
        ),
        (
            "SELECT s.upper FROM (SELECT *, upper(region) FROM t) s",
            &["upper"],
        ),
        // Aliases and plain column references keep their names.
        (
            "SELECT t.n, region AS r, count(*) AS \"Total\" FROM t GROUP BY t.n, region",
            &["n", "r", "Total"],
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(column_names(&client, sql).await?, *expected, "{sql}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_subscriptions_and_duplicates() -> anyhow::Result<()> {
    let server = VigilServer::start(1)?;
    let client = connect(&server).await?;
    setup(&client).await?;
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW mv AS
                 SELECT region, count(*), sum(n), max(n) + 1 FROM t GROUP BY region;
             CREATE VIEW v AS SELECT upper(region), n::text FROM t;",
        )
        .await?;
    let columns: Vec<String> = client
        .query("SHOW COLUMNS FROM mv", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns, ["region", "count", "sum", "?column?"]);
    assert_eq!(
        column_names(&client, "SELECT * FROM v").await?,
        ["upper", "n"]
    );
    let rows = client
        .query(
            "SELECT count, \"?column?\" FROM mv WHERE region = 'east'",
            &[],
        )
        .await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    assert_eq!(rows[0].get::<_, i64>(1), 4);

    // PostgreSQL refuses a view whose columns would share a name.
    for (sql, name) in [
        (
            "CREATE MATERIALIZED VIEW bad AS SELECT count(*), count(n) FROM t",
            "count",
        ),
        ("CREATE VIEW bad AS SELECT 1, 2", "?column?"),
    ] {
        let error = client
            .batch_execute(sql)
            .await
            .expect_err("duplicate column names");
        let db = error.as_db_error().context("a database error")?;
        assert_eq!(db.code(), &SqlState::DUPLICATE_COLUMN, "{sql}");
        assert_eq!(
            db.message(),
            format!("column \"{name}\" specified more than once")
        );
    }

    // A subscription's columns follow the relation's, duplicates included.
    let mut names = None;
    for message in client
        .simple_query(
            "BEGIN;
             DECLARE c CURSOR FOR SUBSCRIBE (SELECT region, count(*), count(n) FROM t GROUP BY region);
             FETCH ALL c;
             COMMIT;",
        )
        .await?
    {
        if let SimpleQueryMessage::RowDescription(columns) = message {
            names = Some(columns.iter().map(|c| c.name().to_string()).collect::<Vec<_>>());
        }
    }
    assert_eq!(
        names.context("FETCH returns rows")?,
        ["vigil_timestamp", "vigil_diff", "region", "count", "count"]
    );
    Ok(())
}
