//! A tarball source through the real binary: `up` builds it, a new tarball
//! (new sha256) rebuilds it and both the queue reason and `factory explain`
//! name the tarball's sha256 as the source revision; a wrong sha256 fails
//! the build with the expected and actual digests.

use std::path::Path;
use std::process::{Command, Output};

fn factory() -> Command {
    Command::new(env!("CARGO_BIN_EXE_factory"))
}

fn output(command: &mut Command) -> (Output, String) {
    let output = command.output().expect("the command starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

fn ok(command: &mut Command) -> String {
    let (out, text) = output(command);
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

/// `pkg-VERSION/greeting.txt` packed by the real `tar`; returns the archive's sha256.
fn tarball(dir: &Path, version: &str) -> String {
    let work = dir.join("work");
    let top = work.join(format!("pkg-{version}"));
    std::fs::create_dir_all(&top).unwrap();
    std::fs::write(top.join("greeting.txt"), format!("hello {version}\n")).unwrap();
    let archive = dir.join("def/pkg.tar.gz");
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
    let bytes = std::fs::read(&archive).unwrap();
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

fn definition(dir: &Path, sha256: &str) {
    std::fs::write(
        dir.join("def/factory.toml"),
        format!(
            r#"
[component.pkg]
kind = "command"
source = {{ url = "pkg.tar.gz", sha256 = "{sha256}" }}
commands = ["cp {{src}}/greeting.txt {{out}}/out.txt"]
outputs = ["out.txt"]
"#
        ),
    )
    .unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("def")).unwrap();
    let store = dir.path().join("store");
    let up = || {
        output(
            factory()
                .arg("--store")
                .arg(&store)
                .args(["up", "--once", "--no-sandbox", "--definition"])
                .arg(dir.path().join("def")),
        )
    };

    let v1 = tarball(dir.path(), "1.0");
    definition(dir.path(), &v1);
    let (status, first) = up();
    assert!(status.status.success(), "{first}");
    assert!(first.contains("1 succeeded"), "{first}");

    // A wrong sha256: the build fails before it runs, saying both digests.
    let wrong = "0".repeat(64);
    definition(dir.path(), &wrong);
    let (_, failed) = up();
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
    std::fs::remove_dir_all(dir.path().join("work")).unwrap();
    let v2 = tarball(dir.path(), "2.0");
    definition(dir.path(), &v2);
    let second = ok(factory()
        .arg("--store")
        .arg(&store)
        .args(["up", "--once", "--no-sandbox", "--definition"])
        .arg(dir.path().join("def")));
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
    let explained = ok(factory()
        .arg("--store")
        .arg(&store)
        .args(["explain", &build]));
    assert!(
        explained.contains(&format!(
            "source revision (tarball sha256) changed: {} -> {}",
            short(&v1),
            short(&v2)
        )),
        "{explained}"
    );
}
