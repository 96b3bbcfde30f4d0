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

    /// The report: dataflows by time, then the operators inside them by time, each
    /// named after its dataflow.
    fn report(&self, worker: usize) -> String {
        let dataflow_name: HashMap<usize, &str> = self
            .operators
            .values()
            .filter(|op| op.addr.len() == 1)
            .map(|op| (op.addr[0], op.name.as_str()))
            .collect();
        let heaviest = |top_level: bool| {
            let mut ops: Vec<&Operator> = self
                .operators
                .values()
                .filter(|op| (op.addr.len() == 1) == top_level)
                .collect();
            ops.sort_by_key(|op| std::cmp::Reverse(op.elapsed));
            ops
        };
        let (dataflows, operators) = (heaviest(true), heaviest(false));
        let total: Duration = dataflows.iter().map(|op| op.elapsed).sum();
        let mut out = format!(
            "operator profile, worker {worker}: {:.3} s in dataflows\n",
            total.as_secs_f64()
        );
        let line = |op: &Operator, name: &str| {
            let share = 100.0 * op.elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9);
            format!(
                "  {:>9.3} s {share:>5.1}% {:>9} runs  {name}\n",
                op.elapsed.as_secs_f64(),
                op.activations,
            )
        };
        out.push_str("  dataflows:\n");
        for op in dataflows.iter().take(TOP) {
            out.push_str(&line(op, &op.name));
        }
        out.push_str("  operators:\n");
        for op in operators.iter().take(TOP) {
            let dataflow = dataflow_name.get(&op.addr[0]).copied().unwrap_or("?");
            out.push_str(&line(
                op,
                &format!("{dataflow} / {} {:?}", op.name, &op.addr[1..]),
            ));
        }
        out
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        eprint!("{}", self.tally.borrow().report(self.worker));
    }
}

#[cfg(test)]
mod tests {
    use timely::logging::{OperatesEvent, ScheduleEvent};

    use super::*;

    fn operates(id: usize, addr: &[usize], name: &str) -> TimelyEvent {
        TimelyEvent::Operates(OperatesEvent {
            id,
            addr: addr.to_vec(),
            name: name.to_string(),
        })
    }

    #[test]
    fn nested_runs_add_up_per_operator_and_the_heaviest_come_first() {
        let mut tally = Tally::default();
        let ms = Duration::from_millis;
        tally.record(ms(0), &operates(1, &[0], "view totals"));
        tally.record(ms(0), &operates(2, &[0, 1], "Join"));
        tally.record(ms(0), &operates(3, &[0, 2], "Reduce"));
        // The dataflow runs 0..10 ms, its join 1..3 and its reduce 3..9, twice over.
        for start in [0_u64, 100] {
            let at = |offset: u64| ms(start + offset);
            tally.record(at(0), &TimelyEvent::Schedule(ScheduleEvent::start(1)));
            tally.record(at(1), &TimelyEvent::Schedule(ScheduleEvent::start(2)));
            tally.record(at(3), &TimelyEvent::Schedule(ScheduleEvent::stop(2)));
            tally.record(at(3), &TimelyEvent::Schedule(ScheduleEvent::start(3)));
            tally.record(at(9), &TimelyEvent::Schedule(ScheduleEvent::stop(3)));
            tally.record(at(10), &TimelyEvent::Schedule(ScheduleEvent::stop(1)));
        }
        assert_eq!(tally.operators[&1].elapsed, ms(20));
        assert_eq!(tally.operators[&2].elapsed, ms(4));
        assert_eq!(tally.operators[&3].elapsed, ms(12));
        assert_eq!(tally.operators[&3].activations, 2);
        let report = tally.report(0);
        assert!(report.starts_with("operator profile, worker 0: 0.020 s in dataflows\n"));
        let reduce = report
            .find("view totals / Reduce [2]")
            .expect("reduce listed");
        let join = report.find("view totals / Join [1]").expect("join listed");
        assert!(reduce < join, "heaviest first:\n{report}");
        assert!(report.contains(" 60.0%"), "the reduce's share:\n{report}");
    }
}
