//! Running sinks: one task per sink in the catalog, started and stopped as sinks
//! are created and dropped.
//!
//! ```text
//!  catalog (watch) ─▶ supervise ─▶ run_sink per sink
//!  run_sink:  sink_progress (delivered rows, frontier) ─┐
//!             SUBSCRIBE view (snapshot at as_of) ───────┴▶ difference ─▶ deliver ─▶ commit
//!             then every later change, in time order ──────────────────▶ deliver ─▶ commit
//! ```
//!
//! A sink's durable state is what its receiver has been told: the rows it has
//! delivered (with counts) and the time it has delivered through, committed after
//! each delivery. On start (or restart) the sink compares the view's snapshot with
//! that state and delivers only the difference, so a restart neither re-sends
//! what was delivered nor misses what changed while the server was down. Within a
//! time, deletions go out before insertions.
//!
//! A change whose delivery fails for good (a permanent refusal, or out of
//! attempts) is recorded in `vigil_sink_errors` with its payload and counted as
//! delivered, so one bad message cannot stall the alerts behind it. Anything
//! else that stops a sink (the change log is unreachable, storage fails) is shown in
//! `vigil_sinks` and retried with backoff.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use vigil_changelog::{ChangeLog, Retention, TopicSpec};
use vigil_engine::repr::{RelationDesc, Row};
use vigil_engine::{Diff, GlobalId, Time};
use vigil_sql::sink::{SinkCheck, SinkDef, SinkError, SinkStatus, SinkTarget};
use vigil_sql::{
    Coordinator, SqlError, SubscribeEvent, SubscribeOptions, SubscribeTarget, Subscription,
};

use super::format::{
    Change, SinkOn, Template, WebhookFormat, idempotency_key, topic_message, webhook_body,
};
use super::webhook::{RetryPolicy, Webhook};

/// How often the supervisor looks for sinks whose task ended, besides catalog changes.
const RECHECK: Duration = Duration::from_secs(5);
/// Backoff between attempts to restart a sink that stopped.
const RESTART_MIN: Duration = Duration::from_millis(500);
const RESTART_MAX: Duration = Duration::from_secs(30);

/// The check `CREATE SINK` runs: the URL, `format`, `on` and the template (against
/// the view's columns) must make sense before the sink exists.
pub fn sink_check() -> SinkCheck {
    Arc::new(|target, options, desc| match target {
        SinkTarget::Webhook { url } => {
            Webhook::new(url, RetryPolicy::default()).map_err(|e| e.to_string())?;
            WebhookSettings::from_options(options, desc).map(|_| ())
        }
        SinkTarget::Topic { topic } if topic.is_empty() => Err("the topic name is empty".into()),
        SinkTarget::Topic { .. } => Ok(()),
    })
}

/// Runs every sink of `coordinator` until `stop` resolves (or the coordinator's
/// catalog watch closes), then stops them all and waits for them to let go.
pub async fn supervise(
    coordinator: Coordinator,
    policy: RetryPolicy,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut changes = coordinator.watch_sinks();
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: HashMap<GlobalId, tokio::task::AbortHandle> = HashMap::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let sinks = coordinator.sinks().await;
        running.retain(|id, task| {
            let keep = sinks.iter().any(|s| s.id == *id) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for sink in sinks {
            if running.contains_key(&sink.id) {
                continue;
            }
            let id = sink.id;
            let task = tasks.spawn(run_sink(coordinator.clone(), sink, policy));
            running.insert(id, task);
        }
        tokio::select! {
            () = &mut stop => break,
            changed = changes.changed() => if changed.is_err() { break },
            // Reap finished tasks so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tokio::time::sleep(RECHECK) => {}
        }
    }
    tasks.shutdown().await;
}

/// Runs one sink, restarting it with backoff when it stops on an error; returns
/// when its view is gone.
async fn run_sink(coordinator: Coordinator, sink: SinkDef, policy: RetryPolicy) {
    let status = coordinator.sink_status(sink.id);
    let mut delay = RESTART_MIN;
    loop {
        match Runner::new(&coordinator, &sink, policy, status.clone()).await {
            Ok(mut runner) => match runner.run().await {
                Ok(()) => return,
                Err(problem) => report(&sink, &status, problem),
            },
            Err(problem) => report(&sink, &status, problem),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RESTART_MAX);
    }
}

fn report(sink: &SinkDef, status: &SinkStatus, problem: String) {
    tracing::warn!(sink = %sink.name, %problem, "sink stopped; restarting");
    status.set_problem(Some(problem));
}

/// How a webhook sink formats and filters changes.
struct WebhookSettings {
    format: WebhookFormat,
    on: SinkOn,
    template: Option<Template>,
}

impl WebhookSettings {
    fn from_options(
        options: &BTreeMap<String, String>,
        desc: &RelationDesc,
    ) -> Result<WebhookSettings, String> {
        let format = match options.get("format") {
            Some(format) => format
                .parse()
                .map_err(|e: super::format::UnknownFormat| e.to_string())?,
            None => WebhookFormat::Json,
        };
        let on = match options.get("on") {
            Some(on) => on
                .parse()
                .map_err(|e: super::format::UnknownSinkOn| e.to_string())?,
            None => SinkOn::Insert,
        };
        let template = options
            .get("template")
            .map(|text| Template::parse(text, desc))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(WebhookSettings {
            format,
            on,
            template,
        })
    }
}

/// Where a running sink sends changes.
enum Destination {
    Webhook {
        webhook: Webhook,
        settings: WebhookSettings,
    },
    Topic {
        log: Arc<dyn ChangeLog>,
        topic: String,
    },
}

/// One run of a sink: from its committed state to the end of its subscription.
struct Runner<'a> {
    coordinator: &'a Coordinator,
    sink: &'a SinkDef,
    status: Arc<SinkStatus>,
    destination: Destination,
    delivered: Delivered<'a>,
    /// Whether the sink has committed anything before (a restart, not a first start).
    resumed: bool,
    /// On a first start, the time the sink was created at.
    created: Option<Time>,
}

/// What the receiver has been told is in the view, kept durably.
struct Delivered<'a> {
    coordinator: &'a Coordinator,
    sink: GlobalId,
    rows: BTreeMap<Row, Diff>,
}

impl<'a> Runner<'a> {
    async fn new(
        coordinator: &'a Coordinator,
        sink: &'a SinkDef,
        policy: RetryPolicy,
        status: Arc<SinkStatus>,
    ) -> Result<Runner<'a>, String> {
        let destination = match &sink.target {
            SinkTarget::Webhook { url } => Destination::Webhook {
                webhook: Webhook::new(url, policy).map_err(|e| e.to_string())?,
                settings: WebhookSettings::from_options(&sink.options, &sink.from_desc)?,
            },
            SinkTarget::Topic { topic } => {
                let log = coordinator.log();
                let partitions = sink
                    .options
                    .get("partitions")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1);
                let spec = TopicSpec {
                    partitions,
                    retention: Retention::All,
                };
                let (ensure_log, name) = (log.clone(), topic.clone());
                tokio::task::spawn_blocking(move || ensure_log.ensure_topic(&name, &spec))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("cannot create topic {topic}: {e}"))?;
                Destination::Topic {
                    log,
                    topic: topic.clone(),
                }
            }
        };
        let progress = coordinator
            .sink_progress(sink.id)
            .map_err(|e| e.to_string())?;
        Ok(Runner {
            coordinator,
            sink,
            status,
            destination,
            delivered: Delivered {
                coordinator,
                sink: sink.id,
                rows: progress.delivered.into_iter().collect(),
            },
            resumed: progress.frontier.is_some(),
            created: progress.created,
        })
    }

    /// Follows the view until it is dropped (`Ok`) or something fails (`Err`).
    async fn run(&mut self) -> Result<(), String> {
        // A first start reads as of the sink's creation, if the view still has that
        // history; a restart compares the view now with what was delivered.
        let from_creation = self.created.filter(|_| !self.resumed);
        let mut subscription = match from_creation {
            Some(as_of) => match self.subscribe(Some(as_of)).await {
                Err(SqlError::HistoryCompacted { .. }) => self.subscribe(None).await,
                other => other,
            },
            None => self.subscribe(None).await,
        }
        .map_err(|e| e.to_string())?;
        let as_of = subscription.as_of();
        let mut reconciled = false;
        self.status.set_problem(None);
        while let Some(event) = subscription.next().await {
            match event.map_err(|e| e.to_string())? {
                SubscribeEvent::Updates { time, updates } => {
                    if !reconciled {
                        reconciled = true;
                        // The snapshot, if the view had rows then, is the first event.
                        if time == as_of {
                            self.reconcile(as_of, updates).await?;
                            continue;
                        }
                        self.reconcile(as_of, Vec::new()).await?;
                    }
                    self.deliver(time, updates).await?;
                }
                SubscribeEvent::Progress(time) => {
                    if !reconciled && time > as_of {
                        reconciled = true;
                        self.reconcile(as_of, Vec::new()).await?;
                    }
                    self.status.through.store(time, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&self, as_of: Option<Time>) -> Result<Subscription, SqlError> {
        let options = SubscribeOptions {
            snapshot: true,
            progress: true,
            as_of,
        };
        let target = SubscribeTarget::Relation(self.sink.from.clone());
        self.coordinator.subscribe(target, options).await
    }

    /// Brings the receiver from what it was told to the view's `snapshot` at `as_of`.
    /// A new sink created `WITH (snapshot = false)` takes the snapshot as told.
    async fn reconcile(&mut self, as_of: Time, snapshot: Vec<(Row, Diff)>) -> Result<(), String> {
        let mut difference: BTreeMap<Row, Diff> = snapshot.into_iter().collect();
        for (row, count) in &self.delivered.rows {
            *difference.entry(row.clone()).or_default() -= count;
        }
        let changes: Vec<(Row, Diff)> = difference.into_iter().filter(|(_, d)| *d != 0).collect();
        if !self.resumed && !self.sink.snapshot() {
            self.resumed = true;
            return self.delivered.commit(changes, as_of + 1);
        }
        self.resumed = true;
        self.deliver(as_of, changes).await
    }

    /// Delivers the changes at `time`, deletions first, committing as it goes.
    async fn deliver(&mut self, time: Time, mut changes: Vec<(Row, Diff)>) -> Result<(), String> {
        changes.sort_by_key(|(_, diff)| *diff > 0);
        match &self.destination {
            Destination::Webhook { webhook, settings } => {
                for (row, diff) in changes {
                    if settings.on.accepts(diff) {
                        let change = self.change(&row, time, diff);
                        let key = idempotency_key(&change);
                        let body =
                            webhook_body(settings.format, settings.template.as_ref(), &change);
                        match webhook.deliver(&key, &body).await {
                            Ok(delivered) => {
                                self.status.delivered.fetch_add(1, Ordering::Relaxed);
                                self.status.retries.fetch_add(
                                    u64::from(delivered.attempts.saturating_sub(1)),
                                    Ordering::Relaxed,
                                );
                            }
                            Err(error) => {
                                self.status.failed.fetch_add(1, Ordering::Relaxed);
                                self.status.retries.fetch_add(
                                    u64::from(error.attempts.saturating_sub(1)),
                                    Ordering::Relaxed,
                                );
                                self.coordinator.sink_errors().push(SinkError {
                                    at_ms: vigil_engine::wall_clock_ms(),
                                    sink: self.sink.name.clone(),
                                    key,
                                    time,
                                    attempts: error.attempts,
                                    status: error.status,
                                    message: error.message.clone(),
                                    payload: String::from_utf8_lossy(body.as_bytes()).into_owned(),
                                });
                            }
                        }
                    }
                    // Skipped, delivered or given up on: the receiver's view moved on.
                    self.delivered.commit(vec![(row, diff)], time + 1)?;
                }
                Ok(())
            }
            Destination::Topic { log, topic } => {
                let messages: Vec<_> = changes
                    .iter()
                    .map(|(row, diff)| topic_message(&self.change(row, time, *diff)))
                    .collect();
                if !messages.is_empty() {
                    let (log, topic) = (log.clone(), topic.clone());
                    tokio::task::spawn_blocking(move || {
                        let borrowed: Vec<_> = messages.iter().map(|m| m.as_message()).collect();
                        log.publish(&topic, &borrowed)
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("cannot publish to the topic: {e}"))?;
                    self.status
                        .delivered
                        .fetch_add(changes.len() as u64, Ordering::Relaxed);
                }
                self.delivered.commit(changes, time + 1)
            }
        }
    }

    fn change<'c>(&'c self, row: &'c Row, time: Time, diff: Diff) -> Change<'c> {
        Change {
            sink: &self.sink.name,
            view: &self.sink.from,
            desc: &self.sink.from_desc,
            row,
            time,
            diff,
        }
    }
}

impl Delivered<'_> {
    /// Records `changes` as delivered, and every change before `frontier`.
    fn commit(&mut self, changes: Vec<(Row, Diff)>, frontier: Time) -> Result<(), String> {
        self.coordinator
            .commit_sink(self.sink, changes.clone(), frontier)
            .map_err(|e| format!("cannot record the sink's progress: {e}"))?;
        for (row, diff) in changes {
            match self.rows.entry(row) {
                Entry::Occupied(mut count) => {
                    *count.get_mut() += diff;
                    if *count.get() == 0 {
                        count.remove();
                    }
                }
                Entry::Vacant(count) => {
                    count.insert(diff);
                }
            }
        }
        Ok(())
    }
}
