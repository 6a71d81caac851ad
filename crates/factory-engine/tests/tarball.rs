//! Tarball sources end to end: archives made by the real `tar`, one read as a
//! path beside the definition and one served over real HTTP by a small
//! server on the loopback interface; a wrong sha256 fails before anything
//! runs; a new tarball (new sha256) rebuilds; each tarball is fetched once.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Server, events, serve};
use factory_engine::{Change, ChangeReason, Engine, JobGraph, Quiet, Settings, Stop};
use factory_exec::Sandbox;
use factory_store::{BuildState, Event, Store};

/// Whether the tools these tests drive are installed; without them the tests
/// skip loudly, except under CI (`FACTORY_CI`), where they fail.
fn tools_present() -> bool {
    const TOOLS: [&str; 5] = ["tar", "gzip", "xz", "zstd", "bzip2"];
    let missing: Vec<&str> = TOOLS
        .into_iter()
        .filter(|tool| Command::new(tool).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "SKIPPED: {} not installed (apt-get install tar gzip xz-utils zstd bzip2)",
        missing.join(", ")
    );
    assert!(
        std::env::var_os("FACTORY_CI").is_none(),
        "CI must be able to run this test: {message}"
    );
    eprintln!("{message}");
    false
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` (needed by this test): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `NAME/greeting.txt` (with `text`) and `NAME/sub/x`, packed by `tar` with `compress` (`-z`, `-J`, ...).
fn make_tarball(work: &Path, name: &str, text: &str, compress: &str, archive: &Path) -> String {
    let top = work.join(name);
    fs_err::create_dir_all(top.join("sub")).unwrap();
    fs_err::write(top.join("greeting.txt"), text).unwrap();
    fs_err::write(top.join("sub/x"), "x\n").unwrap();
    run(
        "tar",
        &[
            "-C",
            &work.to_string_lossy(),
            compress,
            "-cf",
            &archive.to_string_lossy(),
            name,
        ],
    );
    let sum = run("sha256sum", &[&archive.to_string_lossy()]);
    sum.split_whitespace().next().unwrap().to_owned()
}

fn definition(dir: &Path, components: &[(&str, &str, &str)]) -> Arc<JobGraph> {
    let mut text = String::new();
    for (name, url, sha256) in components {
        text.push_str(&format!(
            r#"
[component.{name}]
kind = "command"
source = {{ url = "{url}", sha256 = "{sha256}" }}
commands = ["cat {{src}}/greeting.txt {{src}}/sub/x > {{out}}/out.txt"]
outputs = ["out.txt"]
"#
        ));
    }
    fs_err::write(dir.join("factory.toml"), text).unwrap();
    let def = factory_def::load(dir).expect("a valid definition");
    Arc::new(JobGraph::new(Arc::new(def)).unwrap())
}

/// An engine that tries what the environment broke three times.
async fn orchestrator(store: &Path) -> Engine {
    let store = Store::open(store).await.unwrap();
    Engine::new(
        store,
        Sandbox::plain(),
        Settings {
            jobs: 2,
            tries: 3,
            backoff: Duration::from_millis(10),
        },
        Arc::new(Quiet),
    )
}

async fn wave(
    orch: &Engine,
    def: &Arc<JobGraph>,
    reason: ChangeReason,
) -> factory_engine::WaveReport {
    orch.run_change(
        def,
        Change {
            jobs: def.jobs().to_vec(),
            reason,
        },
        Stop::new(),
    )
    .await
    .unwrap()
}

async fn output_of(orch: &Engine, report: &factory_engine::WaveReport, job: &str) -> String {
    let build = report.builds.iter().find(|b| b.job == job).unwrap();
    let digest = build
        .output
        .unwrap_or_else(|| panic!("{job} has no output: {build:?}"));
    let tree = orch.materialise(&digest).await.unwrap();
    fs_err::read_to_string(tree.join("out.txt")).unwrap()
}

/// A new release: a new tarball and its sha256 in the definition rebuild `remote`; `local`,
/// whose sha256 stays, is reused from its unpacked tree. `shas`: local's and remote's old ones.
async fn a_new_release_rebuilds_only_what_it_changes(
    orch: &Engine,
    server: &Server,
    work: &Path,
    def_dir: &Path,
    served: &Path,
    (local_sha, remote_sha): (&str, &str),
) {
    let new_sha = make_tarball(
        work,
        "remote-1.1",
        "over http, newer\n",
        "--zstd",
        &served.join("remote-1.1.tar.zst"),
    );
    let new_url = format!("{}/remote-1.1.tar.zst", server.url);
    let def = definition(
        def_dir,
        &[
            ("local", "local-1.0.tar.gz", local_sha),
            ("remote", &new_url, &new_sha),
        ],
    );
    let changed = wave(orch, &def, ChangeReason::SourceChanged).await;
    let remote = changed.builds.iter().find(|b| b.job == "remote").unwrap();
    assert_eq!(remote.state, BuildState::Succeeded, "{changed:#?}");
    let short = |s: &str| s.chars().take(12).collect::<String>();
    assert!(
        remote.reason.contains(&format!(
            "revision changed: {} -> {}",
            short(remote_sha),
            short(&new_sha)
        )),
        "{}",
        remote.reason
    );
    assert_eq!(
        output_of(orch, &changed, "remote").await,
        "over http, newer\nx\n"
    );
    assert_eq!(server.requests(), 2);
    // `local` kept its sha256: its earlier build is reused, from the unpacked tree.
    let local = changed.builds.iter().find(|b| b.job == "local").unwrap();
    assert_eq!(local.state, BuildState::Reused, "{changed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarballs_from_a_path_and_over_http_are_verified_unpacked_once_and_rebuilt_when_they_change()
 {
    if !tools_present() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let work = temp.path().join("work");
    let def_dir = temp.path().join("def");
    let served = temp.path().join("served");
    for dir in [&work, &def_dir, &served] {
        fs_err::create_dir_all(dir).unwrap();
    }
    // One gzip tarball beside the definition, one xz tarball served over HTTP.
    let local_sha = make_tarball(
        &work,
        "local-1.0",
        "from a path\n",
        "-z",
        &def_dir.join("local-1.0.tar.gz"),
    );
    let remote_sha = make_tarball(
        &work,
        "remote-1.0",
        "over http\n",
        "-J",
        &served.join("remote-1.0.tar.xz"),
    );
    let server = serve(served.clone(), 0);
    let remote_url = format!("{}/remote-1.0.tar.xz", server.url);
    let def = definition(
        &def_dir,
        &[
            ("local", "local-1.0.tar.gz", &local_sha),
            ("remote", &remote_url, &remote_sha),
        ],
    );
    let store_dir = temp.path().join("store");
    let orch = orchestrator(&store_dir).await;

    let first = wave(&orch, &def, ChangeReason::Reconcile).await;
    assert_eq!(first.count(BuildState::Succeeded), 2, "{first:#?}");
    // The single top directory (`local-1.0/`, `remote-1.0/`) is the source tree.
    assert_eq!(output_of(&orch, &first, "local").await, "from a path\nx\n");
    assert_eq!(output_of(&orch, &first, "remote").await, "over http\nx\n");
    assert_eq!(server.requests(), 1);
    // Unpacked below the store, one directory per digest.
    let cache = store_dir.join("sources/tarball");
    assert!(cache.join(&local_sha).join("greeting.txt").is_file());
    assert!(cache.join(&remote_sha).join("greeting.txt").is_file());
    // The tarball's sha256 is the source digest and the revision of the build.
    let queued: Vec<_> = events(orch.store())
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::BuildQueued {
                component, inputs, ..
            } => Some((component, inputs)),
            _ => None,
        })
        .collect();
    let (_, inputs) = queued.iter().find(|(c, _)| c == "remote").unwrap();
    assert_eq!(inputs.get("source"), Some(&remote_sha));
    assert_eq!(inputs.get("revision"), Some(&remote_sha));

    // Again, with both archives gone: the unpacked trees are used, nothing is fetched.
    fs_err::remove_file(def_dir.join("local-1.0.tar.gz")).unwrap();
    fs_err::remove_file(served.join("remote-1.0.tar.xz")).unwrap();
    let again = wave(&orch, &def, ChangeReason::Manual).await;
    assert_eq!(again.ran(), 0, "{again:#?}");
    assert_eq!(server.requests(), 1);

    a_new_release_rebuilds_only_what_it_changes(
        &orch,
        &server,
        &work,
        &def_dir,
        &served,
        (&local_sha, &remote_sha),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sha256_fails_precisely_and_nothing_runs() {
    if !tools_present() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let work = temp.path().join("work");
    let def_dir = temp.path().join("def");
    let served = temp.path().join("served");
    for dir in [&work, &def_dir, &served] {
        fs_err::create_dir_all(dir).unwrap();
    }
    let actual = make_tarball(&work, "p-1", "hello\n", "-j", &served.join("p-1.tar.bz2"));
    let wrong = "ab".repeat(32);
    let server = serve(served.clone(), 0);
    let url = format!("{}/p-1.tar.bz2", server.url);
    let def = definition(&def_dir, &[("pkg", &url, &wrong)]);
    let orch = orchestrator(&temp.path().join("store")).await;

    let report = wave(&orch, &def, ChangeReason::Reconcile).await;
    let build = report.builds.iter().find(|b| b.job == "pkg").unwrap();
    assert_eq!(build.state, BuildState::Failed, "{report:#?}");
    let detail = build.detail.clone().unwrap_or_default();
    for needle in [
        "component `pkg`",
        url.as_str(),
        &format!("has sha256 {actual}"),
        &format!("expects {wrong}"),
        &format!("set `sha256 = \"{actual}\"`"),
    ] {
        assert!(detail.contains(needle), "`{needle}` missing from: {detail}");
    }
    // An input fault: tried once, not again, and recorded as the definition's.
    assert_eq!(server.requests(), 1);
    assert!(!detail.contains("gave up"), "{detail}");
    // The build never started, and nothing was unpacked.
    let events = events(orch.store()).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::BuildStarted { .. })),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::BuildFailed {
            kind: factory_store::FailureKind::User,
            ..
        }
    )));
    let cache = temp.path().join("store/sources/tarball");
    let left: Vec<_> = fs_err::read_dir(&cache)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the cache: {left:?}");

    // The right digest builds it.
    let def = definition(&def_dir, &[("pkg", &url, &actual)]);
    let report = wave(&orch, &def, ChangeReason::SourceChanged).await;
    assert_eq!(report.count(BuildState::Succeeded), 1, "{report:#?}");
    assert_eq!(output_of(&orch, &report, "pkg").await, "hello\nx\n");
}
