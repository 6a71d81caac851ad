//! What the tests of signatures share: keys in a temporary store, and the stock verifiers
//! (`gpgv`, `sqv`, `skopeo`, Python's in-toto bindings) run as users would run them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use factory_sign::{Encoding, InitSettings, Keys, Role};
use factory_types::SystemClock;

/// Whether every tool in `tools` runs; without them a test skips loudly, except under CI
/// (`FACTORY_CI`), where it fails.
pub(crate) fn have(tools: &[&str], install: &str) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|tool| Command::new(tool).arg("--version").output().is_err())
        .collect();
    skip_unless(
        missing.is_empty(),
        &format!("{missing:?} not installed ({install})"),
    )
}

/// Whether Python has the in-toto attestation bindings.
pub(crate) fn have_in_toto() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import in_toto_attestation"])
        .output()
        .is_ok_and(|o| o.status.success());
    skip_unless(
        found,
        "the Python package in-toto-attestation is not installed (pip install in-toto-attestation)",
    )
}

fn skip_unless(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    let message = format!("SKIPPED: {why}");
    assert!(
        std::env::var_os("FACTORY_CI").is_none(),
        "CI must be able to run this test: {message}"
    );
    eprintln!("{message}");
    false
}

/// A key directory with both keys, on the real clock (the stock tools compare signature
/// times with theirs).
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) keys: Keys,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::init(
            &dir.path().join("keys"),
            SystemClock::shared(),
            &InitSettings::default(),
        )
        .unwrap();
        Fixture { dir, keys }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `name` in the fixture's directory with `bytes` in it.
    pub(crate) fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        fs_err::write(&path, bytes).unwrap();
        path
    }

    /// The exported public keys of `role`, in a file.
    pub(crate) fn keyring(&self, role: Role, encoding: Encoding) -> PathBuf {
        let name = match encoding {
            Encoding::Binary => format!("{role}.gpg"),
            Encoding::Armored => format!("{role}.asc"),
        };
        self.file(&name, &self.keys.export(role, encoding).unwrap())
    }
}

pub(crate) fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `gpgv --keyring KEYRING ARGS…`, with a home of its own (it must find no other keys).
pub(crate) fn gpgv(keyring: &Path, args: &[&Path]) -> Output {
    let home = tempfile::tempdir().unwrap();
    run(Command::new("gpgv")
        .arg("--homedir")
        .arg(home.path())
        .arg("--keyring")
        .arg(keyring)
        .args(args))
}

/// `sqv --keyring KEYRING SIG FILE`.
pub(crate) fn sqv(keyring: &Path, signature: &Path, file: &Path) -> Output {
    run(Command::new("sqv")
        .arg("--keyring")
        .arg(keyring)
        .arg(signature)
        .arg(file))
}
