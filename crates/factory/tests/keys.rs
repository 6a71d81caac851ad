//! `factory keys` through the real binary: init, list, rotate, export; what the exported
//! keys verify is checked by the stock tools only (`gpgv`, `sqv`); a private key appears
//! in no output, in no log and nowhere but its own 0600 file; mistakes exit with a precise
//! message and the code of their fault.

mod common;
use common::context;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use factory_sign::{Encoding, Keys, Role};
use factory_testkit::TestContext;
use factory_types::SystemClock;

/// Whether `gpgv` and `sqv` run; without them the test skips loudly, except under CI.
fn have_verifiers() -> bool {
    let missing: Vec<&str> = ["gpgv", "sqv"]
        .into_iter()
        .filter(|tool| Command::new(tool).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("SKIPPED: {missing:?} not installed (apt-get install gpgv sqv)");
    assert!(
        std::env::var_os("FACTORY_CI").is_none(),
        "CI must be able to run this test: {message}"
    );
    eprintln!("{message}");
    false
}

/// `factory keys ARGS…` with the most verbose log there is, so that a key in a log would
/// show.
fn keys(ctx: &TestContext, args: &[&str]) -> Ran {
    let mut command = ctx.factory().arg("keys").args(args).to_command();
    let output = command.env("FACTORY_LOG", "trace").output().unwrap();
    Ran {
        args: args.join(" "),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What one command did.
struct Ran {
    args: String,
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn success(&self) -> bool {
        self.status.success()
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "factory keys {}: {}\nstdout:\n{}\nstderr:\n{}",
            self.args, self.status, self.stdout, self.stderr
        )
    }
}

fn ok(ctx: &TestContext, args: &[&str]) -> Ran {
    let outcome = keys(ctx, args);
    assert!(outcome.success(), "{outcome}");
    outcome
}

fn key_dir(ctx: &TestContext) -> PathBuf {
    Keys::dir_of_store(ctx.store())
}

/// The rows of a key table: role, fingerprint, algorithm, created, expires, state.
fn rows(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "role",
            "fingerprint",
            "algorithm",
            "created",
            "expires",
            "state"
        ]
    );
    lines
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// 16-byte pieces of a private key file that its public part does not have: the secret
/// itself is among them.
fn secret_pieces(key_file: &Path) -> Vec<Vec<u8>> {
    let secret = fs_err::read(key_file).unwrap();
    let public = fs_err::read(key_file.with_extension("pub")).unwrap();
    let pieces: Vec<Vec<u8>> = secret
        .windows(16)
        .filter(|w| !public.windows(16).any(|p| p == *w))
        .map(<[u8]>::to_vec)
        .collect();
    assert!(
        !pieces.is_empty(),
        "the private part differs from the public one"
    );
    pieces
}

/// Whether `text` carries any of `pieces`: raw, in hex, or inside base64 (armor).
fn leaks(text: &[u8], pieces: &[Vec<u8>]) -> bool {
    let mut forms = vec![text.to_vec()];
    let as_text = String::from_utf8_lossy(text);
    let base64_body: String = as_text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.starts_with('='))
        .collect();
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(base64_body.trim()) {
        forms.push(decoded);
    }
    pieces.iter().any(|piece| {
        let hex_lower = hex::encode(piece);
        let hex_upper = hex_lower.to_uppercase();
        forms
            .iter()
            .any(|form| form.windows(piece.len()).any(|w| w == piece.as_slice()))
            || as_text.contains(&hex_lower)
            || as_text.contains(&hex_upper)
    })
}

/// A detached signature of `Suite: stable` by the active release key, made through the
/// library on the keys the binary made, in the file `name`.
fn signed_by_release_key(ctx: &TestContext, name: &str) -> PathBuf {
    let keys = Keys::open(&key_dir(ctx), SystemClock::shared()).unwrap();
    let signer = keys.signer(Role::Release).unwrap();
    let signature = signer
        .detached(b"Suite: stable\n", Encoding::Binary)
        .unwrap();
    let path = ctx.path(name);
    fs_err::write(&path, signature).unwrap();
    path
}

/// Whether `gpgv` (with the binary keyring) and `sqv` (with the armored one) both accept
/// `signature` over `data`.
fn stock_tools_verify(binary: &Path, armored: &Path, signature: &Path, data: &Path) -> bool {
    let home = tempfile::tempdir().unwrap();
    let gpgv = Command::new("gpgv")
        .arg("--homedir")
        .arg(home.path())
        .arg("--keyring")
        .arg(binary)
        .arg(signature)
        .arg(data)
        .output()
        .unwrap();
    let sqv = Command::new("sqv")
        .arg("--keyring")
        .arg(armored)
        .arg(signature)
        .arg(data)
        .output()
        .unwrap();
    gpgv.status.success() && sqv.status.success()
}

/// No piece of any private key in the store is in `outputs` or `files`.
fn assert_no_private_key_in(ctx: &TestContext, outputs: &[Ran], files: &[&Path]) {
    let mut secrets = Vec::new();
    let mut a_key_file = None;
    for entry in fs_err::read_dir(key_dir(ctx)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            assert_eq!(
                fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            secrets.extend(secret_pieces(&path));
            a_key_file = Some(path);
        }
    }
    let a_key_file = fs_err::read(a_key_file.expect("keys in the store")).unwrap();
    assert!(
        leaks(&a_key_file, &secrets),
        "the check finds a key where there is one"
    );
    for outcome in outputs {
        assert!(!leaks(outcome.stdout.as_bytes(), &secrets), "{outcome}");
        assert!(!leaks(outcome.stderr.as_bytes(), &secrets), "{outcome}");
    }
    for file in files {
        assert!(
            !leaks(&fs_err::read(file).unwrap(), &secrets),
            "{}",
            file.display()
        );
    }
}

/// `factory keys export ROLE` twice: binary into `ROLE.gpg`, armored (from standard
/// output) into `ROLE.asc`; the two paths.
fn export_both(ctx: &TestContext, role: &str, outputs: &mut Vec<Ran>) -> (PathBuf, PathBuf) {
    let binary = ctx.path(format!("{role}.gpg"));
    outputs.push(ok(
        ctx,
        &["export", role, "--output", binary.to_str().unwrap()],
    ));
    let armored = ok(ctx, &["export", role, "--armor"]);
    assert!(
        armored
            .stdout
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{armored}"
    );
    let armored_path = ctx.write(format!("{role}.asc"), &armored.stdout);
    outputs.push(armored);
    (binary, armored_path)
}

/// `init`, then `list`: two distinct active Ed25519 keys, build then release; the rows.
fn init_and_list(ctx: &TestContext, outputs: &mut Vec<Ran>) -> Vec<Vec<String>> {
    let uid = "Example release key <release@example.org>";
    outputs.push(ok(ctx, &["init", "--release-uid", uid]));
    let listed = ok(ctx, &["list"]);
    let rows = rows(&listed.stdout);
    let summary: Vec<[&str; 3]> = rows
        .iter()
        .map(|r| [r[0].as_str(), r[2].as_str(), r[5].as_str()])
        .collect();
    assert_eq!(
        summary,
        [
            ["build", "ed25519", "active"],
            ["release", "ed25519", "active"]
        ],
        "{listed}"
    );
    assert_ne!(rows[0][1], rows[1][1], "two distinct keys");
    outputs.push(listed);
    rows
}

/// `rotate release`, then `list`: the new key active, the old one retired.
fn rotate_release(ctx: &TestContext, old: &str, outputs: &mut Vec<Ran>) {
    let rotated = ok(ctx, &["rotate", "release"]);
    assert!(rotated.stderr.contains("retired"), "{rotated}");
    let listed = ok(ctx, &["list"]);
    let after = rows(&listed.stdout);
    let states: Vec<[&str; 2]> = after
        .iter()
        .map(|r| [r[0].as_str(), r[5].as_str()])
        .collect();
    let expected = [
        ["build", "active"],
        ["release", "active"],
        ["release", "retired"],
    ];
    assert_eq!(states, expected, "{listed}");
    assert_eq!(after[2][1], old, "the retired key is the old one");
    assert_eq!(
        after[1][1],
        rows(&rotated.stdout)[0][1],
        "the new key is active"
    );
    outputs.extend([rotated, listed]);
}

#[test]
fn init_list_rotate_export_and_the_stock_tools_verify_old_and_new_signatures() {
    if !have_verifiers() {
        return;
    }
    let ctx = context();
    let mut outputs = Vec::new();
    let before = init_and_list(&ctx, &mut outputs);
    let old_signature = signed_by_release_key(&ctx, "old.sig");
    rotate_release(&ctx, &before[1][1], &mut outputs);
    let new_signature = signed_by_release_key(&ctx, "new.sig");

    let (keyring, armored) = export_both(&ctx, "release", &mut outputs);
    let data = ctx.write("Release", "Suite: stable\n");
    assert!(stock_tools_verify(
        &keyring,
        &armored,
        &old_signature,
        &data
    ));
    assert!(stock_tools_verify(
        &keyring,
        &armored,
        &new_signature,
        &data
    ));
    let changed = ctx.write("Release.changed", "Suite: stablE\n");
    assert!(!stock_tools_verify(
        &keyring,
        &armored,
        &new_signature,
        &changed
    ));
    // The build key's export does not verify the release key's signature.
    let (build_ring, build_armored) = export_both(&ctx, "build", &mut outputs);
    assert!(!stock_tools_verify(
        &build_ring,
        &build_armored,
        &new_signature,
        &data
    ));

    assert_no_private_key_in(&ctx, &outputs, &[&keyring, &build_ring]);
}

#[test]
fn a_release_key_outside_the_store_stays_there_and_rotating_it_needs_a_new_file() {
    let ctx = context();
    let outside = ctx.path("offline/release.key");
    fs_err::create_dir_all(outside.parent().unwrap()).unwrap();
    let init = ok(&ctx, &["init", "--release-key", outside.to_str().unwrap()]);
    assert!(
        init.stdout
            .contains("active (private part outside the store)"),
        "{init}"
    );
    assert_eq!(
        fs_err::metadata(&outside).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let release = rows(&init.stdout)[1][1].clone();
    assert!(!key_dir(&ctx).join(format!("{release}.key")).exists());

    let refused = keys(&ctx, &["rotate", "release"]);
    assert_eq!(refused.status.code(), Some(1), "{refused}");
    assert!(refused.stderr.contains("--release-key FILE"), "{refused}");
    let refused = keys(
        &ctx,
        &[
            "rotate",
            "release",
            "--release-key",
            outside.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{refused}");
    assert!(refused.stderr.contains("exists already"), "{refused}");
    let next = ctx.path("offline/release-2.key");
    ok(
        &ctx,
        &["rotate", "release", "--release-key", next.to_str().unwrap()],
    );
    assert!(next.exists());
    let keys_now = Keys::open(&key_dir(&ctx), Arc::new(SystemClock)).unwrap();
    let signer = keys_now.signer_from_file(Role::Release, &next).unwrap();
    assert_eq!(
        signer.fingerprint(),
        keys_now.active(Role::Release).fingerprint
    );
}

#[test]
fn mistakes_exit_with_what_to_do_and_change_nothing() {
    let ctx = context();
    let none = keys(&ctx, &["list"]);
    assert_eq!(none.status.code(), Some(1), "{none}");
    assert!(none.stderr.contains("`factory keys init`"), "{none}");
    assert!(!key_dir(&ctx).exists());

    let bad = keys(&ctx, &["init", "--expires", "soon"]);
    assert_eq!(bad.status.code(), Some(2), "{bad}");
    assert!(bad.stderr.contains("2years"), "{bad}");
    ok(&ctx, &["init"]);
    let again = keys(&ctx, &["init"]);
    assert_eq!(again.status.code(), Some(1), "{again}");
    assert!(again.stderr.contains("already exist"), "{again}");
    let wrong = keys(&ctx, &["rotate", "build", "--release-key", "x.key"]);
    assert_eq!(wrong.status.code(), Some(1), "{wrong}");
    assert!(!ctx.path("x.key").exists());

    // A damaged list: the environment's fault (75), the file named.
    let list = key_dir(&ctx).join("keys.toml");
    let text = fs_err::read_to_string(&list).unwrap();
    fs_err::write(
        &list,
        text.replace("state = \"active\"", "state = \"actve\""),
    )
    .unwrap();
    let damaged = keys(&ctx, &["list"]);
    assert_eq!(damaged.status.code(), Some(75), "{damaged}");
    assert!(
        damaged.stderr.contains(&list.display().to_string()),
        "{damaged}"
    );
}
