//! The commands that run builds: `up`, `rebuild` and `gc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use factory_engine::{
    Change, ChangeReason, Engine, FirstWave, JobGraph, Observer, Settings, Stop, StopReason, Watch,
    WaveReport, stamp,
};
use factory_exec::Sandbox;
use factory_types::{Fault, HasFault, Job};

use crate::cmd::import::load_definition;
use crate::cmd::progress::Progress;

/// Options shared by the commands that run builds.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
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
pub(crate) struct UpArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Bring everything up to date (resuming interrupted waves) and exit instead of watching.
    #[arg(long)]
    pub once: bool,
    /// How often to look at sources that cannot be watched (seconds).
    #[arg(long, default_value_t = 60)]
    pub poll_interval: u64,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub bus: crate::cmd::bus::BusArgs,
}

/// How the factory serves its API and dashboard.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to serve HTTP on (port 0 picks a free one). `up` serves unless `--once` or
    /// `--no-listen`; the address is printed at start.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve nothing.
    #[arg(long, conflicts_with = "listen")]
    pub no_listen: bool,
    /// Reads need a token too (by default only changes do).
    #[arg(long)]
    pub read_token_required: bool,
    /// A file holding the secret of GitHub's (or Forgejo's, Gitea's) webhook; pushes to
    /// /api/v1/hooks/github are refused without it.
    #[arg(long, value_name = "FILE", env = "FACTORY_GITHUB_SECRET_FILE")]
    pub github_secret_file: Option<PathBuf>,
    /// A file holding the token of GitLab's webhook (/api/v1/hooks/gitlab).
    #[arg(long, value_name = "FILE", env = "FACTORY_GITLAB_TOKEN_FILE")]
    pub gitlab_token_file: Option<PathBuf>,
}

/// Where `up` and `demo --serve` listen unless told.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServeArgs {
    /// The address to serve on: the one given, else the default unless `quiet_default`
    /// (`up --once` serves only when asked).
    pub(crate) fn address(&self, quiet_default: bool) -> Option<std::net::SocketAddr> {
        if self.no_listen {
            return None;
        }
        match self.listen {
            Some(addr) => Some(addr),
            None if quiet_default => None,
            None => Some(DEFAULT_LISTEN.parse().expect("a valid address")),
        }
    }
}

/// A secret from its file (surrounding whitespace is not part of it); an empty file is a
/// mistake, not an empty secret.
fn read_secret(path: Option<&Path>) -> Result<Option<String>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = fs_err::read_to_string(path)?;
    let secret = text.trim();
    if secret.is_empty() {
        bail!(
            "{} is empty: write the webhook's secret in it",
            path.display()
        );
    }
    Ok(Some(secret.to_owned()))
}

/// A server bound and serving on the runtime until `stop` is cancelled.
pub(crate) struct Serving {
    task: tokio::task::JoinHandle<Result<(), factory_server::ServerError>>,
    stop: tokio_util::sync::CancellationToken,
    /// The server's own runtime: one worker thread beside the engine's, so that serving (a
    /// thousand live stream clients, say) never takes the thread the builds are driven on.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Serving {
    /// Binds and starts serving; prints the address (on stderr, with the other notes).
    pub(crate) async fn start(
        args: &ServeArgs,
        addr: std::net::SocketAddr,
        services: factory_server::Services,
    ) -> Result<Serving> {
        let mut config = factory_server::ServerConfig::new(addr);
        config.read_token_required = args.read_token_required;
        config.webhooks = factory_server::WebhookSecrets {
            github: read_secret(args.github_secret_file.as_deref())?,
            gitlab: read_secret(args.gitlab_token_file.as_deref())?,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("factory-http")
            .enable_all()
            .build()
            .context("cannot start the HTTP server's thread")?;
        // Bound on its own runtime, so the listener and the hub's follower live there.
        let bound = runtime
            .spawn(factory_server::Server::bind(config, services))
            .await;
        let server = match bound {
            Ok(Ok(server)) => server,
            failed => {
                // Not dropped here: a runtime may not be dropped inside the engine's.
                runtime.shutdown_background();
                return Err(match failed {
                    Ok(Err(e)) => anyhow::Error::from(e),
                    _ => anyhow::anyhow!("the HTTP server panicked while binding"),
                });
            }
        };
        eprintln!(
            "serving http://{}/ (API at /api/v1, events at /api/v1/events/stream)",
            server.local_addr()
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let task = runtime.spawn(server.serve(stop.clone()));
        Ok(Serving {
            task,
            stop,
            runtime: Some(runtime),
        })
    }

    /// Stops serving and waits for the requests in flight.
    pub(crate) async fn stop(mut self) -> Result<()> {
        self.stop.cancel();
        let served = (&mut self.task).await;
        served.context("the HTTP server panicked")??;
        Ok(())
    }

    /// Serves until Ctrl-C.
    pub(crate) async fn until_ctrl_c(self) -> Result<()> {
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        self.stop().await
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // A runtime may not be dropped where blocking is not allowed (inside the engine's);
        // its tasks are done or abandoned by now, so nothing is waited for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Builds that failed or were blocked, counted by whose fault it was.
#[derive(Debug, thiserror::Error)]
#[error("{} build(s) failed or blocked", .own + .infrastructure)]
pub(crate) struct BuildsFailed {
    own: usize,
    infrastructure: usize,
}

impl BuildsFailed {
    /// `Err` when any build of the wave failed: scripts and CI must see that the factory is
    /// not all built.
    fn check(report: &WaveReport) -> Result<(), BuildsFailed> {
        let (own, infrastructure) = report.failures();
        if own + infrastructure == 0 {
            return Ok(());
        }
        Err(BuildsFailed {
            own,
            infrastructure,
        })
    }
}

impl HasFault for BuildsFailed {
    /// A build's own failure is the input's; when the machine failed every one, retrying
    /// later may help.
    fn fault(&self) -> Fault {
        if self.own > 0 {
            Fault::Input
        } else {
            Fault::Environment
        }
    }
}

/// One thread runs the engine's tasks; blocking work (hashing, tar, file trees) goes to
/// tokio's blocking pool and SQLite to its own threads, as with any runtime. With several
/// runtime threads, each build's few wakeups moved it from thread to thread: measured on
/// 3,000 trivial jobs at `-j 2`, one thread took 4% less wall time and CPU.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The sandbox builds run in: bubblewrap unless `--no-sandbox` or unavailable (said loudly).
pub(crate) async fn sandbox_for(run: &RunArgs) -> Sandbox {
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

/// Opens the store and an engine on it.
pub(crate) async fn engine(
    store_dir: &Path,
    run: &RunArgs,
    observer: Arc<dyn Observer>,
) -> Result<Engine> {
    let sandbox = sandbox_for(run).await;
    engine_with(store_dir, run, sandbox, observer).await
}

async fn engine_with(
    store_dir: &Path,
    run: &RunArgs,
    sandbox: Sandbox,
    observer: Arc<dyn Observer>,
) -> Result<Engine> {
    let store = factory_store::Store::open(store_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", store_dir.display()))?;
    let mut settings = Settings::default();
    if let Some(jobs) = run.jobs {
        settings.jobs = jobs.max(1);
    }
    Ok(Engine::new(store, sandbox, settings, observer))
}

/// The definition in `dir`, loaded and planned. Builds run in directories of their own, so
/// a relative definition path is made absolute first: its sources must still be found.
pub(crate) fn load_graph(dir: &Path) -> Result<Arc<JobGraph>> {
    let def = load_definition(&std::path::absolute(dir)?)?;
    Ok(Arc::new(JobGraph::new(Arc::new(def))?))
}

pub(crate) async fn up(store_dir: &Path, args: &UpArgs) -> Result<()> {
    let root = std::path::absolute(&args.run.definition)?;
    let sandbox = sandbox_for(&args.run).await;
    // Taken before anything is read, so a change made while the wave runs is not missed.
    let fingerprint = stamp::fingerprint(&root, &factory_exec::local::platform(&sandbox)).ok();
    // With a bus, events from before may still wait to be published: open the store.
    if args.once
        && args.bus.amqp.is_none()
        && let Some(fingerprint) = &fingerprint
        && let Some(stamp) = stamp::fresh(store_dir, fingerprint)
    {
        println!(
            "up to date: definition, sources and environment unchanged since wave w{}; \
             all {} job outputs present",
            stamp.wave, stamp.jobs
        );
        return Ok(());
    }
    let graph = load_graph(&root)?;
    let sources = stamp::sign_local_dirs(graph.def()).ok();
    let engine = engine_with(store_dir, &args.run, sandbox.clone(), Progress::new()).await?;
    let (control, port) = factory_engine::control(graph.clone(), engine.slots());
    let hooks = crate::cmd::hooks::start(&engine, &control, sandbox).await?;
    let relay = crate::cmd::bus::Publishing::start(&args.bus, engine.store()).await?;
    let serving = match args.serve.address(args.once) {
        Some(addr) => {
            let services = factory_server::Services {
                store: engine.store().clone(),
                control: Some(control),
                graph: None,
                relay: relay.as_ref().map(crate::cmd::bus::Publishing::status),
                // The releaser joins when the release side is wired into `up`.
                releases: None,
            };
            Some(Serving::start(&args.serve, addr, services).await?)
        }
        None => None,
    };
    let shutdown = stop_on_ctrl_c();
    let stamp = fingerprint.zip(sources);
    let result = run_up(
        &engine, graph, root, store_dir, args, port, stamp, &shutdown,
    )
    .await;
    crate::cmd::hooks::stop(hooks, &engine, args.once, &shutdown).await;
    if let Some(relay) = relay {
        relay.stop().await;
    }
    if let Some(serving) = serving {
        serving.stop().await?;
    }
    result
}

/// `up` after the engine (and the server) started: resume, bring everything up to date,
/// then watch unless `--once`.
#[allow(clippy::too_many_arguments)]
async fn run_up(
    engine: &Engine,
    graph: Arc<JobGraph>,
    root: PathBuf,
    store_dir: &Path,
    args: &UpArgs,
    port: factory_engine::ControlPort,
    stamp: Option<(String, Vec<(PathBuf, String)>)>,
    shutdown: &Stop,
) -> Result<()> {
    engine.resume(&graph, shutdown.clone()).await?;
    if shutdown.is_stopped() {
        return stopped();
    }
    let all = Change {
        jobs: graph.jobs().to_vec(),
        reason: ChangeReason::Reconcile,
    };
    if args.once {
        let report = engine.run_change(&graph, all, shutdown.clone()).await?;
        if shutdown.is_stopped() {
            return stopped();
        }
        if let Some((fingerprint, sources)) = stamp {
            engine
                .record_up_to_date(&graph, fingerprint, sources, &report)
                .await?;
        }
        return Ok(BuildsFailed::check(&report)?);
    }
    let watch = Watch {
        root,
        store: std::path::absolute(store_dir)?,
        poll_interval: Duration::from_secs(args.poll_interval.max(1)),
        first: Some(FirstWave { change: all, stamp }),
    };
    engine
        .watch_with(graph, watch, Some(port), shutdown.clone())
        .await?;
    if shutdown.is_stopped() {
        return stopped();
    }
    Ok(())
}

/// A stop that Ctrl-C triggers.
fn stop_on_ctrl_c() -> Stop {
    let shutdown = Stop::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.stop(StopReason::Shutdown);
        }
    });
    shutdown
}

fn stopped() -> Result<()> {
    eprintln!(
        "stopped: running builds were killed; the interrupted wave resumes on the next `factory up`"
    );
    Ok(())
}

pub(crate) async fn rebuild(store_dir: &Path, run: &RunArgs, names: &[String]) -> Result<()> {
    let graph = load_graph(&run.definition)?;
    let jobs: Vec<Job> = names
        .iter()
        .map(|n| job_named(&graph, n))
        .collect::<Result<_>>()?;
    let engine = engine(store_dir, run, Progress::new()).await?;
    let change = Change {
        jobs,
        reason: ChangeReason::Manual,
    };
    let report = engine.run_change(&graph, change, Stop::new()).await?;
    Ok(BuildsFailed::check(&report)?)
}

/// A component name, an image name, or `image:NAME`.
fn job_named(graph: &JobGraph, name: &str) -> Result<Job> {
    let job = Job::parse(name);
    if graph.contains(&job) {
        return Ok(job);
    }
    if graph.contains(&Job::Image(name.to_owned())) {
        return Ok(Job::Image(name.to_owned()));
    }
    let suggestion = graph
        .jobs()
        .iter()
        .map(Job::name)
        .min_by_key(|k| strsim::levenshtein(k, name))
        .map(|k| format!(" — did you mean `{k}`?"))
        .unwrap_or_default();
    bail!("unknown component or image `{name}`{suggestion}")
}

pub(crate) async fn gc(store_dir: &Path) -> Result<()> {
    crate::cmd::views::open_store(store_dir).await?;
    let run = RunArgs {
        definition: ".".into(),
        jobs: None,
        no_sandbox: true,
    };
    let engine = engine(store_dir, &run, Arc::new(factory_engine::Quiet)).await?;
    let (report, trees) = engine.gc().await?;
    println!(
        "removed {} blob(s) ({} bytes) and {trees} materialised tree(s); kept {} blob(s) ({} bytes)",
        report.removed, report.bytes_freed, report.kept, report.bytes_kept
    );
    Ok(())
}

/// The output trees of every job's latest usable build, by job name (for export).
pub(crate) async fn latest_outputs(
    engine: &Engine,
    graph: &JobGraph,
) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for job in graph.jobs() {
        if let Some((digest, _)) = engine.usable_output(&job.name()).await? {
            out.insert(job.name(), engine.materialise(&digest).await?);
        }
    }
    Ok(out)
}
