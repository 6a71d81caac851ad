//! Garbage collection on the real SQLite projections and blob store: what a
//! component's latest usable build (succeeded, reused or cut off) and an
//! unfinished build need survives; superseded outputs are freed.

mod common;

use std::time::Duration;

use common::queued;
use factory_store::{BuildId, BuildOutput, Digest, Event, FailureKind, Store};

struct Fixture {
    store: Store,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        Fixture { store, _dir: dir }
    }

    /// A blob in the store, as a build's output.
    fn blob(&self, text: &str) -> BuildOutput {
        let put = self.store.cas().put_bytes(text.as_bytes()).unwrap();
        BuildOutput {
            name: "tree".into(),
            digest: put.digest,
            size: put.size,
        }
    }

    async fn queue(&self, component: &str, key: &str, inputs: &[(&str, Digest)]) -> BuildId {
        let mut event = queued(None, component, key);
        if let Event::BuildQueued { inputs: map, .. } = &mut event {
            for (name, digest) in inputs {
                // As the engine records them: bare hex.
                map.insert(format!("input:{name}"), digest.hex());
            }
        }
        self.store.db().append_one(event).await.unwrap().into()
    }

    async fn succeed(&self, component: &str, key: &str, output: &BuildOutput) -> BuildId {
        let build = self.queue(component, key, &[]).await;
        self.append(vec![
            Event::BuildStarted { build, attempt: 1 },
            Event::BuildSucceeded {
                build,
                outputs: vec![output.clone()],
            },
        ])
        .await;
        build
    }

    async fn append(&self, events: Vec<Event>) {
        self.store.db().append(events).await.unwrap();
    }

    fn cas_is_empty(&self) -> bool {
        self.store.cas().list().unwrap().is_empty()
    }

    fn has(&self, output: &BuildOutput) -> bool {
        self.store.cas().contains(&output.digest)
    }

    async fn reusable(&self, key: &str) -> bool {
        let key = common::key(key);
        self.store.reusable_build(&key).await.unwrap().is_some()
    }
}

/// Every blob the history below writes, so each step can name what it expects kept or freed.
struct History {
    lib_v1: BuildOutput,
    lib_v2: BuildOutput,
    app: BuildOutput,
    app_old: BuildOutput,
    tool_v1: BuildOutput,
    tool_v2: BuildOutput,
    stray: BuildOutput,
    /// The build of `image` that reads tool v1 and has not finished.
    running: BuildId,
}

/// lib: v1, then v2 (supersedes v1), then v1's key again, reused: the reused build is
/// the latest, and it needs v1's blob (not v2's).
async fn lib_superseded_then_reused(f: &Fixture) -> (BuildOutput, BuildOutput) {
    let lib_v1 = f.blob("lib v1");
    let lib_v2 = f.blob("lib v2");
    let first = f.succeed("lib", "lib-k1", &lib_v1).await;
    f.succeed("lib", "lib-k2", &lib_v2).await;
    let reused = f.queue("lib", "lib-k1", &[]).await;
    f.append(vec![Event::BuildReused {
        build: reused,
        from: first,
    }])
    .await;
    (lib_v1, lib_v2)
}

/// app: built, then cut off (same output), then a failed and a cancelled attempt:
/// the cut-off build is the latest usable one and keeps the output.
async fn app_cut_off_then_failed_and_cancelled(f: &Fixture) -> (BuildOutput, BuildOutput) {
    let app = f.blob("app");
    let app_old = f.blob("app before");
    f.succeed("app", "app-k0", &app_old).await;
    let built = f.succeed("app", "app-k1", &app).await;
    let cut = f.queue("app", "app-k1", &[]).await;
    f.append(vec![Event::BuildCutOff {
        build: cut,
        reason: "inputs identical".into(),
        previous: Some(built),
    }])
    .await;
    let failed = f.queue("app", "app-k2", &[]).await;
    f.append(vec![
        Event::BuildStarted {
            build: failed,
            attempt: 1,
        },
        Event::BuildFailed {
            build: failed,
            reason: "compile error".into(),
            kind: FailureKind::User,
        },
    ])
    .await;
    let cancelled = f.queue("app", "app-k3", &[]).await;
    f.append(vec![Event::BuildCancelled {
        build: cancelled,
        reason: "stopped".into(),
    }])
    .await;
    (app, app_old)
}

/// tool: v1 superseded by v2, while a build of `image` that reads tool v1 still runs.
async fn tool_superseded_while_a_reader_runs(f: &Fixture) -> (BuildOutput, BuildOutput, BuildId) {
    let tool_v1 = f.blob("tool v1");
    let tool_v2 = f.blob("tool v2");
    f.succeed("tool", "tool-k1", &tool_v1).await;
    f.succeed("tool", "tool-k2", &tool_v2).await;
    let running = f
        .queue("image:tool", "image-k1", &[("tool", tool_v1.digest)])
        .await;
    f.append(vec![Event::BuildStarted {
        build: running,
        attempt: 1,
    }])
    .await;
    (tool_v1, tool_v2, running)
}

async fn history(f: &Fixture) -> History {
    let (lib_v1, lib_v2) = lib_superseded_then_reused(f).await;
    let (app, app_old) = app_cut_off_then_failed_and_cancelled(f).await;
    let (tool_v1, tool_v2, running) = tool_superseded_while_a_reader_runs(f).await;
    let stray = f.blob("never recorded");
    History {
        lib_v1,
        lib_v2,
        app,
        app_old,
        tool_v1,
        tool_v2,
        stray,
        running,
    }
}

async fn assert_live_digests_are_what_latest_and_unfinished_builds_need(f: &Fixture, h: &History) {
    let live = f.store.db().live_digests().await.unwrap();
    let expected: std::collections::HashSet<Digest> = [&h.lib_v1, &h.app, &h.tool_v2, &h.tool_v1]
        .map(|o| o.digest)
        .into();
    assert_eq!(live, expected);
}

async fn assert_gc_frees_superseded_and_stray_blobs_only(f: &Fixture, h: &History) {
    let report = f.store.gc(Duration::ZERO).await.unwrap();
    // lib v2 (superseded by the reuse of v1), app's first output, and the stray blob.
    assert_eq!(report.removed, 3, "{report:?}");
    assert_eq!(
        report.bytes_freed,
        ("lib v2".len() + "app before".len() + "never recorded".len()) as u64
    );
    assert_eq!(report.kept, 4);
    for kept in [&h.lib_v1, &h.app, &h.tool_v1, &h.tool_v2] {
        assert!(f.has(kept), "{kept:?} was collected");
    }
    for freed in [&h.lib_v2, &h.app_old, &h.stray] {
        assert!(!f.has(freed), "{freed:?} was kept");
    }
    assert!(!f.store.cas().contains(&h.stray.digest));
}

/// What the latest builds need is still reusable; the superseded key is not.
async fn assert_only_latest_keys_are_reusable(f: &Fixture) {
    assert!(f.reusable("lib-k1").await);
    assert!(f.reusable("app-k1").await);
    assert!(f.reusable("tool-k2").await);
    assert!(!f.reusable("lib-k2").await);
    assert!(!f.reusable("app-k0").await);
}

/// Once the running build finishes and tool v1 is needed by nothing, it goes too.
async fn assert_finishing_the_reader_frees_what_only_it_needed(f: &Fixture, h: &History) {
    let image = f.blob("image");
    f.append(vec![Event::BuildSucceeded {
        build: h.running,
        outputs: vec![image.clone()],
    }])
    .await;
    let report = f.store.gc(Duration::ZERO).await.unwrap();
    assert_eq!(report.removed, 1, "{report:?}");
    assert!(!f.has(&h.tool_v1) && f.has(&h.tool_v2) && f.has(&image));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_usable_builds_and_unfinished_builds_keep_their_blobs_superseded_ones_go() {
    let f = Fixture::new().await;
    let h = history(&f).await;
    assert_live_digests_are_what_latest_and_unfinished_builds_need(&f, &h).await;
    assert_gc_frees_superseded_and_stray_blobs_only(&f, &h).await;
    assert_only_latest_keys_are_reusable(&f).await;
    assert_finishing_the_reader_frees_what_only_it_needed(&f, &h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_blobs_are_stored_with_their_event_or_not_at_all_and_collected_when_superseded() {
    use factory_store::InlineBlob;
    use std::io::Read as _;
    let f = Fixture::new().await;
    let db = f.store.db();
    let inline = |text: &[u8]| InlineBlob {
        digest: Digest::of(text),
        bytes: text.to_vec(),
    };
    let success = |build, blob: &InlineBlob| Event::BuildSucceeded {
        build,
        outputs: vec![BuildOutput {
            name: "tree".into(),
            digest: blob.digest,
            size: blob.bytes.len() as u64,
        }],
    };
    let (v1, v2) = (inline(b"tree v1"), inline(b"tree v2"));
    for (key, blob) in [("lib-k1", &v1), ("lib-k2", &v2)] {
        let build = f.queue("lib", key, &[]).await;
        let started = Event::BuildStarted { build, attempt: 1 };
        db.submit_lazy_with_blobs(vec![started, success(build, blob)], vec![blob.clone()])
            .await
            .unwrap();
    }
    assert_eq!(
        db.inline_blob(&v1.digest).await.unwrap(),
        Some(v1.bytes.clone())
    );
    let mut read = Vec::new();
    let mut blob = f.store.open_blob(&v2.digest).await.unwrap();
    blob.read_to_end(&mut read).unwrap();
    assert_eq!(read, v2.bytes);
    assert!(f.store.contains_all(&[v1.digest, v2.digest]).await.unwrap());
    assert!(f.cas_is_empty(), "small blobs are not files");

    // A rejected event (its build does not exist) takes its blob with it.
    let stray = inline(b"stray");
    let rejected = db
        .submit_lazy_with_blobs(vec![success(BuildId(999_999), &stray)], vec![stray.clone()])
        .await;
    assert!(rejected.is_err());
    assert!(!f.store.contains(&stray.digest).await.unwrap());

    // v2 superseded v1: v1 goes, v2 stays, and only v2's key is still reusable.
    let report = f.store.gc(Duration::ZERO).await.unwrap();
    assert_eq!((report.removed, report.bytes_freed), (1, 7));
    assert_eq!((report.kept, report.bytes_kept), (1, 7));
    assert!(!f.store.contains(&v1.digest).await.unwrap());
    assert!(f.store.contains(&v2.digest).await.unwrap());
    let key = common::key;
    let k1 = f.store.reusable_build(&key("lib-k1")).await.unwrap();
    let k2 = f.store.reusable_build(&key("lib-k2")).await.unwrap();
    assert!(k1.is_none() && k2.is_some());
}
