//! The state of a running wave, as a synchronous machine: an event goes in, the commands to
//! carry out come out. It does no I/O and owns no task, slot or channel; the driver does
//! all of that. So the rules of a wave are tested here by scripting events.
//!
//! A job goes `Waiting` (for inputs built in this wave) → `Ready` (longest remaining chain
//! first) → `Running` (dispatched) → `Ended`; or it is `Skipped` (a newer change made it
//! outdated) or `Blocked` (an input failed). It is *finished*, and its dependents stop
//! waiting for it, the first time either its outputs are released (handed over before its
//! task ends) or its task ends with usable outputs, never twice.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use factory_types::{Clock, Job};

use crate::slots::Priority;

/// What happens to a wave.
#[derive(Debug)]
pub(crate) enum Input<O> {
    /// A build's work is over and its slot is about to go back: claim slots for the jobs
    /// it is about to make ready, so they are not overtaken.
    WorkDone(Job),
    /// A build handed its outputs over before its task ended: its dependents may start.
    Released(Job, O),
    /// A build's task ended.
    Ended(Job, Ending<O>),
    /// A blocked job has been recorded as such.
    BlockRecorded(Job),
    /// A newer change made these jobs outdated: they are not started.
    Superseded(Vec<Job>),
    /// Dispatch nothing more (shutdown, or the store failed under the wave).
    Stop,
}

/// How a build's task ended, as far as the wave cares.
#[derive(Debug)]
pub(crate) enum Ending<O> {
    /// With usable outputs (built, reused, cut off or found up to date).
    Usable(O),
    /// Failed (or blocked): its dependents are blocked.
    Failed,
    /// Cancelled: its dependents wait for a newer wave.
    Cancelled,
    /// The task could not record what happened (the store or the disk failed): the wave
    /// stops dispatching.
    Broken,
}

/// What the driver carries out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<O> {
    /// Start `job`'s task with the outputs of its inputs built in this wave. `early_claim`:
    /// it claimed a slot already (see [`Command::Claim`]); else it claims one now with
    /// `priority`.
    Dispatch {
        job: Job,
        priority: Priority,
        early_claim: bool,
        inputs: BTreeMap<Job, O>,
    },
    /// Claim a slot for `job` before it is ready.
    Claim { job: Job, priority: Priority },
    /// Give up `job`'s early claim: it will not run.
    DropClaim(Job),
    /// Record `job` as blocked by `by`, which failed.
    Block { job: Job, by: Job },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Ready,
    Running { released: bool },
    Ended,
    Skipped,
    Blocked,
}

struct Entry<O> {
    job: Job,
    phase: Phase,
    /// Inputs in this wave not finished yet.
    waiting: usize,
    /// The longest chain of work from this job down (ms where known, else jobs).
    height: usize,
    inputs: Vec<usize>,
    dependents: Vec<usize>,
    /// Set once the job is finished.
    output: Option<O>,
    early_claim: bool,
}

/// One wave's jobs and where each of them is.
pub(crate) struct Dispatcher<O> {
    entries: Vec<Entry<O>>,
    index: HashMap<Job, usize>,
    ready: BinaryHeap<(usize, Reverse<Job>)>,
    /// Dispatched, not released, not ended: these count against `limit`.
    in_flight: usize,
    /// Released, task not ended: they only record now, and do not count.
    releasing: usize,
    /// Blocked jobs whose recording is under way.
    recording: usize,
    limit: usize,
    outdated: HashSet<Job>,
    superseded: usize,
    stopping: bool,
    started: Instant,
}

impl<O: Clone> Dispatcher<O> {
    /// `set`: the wave's jobs; `inputs_of`: the jobs each reads (those outside the set are
    /// not waited for); `run_times`: how long jobs took last time, in ms, by job; `limit`:
    /// tasks dispatched at once, besides those that only record.
    pub(crate) fn new(
        set: &[Job],
        inputs_of: impl Fn(&Job) -> Vec<Job>,
        run_times: &HashMap<Job, u64>,
        limit: usize,
        clock: &dyn Clock,
    ) -> Dispatcher<O> {
        let index: HashMap<Job, usize> = set
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, j)| (j, i))
            .collect();
        let mut entries: Vec<Entry<O>> = set.iter().map(|job| Entry::new(job.clone())).collect();
        for (i, job) in set.iter().enumerate() {
            let inputs: Vec<usize> = inputs_of(job)
                .iter()
                .filter_map(|j| index.get(j).copied())
                .collect();
            for &input in &inputs {
                entries[input].dependents.push(i);
            }
            entries[i].waiting = inputs.len();
            entries[i].inputs = inputs;
        }
        weigh(&mut entries, run_times);
        let mut dispatcher = Dispatcher {
            entries,
            index,
            ready: BinaryHeap::new(),
            in_flight: 0,
            releasing: 0,
            recording: 0,
            limit: limit.max(1),
            outdated: HashSet::new(),
            superseded: 0,
            stopping: false,
            started: clock.monotonic(),
        };
        for i in 0..dispatcher.entries.len() {
            if dispatcher.entries[i].waiting == 0 {
                dispatcher.make_ready(i);
            }
        }
        dispatcher
    }

    /// Takes one event; returns what to carry out.
    pub(crate) fn handle(&mut self, input: Input<O>) -> Vec<Command<O>> {
        let mut commands = Vec::new();
        match input {
            Input::WorkDone(job) => self.claim_for_dependents(&job, &mut commands),
            Input::Released(job, output) => self.released(&job, output),
            Input::Ended(job, ending) => self.ended(&job, ending, &mut commands),
            Input::BlockRecorded(job) => self.block_recorded(&job),
            Input::Superseded(jobs) => self.outdated.extend(jobs),
            Input::Stop => self.stopping = true,
        }
        commands
    }

    /// Dispatches ready jobs, best first, while there is room.
    pub(crate) fn dispatch(&mut self) -> Vec<Command<O>> {
        let mut commands = Vec::new();
        while self.in_flight < self.limit && !self.stopping {
            let Some((_, Reverse(job))) = self.ready.pop() else {
                break;
            };
            let i = self.index[&job];
            if self.outdated.contains(&job) {
                // A newer change covers it (and what depends on it, outdated too). Its early
                // claim goes too, or it would hold a slot for nobody.
                self.entries[i].phase = Phase::Skipped;
                self.superseded += 1;
                if std::mem::take(&mut self.entries[i].early_claim) {
                    commands.push(Command::DropClaim(job));
                }
                continue;
            }
            let inputs = self.finished_inputs(i);
            let entry = &mut self.entries[i];
            entry.phase = Phase::Running { released: false };
            self.in_flight += 1;
            commands.push(Command::Dispatch {
                priority: priority(entry),
                early_claim: std::mem::take(&mut entry.early_claim),
                job,
                inputs,
            });
        }
        commands
    }

    /// Nothing runs, records or can be dispatched any more.
    pub(crate) fn is_over(&self) -> bool {
        self.in_flight == 0
            && self.releasing == 0
            && self.recording == 0
            && (self.ready.is_empty() || self.stopping)
    }

    /// Jobs not started because a newer change made them outdated.
    pub(crate) fn superseded(&self) -> usize {
        self.superseded
    }

    /// Time since the wave started, by the clock it started with.
    pub(crate) fn elapsed(&self, clock: &dyn Clock) -> Duration {
        clock.monotonic().saturating_duration_since(self.started)
    }

    /// The priority a job claims a slot with.
    #[cfg(test)]
    pub(crate) fn priority_of(&self, job: &Job) -> Priority {
        priority(&self.entries[self.index[job]])
    }

    fn finished_inputs(&self, i: usize) -> BTreeMap<Job, O> {
        self.entries[i]
            .inputs
            .iter()
            .filter_map(|&input| {
                let entry = &self.entries[input];
                entry.output.clone().map(|o| (entry.job.clone(), o))
            })
            .collect()
    }

    fn make_ready(&mut self, i: usize) {
        let entry = &mut self.entries[i];
        entry.phase = Phase::Ready;
        self.ready.push((entry.height, Reverse(entry.job.clone())));
    }

    fn block_recorded(&mut self, job: &Job) {
        let blocked = self.index.get(job).map(|&i| self.entries[i].phase);
        if blocked == Some(Phase::Blocked) {
            self.recording -= 1;
        }
    }

    /// The dependents that `job` finishing makes ready claim their slots now.
    fn claim_for_dependents(&mut self, job: &Job, commands: &mut Vec<Command<O>>) {
        let Some(&i) = self.index.get(job) else {
            return;
        };
        for d in self.entries[i].dependents.clone() {
            let dependent = &mut self.entries[d];
            if dependent.waiting == 1 && dependent.phase == Phase::Waiting {
                dependent.early_claim = true;
                commands.push(Command::Claim {
                    job: dependent.job.clone(),
                    priority: priority(dependent),
                });
            }
        }
    }

    fn released(&mut self, job: &Job, output: O) {
        let Some(&i) = self.index.get(job) else {
            return;
        };
        // A release that arrives after its task's end (the driver takes a task's messages
        // before its end, but the order is not this machine's to trust) changes nothing: the
        // end already decided.
        if self.entries[i].phase != (Phase::Running { released: false }) {
            return;
        }
        self.entries[i].phase = Phase::Running { released: true };
        self.in_flight -= 1;
        self.releasing += 1;
        self.finish(i, output);
    }

    fn ended(&mut self, job: &Job, ending: Ending<O>, commands: &mut Vec<Command<O>>) {
        let Some(&i) = self.index.get(job) else {
            return;
        };
        let Phase::Running { released } = self.entries[i].phase else {
            return;
        };
        self.entries[i].phase = Phase::Ended;
        if released {
            // Its dependents were dispatched already; if its outputs could not be stored
            // after all, they learn it from the build itself and block.
            self.releasing -= 1;
            if matches!(ending, Ending::Broken) {
                self.stopping = true;
            }
            return;
        }
        self.in_flight -= 1;
        match ending {
            Ending::Usable(output) => self.finish(i, output),
            Ending::Failed => self.block_dependents(i, commands),
            Ending::Cancelled => {}
            Ending::Broken => self.stopping = true,
        }
    }

    /// The job's dependents stop waiting for it; those with nothing left to wait for are ready.
    fn finish(&mut self, i: usize, output: O) {
        self.entries[i].output = Some(output);
        for d in self.entries[i].dependents.clone() {
            let dependent = &mut self.entries[d];
            dependent.waiting -= 1;
            if dependent.waiting == 0 && dependent.phase == Phase::Waiting {
                self.make_ready(d);
            }
        }
    }

    /// Every job that depends on `i`, directly or not, is blocked: recorded as such, once.
    fn block_dependents(&mut self, i: usize, commands: &mut Vec<Command<O>>) {
        let failed = self.entries[i].job.clone();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for d in self.entries[j].dependents.clone() {
                let dependent = &mut self.entries[d];
                if dependent.phase != Phase::Waiting {
                    continue;
                }
                dependent.phase = Phase::Blocked;
                if std::mem::take(&mut dependent.early_claim) {
                    commands.push(Command::DropClaim(dependent.job.clone()));
                }
                commands.push(Command::Block {
                    job: dependent.job.clone(),
                    by: failed.clone(),
                });
                self.recording += 1;
                stack.push(d);
            }
        }
    }
}

impl<O> Entry<O> {
    fn new(job: Job) -> Entry<O> {
        Entry {
            job,
            phase: Phase::Waiting,
            waiting: 0,
            height: 1,
            inputs: Vec::new(),
            dependents: Vec::new(),
            output: None,
            early_claim: false,
        }
    }
}

/// Higher goes first; among equals, the name that sorts first.
fn priority<O>(entry: &Entry<O>) -> Priority {
    (entry.height, Reverse(entry.job.name()))
}

/// Each job's height: the longest chain of dependents below it, itself included. With no
/// run times every job weighs the same, so the longest chain is the one with the most jobs;
/// with some, the chain that takes longest goes first, a job without a time weighing as much
/// as the median job.
fn weigh<O>(entries: &mut [Entry<O>], run_times: &HashMap<Job, u64>) {
    let mut known: Vec<u64> = entries
        .iter()
        .filter_map(|e| run_times.get(&e.job).copied())
        .collect();
    known.sort_unstable();
    let typical = known.get(known.len() / 2).copied().unwrap_or(1);
    let weight = |job: &Job| {
        let ms = run_times.get(job).copied().unwrap_or(typical);
        usize::try_from(ms).unwrap_or(usize::MAX)
    };
    for i in reverse_topological(entries) {
        let below = entries[i]
            .dependents
            .iter()
            .map(|&d| entries[d].height)
            .max()
            .unwrap_or(0);
        entries[i].height = below.saturating_add(weight(&entries[i].job));
    }
}

/// Dependents before the jobs they depend on (Kahn's algorithm, on the dependents' side).
fn reverse_topological<O>(entries: &[Entry<O>]) -> Vec<usize> {
    let mut pending: Vec<usize> = entries.iter().map(|e| e.dependents.len()).collect();
    let mut queue: Vec<usize> = (0..entries.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(entries.len());
    while let Some(i) = queue.pop() {
        order.push(i);
        for &input in &entries[i].inputs {
            pending[input] -= 1;
            if pending[input] == 0 {
                queue.push(input);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests;
