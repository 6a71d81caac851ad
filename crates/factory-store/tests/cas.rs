//! The content-addressed store on real directories: layout, deduplication, atomic writes,
//! verification, garbage collection, and a full disk (a small tmpfs).

mod common;

use fs_err as fs;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::queued;
use factory_store::{
    BuildId, BuildOutput, Cas, Digest, Event, INLINE_LIMIT, Seq, Store, StoreError, Verify,
};

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn identical_content_is_stored_once_under_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    let first = cas.put_bytes(b"hello world").unwrap();
    let second = cas.put_bytes(b"hello world").unwrap();
    assert!(!first.deduplicated);
    assert!(second.deduplicated);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.size, 11);

    let hex = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    assert_eq!(first.digest.to_string(), format!("sha256:{hex}"));
    let expected = dir.path().join("sha256").join(&hex[..2]).join(hex);
    assert_eq!(cas.path_of(&first.digest), expected);
    assert_eq!(files_under(dir.path()), vec![expected.clone()]);
    let mode = fs::metadata(&expected).unwrap().permissions().mode();
    assert_eq!(mode & 0o222, 0, "blobs are read-only");
    assert_eq!(
        cas.read(&first.digest, Verify::Yes).unwrap(),
        b"hello world"
    );
    assert_eq!(cas.list().unwrap(), vec![(first.digest, 11)]);
}

#[test]
fn files_and_streams_larger_than_the_buffer_hash_like_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(&dir.path().join("cas")).unwrap();
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.path().join("big.bin");
    fs::write(&file, &content).unwrap();
    let from_file = cas.put_file(&file).unwrap();
    assert_eq!(from_file.digest, Digest::of(&content));
    assert_eq!(from_file.size, content.len() as u64);
    let from_stream = cas.put_reader(&content[..]).unwrap();
    assert!(from_stream.deduplicated);
    cas.verify(&from_file.digest).unwrap();
    let out = dir.path().join("out/copy.bin");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    cas.copy_to(&from_file.digest, &out).unwrap();
    assert_eq!(fs::read(&out).unwrap(), content);
}

struct FailsMidway {
    sent: usize,
}

impl Read for FailsMidway {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.sent >= 600_000 {
            return Err(io::Error::other("network went away"));
        }
        let n = buf.len().min(100_000);
        buf[..n].fill(b'x');
        self.sent += n;
        Ok(n)
    }
}

#[test]
fn a_failed_write_leaves_no_partial_object() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    match cas.put_reader(FailsMidway { sent: 0 }) {
        Err(StoreError::Io { op, source, .. }) => {
            assert_eq!(op, "read");
            assert!(source.to_string().contains("network went away"));
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(
        files_under(dir.path()).is_empty(),
        "{:?}",
        files_under(dir.path())
    );
    // A missing source file names its path.
    let missing = dir.path().join("no-such-file");
    let err = cas.put_file(&missing).unwrap_err();
    assert!(err.to_string().contains("no-such-file"), "{err}");
}

#[test]
fn leftover_temporaries_are_removed_on_open_but_not_writes_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    let stale = dir.path().join("tmp/.put-crashed");
    fs::write(&stale, b"half a blob").unwrap();
    let long_ago = std::time::SystemTime::now() - factory_store::cas::STALE_TEMPORARY * 2;
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    // Another process opens the store while this one is writing a blob.
    let mut writing = cas.writer();
    writing.write_all(b"first half").unwrap();
    Cas::open(dir.path()).unwrap();
    assert!(!stale.exists(), "left by a crash long ago");
    writing.write_all(b", second half").unwrap();
    let put = cas.put_pending(writing.finish()).unwrap();
    assert_eq!(
        cas.read(&put.digest, factory_store::Verify::Yes).unwrap(),
        b"first half, second half"
    );
}

#[test]
fn a_finished_blob_is_digested_but_neither_visible_nor_kept_until_committed() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    let mut writing = cas.writer();
    writing.write_all(b"a tree's tar").unwrap();
    let finished = writing.finish();
    assert_eq!(finished.digest(), Digest::of(b"a tree's tar"));
    assert_eq!(finished.size(), 12);
    assert!(
        !cas.contains(&finished.digest()),
        "not visible before commit"
    );
    let put = cas.put_pending(finished).unwrap();
    assert_eq!(cas.read(&put.digest, Verify::Yes).unwrap(), b"a tree's tar");

    // A finished blob dropped instead of committed leaves nothing behind.
    let mut dropped = cas.writer();
    dropped.write_all(b"never committed").unwrap();
    let dropped = dropped.finish();
    let digest = dropped.digest();
    drop(dropped);
    assert!(!cas.contains(&digest));
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[test]
fn a_small_blob_stays_in_memory_and_a_large_one_spills_to_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    let tmp = dir.path().join("tmp");
    let mut small = cas.writer();
    small.write_all(&vec![1u8; INLINE_LIMIT]).unwrap();
    let small = small.finish();
    let digest = small.digest();
    let Ok(bytes) = small.into_bytes() else {
        panic!("a blob of INLINE_LIMIT bytes stays in memory");
    };
    assert_eq!(digest, Digest::of(&bytes));
    assert!(files_under(&tmp).is_empty() && cas.list().unwrap().is_empty());

    let mut large = cas.writer();
    large.write_all(&vec![2u8; INLINE_LIMIT]).unwrap();
    large.write_all(b"one more").unwrap();
    assert_eq!(files_under(&tmp).len(), 1, "spilled to a temporary file");
    let Err(large) = large.finish().into_bytes() else {
        panic!("a blob over INLINE_LIMIT bytes is not kept in memory");
    };
    let mut expected = vec![2u8; INLINE_LIMIT];
    expected.extend_from_slice(b"one more");
    assert_eq!(large.digest(), Digest::of(&expected));
    let put = cas.put_pending(large).unwrap();
    assert_eq!(cas.read(&put.digest, Verify::Yes).unwrap(), expected);
    assert!(files_under(&tmp).is_empty());
}

#[test]
fn corruption_and_absence_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    let put = cas.put_bytes(b"original").unwrap();
    let path = cas.path_of(&put.digest);
    fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&path, b"tampered").unwrap();
    assert!(matches!(
        cas.verify(&put.digest),
        Err(StoreError::BlobCorrupt { actual, .. }) if actual == Digest::of(b"tampered").to_string()
    ));
    assert!(matches!(
        cas.read(&put.digest, Verify::Yes),
        Err(StoreError::BlobCorrupt { .. })
    ));
    assert_eq!(cas.read(&put.digest, Verify::No).unwrap(), b"tampered");
    let absent = Digest::of(b"never stored");
    assert!(matches!(
        cas.read(&absent, Verify::No),
        Err(StoreError::BlobMissing { .. })
    ));
    assert!(!cas.contains(&absent));
}

#[test]
fn gc_removes_only_unreferenced_old_blobs_and_reports_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::open(dir.path()).unwrap();
    let keep = cas.put_bytes(b"keep me").unwrap();
    let drop_a = cas.put_bytes(b"garbage a").unwrap();
    let drop_b = cas.put_bytes(b"garbage bb").unwrap();
    let live = HashSet::from([keep.digest]);

    // Too young: a running build may not have recorded it yet.
    let report = cas.gc(&live, Duration::from_secs(3600)).unwrap();
    assert_eq!(report.removed, 0);
    assert_eq!(report.kept, 3);

    let report = cas.gc(&live, Duration::ZERO).unwrap();
    assert_eq!(report.removed, 2);
    assert_eq!(report.bytes_freed, 9 + 10);
    assert_eq!(report.kept, 1);
    assert_eq!(report.bytes_kept, 7);
    assert!(cas.contains(&keep.digest));
    assert!(!cas.contains(&drop_a.digest) && !cas.contains(&drop_b.digest));
    assert_eq!(cas.gc(&live, Duration::ZERO).unwrap().removed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_gc_keeps_what_live_builds_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    let work = tempfile::tempdir().unwrap();
    let mut builds = Vec::new();
    for version in ["v1", "v2"] {
        let build: BuildId = db
            .append_one(queued(None, "hello", &format!("key-{version}")))
            .await
            .unwrap()
            .into();
        let file = work.path().join(format!("hello-{version}.deb"));
        fs::write(&file, format!("hello {version}")).unwrap();
        let (put, _) = store
            .store_artifact(&file, "hello.deb", "deb", Some(build))
            .await
            .unwrap();
        db.append(vec![
            Event::BuildStarted { build, attempt: 1 },
            Event::BuildSucceeded {
                build,
                outputs: vec![BuildOutput {
                    name: "hello.deb".into(),
                    digest: put.digest,
                    size: put.size,
                }],
            },
        ])
        .await
        .unwrap();
        builds.push((build, put.digest));
    }
    let base = work.path().join("base.tar");
    fs::write(&base, "base layer").unwrap();
    let (base_put, _) = store
        .store_artifact(&base, "base.tar", "tarball", None)
        .await
        .unwrap();
    let stray = store.cas().put_bytes(b"never recorded").unwrap();

    assert!(
        store
            .reusable_build(&common::key("key-v1"))
            .await
            .unwrap()
            .is_some()
    );
    let report = store.gc(Duration::ZERO).await.unwrap();
    assert_eq!(report.removed, 2, "v1's output and the stray blob");
    assert_eq!(report.bytes_freed, 8 + 14);
    assert!(store.cas().contains(&builds[1].1));
    assert!(store.cas().contains(&base_put.digest));
    assert!(!store.cas().contains(&builds[0].1));
    assert!(!store.cas().contains(&stray.digest));
    // A key whose outputs were collected is no longer reusable; the newer one is.
    let key = common::key;
    assert!(
        store
            .reusable_build(&key("key-v1"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .reusable_build(&key("key-v2"))
            .await
            .unwrap()
            .unwrap()
            .id,
        builds[1].0
    );
}

/// A small tmpfs mounted for the test's lifetime (the test needs root, as on CI).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(status) if status.success() => Some(SmallDisk { dir }),
            _ => {
                assert!(
                    std::env::var_os("FACTORY_CI").is_none(),
                    "CI must be able to run this test: SKIPPED: cannot mount a tmpfs here (needs root)"
                );
                eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the store's writer may still be closing its files.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_a_typed_error_that_leaves_nothing_behind() {
    let Some(disk) = SmallDisk::mount("512k") else {
        return;
    };
    let cas = Cas::open(disk.dir.path()).unwrap();
    let small = cas.put_bytes(b"fits").unwrap();
    let big = vec![7u8; 2 * 1024 * 1024];
    match cas.put_bytes(&big) {
        Err(StoreError::DiskFull { path, op, .. }) => {
            assert!(path.starts_with(disk.dir.path().join("tmp")), "{path:?}");
            assert_eq!(op, "write");
        }
        other => panic!("expected DiskFull, got {other:?}"),
    }
    assert_eq!(
        files_under(disk.dir.path()),
        vec![cas.path_of(&small.digest)],
        "no partial object or temporary file"
    );
    // The store still works for what fits. tmpfs may report the freed pages a moment late
    // (its block count is per CPU): seen once in CI, so a few tries are allowed.
    let mut tries = 0;
    let put = loop {
        match cas.put_bytes(b"still fits") {
            Err(StoreError::DiskFull { .. }) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            result => break result.unwrap(),
        }
    };
    assert!(!put.deduplicated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_rejects_appends_cleanly_and_the_log_stays_whole() {
    let Some(disk) = SmallDisk::mount("2m") else {
        return;
    };
    let store = Store::open(disk.dir.path()).await.unwrap();
    let db = store.db();
    let build: BuildId = db
        .append_one(queued(None, "hello", "k"))
        .await
        .unwrap()
        .into();
    // Fill the disk.
    let filler = disk.dir.path().join("filler");
    let _ = fs::write(&filler, vec![0u8; 4 * 1024 * 1024]);
    let huge = "y".repeat(1024 * 1024);
    let result = db
        .append(vec![common::log(build, &huge), common::log(build, &huge)])
        .await;
    assert!(
        matches!(&result, Err(StoreError::DiskFull { path, .. }) if path.ends_with("factory.db")),
        "expected DiskFull, got {result:?}"
    );
    assert_eq!(db.last_seq().await.unwrap(), Seq(1));
    // Space comes back: appending works again and numbering continues without a gap.
    fs::remove_file(&filler).unwrap();
    let seq = db.append_one(common::log(build, "ok")).await.unwrap();
    assert_eq!(seq, Seq(2));
    assert_eq!(db.build(build).await.unwrap().unwrap().log_bytes, 2);
    store.close().await;
}
