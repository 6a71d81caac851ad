//! A tarball source through the real binary: `up` builds it, a new tarball
//! (new sha256) rebuilds it and both the queue reason and `factory explain`
//! name the tarball's sha256 as the source revision; a wrong sha256 fails
//! the build with the expected and actual digests.

mod common;
use common::context;

use std::process::Command;

use factory_testkit::{FactoryCommand, TestContext, write};

/// Runs `command`, requires success, returns what it printed on both outputs.
fn ok(command: &FactoryCommand) -> String {
    let outcome = command.output();
    assert!(outcome.success(), "{outcome}");
    outcome.text()
}

/// `pkg-VERSION/greeting.txt` packed by the real `tar`; returns the archive's sha256.
fn tarball(ctx: &TestContext, version: &str) -> String {
    let work = ctx.path("work");
    let top = work.join(format!("pkg-{version}"));
    write(&top.join("greeting.txt"), &format!("hello {version}\n"));
    let archive = ctx.definition().join("pkg.tar.gz");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&work)
        .arg("-czf")
        .arg(&archive)
        .arg(format!("pkg-{version}"))
        .status();
    match status {
        Ok(s) => assert!(s.success(), "tar failed"),
        Err(e) => panic!("`tar` is needed by this test (apt-get install tar gzip): {e}"),
    }
    let bytes = fs_err::read(&archive).unwrap();
    sha256_hex(&bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn definition(ctx: &TestContext, sha256: &str) {
    ctx.write_definition(
        "factory.toml",
        &format!(
            r#"
[component.pkg]
kind = "command"
source = {{ url = "pkg.tar.gz", sha256 = "{sha256}" }}
commands = ["cp {{src}}/greeting.txt {{out}}/out.txt"]
outputs = ["out.txt"]
"#
        ),
    );
}

/// The build id (`bN`) on the line of `job` in `up`'s wave report.
fn build_of(up: &str, job: &str) -> String {
    up.lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let id = words.next()?;
            (words.next() == Some(job) && id.starts_with('b')).then(|| id.to_owned())
        })
        .unwrap_or_else(|| panic!("no build of {job} in:\n{up}"))
}

#[test]
fn a_new_tarball_rebuilds_and_its_sha256_is_the_revision_explain_shows() {
    let ctx = context();
    fs_err::create_dir_all(ctx.definition()).unwrap();
    let up = || ctx.up_once(&["--no-sandbox"]);

    let v1 = tarball(&ctx, "1.0");
    definition(&ctx, &v1);
    let first = up().output();
    assert!(first.success(), "{first}");
    let first = first.text();
    assert!(first.contains("1 succeeded"), "{first}");

    // A wrong sha256: the build fails before it runs, saying both digests.
    let wrong = "0".repeat(64);
    definition(&ctx, &wrong);
    let failed = up().output().text();
    for needle in [
        "component `pkg`",
        "`pkg.tar.gz`",
        &format!("has sha256 {v1}"),
        &format!("expects {wrong}"),
    ] {
        assert!(
            failed.contains(needle),
            "`{needle}` missing from:\n{failed}"
        );
    }

    // A new release.
    fs_err::remove_dir_all(ctx.path("work")).unwrap();
    let v2 = tarball(&ctx, "2.0");
    definition(&ctx, &v2);
    let second = ok(&up());
    assert!(second.contains("1 succeeded"), "{second}");
    let short = |s: &str| s.chars().take(12).collect::<String>();
    assert!(
        second.contains(&format!(
            "revision changed: {} -> {}",
            short(&v1),
            short(&v2)
        )),
        "{second}"
    );
    let build = build_of(&second, "pkg");
    let explained = ok(&ctx.factory().args(["explain", &build]));
    assert!(
        explained.contains(&format!(
            "source revision (tarball sha256) changed: {} -> {}",
            short(&v1),
            short(&v2)
        )),
        "{explained}"
    );
}
