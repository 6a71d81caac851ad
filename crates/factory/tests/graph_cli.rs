//! The graph commands end to end, on a real slice of Debian bookworm whose
//! expected answers were computed by dose-ceve (tests/data/bookworm-slice).

mod common;
use common::context;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use factory_testkit::{TestContext, run};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn slice() -> PathBuf {
    repo().join("tests/data/bookworm-slice")
}

/// `factory --store STORE ARGS...` on the context's store.
fn factory(ctx: &TestContext, args: &[&str]) -> Output {
    run(&mut ctx.factory().args(args).to_command())
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "factory failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Imports the slice into the context's store, with extra options.
fn import_slice(ctx: &TestContext, options: &[&str]) -> String {
    let sources = slice().join("Sources");
    let packages = slice().join("Packages.xz");
    let mut args = vec!["import", "debian"];
    args.extend_from_slice(options);
    args.extend([
        "--sources",
        sources.to_str().unwrap(),
        "--packages",
        packages.to_str().unwrap(),
    ]);
    ok(factory(ctx, &args))
}

/// A context whose store has the slice imported.
fn imported() -> TestContext {
    let ctx = context();
    let out = import_slice(&ctx, &[]);
    assert!(
        out.contains("debian (amd64): 59 sources"),
        "import summary: {out}"
    );
    ctx
}

/// The names `affected NAME --mode MODE` prints, one per line.
fn affected_lines(ctx: &TestContext, name: &str, mode: &str) -> Vec<String> {
    let out = ok(factory(
        ctx,
        &["affected", name, "--mode", mode, "--format", "lines"],
    ));
    lines(&out).into_iter().map(str::to_owned).collect()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty()).collect()
}

#[test]
fn closure_matches_dose_ceve_on_every_recorded_library() {
    let ctx = imported();
    let expected_dir = slice().join("expected");
    let mut checked = 0;
    for entry in fs_err::read_dir(&expected_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("closure-")
            .unwrap()
            .to_owned();
        let expected = fs_err::read_to_string(&path).unwrap();
        let ours = ok(factory(&ctx, &["affected", &name, "--format", "lines"]));
        assert_eq!(
            lines(&ours),
            lines(&expected),
            "affected {name} differs from dose-ceve"
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} expectations found");
}

#[test]
fn modes_nest_and_local_is_the_source_itself() {
    let ctx = imported();
    let set = |mode: &str| affected_lines(&ctx, "libssl-dev", mode);
    let (direct, closure, transitive) = (set("direct"), set("closure"), set("transitive"));
    assert!(!direct.is_empty());
    assert!(
        direct.iter().all(|s| closure.contains(s)),
        "direct ⊆ closure"
    );
    assert!(
        closure.iter().all(|s| transitive.contains(s)),
        "closure ⊆ transitive"
    );
    // On this slice, transitive reaches further for libpng-dev (its users' binaries
    // are build dependencies of one more source).
    let count = |name: &str, mode: &str| affected_lines(&ctx, name, mode).len();
    assert!(count("libpng-dev", "closure") < count("libpng-dev", "transitive"));
    assert_eq!(
        set("local"),
        vec!["openssl"],
        "libssl-dev is built from openssl"
    );
    let first = lines(&ok(factory(
        &ctx,
        &[
            "affected",
            "libssl-dev",
            "--alternatives",
            "first",
            "--format",
            "lines",
        ],
    )))
    .len();
    assert!(
        first <= closure.len(),
        "first alternatives only can only shrink the set"
    );
}

#[test]
fn plan_respects_every_build_dependency_checked_by_apt() {
    let ctx = imported();
    let json = ok(factory(
        &ctx,
        &["plan", "--mode", "direct", "libssl-dev", "--format", "json"],
    ));
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let direct = affected_lines(&ctx, "libssl-dev", "direct").len();
    let planned: usize = plan["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_array().unwrap().len())
        .sum();
    assert_eq!(
        planned, direct,
        "every affected source is planned exactly once"
    );
    assert!(plan["cycles"].is_array());
    // apt's own parser is the independent judge of the order.
    let has_apt = Command::new("/usr/bin/python3")
        .args(["-c", "import apt_pkg"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_apt {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must have python3-apt"
        );
        eprintln!("SKIPPED the apt_pkg order check: install python3-apt to run it");
        return;
    }
    let plan_file = ctx.path("plan.json");
    fs_err::write(&plan_file, &json).unwrap();
    let xz = ctx.path("Packages");
    let unpacked = Command::new("xz")
        .arg("-dc")
        .arg(slice().join("Packages.xz"))
        .output()
        .unwrap();
    fs_err::write(&xz, unpacked.stdout).unwrap();
    let check = Command::new("/usr/bin/python3")
        .arg(repo().join("scripts/check-plan.py"))
        .arg(slice().join("Sources"))
        .arg(&xz)
        .arg(&plan_file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "plan order violated:\n{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(report.contains(" 0 violations"), "{report}");
}

#[test]
fn import_is_idempotent() {
    let ctx = imported();
    let first = fs_err::read(ctx.store().join("graph.fgr")).unwrap();
    import_slice(&ctx, &[]);
    assert_eq!(first, fs_err::read(ctx.store().join("graph.fgr")).unwrap());
}

/// Every kind of bad index leaves the stored graph byte for byte as it was.
#[test]
fn bad_indexes_give_precise_errors_and_change_nothing() {
    let ctx = imported();
    let before = fs_err::read(ctx.store().join("graph.fgr")).unwrap();
    let work = ctx.path("work");
    fs_err::create_dir_all(&work).unwrap();
    let good_sources = fs_err::read(slice().join("Sources")).unwrap();
    let xz = fs_err::read(slice().join("Packages.xz")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.xz", xz[..xz.len() / 2].to_vec(), "truncated.xz"),
        (
            "garbled",
            b"Package: a\nVersion: 1\nthis line has no colon\n".to_vec(),
            "garbled:3",
        ),
        (
            "latin1",
            b"Package: caf\xe9\nVersion: 1\n".to_vec(),
            "latin1:1:13: invalid UTF-8",
        ),
    ];
    for (name, bytes, expected) in cases {
        let bad = work.join(name);
        fs_err::write(&bad, bytes).unwrap();
        let sources = work.join("Sources");
        fs_err::write(&sources, &good_sources).unwrap();
        let err = failed(factory(
            &ctx,
            &[
                "import",
                "debian",
                "--sources",
                sources.to_str().unwrap(),
                "--packages",
                bad.to_str().unwrap(),
            ],
        ));
        assert!(
            err.contains(expected),
            "{name}: error should mention `{expected}`:\n{err}"
        );
        assert_eq!(
            before,
            fs_err::read(ctx.store().join("graph.fgr")).unwrap(),
            "{name} changed the store"
        );
    }
}

#[test]
fn a_corrupt_stored_graph_is_an_error_not_a_panic() {
    let ctx = imported();
    let path = ctx.store().join("graph.fgr");
    let mut bytes = fs_err::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs_err::write(&path, &bytes).unwrap();
    let err = failed(factory(&ctx, &["affected", "libssl-dev"]));
    assert!(
        err.contains("corrupt") && err.contains("factory import"),
        "{err}"
    );
}

#[test]
fn unknown_names_get_a_suggestion() {
    let ctx = imported();
    let err = failed(factory(&ctx, &["affected", "libssl-dve"]));
    assert!(err.contains("did you mean `libssl-dev`"), "{err}");
    let err = failed(factory(&ctx, &["affected", "src:opensl"]));
    assert!(err.contains("did you mean `src:openssl`"), "{err}");
}

#[test]
fn trace_and_why_follow_real_edges() {
    let ctx = imported();
    let trace = ok(factory(&ctx, &["trace", "src:openssl", "--depth", "1"]));
    assert!(
        trace.contains("src:openssl -> libssl-dev [built-from]"),
        "{trace}"
    );
    let some_user = affected_lines(&ctx, "libssl-dev", "direct")[0].to_owned();
    let why = ok(factory(
        &ctx,
        &["why", &format!("src:{some_user}"), "src:openssl"],
    ));
    assert!(
        why.contains("--build-requires-->") && why.contains("--built-from--> src:openssl"),
        "{why}"
    );
    let json = ok(factory(
        &ctx,
        &[
            "why",
            &format!("src:{some_user}"),
            "libssl-dev",
            "--format",
            "json",
        ],
    ));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(!value["path"].as_array().unwrap().is_empty());
}

#[test]
fn check_accepts_the_example_and_rejects_a_cycle_without_writing() {
    let ctx = context();
    // An empty store directory, which must stay empty.
    fs_err::create_dir_all(ctx.store()).unwrap();
    let example = repo().join("examples/demo");
    let out = ok(factory(&ctx, &["check", example.to_str().unwrap()]));
    assert!(out.contains("ok"), "{out}");
    ctx.write_definition(
        "components.toml",
        "[component.a]\nkind = \"command\"\ncommands = [\"true\"]\nbuild-requires = [\"b\"]\n\n\
         [component.b]\nkind = \"command\"\ncommands = [\"true\"]\nbuild-requires = [\"a\"]\n",
    );
    let err = failed(factory(
        &ctx,
        &["check", ctx.definition().to_str().unwrap()],
    ));
    assert!(
        err.contains("components.toml:"),
        "the error names the file and line: {err}"
    );
    assert!(
        err.contains("a -> b -> a") || err.contains("b -> a -> b"),
        "the whole cycle is printed: {err}"
    );
    assert_eq!(
        fs_err::read_dir(ctx.store()).unwrap().count(),
        0,
        "check writes nothing"
    );
}

#[test]
fn the_definition_imports_into_the_same_graph() {
    let ctx = imported();
    let example = repo().join("examples/demo");
    ok(factory(
        &ctx,
        &["import", "definition", example.to_str().unwrap()],
    ));
    // Both the archive and the definition answer from one store.
    let product = ok(factory(
        &ctx,
        &[
            "affected",
            "--mode",
            "transitive",
            "src:libgreet",
            "--format",
            "lines",
        ],
    ));
    assert!(product.lines().any(|l| l == "demo-os"), "{product}");
    let debian = ok(factory(
        &ctx,
        &["affected", "libssl-dev", "--format", "lines"],
    ));
    assert!(!debian.is_empty());
}

/// Policy makes build-essential a build dependency of every source; dose
/// counts it, and so do we unless told not to.
#[test]
fn build_essential_is_an_implicit_build_dependency() {
    let ctx = imported();
    let every = ok(factory(
        &ctx,
        &["affected", "build-essential", "--format", "lines"],
    ));
    assert_eq!(
        lines(&every).len(),
        59,
        "every source of the slice needs build-essential"
    );
    let bare = context();
    import_slice(&bare, &["--no-build-essential"]);
    let named = ok(factory(
        &bare,
        &["affected", "build-essential", "--format", "lines"],
    ));
    assert!(
        lines(&named).len() < 59,
        "only sources naming build-essential themselves"
    );
}
