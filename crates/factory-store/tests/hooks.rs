//! The hooks' cursors: none until set, moved with the outcome events in one transaction,
//! never backwards, kept across a reopen and a rebuild of the projections (they are not
//! one), forgotten on request; a rejected outcome moves nothing.

mod common;

use common::change;
use factory_store::{BuildId, Event, FailureKind, HookOutcome, RecordedEvent, Seq, Store};

fn ran(hook: &str, event_seq: u64, attempt: u32) -> Event {
    Event::HookRan {
        hook: hook.into(),
        event_seq: Seq(event_seq),
        topic: "change.detected".into(),
        attempt,
        outcome: HookOutcome::Succeeded,
        detail: "exit code 0".into(),
        duration_ms: 3,
        retry_in_ms: None,
    }
}

async fn events(store: &Store) -> Vec<RecordedEvent> {
    store.db().events_since(Seq(0), 1000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_moves_with_the_outcome_and_never_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    assert_eq!(db.hook_cursor("notify").await.unwrap(), None);

    let first = db.append_one(change("hello", "r1")).await.unwrap();
    let seqs = db
        .advance_hook("notify", first, vec![ran("notify", first.0, 1)])
        .await
        .unwrap();
    assert_eq!(
        seqs,
        [Seq(first.0 + 1)],
        "the outcome follows what it is about"
    );
    assert_eq!(db.hook_cursor("notify").await.unwrap(), Some(first));
    let logged = events(&store).await;
    assert_eq!(logged.last().unwrap().event, ran("notify", first.0, 1));

    // Forward without events (events passed over), and never back.
    let later = db.append_one(change("hello", "r2")).await.unwrap();
    assert_eq!(
        db.advance_hook("notify", later, Vec::new()).await.unwrap(),
        []
    );
    db.advance_hook("notify", first, Vec::new()).await.unwrap();
    assert_eq!(db.hook_cursor("notify").await.unwrap(), Some(later));

    db.advance_hook("chat", Seq(1), Vec::new()).await.unwrap();
    assert_eq!(
        db.hook_cursors().await.unwrap(),
        [("chat".to_owned(), Seq(1)), ("notify".to_owned(), later)]
    );
    db.forget_hook("chat").await.unwrap();
    assert_eq!(db.hook_cursor("chat").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_survive_a_reopen_and_a_rebuild_of_the_projections() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).await.unwrap();
        let seq = store.db().append_one(change("hello", "r1")).await.unwrap();
        store
            .db()
            .advance_hook("notify", seq, vec![ran("notify", seq.0, 2)])
            .await
            .unwrap();
        store.db().close().await;
    }
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        store.db().hook_cursor("notify").await.unwrap(),
        Some(Seq(1))
    );
    store.db().rebuild_projections().await.unwrap();
    assert_eq!(
        store.db().hook_cursor("notify").await.unwrap(),
        Some(Seq(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_outcome_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    let seq = db.append_one(change("hello", "r1")).await.unwrap();
    // An event the store refuses (a build that does not exist) in the same transaction.
    let refused = Event::BuildFailed {
        build: BuildId(999),
        reason: "x".into(),
        kind: FailureKind::User,
    };
    let error = db
        .advance_hook("notify", seq, vec![ran("notify", seq.0, 1), refused])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("999"), "{error}");
    assert_eq!(db.hook_cursor("notify").await.unwrap(), None);
    assert_eq!(events(&store).await.len(), 1, "nothing of it was written");
    // The writer goes on.
    db.advance_hook("notify", seq, Vec::new()).await.unwrap();
    assert_eq!(db.hook_cursor("notify").await.unwrap(), Some(seq));
}
