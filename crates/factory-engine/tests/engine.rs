//! The engine on small real definitions: keys do not depend on where
//! the definition lives, infrastructure failures are retried (and recorded),
//! build failures are not.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use factory_engine::{Change, ChangeReason, Engine, JobGraph, Quiet, Settings, Stop, recipe};
use factory_exec::Sandbox;
use factory_store::{BuildState, Event, Store};
use factory_types::Job;

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// `lib` (a kind with a parameter and a `{dep.NAME}`-free command) and `app` reading it.
fn definition(dir: &Path, app_command: &str) -> factory_def::Definition {
    write(
        &dir.join("factory.toml"),
        &format!(
            r#"
[kind.copy]
commands = ["mkdir -p {{out}}/lib", "cp {{src}}/* {{out}}/lib/", "echo {{param.flag}} > {{out}}/lib/flag"]
outputs = ["lib/*"]
params = {{ flag = "on" }}

[component.lib]
kind = "copy"
source = {{ path = "src/lib" }}

[component.app]
kind = "command"
source = {{ path = "src/app" }}
build-requires = ["lib"]
commands = [{app_command:?}]
outputs = ["out.txt"]
"#
        ),
    );
    write(&dir.join("src/lib/lib.txt"), "library\n");
    write(&dir.join("src/app/app.txt"), "application\n");
    factory_def::load(dir).expect("a valid definition")
}

fn graph(def: factory_def::Definition) -> Arc<JobGraph> {
    Arc::new(JobGraph::new(Arc::new(def)).unwrap())
}

fn settings(jobs: usize) -> Settings {
    Settings {
        jobs,
        tries: 3,
        backoff: Duration::from_millis(20),
    }
}

const APP: &str = "cat {dep.lib}/lib/lib.txt {src}/app.txt > {out}/out.txt";

#[test]
fn keys_do_not_depend_on_where_the_definition_or_the_store_lives() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let env = factory_exec::local::platform(&Sandbox::plain());
    definition(a.path(), APP);
    definition(b.path(), APP);
    let key = |dir: &Path| {
        let def = factory_def::load(dir).unwrap();
        let lib =
            recipe::prepare(&def, &Job::Component("lib".into()), &BTreeMap::new(), &env).unwrap();
        let inputs = BTreeMap::from([("lib".to_owned(), lib.material.key().0)]);
        let app = recipe::prepare(&def, &Job::Component("app".into()), &inputs, &env).unwrap();
        (lib.material.key(), app.material.key(), app)
    };
    let (lib_a, app_a, prepared) = key(a.path());
    let (lib_b, app_b, _) = key(b.path());
    assert_eq!(lib_a, lib_b);
    assert_eq!(app_a, app_b);
    let commands: Vec<String> = prepared
        .material
        .spec
        .commands
        .iter()
        .map(|c| c.display())
        .collect();
    assert_eq!(
        commands,
        [
            "cat \"$FACTORY_INPUT_LIB\"/lib/lib.txt \"$FACTORY_SRC\"/app.txt > \"$FACTORY_OUT\"/out.txt"
        ]
    );
    // A changed source changes the key; so does a changed parameter of the kind.
    write(&a.path().join("src/lib/lib.txt"), "library 2\n");
    let (lib_changed, _, _) = key(a.path());
    assert_ne!(lib_changed, lib_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_source_rebuilds_dependents_and_a_manual_rebuild_of_the_same_key_is_reused_and_cut_off()
 {
    let dir = tempfile::tempdir().unwrap();
    let def = graph(definition(&dir.path().join("def"), APP));
    let store = Store::open(&dir.path().join("store")).await.unwrap();
    let orch = Engine::new(
        store.clone(),
        Sandbox::plain(),
        settings(2),
        Arc::new(Quiet),
    );
    let all = def.jobs().to_vec();
    let first = orch
        .run_change(
            &def,
            Change {
                jobs: all,
                reason: ChangeReason::Reconcile,
            },
            Stop::new(),
        )
        .await
        .unwrap();
    assert_eq!(first.count(BuildState::Succeeded), 2, "{first:#?}");
    // A new file that the kind copies... into lib/, so the output changes: app rebuilds.
    write(&dir.path().join("def/src/lib/extra.txt"), "x");
    let lib = vec![Job::Component("lib".into())];
    let second = orch
        .run_change(
            &def,
            Change {
                jobs: lib.clone(),
                reason: ChangeReason::SourceChanged,
            },
            Stop::new(),
        )
        .await
        .unwrap();
    assert_eq!(second.count(BuildState::Succeeded), 2, "{second:#?}");
    // Rebuilding by hand gives the same key: reused, and app is cut off.
    let third = orch
        .run_change(
            &def,
            Change {
                jobs: lib,
                reason: ChangeReason::Manual,
            },
            Stop::new(),
        )
        .await
        .unwrap();
    assert_eq!(third.count(BuildState::Reused), 1, "{third:#?}");
    assert_eq!(third.count(BuildState::Unchanged), 1, "{third:#?}");
    assert_eq!(third.ran(), 0);
    let events = common::events(&store).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::BuildCutOff { .. }))
    );
}

#[tokio::test]
async fn output_directories_left_by_a_killed_factory_are_removed_those_of_a_running_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let scratch = store_dir.join("scratch");
    // A process that has ended: its pid names directories nobody will finish.
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    let gone = ended.id();
    let running = std::process::id();
    for name in [
        format!("{gone}-0.out/half-written"),
        format!("{gone}-0.staging/part"),
        format!("{running}-7.out/in-progress"),
    ] {
        write(&scratch.join(name), "x");
    }
    let store = Store::open(&store_dir).await.unwrap();
    let _orch = Engine::new(store, Sandbox::plain(), settings(1), Arc::new(Quiet));
    assert!(!scratch.join(format!("{gone}-0.out")).exists());
    assert!(!scratch.join(format!("{gone}-0.staging")).exists());
    assert!(
        scratch
            .join(format!("{running}-7.out/in-progress"))
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infrastructure_failures_are_retried_build_failures_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let def = graph(definition(&dir.path().join("def"), "exit 3"));
    let store = Store::open(&dir.path().join("store")).await.unwrap();
    // A sandbox whose program does not exist: every start is an infrastructure failure.
    let broken = Sandbox::bubblewrap(dir.path().join("no-such-bwrap"));
    let orch = Engine::new(store.clone(), broken, settings(2), Arc::new(Quiet));
    let report = orch
        .run_change(
            &def,
            Change {
                jobs: vec![Job::Component("lib".into())],
                reason: ChangeReason::Manual,
            },
            Stop::new(),
        )
        .await
        .unwrap();
    assert_eq!(report.count(BuildState::Failed), 1, "{report:#?}");
    assert_eq!(
        report.count(BuildState::Blocked),
        1,
        "app is blocked: {report:#?}"
    );
    let events = common::events(&store).await;
    let starts = events
        .iter()
        .filter(|e| matches!(e, Event::BuildStarted { .. }))
        .count();
    assert_eq!(starts, 3, "three tries: {events:#?}");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::BuildFailed {
            kind: factory_store::FailureKind::Infrastructure,
            ..
        }
    )));

    // With a working (plain) sandbox, lib builds and app's own failure is tried once.
    let store2 = Store::open(&dir.path().join("store2")).await.unwrap();
    let orch = Engine::new(
        store2.clone(),
        Sandbox::plain(),
        settings(2),
        Arc::new(Quiet),
    );
    let all = def.jobs().to_vec();
    let report = orch
        .run_change(
            &def,
            Change {
                jobs: all,
                reason: ChangeReason::Reconcile,
            },
            Stop::new(),
        )
        .await
        .unwrap();
    let app = report.builds.iter().find(|b| b.job == "app").unwrap();
    assert_eq!(app.state, BuildState::Failed);
    assert!(
        app.detail.as_deref().unwrap_or("").contains("exit code 3"),
        "{app:#?}"
    );
    let events = common::events(&store2).await;
    let app_starts = events
        .iter()
        .filter(|e| matches!(e, Event::BuildStarted { build, .. } if *build == app.build))
        .count();
    assert_eq!(app_starts, 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::BuildFailed {
            kind: factory_store::FailureKind::User,
            ..
        }
    )));
}
