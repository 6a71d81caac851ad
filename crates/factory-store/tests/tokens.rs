//! API tokens: made, listed, found by hash, revoked; refused where they would clash; kept
//! across a reopen and a rebuild of the projections (they are not one); audited in the log
//! without their hash.

mod common;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use common::change;
use factory_store::{Event, Scope, Seq, Store, StoreError, StoreOptions, TokenRecord, token_hash};
use factory_types::{Fault, HasFault, ManualClock};

/// 2024-01-01T00:00:00Z, in milliseconds.
const START_MS: i64 = 1_704_067_200_000;

fn clock() -> ManualClock {
    ManualClock::at(UNIX_EPOCH + Duration::from_millis(START_MS as u64))
}

async fn open(dir: &tempfile::TempDir, clock: &ManualClock) -> Store {
    let options = StoreOptions {
        clock: Arc::new(clock.clone()),
    };
    Store::open_with(dir.path(), options).await.expect("open")
}

fn owners(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A raw connection to the store's database, to look at what it holds byte for byte.
async fn raw(dir: &tempfile::TempDir) -> sqlx::SqlitePool {
    let url = format!("sqlite:{}", dir.path().join("factory.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_made_listed_found_by_its_hash_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = open(&dir, &clock).await;
    let db = store.db();
    let hash = token_hash("fty_first");

    let made = db
        .create_token("ci", Scope::Build, &owners(&["infra", "qa"]), &hash)
        .await
        .unwrap();
    let expected = TokenRecord {
        name: "ci".into(),
        scope: Scope::Build,
        owners: owners(&["infra", "qa"]),
        created_at_ms: START_MS,
        revoked_at_ms: None,
    };
    assert_eq!(made, expected);
    assert!(made.is_active());
    assert_eq!(db.tokens().await.unwrap(), vec![expected.clone()]);
    assert_eq!(db.token_by_hash(&hash).await.unwrap(), Some(expected));
    assert_eq!(
        db.token_by_hash(&token_hash("fty_other")).await.unwrap(),
        None
    );

    clock.advance(Duration::from_secs(60));
    let revoked = db.revoke_token("ci").await.unwrap().expect("it was active");
    assert_eq!(revoked.revoked_at_ms, Some(START_MS + 60_000));
    assert!(!revoked.is_active());
    // A revoked token is not accepted any more, but stays listed.
    assert_eq!(db.token_by_hash(&hash).await.unwrap(), None);
    assert_eq!(db.tokens().await.unwrap(), vec![revoked]);
    // There is no active one left to revoke.
    assert_eq!(db.revoke_token("ci").await.unwrap(), None);
    assert_eq!(db.revoke_token("never-made").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_listed_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    let db = store.db();
    for name in ["zeta", "alpha", "mid"] {
        let hash = token_hash(&format!("fty_{name}"));
        db.create_token(name, Scope::Read, &[], &hash)
            .await
            .unwrap();
    }
    let names: Vec<String> = db
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_active_token_of_a_name_is_refused_as_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    let db = store.db();
    db.create_token("ci", Scope::Admin, &[], &token_hash("fty_1"))
        .await
        .unwrap();
    let last = db.last_seq().await.unwrap();

    let err = db
        .create_token("ci", Scope::Read, &[], &token_hash("fty_2"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::TokenExists { name } if name == "ci"),
        "{err:?}"
    );
    assert_eq!(err.fault(), Fault::Input);
    assert!(err.to_string().contains("`ci`"), "{err}");
    // Nothing of the refused token was written: no row, no event.
    assert_eq!(db.tokens().await.unwrap().len(), 1);
    assert_eq!(db.token_by_hash(&token_hash("fty_2")).await.unwrap(), None);
    assert_eq!(db.last_seq().await.unwrap(), last);
    // The writer goes on.
    db.append_one(change("a", "1")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_free_again_once_its_token_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = open(&dir, &clock).await;
    let db = store.db();
    let (old, new) = (token_hash("fty_old"), token_hash("fty_new"));
    db.create_token("ci", Scope::Build, &owners(&["infra"]), &old)
        .await
        .unwrap();
    db.revoke_token("ci").await.unwrap().unwrap();
    clock.advance(Duration::from_secs(1));
    let again = db
        .create_token("ci", Scope::Admin, &[], &new)
        .await
        .unwrap();
    assert!(again.is_active());

    let listed = db.tokens().await.unwrap();
    let states: Vec<(Scope, bool)> = listed.iter().map(|t| (t.scope, t.is_active())).collect();
    // Tokens of one name: the oldest first.
    assert_eq!(states, [(Scope::Build, false), (Scope::Admin, true)]);
    assert_eq!(db.token_by_hash(&old).await.unwrap(), None);
    assert_eq!(db.token_by_hash(&new).await.unwrap(), Some(again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_issued_once_is_never_accepted_for_another_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    let db = store.db();
    let hash = token_hash("fty_same");
    db.create_token("one", Scope::Read, &[], &hash)
        .await
        .unwrap();
    db.revoke_token("one").await.unwrap().unwrap();
    // Not even once the first is revoked: that would bring a revoked token back.
    let err = db
        .create_token("two", Scope::Admin, &[], &hash)
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::TokenReused { existing, .. } if existing == "one"));
    assert_eq!(err.fault(), Fault::Factory);
    assert_eq!(db.token_by_hash(&hash).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_or_spaced_names_and_owners_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    let db = store.db();
    let hash = token_hash("fty_x");
    for (name, owners) in [
        ("", owners(&[])),
        ("two words", owners(&[])),
        ("ci", owners(&["infra", ""])),
        ("ci", owners(&["in fra"])),
    ] {
        let err = db
            .create_token(name, Scope::Build, &owners, &hash)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidTokenName { .. }),
            "{err:?}"
        );
        assert_eq!(err.fault(), Fault::Input);
    }
    assert!(db.tokens().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_rebuild_of_the_projections_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = open(&dir, &clock).await;
    let db = store.db();
    db.append_one(change("libgreet", "rev1")).await.unwrap();
    db.create_token(
        "ci",
        Scope::Build,
        &owners(&["infra"]),
        &token_hash("fty_ci"),
    )
    .await
    .unwrap();
    db.create_token("gone", Scope::Read, &[], &token_hash("fty_gone"))
        .await
        .unwrap();
    db.revoke_token("gone").await.unwrap().unwrap();
    let before = db.tokens().await.unwrap();
    let projections = db.dump_projections().await.unwrap();

    db.rebuild_projections().await.unwrap();
    assert_eq!(db.tokens().await.unwrap(), before);
    assert_eq!(db.dump_projections().await.unwrap(), projections);
    assert!(
        db.token_by_hash(&token_hash("fty_ci"))
            .await
            .unwrap()
            .is_some()
    );

    store.close().await;
    drop(store);
    let store = open(&dir, &clock).await;
    let db = store.db();
    assert_eq!(db.tokens().await.unwrap(), before);
    let found = db.token_by_hash(&token_hash("fty_ci")).await.unwrap();
    assert_eq!(found.map(|t| t.name), Some("ci".to_owned()));
    assert_eq!(
        db.token_by_hash(&token_hash("fty_gone")).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_audits_tokens_without_their_hash() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = open(&dir, &clock).await;
    let db = store.db();
    let token = "fty_secret_token_text";
    let hash = token_hash(token);
    db.append_one(change("a", "1")).await.unwrap();
    db.create_token("ci", Scope::Build, &owners(&["infra"]), &hash)
        .await
        .unwrap();
    db.revoke_token("ci").await.unwrap().unwrap();
    // Followers are told: the audit events were committed like any append.
    assert_eq!(*db.commits().borrow(), Seq(3));

    let events: Vec<Event> = db
        .events_since(Seq(0), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(
        events[1..],
        [
            Event::TokenCreated {
                name: "ci".into(),
                scope: "build".into(),
                owners: owners(&["infra"]),
            },
            Event::TokenRevoked { name: "ci".into() },
        ]
    );
    // What the log holds, byte for byte: neither the hash (hex or `sha256:`) nor the token.
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM events ORDER BY seq")
        .fetch_all(&raw(&dir).await)
        .await
        .unwrap();
    for body in &bodies {
        assert!(
            !body.contains(&hash.hex()) && !body.contains(token),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_committed_when_create_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    let hash = token_hash("fty_durable");
    store
        .db()
        .create_token("ci", Scope::Read, &[], &hash)
        .await
        .unwrap();
    // Another connection (as another process would) sees it at once.
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM tokens WHERE hash = ?")
        .bind(hash.hex())
        .fetch_all(&raw(&dir).await)
        .await
        .unwrap();
    assert_eq!(names, ["ci"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_tokens_of_one_name_exactly_one_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    let backend = store.backend();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            // Appends in between: the token writes take their turn with them.
            backend
                .append_one(change("a", &i.to_string()))
                .await
                .unwrap();
            let hash = token_hash(&format!("fty_{i}"));
            backend.create_token("ci", Scope::Read, &[], &hash).await
        }));
    }
    let mut made = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => made += 1,
            Err(err) => assert!(matches!(err, StoreError::TokenExists { .. }), "{err:?}"),
        }
    }
    assert_eq!(made, 1);
    // One audit event, and the sequence has no gap.
    let events = backend.events_since(Seq(0), 100).await.unwrap();
    assert_eq!(events.len(), 17);
    assert!(events.iter().zip(1..).all(|(e, n)| e.seq == Seq(n)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_made_before_tokens_gets_the_table_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &clock()).await;
    store.db().append_one(change("a", "1")).await.unwrap();
    store.close().await;
    drop(store);
    // Put the database back as a Factory without tokens left it.
    let pool = raw(&dir).await;
    sqlx::query("DROP TABLE tokens")
        .execute(&pool)
        .await
        .unwrap();
    let forgotten = sqlx::query("DELETE FROM _sqlx_migrations WHERE description = 'tokens'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(forgotten.rows_affected(), 1);
    pool.close().await;

    let store = open(&dir, &clock()).await;
    let db = store.db();
    assert!(db.tokens().await.unwrap().is_empty());
    db.create_token("ci", Scope::Read, &[], &token_hash("fty_late"))
        .await
        .unwrap();
    assert_eq!(db.tokens().await.unwrap().len(), 1);
    assert_eq!(db.last_seq().await.unwrap(), Seq(2));
}
