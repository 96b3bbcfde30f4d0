//! A `kill -9` during writes loses no acknowledged write, and views are rebuilt on
//! start.
//!
//! Several clients insert rows one at a time while the server is killed with
//! SIGKILL at a moment chosen by the test; every INSERT that was acknowledged must
//! be in the table after a restart, and the materialized view over the table must
//! agree with it. An INSERT in flight at the kill may or may not have landed, but
//! nothing else.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::VigilServer;
use tokio_postgres::NoTls;

const WRITERS: i32 = 3;

async fn connect(server: &VigilServer) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&server.conninfo(), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Inserts `writer`'s rows until the server goes away; records each acknowledged id.
async fn write_until_killed(
    server_conninfo: String,
    writer: i32,
    acknowledged: Arc<Mutex<BTreeSet<i32>>>,
) {
    let Ok((client, connection)) = tokio_postgres::connect(&server_conninfo, NoTls).await else {
        return;
    };
    tokio::spawn(connection);
    for n in 0.. {
        let id = n * WRITERS + writer;
        let sql = format!("INSERT INTO events VALUES ({id}, {writer}, 'payload {id}')");
        match client.simple_query(&sql).await {
            Ok(_) => {
                acknowledged.lock().unwrap().insert(id);
            }
            Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_during_writes_loses_no_acknowledged_write() -> anyhow::Result<()> {
    let mut server = VigilServer::start(2)?;
    let client = connect(&server).await?;
    client
        .batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, writer int NOT NULL, body text);
             CREATE MATERIALIZED VIEW per_writer AS
               SELECT writer, count(*) AS n, max(id) AS last FROM events GROUP BY writer;",
        )
        .await?;
    drop(client);

    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(write_until_killed(
                server.conninfo(),
                w,
                acknowledged.clone(),
            ))
        })
        .collect();

    // Let the writers get going, then crash the server under them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 60 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.crash_and_restart(2)?;
    for writer in writers {
        writer.await?;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 60,
        "the writers acknowledged only {} rows",
        acknowledged.len()
    );

    let client = connect(&server).await?;
    let stored: BTreeSet<i32> = client
        .query("SELECT id FROM events", &[])
        .await?
        .iter()
        .map(|row| row.get::<_, i32>(0))
        .collect();
    eprintln!(
        "durability: {} inserts acknowledged before the kill, {} rows after the restart",
        acknowledged.len(),
        stored.len()
    );
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged rows lost in the crash: {lost:?}"
    );
    // At most one INSERT per writer was in flight at the kill.
    let unacknowledged = stored.difference(&acknowledged).count();
    assert!(
        unacknowledged <= WRITERS as usize,
        "{unacknowledged} rows appeared that no one wrote"
    );

    // The view was rebuilt from the restored table and agrees with it.
    let view: BTreeSet<(i32, i64, i32)> = client
        .query("SELECT writer, n, last FROM per_writer", &[])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let expected: BTreeSet<(i32, i64, i32)> = (0..WRITERS)
        .filter_map(|w| {
            let ids: Vec<i32> = stored
                .iter()
                .copied()
                .filter(|id| id % WRITERS == w)
                .collect();
            ids.iter().max().map(|&last| (w, ids.len() as i64, last))
        })
        .collect();
    assert_eq!(view, expected);

    // And the server takes new writes after the restart.
    client
        .simple_query("INSERT INTO events VALUES (-1, 0, 'after')")
        .await?;
    let n: i64 = client
        .query_one("SELECT n FROM per_writer WHERE writer = 0", &[])
        .await?
        .get(0);
    assert_eq!(
        n,
        expected
            .iter()
            .find(|(w, _, _)| *w == 0)
            .map_or(0, |(_, n, _)| *n)
            + 1
    );
    Ok(())
}
