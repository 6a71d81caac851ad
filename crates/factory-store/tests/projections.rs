//! Projections maintained from events: the queries the engine needs, the rules that reject
//! impossible events, and replay from the log giving identical tables.

mod common;

use common::{change, log, queued, wave};
use factory_store::{
    Backend, BuildId, BuildOutput, BuildState, Digest, Event, FailureKind, Seq, Store, StoreError,
    WaveId, WaveState,
};

fn output(name: &str, content: &str) -> BuildOutput {
    BuildOutput {
        name: name.into(),
        digest: Digest::of(content.as_bytes()),
        size: content.len() as u64,
    }
}

async fn one(log: &dyn Backend, event: Event) -> BuildId {
    log.append_one(event).await.expect("append").into()
}

async fn run(log: &dyn Backend, build: BuildId, outputs: Vec<BuildOutput>) {
    log.append(vec![
        Event::BuildStarted { build, attempt: 1 },
        log_line(build, "configure\n"),
        log_line(build, "make\n"),
        Event::BuildSucceeded { build, outputs },
    ])
    .await
    .expect("run build");
}

fn log_line(build: BuildId, text: &str) -> Event {
    log(build, text)
}

struct Scenario {
    wave1: WaveId,
    wave2: WaveId,
    libgreet1: BuildId,
    hello1: BuildId,
    broken: BuildId,
    bye: BuildId,
    tool: BuildId,
    libgreet2: BuildId,
    hello2: BuildId,
    hello3: BuildId,
    pending: BuildId,
    running: BuildId,
}

struct FirstWave {
    wave: WaveId,
    libgreet: BuildId,
    hello: BuildId,
    broken: BuildId,
    bye: BuildId,
    tool: BuildId,
}

struct SecondWave {
    wave: WaveId,
    libgreet: BuildId,
    hello_cut_off: BuildId,
    hello_reused: BuildId,
    pending: BuildId,
    running: BuildId,
}

/// Two waves: the first runs to the end with every final state, the second is interrupted
/// with one build scheduled and one building (as after a crash).
async fn scenario(log: &dyn Backend) -> Scenario {
    let first = first_wave(log).await;
    let second = second_wave(log, first.hello).await;
    Scenario {
        wave1: first.wave,
        wave2: second.wave,
        libgreet1: first.libgreet,
        hello1: first.hello,
        broken: first.broken,
        bye: first.bye,
        tool: first.tool,
        libgreet2: second.libgreet,
        hello2: second.hello_cut_off,
        hello3: second.hello_reused,
        pending: second.pending,
        running: second.running,
    }
}

async fn first_wave(log: &dyn Backend) -> FirstWave {
    let first = queue_first_wave(log).await;
    run(
        log,
        first.libgreet,
        vec![output("libgreet.deb", "greet v1")],
    )
    .await;
    log.append_one(Event::ArtifactStored {
        digest: Digest::of(b"greet v1"),
        name: "libgreet.deb".into(),
        kind: "deb".into(),
        size: 8,
        build: Some(first.libgreet),
    })
    .await
    .unwrap();
    run(log, first.hello, vec![output("hello.deb", "hello v1")]).await;
    broken_fails_and_the_others_stop(log, &first).await;
    log.append_one(Event::WaveFinished {
        wave: first.wave,
        summary: "2 succeeded, 1 failed, 1 blocked, 1 cancelled".into(),
    })
    .await
    .unwrap();
    first
}

async fn queue_first_wave(log: &dyn Backend) -> FirstWave {
    log.append_one(change("libgreet", "rev1")).await.unwrap();
    let wave: WaveId = log
        .append_one(wave(
            "libgreet",
            &["libgreet", "hello", "broken", "bye", "tool"],
        ))
        .await
        .unwrap()
        .into();
    let ids: Vec<BuildId> = log
        .append(vec![
            queued(Some(wave), "libgreet", "k-libgreet-1"),
            queued(Some(wave), "hello", "k-hello-1"),
            queued(Some(wave), "broken", "k-broken"),
            queued(Some(wave), "bye", "k-bye"),
            queued(Some(wave), "tool", "k-tool"),
        ])
        .await
        .unwrap()
        .into_iter()
        .map(BuildId::from)
        .collect();
    let [libgreet, hello, broken, bye, tool] = ids[..] else {
        unreachable!()
    };
    FirstWave {
        wave,
        libgreet,
        hello,
        broken,
        bye,
        tool,
    }
}

/// `broken` fails for good on its second attempt, `bye` is blocked by it, `tool` is cancelled.
async fn broken_fails_and_the_others_stop(log: &dyn Backend, first: &FirstWave) {
    let FirstWave {
        broken, bye, tool, ..
    } = *first;
    log.append(vec![
        Event::BuildStarted {
            build: broken,
            attempt: 1,
        },
        Event::BuildFailed {
            build: broken,
            reason: "infrastructure: sandbox setup failed".into(),
            kind: FailureKind::Infrastructure,
        },
        // An infrastructure failure is retried.
        Event::BuildStarted {
            build: broken,
            attempt: 2,
        },
        log_line(broken, "error: undefined reference\n"),
        Event::BuildFailed {
            build: broken,
            reason: "exit status 2".into(),
            kind: FailureKind::User,
        },
        Event::BuildBlocked {
            build: bye,
            by: vec![broken],
            reason: "broken failed".into(),
        },
        Event::BuildCancelled {
            build: tool,
            reason: "superseded".into(),
        },
    ])
    .await
    .unwrap();
}

/// `hello1` is the first wave's `hello`, which the second wave cuts off to and reuses.
async fn second_wave(log: &dyn Backend, hello1: BuildId) -> SecondWave {
    log.append_one(change("libgreet", "rev2")).await.unwrap();
    let wave: WaveId = log
        .append_one(wave("libgreet", &["libgreet", "hello"]))
        .await
        .unwrap()
        .into();
    let libgreet = one(log, queued(Some(wave), "libgreet", "k-libgreet-2")).await;
    run(log, libgreet, vec![output("libgreet.deb", "greet v1")]).await;
    let hello_cut_off = one(log, queued(Some(wave), "hello", "k-hello-2")).await;
    log.append_one(Event::BuildCutOff {
        build: hello_cut_off,
        reason: "libgreet's outputs are unchanged".into(),
        previous: Some(hello1),
    })
    .await
    .unwrap();
    let hello_reused = one(log, queued(Some(wave), "hello", "k-hello-1")).await;
    log.append_one(Event::BuildReused {
        build: hello_reused,
        from: hello1,
    })
    .await
    .unwrap();
    let (pending, running) = interrupt(log, wave).await;
    SecondWave {
        wave,
        libgreet,
        hello_cut_off,
        hello_reused,
        pending,
        running,
    }
}

/// Leaves `wave` as a crash would: one build scheduled, one half way through.
async fn interrupt(log: &dyn Backend, wave: WaveId) -> (BuildId, BuildId) {
    let pending = one(log, queued(Some(wave), "bye", "k-bye-2")).await;
    let running = one(log, queued(Some(wave), "tool", "k-tool-2")).await;
    log.append(vec![
        Event::BuildStarted {
            build: running,
            attempt: 1,
        },
        log_line(running, "half"),
    ])
    .await
    .unwrap();
    (pending, running)
}

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path()).await.unwrap()
}

/// A fresh store holding the scenario; keep the directory for as long as the store is used.
async fn store_with_scenario() -> (tempfile::TempDir, Store, Scenario) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let s = scenario(store.db()).await;
    (dir, store, s)
}

fn ids_sorted(builds: &[factory_store::BuildRecord]) -> Vec<BuildId> {
    let mut ids: Vec<_> = builds.iter().map(|b| b.id).collect();
    ids.sort();
    ids
}

/// Has this key already succeeded? Its outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_succeeded_answers_with_its_build_and_outputs_others_with_none() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let done = db
        .succeeded_build_by_key(&common::key("k-libgreet-1"))
        .await
        .unwrap()
        .expect("succeeded");
    assert_eq!(done.id, s.libgreet1);
    assert_eq!(done.outputs, vec![output("libgreet.deb", "greet v1")]);
    assert_eq!(done.inputs["source"], "rev-of-k-libgreet-1");
    assert!(
        db.succeeded_build_by_key(&common::key("k-broken"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.succeeded_build_by_key(&common::key("unknown"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_component_at_once_gives_the_records_asked_one_by_one() {
    let (_dir, store, _) = store_with_scenario().await;
    let db = store.db();
    let all = db.components().await.unwrap();
    let names = db.component_names().await.unwrap();
    assert_eq!(all.len(), names.len());
    for (record, name) in all.iter().zip(&names) {
        assert_eq!(Some(record), db.component(name).await.unwrap().as_ref());
    }
}

/// None for a component without a usable build, or unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_successful_builds_in_one_query_are_those_asked_one_by_one() {
    let (_dir, store, _) = store_with_scenario().await;
    let db = store.db();
    let names: Vec<String> = ["libgreet", "hello", "broken", "bye", "tool", "nope"]
        .map(String::from)
        .to_vec();
    let batch = db.latest_successful_builds(&names).await.unwrap();
    let mut one_by_one = Vec::new();
    for name in &names {
        if let Some(build) = db.latest_successful_build(name).await.unwrap() {
            one_by_one.push(build);
        }
    }
    assert!(!batch.is_empty());
    assert_eq!(ids_sorted(&batch), ids_sorted(&one_by_one));
    assert!(
        batch
            .iter()
            .all(|b| b.component != "broken" && b.component != "nope")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_components_latest_build_is_its_newest_and_a_reuse_carries_the_reused_outputs() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    assert_eq!(
        db.latest_build("hello").await.unwrap().unwrap().id,
        s.hello3
    );
    let latest_ok = db.latest_successful_build("hello").await.unwrap().unwrap();
    assert_eq!(latest_ok.id, s.hello3);
    assert_eq!(latest_ok.state, BuildState::Reused);
    assert_eq!(latest_ok.outputs, vec![output("hello.deb", "hello v1")]);
    assert_eq!(latest_ok.related, vec![s.hello1]);
    assert_eq!(
        db.builds_of_component("hello")
            .await
            .unwrap()
            .iter()
            .map(|b| b.id)
            .collect::<Vec<_>>(),
        vec![s.hello1, s.hello2, s.hello3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_waves_builds_have_their_final_states_and_why() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let states: Vec<(BuildId, BuildState)> = db
        .builds_of_wave(s.wave1)
        .await
        .unwrap()
        .iter()
        .map(|b| (b.id, b.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (s.libgreet1, BuildState::Succeeded),
            (s.hello1, BuildState::Succeeded),
            (s.broken, BuildState::Failed),
            (s.bye, BuildState::Blocked),
            (s.tool, BuildState::Cancelled),
        ]
    );
    let broken = db.build(s.broken).await.unwrap().unwrap();
    assert_eq!(broken.failure_kind, Some(FailureKind::User));
    assert_eq!(broken.attempt, 2);
    assert_eq!(broken.detail.as_deref(), Some("exit status 2"));
    assert_eq!(
        db.build(s.bye).await.unwrap().unwrap().related,
        vec![s.broken]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_waves_builds_have_their_states_and_a_cut_off_keeps_the_previous_outputs() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let wave2_states: Vec<BuildState> = db
        .builds_of_wave(s.wave2)
        .await
        .unwrap()
        .iter()
        .map(|b| b.state)
        .collect();
    assert_eq!(
        wave2_states,
        vec![
            BuildState::Succeeded,
            BuildState::Unchanged,
            BuildState::Reused,
            BuildState::Scheduled,
            BuildState::Building
        ]
    );
    let hello2 = db.build(s.hello2).await.unwrap().unwrap();
    assert_eq!(hello2.outputs, vec![output("hello.deb", "hello v1")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_to_resume_after_a_crash_is_the_unfinished_wave_and_its_unfinished_builds() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let unfinished: Vec<WaveId> = db
        .unfinished_waves()
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(unfinished, vec![s.wave2]);
    let w1 = db.wave(s.wave1).await.unwrap().unwrap();
    assert_eq!(w1.state, WaveState::Finished);
    assert_eq!(w1.plan[0], vec!["libgreet".to_string()]);
    let resume: Vec<BuildId> = db
        .unfinished_builds()
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(resume, vec![s.pending, s.running]);
    assert_eq!(
        db.recent_waves(1).await.unwrap()[0].id,
        s.wave2,
        "newest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_has_its_latest_revision_and_build_and_unknown_ones_none() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let libgreet = db.component("libgreet").await.unwrap().unwrap();
    assert_eq!(libgreet.revision.as_deref(), Some("rev2"));
    assert_eq!(libgreet.latest_build.unwrap().id, s.libgreet2);
    assert_eq!(
        db.component_names().await.unwrap(),
        vec!["broken", "bye", "hello", "libgreet", "tool"]
    );
    assert!(db.component("nope").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_logs_are_read_by_build_from_a_sequence_number_and_their_size_is_kept() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let chunks = db.build_log(s.broken, Seq(0)).await.unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].chunk, "error: undefined reference\n");
    let libgreet_log: Vec<String> = db
        .build_log(s.libgreet1, Seq(0))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.chunk)
        .collect();
    assert_eq!(libgreet_log, vec!["configure\n", "make\n"]);
    assert_eq!(db.build(s.libgreet1).await.unwrap().unwrap().log_bytes, 15);
    let first = db.build_log(s.libgreet1, Seq(0)).await.unwrap()[0].seq;
    assert_eq!(db.build_log(s.libgreet1, first).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builds_artifacts_are_listed_and_garbage_collection_keeps_the_latest_outputs() {
    let (_dir, store, s) = store_with_scenario().await;
    let db = store.db();
    let artifacts = db.artifacts_of_build(s.libgreet1).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].digest, Digest::of(b"greet v1"));
    let live = db.live_digests().await.unwrap();
    assert!(live.contains(&Digest::of(b"greet v1")));
    assert!(live.contains(&Digest::of(b"hello v1")));
    assert_eq!(live.len(), 2);
}

/// Events to append at once, and what the refusal must say.
type Impossible = (Vec<Event>, String);

/// Appends each batch, expecting every one refused with its reason, and then finds the log
/// and the projections exactly as they were.
async fn assert_each_is_rejected_and_nothing_changes(db: &dyn Backend, cases: Vec<Impossible>) {
    let before = db.last_seq().await.unwrap();
    let dump = db.dump_projections().await.unwrap();
    for (events, expected) in cases {
        match db.append(events.clone()).await {
            Err(StoreError::InvalidEvent { reason, .. }) => {
                assert!(reason.contains(&expected), "{reason} should say {expected}")
            }
            other => panic!("{events:?} should be rejected, got {other:?}"),
        }
    }
    assert_eq!(db.last_seq().await.unwrap(), before);
    assert_eq!(db.dump_projections().await.unwrap(), dump);
}

fn events_after_a_final_state(s: &Scenario) -> Vec<Impossible> {
    vec![
        (
            vec![Event::BuildStarted {
                build: s.hello1,
                attempt: 2,
            }],
            "is succeeded".into(),
        ),
        (
            vec![Event::BuildStarted {
                build: s.broken,
                attempt: 3,
            }],
            "is failed".into(),
        ),
        (
            vec![Event::BuildSucceeded {
                build: s.tool,
                outputs: vec![],
            }],
            "is cancelled".into(),
        ),
        (
            vec![Event::BuildReused {
                build: s.pending,
                from: s.broken,
            }],
            "reusing a build with usable outputs".into(),
        ),
        (
            vec![Event::WaveFinished {
                wave: s.wave1,
                summary: "again".into(),
            }],
            "already finished".into(),
        ),
    ]
}

fn events_naming_what_does_not_exist(s: &Scenario) -> Vec<Impossible> {
    vec![
        (
            vec![queued(Some(WaveId(99_999)), "x", "k")],
            "wave w99999 does not exist".into(),
        ),
        (
            vec![
                // The valid first event must not be written either.
                log(s.running, "more"),
                log(BuildId(123_456), "nobody"),
            ],
            "b123456 does not exist".into(),
        ),
        (
            vec![Event::ArtifactStored {
                digest: Digest::of(b""),
                name: "x".into(),
                kind: "file".into(),
                size: 0,
                build: Some(BuildId(777_777)),
            }],
            "does not exist".into(),
        ),
    ]
}

/// Many builds of one kind are applied by one statement: the refusal still names the build
/// whose event was refused, and the valid ones are not written either.
fn batches_of_one_kind_with_one_refused(s: &Scenario) -> Vec<Impossible> {
    vec![
        (
            vec![
                Event::BuildStarted {
                    build: s.pending,
                    attempt: 1,
                },
                Event::BuildStarted {
                    build: s.hello1,
                    attempt: 2,
                },
            ],
            format!("build b{} is succeeded", s.hello1.0),
        ),
        (
            vec![
                queued(Some(s.wave1), "fresh", "k-fresh"),
                queued(Some(WaveId(99_999)), "x", "k"),
            ],
            "wave w99999 does not exist".into(),
        ),
        (
            vec![
                Event::BuildSucceeded {
                    build: s.running,
                    outputs: vec![],
                },
                Event::BuildSucceeded {
                    build: s.tool,
                    outputs: vec![],
                },
            ],
            format!("build b{} is cancelled", s.tool.0),
        ),
    ]
}

/// A build coming back to an earlier kind is applied after what came before it.
fn a_batch_returning_to_an_earlier_kind(s: &Scenario) -> Vec<Impossible> {
    vec![(
        vec![
            Event::BuildStarted {
                build: s.pending,
                attempt: 1,
            },
            Event::BuildSucceeded {
                build: s.pending,
                outputs: vec![],
            },
            Event::BuildStarted {
                build: s.pending,
                attempt: 2,
            },
        ],
        format!("build b{} is succeeded", s.pending.0),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_after_a_final_state_are_rejected_and_change_nothing() {
    let (_dir, store, s) = store_with_scenario().await;
    assert_each_is_rejected_and_nothing_changes(store.db(), events_after_a_final_state(&s)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_naming_what_does_not_exist_are_rejected_and_change_nothing() {
    let (_dir, store, s) = store_with_scenario().await;
    let cases = events_naming_what_does_not_exist(&s);
    assert_each_is_rejected_and_nothing_changes(store.db(), cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_impossible_event_is_rejected_whole_and_changes_nothing() {
    let (_dir, store, s) = store_with_scenario().await;
    let mut cases = batches_of_one_kind_with_one_refused(&s);
    cases.extend(a_batch_returning_to_an_earlier_kind(&s));
    assert_each_is_rejected_and_nothing_changes(store.db(), cases).await;
}

/// A busy stretch from many tasks, so groups mix events of many builds.
async fn busy_stretch(db: &std::sync::Arc<dyn Backend>) {
    let mut tasks = Vec::new();
    for t in 0..12 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let wave: WaveId = db
                .append_one(wave(&format!("t{t}"), &["a", "b"]))
                .await
                .unwrap()
                .into();
            for i in 0..25 {
                let build: BuildId = db
                    .append_one(queued(
                        Some(wave),
                        &format!("c{}", i % 7),
                        &format!("k{t}-{i}"),
                    ))
                    .await
                    .unwrap()
                    .into();
                let mut events = vec![Event::BuildStarted { build, attempt: 1 }];
                events.extend((0..i % 4).map(|j| log(build, &"x".repeat(j + 1))));
                events.push(match i % 3 {
                    0 => Event::BuildSucceeded {
                        build,
                        outputs: vec![output("o", &format!("{t}/{i}"))],
                    },
                    1 => Event::BuildFailed {
                        build,
                        reason: "exit 1".into(),
                        kind: FailureKind::User,
                    },
                    _ => Event::BuildCancelled {
                        build,
                        reason: "superseded".into(),
                    },
                });
                db.append(events).await.unwrap();
            }
            if t % 2 == 0 {
                db.append_one(Event::WaveFinished {
                    wave,
                    summary: "done".into(),
                })
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Wipes the projections behind the store's back (a replay must bring them back).
async fn wipe_projections(dir: &std::path::Path) {
    let url = format!("sqlite:{}", dir.join("factory.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for table in ["builds", "waves", "artifacts", "components"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE builds SET state = 'x'")
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_log_rebuilds_identical_projections() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let db = store.backend();
    scenario(&*db).await;

    busy_stretch(&db).await;

    let original = db.dump_projections().await.unwrap();
    assert!(
        original["builds"].len() > 300,
        "the scenario filled the tables"
    );

    wipe_projections(dir.path()).await;
    assert_ne!(db.dump_projections().await.unwrap(), original);

    let last = db.rebuild_projections().await.unwrap();
    assert_eq!(last, db.last_seq().await.unwrap());
    assert_eq!(db.dump_projections().await.unwrap(), original);

    // And again after reopening: replay is deterministic.
    store.close().await;
    drop(store);
    let store = open(&dir).await;
    store.db().rebuild_projections().await.unwrap();
    assert_eq!(store.db().dump_projections().await.unwrap(), original);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_log_can_be_followed_until_the_build_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let db = store.backend();
    let build = one(&*db, queued(None, "hello", "k")).await;
    db.append(vec![
        Event::BuildStarted { build, attempt: 1 },
        log(build, "one\n"),
    ])
    .await
    .unwrap();
    let mut follower = factory_store::LogFollower::new(db.clone(), build);
    let writer = tokio::spawn(async move {
        for i in 0..20 {
            db.append_one(log(build, &format!("line {i}\n")))
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        db.append_one(Event::BuildSucceeded {
            build,
            outputs: vec![],
        })
        .await
        .unwrap();
    });
    let mut text = String::new();
    while let Some(chunks) =
        tokio::time::timeout(std::time::Duration::from_secs(10), follower.next())
            .await
            .expect("follower stalled")
            .unwrap()
    {
        text.extend(chunks.into_iter().map(|c| c.chunk));
    }
    writer.await.unwrap();
    let expected: String = std::iter::once("one\n".to_string())
        .chain((0..20).map(|i| format!("line {i}\n")))
        .collect();
    assert_eq!(text, expected);

    let mut unknown = factory_store::LogFollower::new(store.backend(), BuildId(4242));
    assert!(matches!(
        unknown.next().await,
        Err(StoreError::UnknownBuild {
            build: BuildId(4242)
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_replay_changes_nothing_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let db = store.db();
    scenario(db).await;
    let before = db.dump_projections().await.unwrap();
    let last = db.last_seq().await.unwrap();
    // A row this Factory cannot read, as if a newer one had written it.
    let url = format!("sqlite:{}", dir.path().join("factory.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO events (seq, recorded_at_ms, kind, schema_version, body) \
         VALUES (?, 0, 'build_started', 99, '{}')",
    )
    .bind(last.0 as i64 + 1)
    .execute(&pool)
    .await
    .unwrap();
    let err = db.rebuild_projections().await.unwrap_err();
    assert!(
        matches!(err, StoreError::FutureSchema { found: 99, .. }),
        "{err:?}"
    );
    assert_eq!(db.dump_projections().await.unwrap(), before);
    // The writer recovered: appends still work and continue the sequence.
    let seq = db.append_one(change("libgreet", "rev3")).await.unwrap();
    assert_eq!(seq.0, last.0 + 2);
}
