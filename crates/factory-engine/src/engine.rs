//! [`Engine`]: the one door to waves. A change gives the affected set (the job graph,
//! transitive mode), whose first events are recorded before the dispatcher runs it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use factory_exec::{Executor, LocalExecutor, Sandbox};
use factory_store::{BuildRecord, Digest, Event, GcReport, Seq, Store, WaveId};
use factory_types::{Clock, Job, blocking};

use crate::build::handover::InputState;
use crate::dispatch::driver::{WaveRun, drive};
use crate::error::{EngineError, io_err};
use crate::plan::JobGraph;
use crate::recipe::RecipeError;
use crate::slots::Slots;
use crate::stop::Stop;
use crate::wave::{Change, ChangeReason, Observer, WaveReport};
use crate::{resume, source, stamp};

/// Name of the output every build records: its output tree as a deterministic tar.
pub const TREE_OUTPUT: &str = "tree.tar";

/// Settings of an [`Engine`].
#[derive(Clone)]
pub struct Settings {
    /// Builds whose work runs at the same time.
    pub jobs: usize,
    /// Tries for what the environment broke (the first included).
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

impl Settings {
    /// Builds dispatched at once: `jobs` running plus as many preparing or finishing, so
    /// slots do not idle during bookkeeping (see [`crate::slots`] for how the longest chain
    /// still goes first).
    pub(crate) fn in_flight_limit(&self) -> usize {
        self.jobs.max(1) * 4
    }
}

/// What every task of every wave shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) executor: Arc<dyn Executor>,
    /// The executor's facts that go into every key.
    pub(crate) platform: BTreeMap<String, String>,
    pub(crate) settings: Settings,
    pub(crate) observer: Arc<dyn Observer>,
    /// One permit per build allowed to run its work at a time (`jobs`).
    pub(crate) slots: Slots,
    pub(crate) clock: Arc<dyn Clock>,
    /// Where remote sources are fetched to.
    pub(crate) sources: PathBuf,
}

/// A wave whose change and plan are recorded and whose builds have not started.
pub struct PlannedWave {
    graph: Arc<JobGraph>,
    wave: WaveId,
    set: Vec<Job>,
    outside: HashMap<Job, InputState>,
    change: Change,
}

impl PlannedWave {
    pub fn wave(&self) -> WaveId {
        self.wave
    }

    /// The jobs the wave builds (the affected set, with missing inputs added).
    pub fn jobs(&self) -> &[Job] {
        &self.set
    }
}

/// Runs waves. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    local: LocalExecutor,
}

impl Engine {
    /// An engine whose builds run on this machine, in `sandbox`. Scratch directories,
    /// materialised trees and fetched sources live below the store directory.
    pub fn new(
        store: Store,
        sandbox: Sandbox,
        settings: Settings,
        observer: Arc<dyn Observer>,
    ) -> Engine {
        let local = local_executor(&store, sandbox);
        let executor: Arc<dyn Executor> = Arc::new(local.clone());
        Engine::with_executor(store, local, executor, settings, observer)
    }

    /// An engine whose builds run on `executor`; `local` still materialises trees for
    /// whoever needs outputs as directories (exports, garbage collection).
    pub fn with_executor(
        store: Store,
        local: LocalExecutor,
        executor: Arc<dyn Executor>,
        settings: Settings,
        observer: Arc<dyn Observer>,
    ) -> Engine {
        let dir = absolute(store.dir());
        let shared = Shared {
            platform: executor.platform(),
            executor,
            slots: Slots::new(settings.jobs),
            settings,
            observer,
            clock: store.clock().clone(),
            sources: dir.join("sources"),
            store,
        };
        Engine {
            shared: Arc::new(shared),
            local,
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The builds whose work may run at once (`--jobs`).
    pub fn slots(&self) -> usize {
        self.shared.settings.jobs
    }

    /// The executor that runs builds on this machine.
    pub fn local(&self) -> &LocalExecutor {
        &self.local
    }

    /// The observer waves report to.
    pub fn observer(&self) -> &Arc<dyn Observer> {
        &self.shared.observer
    }

    /// Records the change, computes the affected set and runs it.
    pub async fn run_change(
        &self,
        graph: &Arc<JobGraph>,
        change: Change,
        stop: Stop,
    ) -> Result<WaveReport, EngineError> {
        let planned = self.plan_change(graph, change).await?;
        self.run_planned(planned, stop).await
    }

    /// Records the change and plans its wave (the first half of [`Engine::run_change`]):
    /// whoever asked for it learns the wave's id before its builds run.
    pub async fn plan_change(
        &self,
        graph: &Arc<JobGraph>,
        change: Change,
    ) -> Result<PlannedWave, EngineError> {
        for job in &change.jobs {
            if !graph.contains(job) {
                return Err(RecipeError::Unknown { job: job.name() }.into());
            }
        }
        let affected = graph.affected(&change.jobs);
        let revisions = {
            let (def, jobs) = (graph.def().clone(), change.jobs.clone());
            blocking("reading source revisions", move || {
                source::revisions(&def, &jobs)
            })
            .await?
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
        let (set, outside) = self.with_missing_inputs(graph, affected).await?;
        let names: Vec<String> = change.jobs.iter().map(Job::name).collect();
        events.push(Event::WavePlanned {
            trigger: format!("{}: {}", change.reason.describe(), names.join(", ")),
            affected: set.iter().map(Job::name).collect(),
            plan: graph.levels(&set),
        });
        let seqs = self.append_wave_start(events).await?;
        let wave = WaveId::from(*seqs.last().expect("at least the wave event"));
        Ok(PlannedWave {
            graph: graph.clone(),
            wave,
            set,
            outside,
            change,
        })
    }

    /// Runs a planned wave to its end (the second half of [`Engine::run_change`]).
    pub async fn run_planned(
        &self,
        planned: PlannedWave,
        stop: Stop,
    ) -> Result<WaveReport, EngineError> {
        let run = WaveRun {
            graph: planned.graph,
            wave: planned.wave,
            set: planned.set,
            outside: planned.outside,
            changed: planned.change.jobs.iter().cloned().collect(),
            reason: planned.change.reason,
            stop,
        };
        drive(self.shared.clone(), run).await
    }

    /// Appends the first events of a wave, removing the up-to-date stamp first (see
    /// [`crate::stamp`]).
    async fn append_wave_start(&self, events: Vec<Event>) -> Result<Vec<Seq>, EngineError> {
        let dir = self.shared.store.dir().to_path_buf();
        let lock = stamp::lock(&dir).map_err(io_err("locking the stamp in", &dir))?;
        stamp::invalidate(&dir, &lock).map_err(io_err("removing the stamp in", &dir))?;
        let seqs = self.shared.store.db().append(events).await?;
        drop(lock);
        Ok(seqs)
    }

    /// Finishes the waves a crash or kill left unfinished: their unfinished builds are
    /// cancelled and their affected sets run again in new waves (what already succeeded
    /// is reused by key, never run again).
    pub async fn resume(
        &self,
        graph: &Arc<JobGraph>,
        stop: Stop,
    ) -> Result<Vec<WaveReport>, EngineError> {
        let db = self.shared.store.db();
        let mut reports = Vec::new();
        for wave in db.unfinished_waves().await? {
            let builds = db.builds_of_wave(wave.id).await?;
            db.append(resume::closing_events(&wave, &builds)).await?;
            let (set, outside) = self
                .with_missing_inputs(graph, resume::jobs_to_resume(&wave, graph))
                .await?;
            let planned = Event::WavePlanned {
                trigger: ChangeReason::Resumed(wave.id).describe(),
                affected: set.iter().map(Job::name).collect(),
                plan: graph.levels(&set),
            };
            let seq = *self
                .append_wave_start(vec![planned])
                .await?
                .last()
                .expect("one event");
            let run = WaveRun {
                graph: graph.clone(),
                wave: WaveId::from(seq),
                set,
                outside,
                changed: BTreeSet::new(),
                reason: ChangeReason::Resumed(wave.id),
                stop: stop.clone(),
            };
            let report = drive(self.shared.clone(), run).await?;
            let stopped = report.stopped.is_some();
            reports.push(report);
            if stopped {
                break;
            }
        }
        Ok(reports)
    }

    /// Adds, to a fixpoint, every input of the set that has no usable build yet. Returns
    /// the set, and the inputs outside it with the usable outputs they were found with
    /// (what the wave's builds read from them).
    async fn with_missing_inputs(
        &self,
        graph: &JobGraph,
        jobs: Vec<Job>,
    ) -> Result<(Vec<Job>, HashMap<Job, InputState>), EngineError> {
        let mut set: BTreeSet<Job> = jobs.into_iter().collect();
        let mut outside: HashMap<Job, InputState> = HashMap::new();
        let mut todo: Vec<Job> = set.iter().cloned().collect();
        while let Some(job) = todo.pop() {
            for input in graph.inputs(&job)?.values() {
                if set.contains(input) || outside.contains_key(input) {
                    continue;
                }
                match self.usable_output(&input.name()).await? {
                    Some((digest, build)) => {
                        outside.insert(
                            input.clone(),
                            InputState::outside_the_wave(digest, build.id),
                        );
                    }
                    None => {
                        set.insert(input.clone());
                        todo.push(input.clone());
                    }
                }
            }
        }
        Ok((set.into_iter().collect(), outside))
    }

    /// The output digest and build of a job's latest usable build, if its tree is in the
    /// store.
    pub async fn usable_output(
        &self,
        job: &str,
    ) -> Result<Option<(Digest, BuildRecord)>, EngineError> {
        let store = &self.shared.store;
        let Some(build) = store.db().latest_successful_build(job).await? else {
            return Ok(None);
        };
        let Some(digest) = crate::tree_digest(&build) else {
            return Ok(None);
        };
        let present = store.contains(&digest).await?;
        Ok(present.then_some((digest, build)))
    }

    /// After a reconcile wave that left every job of the definition with usable outputs,
    /// records so in a stamp, unless anything happened since the wave ended. `fingerprint`
    /// and `sources` must have been taken before the definition was loaded and the wave
    /// ran. Returns whether the stamp was written.
    pub async fn record_up_to_date(
        &self,
        graph: &JobGraph,
        fingerprint: String,
        sources: Vec<(PathBuf, String)>,
        report: &WaveReport,
    ) -> Result<bool, EngineError> {
        let outputs: Option<Vec<Digest>> = report
            .builds
            .iter()
            .map(|b| b.output.filter(|_| b.state.has_usable_outputs()))
            .collect();
        let Some(outputs) = outputs else {
            return Ok(false);
        };
        let complete = report.stopped.is_none()
            && outputs.len() == graph.jobs().len()
            && !stamp::has_git_source(graph.def());
        let Some(finished) = report.finished.filter(|_| complete) else {
            return Ok(false);
        };
        let store = &self.shared.store;
        let dir = store.dir().to_path_buf();
        let lock = stamp::lock(&dir).map_err(io_err("locking the stamp in", &dir))?;
        if store.db().last_seq().await? != finished {
            return Ok(false);
        }
        let (files, inline) = store.locate(&outputs).await?;
        if files.len() + inline.len() != outputs.len() {
            return Ok(false);
        }
        stamp::Stamp::new(&dir, fingerprint, report.wave.0, sources, files, inline)
            .and_then(|stamp| stamp.write(&dir, &lock))
            .map_err(io_err("writing the stamp in", &dir))?;
        Ok(true)
    }

    /// The directory holding the tree with this digest, extracted from the store once.
    pub async fn materialise(&self, digest: &Digest) -> Result<PathBuf, EngineError> {
        self.local
            .materialise(digest)
            .await
            .map_err(|e| EngineError::Io {
                action: "materialising",
                path: self.local.trees().path_of(digest),
                source: std::io::Error::other(e),
            })
    }

    /// Removes materialised trees that are no longer live, then unreferenced blobs.
    /// Returns what the blob store did and how many trees went.
    pub async fn gc(&self) -> Result<(GcReport, usize), EngineError> {
        let store = &self.shared.store;
        let db = store.db();
        // A build stores its outputs before the event that makes them live: while builds
        // run (in this process or another), blobs younger than the oldest of them stay.
        let oldest_running = db
            .unfinished_builds()
            .await?
            .iter()
            .map(|b| b.queued_at_ms)
            .min();
        let now_ms = self.shared.clock.wall_ms();
        let min_age = oldest_running.map_or(Duration::ZERO, |queued_ms| {
            Duration::from_millis(now_ms.saturating_sub(queued_ms).max(0) as u64)
                + Duration::from_secs(1)
        });
        let live: HashSet<Digest> = db.live_digests().await?;
        let trees = self.local.trees().clone();
        let busy = oldest_running.is_some();
        let removed = blocking("collecting trees", move || trees.collect(&live, busy)).await?;
        let report = store.gc(min_age).await?;
        Ok((report, removed))
    }
}

/// The local executor on a store: builds below `STORE/scratch`, trees in `STORE/trees`.
pub fn local_executor(store: &Store, sandbox: Sandbox) -> LocalExecutor {
    // Builds run in their own directories: a relative store path would point elsewhere.
    let dir = absolute(store.dir());
    let blobs: Arc<dyn factory_types::BlobStore> = Arc::new(store.clone());
    LocalExecutor::new(sandbox, dir.join("scratch"), dir.join("trees"), blobs)
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}
