//! `factory gc` through the real binary: it keeps everything the latest
//! builds need (bringing the same definition up to date afterwards runs
//! nothing) and frees the outputs that newer builds superseded.

mod common;
use common::context;

use std::collections::BTreeMap;
use std::path::Path;

use factory_testkit::{TestContext, stored_blobs};

/// What `factory gc` printed: (blobs removed, bytes freed, trees removed, blobs kept).
#[derive(Debug, PartialEq)]
struct Freed {
    blobs: u64,
    bytes: u64,
    trees: u64,
    kept: u64,
}

fn gc(ctx: &TestContext, store: &Path) -> Freed {
    let out = ctx.factory().store(store).arg("gc").ok();
    eprintln!("factory gc: {}", out.trim());
    // "removed N blob(s) (B bytes) and T materialised tree(s); kept K blob(s) (B bytes)"
    let numbers: Vec<u64> = out
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 5, "unexpected gc report: {out}");
    Freed {
        blobs: numbers[0],
        bytes: numbers[1],
        trees: numbers[2],
        kept: numbers[3],
    }
}

/// Every blob of the store (files and those kept in its database), with its size.
fn blobs(store: &Path) -> BTreeMap<String, u64> {
    stored_blobs(store)
        .into_iter()
        .map(|(digest, bytes)| (digest, bytes.len() as u64))
        .collect()
}

/// The `N ran` of each `wave wN: ...` line, in order.
fn ran_per_wave(output: &str) -> Vec<usize> {
    output
        .lines()
        .filter(|l| l.starts_with("wave w"))
        .map(|l| {
            let before = l
                .split(" ran")
                .next()
                .and_then(|s| s.rsplit(' ').next())
                .unwrap_or_else(|| panic!("no `N ran` in: {l}"));
            before
                .parse()
                .unwrap_or_else(|_| panic!("no `N ran` in: {l}"))
        })
        .collect()
}

#[test]
fn after_the_demo_gc_keeps_what_the_latest_builds_need_and_frees_what_they_superseded() {
    let ctx = context();
    let work = ctx.path("demo");
    let store = work.join("store");
    let demo = || ctx.demo(&work).ok();
    let first = demo();
    assert_eq!(ran_per_wave(&first), [9, 7, 1], "{first}");

    // The demo ends on the library with a comment added; the builds of its
    // first step (library 1.0.0 and everything built from it) are superseded.
    let before = blobs(&store);
    let freed = gc(&ctx, &store);
    let after = blobs(&store);
    assert!(freed.blobs > 0, "{freed:?}");
    assert_eq!(freed.blobs as usize, before.len() - after.len());
    let gone: u64 = before
        .iter()
        .filter(|(digest, _)| !after.contains_key(*digest))
        .map(|(_, size)| size)
        .sum();
    assert_eq!(freed.bytes, gone);
    assert_eq!(freed.kept as usize, after.len());
    // Collecting again finds nothing more.
    assert_eq!(gc(&ctx, &store).blobs, 0);

    // Everything the latest builds need is still there: bringing the demo's
    // definition (as the demo left it) up to date runs nothing.
    let up = ctx
        .factory()
        .store(&store)
        .args(["up", "--once", "--definition"])
        .arg(work.join("definition"))
        .ok();
    assert_eq!(ran_per_wave(&up), [0], "{up}");
    assert!(up.contains("9 up to date"), "{up}");

    // The demo again. It starts from a fresh copy of the example, i.e. from
    // library 1.0.0, whose builds gc collected as superseded: its first step
    // rebuilds exactly those; its second and third steps (the state the
    // latest builds hold) run nothing.
    let second = demo();
    assert_eq!(ran_per_wave(&second), [7, 0, 0], "{second}");
}

#[test]
fn after_a_change_gc_frees_the_old_output_and_keeps_the_rest() {
    let ctx = context();
    ctx.write_definition(
        "factory.toml",
        r#"
[component.lib]
kind = "command"
source = { path = "src/lib" }
commands = ["cp {src}/lib.txt {out}/out.txt"]
outputs = ["out.txt"]

[component.tool]
kind = "command"
source = { path = "src/tool" }
commands = ["cp {src}/tool.txt {out}/out.txt"]
outputs = ["out.txt"]
"#,
    );
    ctx.write_source("lib", "lib.txt", "lib 1\n");
    ctx.write_source("tool", "tool.txt", "tool\n");
    let up = || ctx.up_once(&["--no-sandbox"]).ok();
    let out = up();
    assert!(out.contains("2 succeeded"), "{out}");
    let first = blobs(ctx.store());
    assert_eq!(first.len(), 2, "{first:?}");
    // Nothing is superseded yet.
    let freed = gc(&ctx, ctx.store());
    assert_eq!(
        (freed.blobs, freed.bytes, freed.kept),
        (0, 0, 2),
        "{freed:?}"
    );

    ctx.write_source("lib", "lib.txt", "lib 2, a longer line\n");
    let out = up();
    assert!(out.contains("1 succeeded"), "{out}");
    let second = blobs(ctx.store());
    let new: Vec<_> = second.keys().filter(|p| !first.contains_key(*p)).collect();
    assert_eq!(new.len(), 1, "{second:?}");

    let freed = gc(&ctx, ctx.store());
    let third = blobs(ctx.store());
    let old: Vec<_> = first.keys().filter(|p| !third.contains_key(*p)).collect();
    assert_eq!(old.len(), 1, "exactly lib's first output goes: {third:?}");
    assert_eq!(freed.blobs, 1, "{freed:?}");
    assert_eq!(freed.bytes, first[old[0]]);
    assert_eq!(freed.kept, 2);
    assert!(third.contains_key(new[0]), "lib's new output is kept");
    // Nothing the latest builds need went: up to date again without a build (answered
    // from the up-to-date stamp, which checks that every output is still stored).
    let out = up();
    assert!(
        out.starts_with("up to date:") || ran_per_wave(&out) == [0],
        "{out}"
    );
}
