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

/// Two waves: the first runs to the end with every final state, the second is interrupted
/// with one build scheduled and one building (as after a crash).
async fn scenario(log: &dyn Backend) -> Scenario {
    log.append_one(change("libgreet", "rev1")).await.unwrap();
    let wave1: WaveId = log
        .append_one(wave(
            "libgreet",
            &["libgreet", "hello", "broken", "bye", "tool"],
        ))
        .await
        .unwrap()
        .into();
    let ids: Vec<BuildId> = log
        .append(vec![
            queued(Some(wave1), "libgreet", "k-libgreet-1"),
            queued(Some(wave1), "hello", "k-hello-1"),
            queued(Some(wave1), "broken", "k-broken"),
            queued(Some(wave1), "bye", "k-bye"),
            queued(Some(wave1), "tool", "k-tool"),
        ])
        .await
        .unwrap()
        .into_iter()
        .map(BuildId::from)
        .collect();
    let [libgreet1, hello1, broken, bye, tool] = ids[..] else {
        unreachable!()
    };
    run(log, libgreet1, vec![output("libgreet.deb", "greet v1")]).await;
    log.append_one(Event::ArtifactStored {
        digest: Digest::of(b"greet v1"),
        name: "libgreet.deb".into(),
        kind: "deb".into(),
        size: 8,
        build: Some(libgreet1),
    })
    .await
    .unwrap();
    run(log, hello1, vec![output("hello.deb", "hello v1")]).await;
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
    log.append_one(Event::WaveFinished {
        wave: wave1,
        summary: "2 succeeded, 1 failed, 1 blocked, 1 cancelled".into(),
    })
    .await
    .unwrap();

    log.append_one(change("libgreet", "rev2")).await.unwrap();
    let wave2: WaveId = log
        .append_one(wave("libgreet", &["libgreet", "hello"]))
        .await
        .unwrap()
        .into();
    let libgreet2 = one(log, queued(Some(wave2), "libgreet", "k-libgreet-2")).await;
    run(log, libgreet2, vec![output("libgreet.deb", "greet v1")]).await;
    let hello2 = one(log, queued(Some(wave2), "hello", "k-hello-2")).await;
    log.append_one(Event::BuildCutOff {
        build: hello2,
        reason: "libgreet's outputs are unchanged".into(),
        previous: Some(hello1),
    })
    .await
    .unwrap();
    let hello3 = one(log, queued(Some(wave2), "hello", "k-hello-1")).await;
    log.append_one(Event::BuildReused {
        build: hello3,
        from: hello1,
    })
    .await
    .unwrap();
    let pending = one(log, queued(Some(wave2), "bye", "k-bye-2")).await;
    let running = one(log, queued(Some(wave2), "tool", "k-tool-2")).await;
    log.append(vec![
        Event::BuildStarted {
            build: running,
            attempt: 1,
        },
        log_line(running, "half"),
    ])
    .await
    .unwrap();
    Scenario {
        wave1,
        wave2,
        libgreet1,
        hello1,
        broken,
        bye,
        tool,
        libgreet2,
        hello2,
        hello3,
        pending,
        running,
    }
}

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_what_the_engine_asks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let db = store.db();
    let s = scenario(db).await;

    // Has this key already succeeded? Its outputs.
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

    // Latest builds of a component.
    assert_eq!(
        db.latest_build("hello").await.unwrap().unwrap().id,
        s.hello3
    );
    // Every component at once: the same records as asked one by one.
    let all = db.components().await.unwrap();
    let names = db.component_names().await.unwrap();
    assert_eq!(all.len(), names.len());
    for (record, name) in all.iter().zip(&names) {
        assert_eq!(Some(record), db.component(name).await.unwrap().as_ref());
    }

    // Many components in one query: the same answers as one by one, none for a component
    // without a usable build or unknown.
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
    let ids = |builds: &[factory_store::BuildRecord]| {
        let mut ids: Vec<_> = builds.iter().map(|b| b.id).collect();
        ids.sort();
        ids
    };
    assert!(!batch.is_empty());
    assert_eq!(ids(&batch), ids(&one_by_one));
    assert!(
        batch
            .iter()
            .all(|b| b.component != "broken" && b.component != "nope")
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

    // A wave's builds with their states.
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
    // Cut off: the previous build's outputs stand.
    let hello2 = db.build(s.hello2).await.unwrap().unwrap();
    assert_eq!(hello2.outputs, vec![output("hello.deb", "hello v1")]);

    // What to resume after a crash.
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

    // Component state.
    let libgreet = db.component("libgreet").await.unwrap().unwrap();
    assert_eq!(libgreet.revision.as_deref(), Some("rev2"));
    assert_eq!(libgreet.latest_build.unwrap().id, s.libgreet2);
    assert_eq!(
        db.component_names().await.unwrap(),
        vec!["broken", "bye", "hello", "libgreet", "tool"]
    );
    assert!(db.component("nope").await.unwrap().is_none());

    // Logs, readable by build, and their size.
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

    // Artifacts and what garbage collection must keep.
    let artifacts = db.artifacts_of_build(s.libgreet1).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].digest, Digest::of(b"greet v1"));
    let live = db.live_digests().await.unwrap();
    assert!(live.contains(&Digest::of(b"greet v1")));
    assert!(live.contains(&Digest::of(b"hello v1")));
    assert_eq!(live.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_events_are_rejected_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let db = store.db();
    let s = scenario(db).await;
    let before = db.last_seq().await.unwrap();
    let dump = db.dump_projections().await.unwrap();

    let cases: Vec<(Vec<Event>, &str)> = vec![
        (
            vec![Event::BuildStarted {
                build: s.hello1,
                attempt: 2,
            }],
            "is succeeded",
        ),
        (
            vec![Event::BuildStarted {
                build: s.broken,
                attempt: 3,
            }],
            "is failed",
        ),
        (
            vec![Event::BuildSucceeded {
                build: s.tool,
                outputs: vec![],
            }],
            "is cancelled",
        ),
        (
            vec![queued(Some(WaveId(99_999)), "x", "k")],
            "wave w99999 does not exist",
        ),
        (
            vec![Event::BuildReused {
                build: s.pending,
                from: s.broken,
            }],
            "reusing a build with usable outputs",
        ),
        (
            vec![Event::WaveFinished {
                wave: s.wave1,
                summary: "again".into(),
            }],
            "already finished",
        ),
        (
            vec![
                // The valid first event must not be written either.
                log(s.running, "more"),
                log(BuildId(123_456), "nobody"),
            ],
            "b123456 does not exist",
        ),
        // Many builds of one kind are applied by one statement: the refusal still names
        // the build whose event was refused, and the valid ones are not written either.
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
            "build b{hello1} is succeeded",
        ),
        (
            vec![
                queued(Some(s.wave1), "fresh", "k-fresh"),
                queued(Some(WaveId(99_999)), "x", "k"),
            ],
            "wave w99999 does not exist",
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
            "build b{tool} is cancelled",
        ),
        // A build coming back to an earlier kind is applied after what came before it.
        (
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
            "build b{pending} is succeeded",
        ),
        (
            vec![Event::ArtifactStored {
                digest: Digest::of(b""),
                name: "x".into(),
                kind: "file".into(),
                size: 0,
                build: Some(BuildId(777_777)),
            }],
            "does not exist",
        ),
    ];
    for (events, expected) in cases {
        let expected = expected
            .replace("{hello1}", &s.hello1.0.to_string())
            .replace("{tool}", &s.tool.0.to_string())
            .replace("{pending}", &s.pending.0.to_string());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_log_rebuilds_identical_projections() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let db = store.backend();
    scenario(&*db).await;

    // Plus a busy stretch from many tasks, so groups mix events of many builds.
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

    let original = db.dump_projections().await.unwrap();
    assert!(
        original["builds"].len() > 300,
        "the scenario filled the tables"
    );

    // Wipe projections behind the store's back, then rebuild from the log.
    let url = format!("sqlite:{}", dir.path().join("factory.db").display());
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
