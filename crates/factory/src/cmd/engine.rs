//! The engine's commands: `up`, `status`, `log`, `events`, `rebuild`,
//! `explain` and `gc`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use factory_def::Definition;
use factory_engine::orchestrator::{BuildReport, Observer, differences};
use factory_engine::{
    Change, ChangeReason, Job, Orchestrator, Sandbox, Settings, Stop, StopReason, WaveReport,
    recipe, stamp,
};
use factory_store::{
    BuildId, BuildRecord, BuildState, CAS_DIR, Cas, Event, EventLog, Projections, RecordedEvent,
    Seq, Store, WaveId,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cmd::import::load_definition;

/// Options shared by the commands that run builds.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The definition directory.
    #[arg(long, default_value = ".")]
    pub definition: PathBuf,
    /// Builds run at the same time (default: the number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Run builds as plain processes even when bubblewrap works (for benchmarks).
    #[arg(long)]
    pub no_sandbox: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Bring everything up to date (resuming interrupted waves) and exit instead of watching.
    #[arg(long)]
    pub once: bool,
    /// How often to look at sources that cannot be watched (seconds).
    #[arg(long, default_value_t = 60)]
    pub poll_interval: u64,
}

/// One thread runs the engine's tasks; blocking work (hashing, tar, file trees) goes to
/// tokio's blocking pool and SQLite to its own threads, as with any runtime. With several
/// runtime threads, each build's few wakeups moved it from thread to thread: measured on
/// 3,000 trivial jobs at `-j 2`, one thread took 4% less wall time and CPU.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the store and an orchestrator on it.
pub async fn orchestrator(
    store_dir: &Path,
    run: &RunArgs,
    observer: Arc<dyn Observer>,
) -> Result<Orchestrator> {
    let sandbox = sandbox_for(run).await;
    orchestrator_with(store_dir, run, sandbox, observer).await
}

/// The sandbox builds run in: bubblewrap unless `--no-sandbox` or unavailable (said loudly).
pub async fn sandbox_for(run: &RunArgs) -> Sandbox {
    if run.no_sandbox {
        return Sandbox::plain();
    }
    let sandbox = Sandbox::detect().await;
    if !sandbox.is_isolated() {
        eprintln!(
            "WARNING: bubblewrap is missing or cannot create a sandbox here: builds run as plain \
             processes that can reach the network and write anywhere this user can \
             (apt-get install bubblewrap)"
        );
    }
    sandbox
}

pub async fn orchestrator_with(
    store_dir: &Path,
    run: &RunArgs,
    sandbox: Sandbox,
    observer: Arc<dyn Observer>,
) -> Result<Orchestrator> {
    let store = Store::open(store_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", store_dir.display()))?;
    let mut settings = Settings::default();
    if let Some(jobs) = run.jobs {
        settings.jobs = jobs.max(1);
    }
    Ok(Orchestrator::new(store, sandbox, settings, observer))
}

/// Progress bars, one per wave, with the builds running in its message.
pub struct Progress {
    bars: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
    running: Mutex<BTreeSet<String>>,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            bars: MultiProgress::new(),
            current: Mutex::new(None),
            running: Mutex::new(BTreeSet::new()),
        })
    }

    fn refresh(&self) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            let names: Vec<&str> = running.iter().map(String::as_str).collect();
            bar.set_message(names.join(" "));
        }
    }

    pub fn println(&self, line: &str) {
        let _ = self.bars.println(line);
    }
}

impl Observer for Progress {
    fn wave_planned(&self, wave: WaveId, jobs: &[String]) {
        let bar = self.bars.add(ProgressBar::new(jobs.len() as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("wave {wave}"));
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(old) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(bar)
        {
            old.finish();
        }
    }

    fn build_started(&self, job: &str) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.to_owned());
        self.refresh();
    }

    fn build_finished(&self, report: &BuildReport) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&report.job);
        if let Some(bar) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.inc(1);
        }
        if matches!(report.state, BuildState::Failed | BuildState::Blocked) {
            self.println(&format!(
                "{} {} {}: {}",
                report.build,
                report.job,
                report.state,
                report.detail.as_deref().unwrap_or("")
            ));
        }
        self.refresh();
    }
}

/// Prints one line per build of a wave.
pub fn print_wave(report: &WaveReport) {
    println!(
        "wave {}: {} job(s) affected, {} ran, {} ({:.2?})",
        report.wave,
        report.affected.len(),
        report.ran(),
        report.summary(),
        report.duration
    );
    for build in report.builds.iter().filter(|b| !b.up_to_date) {
        let took = build
            .duration
            .map(|d| format!(" in {d:.2?}"))
            .unwrap_or_default();
        println!(
            "  {:<6} {:<18} {:<10}{took}  — {}",
            build.build.to_string(),
            build.job,
            build.state.as_str(),
            build.reason
        );
        if let Some(detail) = &build.detail {
            println!("  {:<6} {:<18} {:<10}    {detail}", "", "", "");
        }
    }
    if let Some(stop) = &report.stopped {
        println!("  stopped: {stop:?}");
    }
}

pub fn up(store_dir: &Path, args: &UpArgs) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(up_async(store_dir, args))
}

async fn up_async(store_dir: &Path, args: &UpArgs) -> Result<()> {
    let root = std::path::absolute(&args.run.definition)?;
    let sandbox = sandbox_for(&args.run).await;
    // Taken before anything is read, so a change made while the wave runs is not missed.
    let fingerprint = stamp::fingerprint(&root, &recipe::environment_facts(&sandbox)).ok();
    if args.once
        && let Some(fingerprint) = &fingerprint
        && let Some(stamp) =
            stamp::fresh(store_dir, fingerprint, &Cas::at(&store_dir.join(CAS_DIR)))
    {
        println!(
            "up to date: definition, sources and environment unchanged since wave w{}; \
             all {} job outputs present",
            stamp.wave, stamp.jobs
        );
        return Ok(());
    }
    let mut def = Arc::new(load_definition(&root)?);
    let sources = stamp::sign_local_dirs(&def).ok();
    let progress = Progress::new();
    let orch = orchestrator_with(store_dir, &args.run, sandbox, progress.clone()).await?;
    let shutdown = Stop::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shutdown.stop(StopReason::Shutdown);
            }
        });
    }
    for report in orch.resume(def.clone(), shutdown.clone()).await? {
        print_wave(&report);
    }
    if shutdown.is_stopped() {
        return stopped();
    }
    let all = Orchestrator::all_jobs(&def);
    let report = orch
        .run_change(
            def.clone(),
            Change {
                jobs: all,
                reason: ChangeReason::Reconcile,
            },
            shutdown.clone(),
        )
        .await?;
    print_wave(&report);
    if shutdown.is_stopped() {
        return stopped();
    }
    if let (Some(fingerprint), Some(sources)) = (fingerprint, sources) {
        orch.record_up_to_date(&def, fingerprint, sources, &report)
            .await?;
    }
    if args.once {
        // As for `rebuild`: scripts and CI must see that the factory is not all built.
        let failed = report.count(BuildState::Failed) + report.count(BuildState::Blocked);
        if failed > 0 {
            bail!("{failed} build(s) failed or blocked");
        }
        return Ok(());
    }
    // Git sources cannot be watched: their revisions are polled.
    let mut known_commits = poll_git(&def, &BTreeMap::new()).await.1;
    let mut poll = tokio::time::interval(Duration::from_secs(args.poll_interval.max(1)));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reads (builds and digests open the sources) are not changes.
        if let Ok(event) = event
            && !event.kind.is_access()
            && !event.kind.is_other()
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .context("cannot watch the definition directory")?;
    use notify::Watcher as _;
    watcher
        .watch(&root, notify::RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", root.display()))?;
    let store_abs = std::path::absolute(store_dir)?;
    eprintln!("watching {} for changes; Ctrl-C stops", root.display());
    let mut pending: Vec<Job> = Vec::new();
    let mut reason = ChangeReason::SourceChanged;
    loop {
        let mut paths = Vec::new();
        if pending.is_empty() {
            let first = tokio::select! {
                path = rx.recv() => Some(path),
                _ = poll.tick() => None,
                () = shutdown.token().cancelled() => return stopped(),
            };
            match first {
                Some(Some(path)) => paths.push(path),
                Some(None) => break,
                None => {
                    let (moved, now) = poll_git(&def, &known_commits).await;
                    known_commits = now;
                    if moved.is_empty() {
                        continue;
                    }
                    reason = ChangeReason::SourceChanged;
                    pending.extend(moved);
                }
            }
        }
        // Gather a burst of file events (an editor's save is several) into one change.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(path) = rx.try_recv() {
            paths.push(path);
        }
        paths.retain(|p| !p.starts_with(&store_abs) && !is_hidden(&root, p));
        if !paths.is_empty() {
            let (jobs, why, new_def) = classify(&root, &def, &paths);
            if let Some(new_def) = new_def {
                def = Arc::new(new_def);
            }
            if !jobs.is_empty() {
                reason = why;
            }
            pending.extend(jobs);
        }
        pending.sort();
        pending.dedup();
        pending.retain(|j| j.exists_in(&def));
        if pending.is_empty() {
            continue;
        }
        let change = Change {
            jobs: std::mem::take(&mut pending),
            reason: reason.clone(),
        };
        let wave_stop = Stop::new();
        let wave = {
            let (orch, def, change, wave_stop) =
                (orch.clone(), def.clone(), change.clone(), wave_stop.clone());
            tokio::spawn(async move { orch.run_change(def, change, wave_stop).await })
        };
        tokio::pin!(wave);
        // Once the wave is told to stop, the shutdown branch is left out: a cancelled token
        // is ready at every turn, and the loop would spin instead of waiting for the wave.
        let mut stopping = false;
        // A newer change while the wave runs supersedes the builds it makes outdated (the
        // changed jobs and what depends on them); the rest of the wave goes on, and the
        // next wave builds the newer change.
        let result = loop {
            tokio::select! {
                result = &mut wave => break result,
                () = shutdown.token().cancelled(), if !stopping => {
                    wave_stop.stop(StopReason::Shutdown);
                    stopping = true;
                }
                Some(path) = rx.recv() => {
                    if !path.starts_with(&store_abs) && !is_hidden(&root, &path) {
                        let (jobs, why, new_def) = classify(&root, &def, std::slice::from_ref(&path));
                        if let Some(new_def) = new_def {
                            def = Arc::new(new_def);
                        }
                        if !jobs.is_empty() {
                            let names: Vec<String> = jobs.iter().map(Job::name).collect();
                            let outdated = factory_engine::orchestrator::affected_jobs(&def, &jobs);
                            wave_stop.supersede(outdated, &format!("a newer change to {}", names.join(", ")));
                            pending.extend(jobs);
                            reason = why;
                        }
                    }
                }
            }
        };
        let report = result.context("wave task failed")??;
        print_wave(&report);
        if shutdown.is_stopped() {
            return stopped();
        }
    }
    Ok(())
}

/// The commit each git source's revision names now, and the components whose commit
/// moved since `known`. A source that cannot be reached keeps its known commit.
async fn poll_git(
    def: &Definition,
    known: &BTreeMap<String, String>,
) -> (Vec<Job>, BTreeMap<String, String>) {
    let sources: Vec<(String, String, String)> = def
        .components
        .values()
        .filter_map(|c| match &c.source {
            Some(factory_def::Source::Git { url, rev }) => {
                Some((c.name.clone(), url.clone(), rev.clone()))
            }
            _ => None,
        })
        .collect();
    let resolved = tokio::task::spawn_blocking(move || {
        sources
            .into_iter()
            .map(|(name, url, rev)| (name, factory_engine::fetch::resolve(&url, &rev)))
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
            Err(error) => eprintln!("polling the source of {name}: {error}"),
        }
    }
    (moved, now)
}

fn stopped() -> Result<()> {
    eprintln!(
        "stopped: running builds were killed; the interrupted wave resumes on the next `factory up`"
    );
    Ok(())
}

fn is_hidden(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root).is_ok_and(|rel| {
        rel.components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    })
}

/// Which jobs changed files concern, and why; a changed definition is reloaded.
fn classify(
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
            (
                jobs.into_iter().collect(),
                ChangeReason::DefinitionChanged,
                Some(new),
            )
        }
        Err(diagnostics) => {
            eprintln!(
                "{diagnostics}the changed definition is invalid; still running the previous one"
            );
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

pub fn rebuild(store_dir: &Path, run: &RunArgs, names: &[String]) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let def = Arc::new(load_definition(&run.definition)?);
        let jobs: Vec<Job> = names
            .iter()
            .map(|n| job_named(&def, n))
            .collect::<Result<_>>()?;
        let orch = orchestrator(store_dir, run, Progress::new()).await?;
        let stop = Stop::new();
        let report = orch
            .run_change(
                def,
                Change {
                    jobs,
                    reason: ChangeReason::Manual,
                },
                stop,
            )
            .await?;
        print_wave(&report);
        let failed = report.count(BuildState::Failed) + report.count(BuildState::Blocked);
        if failed > 0 {
            bail!("{failed} build(s) failed or blocked");
        }
        Ok(())
    })
}

/// A component name, an image name, or `image:NAME`.
fn job_named(def: &Definition, name: &str) -> Result<Job> {
    let job = Job::parse(name);
    if job.exists_in(def) {
        return Ok(job);
    }
    if def.images.contains_key(name) {
        return Ok(Job::Image(name.to_owned()));
    }
    let known: Vec<String> = Orchestrator::all_jobs(def).iter().map(Job::name).collect();
    let suggestion = known
        .iter()
        .min_by_key(|k| strsim::levenshtein(k, name))
        .map(|k| format!(" — did you mean `{k}`?"))
        .unwrap_or_default();
    bail!("unknown component or image `{name}`{suggestion}")
}

async fn open_store(store_dir: &Path) -> Result<Store> {
    if !store_dir.join(factory_store::DATABASE_FILE).exists() {
        bail!(
            "no factory store in {}: run `factory up` (or `factory demo --dir D`) first, or pass --store",
            store_dir.display()
        );
    }
    Store::open(store_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", store_dir.display()))
}

pub fn status(store_dir: &Path) -> Result<()> {
    runtime()?.block_on(async {
        let store = open_store(store_dir).await?;
        let db = store.db();
        println!("recent waves:");
        for wave in db.recent_waves(5).await? {
            println!(
                "  {:<7} {:<9} {} — {}",
                wave.id.to_string(),
                format!("{:?}", wave.state).to_lowercase(),
                wave.trigger,
                wave.summary.as_deref().unwrap_or("running")
            );
        }
        println!("components:");
        for record in db.components().await? {
            let name = &record.name;
            let latest = record
                .latest_build
                .as_ref()
                .map(|b| format!("{} {}", b.id, b.state))
                .unwrap_or_else(|| "never built".into());
            let usable = record
                .latest_success
                .as_ref()
                .map(|b| format!("usable: {} ({})", b.id, short_key(&b.key.0)))
                .unwrap_or_else(|| "no usable output".into());
            let revision = record
                .revision
                .as_deref()
                .map(|r| format!(" source {}", short_key(r)))
                .unwrap_or_default();
            println!("  {name:<20} {latest:<16} {usable}{revision}");
        }
        Ok(())
    })
}

fn short_key(key: &str) -> String {
    key.chars().take(12).collect()
}

/// `b12`, `12` or a prefix (at least 6 hex digits) of a build key.
async fn find_build(store: &Store, text: &str) -> Result<BuildRecord> {
    let db = store.db();
    let number = text.strip_prefix('b').unwrap_or(text);
    if let Ok(id) = number.parse::<u64>()
        && let Some(build) = db.build(BuildId(id)).await?
    {
        return Ok(build);
    }
    if text.len() >= 6 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut found: Vec<BuildRecord> = Vec::new();
        for name in db.component_names().await? {
            found.extend(
                db.builds_of_component(&name)
                    .await?
                    .into_iter()
                    .filter(|b| b.key.0.starts_with(text)),
            );
        }
        // Several builds can share a key (reuse): the one that ran is the interesting one.
        found.sort_by_key(|b| (b.state != BuildState::Succeeded, b.id));
        if let Some(build) = found.into_iter().next() {
            return Ok(build);
        }
    }
    bail!(
        "no build `{text}`: give a build number (b12) or a build key prefix; `factory status` lists builds"
    )
}

pub fn log(store_dir: &Path, build: &str, follow: bool) -> Result<()> {
    runtime()?.block_on(async {
        let store = open_store(store_dir).await?;
        let record = find_build(&store, build).await?;
        let mut after = Seq(0);
        loop {
            let chunks = store.db().build_log(record.id, after).await?;
            for chunk in &chunks {
                print!("{}", chunk.chunk);
                after = chunk.seq;
            }
            if !follow {
                break;
            }
            let now = store.db().build(record.id).await?;
            if chunks.is_empty() && now.is_none_or(|b| !b.state.is_unfinished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    })
}

pub fn events(store_dir: &Path, follow: bool, after: u64) -> Result<()> {
    runtime()?.block_on(async {
        let store = open_store(store_dir).await?;
        let db = store.db().clone();
        let mut follower = db.follow(Seq(after));
        loop {
            let batch = if follow {
                vec![follower.next().await?]
            } else {
                follower.next_available().await?
            };
            if batch.is_empty() {
                break;
            }
            for event in &batch {
                println!("{}", describe_event(event));
            }
        }
        Ok(())
    })
}

/// One line per event: sequence number, type, the essentials.
pub fn describe_event(recorded: &RecordedEvent) -> String {
    let what = match &recorded.event {
        Event::ChangeDetected {
            component, reason, ..
        } => format!("{component}: {reason}"),
        Event::WavePlanned {
            trigger, affected, ..
        } => {
            format!("{} job(s): {trigger}", affected.len())
        }
        Event::WaveFinished { wave, summary } => format!("{wave}: {summary}"),
        Event::BuildQueued {
            wave,
            component,
            key,
            reason,
            ..
        } => format!(
            "{component} key {} in {}: {reason}",
            short_key(&key.0),
            wave.map(|w| w.to_string()).unwrap_or_default()
        ),
        Event::BuildBlocked { build, reason, .. } => format!("{build}: {reason}"),
        Event::BuildStarted { build, attempt } => format!("{build} attempt {attempt}"),
        Event::BuildLog { build, chunk, .. } => format!("{build} | {}", chunk.trim_end()),
        Event::BuildSucceeded { build, outputs } => format!(
            "{build}: {}",
            outputs
                .iter()
                .map(|o| format!("{} {}", o.name, o.digest))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::BuildFailed {
            build,
            reason,
            kind,
        } => {
            format!("{build} ({}): {reason}", kind.as_str())
        }
        Event::BuildCancelled { build, reason } => format!("{build}: {reason}"),
        Event::BuildReused { build, from } => format!("{build}: reuses {from}"),
        Event::BuildCutOff { build, reason, .. } => format!("{build}: {reason}"),
        Event::ArtifactStored {
            digest,
            name,
            build,
            ..
        } => format!(
            "{name} {digest}{}",
            build.map(|b| format!(" of {b}")).unwrap_or_default()
        ),
        other => other.kind().to_owned(),
    };
    format!("{:>6} {:<16} {what}", recorded.seq.0, recorded.event.kind())
}

pub fn explain(store_dir: &Path, build: &str) -> Result<()> {
    runtime()?.block_on(async {
        let store = open_store(store_dir).await?;
        let record = find_build(&store, build).await?;
        for line in explain_lines(&store, &record).await? {
            println!("{line}");
        }
        Ok(())
    })
}

/// Why a build ran: what differs from the previous build of the same component.
pub async fn explain_lines(store: &Store, record: &BuildRecord) -> Result<Vec<String>> {
    let db = store.db();
    let mut lines = vec![
        format!(
            "build {} of {} ({}), key {}",
            record.id, record.component, record.state, record.key
        ),
        format!("queued because: {}", record.reason),
    ];
    if let Some(detail) = &record.detail {
        lines.push(format!("outcome: {detail}"));
    }
    if let (BuildState::Reused, Some(from)) = (record.state, record.related.first()) {
        lines.push(format!(
            "did not run: its build key had already succeeded in {from}"
        ));
    }
    let history = db.builds_of_component(&record.component).await?;
    let previous = history
        .iter()
        .rev()
        .filter(|b| b.id < record.id && !b.key.0.is_empty())
        .find(|b| b.state.has_usable_outputs() || b.state == BuildState::Failed);
    match previous {
        None => lines.push("no earlier build of this component: first build".into()),
        Some(prev) if prev.key == record.key => lines.push(format!(
            "same build key as the previous build {} ({}): nothing changed",
            prev.id, prev.state
        )),
        Some(prev) => {
            lines.push(format!(
                "changed against the previous build {} ({}, key {}):",
                prev.id,
                prev.state,
                short_key(&prev.key.0)
            ));
            let diff = differences(&prev.inputs, &record.inputs);
            // A tarball source's revision is its sha256, which is also its source digest.
            let tarball = record.inputs.contains_key("source")
                && record.inputs.get("source") == record.inputs.get("revision");
            for line in diff {
                let line = match line.split_once(' ') {
                    Some(("revision", _)) if tarball => continue,
                    Some(("source", rest)) if tarball => {
                        format!("source revision (tarball sha256) {rest}")
                    }
                    Some(("source", rest)) => format!("source revision (tree digest) {rest}"),
                    Some(("recipe", rest)) => format!("recipe (kind commands, params, env) {rest}"),
                    _ => line,
                };
                lines.push(format!("  - {line}"));
            }
        }
    }
    Ok(lines)
}

pub fn gc(store_dir: &Path) -> Result<()> {
    runtime()?.block_on(async {
        open_store(store_dir).await?;
        let run = RunArgs { definition: ".".into(), jobs: None, no_sandbox: true };
        let orch = orchestrator(store_dir, &run, Arc::new(factory_engine::Quiet)).await?;
        let (report, trees) = orch.gc().await?;
        println!(
            "removed {} blob(s) ({} bytes) and {trees} materialised tree(s); kept {} blob(s) ({} bytes)",
            report.removed, report.bytes_freed, report.kept, report.bytes_kept
        );
        Ok(())
    })
}

/// The output trees of every job's latest usable build, by job name (for export).
pub async fn latest_outputs(
    orch: &Orchestrator,
    def: &Definition,
) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for job in Orchestrator::all_jobs(def) {
        let Some(build) = orch
            .store()
            .db()
            .latest_successful_build(&job.name())
            .await?
        else {
            continue;
        };
        if let Some(digest) = factory_engine::orchestrator::tree_digest(&build) {
            out.insert(job.name(), orch.materialise(&digest).await?);
        }
    }
    Ok(out)
}
