//! The thin loop around the [`Dispatcher`]: it waits for what happens (a build's progress,
//! the end of a task, the wave's stop), turns it into an [`Input`], and carries out the
//! commands that come back (start a task, claim or drop a slot, record a blocked job). It
//! awaits nothing else: recording a blocked job is a task of its own.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use factory_store::{BuildRecord, BuildState, Digest, WaveId};
use factory_types::Job;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::state::{Command, Dispatcher, Ending, Input};
use crate::build::handover::{Done, InputState};
use crate::build::{self, JobContext, Progress, blocked_by_failure};
use crate::engine::Shared;
use crate::error::EngineError;
use crate::plan::JobGraph;
use crate::recipe::RecipeError;
use crate::slots::Claim;
use crate::stop::{Stop, StopReason};
use crate::tree_digest;
use crate::wave::{BuildReport, ChangeReason, WaveReport};

/// One wave to run.
pub(crate) struct WaveRun {
    pub(crate) graph: Arc<JobGraph>,
    pub(crate) wave: WaveId,
    pub(crate) set: Vec<Job>,
    /// Inputs of the set that are not in it: their latest usable builds.
    pub(crate) outside: HashMap<Job, InputState>,
    /// The jobs the change named (the rest of the set is affected by them).
    pub(crate) changed: BTreeSet<Job>,
    pub(crate) reason: ChangeReason,
    pub(crate) stop: Stop,
}

/// How a task of the wave ended.
enum TaskEnd {
    Build(Job, Result<BuildReport, EngineError>),
    Blocked(Job, Result<BuildReport, EngineError>),
}

struct Driver {
    shared: Arc<Shared>,
    run: WaveRun,
    machine: Dispatcher<Done>,
    tasks: JoinSet<TaskEnd>,
    progress: mpsc::UnboundedSender<Progress>,
    early_claims: HashMap<Job, Claim>,
    /// Each job's latest usable build when the wave started.
    previous: HashMap<String, BuildRecord>,
    /// The output trees of those builds still in the store.
    present: HashSet<Digest>,
    reports: Vec<BuildReport>,
    first_error: Option<EngineError>,
    stop_told: bool,
}

/// Runs a wave whose first events are recorded.
pub(crate) async fn drive(shared: Arc<Shared>, run: WaveRun) -> Result<WaveReport, EngineError> {
    let names: Vec<String> = run.set.iter().map(Job::name).collect();
    shared.observer.wave_planned(run.wave, &names);
    // Each job's latest usable build, fetched for the whole wave in one query.
    let previous: HashMap<String, BuildRecord> = shared
        .store
        .db()
        .latest_successful_builds(&names)
        .await?
        .into_iter()
        .map(|b| (b.component.clone(), b))
        .collect();
    let trees: Vec<Digest> = previous.values().filter_map(tree_digest).collect();
    let present = shared.store.present_blobs(&trees).await?;
    let times = run_times(&previous);
    let graph = run.graph.clone();
    let inputs_of = |job: &Job| -> Vec<Job> {
        graph
            .inputs(job)
            .map(|i| i.values().cloned().collect())
            .unwrap_or_default()
    };
    let limit = shared.settings.in_flight_limit();
    let machine = Dispatcher::new(&run.set, inputs_of, &times, limit, &*shared.clock);
    let (progress, progress_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        shared,
        run,
        machine,
        tasks: JoinSet::new(),
        progress,
        early_claims: HashMap::new(),
        previous,
        present,
        reports: Vec::new(),
        first_error: None,
        stop_told: false,
    };
    driver.run(progress_rx, names).await
}

/// How long each job's latest build ran, in ms, where the store knows it (a reused or
/// cut-off build did not run, so it tells nothing).
fn run_times(previous: &HashMap<String, BuildRecord>) -> HashMap<Job, u64> {
    previous
        .values()
        .filter(|b| b.state == BuildState::Succeeded)
        .filter_map(|b| {
            let ran = b.finished_at_ms? - b.started_at_ms?;
            Some((Job::parse(&b.component), ran.max(1) as u64))
        })
        .collect()
}

impl Driver {
    async fn run(
        mut self,
        mut progress: mpsc::UnboundedReceiver<Progress>,
        names: Vec<String>,
    ) -> Result<WaveReport, EngineError> {
        loop {
            self.tell_stops();
            let commands = self.machine.dispatch();
            self.carry_out(commands, None)?;
            if self.machine.is_over() && self.tasks.is_empty() {
                break;
            }
            let stop = self.run.stop.clone();
            let joined = tokio::select! {
                biased;
                Some(message) = progress.recv() => {
                    self.take_progress(message)?;
                    continue;
                }
                joined = self.tasks.join_next() => joined,
                () = stop.token().cancelled(), if !self.stop_told => continue,
            };
            // A task sends its progress before it ends, but `select!` may have looked at
            // the channel just before the send and at the task just after it ended. What
            // it sent is in the channel now: taken first, a release is never handled
            // after the end of the task that made it.
            while let Ok(message) = progress.try_recv() {
                self.take_progress(message)?;
            }
            let Some(joined) = joined else {
                break;
            };
            let end = joined.map_err(|e| factory_types::TaskPanicked {
                what: "running a build",
                message: e.to_string(),
            })?;
            self.take_end(end)?;
        }
        self.finish(names).await
    }

    /// Tells the machine what was stopped since it last heard.
    fn tell_stops(&mut self) {
        let outdated = self.run.stop.newly_outdated();
        if !outdated.is_empty() {
            self.machine.handle(Input::Superseded(outdated));
        }
        if self.run.stop.is_stopped() && !self.stop_told {
            self.stop_told = true;
            self.machine.handle(Input::Stop);
        }
    }

    fn take_progress(&mut self, message: Progress) -> Result<(), EngineError> {
        match message {
            Progress::WorkDone(job, slot) => {
                let commands = self.machine.handle(Input::WorkDone(job));
                self.carry_out(commands, None)?;
                drop(slot);
            }
            Progress::Released(job, done) => {
                let commands = self.machine.handle(Input::Released(job, done));
                self.carry_out(commands, None)?;
            }
        }
        Ok(())
    }

    fn take_end(&mut self, end: TaskEnd) -> Result<(), EngineError> {
        match end {
            TaskEnd::Build(job, Ok(report)) => {
                let ending = ending_of(&report);
                let commands = self.machine.handle(Input::Ended(job, ending));
                self.carry_out(commands, Some(&report))?;
                self.reported(report);
            }
            TaskEnd::Blocked(job, Ok(report)) => {
                self.machine.handle(Input::BlockRecorded(job));
                self.reported(report);
            }
            TaskEnd::Build(job, Err(error)) => {
                self.broken(error);
                self.machine.handle(Input::Ended(job, Ending::Broken));
            }
            TaskEnd::Blocked(job, Err(error)) => {
                self.broken(error);
                self.machine.handle(Input::BlockRecorded(job));
            }
        }
        Ok(())
    }

    /// The store or the disk failed under the wave: dispatch nothing more, let running
    /// builds finish, and report the error.
    fn broken(&mut self, error: EngineError) {
        self.run.stop.stop(StopReason::Shutdown);
        self.first_error.get_or_insert(error);
    }

    fn reported(&mut self, report: BuildReport) {
        self.shared.observer.build_finished(&report);
        self.reports.push(report);
    }

    /// `failed`: the report of the build whose end the commands answer.
    fn carry_out(
        &mut self,
        commands: Vec<Command<Done>>,
        failed: Option<&BuildReport>,
    ) -> Result<(), EngineError> {
        for command in commands {
            match command {
                Command::Dispatch {
                    job,
                    priority,
                    early_claim,
                    inputs,
                } => {
                    let claim = early_claim
                        .then(|| self.early_claims.remove(&job))
                        .flatten()
                        .unwrap_or_else(|| self.shared.slots.claim(priority));
                    self.dispatch(job, &inputs, claim)?;
                }
                Command::Claim { job, priority } => {
                    self.early_claims
                        .insert(job, self.shared.slots.claim(priority));
                }
                Command::DropClaim(job) => drop(self.early_claims.remove(&job)),
                Command::Block { job, by } => self.record_blocked(job, by, failed),
            }
        }
        Ok(())
    }

    fn dispatch(
        &mut self,
        job: Job,
        built: &BTreeMap<Job, Done>,
        claim: Claim,
    ) -> Result<(), EngineError> {
        let inputs = self.resolve_inputs(&job, built)?;
        let previous = self.previous.remove(&job.name());
        let previous_present = previous
            .as_ref()
            .and_then(tree_digest)
            .is_some_and(|d| self.present.contains(&d));
        let ctx = JobContext {
            wave: self.run.wave,
            is_changed: self.run.changed.contains(&job),
            reason: self.run.reason.clone(),
            cancel: self.run.stop.job_token(&job),
            job: job.clone(),
            stop: self.run.stop.clone(),
            progress: self.progress.clone(),
            previous,
            previous_present,
        };
        let (shared, def) = (self.shared.clone(), self.run.graph.def().clone());
        self.tasks.spawn(async move {
            let result = build::run(shared, def, inputs, claim, ctx).await;
            TaskEnd::Build(job, result)
        });
        Ok(())
    }

    /// Output digests of a job's inputs: from this wave, else the latest usable build.
    fn resolve_inputs(
        &self,
        job: &Job,
        built: &BTreeMap<Job, Done>,
    ) -> Result<BTreeMap<String, InputState>, EngineError> {
        let mut inputs = BTreeMap::new();
        for (name, input) in self.run.graph.inputs(job)? {
            let state = match built.get(input) {
                Some(done) => InputState::built_in_wave(done),
                None => self.run.outside.get(input).cloned().ok_or_else(|| {
                    RecipeError::MissingInput {
                        job: job.name(),
                        input: name.clone(),
                    }
                })?,
            };
            inputs.insert(name.clone(), state);
        }
        Ok(inputs)
    }

    fn record_blocked(&mut self, job: Job, by: Job, failed: Option<&BuildReport>) {
        let Some(failure) = failed.cloned() else {
            // Only the end of a failed build blocks; nothing else says `Block`.
            return;
        };
        let (store, wave) = (self.shared.store.clone(), self.run.wave);
        self.tasks.spawn(async move {
            let report = blocked_by_failure(&store, wave, &job, &by, &failure).await;
            TaskEnd::Blocked(job, report)
        });
    }

    /// Records the end of the wave (unless it was shut down, to be resumed) and reports it.
    async fn finish(mut self, names: Vec<String>) -> Result<WaveReport, EngineError> {
        if let Some(error) = self.first_error.take() {
            return Err(error);
        }
        let stopped = self.run.stop.reason();
        let mut report = WaveReport {
            wave: self.run.wave,
            affected: names,
            builds: std::mem::take(&mut self.reports),
            stopped: stopped.clone(),
            duration: self.machine.elapsed(&*self.shared.clock),
            finished: None,
            superseded: self.machine.superseded(),
        };
        let summary = match &stopped {
            // Left unfinished on purpose: the next start resumes it.
            Some(StopReason::Shutdown) => None,
            Some(StopReason::Superseded(by)) => {
                Some(format!("superseded by {by}: {}", report.summary()))
            }
            Some(StopReason::Cancelled(by)) => {
                Some(format!("cancelled by {by}: {}", report.summary()))
            }
            None => Some(report.summary()),
        };
        if let Some(summary) = summary {
            let event = factory_store::Event::WaveFinished {
                wave: report.wave,
                summary,
            };
            let seq = self.shared.store.db().append_one(event).await?;
            report.finished = Some(seq);
        }
        report.builds.sort_by_key(|b| b.build);
        self.shared.observer.wave_finished(&report);
        Ok(report)
    }
}

/// How the wave takes a build's end.
fn ending_of(report: &BuildReport) -> Ending<Done> {
    if report.state.has_usable_outputs() {
        if let Some(output) = report.output {
            return Ending::Usable(Done {
                output,
                build: Some(report.build),
                rebuilt_identical: report.output_unchanged,
                recorded: None,
            });
        }
    }
    if build::is_failure(report.state) {
        Ending::Failed
    } else {
        Ending::Cancelled
    }
}
