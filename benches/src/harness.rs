//! What the in-process harnesses share: publishing to the change log, reading query
//! results, waiting until views have caught up with everything published, and the
//! process's peak memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vigil_changelog::{ChangeLog, Message};
use vigil_engine::repr::Datum;
use vigil_sql::{ExecuteResponse, Session};

/// Publishes keyed records to `topic` in one call.
pub fn publish(
    log: &dyn ChangeLog,
    topic: &str,
    records: &[(Vec<u8>, Vec<u8>)],
) -> anyhow::Result<()> {
    let messages: Vec<Message<'_>> = records
        .iter()
        .map(|(k, v)| Message {
            key: Some(k),
            value: Some(v),
        })
        .collect();
    log.publish(topic, &messages)
        .with_context(|| format!("publishing to {topic}"))?;
    Ok(())
}

/// The response of the last statement of `sql`.
pub async fn execute(session: &mut Session, sql: &str) -> anyhow::Result<ExecuteResponse> {
    match session.execute_batch(sql).await.pop() {
        Some(result) => result.with_context(|| sql.to_string()),
        None => bail!("no result for {sql}"),
    }
}

pub fn integer(datum: Option<&Datum>) -> Option<i64> {
    match datum {
        Some(Datum::Int64(n)) => Some(*n),
        Some(Datum::Int32(n)) => Some(i64::from(*n)),
        Some(Datum::Int16(n)) => Some(i64::from(*n)),
        _ => None,
    }
}

pub async fn rows(session: &mut Session, sql: &str) -> anyhow::Result<Vec<Vec<Datum>>> {
    match execute(session, sql).await? {
        ExecuteResponse::Rows { rows, .. } => Ok(rows),
        _ => bail!("{sql}: no rows"),
    }
}

pub async fn count(session: &mut Session, relation: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT count(*) FROM {relation}");
    let rows = rows(session, &sql).await?;
    integer(rows.first().and_then(|r| r.first())).with_context(|| format!("{sql}: not a count"))
}

/// `VmHWM` of this process, in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Waits until the producer is done, every source over `topics` has read its topic
/// to the end (`vigil_sources.lag = 0` on every partition), and every one of
/// `views` is current.
pub async fn caught_up(
    session: &mut Session,
    topics: &[&str],
    views: &[&str],
    producer_done: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(4 * 3600);
    loop {
        if producer_done() {
            let status = rows(session, "SELECT topic, lag FROM vigil_sources").await?;
            let mut lagging = BTreeMap::new();
            for row in &status {
                if let (Some(Datum::Text(topic)), lag) = (row.first(), integer(row.get(1))) {
                    // An unknown lag (NULL) is not caught up.
                    *lagging.entry(topic.clone()).or_insert(0) += lag.unwrap_or(1);
                }
            }
            if topics
                .iter()
                .all(|t| lagging.get(*t).is_some_and(|lag| *lag == 0))
            {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("the sources did not catch up");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two ticks, so the engine's time is past the time the last records landed at.
    tokio::time::sleep(Duration::from_millis(30)).await;
    for view in views {
        session
            .await_current(view)
            .await
            .with_context(|| format!("waiting for {view}"))?;
    }
    Ok(())
}
