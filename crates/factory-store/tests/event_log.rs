//! The event log on real SQLite files: numbering, durability across reopen, group commit
//! with concurrent appenders, rejection of bad requests, following.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{change, log, queued};
use factory_store::{Backend, BuildId, Event, RecordedEvent, Seq, Store, StoreError};

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path()).await.expect("open store")
}

/// Appends from many tasks at once (through `log`), returns every acknowledged sequence number.
async fn append_concurrently(log: Arc<dyn Backend>, tasks: usize, per_task: usize) -> Vec<Seq> {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..per_task {
                // Mix single events and small atomic batches.
                if i % 3 == 0 {
                    let events = (0..3).map(|j| change(&format!("c{task}"), &format!("{i}.{j}")));
                    let seqs = log.append(events.collect()).await.expect("append batch");
                    assert_eq!(seqs.len(), 3);
                    // A request's events are contiguous and in order.
                    assert_eq!(seqs[1].0, seqs[0].0 + 1);
                    assert_eq!(seqs[2].0, seqs[0].0 + 2);
                    acked.extend(seqs);
                } else {
                    let seq = log
                        .append_one(change(&format!("c{task}"), &i.to_string()))
                        .await
                        .expect("append");
                    acked.push(seq);
                }
            }
            acked
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.expect("appender task"));
    }
    all
}

/// The log holds exactly 1..=n, in order, and `acked` is exactly that set.
async fn assert_gap_free(log: &dyn Backend, acked: &[Seq]) {
    let last = log.last_seq().await.unwrap();
    let acked_set: BTreeSet<u64> = acked.iter().map(|s| s.0).collect();
    assert_eq!(
        acked_set.len(),
        acked.len(),
        "a sequence number was handed out twice"
    );
    assert_eq!(acked_set, (1..=last.0).collect::<BTreeSet<u64>>());
    let mut read = Vec::new();
    let mut after = Seq(0);
    loop {
        let page = log.events_since(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        read.extend(page.iter().map(|e| e.seq.0));
    }
    assert_eq!(read, (1..=last.0).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_get_a_gap_free_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let acked = append_concurrently(store.backend(), 40, 60).await;
    assert_eq!(acked.len(), 40 * (20 * 3 + 40));
    assert_gap_free(store.db(), &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_file_stay_gap_free() {
    // Two independent handles have two writer connections, as two processes would: the
    // write lock taken by BEGIN IMMEDIATE must keep numbering unique and gap-free.
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).await.unwrap();
    let second = Store::open(dir.path()).await.unwrap();
    let (a, b) = tokio::join!(
        append_concurrently(first.backend(), 8, 50),
        append_concurrently(second.backend(), 8, 50)
    );
    let all: Vec<Seq> = a.into_iter().chain(b).collect();
    assert_eq!(all.len(), 2 * 8 * (17 * 3 + 33));
    assert_gap_free(first.db(), &all).await;
    assert_gap_free(second.db(), &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_reopen_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let store = open(&dir).await;
        let wave = store
            .db()
            .append_one(common::wave("libgreet", &["libgreet"]))
            .await
            .unwrap();
        let build = store
            .db()
            .append_one(queued(Some(wave.into()), "libgreet", "k1"))
            .await
            .unwrap();
        store
            .db()
            .append(vec![
                Event::BuildStarted {
                    build: build.into(),
                    attempt: 1,
                },
                log(build.into(), "compiling\n"),
            ])
            .await
            .unwrap();
        let events = store.db().events_since(Seq(0), 100).await.unwrap();
        store.close().await;
        events
    };
    assert_eq!(written.len(), 4);
    let store = open(&dir).await;
    assert_eq!(store.db().last_seq().await.unwrap(), Seq(4));
    assert_eq!(store.db().events_since(Seq(0), 100).await.unwrap(), written);
    assert_eq!(
        store.db().events_since(Seq(2), 1).await.unwrap(),
        written[2..3].to_vec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_writes_nothing_and_spares_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let build: BuildId = store
        .db()
        .append_one(queued(None, "hello", "k"))
        .await
        .unwrap()
        .into();

    // Fire a valid and an invalid request at the same time so they may share a group.
    let db = store.backend();
    let good = tokio::spawn(async move {
        let mut seqs = Vec::new();
        for i in 0..50 {
            seqs.push(
                db.append_one(change("hello", &i.to_string()))
                    .await
                    .unwrap(),
            );
        }
        seqs
    });
    let bad = store
        .db()
        .append(vec![
            log(build, "this would be fine"),
            Event::BuildSucceeded {
                build: BuildId(9_999),
                outputs: vec![],
            },
        ])
        .await;
    let good = good.await.unwrap();

    match bad {
        Err(StoreError::InvalidEvent { kind, reason }) => {
            assert_eq!(kind, "build_succeeded");
            assert!(reason.contains("b9999 does not exist"), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let all = store.db().events_since(Seq(0), 1000).await.unwrap();
    assert_eq!(all.len(), 51, "only the queued build and the 50 changes");
    assert!(
        all.iter()
            .all(|e| !matches!(e.event, Event::BuildLog { .. }))
    );
    assert_eq!(store.db().build(build).await.unwrap().unwrap().log_bytes, 0);
    let mut acked: Vec<Seq> = good;
    acked.push(Seq(1));
    assert_gap_free(store.db(), &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store.db().append_one(change("a", "1")).await.unwrap();
    let url = format!("sqlite:{}", dir.path().join("factory.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for sql in ["UPDATE events SET body = '{}'", "DELETE FROM events"] {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(store.db().last_seq().await.unwrap(), Seq(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store.db().append_one(change("before", "0")).await.unwrap();
    let mut follower = store.follow(Seq(0));
    let db = store.backend();
    let appender = tokio::spawn(async move {
        for i in 0..300 {
            db.append_one(change("x", &i.to_string())).await.unwrap();
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let mut seen: Vec<RecordedEvent> = Vec::new();
    while seen.len() < 301 {
        let event = tokio::time::timeout(Duration::from_secs(10), follower.next())
            .await
            .expect("follower stalled")
            .unwrap();
        seen.push(event);
    }
    appender.await.unwrap();
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, (1..=301).collect::<Vec<u64>>());
    assert_eq!(follower.position(), Seq(301));
    // Nothing more is there.
    assert!(follower.next_available().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_appends_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let reader = Store::open(dir.path()).await.unwrap();
    let other = Store::open(dir.path()).await.unwrap();
    let other = other.db();
    let mut follower = reader
        .follow(Seq(0))
        .with_poll_interval(Duration::from_millis(20));
    other.append_one(change("far", "1")).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), follower.next())
        .await
        .expect("a poll should have found the other writer's event")
        .unwrap();
    assert_eq!(event.seq, Seq(1));
    assert_eq!(event.event, change("far", "1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_append_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    assert_eq!(store.db().append(vec![]).await.unwrap(), vec![]);
    assert_eq!(store.db().last_seq().await.unwrap(), Seq(0));
    assert!(dir.path().join("factory.db").is_file());
    assert!(dir.path().join("cas/sha256").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_database_file_is_a_precise_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("factory.db");
    fs_err::write(
        &db,
        b"this is not a database, just some text of a few bytes\n".repeat(100),
    )
    .unwrap();
    let err = match Store::open(dir.path()).await {
        Err(err) => err,
        Ok(_) => panic!("a garbage file must not open"),
    };
    assert!(
        matches!(
            err,
            StoreError::Database { .. } | StoreError::Migration { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("factory.db"), "{err}");
    // Nothing was changed.
    assert_eq!(
        fs_err::read(&db).unwrap(),
        b"this is not a database, just some text of a few bytes\n".repeat(100)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_from_a_newer_factory_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    store.db().append_one(change("a", "1")).await.unwrap();
    let url = format!("sqlite:{}", dir.path().join("factory.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO events (seq, recorded_at_ms, kind, schema_version, body) \
         VALUES (2, 0, 'quantum_build', 99, '{}')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = store.db().events_since(Seq(0), 10).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::FutureSchema {
                seq: Seq(2),
                found: 99,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade Factory"), "{err}");
    assert_eq!(store.db().events_since(Seq(0), 1).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_fire_and_forget_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for i in 0..500 {
        // The returned futures are dropped: the events are still written.
        drop(store.db().submit(vec![change("x", &i.to_string())]));
    }
    store.db().flush().await.unwrap();
    assert_eq!(store.db().last_seq().await.unwrap(), Seq(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_openers_of_a_fresh_store_all_succeed() {
    // `factory up` and `factory events --follow` started together on a new directory.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let opens = (0..4).map(|_| {
            let path = dir.path().to_owned();
            tokio::spawn(async move { Store::open(&path).await.map(|_| ()) })
        });
        for open in opens.collect::<Vec<_>>() {
            open.await.unwrap().expect("concurrent open");
        }
    }
}

fn is_send<T: Send>(_: T) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_futures_can_be_spawned() {
    // Compile-time check: the engine runs these inside `tokio::spawn`.
    let dir = tempfile::tempdir().unwrap();
    is_send(Store::open(dir.path()));
    let store = open(&dir).await;
    let db = store.db();
    is_send(db.append(vec![]));
    is_send(db.submit(vec![]));
    is_send(db.flush());
    is_send(db.events_since(Seq(0), 1));
    is_send(db.last_seq());
    is_send(db.rebuild_projections());
    is_send(db.live_digests());
    is_send(db.build(BuildId(1)));
    is_send(db.component("x"));
    is_send(store.gc(Duration::ZERO));
    is_send(store.store_artifact(dir.path(), "n", "k", None));
    is_send(store.reusable_build(&common::key("k")));
    let mut follower = store.follow(Seq(0));
    is_send(follower.next());
    let mut logs = factory_store::LogFollower::new(store.backend(), BuildId(1));
    is_send(logs.next());
}
