//! The timely runtime: worker threads, the commands that drive them, and peeks.
//!
//! ```text
//!  Engine (any thread) ──Command──▶ worker 0 … worker N-1 (each runs every command)
//!        ▲                              │ inputs, dataflows, arrangements
//!        └────── peek replies ──────────┘ (each worker answers for its share of keys)
//! ```
//!
//! Every worker receives every command in the same order, so all workers build the
//! same dataflows. Table updates are spread over workers; arrangements exchange rows
//! by hash, so each worker holds a share of every relation. A peek at time `t` waits
//! in each worker until that relation's arrangement is complete through `t`, reads the
//! worker's share, and replies; the engine merges the shares.
//!
//! Time is the caller's: [`Engine::update`] stamps updates with the current input
//! time, and [`Engine::advance_to`] closes every time before its argument.
//! [`Engine::busy_through`] says whether the workers are still working through the
//! closed times, so a caller can let input gather at one time under load.
//!
//! Arrangements forget history as time advances, except what a pending peek still
//! reads and what a materialized view retains (`retain` milliseconds behind the
//! current time), which is how far back [`Engine::subscribe`] can start. A
//! subscription is a dataflow of its own that imports the arrangement (or renders a
//! plan) and pushes changes to its [`Subscription`] until that is dropped.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use differential_dataflow::input::{Input, InputSession};
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, cursor_list};
use differential_dataflow::trace::implementations::KeySpine;
use futures::StreamExt;
use futures::channel::mpsc;
use timely::WorkerConfig;
use timely::progress::Antichain;
use timely::scheduling::Activator;
use timely::worker::Worker;

use crate::plan::{Diff, GlobalId, Plan, Time};
use crate::profile::Profile;
use crate::render::{ErrorLog, RenderContext};
use crate::repr::{Datum, Row};
use crate::source::{SourceErrorLog, SourceSpec, render_source};
use crate::subscribe::{SubscribeEvent, Subscription, render_subscribe};

type RowTrace = TraceAgent<KeySpine<Row, Time, Diff>>;

/// Errors from the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("could not start dataflow workers: {0}")]
    Start(String),
    #[error("the dataflow workers have stopped")]
    Stopped,
    #[error("relation u{0} is not in the engine")]
    UnknownRelation(GlobalId),
    #[error(
        "history before {since} has been compacted: cannot read as of {as_of} (raise the view's RETAIN HISTORY to go further back)"
    )]
    HistoryCompacted { as_of: Time, since: Time },
}

/// What a worker is told to do.
enum Command {
    CreateTable {
        id: GlobalId,
        name: String,
    },
    CreateView {
        id: GlobalId,
        name: String,
        plan: Arc<Plan>,
        /// How far back (ms) reads and subscriptions may ask for its contents.
        retain: Time,
    },
    CreateSource {
        id: GlobalId,
        name: String,
        spec: SourceSpec,
    },
    Drop {
        id: GlobalId,
    },
    Update {
        id: GlobalId,
        updates: Arc<Vec<(Row, Diff)>>,
    },
    AdvanceTo(Time),
    Subscribe {
        id: u64,
        target: SubscribeTarget,
        as_of: Time,
        snapshot: bool,
        sender: mpsc::UnboundedSender<SubscribeEvent>,
    },
    Unsubscribe {
        id: u64,
    },
    Peek {
        id: GlobalId,
        time: Time,
        read: PeekRead,
        reply: mpsc::UnboundedSender<PeekReply>,
    },
    Shutdown,
}

type PeekReply = Result<Vec<(Row, Diff)>, EngineError>;

/// Which rows a peek returns once the relation is complete through its time.
#[derive(Clone, Debug)]
enum PeekRead {
    /// None: the caller only waits.
    Nothing,
    All,
    /// The rows whose leading columns equal these values. Arrangements are sorted by
    /// whole rows, so these rows are found by one seek, not a scan.
    Prefix(Row),
}

/// What a subscription follows.
#[derive(Clone, Debug)]
pub enum SubscribeTarget {
    /// A relation's arrangement.
    Relation(GlobalId),
    /// A plan rendered for this subscription alone (`SUBSCRIBE (query)`).
    Plan(Arc<Plan>),
}

type CommandReceiver = Receiver<Arc<Command>>;

/// A handle on the running workers. Calls are serialized by the caller (the
/// coordinator); the engine itself only fans commands out.
pub struct Engine {
    broadcast: Arc<Broadcast>,
    next_subscription: std::sync::atomic::AtomicU64,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
    errors: ErrorLog,
    source_errors: SourceErrorLog,
    frontiers: Frontiers,
    busy: Busy,
}

impl Engine {
    /// Starts `workers` timely worker threads in this process.
    pub fn start(workers: usize) -> Result<Engine, EngineError> {
        let workers = workers.max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| crossbeam_channel::unbounded::<Arc<Command>>())
            .unzip();
        // Each worker takes its own receiver when it starts.
        let receivers: Arc<Mutex<Vec<Option<CommandReceiver>>>> =
            Arc::new(Mutex::new(receivers.into_iter().map(Some).collect()));
        let (thread_tx, thread_rx) = crossbeam_channel::unbounded::<(usize, Thread)>();
        let errors = ErrorLog::default();
        let source_errors = SourceErrorLog::default();
        let frontiers = Frontiers::new(workers);
        let busy = Busy::new(workers);
        let shared = Shared {
            errors: errors.clone(),
            source_errors: source_errors.clone(),
            frontiers: frontiers.clone(),
            busy: busy.clone(),
        };

        let config = timely::Config {
            communication: timely::CommunicationConfig::Process(workers),
            worker: WorkerConfig::default(),
        };
        let guards = timely::execute(config, move |worker| {
            let index = worker.index();
            let receiver = receivers.lock().ok().and_then(|mut r| r[index].take());
            let Some(receiver) = receiver else { return };
            if thread_tx.send((index, std::thread::current())).is_err() {
                return;
            }
            WorkerState::new(worker, receiver, shared.clone()).run();
        })
        .map_err(EngineError::Start)?;

        let mut threads: Vec<Option<Thread>> = vec![None; workers];
        for _ in 0..workers {
            let (index, thread) = thread_rx
                .recv_timeout(Duration::from_secs(30))
                .map_err(|_| EngineError::Start("workers did not report in".into()))?;
            threads[index] = Some(thread);
        }
        let threads = threads.into_iter().flatten().collect();
        Ok(Engine {
            broadcast: Arc::new(Broadcast { senders, threads }),
            next_subscription: std::sync::atomic::AtomicU64::new(0),
            guards: Mutex::new(Some(guards)),
            errors,
            source_errors,
            frontiers,
            busy,
        })
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.broadcast.senders.len()
    }

    /// Rows that views could not compute.
    pub fn errors(&self) -> &ErrorLog {
        &self.errors
    }

    /// Records that sources could not decode.
    pub fn source_errors(&self) -> &SourceErrorLog {
        &self.source_errors
    }

    /// How far each relation is complete, updated as the workers run.
    pub fn frontiers(&self) -> &Frontiers {
        &self.frontiers
    }

    /// Whether the dataflows are still working through `time` or earlier: some
    /// relation is not complete through `time` while some worker has work queued.
    /// (A relation held back with nothing to do, such as a source replaying its
    /// topic or waiting for its broker, does not count.) A caller that picks times
    /// can wait while this holds, so that changes arriving under load share a time
    /// (one batch, one update of each aggregate) instead of each taking their own.
    pub fn busy_through(&self, time: Time) -> bool {
        self.busy.any() && self.frontiers.lagging(time)
    }

    fn broadcast(&self, command: Command) -> Result<(), EngineError> {
        self.broadcast.send(command)
    }

    /// Adds an input relation with an arrangement that views and peeks read.
    pub fn create_table(&self, id: GlobalId, name: &str) -> Result<(), EngineError> {
        self.broadcast(Command::CreateTable {
            id,
            name: name.to_string(),
        })
    }

    /// Builds the dataflow that maintains `plan` and arranges its output as `id`,
    /// keeping `retain` milliseconds of its history for reads and subscriptions
    /// as of past times.
    pub fn create_view(
        &self,
        id: GlobalId,
        name: &str,
        plan: Plan,
        retain: Time,
    ) -> Result<(), EngineError> {
        self.broadcast(Command::CreateView {
            id,
            name: name.to_string(),
            plan: Arc::new(plan),
            retain,
        })
    }

    /// Follows `target`'s changes from `as_of` on (with its contents at `as_of` first
    /// when `snapshot`), until the returned [`Subscription`] is dropped.
    pub fn subscribe(
        &self,
        target: SubscribeTarget,
        as_of: Time,
        snapshot: bool,
    ) -> Result<Subscription, EngineError> {
        let id = self
            .next_subscription
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, events) = mpsc::unbounded();
        self.broadcast(Command::Subscribe {
            id,
            target,
            as_of,
            snapshot,
            sender,
        })?;
        let broadcast = Arc::downgrade(&self.broadcast);
        Ok(Subscription {
            id,
            events,
            stop: Box::new(move |id| {
                if let Some(broadcast) = broadcast.upgrade() {
                    let _ = broadcast.send(Command::Unsubscribe { id });
                }
            }),
        })
    }

    /// Adds a source: a topic of the change log read by the workers into an
    /// arrangement that views and peeks read, as a table's is.
    pub fn create_source(
        &self,
        id: GlobalId,
        name: &str,
        spec: SourceSpec,
    ) -> Result<(), EngineError> {
        self.broadcast(Command::CreateSource {
            id,
            name: name.to_string(),
            spec,
        })
    }

    /// Removes a relation and its dataflow. Dependents must be dropped first.
    pub fn drop_relation(&self, id: GlobalId) -> Result<(), EngineError> {
        self.broadcast(Command::Drop { id })
    }

    /// Applies updates to a table at the current input time.
    pub fn update(&self, id: GlobalId, updates: Vec<(Row, Diff)>) -> Result<(), EngineError> {
        self.broadcast(Command::Update {
            id,
            updates: Arc::new(updates),
        })
    }

    /// Closes every time before `time`: updates after this call happen at `time` or later.
    pub fn advance_to(&self, time: Time) -> Result<(), EngineError> {
        self.broadcast(Command::AdvanceTo(time))
    }

    /// Starts reading relation `id` as of `time`, which must be before the last
    /// [`advance_to`](Self::advance_to). The request reaches the workers before any
    /// later command, so later compaction cannot overtake it; await the returned
    /// [`PendingPeek`] for the rows.
    pub fn peek(&self, id: GlobalId, time: Time) -> Result<PendingPeek, EngineError> {
        self.send_peek(id, time, PeekRead::All)
    }

    /// Like [`peek`](Self::peek), but only the rows whose first `prefix.len()` columns
    /// equal `prefix` (of the columns' own types): a point lookup costs a seek in each
    /// worker, not a read of the whole relation.
    pub fn peek_prefix(
        &self,
        id: GlobalId,
        time: Time,
        prefix: Row,
    ) -> Result<PendingPeek, EngineError> {
        self.send_peek(id, time, PeekRead::Prefix(prefix))
    }

    /// Like [`peek`](Self::peek), but resolves to no rows: it only waits until relation
    /// `id` is complete through `time` in every worker.
    pub fn await_complete(&self, id: GlobalId, time: Time) -> Result<PendingPeek, EngineError> {
        self.send_peek(id, time, PeekRead::Nothing)
    }

    fn send_peek(
        &self,
        id: GlobalId,
        time: Time,
        read: PeekRead,
    ) -> Result<PendingPeek, EngineError> {
        let (reply, replies) = mpsc::unbounded();
        self.broadcast(Command::Peek {
            id,
            time,
            read,
            reply,
        })?;
        Ok(PendingPeek {
            replies,
            workers: self.workers(),
        })
    }
}

/// The command channels into every worker.
struct Broadcast {
    senders: Vec<Sender<Arc<Command>>>,
    threads: Vec<Thread>,
}

impl Broadcast {
    /// Sends `command` to every worker, in the same order as every other command.
    fn send(&self, command: Command) -> Result<(), EngineError> {
        let command = Arc::new(command);
        for (sender, thread) in self.senders.iter().zip(&self.threads) {
            sender
                .send(command.clone())
                .map_err(|_| EngineError::Stopped)?;
            thread.unpark();
        }
        Ok(())
    }
}

/// A peek sent to the workers; resolves once every worker's share is complete
/// through the peek's time.
pub struct PendingPeek {
    replies: mpsc::UnboundedReceiver<PeekReply>,
    workers: usize,
}

impl PendingPeek {
    /// The relation's rows, consolidated, with their (positive) multiplicities.
    pub async fn rows(mut self) -> Result<Vec<(Row, Diff)>, EngineError> {
        let mut rows = Vec::new();
        for _ in 0..self.workers {
            match self.replies.next().await {
                Some(reply) => rows.extend(reply?),
                None => return Err(EngineError::Stopped),
            }
        }
        Ok(rows)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.broadcast(Command::Shutdown);
        if let Some(guards) = self.guards.lock().ok().and_then(|mut g| g.take()) {
            drop(guards.join());
        }
    }
}

/// A relation as one worker holds it.
struct Relation {
    trace: RowTrace,
    /// The table's input, for tables.
    input: Option<InputSession<Time, Row, Diff>>,
    /// The source operator's activator, for sources: woken when time advances.
    activator: Option<Rc<RefCell<Option<Activator>>>>,
    dataflow: usize,
    /// The last frontier reported to [`Frontiers`].
    reported: Option<Time>,
    /// How much history (ms before the current time) the arrangement keeps.
    retain: Time,
}

impl Relation {
    /// A relation read from `trace`, built by dataflow `dataflow`.
    fn new(trace: RowTrace, dataflow: usize) -> Relation {
        Relation {
            trace,
            input: None,
            activator: None,
            dataflow,
            reported: None,
            retain: 0,
        }
    }
}

/// What the engine handle and every worker share.
#[derive(Clone)]
struct Shared {
    errors: ErrorLog,
    source_errors: SourceErrorLog,
    frontiers: Frontiers,
    busy: Busy,
}

/// Per worker, whether it had work queued when it last finished a step.
#[derive(Clone, Debug)]
struct Busy(Arc<Vec<AtomicBool>>);

impl Busy {
    fn new(workers: usize) -> Busy {
        Busy(Arc::new(
            (0..workers).map(|_| AtomicBool::new(false)).collect(),
        ))
    }

    fn set(&self, worker: usize, busy: bool) {
        if let Some(flag) = self.0.get(worker) {
            flag.store(busy, Ordering::Relaxed);
        }
    }

    fn any(&self) -> bool {
        self.0.iter().any(|flag| flag.load(Ordering::Relaxed))
    }
}

/// Per relation and worker, the first time not yet complete in its arrangement.
#[derive(Clone, Debug)]
pub struct Frontiers {
    workers: usize,
    uppers: Arc<Mutex<BTreeMap<GlobalId, Vec<Time>>>>,
}

impl Frontiers {
    fn new(workers: usize) -> Frontiers {
        Frontiers {
            workers,
            uppers: Arc::default(),
        }
    }

    fn report(&self, id: GlobalId, worker: usize, upper: Time) {
        let mut uppers = self.uppers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = uppers.entry(id).or_insert_with(|| vec![0; self.workers]);
        if let Some(slot) = entry.get_mut(worker) {
            *slot = upper;
        }
    }

    fn forget(&self, id: GlobalId) {
        let mut uppers = self.uppers.lock().unwrap_or_else(|e| e.into_inner());
        uppers.remove(&id);
    }

    /// Whether some relation is not yet complete through `time` in some worker.
    fn lagging(&self, time: Time) -> bool {
        let uppers = self.uppers.lock().unwrap_or_else(|e| e.into_inner());
        uppers.values().flatten().any(|upper| *upper <= time)
    }

    /// Per relation, the time through which it is complete in every worker.
    pub fn complete_through(&self) -> BTreeMap<GlobalId, Time> {
        let uppers = self.uppers.lock().unwrap_or_else(|e| e.into_inner());
        uppers
            .iter()
            .map(|(id, per_worker)| {
                let upper = per_worker.iter().copied().min().unwrap_or(0);
                (*id, upper.saturating_sub(1))
            })
            .collect()
    }
}

struct WaitingPeek {
    id: GlobalId,
    time: Time,
    read: PeekRead,
    reply: mpsc::UnboundedSender<PeekReply>,
}

struct WorkerState<'w> {
    worker: &'w mut Worker,
    commands: Receiver<Arc<Command>>,
    relations: BTreeMap<GlobalId, Relation>,
    /// Subscription id → its dataflow.
    subscriptions: BTreeMap<u64, usize>,
    peeks: Vec<WaitingPeek>,
    /// The current input time; every earlier time is closed.
    time: Rc<Cell<Time>>,
    shared: Shared,
    /// Per-operator times, when [`crate::profile::ENV`] asks for them.
    _profile: Option<Profile>,
}

impl<'w> WorkerState<'w> {
    fn new(worker: &'w mut Worker, commands: Receiver<Arc<Command>>, shared: Shared) -> Self {
        let profile = Profile::install(worker);
        WorkerState {
            worker,
            commands,
            relations: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            peeks: Vec::new(),
            time: Rc::new(Cell::new(0)),
            shared,
            _profile: profile,
        }
    }

    fn run(mut self) {
        loop {
            while let Ok(command) = self.commands.try_recv() {
                if !self.handle(&command) {
                    return;
                }
            }
            let park = if self.peeks.is_empty() {
                Some(Duration::from_millis(100))
            } else {
                Some(Duration::ZERO)
            };
            self.worker.step_or_park(park);
            let queued = self.worker.activations().borrow().empty_for() == Some(Duration::ZERO);
            self.shared.busy.set(self.worker.index(), queued);
            self.answer_peeks();
            self.report_frontiers();
        }
    }

    /// Publishes each relation's frontier where it moved, for `vigil_frontiers`.
    fn report_frontiers(&mut self) {
        let index = self.worker.index();
        for (id, relation) in &mut self.relations {
            let mut upper = Antichain::new();
            relation.trace.read_upper(&mut upper);
            let upper = upper.first().copied().unwrap_or(Time::MAX);
            if relation.reported != Some(upper) {
                relation.reported = Some(upper);
                self.shared.frontiers.report(*id, index, upper);
            }
        }
    }

    /// Runs one command; false on shutdown.
    fn handle(&mut self, command: &Command) -> bool {
        match command {
            Command::CreateTable { id, name } => self.create_table(*id, name),
            Command::CreateView {
                id,
                name,
                plan,
                retain,
            } => self.create_view(*id, name, plan, *retain),
            Command::CreateSource { id, name, spec } => self.create_source(*id, name, spec),
            Command::Drop { id } => {
                self.shared.frontiers.forget(*id);
                if let Some(relation) = self.relations.remove(id) {
                    let dataflow = relation.dataflow;
                    drop(relation);
                    self.worker.drop_dataflow(dataflow);
                }
            }
            Command::Update { id, updates } => {
                let (index, peers) = (self.worker.index(), self.worker.peers());
                if let Some(input) = self.relations.get_mut(id).and_then(|r| r.input.as_mut()) {
                    for (row, diff) in updates.iter().skip(index).step_by(peers) {
                        input.update(row.clone(), *diff);
                    }
                }
            }
            Command::AdvanceTo(time) => self.advance_to(*time),
            Command::Subscribe {
                id,
                target,
                as_of,
                snapshot,
                sender,
            } => self.subscribe(*id, target, *as_of, *snapshot, sender.clone()),
            Command::Unsubscribe { id } => {
                if let Some(dataflow) = self.subscriptions.remove(id) {
                    self.worker.drop_dataflow(dataflow);
                }
            }
            Command::Peek {
                id,
                time,
                read,
                reply,
            } => {
                self.peeks.push(WaitingPeek {
                    id: *id,
                    time: *time,
                    read: read.clone(),
                    reply: reply.clone(),
                });
                self.answer_peeks();
            }
            Command::Shutdown => {
                // Sources hold capabilities until dropped, and timely steps a worker
                // until its dataflows are gone.
                for (_, dataflow) in std::mem::take(&mut self.subscriptions) {
                    self.worker.drop_dataflow(dataflow);
                }
                for (_, relation) in std::mem::take(&mut self.relations) {
                    let dataflow = relation.dataflow;
                    drop(relation);
                    self.worker.drop_dataflow(dataflow);
                }
                return false;
            }
        }
        true
    }

    fn create_table(&mut self, id: GlobalId, name: &str) {
        let dataflow = self.worker.next_dataflow_index();
        let (mut input, trace) = self
            .worker
            .dataflow_named(&format!("table {name}"), |scope| {
                let (input, rows) = scope.new_collection::<Row, Diff>();
                let arranged = rows.arrange_by_self_named(&format!("arrange {name}"));
                (input, arranged.trace)
            });
        input.advance_to(self.time.get());
        input.flush();
        let relation = Relation {
            input: Some(input),
            ..Relation::new(trace, dataflow)
        };
        self.relations.insert(id, relation);
    }

    fn create_source(&mut self, id: GlobalId, name: &str, spec: &SourceSpec) {
        let dataflow = self.worker.next_dataflow_index();
        let activator = Rc::new(RefCell::new(None));
        let now = self.time.clone();
        let errors = self.shared.source_errors.clone();
        let slot = activator.clone();
        let trace = self
            .worker
            .dataflow_named(&format!("source {name}"), |scope| {
                render_source(scope, name, spec, now, errors, slot)
                    .arrange_by_self_named(&format!("arrange {name}"))
                    .trace
            });
        let relation = Relation {
            activator: Some(activator),
            ..Relation::new(trace, dataflow)
        };
        self.relations.insert(id, relation);
    }

    fn create_view(&mut self, id: GlobalId, name: &str, plan: &Plan, retain: Time) {
        let dataflow = self.worker.next_dataflow_index();
        let errors = self.shared.errors.clone();
        let relations = &mut self.relations;
        let trace = self
            .worker
            .dataflow_named(&format!("view {name}"), |scope| {
                let ctx = RenderContext {
                    scope,
                    imports: import_all(scope, relations, &plan.depends_on()),
                    name: name.to_string(),
                    errors,
                };
                let output = ctx.render(plan);
                output
                    .arrange_by_self_named(&format!("arrange {name}"))
                    .trace
            });
        let relation = Relation {
            retain,
            ..Relation::new(trace, dataflow)
        };
        self.relations.insert(id, relation);
    }

    /// Builds subscription `id`'s dataflow. Every worker builds it, whatever the
    /// outcome of the as-of check, so the workers' dataflows stay alike.
    fn subscribe(
        &mut self,
        id: u64,
        target: &SubscribeTarget,
        as_of: Time,
        snapshot: bool,
        sender: mpsc::UnboundedSender<SubscribeEvent>,
    ) {
        let reads = match target {
            SubscribeTarget::Relation(id) => vec![*id],
            SubscribeTarget::Plan(plan) => plan.depends_on(),
        };
        for read in &reads {
            let Some(relation) = self.relations.get_mut(read) else {
                let _ = sender
                    .unbounded_send(SubscribeEvent::Failed(EngineError::UnknownRelation(*read)));
                continue;
            };
            // Without a snapshot, changes at as_of must still be told apart from
            // what came before: history through as_of - 1 must be distinct.
            let needed = if snapshot {
                as_of
            } else {
                as_of.saturating_sub(1)
            };
            let since = relation.trace.get_logical_compaction().to_owned();
            if !since.less_equal(&needed) {
                let since = since.first().copied().unwrap_or(Time::MAX);
                let _ =
                    sender.unbounded_send(SubscribeEvent::Failed(EngineError::HistoryCompacted {
                        as_of,
                        since,
                    }));
            }
        }
        let dataflow = self.worker.next_dataflow_index();
        let errors = self.shared.errors.clone();
        let relations = &mut self.relations;
        let name = format!("subscribe {id}");
        self.worker.dataflow_named(&name, |scope| {
            let mut imports = import_all(scope, relations, &reads);
            let collection = match target {
                SubscribeTarget::Relation(id) => imports.remove(id),
                SubscribeTarget::Plan(plan) => {
                    let ctx = RenderContext {
                        scope,
                        imports,
                        name: name.clone(),
                        errors,
                    };
                    Some(ctx.render(plan))
                }
            };
            if let Some(collection) = collection {
                render_subscribe(collection, as_of, snapshot, sender);
            }
        });
        self.subscriptions.insert(id, dataflow);
    }

    fn advance_to(&mut self, time: Time) {
        if time <= self.time.get() {
            return;
        }
        self.time.set(time);
        for relation in self.relations.values_mut() {
            if let Some(input) = relation.input.as_mut() {
                input.advance_to(time);
                input.flush();
            }
            // Sources follow the time on their own; wake them to do so.
            if let Some(activator) = relation.activator.as_ref().and_then(|a| a.borrow().clone()) {
                activator.activate();
            }
        }
        self.compact();
    }

    /// Lets arrangements forget history that no peek can still ask for and that is
    /// older than what the relation retains.
    fn compact(&mut self) {
        let oldest_peek = self.peeks.iter().map(|p| p.time).min();
        let readable = oldest_peek
            .unwrap_or(Time::MAX)
            .min(self.time.get().saturating_sub(1));
        for relation in self.relations.values_mut() {
            let since = readable.saturating_sub(relation.retain);
            let frontier = Antichain::from_elem(since);
            let current = relation.trace.get_logical_compaction().to_owned();
            if current.less_equal(&since) {
                relation.trace.set_logical_compaction(frontier.borrow());
                relation.trace.set_physical_compaction(frontier.borrow());
            }
        }
    }

    fn answer_peeks(&mut self) {
        let mut waiting = Vec::new();
        for peek in std::mem::take(&mut self.peeks) {
            let Some(relation) = self.relations.get_mut(&peek.id) else {
                let _ = peek
                    .reply
                    .unbounded_send(Err(EngineError::UnknownRelation(peek.id)));
                continue;
            };
            let mut upper = Antichain::new();
            relation.trace.read_upper(&mut upper);
            if upper.less_equal(&peek.time) {
                waiting.push(peek);
                continue;
            }
            let rows = match &peek.read {
                PeekRead::Nothing => Vec::new(),
                PeekRead::All => read_at(&mut relation.trace, peek.time, &[]),
                PeekRead::Prefix(prefix) => read_at(&mut relation.trace, peek.time, prefix),
            };
            let _ = peek.reply.unbounded_send(Ok(rows));
        }
        self.peeks = waiting;
    }
}

/// Imports the arrangements of `ids` into `scope` as collections.
fn import_all<'s>(
    scope: timely::dataflow::Scope<'s, Time>,
    relations: &mut BTreeMap<GlobalId, Relation>,
    ids: &[GlobalId],
) -> BTreeMap<GlobalId, crate::render::Coll<'s>> {
    let mut imports = BTreeMap::new();
    for &id in ids {
        if let Some(relation) = relations.get_mut(&id) {
            let arranged = relation.trace.import_named(scope, &format!("import u{id}"));
            imports.insert(id, arranged.as_collection(|row: &Row, _: &()| row.clone()));
        }
    }
    imports
}

/// The consolidated contents of this worker's share of `trace` as of `time`.
/// The rows of `trace` at `time` that start with `prefix` (all of them for an empty
/// prefix). Rows are sorted, so those rows follow the first seek in one run.
fn read_at(trace: &mut RowTrace, time: Time, prefix: &[Datum]) -> Vec<(Row, Diff)> {
    let mut rows = Vec::new();
    let Some(batches) = trace.batches_through(Antichain::new().borrow()) else {
        return rows;
    };
    let (mut cursor, storage) = cursor_list(batches);
    if !prefix.is_empty() {
        cursor.seek_key(&storage, &prefix.to_vec());
    }
    while let Some(row) = cursor.get_key(&storage) {
        if !row.starts_with(prefix) {
            break;
        }
        let mut count: Diff = 0;
        cursor.map_times(&storage, |t, diff| {
            if *t <= time {
                count += *diff;
            }
        });
        if count != 0 {
            rows.push((row.clone(), count));
        }
        cursor.step_key(&storage);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relation_lags_until_every_worker_has_completed_the_time() {
        let frontiers = Frontiers::new(2);
        assert!(!frontiers.lagging(10), "no relation reported yet");
        frontiers.report(1, 0, 11);
        frontiers.report(1, 1, 10);
        assert!(frontiers.lagging(10), "worker 1 has not completed time 10");
        assert!(!frontiers.lagging(9));
        frontiers.report(1, 1, 11);
        assert!(!frontiers.lagging(10));
        frontiers.forget(1);
        assert!(!frontiers.lagging(100));
    }

    #[test]
    fn busy_while_any_worker_has_work_queued() {
        let busy = Busy::new(2);
        assert!(!busy.any());
        busy.set(1, true);
        assert!(busy.any());
        busy.set(1, false);
        busy.set(5, true);
        assert!(!busy.any(), "no such worker");
    }
}
