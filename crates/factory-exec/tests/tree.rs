//! Tree digests: what they see and what they ignore.

mod common;

use fs_err::File;
use fs_err::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{set_mode, write};
use factory_exec::{TreeError, digest_tree, walk_tree};
use factory_types::Digest;

fn sample(root: &Path) {
    write(&root.join("usr/bin/tool"), "#!/bin/sh\necho tool\n");
    set_mode(&root.join("usr/bin/tool"), 0o755);
    write(&root.join("usr/share/doc/tool/README"), "read me\n");
    fs_err::create_dir_all(root.join("var/empty")).unwrap();
    symlink("tool", root.join("usr/bin/tool-alias")).unwrap();
}

fn digest_after(change: impl FnOnce(&Path)) -> Digest {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    change(dir.path());
    digest_tree(dir.path()).unwrap()
}

#[test]
fn same_tree_same_digest_whatever_the_mtimes_and_other_mode_bits() {
    let base = digest_after(|_| {});
    let touched = digest_after(|root| {
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(12345);
        for file in ["usr/bin/tool", "usr/share/doc/tool/README"] {
            File::options()
                .write(true)
                .open(root.join(file))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        // Group/other bits are not part of the digest, only "executable or not".
        set_mode(&root.join("usr/share/doc/tool/README"), 0o600);
        set_mode(&root.join("usr/bin/tool"), 0o700);
    });
    assert_eq!(base, touched);
}

#[test]
fn digest_changes_with_content_mode_names_links_and_empty_dirs() {
    let base = digest_after(|_| {});
    type Change = (&'static str, Box<dyn FnOnce(&Path)>);
    let changes: Vec<Change> = vec![
        (
            "content",
            Box::new(|r| write(&r.join("usr/share/doc/tool/README"), "read me!\n")),
        ),
        (
            "exec bit",
            Box::new(|r| set_mode(&r.join("usr/share/doc/tool/README"), 0o755)),
        ),
        (
            "exec bit removed",
            Box::new(|r| set_mode(&r.join("usr/bin/tool"), 0o644)),
        ),
        (
            "rename",
            Box::new(|r| fs_err::rename(r.join("usr/bin/tool"), r.join("usr/bin/tool2")).unwrap()),
        ),
        (
            "symlink target",
            Box::new(|r| {
                fs_err::remove_file(r.join("usr/bin/tool-alias")).unwrap();
                symlink("tool2", r.join("usr/bin/tool-alias")).unwrap();
            }),
        ),
        (
            "symlink replaced by file",
            Box::new(|r| {
                fs_err::remove_file(r.join("usr/bin/tool-alias")).unwrap();
                write(&r.join("usr/bin/tool-alias"), "tool");
            }),
        ),
        (
            "empty dir added",
            Box::new(|r| fs_err::create_dir(r.join("var/empty/more")).unwrap()),
        ),
        (
            "empty dir removed",
            Box::new(|r| fs_err::remove_dir(r.join("var/empty")).unwrap()),
        ),
        (
            "empty file added",
            Box::new(|r| write(&r.join("var/empty/.keep"), "")),
        ),
    ];
    let mut seen = vec![base];
    for (what, change) in changes {
        let digest = digest_after(change);
        assert!(!seen.contains(&digest), "{what} must change the digest");
        seen.push(digest);
    }
}

#[test]
fn content_moving_between_files_changes_the_digest() {
    // Length prefixes keep "ab"+"c" apart from "a"+"bc".
    let a = tempfile::tempdir().unwrap();
    write(&a.path().join("x"), "ab");
    write(&a.path().join("y"), "c");
    let b = tempfile::tempdir().unwrap();
    write(&b.path().join("x"), "a");
    write(&b.path().join("y"), "bc");
    assert_ne!(
        digest_tree(a.path()).unwrap(),
        digest_tree(b.path()).unwrap()
    );
}

#[test]
fn walk_is_sorted_with_parents_first_and_never_follows_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    symlink("/usr", dir.path().join("usr/share/host-usr")).unwrap();
    let names: Vec<String> = walk_tree(dir.path())
        .unwrap()
        .iter()
        .map(|e| e.rel.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "usr/bin/tool-alias",
            "usr/share",
            "usr/share/doc",
            "usr/share/doc/tool",
            "usr/share/doc/tool/README",
            "usr/share/host-usr",
            "var",
            "var/empty"
        ]
    );
}

#[test]
fn special_files_and_missing_roots_are_precise_errors() {
    let dir = tempfile::tempdir().unwrap();
    common::run_tool("mkfifo", &[dir.path().join("pipe").to_str().unwrap()]);
    let err = digest_tree(dir.path()).unwrap_err();
    assert!(
        matches!(&err, TreeError::UnsupportedFileType { what: "named pipe", path } if path.ends_with("pipe")),
        "{err}"
    );

    let err = digest_tree(&dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
