//! Who is at fault when a remote source cannot be fetched decides what happens: a remote
//! that cannot be reached is the environment's fault (tried again with backoff, and when it
//! stays down reported as infrastructure), a wrong digest is the input's (never retried;
//! see `tarball.rs`). Real `git` and `tar`, a real HTTP server on the loopback interface.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::serve;
use factory_engine::{Change, ChangeReason, Engine, JobGraph, Quiet, Settings, Stop, WaveReport};
use factory_exec::Sandbox;
use factory_store::{BuildState, Event, FailureKind, Seq, Store};

/// The tools a test needs; without them it skips loudly, except under CI (`FACTORY_CI`).
fn have(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|tool| Command::new(tool).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("SKIPPED: {missing:?} not installed (apt-get install git tar)");
    assert!(
        std::env::var_os("FACTORY_CI").is_none(),
        "CI must be able to run this test: {message}"
    );
    eprintln!("{message}");
    false
}

/// An address on which nothing listens: connecting to it is refused at once.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A gzip tarball `work/src-1.tar.gz` of `src-1/hello.txt`, made by the real `tar`; its
/// sha256.
fn tarball(work: &Path) -> String {
    fs_err::create_dir_all(work.join("src-1")).unwrap();
    fs_err::write(work.join("src-1/hello.txt"), "hello\n").unwrap();
    let archive = work.join("src-1.tar.gz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(work)
        .args(["-czf"])
        .arg(&archive)
        .arg("src-1")
        .status()
        .unwrap();
    assert!(status.success());
    factory_types::Digest::of(&fs_err::read(&archive).unwrap()).hex()
}

/// One component `pkg` with `source`, and `app` built on it.
fn graph(dir: &Path, source: &str) -> Arc<JobGraph> {
    let text = format!(
        "[component.pkg]\nkind = \"command\"\nsource = {source}\n\
         commands = [\"cp {{src}}/hello.txt {{out}}/\"]\n\n\
         [component.app]\nkind = \"command\"\nbuild-requires = [\"pkg\"]\n\
         commands = [\"cp {{dep.pkg}}/hello.txt {{out}}/\"]\n"
    );
    fs_err::write(dir.join("factory.toml"), text).unwrap();
    let def = factory_def::load(dir).unwrap();
    Arc::new(JobGraph::new(Arc::new(def)).unwrap())
}

async fn build_everything(store: &Path, graph: &Arc<JobGraph>) -> (WaveReport, Vec<Event>) {
    let store = Store::open(store).await.unwrap();
    let settings = Settings {
        jobs: 2,
        tries: 3,
        backoff: Duration::from_millis(20),
    };
    let engine = Engine::new(store.clone(), Sandbox::plain(), settings, Arc::new(Quiet));
    let change = Change {
        jobs: graph.jobs().to_vec(),
        reason: ChangeReason::Reconcile,
    };
    let report = engine.run_change(graph, change, Stop::new()).await.unwrap();
    let events = store.db().events_since(Seq(0), 10_000).await.unwrap();
    (report, events.into_iter().map(|e| e.event).collect())
}

/// The failure of `pkg`, recorded: its kind and reason.
fn failure_of_pkg(report: &WaveReport, events: &[Event]) -> (FailureKind, String) {
    let pkg = report.builds.iter().find(|b| b.job == "pkg").unwrap();
    assert_eq!(pkg.state, BuildState::Failed, "{report:#?}");
    assert!(pkg.infrastructure, "{pkg:#?}");
    let app = report.builds.iter().find(|b| b.job == "app").unwrap();
    assert_eq!(app.state, BuildState::Blocked, "{report:#?}");
    events
        .iter()
        .find_map(|e| match e {
            Event::BuildFailed {
                build,
                kind,
                reason,
            } if *build == pkg.build => Some((*kind, reason.clone())),
            _ => None,
        })
        .expect("pkg's failure is recorded")
}

#[tokio::test]
async fn an_unreachable_tarball_url_is_retried_and_reported_as_infrastructure() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/src-1.tar.gz", closed_port());
    let source = format!("{{ url = \"{url}\", sha256 = \"{}\" }}", "ab".repeat(32));
    let graph = graph(dir.path(), &source);
    let (report, events) = build_everything(&dir.path().join("store"), &graph).await;
    let (kind, reason) = failure_of_pkg(&report, &events);
    assert_eq!(kind, FailureKind::Infrastructure, "{reason}");
    assert!(reason.contains("cannot fetch the tarball"), "{reason}");
    assert!(reason.contains("gave up after 3 tries"), "{reason}");
    assert_eq!(
        report.failures(),
        (0, 2),
        "pkg and app are the machine's failures"
    );
}

#[tokio::test]
async fn a_server_that_fails_at_first_is_tried_again_and_the_build_goes_on() {
    if !have(&["tar"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sha256 = tarball(&dir.path().join("work"));
    let server = serve(dir.path().join("work"), 2);
    let source = format!(
        "{{ url = \"{}/src-1.tar.gz\", sha256 = \"{sha256}\" }}",
        server.url
    );
    let graph = graph(dir.path(), &source);
    let (report, _) = build_everything(&dir.path().join("store"), &graph).await;
    assert_eq!(report.count(BuildState::Succeeded), 2, "{report:#?}");
    assert_eq!(server.requests(), 3, "two 503s, then the tarball");
}

#[tokio::test]
async fn an_unreachable_git_remote_is_retried_and_reported_as_infrastructure() {
    if !have(&["git"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/repo.git", closed_port());
    let graph = graph(
        dir.path(),
        &format!("{{ git = \"{url}\", rev = \"main\" }}"),
    );
    let (report, events) = build_everything(&dir.path().join("store"), &graph).await;
    let (kind, reason) = failure_of_pkg(&report, &events);
    assert_eq!(kind, FailureKind::Infrastructure, "{reason}");
    assert!(reason.contains("git ls-remote"), "{reason}");
    assert!(reason.contains("gave up after 3 tries"), "{reason}");
}
