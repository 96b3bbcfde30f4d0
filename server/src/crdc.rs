//! The CRDC domain's server-side duties: the daily readiness snapshot that
//! `readiness_trend` compares against, and swapping the rule pack of a collection
//! year while the server runs (`PUT /api/v1/admin/rule-packs/crdc`).

use std::time::Duration;

use vigil_sql::Coordinator;

/// How often the snapshot task asks whether today's snapshot exists: a day boundary
/// (of the wall or the manual clock) is noticed within this long.
const SNAPSHOT_CHECK: Duration = Duration::from_secs(1);

/// Takes each day's readiness snapshot (`vigil_views::crdc::snapshot_if_due`) until
/// `stop` resolves.
pub async fn keep_snapshots(coordinator: Coordinator, stop: impl Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    let mut ticks = tokio::time::interval(SNAPSHOT_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        match vigil_views::crdc::snapshot_if_due(&coordinator).await {
            Ok(Some(snapshot)) => {
                tracing::info!(
                    day = snapshot.day,
                    rows = snapshot.rows,
                    "readiness snapshot taken"
                )
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "readiness snapshot"),
        }
    }
}
