//! Where the workers spend their time, per dataflow and operator: a diagnostic for
//! finding the slow path of a workload.
//!
//! With `VIGIL_OPERATOR_PROFILE` set (to anything but `0`), each worker registers a
//! timely logger that adds up how long every operator ran, and prints the heaviest
//! dataflows and operators to stderr when it shuts down. Times are inclusive: a
//! dataflow's time contains its operators', and a region's its children's. Left
//! unset, no logger is registered and the workers pay nothing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// The environment variable that turns the profile on.
pub const ENV: &str = "VIGIL_OPERATOR_PROFILE";

/// How many dataflows and operators the report lists.
const TOP: usize = 40;

#[derive(Default)]
struct Operator {
    addr: Vec<usize>,
    name: String,
    elapsed: Duration,
    activations: u64,
}

#[derive(Default)]
struct Tally {
    operators: HashMap<usize, Operator>,
    /// Start times of the operators running now (scheduling nests).
    running: Vec<(usize, Duration)>,
}

/// One worker's operator times; prints its report when dropped.
pub(crate) struct Profile {
    worker: usize,
    tally: Rc<RefCell<Tally>>,
}

impl Profile {
    /// Starts profiling `worker` when [`ENV`] asks for it.
    pub(crate) fn install(worker: &mut Worker) -> Option<Profile> {
        let wanted = std::env::var(ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        if !wanted {
            return None;
        }
        let tally = Rc::new(RefCell::new(Tally::default()));
        let sink = tally.clone();
        worker
            .log_register()?
            .insert::<TimelyEventBuilder, _>("timely", move |_time, events| {
                if let Some(events) = events {
                    let mut tally = sink.borrow_mut();
                    for (at, event) in events.iter() {
                        tally.record(*at, event);
                    }
                }
            });
        Some(Profile {
            worker: worker.index(),
            tally,
        })
    }
}

impl Tally {
    fn record(&mut self, at: Duration, event: &TimelyEvent) {
        match event {
            TimelyEvent::Operates(op) => {
                let entry = self.operators.entry(op.id).or_default();
                entry.addr = op.addr.clone();
                entry.name = op.name.clone();
            }
            TimelyEvent::Schedule(schedule) => match schedule.start_stop {
                StartStop::Start => self.running.push((schedule.id, at)),
                StartStop::Stop => {
                    if let Some(index) = self.running.iter().rposition(|(id, _)| *id == schedule.id)
                    {
                        let (_, started) = self.running.remove(index);
                        let entry = self.operators.entry(schedule.id).or_default();
                        entry.elapsed += at.saturating_sub(started);
                        entry.activations += 1;
                    }
                }
            },
            _ => {}
        }
    }

    /// The report: dataflows by time, then operators (outside sources' and
    /// dataflows' own entries) by time, each with its dataflow's name.
    fn report(&self, worker: usize) -> String {
        let dataflow_name: HashMap<usize, &str> = self
            .operators
            .values()
            .filter(|op| op.addr.len() == 1)
            .map(|op| (op.addr[0], op.name.as_str()))
            .collect();
        let mut dataflows: Vec<&Operator> = self
            .operators
            .values()
            .filter(|op| op.addr.len() == 1)
            .collect();
        let mut operators: Vec<&Operator> = self
            .operators
            .values()
            .filter(|op| op.addr.len() > 1)
            .collect();
        dataflows.sort_by_key(|op| std::cmp::Reverse(op.elapsed));
        operators.sort_by_key(|op| std::cmp::Reverse(op.elapsed));
        let total: Duration = dataflows.iter().map(|op| op.elapsed).sum();
        let mut out = format!(
            "operator profile, worker {worker}: {:.3} s in dataflows\n",
            total.as_secs_f64()
        );
        let share = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9);
        out.push_str("  dataflows:\n");
        for op in dataflows.iter().take(TOP) {
            let _ = writeln!(
                out,
                "  {:>9.3} s {:>5.1}% {:>9} runs  {}",
                op.elapsed.as_secs_f64(),
                share(op.elapsed),
                op.activations,
                op.name
            );
        }
        out.push_str("  operators:\n");
        for op in operators.iter().take(TOP) {
            let dataflow = dataflow_name.get(&op.addr[0]).copied().unwrap_or("?");
            let _ = writeln!(
                out,
                "  {:>9.3} s {:>5.1}% {:>9} runs  {dataflow} / {} {:?}",
                op.elapsed.as_secs_f64(),
                share(op.elapsed),
                op.activations,
                op.name,
                &op.addr[1..]
            );
        }
        out
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        eprint!("{}", self.tally.borrow().report(self.worker));
    }
}
