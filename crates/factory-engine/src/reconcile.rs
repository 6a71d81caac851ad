//! The loop `factory up` runs after bringing everything up to date: it watches the
//! definition directory and the local sources, polls the git sources, and turns what moved
//! into changes. A change that arrives while a wave runs supersedes only the builds it
//! makes outdated; the rest of the wave goes on, and the next wave builds the change.
//! The CLI and the server drive this same loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use factory_def::{Definition, Source};
use factory_store::WaveId;
use factory_types::{Job, blocking};
use notify::Watcher as _;
use tokio::sync::{mpsc, oneshot};

use crate::control::{ControlError, ControlPort, RebuildAccepted, Request};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::plan::JobGraph;
use crate::stop::{Stop, StopReason};
use crate::wave::{Change, ChangeReason};

/// What the loop watches.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The definition directory (with the local sources below it).
    pub root: PathBuf,
    /// The store's directory: changes there are the factory's own.
    pub store: PathBuf,
    /// How often git sources are asked whether their revision moved.
    pub poll_interval: Duration,
    /// A wave to run first, before watching (`factory up` brings everything up to date
    /// this way, so the server can already steer that wave).
    pub first: Option<FirstWave>,
}

/// The loop's first wave and, if it completes, the up-to-date stamp to record for it.
#[derive(Debug, Clone)]
pub struct FirstWave {
    pub change: Change,
    /// The fingerprint and signed source directories taken before anything was read (see
    /// [`crate::stamp`]).
    pub stamp: Option<(String, Vec<(PathBuf, String)>)>,
}

type RebuildReply = oneshot::Sender<Result<RebuildAccepted, ControlError>>;

/// The loop's state between waves.
struct Reconciler {
    engine: Engine,
    watch: Watch,
    graph: Arc<JobGraph>,
    events: mpsc::UnboundedReceiver<PathBuf>,
    known_commits: BTreeMap<String, String>,
    pending: Vec<Job>,
    reason: ChangeReason,
    port: Option<ControlPort>,
    /// Requesters of the pending change, told its wave once it is planned.
    waiting: Vec<RebuildReply>,
}

impl Engine {
    /// Watches and rebuilds until `shutdown` is stopped. Waves are reported to the
    /// engine's observer, like every wave.
    pub async fn watch(
        &self,
        graph: Arc<JobGraph>,
        watch: Watch,
        shutdown: Stop,
    ) -> Result<(), EngineError> {
        self.watch_with(graph, watch, None, shutdown).await
    }

    /// [`Engine::watch`], taking requests from a server through `port` (see
    /// [`crate::control`]).
    pub async fn watch_with(
        &self,
        graph: Arc<JobGraph>,
        mut watch: Watch,
        port: Option<ControlPort>,
        shutdown: Stop,
    ) -> Result<(), EngineError> {
        let (tx, events) = mpsc::unbounded_channel();
        let _watcher = watch_files(&watch.root, tx)?;
        let known_commits = poll_git(self, graph.def(), &BTreeMap::new()).await.1;
        let first = watch.first.take();
        let mut reconciler = Reconciler {
            engine: self.clone(),
            watch,
            graph,
            events,
            known_commits,
            pending: Vec::new(),
            reason: ChangeReason::SourceChanged,
            port,
            waiting: Vec::new(),
        };
        if let Some(first) = first {
            reconciler.run_first(first, &shutdown).await?;
            if shutdown.is_stopped() {
                return Ok(());
            }
        }
        let note = format!(
            "watching {} for changes; Ctrl-C stops",
            reconciler.watch.root.display()
        );
        self.observer().note(&note);
        reconciler.run(shutdown).await
    }
}

/// What woke the idle loop.
enum Woke {
    Path(Option<PathBuf>),
    Poll,
    Request(Request),
}

/// The next request from the server; never, without one (or once it is gone).
async fn next_request(port: &mut Option<ControlPort>) -> Request {
    if let Some(port) = port
        && let Some(request) = port.requests.recv().await
    {
        return request;
    }
    std::future::pending().await
}

/// Sends every path that changed below `root` (reads are not changes: builds and digests
/// open the sources).
fn watch_files(
    root: &Path,
    tx: mpsc::UnboundedSender<PathBuf>,
) -> Result<notify::RecommendedWatcher, EngineError> {
    let watch_err = |source| EngineError::Watch {
        path: root.to_path_buf(),
        source,
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !event.kind.is_access()
            && !event.kind.is_other()
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(watch_err)?;
    watcher
        .watch(root, notify::RecursiveMode::Recursive)
        .map_err(watch_err)?;
    Ok(watcher)
}

impl Reconciler {
    async fn run(&mut self, shutdown: Stop) -> Result<(), EngineError> {
        let mut poll = tokio::time::interval(self.watch.poll_interval.max(Duration::from_secs(1)));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        loop {
            let mut paths = Vec::new();
            let mut requested = false;
            if self.pending.is_empty() {
                let first = tokio::select! {
                    path = self.events.recv() => Woke::Path(path),
                    _ = poll.tick() => Woke::Poll,
                    request = next_request(&mut self.port) => Woke::Request(request),
                    () = shutdown.token().cancelled() => return Ok(()),
                };
                match first {
                    Woke::Path(Some(path)) => paths.push(path),
                    Woke::Path(None) => return Ok(()),
                    Woke::Poll => {
                        self.poll_git().await;
                        if self.pending.is_empty() {
                            continue;
                        }
                    }
                    Woke::Request(request) => {
                        requested = self.take_idle_request(request);
                        if !requested {
                            continue;
                        }
                    }
                }
            }
            // Gather a burst of file events (an editor's save is several) into one change;
            // someone who asked over the API is not kept waiting for that.
            if !requested {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            while let Ok(path) = self.events.try_recv() {
                paths.push(path);
            }
            self.take_paths(&paths).await?;
            let Some(change) = self.next_change() else {
                continue;
            };
            self.run_wave(change, &shutdown).await?;
            if shutdown.is_stopped() {
                return Ok(());
            }
        }
    }

    async fn poll_git(&mut self) {
        let (moved, now) = poll_git(&self.engine, self.graph.def(), &self.known_commits).await;
        self.known_commits = now;
        if !moved.is_empty() {
            self.reason = ChangeReason::SourceChanged;
            self.pending.extend(moved);
        }
    }

    /// The jobs the changed paths concern join the pending change; a changed definition is
    /// loaded (and, if it is invalid, said so and the previous one kept).
    async fn take_paths(&mut self, paths: &[PathBuf]) -> Result<Vec<Job>, EngineError> {
        let paths: Vec<PathBuf> = paths
            .iter()
            .filter(|p| !p.starts_with(&self.watch.store) && !is_hidden(&self.watch.root, p))
            .cloned()
            .collect();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let (jobs, why, new_def) =
            classify(&self.engine, &self.watch.root, self.graph.def(), &paths);
        if let Some(new_def) = new_def {
            match JobGraph::new(Arc::new(new_def)) {
                Ok(graph) => {
                    self.graph = Arc::new(graph);
                    if let Some(port) = &self.port {
                        port.graph.send_replace(self.graph.clone());
                    }
                }
                // A definition that loads is valid, so this is not expected; if it happens,
                // the loop keeps serving the previous definition rather than stopping.
                Err(error) => self.engine.observer().note(&format!(
                    "{error}; the changed definition cannot be planned; still running the previous one"
                )),
            }
        }
        if !jobs.is_empty() {
            self.reason = why;
        }
        self.pending.extend(jobs.iter().cloned());
        Ok(jobs)
    }

    /// The pending jobs as one change, if any still exists.
    fn next_change(&mut self) -> Option<Change> {
        self.pending.sort();
        self.pending.dedup();
        let graph = &self.graph;
        self.pending.retain(|j| graph.contains(j));
        if self.pending.is_empty() {
            return None;
        }
        Some(Change {
            jobs: std::mem::take(&mut self.pending),
            reason: self.reason.clone(),
        })
    }

    /// Runs the first wave; on success records the up-to-date stamp it was given.
    async fn run_first(&mut self, first: FirstWave, shutdown: &Stop) -> Result<(), EngineError> {
        let report = self.run_wave(first.change, shutdown).await?;
        if let (Some(report), Some((fingerprint, sources))) = (report, first.stamp)
            && !shutdown.is_stopped()
        {
            self.engine
                .record_up_to_date(&self.graph, fingerprint, sources, &report)
                .await?;
        }
        Ok(())
    }

    /// A request that came while no wave runs: a rebuild becomes the pending change (true);
    /// a cancellation finds nothing to cancel.
    fn take_idle_request(&mut self, request: Request) -> bool {
        match request {
            Request::Rebuild { jobs, by, reply } => {
                if let Some(error) = self.unknown_job(&jobs) {
                    let _ = reply.send(Err(error));
                    return false;
                }
                self.reason = ChangeReason::Requested { by };
                self.pending.extend(jobs);
                self.waiting.push(reply);
                true
            }
            Request::CancelWave { wave, reply, .. } | Request::CancelJob { wave, reply, .. } => {
                let _ = reply.send(Err(ControlError::NotRunning { wave }));
                false
            }
        }
    }

    /// A request that came while `wave` runs.
    fn take_request_during(&mut self, request: Request, wave: WaveId, wave_stop: &Stop) {
        match request {
            Request::Rebuild { jobs, by, reply } => {
                if let Some(error) = self.unknown_job(&jobs) {
                    let _ = reply.send(Err(error));
                    return;
                }
                let outdated = self.graph.affected(&jobs);
                wave_stop.supersede(outdated, &format!("a rebuild requested by {by}"));
                self.reason = ChangeReason::Requested { by };
                self.pending.extend(jobs);
                let _ = reply.send(Ok(RebuildAccepted::Queued { behind: wave }));
            }
            Request::CancelWave { wave: w, by, reply } => {
                let answer = if w == wave {
                    wave_stop.stop(StopReason::Cancelled(by));
                    Ok(())
                } else {
                    Err(ControlError::NotRunning { wave: w })
                };
                let _ = reply.send(answer);
            }
            Request::CancelJob {
                wave: w,
                job,
                by,
                reply,
            } => {
                let answer = if w == wave {
                    wave_stop.cancel_jobs(self.graph.affected(std::slice::from_ref(&job)), &by);
                    Ok(())
                } else {
                    Err(ControlError::NotRunning { wave: w })
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn unknown_job(&self, jobs: &[Job]) -> Option<ControlError> {
        let unknown = jobs.iter().find(|j| !self.graph.contains(j))?;
        Some(ControlError::UnknownJob {
            job: unknown.name(),
        })
    }

    /// Runs one wave, taking what changes meanwhile: a newer change supersedes the builds it
    /// makes outdated (the changed jobs and what depends on them), and requests are served.
    /// `None` when the wave could not be planned (said to the observer; the loop goes on).
    async fn run_wave(
        &mut self,
        change: Change,
        shutdown: &Stop,
    ) -> Result<Option<crate::WaveReport>, EngineError> {
        let planned = match self.engine.plan_change(&self.graph, change).await {
            Ok(planned) => planned,
            Err(error) => {
                for reply in self.waiting.drain(..) {
                    let _ = reply.send(Err(ControlError::Gone));
                }
                return Err(error);
            }
        };
        let wave = planned.wave();
        for reply in self.waiting.drain(..) {
            let _ = reply.send(Ok(RebuildAccepted::Started(wave)));
        }
        self.tell_running(Some(wave));
        let wave_stop = Stop::new();
        let task = {
            let (engine, stop) = (self.engine.clone(), wave_stop.clone());
            tokio::spawn(async move { engine.run_planned(planned, stop).await })
        };
        tokio::pin!(task);
        // Once the wave is told to stop, the shutdown branch is left out: a cancelled token
        // is ready at every turn, and the loop would spin instead of waiting for the wave.
        let mut stopping = false;
        let result = loop {
            tokio::select! {
                result = &mut task => break result,
                () = shutdown.token().cancelled(), if !stopping => {
                    wave_stop.stop(StopReason::Shutdown);
                    stopping = true;
                }
                Some(path) = self.events.recv() => self.supersede(&path, &wave_stop).await?,
                request = next_request(&mut self.port) => {
                    self.take_request_during(request, wave, &wave_stop);
                }
            }
        };
        self.tell_running(None);
        let joined = result.map_err(|e| factory_types::TaskPanicked {
            what: "running a wave",
            message: e.to_string(),
        })?;
        joined.map(Some)
    }

    fn tell_running(&self, wave: Option<WaveId>) {
        if let Some(port) = &self.port {
            port.running.send_replace(wave);
        }
    }

    async fn supersede(&mut self, path: &Path, wave_stop: &Stop) -> Result<(), EngineError> {
        let jobs = self
            .take_paths(std::slice::from_ref(&path.to_path_buf()))
            .await?;
        if !jobs.is_empty() {
            let names: Vec<String> = jobs.iter().map(Job::name).collect();
            let outdated = self.graph.affected(&jobs);
            wave_stop.supersede(outdated, &format!("a newer change to {}", names.join(", ")));
        }
        Ok(())
    }
}

/// The commit each git source's revision names now, and the components whose commit moved
/// since `known`. A source that cannot be reached keeps its known commit.
async fn poll_git(
    engine: &Engine,
    def: &Definition,
    known: &BTreeMap<String, String>,
) -> (Vec<Job>, BTreeMap<String, String>) {
    let sources: Vec<(String, String, String)> = def
        .components
        .values()
        .filter_map(|c| match &c.source {
            Some(Source::Git { url, rev }) => Some((c.name.clone(), url.clone(), rev.clone())),
            _ => None,
        })
        .collect();
    let resolved = blocking("asking git remotes", move || {
        sources
            .into_iter()
            .map(|(name, url, rev)| (name, crate::source::git::resolve(&url, &rev)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut now = known.clone();
    let mut moved = Vec::new();
    for (name, commit) in resolved {
        match commit {
            Ok(commit) => {
                if known.get(&name).is_some_and(|old| *old != commit) {
                    moved.push(Job::Component(name.clone()));
                }
                now.insert(name, commit);
            }
            Err(error) => engine
                .observer()
                .note(&format!("polling the source of {name}: {error}")),
        }
    }
    (moved, now)
}

fn is_hidden(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root).is_ok_and(|rel| {
        rel.components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    })
}

/// Which jobs changed files concern, and why; a changed definition is reloaded.
fn classify(
    engine: &Engine,
    root: &Path,
    def: &Definition,
    paths: &[PathBuf],
) -> (Vec<Job>, ChangeReason, Option<Definition>) {
    let mut jobs = BTreeSet::new();
    let mut definition_touched = false;
    for path in paths {
        let mut in_source = false;
        for component in def.components.values() {
            let dir = component
                .source
                .as_ref()
                .and_then(|s| def.local_source_dir(s));
            if dir.is_some_and(|d| path.starts_with(d)) {
                jobs.insert(Job::Component(component.name.clone()));
                in_source = true;
            }
        }
        if !in_source && path.extension().is_some_and(|e| e == "toml") {
            definition_touched = true;
        }
    }
    if !definition_touched {
        return (
            jobs.into_iter().collect(),
            ChangeReason::SourceChanged,
            None,
        );
    }
    match factory_def::load(root) {
        Ok(new) => {
            jobs.extend(definition_changes(def, &new));
            let jobs = jobs.into_iter().collect();
            (jobs, ChangeReason::DefinitionChanged, Some(new))
        }
        Err(diagnostics) => {
            engine.observer().note(&format!(
                "{diagnostics}the changed definition is invalid; still running the previous one"
            ));
            (
                jobs.into_iter().collect(),
                ChangeReason::SourceChanged,
                None,
            )
        }
    }
}

/// Jobs whose definition differs (their component, kind or image).
fn definition_changes(old: &Definition, new: &Definition) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (name, component) in &new.components {
        let kind_changed = new.kind_of(component) != old.kind_of(component)
            || old
                .component(name)
                .is_none_or(|c| old.kind_of(c) != new.kind_of(component));
        let same = old.component(name).is_some_and(|c| {
            c.recipe == component.recipe
                && c.source == component.source
                && c.build_requires == component.build_requires
                && c.env == component.env
                && c.version == component.version
        });
        if !same || kind_changed {
            jobs.push(Job::Component(name.clone()));
        }
    }
    for (name, image) in &new.images {
        let same = old.image(name).is_some_and(|i| {
            i.packages == image.packages
                && i.components == image.components
                && i.base == image.base
                && i.entrypoint == image.entrypoint
                && i.cmd == image.cmd
                && i.env == image.env
                && i.labels == image.labels
        });
        if !same {
            jobs.push(Job::Image(name.clone()));
        }
    }
    jobs
}
