//! A second executor, with scripted outcomes, drives whole waves through the real
//! dispatcher and store: nothing runs, so what is tested is the engine's side of the work
//! boundary (retries by fault, blocked dependents, reuse, keys the worker is given).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events;
use factory_engine::{Change, ChangeReason, Engine, JobGraph, Quiet, Settings, Stop, WaveReport};
use factory_exec::{
    Attempt, ExecError, Executor, InfraError, Sandbox, TreeBlob, WorkItem, WorkResult,
};
use factory_store::{BuildState, Event, FailureKind, Store};
use factory_types::{BlobStore, BoxFuture, BuildKey, LogStream};

/// What an attempt at a job does: succeed with these output bytes, or fail.
#[derive(Clone)]
enum Outcome {
    Output(&'static str),
    /// The environment failed (a sandbox that cannot start): retried.
    Broken,
    /// The build's own failure: not retried.
    Fails,
}

/// Outcomes by job, one per attempt in order (the last repeats); and what it was given.
#[derive(Default)]
struct Script {
    outcomes: HashMap<String, Vec<Outcome>>,
    attempts: HashMap<String, usize>,
    keys: HashMap<String, Vec<BuildKey>>,
}

#[derive(Clone)]
struct ScriptedExecutor {
    script: Arc<Mutex<Script>>,
    blobs: Arc<dyn BlobStore>,
}

impl ScriptedExecutor {
    fn next(&self, item: &WorkItem) -> Outcome {
        let mut script = self.script.lock().unwrap();
        script
            .keys
            .entry(item.name.clone())
            .or_default()
            .push(item.key);
        let n = script.attempts.entry(item.name.clone()).or_default();
        *n += 1;
        let n = *n;
        let outcomes = &script.outcomes[&item.name];
        outcomes[(n - 1).min(outcomes.len() - 1)].clone()
    }

    fn attempts(&self, job: &str) -> usize {
        self.script
            .lock()
            .unwrap()
            .attempts
            .get(job)
            .copied()
            .unwrap_or(0)
    }
}

impl Executor for ScriptedExecutor {
    fn platform(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("executor".to_owned(), "scripted".to_owned())])
    }

    fn attempt(&self, item: WorkItem) -> Box<dyn Attempt> {
        let outcome = self.next(&item);
        Box::new(ScriptedAttempt {
            outcome,
            blobs: self.blobs.clone(),
        })
    }
}

struct ScriptedAttempt {
    outcome: Outcome,
    blobs: Arc<dyn BlobStore>,
}

impl Attempt for ScriptedAttempt {
    fn prepare(&mut self) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async { Ok(()) })
    }

    fn execute(
        &mut self,
        _cancel: factory_exec::CancellationToken,
        log: Arc<dyn factory_exec::LogSink>,
    ) -> BoxFuture<'_, Result<(), ExecError>> {
        log.line(&factory_exec::LogLine {
            command: 0,
            stream: LogStream::Stdout,
            text: "scripted".into(),
            elapsed: Duration::ZERO,
        });
        let result = match self.outcome {
            Outcome::Output(_) => Ok(()),
            Outcome::Broken => Err(ExecError::Build(factory_exec::BuildError::Infrastructure(
                InfraError::SandboxSetup {
                    message: "scripted: the sandbox cannot start".into(),
                },
            ))),
            Outcome::Fails => Err(ExecError::Build(factory_exec::BuildError::CommandFailed {
                build: "scripted".into(),
                index: 0,
                command: "false".into(),
                status: factory_exec::ExitKind::Code(1),
            })),
        };
        Box::pin(async move { result })
    }

    fn upload(&mut self) -> BoxFuture<'_, Result<WorkResult, ExecError>> {
        let Outcome::Output(bytes) = self.outcome else {
            unreachable!("only a successful execution is uploaded")
        };
        let mut writer = self.blobs.writer();
        std::io::Write::write_all(&mut writer, bytes.as_bytes()).unwrap();
        let tree = TreeBlob::Pending(writer.finish());
        Box::pin(async move {
            Ok(WorkResult {
                tree,
                artifacts: Vec::new(),
            })
        })
    }

    fn cleanup(&mut self) {}
}

/// `base` <- `mid` <- `top`, and `side` alone: command components that never run.
fn graph(dir: &std::path::Path) -> Arc<JobGraph> {
    let component = |name: &str, deps: &[&str]| {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        format!(
            "[component.{name}]\nkind = \"command\"\nbuild-requires = [{}]\ncommands = [\"true\"]\n\n",
            deps.join(", ")
        )
    };
    let text = [
        component("base", &[]),
        component("mid", &["base"]),
        component("top", &["mid"]),
        component("side", &[]),
    ]
    .concat();
    fs_err::write(dir.join("factory.toml"), text).unwrap();
    let def = factory_def::load(dir).unwrap();
    Arc::new(JobGraph::new(Arc::new(def)).unwrap())
}

async fn engine(
    dir: &std::path::Path,
    outcomes: &[(&str, Vec<Outcome>)],
) -> (Engine, ScriptedExecutor) {
    let store = Store::open(&dir.join("store")).await.unwrap();
    let script = Script {
        outcomes: outcomes
            .iter()
            .map(|(j, o)| (j.to_string(), o.clone()))
            .collect(),
        ..Script::default()
    };
    let scripted = ScriptedExecutor {
        script: Arc::new(Mutex::new(script)),
        blobs: Arc::new(store.clone()),
    };
    let settings = Settings {
        jobs: 2,
        tries: 3,
        backoff: Duration::from_millis(5),
    };
    let local = factory_engine::engine::local_executor(&store, Sandbox::plain());
    let executor: Arc<dyn Executor> = Arc::new(scripted.clone());
    let engine = Engine::with_executor(store, local, executor, settings, Arc::new(Quiet));
    (engine, scripted)
}

async fn everything(engine: &Engine, graph: &Arc<JobGraph>, reason: ChangeReason) -> WaveReport {
    let change = Change {
        jobs: graph.jobs().to_vec(),
        reason,
    };
    engine.run_change(graph, change, Stop::new()).await.unwrap()
}

fn state_of(report: &WaveReport, job: &str) -> BuildState {
    report.builds.iter().find(|b| b.job == job).unwrap().state
}

#[tokio::test]
async fn a_wave_runs_through_another_executor_and_the_worker_is_given_the_engines_keys() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph(dir.path());
    let outputs = [("base", "b"), ("mid", "m"), ("top", "t"), ("side", "s")];
    let outcomes: Vec<_> = outputs
        .iter()
        .map(|(j, o)| (*j, vec![Outcome::Output(o)]))
        .collect();
    let (engine, scripted) = engine(dir.path(), &outcomes).await;

    let first = everything(&engine, &graph, ChangeReason::Reconcile).await;
    assert_eq!(first.count(BuildState::Succeeded), 4, "{first:#?}");
    for (job, bytes) in outputs {
        let build = first.builds.iter().find(|b| b.job == job).unwrap();
        assert_eq!(
            build.output,
            Some(factory_types::Digest::of(bytes.as_bytes()))
        );
    }
    // Each work item carried the key the engine recorded; the executor computed none.
    let queued: HashMap<String, BuildKey> = events(engine.store())
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::BuildQueued { component, key, .. } => Some((component, key?)),
            _ => None,
        })
        .collect();
    let given = scripted.script.lock().unwrap().keys.clone();
    for (job, keys) in &given {
        assert_eq!(keys, &[queued[job]], "{job}");
    }
    assert_eq!(given.len(), 4);

    // The same keys again: reused from the store, nothing given to the executor.
    let again = everything(&engine, &graph, ChangeReason::Manual).await;
    assert_eq!(again.count(BuildState::Reused), 4, "{again:#?}");
    assert_eq!(scripted.attempts("top"), 1);
}

#[tokio::test]
async fn the_environments_failures_are_retried_a_builds_own_are_not_and_block_what_depends_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph(dir.path());
    let (engine, scripted) = engine(
        dir.path(),
        &[
            // Broken twice, then fine: the third try succeeds.
            (
                "base",
                vec![Outcome::Broken, Outcome::Broken, Outcome::Output("b")],
            ),
            ("mid", vec![Outcome::Fails]),
            ("top", vec![Outcome::Output("t")]),
            // Broken every time: given up after three tries.
            ("side", vec![Outcome::Broken]),
        ],
    )
    .await;
    let report = everything(&engine, &graph, ChangeReason::Reconcile).await;
    assert_eq!(
        state_of(&report, "base"),
        BuildState::Succeeded,
        "{report:#?}"
    );
    assert_eq!(scripted.attempts("base"), 3);
    assert_eq!(state_of(&report, "mid"), BuildState::Failed);
    assert_eq!(
        scripted.attempts("mid"),
        1,
        "a build's own failure is not retried"
    );
    assert_eq!(state_of(&report, "top"), BuildState::Blocked);
    assert_eq!(scripted.attempts("top"), 0);
    assert_eq!(state_of(&report, "side"), BuildState::Failed);
    assert_eq!(scripted.attempts("side"), 3);
    assert_eq!(
        report.failures(),
        (2, 1),
        "mid and top; side is infrastructure"
    );

    let kinds: Vec<FailureKind> = events(engine.store())
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::BuildFailed { kind, .. } => Some(kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&FailureKind::User) && kinds.contains(&FailureKind::Infrastructure));
}
