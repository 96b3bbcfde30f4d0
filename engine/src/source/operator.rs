//! The timely operator that reads one worker's share of a source.
//!
//! It holds a capability at the engine's current input time and emits every change
//! there. Each activation polls the reader for a bounded batch, so one busy source
//! cannot starve the worker's other dataflows; it activates itself again while
//! records keep coming, when the log wakes it, when time advances (the worker
//! activates every source then) and, for logs that cannot wake it, on a short timer.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use differential_dataflow::AsCollection;
use timely::dataflow::Scope;
use timely::dataflow::operators::generic::operator::source;
use timely::scheduling::Activator;
use vigil_changelog::{LogError, LogReader, Offset, Partition, Record};

use super::envelope::Decoder;
use super::{PartitionStatus, SourceError, SourceErrorLog, SourceSpec, excerpt};
use crate::plan::{Diff, Time};
use crate::render::Coll;
use crate::repr::Row;

/// Records read per activation.
const BATCH: usize = 4_096;

/// How often a reader that cannot wake the worker is polled when idle.
const IDLE_POLL: Duration = Duration::from_millis(5);

/// How long to wait before retrying a log that failed.
const RETRY: Duration = Duration::from_secs(1);

/// Renders the source `name` in `scope`. `now` is the worker's current input time;
/// `activator` receives the operator's activator, so the worker can wake it when
/// time advances.
pub(crate) fn render_source<'s>(
    scope: Scope<'s, Time>,
    name: &str,
    spec: &SourceSpec,
    now: Rc<Cell<Time>>,
    errors: SourceErrorLog,
    activator: Rc<RefCell<Option<Activator>>>,
) -> Coll<'s> {
    let (index, peers) = (scope.index(), scope.peers());
    let partitions: Vec<Partition> = (0..spec.partitions)
        .filter(|p| *p as usize % peers == index)
        .collect();
    let spec = spec.clone();
    let name = name.to_string();
    let operator_name = format!("source {name}");
    source(scope, &operator_name, move |capability, info| {
        let self_activator = scope.activator_for(info.address.clone());
        let waker = scope.worker().sync_activator_for(info.address.to_vec());
        *activator.borrow_mut() = Some(self_activator.clone());
        let mut cap = capability;
        cap.downgrade(&now.get());
        let mut reader = PartitionsReader::new(name, spec, partitions, errors);
        let waker: vigil_changelog::Waker = Arc::new(move || {
            // The worker has shut down when this fails; nothing is left to wake.
            let _ = waker.activate();
        });
        let mut records = Vec::with_capacity(BATCH);
        let mut changes = Vec::new();
        move |output| {
            let delay = reader.step(&waker, &mut records, &mut changes);
            if !changes.is_empty() {
                let time = *cap.time();
                let mut session = output.session(&cap);
                for (row, diff) in changes.drain(..) {
                    session.give((row, time, diff));
                }
            }
            // Until the replay is done, everything lands at the creation time, so no
            // read sees a partial state.
            if reader.live() && now.get() > *cap.time() {
                cap.downgrade(&now.get());
            }
            if let Some(delay) = delay {
                self_activator.activate_after(delay);
            }
        }
    })
    .as_collection()
}

/// Where a worker's share of a source stands.
enum Phase {
    /// Reading what the log held when the source started, up to these end offsets.
    Replaying(BTreeMap<Partition, Offset>),
    /// Caught up: changes land at the current time.
    Live,
}

/// One worker's reader of a source and what it remembers about it.
struct PartitionsReader {
    name: String,
    spec: SourceSpec,
    partitions: Vec<Partition>,
    /// `None` until opened, and again after a read fails.
    reader: Option<Box<dyn LogReader>>,
    /// Whether the reader wakes the worker when records arrive.
    waking: bool,
    /// Per partition, the next offset to apply; earlier records are replays.
    next: BTreeMap<Partition, Offset>,
    /// `None` until the log's end offsets are known.
    phase: Option<Phase>,
    decoder: Decoder,
    errors: SourceErrorLog,
    /// Whether the last read filled a whole batch (counted in the status).
    backlogged: bool,
}

impl Drop for PartitionsReader {
    fn drop(&mut self) {
        self.set_backlogged(false);
    }
}

impl PartitionsReader {
    fn new(
        name: String,
        spec: SourceSpec,
        partitions: Vec<Partition>,
        errors: SourceErrorLog,
    ) -> Self {
        spec.status.replaying.fetch_add(1, Ordering::Relaxed);
        let decoder = Decoder::new(spec.format.clone(), spec.envelope.clone());
        let mut reader = PartitionsReader {
            name,
            spec,
            partitions,
            reader: None,
            waking: false,
            next: BTreeMap::new(),
            phase: None,
            decoder,
            errors,
            backlogged: false,
        };
        if reader.partitions.is_empty() {
            reader.go_live();
        }
        reader
    }

    fn live(&self) -> bool {
        matches!(self.phase, Some(Phase::Live))
    }

    fn go_live(&mut self) {
        if !self.live() {
            self.phase = Some(Phase::Live);
            self.spec.status.replaying.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Reads and decodes one batch into `changes`; returns when to run again, `None`
    /// when only a wake-up or a time advance needs it.
    fn step(
        &mut self,
        waker: &vigil_changelog::Waker,
        records: &mut Vec<Record>,
        changes: &mut Vec<(Row, Diff)>,
    ) -> Option<Duration> {
        if self.partitions.is_empty() {
            return None;
        }
        let reader = match self.reader.as_mut() {
            Some(reader) => reader,
            None => match self.open(waker) {
                Ok(reader) => reader,
                Err(e) => {
                    self.report(format!("cannot read topic \"{}\": {e}", self.spec.topic));
                    return Some(RETRY);
                }
            },
        };
        records.clear();
        if let Err(e) = reader.poll(BATCH, records) {
            self.reader = None;
            self.report(format!("reading topic \"{}\" failed: {e}", self.spec.topic));
            return Some(RETRY);
        }
        let positions = reader.positions();
        let mut read: BTreeMap<Partition, PartitionStatus> = positions
            .iter()
            .map(|(p, offset)| {
                let status = PartitionStatus {
                    next_offset: *offset,
                    ..PartitionStatus::default()
                };
                (*p, status)
            })
            .collect();
        for record in records.iter() {
            let partition = read.entry(record.partition).or_default();
            partition.records += 1;
            partition.bytes += (record.key.as_ref().map_or(0, Vec::len)
                + record.value.as_ref().map_or(0, Vec::len)) as u64;
            partition.last_event_ms = partition.last_event_ms.max(Some(record.timestamp_ms));
            if !self.apply(record, changes) {
                partition.errors += 1;
            }
        }
        self.spec.status.update(&read);
        if let Some(Phase::Replaying(ends)) = &self.phase {
            let caught_up = positions
                .iter()
                .all(|(p, offset)| ends.get(p).is_none_or(|end| offset >= end));
            if caught_up {
                self.go_live();
            }
        }
        self.set_backlogged(records.len() >= BATCH);
        if records.len() >= BATCH {
            Some(Duration::ZERO)
        } else if !self.live() {
            // Nothing readable yet while replaying: a broker fetch is in flight.
            Some(Duration::from_millis(1))
        } else if self.waking {
            None
        } else {
            Some(IDLE_POLL)
        }
    }

    fn set_backlogged(&mut self, backlogged: bool) {
        if backlogged != self.backlogged {
            self.backlogged = backlogged;
            let counter = &self.spec.status.backlogged;
            if backlogged {
                counter.fetch_add(1, Ordering::Relaxed);
            } else {
                counter.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Applies a record not seen before; false if it did not decode.
    fn apply(&mut self, record: &Record, changes: &mut Vec<(Row, Diff)>) -> bool {
        let next = self.next.entry(record.partition).or_insert(0);
        if record.offset < *next {
            return true;
        }
        *next = record.offset + 1;
        let Err(e) = self.decoder.apply(record, changes) else {
            return true;
        };
        {
            self.errors.push(SourceError {
                at_ms: crate::wall_clock_ms(),
                source: self.name.clone(),
                partition: record.partition,
                offset: record.offset,
                key: record.key.as_deref().map(excerpt),
                payload: record.value.as_deref().map(excerpt),
                message: e.to_string(),
            });
        }
        false
    }

    /// Opens a reader at the next offsets; the first time, also learns how far the
    /// replay goes.
    fn open(
        &mut self,
        waker: &vigil_changelog::Waker,
    ) -> Result<&mut Box<dyn LogReader>, LogError> {
        if self.phase.is_none() {
            let ends = self.spec.log.end_offsets(&self.spec.topic)?;
            let ends: BTreeMap<Partition, Offset> = self
                .partitions
                .iter()
                .map(|p| (*p, ends.get(*p as usize).copied().unwrap_or(0)))
                .collect();
            self.phase = Some(Phase::Replaying(ends));
        }
        let start: Vec<(Partition, Offset)> = self
            .partitions
            .iter()
            .map(|p| (*p, self.next.get(p).copied().unwrap_or(0)))
            .collect();
        let mut reader = self.spec.log.reader(&self.spec.topic, &start)?;
        self.waking = reader.set_waker(waker.clone());
        self.spec.status.set_problem(None);
        Ok(self.reader.insert(reader))
    }

    fn report(&self, problem: String) {
        tracing::warn!(source = %self.name, %problem);
        self.spec.status.set_problem(Some(problem));
    }
}
