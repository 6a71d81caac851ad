//! Durable cursors and the store's identity: a cursor starts at 0, moves where it is told,
//! survives a reopen and a rebuild of the projections (it is not one), appends no event, and
//! is refused an unusable name; the identity is fixed for a store and differs between stores.

mod common;

use common::change;
use factory_store::{Seq, Store, StoreError};
use factory_types::{Fault, HasFault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_starts_at_zero_and_moves_where_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(0));
    for event in 1..=3 {
        db.append_one(change("lib", &event.to_string()))
            .await
            .unwrap();
    }
    db.set_cursor("bus", Seq(2)).await.unwrap();
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(2));
    // Cursors are independent of each other.
    assert_eq!(db.cursor("other").await.unwrap(), Seq(0));
    db.set_cursor("other", Seq(3)).await.unwrap();
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(2));
    // A reader may go back on purpose (to replay).
    db.set_cursor("bus", Seq(1)).await.unwrap();
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(1));
    // Moving a cursor is not an event: a relay publishing its own progress would never end.
    assert_eq!(db.last_seq().await.unwrap(), Seq(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_and_the_identity_survive_a_reopen_and_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let identity = {
        let store = Store::open(dir.path()).await.unwrap();
        let db = store.db();
        db.append_one(change("lib", "1")).await.unwrap();
        db.set_cursor("bus", Seq(1)).await.unwrap();
        db.rebuild_projections().await.unwrap();
        assert_eq!(db.cursor("bus").await.unwrap(), Seq(1));
        let identity = db.store_identity().await.unwrap();
        store.close().await;
        identity
    };
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(1));
    assert_eq!(db.store_identity().await.unwrap(), identity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_has_an_identity_of_its_own() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = Store::open(one.path()).await.unwrap();
    let second = Store::open(two.path()).await.unwrap();
    let a = first.db().store_identity().await.unwrap();
    let b = second.db().store_identity().await.unwrap();
    assert_ne!(a, b);
    assert_ne!(a, [0; 16]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_cursor_name_is_refused_as_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    for name in ["", "two words", "line\n"] {
        let err = db.set_cursor(name, Seq(1)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursorName { .. }),
            "{err:?}"
        );
        assert_eq!(err.fault(), Fault::Input);
    }
    // The writer goes on.
    db.set_cursor("bus", Seq(0)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_set_after_appends_is_durable_with_them() {
    // Appends submitted before the cursor are committed before it (the writer keeps order),
    // so a cursor never points past an event that is not durable.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    let pending: Vec<_> = (0..100)
        .map(|i| db.submit_lazy(vec![change("lib", &i.to_string())]))
        .collect();
    db.set_cursor("bus", Seq(100)).await.unwrap();
    assert_eq!(db.last_seq().await.unwrap(), Seq(100));
    for append in pending {
        append.await.unwrap();
    }
}
