//! The orchestrator: a change becomes a wave of builds.
//!
//! A change (jobs + reason) gives the affected set through the graph
//! (transitive mode). Every job is dispatched the moment its inputs exist —
//! no barrier between levels — longest remaining chain first, at most
//! `jobs` at a time. Before running, the build key is looked up: a key that
//! already succeeded is never run again (reused; when it is the key of the
//! component's latest build the event is an early cutoff, because an input
//! was rebuilt with identical output). Every state change is an event in
//! the store; outputs are stored in the content-addressed store as
//! deterministic tars so any later build can materialise them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use factory_def::Definition;
use factory_graph::{GraphBuilder, Mode, NodeKind, Reverse as GraphReverse};
use factory_store::{
    BuildId, BuildKey as StoreKey, BuildOutput, BuildRecord, BuildState, Event, EventLog,
    FailureKind, LogStream as StoreStream, Projections, Store, StoreError, WaveId,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::archive::{
    ArchiveError, OciBase, OciImageSpec, OciLayer, TarOptions, write_deb, write_oci_layout,
    write_tar_of, write_tarball,
};
use crate::digest::Digest;
use crate::error::{BuildError, FailureClass};
use crate::exec::{LogLine, LogSink, LogStream};
use crate::recipe::{self, ImageBaseRef, ImageWork, Job, Prepared, RecipeError, Work};
use crate::runner::{BuildRequest, BuildRunner};
use crate::slots::{Claim, Slot, Slots};
use crate::stamp;

/// Name of the output every build records: its output tree as a deterministic tar.
pub const TREE_OUTPUT: &str = "tree.tar";

/// Why a wave runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeReason {
    /// Bring every job up to date (first build, or `factory up` starting).
    Reconcile,
    /// A local source directory changed.
    SourceChanged,
    /// `factory rebuild NAME`.
    Manual,
    /// The definition of the job (its component, kind or image) changed.
    DefinitionChanged,
    /// The wave was interrupted (crash, kill, Ctrl-C) and is run again.
    Resumed(WaveId),
}

impl ChangeReason {
    pub fn describe(&self) -> String {
        match self {
            ChangeReason::Reconcile => "bring up to date".into(),
            ChangeReason::SourceChanged => "source changed".into(),
            ChangeReason::Manual => "manual rebuild".into(),
            ChangeReason::DefinitionChanged => "definition changed".into(),
            ChangeReason::Resumed(wave) => format!("resuming interrupted wave {wave}"),
        }
    }
}

/// A change to some jobs.
#[derive(Debug, Clone)]
pub struct Change {
    pub jobs: Vec<Job>,
    pub reason: ChangeReason,
}

/// Why a wave stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C or shutdown: the wave stays unfinished and is resumed on the next start.
    Shutdown,
    /// A newer change supersedes the wave's remaining builds.
    Superseded(String),
}

/// Stops a running wave (running builds are killed, nothing new is dispatched), or only
/// the jobs of it that a newer change made outdated.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    why: Arc<Mutex<Option<StopReason>>>,
    jobs: Arc<Mutex<JobStops>>,
}

#[derive(Debug, Default)]
struct JobStops {
    /// Jobs a newer change made outdated, with the reason.
    outdated: HashMap<Job, String>,
    /// The cancellation of every job dispatched so far.
    tokens: HashMap<Job, CancellationToken>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn stop(&self, reason: StopReason) {
        self.why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.why.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// A newer change made these jobs' builds outdated: the running ones are killed and
    /// recorded as cancelled with `reason`, the others are not started; the rest of the
    /// wave goes on. Pass the change's whole affected set, so what depends on an outdated
    /// job is outdated too.
    pub fn supersede(&self, jobs: impl IntoIterator<Item = Job>, reason: &str) {
        let mut stops = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        for job in jobs {
            if let Some(token) = stops.tokens.get(&job) {
                token.cancel();
            }
            stops
                .outdated
                .entry(job)
                .or_insert_with(|| reason.to_owned());
        }
    }

    /// Why `job` was superseded, if it was.
    pub fn outdated(&self, job: &Job) -> Option<String> {
        let stops = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        stops.outdated.get(job).cloned()
    }

    /// The cancellation of one job: by the whole wave's stop or by [`Stop::supersede`].
    fn job_token(&self, job: &Job) -> CancellationToken {
        let token = self.token.child_token();
        let mut stops = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if stops.outdated.contains_key(job) {
            token.cancel();
        }
        stops.tokens.insert(job.clone(), token.clone());
        token
    }
}

/// How one job of a wave ended.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub job: String,
    pub build: BuildId,
    pub state: BuildState,
    /// Why it was queued.
    pub reason: String,
    /// Failure, cutoff, reuse or block detail.
    pub detail: Option<String>,
    /// Set when the build ran.
    pub duration: Option<Duration>,
    /// The output digest (tree tar) when usable.
    pub output: Option<factory_store::Digest>,
    /// The build ran and its output equals the output of the component's previous build.
    pub output_unchanged: bool,
    /// Nothing was queued: the job's latest build is current (`build` and `state` are its).
    pub up_to_date: bool,
}

impl BuildReport {
    /// A build just queued.
    fn scheduled(job: &Job, build: BuildId, reason: String) -> BuildReport {
        BuildReport {
            job: job.name(),
            build,
            state: BuildState::Scheduled,
            reason,
            detail: None,
            duration: None,
            output: None,
            output_unchanged: false,
            up_to_date: false,
        }
    }
}

/// What a wave did.
#[derive(Debug, Clone)]
pub struct WaveReport {
    pub wave: WaveId,
    pub affected: Vec<String>,
    pub builds: Vec<BuildReport>,
    pub stopped: Option<StopReason>,
    pub duration: Duration,
    /// The event that recorded the end of the wave (none when it was left to resume).
    pub finished: Option<factory_store::Seq>,
    /// Jobs not started because a newer change made them outdated ([`Stop::supersede`]).
    pub superseded: usize,
}

impl WaveReport {
    /// Builds of this wave in `state` (jobs found up to date are not builds of the wave).
    pub fn count(&self, state: BuildState) -> usize {
        self.builds
            .iter()
            .filter(|b| b.state == state && !b.up_to_date)
            .count()
    }

    pub fn up_to_date(&self) -> usize {
        self.builds.iter().filter(|b| b.up_to_date).count()
    }

    /// Builds that ran (succeeded or failed after running).
    pub fn ran(&self) -> usize {
        self.builds.iter().filter(|b| b.duration.is_some()).count()
    }

    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for state in BuildState::ALL {
            let n = self.count(state);
            if n > 0 {
                parts.push(format!("{n} {state}"));
            }
        }
        let current = self.up_to_date();
        if current > 0 {
            parts.push(format!("{current} up to date"));
        }
        if self.superseded > 0 {
            parts.push(format!(
                "{} not started (a newer change covers them)",
                self.superseded
            ));
        }
        if parts.is_empty() {
            "nothing to do".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Progress callbacks for a user interface. Called from the orchestrator's tasks.
pub trait Observer: Send + Sync {
    fn wave_planned(&self, _wave: WaveId, _jobs: &[String]) {}
    /// A build's work starts (it holds a slot); its number may not be known yet.
    fn build_started(&self, _job: &str) {}
    fn build_finished(&self, _report: &BuildReport) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("internal task failed: {0}")]
    Task(String),
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OrchestratorError {
    let path = path.to_path_buf();
    move |source| OrchestratorError::Io {
        action,
        path,
        source,
    }
}

/// Settings of an [`Orchestrator`].
#[derive(Clone)]
pub struct Settings {
    /// Builds run at the same time.
    pub jobs: usize,
    /// Tries for an infrastructure failure (the first included).
    pub tries: u32,
    /// Wait before the second try; doubled for each further one.
    pub backoff: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Runs waves. Cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runner: BuildRunner,
    settings: Settings,
    environment: BTreeMap<String, String>,
    trees: PathBuf,
    scratch: PathBuf,
    observer: Arc<dyn Observer>,
    /// One permit per build allowed to run its work at a time (`jobs`).
    slots: Slots,
    /// Attempts started, for naming their output directories.
    attempts: std::sync::atomic::AtomicU64,
}

impl Orchestrator {
    /// Scratch work directories and materialised trees live below the store directory.
    pub fn new(
        store: Store,
        sandbox: crate::Sandbox,
        settings: Settings,
        observer: Arc<dyn Observer>,
    ) -> Orchestrator {
        let environment = recipe::environment_facts(&sandbox);
        let slots = Slots::new(settings.jobs);
        // Builds run in their own directories: a relative store path would point elsewhere.
        let dir = std::path::absolute(store.dir()).unwrap_or_else(|_| store.dir().to_path_buf());
        let scratch = dir.join("scratch");
        remove_leftovers(&scratch);
        let trees = dir.join("trees");
        let runner = BuildRunner::new(sandbox, scratch.join("work"));
        Orchestrator {
            inner: Arc::new(Inner {
                store,
                runner,
                settings,
                environment,
                trees,
                scratch,
                observer,
                slots,
                attempts: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Builds dispatched at once: `jobs` running plus as many preparing or finishing, so
    /// slots do not idle during bookkeeping (see [`crate::slots`] for how the longest
    /// chain still goes first).
    fn in_flight_limit(&self) -> usize {
        self.inner.settings.jobs.max(1) * 4
    }

    /// Every job of the definition: components and images.
    pub fn all_jobs(def: &Definition) -> Vec<Job> {
        def.components
            .keys()
            .map(|c| Job::Component(c.clone()))
            .chain(def.images.keys().map(|i| Job::Image(i.clone())))
            .collect()
    }

    /// Records the change, computes the affected set and runs it.
    pub async fn run_change(
        &self,
        def: Arc<Definition>,
        change: Change,
        stop: Stop,
    ) -> Result<WaveReport, OrchestratorError> {
        for job in &change.jobs {
            if !job.exists_in(&def) {
                return Err(RecipeError::Unknown { job: job.name() }.into());
            }
        }
        let affected = affected_jobs(&def, &change.jobs);
        let changed: BTreeSet<Job> = change.jobs.iter().cloned().collect();
        let revisions = {
            let (def, jobs) = (def.clone(), change.jobs.clone());
            tokio::task::spawn_blocking(move || source_revisions(&def, &jobs))
                .await
                .map_err(|e| OrchestratorError::Task(e.to_string()))?
        };
        let mut events: Vec<Event> = change
            .jobs
            .iter()
            .zip(revisions)
            .map(|(job, revision)| Event::ChangeDetected {
                component: job.name(),
                reason: change.reason.describe(),
                revision,
            })
            .collect();
        let set = self.with_missing_inputs(&def, affected).await?;
        let trigger = format!(
            "{}: {}",
            change.reason.describe(),
            change
                .jobs
                .iter()
                .map(Job::name)
                .collect::<Vec<_>>()
                .join(", ")
        );
        events.push(Event::WavePlanned {
            trigger,
            affected: set.iter().map(Job::name).collect(),
            plan: levels(&def, &set),
        });
        let seqs = self.append_wave_start(events).await?;
        let wave = WaveId::from(*seqs.last().expect("at least the wave event"));
        self.run_wave(def, wave, set, changed, change.reason, stop)
            .await
    }

    /// Appends the first events of a wave, removing the up-to-date stamp first (see
    /// [`crate::stamp`]).
    async fn append_wave_start(
        &self,
        events: Vec<Event>,
    ) -> Result<Vec<factory_store::Seq>, OrchestratorError> {
        let dir = self.inner.store.dir().to_path_buf();
        let lock = stamp::lock(&dir).map_err(io_err("locking the stamp in", &dir))?;
        stamp::invalidate(&dir, &lock).map_err(io_err("removing the stamp in", &dir))?;
        let seqs = self.inner.store.db().append(events).await?;
        drop(lock);
        Ok(seqs)
    }

    /// After a reconcile wave that left every job of `def` with usable outputs, records so in
    /// a stamp, unless anything happened since the wave ended. `fingerprint` and `sources`
    /// must have been taken before the definition was loaded and the wave ran. Returns
    /// whether the stamp was written.
    pub async fn record_up_to_date(
        &self,
        def: &Definition,
        fingerprint: String,
        sources: Vec<(PathBuf, String)>,
        report: &WaveReport,
    ) -> Result<bool, OrchestratorError> {
        let outputs: Option<Vec<factory_store::Digest>> = report
            .builds
            .iter()
            .map(|b| b.output.filter(|_| b.state.has_usable_outputs()))
            .collect();
        let Some(outputs) = outputs else {
            return Ok(false);
        };
        let complete = report.stopped.is_none()
            && outputs.len() == Orchestrator::all_jobs(def).len()
            && !stamp::has_git_source(def);
        let Some(finished) = report.finished.filter(|_| complete) else {
            return Ok(false);
        };
        let dir = self.inner.store.dir().to_path_buf();
        let lock = stamp::lock(&dir).map_err(io_err("locking the stamp in", &dir))?;
        if self.inner.store.db().last_seq().await? != finished {
            return Ok(false);
        }
        let (files, inline) = self.inner.store.locate(&outputs).await?;
        if files.len() + inline.len() != outputs.len() {
            return Ok(false);
        }
        let stamp = stamp::Stamp::new(&dir, fingerprint, report.wave.0, sources, files, inline)
            .map_err(io_err("writing the stamp in", &dir))?;
        stamp
            .write(&dir, &lock)
            .map_err(io_err("writing the stamp in", &dir))?;
        Ok(true)
    }

    /// Finishes the waves a crash or kill left unfinished: their unfinished builds are
    /// cancelled and their affected sets run again in new waves (what already succeeded
    /// is reused by key, never run again).
    pub async fn resume(
        &self,
        def: Arc<Definition>,
        stop: Stop,
    ) -> Result<Vec<WaveReport>, OrchestratorError> {
        let db = self.inner.store.db();
        let mut reports = Vec::new();
        for wave in db.unfinished_waves().await? {
            let mut events = Vec::new();
            for build in db.builds_of_wave(wave.id).await? {
                if build.state.is_unfinished() {
                    events.push(Event::BuildCancelled {
                        build: build.id,
                        reason: format!(
                            "interrupted: the factory stopped while the build was {}; wave {} is resumed",
                            build.state, wave.id
                        ),
                    });
                }
            }
            events.push(Event::WaveFinished {
                wave: wave.id,
                summary: "interrupted; resumed in a new wave".into(),
            });
            db.append(events).await?;
            let jobs: Vec<Job> = wave
                .affected
                .iter()
                .map(|name| Job::parse(name))
                .filter(|job| job.exists_in(&def))
                .collect();
            let set = self.with_missing_inputs(&def, jobs).await?;
            let planned = Event::WavePlanned {
                trigger: ChangeReason::Resumed(wave.id).describe(),
                affected: set.iter().map(Job::name).collect(),
                plan: levels(&def, &set),
            };
            let seq = *self
                .append_wave_start(vec![planned])
                .await?
                .last()
                .expect("one event");
            let report = self
                .run_wave(
                    def.clone(),
                    WaveId::from(seq),
                    set,
                    BTreeSet::new(),
                    ChangeReason::Resumed(wave.id),
                    stop.clone(),
                )
                .await?;
            let stopped = report.stopped.is_some();
            reports.push(report);
            if stopped {
                break;
            }
        }
        Ok(reports)
    }

    /// Adds, to a fixpoint, every input of the set that has no usable build yet.
    async fn with_missing_inputs(
        &self,
        def: &Definition,
        jobs: Vec<Job>,
    ) -> Result<Vec<Job>, OrchestratorError> {
        let mut set: BTreeSet<Job> = jobs.into_iter().collect();
        let mut todo: Vec<Job> = set.iter().cloned().collect();
        while let Some(job) = todo.pop() {
            for input in job.inputs(def)?.into_values() {
                if set.contains(&input) {
                    continue;
                }
                if self.usable_output(&input.name()).await?.is_none() {
                    set.insert(input.clone());
                    todo.push(input);
                }
            }
        }
        Ok(set.into_iter().collect())
    }

    /// The output digest and build of a job's latest usable build, if its tree is in the CAS.
    async fn usable_output(
        &self,
        job: &str,
    ) -> Result<Option<(factory_store::Digest, BuildRecord)>, OrchestratorError> {
        let Some(build) = self.inner.store.db().latest_successful_build(job).await? else {
            return Ok(None);
        };
        let Some(digest) = tree_digest(&build) else {
            return Ok(None);
        };
        let present = self.inner.store.contains(&digest).await?;
        Ok(present.then_some((digest, build)))
    }

    async fn run_wave(
        &self,
        def: Arc<Definition>,
        wave: WaveId,
        set: Vec<Job>,
        changed: BTreeSet<Job>,
        reason: ChangeReason,
        stop: Stop,
    ) -> Result<WaveReport, OrchestratorError> {
        let started = Instant::now();
        let names: Vec<String> = set.iter().map(Job::name).collect();
        self.inner.observer.wave_planned(wave, &names);
        // Each job's latest usable build, fetched for the whole wave in one query.
        let mut previous: HashMap<String, BuildRecord> = self
            .inner
            .store
            .db()
            .latest_successful_builds(&names)
            .await?
            .into_iter()
            .map(|b| (b.component.clone(), b))
            .collect();
        let previous_trees: Vec<_> = previous.values().filter_map(tree_digest).collect();
        let present = self.inner.store.present(&previous_trees).await?;
        let mut sched = Scheduler::new(&def, &set, &run_times(&previous))?;
        let mut done: HashMap<Job, Done> = HashMap::new();
        let mut reports = Vec::new();
        let mut running: JoinSet<(Job, Result<BuildReport, OrchestratorError>)> = JoinSet::new();
        let mut first_error = None;
        let (progress, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let mut handed = HandedOver::default();
        let mut superseded = 0;
        loop {
            while running.len() - handed.jobs.len() < self.in_flight_limit() && !stop.is_stopped() {
                let Some(job) = sched.pop_ready() else { break };
                if stop.outdated(&job).is_some() {
                    // A newer change covers it (and what depends on it, outdated too). Its
                    // early claim goes too, or it would hold a slot for nobody.
                    handed.early_claims.remove(&job);
                    superseded += 1;
                    continue;
                }
                let inputs = self.resolve_inputs(&def, &job, &done).await?;
                let claim = handed
                    .early_claims
                    .remove(&job)
                    .unwrap_or_else(|| self.inner.slots.claim(sched.priority(&job)));
                let this = self.clone();
                let def = def.clone();
                let previous_build = previous.remove(&job.name());
                let ctx = JobContext {
                    wave,
                    is_changed: changed.contains(&job),
                    reason: reason.clone(),
                    cancel: stop.job_token(&job),
                    job: job.clone(),
                    stop: stop.clone(),
                    progress: progress.clone(),
                    previous_present: previous_build
                        .as_ref()
                        .and_then(tree_digest)
                        .is_some_and(|d| present.contains(&d)),
                    previous: previous_build,
                };
                running.spawn(async move {
                    let result = this.process(def, job.clone(), inputs, claim, ctx).await;
                    (job, result)
                });
            }
            let joined = tokio::select! {
                biased;
                Some(message) = progress_rx.recv() => {
                    handed.take(message, &mut sched, &mut done, &self.inner.slots);
                    continue;
                }
                joined = running.join_next() => joined,
            };
            // A task sends its progress before it ends, but `select!` may have looked at
            // the channel just before the send and at the task just after it ended. What
            // it sent is in the channel now: taken first, a release is never handled
            // after the result of the task that made it.
            while let Ok(message) = progress_rx.try_recv() {
                handed.take(message, &mut sched, &mut done, &self.inner.slots);
            }
            let Some(joined) = joined else {
                break;
            };
            let (job, result) = joined.map_err(|e| OrchestratorError::Task(e.to_string()))?;
            let was_handed_over = handed.jobs.remove(&job);
            let report = match result {
                Ok(report) => report,
                Err(error) => {
                    // The store or the disk failed under us: stop dispatching, let
                    // running builds finish, and report the error.
                    stop.stop(StopReason::Shutdown);
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            if was_handed_over {
                // Its dependents were dispatched already; if its outputs could not be
                // stored after all, they find out through `Done::recorded` and block.
            } else if report.state.has_usable_outputs() {
                done.insert(
                    job.clone(),
                    Done {
                        output: report.output.expect("usable builds have an output"),
                        build: Some(report.build),
                        rebuilt_identical: report.output_unchanged,
                        recorded: None,
                    },
                );
                sched.finished(&job);
            } else if matches!(report.state, BuildState::Failed | BuildState::Blocked) {
                let blocked = sched.block_dependents(&job);
                for dependent in blocked {
                    handed.early_claims.remove(&dependent);
                    let blocked_report =
                        self.record_blocked(wave, &dependent, &job, &report).await?;
                    self.inner.observer.build_finished(&blocked_report);
                    reports.push(blocked_report);
                }
            }
            self.inner.observer.build_finished(&report);
            reports.push(report);
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        let stopped = stop.reason();
        let mut report = WaveReport {
            wave,
            affected: names,
            builds: reports,
            stopped: stopped.clone(),
            duration: started.elapsed(),
            finished: None,
            superseded,
        };
        let summary = match &stopped {
            // Left unfinished on purpose: the next start resumes it.
            Some(StopReason::Shutdown) => None,
            Some(StopReason::Superseded(by)) => {
                Some(format!("superseded by {by}: {}", report.summary()))
            }
            None => Some(report.summary()),
        };
        if let Some(summary) = summary {
            let seq = self
                .inner
                .store
                .db()
                .append_one(Event::WaveFinished { wave, summary })
                .await?;
            report.finished = Some(seq);
        }
        report.builds.sort_by_key(|b| b.build);
        Ok(report)
    }

    /// Output digests of a job's inputs: from this wave, else the latest usable build.
    async fn resolve_inputs(
        &self,
        def: &Definition,
        job: &Job,
        done: &HashMap<Job, Done>,
    ) -> Result<BTreeMap<String, InputState>, OrchestratorError> {
        let mut inputs = BTreeMap::new();
        for (name, input) in job.inputs(def)? {
            let state = match done.get(&input) {
                Some(d) => InputState {
                    digest: d.output,
                    rebuilt_identical: Some(d.rebuilt_identical),
                    build: d.build,
                    recorded: d.recorded.clone(),
                },
                None => match self.usable_output(&input.name()).await? {
                    Some((digest, build)) => InputState {
                        digest,
                        rebuilt_identical: None,
                        build: Some(build.id),
                        recorded: None,
                    },
                    None => {
                        return Err(RecipeError::MissingInput {
                            job: job.name(),
                            input: name,
                        }
                        .into());
                    }
                },
            };
            inputs.insert(name, state);
        }
        Ok(inputs)
    }

    async fn record_blocked(
        &self,
        wave: WaveId,
        job: &Job,
        failed: &Job,
        failure: &BuildReport,
    ) -> Result<BuildReport, OrchestratorError> {
        let detail = format!(
            "blocked: {failed} {} in build {}{}",
            failure.state,
            failure.build,
            failure
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        self.record_blocked_by(wave, job, &failed.name(), Some(failure.build), detail)
            .await
    }

    /// A build started on an input whose outputs could not be stored after all.
    async fn record_lost_input(
        &self,
        ctx: &JobContext,
        lost: LostInput,
    ) -> Result<BuildReport, OrchestratorError> {
        let of_build = lost
            .build
            .map(|b| format!(" (build {b})"))
            .unwrap_or_default();
        let detail = format!(
            "blocked: the outputs of input {}{of_build} could not be stored",
            lost.input
        );
        self.record_blocked_by(ctx.wave, &ctx.job, &lost.input, lost.build, detail)
            .await
    }

    async fn record_blocked_by(
        &self,
        wave: WaveId,
        job: &Job,
        failed: &str,
        by: Option<BuildId>,
        detail: String,
    ) -> Result<BuildReport, OrchestratorError> {
        let reason = format!("input {failed} did not build");
        let db = self.inner.store.db();
        let seq = db
            .append_one(Event::BuildQueued {
                wave: Some(wave),
                component: job.name(),
                key: StoreKey(String::new()),
                reason: reason.clone(),
                inputs: BTreeMap::new(),
            })
            .await?;
        let build = BuildId::from(seq);
        db.append_one(Event::BuildBlocked {
            build,
            by: by.into_iter().collect(),
            reason: detail.clone(),
        })
        .await?;
        Ok(BuildReport {
            job: job.name(),
            build,
            state: BuildState::Blocked,
            reason,
            detail: Some(detail),
            duration: None,
            output: None,
            output_unchanged: false,
            up_to_date: false,
        })
    }

    /// Queues one job, then reuses, cuts off or runs it.
    async fn process(
        self,
        def: Arc<Definition>,
        job: Job,
        inputs: BTreeMap<String, InputState>,
        claim: Claim,
        ctx: JobContext,
    ) -> Result<BuildReport, OrchestratorError> {
        let digests: BTreeMap<String, Digest> = inputs
            .iter()
            .map(|(name, s)| (name.clone(), engine_digest(&s.digest)))
            .collect();
        let environment = self.inner.environment.clone();
        let (def2, job2) = (def.clone(), job.clone());
        let git_cache = self.inner.scratch.with_file_name("sources");
        // Without a source (or an image's base) to read, the key is a few hashes: computed
        // right here, a thread hop sooner.
        let reads_files = match &job {
            Job::Component(name) => def.component(name).is_none_or(|c| c.source.is_some()),
            Job::Image(_) => true,
        };
        let prepare = move || {
            let fetched = fetch_git_source(&def2, &job2, &git_cache)?;
            let (dir, revision) = fetched.unzip();
            recipe::prepare_fetched(&def2, &job2, &digests, &environment, dir.as_deref())
                .map(|p| (p, revision))
                .map_err(|e| e.to_string())
        };
        let prepared = if reads_files {
            tokio::task::spawn_blocking(prepare)
                .await
                .map_err(|e| OrchestratorError::Task(e.to_string()))?
        } else {
            prepare()
        };
        let previous = ctx.previous.clone();
        let (prepared, revision) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // Whether an input's outputs were lost or not, this build fails.
                let _ = inputs_recorded(&inputs).await;
                return self.record_unpreparable(&job, ctx.wave, error).await;
            }
        };
        let key = prepared.material.key();
        let store_key = StoreKey(key.to_string());
        // Bringing everything up to date (or resuming) touches every job: one whose key is
        // its latest usable build's, outputs present, is current and needs no event at all.
        let sweeping = matches!(
            ctx.reason,
            ChangeReason::Reconcile | ChangeReason::Resumed(_)
        );
        if sweeping
            && let Some(latest) = previous.as_ref().filter(|p| p.key == store_key)
            && ctx.previous_present
            && let Some(output) = tree_digest(latest)
        {
            return Ok(BuildReport {
                job: job.name(),
                build: latest.id,
                state: latest.state,
                reason: "up to date".into(),
                detail: None,
                duration: None,
                output: Some(output),
                output_unchanged: false,
                up_to_date: true,
            });
        }
        let mut why_inputs = why_inputs(&prepared);
        if let Some(revision) = revision {
            why_inputs.insert("revision".into(), revision);
        }
        let reason = queue_reason(&ctx, previous.as_ref(), &why_inputs);
        let queued = Queued {
            key: store_key.clone(),
            reason,
            why: why_inputs,
        };
        if let Some(existing) = self.inner.store.reusable_build(&store_key).await? {
            let work_ended = std::sync::atomic::AtomicBool::new(true);
            let build = match self.queue(&ctx, &queued, &inputs, &work_ended).await? {
                Ok(build) => build,
                Err(lost) => return self.record_lost_input(&ctx, lost).await,
            };
            let report = BuildReport::scheduled(&job, build, queued.reason);
            return self
                .record_reuse(report, existing, previous, &ctx, &inputs)
                .await;
        }
        self.run_new(prepared, inputs, claim, ctx, queued).await
    }

    /// Records the build as queued once every input built in this wave has its success in
    /// the log, so the log never shows a build before what it was built from. The build's
    /// number is the queued event's sequence number. `Err`: an input's outputs were lost.
    /// `work_ended`: whether the build's work is over (its number is then overdue).
    async fn queue(
        &self,
        ctx: &JobContext,
        queued: &Queued,
        inputs: &BTreeMap<String, InputState>,
        work_ended: &std::sync::atomic::AtomicBool,
    ) -> Result<Result<BuildId, LostInput>, OrchestratorError> {
        if let Err(lost) = inputs_recorded(inputs).await {
            return Ok(Err(lost));
        }
        let event = Event::BuildQueued {
            wave: Some(ctx.wave),
            component: ctx.job.name(),
            key: queued.key.clone(),
            reason: queued.reason.clone(),
            inputs: queued.why.clone(),
        };
        // While the work runs, the number is not needed yet: the event may wait a moment
        // to share a commit with others. Once the work is over, the recording of this
        // build, and of what depends on it, waits for the number: no lingering then.
        let db = self.inner.store.db();
        let seqs = if work_ended.load(std::sync::atomic::Ordering::Acquire) {
            db.submit(vec![event]).await?
        } else {
            db.submit_lazy(vec![event]).await?
        };
        Ok(Ok(BuildId::from(seqs[0])))
    }

    /// Runs a build whose key never succeeded. Its work starts as soon as a slot is free,
    /// while it is being recorded as queued, and its outputs go to its dependents as soon
    /// as they are staged: neither its inputs' commits nor its own queued event's are on
    /// the path from one command to the next. What it logs before it has a number waits
    /// in [`BuildEvents`].
    async fn run_new(
        &self,
        prepared: Prepared,
        inputs: BTreeMap<String, InputState>,
        claim: Claim,
        mut ctx: JobContext,
        queued: Queued,
    ) -> Result<BuildReport, OrchestratorError> {
        // Cancelled on its own when the build cannot be recorded.
        ctx.cancel = ctx.cancel.child_token();
        let events = Arc::new(BuildEvents::new(self.inner.store.clone()));
        let work_ended = std::sync::atomic::AtomicBool::new(false);
        let queue = async {
            let result = self.queue(&ctx, &queued, &inputs, &work_ended).await;
            match &result {
                Ok(Ok(build)) => events.numbered(*build),
                _ => ctx.cancel.cancel(),
            }
            result
        };
        let run = async {
            // Only running the work takes one of the `jobs` slots: the bookkeeping before
            // and after (key, events, storing outputs) overlaps with other builds' work.
            let slot = tokio::select! {
                slot = claim.acquire() => Some(slot),
                () = ctx.cancel.cancelled() => None,
            };
            let started = Instant::now();
            let result = match slot {
                Some(slot) => {
                    self.inner.observer.build_started(&ctx.job.name());
                    let result = self
                        .run_with_retries(&events, &prepared, &inputs, &ctx)
                        .await;
                    if result.is_ok() {
                        // The dispatcher claims slots for what this build is about to make
                        // ready before the slot is freed, so they are not overtaken.
                        let _ = ctx.progress.send(Progress::WorkDone(ctx.job.clone(), slot));
                    }
                    result
                }
                None => Err(cancelled(&ctx)),
            };
            let duration = started.elapsed();
            work_ended.store(true, std::sync::atomic::Ordering::Release);
            let outcome = match result {
                Err(failure) => Outcome::Failed(failure),
                // Packages are recorded as artifacts of the build: they wait for its number.
                Ok(tree) if makes_packages(&prepared) => Outcome::Built(tree),
                Ok(tree) => match self.stage(None, &prepared, &tree).await {
                    Ok(staged) => {
                        let released = self.release(&staged, &ctx);
                        Outcome::Released(staged, released)
                    }
                    Err(why) => Outcome::NotStaged(self.staging_failure(why, &tree, &ctx)),
                },
            };
            (outcome, duration)
        };
        let (queued_as, (outcome, duration)) = tokio::join!(queue, run);
        let build = match queued_as {
            Ok(Ok(build)) => build,
            Ok(Err(lost)) => {
                let blocked = self.record_lost_input(&ctx, lost).await;
                outcome.discard(blocked.as_ref().ok().map(|report| report.build));
                return blocked;
            }
            Err(error) => {
                outcome.discard(None);
                return Err(error);
            }
        };
        let mut report = BuildReport::scheduled(&ctx.job, build, queued.reason);
        report.duration = Some(duration);
        match outcome {
            Outcome::Failed(failure) | Outcome::NotStaged(failure) => {
                self.record_failure(report, failure).await
            }
            Outcome::Released(staged, released) => {
                self.record_success(report, staged, released).await
            }
            Outcome::Built(tree) => match self.stage(Some(build), &prepared, &tree).await {
                Ok(staged) => {
                    let released = self.release(&staged, &ctx);
                    self.record_success(report, staged, released).await
                }
                Err(why) => {
                    let failure = self.staging_failure(why, &tree, &ctx);
                    self.record_failure(report, failure).await
                }
            },
        }
    }

    /// [`Self::stage_outputs`], with its two ways to fail side by side.
    async fn stage(
        &self,
        build: Option<BuildId>,
        prepared: &Prepared,
        tree: &Path,
    ) -> Result<Staged, Result<BuildError, OrchestratorError>> {
        let staged = self.stage_outputs(build, prepared, tree).await;
        staged.map_err(Err).and_then(|checked| checked.map_err(Ok))
    }

    /// Why outputs could not be staged: a declared output is missing (`Ok`: the build's
    /// fault), or keeping them failed (`Err`: the disk filled up, an infrastructure failure,
    /// and the rest of the wave goes on). The tree is removed.
    fn staging_failure(
        &self,
        why: Result<BuildError, OrchestratorError>,
        tree: &Path,
        ctx: &JobContext,
    ) -> Failure {
        let _ = std::fs::remove_dir_all(tree);
        match why {
            Ok(missing) => Failure::from_build(missing, ctx).or_disk_full(&self.inner.scratch),
            Err(error) => Failure::keeping(&error, self.store_dir()),
        }
    }

    /// Hands staged outputs to the dispatcher, whose dependents start on the kept tree at
    /// once. They record nothing before this build's success is in the log (see
    /// [`Orchestrator::queue`]), which [`Released`] tells them.
    fn release(&self, staged: &Staged, ctx: &JobContext) -> Released {
        let digest = staged.tree.digest();
        let cut_off_from = ctx
            .previous
            .as_ref()
            .filter(|prev| tree_digest(prev) == Some(digest))
            .map(|prev| prev.id);
        let (recorded_tx, recorded) = tokio::sync::watch::channel(None);
        let done = Done {
            output: digest,
            build: None,
            rebuilt_identical: cut_off_from.is_some(),
            recorded: Some(recorded),
        };
        let _ = ctx.progress.send(Progress::Released(ctx.job.clone(), done));
        Released {
            recorded: recorded_tx,
            cut_off_from,
        }
    }

    /// Makes a released build's outputs durable and records its success: a small tree goes
    /// into the database with the success, a larger one is a file, made durable first.
    async fn record_success(
        &self,
        mut report: BuildReport,
        staged: Staged,
        released: Released,
    ) -> Result<BuildReport, OrchestratorError> {
        let build = report.build;
        let digest = staged.tree.digest();
        let mut outputs = vec![BuildOutput {
            name: TREE_OUTPUT.into(),
            digest,
            size: staged.tree.size(),
        }];
        outputs.extend(staged.artifacts);
        let inline = match staged.tree.into_inline() {
            Ok(inline) => vec![inline],
            Err(file) => {
                let stored = tokio::task::spawn_blocking(move || file.commit())
                    .await
                    .map_err(|e| OrchestratorError::Task(e.to_string()))?;
                if let Err(error) = stored {
                    released
                        .recorded
                        .send_replace(Some(Recording::Lost(Some(build))));
                    let failure = Failure::keeping(&error.into(), self.store_dir());
                    return self.record_failure(report, failure).await;
                }
                Vec::new()
            }
        };
        // Not awaited: the log commits in submission order, so whatever a dependent records
        // is committed after this success, and a success lost in a crash only means the
        // build runs again.
        let committed = self
            .inner
            .store
            .db()
            .submit_lazy_with_blobs(vec![Event::BuildSucceeded { build, outputs }], inline);
        released
            .recorded
            .send_replace(Some(Recording::Stored(build)));
        tokio::spawn(async move {
            if let Err(error) = committed.await {
                tracing::error!(%build, %error, "the success of a build was not recorded; it runs again next time");
            }
        });
        if let Some(previous) = released.cut_off_from {
            report.output_unchanged = true;
            report.detail = Some(format!(
                "output identical to build {previous} (early cutoff for what depends on it)"
            ));
        }
        report.state = BuildState::Succeeded;
        report.output = Some(digest);
        Ok(report)
    }

    /// Records a build that did not succeed: cancelled, or failed (its own fault or not).
    async fn record_failure(
        &self,
        mut report: BuildReport,
        failure: Failure,
    ) -> Result<BuildReport, OrchestratorError> {
        let build = report.build;
        let (event, state) = match failure.class {
            FailureClass::Cancelled => (
                Event::BuildCancelled {
                    build,
                    reason: failure.message.clone(),
                },
                BuildState::Cancelled,
            ),
            class => (
                Event::BuildFailed {
                    build,
                    reason: failure.message.clone(),
                    kind: if class == FailureClass::Infrastructure {
                        FailureKind::Infrastructure
                    } else {
                        FailureKind::User
                    },
                },
                BuildState::Failed,
            ),
        };
        self.inner.store.db().append_one(event).await?;
        report.state = state;
        report.detail = Some(failure.message);
        Ok(report)
    }

    /// The store's directory, where a full disk shows.
    fn store_dir(&self) -> &Path {
        self.inner.scratch.parent().unwrap_or(&self.inner.scratch)
    }

    async fn record_unpreparable(
        &self,
        job: &Job,
        wave: WaveId,
        error: String,
    ) -> Result<BuildReport, OrchestratorError> {
        let db = self.inner.store.db();
        let reason = "cannot compute the build key".to_owned();
        let build = BuildId::from(
            db.append_one(Event::BuildQueued {
                wave: Some(wave),
                component: job.name(),
                key: StoreKey(String::new()),
                reason: reason.clone(),
                inputs: BTreeMap::new(),
            })
            .await?,
        );
        let message = error;
        db.append_one(Event::BuildFailed {
            build,
            reason: message.clone(),
            kind: FailureKind::User,
        })
        .await?;
        Ok(BuildReport {
            job: job.name(),
            build,
            state: BuildState::Failed,
            reason,
            detail: Some(message),
            duration: None,
            output: None,
            output_unchanged: false,
            up_to_date: false,
        })
    }

    async fn record_reuse(
        &self,
        mut report: BuildReport,
        existing: BuildRecord,
        previous: Option<BuildRecord>,
        ctx: &JobContext,
        inputs: &BTreeMap<String, InputState>,
    ) -> Result<BuildReport, OrchestratorError> {
        let db = self.inner.store.db();
        let build = report.build;
        let same_as_latest = previous.as_ref().filter(|p| p.key == existing.key);
        match same_as_latest {
            Some(latest) if !ctx.is_changed => {
                let identical: Vec<String> = inputs
                    .iter()
                    .filter(|(_, s)| s.rebuilt_identical == Some(true))
                    .map(|(name, s)| match s.build() {
                        Some(b) => format!("{name} (rebuilt in {b})"),
                        None => format!("{name} (rebuilt)"),
                    })
                    .collect();
                let detail = if identical.is_empty() {
                    format!("inputs identical to those of {}: nothing to do", latest.id)
                } else {
                    format!(
                        "early cutoff: {} produced output identical to before, so the build key equals {}'s",
                        identical.join(", "),
                        latest.id
                    )
                };
                db.append_one(Event::BuildCutOff {
                    build,
                    reason: detail.clone(),
                    previous: Some(latest.id),
                })
                .await?;
                report.state = BuildState::Unchanged;
                report.detail = Some(detail);
            }
            _ => {
                db.append_one(Event::BuildReused {
                    build,
                    from: existing.id,
                })
                .await?;
                report.state = BuildState::Reused;
                report.detail = Some(format!(
                    "build key already succeeded in {}: outputs reused",
                    existing.id
                ));
            }
        }
        report.output = tree_digest(&existing);
        Ok(report)
    }

    async fn run_with_retries(
        &self,
        events: &Arc<BuildEvents>,
        prepared: &Prepared,
        inputs: &BTreeMap<String, InputState>,
        ctx: &JobContext,
    ) -> Result<PathBuf, Failure> {
        let tries = self.inner.settings.tries.max(1);
        let mut backoff = self.inner.settings.backoff;
        for attempt in 1..=tries {
            events.record(Unnumbered::Started { attempt });
            let result = self.attempt(events, prepared, inputs, ctx).await;
            match result {
                Ok(out) => return Ok(out),
                Err(failure)
                    if failure.class == FailureClass::Infrastructure && attempt < tries =>
                {
                    let line = format!(
                        "attempt {attempt} failed ({}); retrying in {backoff:?}",
                        failure.message
                    );
                    events.record(Unnumbered::Log(StoreStream::Factory, line));
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = ctx.cancel.cancelled() => return Err(cancelled(ctx)),
                    }
                    backoff *= 2;
                }
                Err(failure) => return Err(failure),
            }
        }
        unreachable!("the last try returns")
    }

    /// One try: materialise inputs, run the work into a fresh output directory.
    async fn attempt(
        &self,
        events: &Arc<BuildEvents>,
        prepared: &Prepared,
        inputs: &BTreeMap<String, InputState>,
        ctx: &JobContext,
    ) -> Result<PathBuf, Failure> {
        if ctx.cancel.is_cancelled() {
            return Err(cancelled(ctx));
        }
        let out = self.new_output_dir();
        let staging = out.with_extension("staging");
        for leftover in [&out, &staging] {
            match std::fs::remove_dir_all(leftover) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Failure::infra(io_err("removing", leftover)(e)));
                }
                _ => {}
            }
        }
        let mut input_dirs = BTreeMap::new();
        for (name, state) in inputs {
            let tree = self
                .materialise(&state.digest)
                .await
                .map_err(Failure::infra)?;
            input_dirs.insert(name.clone(), tree);
        }
        let sink: Arc<dyn LogSink> = events.clone();
        let result = match &prepared.work {
            Work::Commands { spec, source } => {
                let mut request = BuildRequest::new(spec.clone(), &out);
                request.source = source.clone();
                request.inputs = input_dirs;
                request.sink = Some(sink);
                request.cancel = ctx.cancel.clone();
                // Checked while the outputs are stored, in the same pass over the tree.
                request.check_outputs = false;
                self.inner
                    .runner
                    .run(request)
                    .await
                    .map(|_| ())
                    .map_err(|f| {
                        Failure::from_build(f.error, ctx).or_disk_full(&self.inner.scratch)
                    })
            }
            work => {
                let work = work.clone();
                let (out2, staging2) = (out.clone(), staging.clone());
                let written = tokio::task::spawn_blocking(move || {
                    run_builtin(&work, &input_dirs, &out2, &staging2)
                })
                .await
                .map_err(|e| Failure::infra(OrchestratorError::Task(e.to_string())))?;
                match written {
                    Ok(note) => {
                        sink.line(&LogLine {
                            command: 0,
                            stream: LogStream::Engine,
                            text: note,
                            elapsed: Duration::ZERO,
                        });
                        Ok(())
                    }
                    Err(error) => Err(Failure::from_archive(error)),
                }
            }
        };
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_dir_all(&staging);
        }
        result.map(|()| out)
    }

    /// Stores the packages in the output tree, writes the tree as a deterministic tar (not
    /// yet durable: see [`Staged`]), then keeps the tree itself as the materialised copy of
    /// that tar, so dependents need not extract it.
    /// A command's declared outputs are checked here, in the same pass (`Err(BuildError)`
    /// when one is missing).
    async fn stage_outputs(
        &self,
        build: Option<BuildId>,
        prepared: &Prepared,
        tree: &Path,
    ) -> Result<Result<Staged, BuildError>, OrchestratorError> {
        let declared = match &prepared.work {
            Work::Commands { spec, .. } => Some(spec.clone()),
            _ => None,
        };
        // Packages first, while the tree is still where the build left it.
        let kind = prepared.material.kind.as_str();
        let mut artifacts = Vec::new();
        if makes_packages(prepared) {
            if let Some(spec) = &declared {
                let (spec, root) = (spec.clone(), tree.to_path_buf());
                let checked = tokio::task::spawn_blocking(move || {
                    crate::runner::check_declared_outputs(&spec, &root)
                })
                .await
                .map_err(|e| OrchestratorError::Task(e.to_string()))?;
                if let Err(missing) = checked {
                    return Ok(Err(missing));
                }
            }
            for file in &prepared.material.spec.outputs {
                let path = tree.join(file);
                let (put, _) = self
                    .inner
                    .store
                    .store_artifact(&path, file, kind, build)
                    .await?;
                artifacts.push(BuildOutput {
                    name: file.clone(),
                    digest: put.digest,
                    size: put.size,
                });
            }
        }
        let cas = self.inner.store.cas().clone();
        let (tree, trees) = (tree.to_path_buf(), self.inner.trees.clone());
        // The tar is streamed straight into the store: it never exists as a second file.
        let unchecked = declared.filter(|_| artifacts.is_empty());
        let blob = tokio::task::spawn_blocking(move || {
            // One walk of the tree serves the check, the tar and the normalisation.
            let entries = crate::tree::walk_tree(&tree).map_err(|e| OrchestratorError::Io {
                action: "reading the outputs in",
                path: tree.clone(),
                source: std::io::Error::other(e),
            })?;
            if let Some(spec) = unchecked
                && let Err(missing) = crate::runner::check_declared_outputs_in(&spec, &entries)
            {
                return Ok(Err(missing));
            }
            let blob = write_tree_blob(&cas, &tree, &entries)?;
            keep_materialised(&tree, &entries, &trees, &blob.digest());
            let _ = std::fs::remove_dir_all(tree.with_extension("staging"));
            Ok::<_, OrchestratorError>(Ok(blob))
        })
        .await
        .map_err(|e| OrchestratorError::Task(e.to_string()))??;
        Ok(blob.map(|blob| Staged {
            artifacts,
            tree: blob,
        }))
    }

    /// A fresh output directory for one attempt (below the scratch directory, on the same
    /// file system as the materialised trees, so a finished tree is moved there, never
    /// copied). Built-in kinds assemble archives beside it, in `<name>.staging`. Named
    /// before the build has a number; the process id keeps two factories on one store
    /// apart.
    fn new_output_dir(&self) -> PathBuf {
        let n = self
            .inner
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{}-{n}.out", std::process::id());
        self.inner.scratch.join(name)
    }

    /// The directory holding the tree with this digest, extracted from the CAS once.
    pub async fn materialise(
        &self,
        digest: &factory_store::Digest,
    ) -> Result<PathBuf, OrchestratorError> {
        let dir = self.inner.trees.join(digest.hex());
        if dir.is_dir() {
            return Ok(dir);
        }
        let blob = self.inner.store.open_blob(digest).await?;
        let (trees, target) = (self.inner.trees.clone(), dir.clone());
        tokio::task::spawn_blocking(move || -> Result<(), OrchestratorError> {
            std::fs::create_dir_all(&trees).map_err(io_err("creating", &trees))?;
            let temp = tempfile::Builder::new()
                .prefix(".extract-")
                .tempdir_in(&trees)
                .map_err(io_err("creating a directory in", &trees))?;
            tar::Archive::new(blob)
                .unpack(temp.path())
                .map_err(io_err("extracting into", temp.path()))?;
            let temp = temp.keep();
            if let Err(e) = std::fs::rename(&temp, &target) {
                let _ = std::fs::remove_dir_all(&temp);
                if !target.is_dir() {
                    return Err(io_err("renaming into", &target)(e));
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| OrchestratorError::Task(e.to_string()))??;
        Ok(dir)
    }

    /// Removes materialised trees that are no longer live, then unreferenced blobs.
    pub async fn gc(&self) -> Result<(factory_store::GcReport, usize), OrchestratorError> {
        let db = self.inner.store.db();
        // A build stores its outputs before the event that makes them live: while builds
        // run (in this process or another), blobs younger than the oldest of them stay.
        let oldest_running = db
            .unfinished_builds()
            .await?
            .iter()
            .map(|b| b.queued_at_ms)
            .min();
        let min_age = oldest_running.map_or(Duration::ZERO, |queued_ms| {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Duration::from_millis(now_ms.saturating_sub(queued_ms).max(0) as u64)
                + Duration::from_secs(1)
        });
        let live: std::collections::HashSet<String> =
            db.live_digests().await?.iter().map(|d| d.hex()).collect();
        let mut removed_trees = 0;
        if let Ok(entries) = std::fs::read_dir(&self.inner.trees) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let keep =
                    live.contains(&name) || (oldest_running.is_some() && name.starts_with('.'));
                if !keep && std::fs::remove_dir_all(entry.path()).is_ok() {
                    removed_trees += 1;
                }
            }
        }
        let report = self.inner.store.gc(min_age).await?;
        Ok((report, removed_trees))
    }
}

/// Removes the output and staging directories (`PID-N.out`, `PID-N.staging`) that
/// factories no longer running left in `scratch` when they were killed mid-build. Those of
/// a factory still running on the same store are its own. Assumes the factories sharing a
/// store see one another's process ids (one machine, one pid namespace).
fn remove_leftovers(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_exists(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Signal 0 checks without signalling: only "no such process" means it is gone.
fn process_exists(pid: i32) -> bool {
    let pid = nix::unistd::Pid::from_raw(pid);
    !matches!(
        nix::sys::signal::kill(pid, None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Streams `tree` as a deterministic tar into a new blob of the CAS, not yet committed.
fn write_tree_blob(
    cas: &factory_store::Cas,
    tree: &Path,
    entries: &[crate::tree::TreeEntry],
) -> Result<factory_store::FinishedBlob, OrchestratorError> {
    let options = TarOptions {
        mtime: crate::spec::DEFAULT_SOURCE_DATE_EPOCH,
        dot_prefix: false,
    };
    // Small enough to come from the allocator's reused pages rather than fresh ones per build.
    let blob = std::io::BufWriter::with_capacity(32 * 1024, cas.writer()?);
    let blob = write_tar_of(tree, entries, blob, &options).map_err(|e| OrchestratorError::Io {
        action: "archiving",
        path: tree.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let blob = blob.into_inner().map_err(|e| OrchestratorError::Io {
        action: "archiving",
        path: tree.to_path_buf(),
        source: e.into_error(),
    })?;
    Ok(blob.finish())
}

/// Moves a freshly built tree to `trees/<digest>`, where [`Orchestrator::materialise`] looks
/// for it, after giving its entries the modes and times the tar gives them, so a dependent
/// sees the same tree whether it was built in this run or extracted from the store later.
/// Best effort: a tree that cannot be kept is removed and extracted again when needed.
fn keep_materialised(
    tree: &Path,
    entries: &[crate::tree::TreeEntry],
    trees: &Path,
    digest: &factory_store::Digest,
) {
    let target = trees.join(digest.hex());
    let kept = !target.exists()
        && normalise_tree(tree, entries).is_ok()
        && std::fs::create_dir_all(trees).is_ok()
        && std::fs::rename(tree, &target).is_ok();
    if !kept {
        let _ = std::fs::remove_dir_all(tree);
    }
}

/// Modes 0755/0644 and the fixed mtime, as [`crate::archive::write_tar`] records them (`entries`: the tree
/// as walked; a mode that is already right is left alone).
fn normalise_tree(root: &Path, entries: &[crate::tree::TreeEntry]) -> std::io::Result<()> {
    use crate::tree::EntryKind;
    use std::os::unix::fs::PermissionsExt;
    let mtime = nix::sys::time::TimeSpec::new(crate::spec::DEFAULT_SOURCE_DATE_EPOCH as i64, 0);
    let set = |path: &Path, mode: u32, found: Option<u32>| -> std::io::Result<()> {
        if found != Some(mode) {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        let no_follow = nix::sys::stat::UtimensatFlags::NoFollowSymlink;
        nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, path, &mtime, &mtime, no_follow)
            .map_err(std::io::Error::from)
    };
    for entry in entries {
        let mode = match entry.kind {
            EntryKind::Dir
            | EntryKind::File {
                executable: true, ..
            } => 0o755,
            EntryKind::File { .. } => 0o644,
            EntryKind::Symlink { .. } => continue,
        };
        set(&root.join(&entry.rel), mode, Some(entry.mode))?;
    }
    set(root, 0o755, None)
}

/// For a component with a remote source, its tree and revision, fetched once:
/// a git checkout and its commit, or an unpacked tarball (`cache/tarball/SHA256`,
/// checked before unpacking) and its sha256.
fn fetch_git_source(
    def: &Definition,
    job: &Job,
    cache: &Path,
) -> Result<Option<(PathBuf, String)>, String> {
    let Job::Component(name) = job else {
        return Ok(None);
    };
    match def.component(name).and_then(|c| c.source.as_ref()) {
        Some(factory_def::Source::Git { url, rev }) => {
            let commit = crate::fetch::resolve(url, rev).map_err(|e| e.to_string())?;
            let dir = crate::fetch::checkout(url, &commit, cache).map_err(|e| e.to_string())?;
            Ok(Some((dir, commit)))
        }
        Some(factory_def::Source::Tarball { url, sha256 }) => {
            let tarballs = cache.join("tarball");
            let dir = crate::tarball::fetch(name, url, sha256, def.root.as_deref(), &tarballs)
                .map_err(|e| e.to_string())?;
            Ok(Some((dir, sha256.clone())))
        }
        _ => Ok(None),
    }
}

/// The revision of each job's local source (its tree digest) or tarball (its sha256), when it has one.
fn source_revisions(def: &Definition, jobs: &[Job]) -> Vec<Option<String>> {
    jobs.iter()
        .map(|job| match job {
            Job::Component(name) => match def.component(name).and_then(|c| c.source.as_ref()) {
                Some(factory_def::Source::Tarball { sha256, .. }) => Some(sha256.clone()),
                source => source
                    .and_then(|s| def.local_source_dir(s))
                    .and_then(|dir| crate::tree::digest_tree(&dir).ok())
                    .map(|d| d.to_hex()),
            },
            Job::Image(_) => None,
        })
        .collect()
}

/// The output tree digest a build recorded.
pub fn tree_digest(build: &BuildRecord) -> Option<factory_store::Digest> {
    build
        .outputs
        .iter()
        .find(|o| o.name == TREE_OUTPUT)
        .map(|o| o.digest)
}

fn engine_digest(d: &factory_store::Digest) -> Digest {
    Digest::from_bytes(*d.as_bytes())
}

/// How a build handed over before it was recorded ended up in the log: `None` until that
/// is known (see [`Recording`]).
type Recorded = tokio::sync::watch::Receiver<Option<Recording>>;

/// How a build that handed its outputs over before it was recorded ended up in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recording {
    /// Its success is submitted (so whatever a dependent records is committed after it).
    Stored(BuildId),
    /// Its outputs could not be kept, or it could not be recorded at all (then it may have
    /// no number).
    Lost(Option<BuildId>),
}

#[derive(Debug, Clone)]
struct Done {
    output: factory_store::Digest,
    /// Unknown yet for a build handed over before it was recorded: see `recorded`.
    build: Option<BuildId>,
    rebuilt_identical: bool,
    /// For a build handed to its dependents before its success was recorded.
    recorded: Option<Recorded>,
}

#[derive(Debug, Clone)]
struct InputState {
    digest: factory_store::Digest,
    /// Built in this wave: whether it ran and produced identical output.
    rebuilt_identical: Option<bool>,
    /// Its build, when known at dispatch (else `recorded` tells it).
    build: Option<BuildId>,
    recorded: Option<Recorded>,
}

impl InputState {
    /// The input's build, once it is recorded (see [`inputs_recorded`]).
    fn build(&self) -> Option<BuildId> {
        self.build
            .or_else(|| match *self.recorded.as_ref()?.borrow() {
                Some(Recording::Stored(build)) | Some(Recording::Lost(Some(build))) => Some(build),
                _ => None,
            })
    }
}

/// An input whose outputs a build started on, but which could not store them.
struct LostInput {
    input: String,
    build: Option<BuildId>,
}

/// Where a build's work left it, before the build has a number.
enum Outcome {
    Failed(Failure),
    /// Outputs staging failed.
    NotStaged(Failure),
    /// Outputs that wait for the build's number to be staged.
    Built(PathBuf),
    /// Outputs staged and handed to the dependents.
    Released(Staged, Released),
}

impl Outcome {
    /// The build cannot be recorded (`blocked`: the number it got as blocked, if any): its
    /// outputs go, and dependents that started on them learn that they are lost.
    fn discard(self, blocked: Option<BuildId>) {
        match self {
            Outcome::Built(tree) => {
                let _ = std::fs::remove_dir_all(tree);
            }
            Outcome::Released(_, released) => {
                released
                    .recorded
                    .send_replace(Some(Recording::Lost(blocked)));
            }
            Outcome::Failed(_) | Outcome::NotStaged(_) => {}
        }
    }
}

/// A build's outputs handed to its dependents, not yet recorded.
struct Released {
    recorded: tokio::sync::watch::Sender<Option<Recording>>,
    /// The previous build of the component, when the output is identical to its.
    cut_off_from: Option<BuildId>,
}

/// Whether a build's outputs include packages, recorded as artifacts of the build.
fn makes_packages(prepared: &Prepared) -> bool {
    matches!(prepared.material.kind.as_str(), "deb" | "tarball")
}

/// Waits until every input that was handed over before its success was recorded has it
/// recorded. Inputs are few and usually recorded already, so waiting in turn is enough.
async fn inputs_recorded(inputs: &BTreeMap<String, InputState>) -> Result<(), LostInput> {
    for (name, state) in inputs {
        let Some(recorded) = &state.recorded else {
            continue;
        };
        let mut recorded = recorded.clone();
        let recording = recorded.wait_for(Option::is_some).await.map(|r| *r);
        match recording {
            Ok(Some(Recording::Stored(_))) => {}
            Ok(Some(Recording::Lost(build))) => {
                return Err(LostInput {
                    input: name.clone(),
                    build,
                });
            }
            // The producer's task ended without a word: it could not be recorded.
            Ok(None) | Err(_) => {
                return Err(LostInput {
                    input: name.clone(),
                    build: state.build,
                });
            }
        }
    }
    Ok(())
}

/// What a build is queued with.
struct Queued {
    key: StoreKey,
    reason: String,
    why: BTreeMap<String, String>,
}

/// A build's outputs, ready to be recorded: packages already in the store, the tree's
/// blob written and digested but not yet durable.
struct Staged {
    artifacts: Vec<BuildOutput>,
    tree: factory_store::FinishedBlob,
}

/// What a build records while it runs, before and after it has a number: its work starts
/// while its queued event (whose sequence number is the build's) is still being
/// committed, so events meanwhile wait here and follow the queued event in the log.
struct BuildEvents {
    store: Store,
    state: Mutex<Result<BuildId, Vec<Unnumbered>>>,
}

enum Unnumbered {
    Started { attempt: u32 },
    Log(StoreStream, String),
}

impl Unnumbered {
    fn numbered(self, build: BuildId) -> Event {
        match self {
            Unnumbered::Started { attempt } => Event::BuildStarted { build, attempt },
            Unnumbered::Log(stream, text) => log_event(build, stream, text),
        }
    }
}

impl BuildEvents {
    fn new(store: Store) -> BuildEvents {
        BuildEvents {
            store,
            state: Mutex::new(Err(Vec::new())),
        }
    }

    /// Submitted without waiting for the commit: a start or a log line lost in a crash
    /// only means the restarted wave runs the build again. Submitted under the lock, so
    /// the events of one build keep their order.
    fn record(&self, event: Unnumbered) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Ok(build) => drop(self.store.db().submit_lazy(vec![event.numbered(*build)])),
            Err(waiting) => waiting.push(event),
        }
    }

    fn numbered(&self, build: BuildId) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(waiting) = &mut *state {
            let events: Vec<Event> = waiting.drain(..).map(|e| e.numbered(build)).collect();
            if !events.is_empty() {
                drop(self.store.db().submit_lazy(events));
            }
        }
        *state = Ok(build);
    }
}

impl LogSink for BuildEvents {
    fn line(&self, line: &LogLine) {
        let stream = match line.stream {
            LogStream::Stdout => StoreStream::Stdout,
            LogStream::Stderr => StoreStream::Stderr,
            LogStream::Engine => StoreStream::Factory,
        };
        self.record(Unnumbered::Log(stream, line.text.clone()));
    }
}

struct JobContext {
    wave: WaveId,
    is_changed: bool,
    reason: ChangeReason,
    cancel: CancellationToken,
    job: Job,
    stop: Stop,
    /// Where a build tells the dispatcher how far it got before its task ends.
    progress: tokio::sync::mpsc::UnboundedSender<Progress>,
    /// The job's latest usable build when the wave started.
    previous: Option<BuildRecord>,
    /// Whether that build's output tree was still in the store when the wave started.
    previous_present: bool,
}

/// What `factory explain` compares: every ingredient of the key, named.
fn why_inputs(prepared: &Prepared) -> BTreeMap<String, String> {
    let m = &prepared.material;
    let mut map = BTreeMap::new();
    if let Some(source) = &m.source_digest {
        map.insert("source".into(), source.to_hex());
    }
    for (name, digest) in &m.inputs {
        map.insert(format!("input:{name}"), digest.to_hex());
    }
    map.insert("recipe".into(), recipe::recipe_digest(m).to_hex());
    map.insert("kind".into(), m.kind.clone());
    for (name, value) in &m.environment {
        map.insert(format!("env:{name}"), value.clone());
    }
    map
}

/// What differs between two builds' ingredients, one line each, in words.
pub fn differences(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut lines = Vec::new();
    for key in keys {
        let what = match key.split_once(':') {
            Some(("input", name)) => format!("input {name}"),
            Some(("env", name)) => format!("environment {name}"),
            _ => key.clone(),
        };
        match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a != b => {
                let (a, b) = if key.starts_with("env:") || key == "kind" {
                    (a.clone(), b.clone())
                } else {
                    (short(a), short(b))
                };
                lines.push(format!("{what} changed: {a} -> {b}"));
            }
            (Some(_), None) => lines.push(format!("{what} removed")),
            (None, Some(_)) => lines.push(format!("{what} added")),
            _ => {}
        }
    }
    lines
}

fn queue_reason(
    ctx: &JobContext,
    previous: Option<&BuildRecord>,
    inputs: &BTreeMap<String, String>,
) -> String {
    let diff = previous.map(|p| differences(&p.inputs, inputs));
    let mut parts = Vec::new();
    let said = ctx.reason.describe();
    // "source changed" is already said by the difference line that follows.
    let repeated = diff
        .as_ref()
        .is_some_and(|d| d.iter().any(|line| line.starts_with(&said)));
    if ctx.is_changed && !repeated {
        parts.push(said);
    }
    match diff {
        None => parts.push("first build".into()),
        Some(d) if d.is_empty() => {
            if !ctx.is_changed {
                parts.push("affected; inputs as before".into());
            }
        }
        Some(d) => parts.push(d.join("; ")),
    }
    parts.join(": ")
}

fn log_event(build: BuildId, stream: StoreStream, mut text: String) -> Event {
    text.push('\n');
    Event::BuildLog {
        build,
        stream,
        chunk: text,
    }
}

struct Failure {
    class: FailureClass,
    message: String,
}

impl Failure {
    fn infra(error: OrchestratorError) -> Failure {
        Failure {
            class: FailureClass::Infrastructure,
            message: error.to_string(),
        }
    }

    fn from_build(error: BuildError, ctx: &JobContext) -> Failure {
        if error.class() == FailureClass::Cancelled {
            return cancelled(ctx);
        }
        Failure {
            class: error.class(),
            message: error.to_string(),
        }
    }

    /// Keeping a finished build's outputs failed: the factory's fault, most often a full disk.
    fn keeping(error: &OrchestratorError, store: &Path) -> Failure {
        let message = if is_out_of_space(error) {
            format!(
                "the disk is full: no space left to keep the outputs in the store `{}` ({error}); \
                 free some space (e.g. `factory gc`) and run `factory up` again",
                store.display()
            )
        } else {
            format!("keeping the outputs in the store failed: {error}")
        };
        Failure {
            class: FailureClass::Infrastructure,
            message,
        }
    }

    /// A command that failed while the disk holding the build directories is full most
    /// likely failed for that (it could not write its outputs): the factory's fault.
    fn or_disk_full(self, scratch: &Path) -> Failure {
        if self.class != FailureClass::Build || !no_space_left(scratch) {
            return self;
        }
        Failure {
            class: FailureClass::Infrastructure,
            message: format!(
                "the disk is full: no space left in `{}`, where builds write their outputs ({}); \
                 free some space (e.g. `factory gc`) and run `factory up` again",
                scratch.display(),
                self.message
            ),
        }
    }

    fn from_archive(error: ArchiveError) -> Failure {
        let class = match error {
            ArchiveError::Io { .. } => FailureClass::Infrastructure,
            _ => FailureClass::Build,
        };
        Failure {
            class,
            message: error.to_string(),
        }
    }
}

/// Whether an error, or any error it was caused by, is the disk or a quota being full.
fn is_out_of_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || io.raw_os_error() == Some(nix::libc::ENOSPC)
            {
                return true;
            }
            // `io::Error::source` skips the error it wraps: look at that one too.
            if io.get_ref().is_some_and(|inner| is_out_of_space(inner)) {
                return true;
            }
        }
        next = error.source();
    }
    false
}

/// Whether the file system holding `dir` has (next to) no space left for this user.
fn no_space_left(dir: &Path) -> bool {
    const ALMOST_NOTHING: u64 = 1 << 20;
    nix::sys::statvfs::statvfs(dir)
        .is_ok_and(|fs| fs.blocks_available().saturating_mul(fs.fragment_size()) < ALMOST_NOTHING)
}

fn cancelled(ctx: &JobContext) -> Failure {
    if let Some(reason) = ctx.stop.outdated(&ctx.job) {
        return Failure {
            class: FailureClass::Cancelled,
            message: format!("superseded by {reason}"),
        };
    }
    let message = match ctx.stop.reason() {
        Some(StopReason::Superseded(by)) => format!("superseded by {by}"),
        _ => "stopped: the factory shut down (the wave resumes on the next start)".into(),
    };
    Failure {
        class: FailureClass::Cancelled,
        message,
    }
}

/// Runs a built-in kind (a library call, not a sandboxed command). Returns a log line.
fn run_builtin(
    work: &Work,
    inputs: &BTreeMap<String, PathBuf>,
    out: &Path,
    staging: &Path,
) -> Result<String, ArchiveError> {
    std::fs::create_dir_all(out).map_err(ArchiveError::io("creating", out))?;
    match work {
        Work::Deb {
            from,
            prefix,
            control,
            file_name,
            mtime,
        } => {
            let root = stage_under_prefix(&inputs[from], prefix, staging)?;
            let dest = out.join(file_name);
            let digest = write_deb(&root, control, &dest, *mtime)?;
            Ok(format!("wrote {file_name} ({})", digest.to_oci()))
        }
        Work::Tarball {
            from,
            prefix,
            file_name,
            mtime,
        } => {
            let root = stage_under_prefix(&inputs[from], prefix, staging)?;
            let dest = out.join(file_name);
            let digest = write_tarball(&root, &dest, *mtime)?;
            Ok(format!("wrote {file_name} ({})", digest.to_oci()))
        }
        Work::Image(image) => build_image(image, inputs, out, staging),
        Work::Commands { .. } => unreachable!("commands run in the sandbox"),
    }
}

fn stage_under_prefix(tree: &Path, prefix: &str, staging: &Path) -> Result<PathBuf, ArchiveError> {
    let relative = prefix.trim_matches('/');
    if relative.is_empty() {
        return Ok(tree.to_path_buf());
    }
    let root = staging.join("root");
    let target = root.join(relative);
    recipe::copy_tree(tree, &target).map_err(ArchiveError::io("copying into", &target))?;
    Ok(root)
}

fn build_image(
    work: &ImageWork,
    inputs: &BTreeMap<String, PathBuf>,
    out: &Path,
    staging: &Path,
) -> Result<String, ArchiveError> {
    let mut layers = Vec::new();
    for (layer, input, is_deb) in &work.layers {
        let tree = &inputs[input];
        let root = if *is_deb {
            let dest = staging.join("layers").join(layer);
            unpack_deb_data(tree, &dest)?;
            dest
        } else {
            tree.clone()
        };
        layers.push(OciLayer {
            name: layer.clone(),
            root,
        });
    }
    let base = work.base.as_ref().map(|base| OciBase {
        layout: match base {
            ImageBaseRef::Input(name) => inputs[name].clone(),
            ImageBaseRef::Layout(path) => path.clone(),
        },
        tag: None,
    });
    let image = &work.image;
    let spec = OciImageSpec {
        tag: "latest".into(),
        base,
        layers,
        architecture: work.architecture.clone(),
        os: "linux".into(),
        env: image.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        entrypoint: (!image.entrypoint.is_empty()).then(|| image.entrypoint.clone()),
        cmd: (!image.cmd.is_empty()).then(|| image.cmd.clone()),
        working_dir: None,
        labels: image.labels.clone(),
        created: work.mtime,
    };
    let info = write_oci_layout(&spec, out)?;
    Ok(format!(
        "wrote OCI image layout, manifest {} ({} layers)",
        info.manifest_digest.to_oci(),
        info.layers.len()
    ))
}

/// Extracts the `data.tar.*` member of the one .deb in `dir` into `dest`.
fn unpack_deb_data(dir: &Path, dest: &Path) -> Result<(), ArchiveError> {
    let deb = std::fs::read_dir(dir)
        .map_err(ArchiveError::io("reading", dir))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| ArchiveError::Oci {
            path: dir.to_path_buf(),
            problem: "the package input holds no .deb file".into(),
        })?;
    let file = std::fs::File::open(&deb).map_err(ArchiveError::io("opening", &deb))?;
    let mut archive = ar::Archive::new(file);
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(ArchiveError::io("reading", &deb))?;
        if entry.header().identifier() == b"data.tar.gz" {
            std::fs::create_dir_all(dest).map_err(ArchiveError::io("creating", dest))?;
            tar::Archive::new(flate2::read::GzDecoder::new(entry))
                .unpack(dest)
                .map_err(ArchiveError::io("unpacking data of", &deb))?;
            return Ok(());
        }
    }
    Err(ArchiveError::Oci {
        path: deb,
        problem: "no data.tar.gz member".into(),
    })
}

/// Everything a change to `changed` makes necessary to rebuild, through the graph.
pub fn affected_jobs(def: &Definition, changed: &[Job]) -> Vec<Job> {
    let mut builder = GraphBuilder::new("factory");
    factory_import::resolve::add_definition(&mut builder, def);
    let graph = builder.finish();
    let reverse = GraphReverse::build(&graph, factory_graph::Alternatives::All);
    let nodes: Vec<_> = changed
        .iter()
        .filter_map(|job| match job {
            Job::Component(name) => graph.find(NodeKind::Source, name),
            Job::Image(name) => graph.find(NodeKind::Image, name),
        })
        .collect();
    let mut jobs: BTreeSet<Job> = changed.iter().cloned().collect();
    for node in factory_graph::affected(&graph, &reverse, &nodes, Mode::Transitive) {
        let name = graph.name(node);
        match graph.kind(node) {
            NodeKind::Source if def.components.contains_key(name) => {
                jobs.insert(Job::Component(name.to_owned()));
            }
            NodeKind::Image if def.images.contains_key(name) => {
                jobs.insert(Job::Image(name.to_owned()));
            }
            _ => {}
        }
    }
    jobs.into_iter().collect()
}

/// Levels of the set (each depends only on earlier ones), for the wave's plan.
fn levels(def: &Definition, set: &[Job]) -> Vec<Vec<String>> {
    let Ok(order) = topological(def, set) else {
        return vec![set.iter().map(Job::name).collect()];
    };
    let mut level: HashMap<&Job, usize> = HashMap::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    for job in order {
        let l = job
            .inputs(def)
            .unwrap_or_default()
            .values()
            .filter_map(|d| level.get(d).map(|l| l + 1))
            .max()
            .unwrap_or(0);
        level.insert(job, l);
        if out.len() <= l {
            out.resize(l + 1, Vec::new());
        }
        out[l].push(job.name());
    }
    out.iter_mut().for_each(|l| l.sort());
    out
}

/// The set in an order where every job comes after its inputs in the set (Kahn's
/// algorithm: iterative, so deep chains cannot exhaust the stack).
fn topological<'a>(def: &Definition, set: &'a [Job]) -> Result<Vec<&'a Job>, OrchestratorError> {
    let index: HashMap<&Job, usize> = set.iter().enumerate().map(|(i, j)| (j, i)).collect();
    let mut indegree = vec![0usize; set.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); set.len()];
    for (i, job) in set.iter().enumerate() {
        for input in job.inputs(def)?.values() {
            if let Some(&d) = index.get(input) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut queue: std::collections::VecDeque<usize> =
        (0..set.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(set.len());
    while let Some(i) = queue.pop_front() {
        order.push(&set[i]);
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                queue.push_back(d);
            }
        }
    }
    // The definition is validated acyclic; a cycle here would leave jobs out.
    Ok(order)
}

/// What a build's task tells the dispatcher before the task ends.
enum Progress {
    /// The work succeeded: the slot goes back, once slots are claimed for what the
    /// build is about to make ready.
    WorkDone(Job, Slot),
    /// The outputs are staged and go to the dependents before the success is recorded.
    Released(Job, Done),
}

/// The dispatcher's side of builds that hand over before their task ends.
#[derive(Default)]
struct HandedOver {
    /// Jobs released whose task has not ended. Until it ends, such a task only records:
    /// it does not count against the in-flight limit.
    jobs: std::collections::HashSet<Job>,
    /// Slots claimed for jobs that become ready when a build's outputs are released.
    early_claims: HashMap<Job, Claim>,
}

impl HandedOver {
    fn take(
        &mut self,
        message: Progress,
        sched: &mut Scheduler,
        done: &mut HashMap<Job, Done>,
        slots: &Slots,
    ) {
        match message {
            Progress::WorkDone(job, slot) => {
                for next in sched.waiting_only_for(&job) {
                    let claim = slots.claim(sched.priority(&next));
                    self.early_claims.insert(next, claim);
                }
                drop(slot);
            }
            Progress::Released(job, finished) => {
                done.insert(job.clone(), finished);
                sched.finished(&job);
                self.jobs.insert(job);
            }
        }
    }
}

/// The ready queue of a wave: dependency counts and longest-remaining-chain priority.
struct Scheduler {
    waiting: HashMap<Job, usize>,
    dependents: HashMap<Job, Vec<Job>>,
    height: HashMap<Job, usize>,
    ready: BinaryHeap<(usize, Reverse<Job>)>,
    blocked: BTreeSet<Job>,
}

/// How long each job's latest build ran, in ms, where the store knows it (a reused or
/// cut-off build did not run, so it tells nothing).
fn run_times(previous: &HashMap<String, BuildRecord>) -> HashMap<String, u64> {
    previous
        .values()
        .filter(|b| b.state == BuildState::Succeeded)
        .filter_map(|b| {
            let ran = b.finished_at_ms? - b.started_at_ms?;
            Some((b.component.clone(), ran.max(1) as u64))
        })
        .collect()
}

impl Scheduler {
    /// `run_times`: how long jobs took last time (ms). With none, every job weighs the same
    /// and the longest chain is the one with the most jobs; with some, the chain that takes
    /// longest goes first, jobs without a time weighing as much as the median job.
    fn new(
        def: &Definition,
        set: &[Job],
        run_times: &HashMap<String, u64>,
    ) -> Result<Scheduler, OrchestratorError> {
        let members: BTreeSet<&Job> = set.iter().collect();
        let mut waiting = HashMap::new();
        let mut dependents: HashMap<Job, Vec<Job>> = HashMap::new();
        for job in set {
            let deps: Vec<Job> = job
                .inputs(def)?
                .into_values()
                .filter(|j| members.contains(j))
                .collect();
            waiting.insert(job.clone(), deps.len());
            for dep in deps {
                dependents.entry(dep).or_default().push(job.clone());
            }
        }
        let known: Vec<u64> = {
            let mut known: Vec<u64> = set
                .iter()
                .filter_map(|job| run_times.get(&job.name()).copied())
                .collect();
            known.sort_unstable();
            known
        };
        let typical = known.get(known.len() / 2).copied().unwrap_or(1);
        let weight = |job: &Job| -> usize {
            let ms = run_times.get(&job.name()).copied().unwrap_or(typical);
            usize::try_from(ms).unwrap_or(usize::MAX)
        };
        // Longest chain of dependents (in time where known), in reverse topological order.
        let mut height: HashMap<Job, usize> = HashMap::new();
        for job in topological(def, set)?.into_iter().rev() {
            let below = dependents
                .get(job)
                .map(|ds| {
                    ds.iter()
                        .filter_map(|d| height.get(d))
                        .max()
                        .copied()
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            height.insert(job.clone(), below.saturating_add(weight(job)));
        }
        let ready = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(job, _)| (height.get(job).copied().unwrap_or(1), Reverse(job.clone())))
            .collect();
        Ok(Scheduler {
            waiting,
            dependents,
            height,
            ready,
            blocked: BTreeSet::new(),
        })
    }

    fn priority(&self, job: &Job) -> crate::slots::Priority {
        (
            self.height.get(job).copied().unwrap_or(1),
            Reverse(job.name()),
        )
    }

    /// The dependents that `job` finishing makes ready.
    fn waiting_only_for(&self, job: &Job) -> Vec<Job> {
        self.dependents
            .get(job)
            .into_iter()
            .flatten()
            .filter(|d| self.waiting.get(*d) == Some(&1) && !self.blocked.contains(*d))
            .cloned()
            .collect()
    }

    fn pop_ready(&mut self) -> Option<Job> {
        self.ready.pop().map(|(_, Reverse(job))| job)
    }

    fn finished(&mut self, job: &Job) {
        for dependent in self.dependents.get(job).cloned().unwrap_or_default() {
            let n = self.waiting.get_mut(&dependent).expect("member");
            *n -= 1;
            if *n == 0 && !self.blocked.contains(&dependent) {
                self.ready.push((
                    self.height.get(&dependent).copied().unwrap_or(1),
                    Reverse(dependent),
                ));
            }
        }
    }

    /// Marks every transitive dependent blocked; returns the newly blocked, in order.
    fn block_dependents(&mut self, job: &Job) -> Vec<Job> {
        let mut newly = Vec::new();
        let mut stack = vec![job.clone()];
        while let Some(j) = stack.pop() {
            for dependent in self.dependents.get(&j).cloned().unwrap_or_default() {
                if self.blocked.insert(dependent.clone()) {
                    newly.push(dependent.clone());
                    stack.push(dependent);
                }
            }
        }
        newly
    }
}
