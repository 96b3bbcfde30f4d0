//! Subscriptions: a relation's (or a plan's) changes, pushed out in time order.
//!
//! ```text
//!  arrangement (or rendered plan) ─▶ advance times to as_of ─▶ exchange to worker 0
//!     ─▶ buffer by time ─▶ when the frontier passes a time: consolidate, send Updates
//!                       ─▶ when the frontier moves: send Progress(frontier)
//! ```
//!
//! Every worker builds the same subscription dataflow; all updates are exchanged to
//! worker 0, whose input frontier covers every worker, so it alone can tell when a
//! time is complete and send that time's changes in one message, in time order.
//!
//! `as_of` is the first time the subscriber sees. With a snapshot, updates at or
//! before it are advanced to it: the contents as of `as_of`, then every change
//! after. Without one, updates before it are skipped and those at and after it are
//! sent as they are, so a subscriber that saw progress to `t` (every change before
//! `t`) resumes as of `t` and misses nothing. An `as_of` older than a relation's
//! retained history cannot be answered (its updates there have been merged), so the
//! subscription fails with
//! [`EngineError::HistoryCompacted`](crate::EngineError::HistoryCompacted).

use std::collections::BTreeMap;

use differential_dataflow::consolidation::consolidate;
use futures::StreamExt;
use futures::channel::mpsc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;

use crate::EngineError;
use crate::plan::{Diff, Time};
use crate::render::Coll;
use crate::repr::Row;

/// What a subscription delivers.
#[derive(Debug)]
pub enum SubscribeEvent {
    /// Every change at `time`, consolidated (no zero diffs, each row once).
    Updates {
        time: Time,
        updates: Vec<(Row, Diff)>,
    },
    /// Every change before this time has been delivered.
    Progress(Time),
    /// The subscription cannot go on (its as-of is too old).
    Failed(EngineError),
}

/// A running subscription. Dropping it stops the dataflow.
pub struct Subscription {
    pub(crate) id: u64,
    pub(crate) events: mpsc::UnboundedReceiver<SubscribeEvent>,
    /// Stops the subscription's dataflow when dropped.
    pub(crate) stop: Box<dyn FnMut(u64) + Send>,
}

impl Subscription {
    /// The next event; `None` once the subscription has ended (its relation was
    /// dropped, or the engine stopped).
    pub async fn next(&mut self) -> Option<SubscribeEvent> {
        self.events.next().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        (self.stop)(self.id);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

/// Sends `collection`'s changes from `as_of` on to `sender`. Every worker's share
/// is exchanged to worker 0, whose operator alone sends.
pub(crate) fn render_subscribe(
    collection: Coll<'_>,
    as_of: Time,
    snapshot: bool,
    sender: mpsc::UnboundedSender<SubscribeEvent>,
) {
    let sender = (collection.inner.scope().index() == 0).then_some(sender);
    let mut pending: BTreeMap<Time, Vec<(Row, Diff)>> = BTreeMap::new();
    let mut reported: Option<Time> = None;
    let mut finished = false;
    collection.inner.sink(
        Exchange::new(|_: &(Row, Time, Diff)| 0),
        "Subscribe",
        move |(input, frontier)| {
            input.for_each(|_, data| {
                for (row, time, diff) in data.drain(..) {
                    if time < as_of && !snapshot {
                        continue;
                    }
                    pending
                        .entry(time.max(as_of))
                        .or_default()
                        .push((row, diff));
                }
            });
            let Some(sender) = sender.as_ref().filter(|_| !finished) else {
                return;
            };
            let frontier = frontier.frontier();
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (time, mut updates) = entry.remove_entry();
                consolidate(&mut updates);
                if !updates.is_empty() {
                    let _ = sender.unbounded_send(SubscribeEvent::Updates { time, updates });
                }
            }
            match frontier.first() {
                // Before as_of + 1 the first time is not complete: nothing to report.
                Some(&upper) if upper > as_of && reported != Some(upper) => {
                    reported = Some(upper);
                    let _ = sender.unbounded_send(SubscribeEvent::Progress(upper));
                }
                Some(_) => {}
                None => {
                    // The relation is gone: end the stream.
                    finished = true;
                    sender.close_channel();
                }
            }
        },
    );
}
