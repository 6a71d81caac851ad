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

#[test]
fn init_list_rotate_export_and_the_stock_tools_verify_old_and_new_signatures() {
    if !have_verifiers() {
        return;
    }
    let ctx = context();
    let mut outputs = vec![ok(
        &ctx,
        &[
            "init",
            "--release-uid",
            "Example release key <release@example.org>",
        ],
    )];
    let listed = ok(&ctx, &["list"]);
    let before = rows(&listed.stdout);
    assert_eq!(before.len(), 2, "{listed}");
    assert_eq!(
        (before[0][0].as_str(), before[1][0].as_str()),
        ("build", "release")
    );
    assert_ne!(before[0][1], before[1][1], "two distinct keys");
    for row in &before {
        assert_eq!(
            (row[2].as_str(), row[5].as_str()),
            ("ed25519", "active"),
            "{listed}"
        );
    }
    outputs.push(listed);

    // Something signed by the release key before the rotation, through the library.
    let signature_by = |name: &str| {
        let keys = Keys::open(&key_dir(&ctx), SystemClock::shared()).unwrap();
        let signature = keys
            .signer(Role::Release)
            .unwrap()
            .detached(b"Suite: stable\n", Encoding::Binary)
            .unwrap();
        ctx.write(name, "");
        fs_err::write(ctx.path(name), signature).unwrap();
        ctx.path(name)
    };
    let old_signature = signature_by("old.sig");
    let old_secret = key_dir(&ctx).join(format!("{}.key", before[1][1]));
    assert_eq!(
        fs_err::metadata(&old_secret).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let rotated = ok(&ctx, &["rotate", "release"]);
    let new = &rows(&rotated.stdout)[0];
    assert_ne!(new[1], before[1][1]);
    assert!(rotated.stderr.contains("retired"), "{rotated}");
    outputs.push(rotated);
    let after = rows(&ok(&ctx, &["list"]).stdout);
    let states: Vec<(&str, &str)> = after
        .iter()
        .map(|r| (r[0].as_str(), r[5].as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("build", "active"),
            ("release", "active"),
            ("release", "retired")
        ]
    );
    assert_eq!(after[2][1], before[1][1], "the retired key is the old one");
    let new_signature = signature_by("new.sig");

    let keyring = ctx.path("release.gpg");
    outputs.push(ok(
        &ctx,
        &["export", "release", "--output", keyring.to_str().unwrap()],
    ));
    let armored = ok(&ctx, &["export", "release", "--armor"]);
    assert!(
        armored
            .stdout
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{armored}"
    );
    let armored_ring = ctx.write("release.asc", &armored.stdout);
    outputs.push(armored);
    let data = ctx.write("Release", "Suite: stable\n");
    for signature in [&old_signature, &new_signature] {
        let gpgv = Command::new("gpgv")
            .arg("--homedir")
            .arg(ctx.path("."))
            .arg("--keyring")
            .arg(&keyring)
            .arg(signature)
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            gpgv.status.success(),
            "{}",
            String::from_utf8_lossy(&gpgv.stderr)
        );
        let sqv = Command::new("sqv")
            .arg("--keyring")
            .arg(&armored_ring)
            .arg(signature)
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            sqv.status.success(),
            "{}",
            String::from_utf8_lossy(&sqv.stderr)
        );
    }
    // The build key's export does not verify the release key's signature.
    let build_ring = ctx.path("build.gpg");
    ok(
        &ctx,
        &["export", "build", "-o", build_ring.to_str().unwrap()],
    );
    let sqv = Command::new("sqv")
        .arg("--keyring")
        .arg(&build_ring)
        .arg(&new_signature)
        .arg(&data)
        .output()
        .unwrap();
    assert!(!sqv.status.success());

    // No private key in any output or log, nor in what was exported.
    let mut secrets = Vec::new();
    for entry in fs_err::read_dir(key_dir(&ctx)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            secrets.extend(secret_pieces(&path));
        }
    }
    assert!(
        leaks(&fs_err::read(&old_secret).unwrap(), &secrets),
        "the check finds a key where there is one"
    );
    for outcome in &outputs {
        assert!(!leaks(outcome.stdout.as_bytes(), &secrets), "{outcome}");
        assert!(!leaks(outcome.stderr.as_bytes(), &secrets), "{outcome}");
    }
    assert!(!leaks(&fs_err::read(&keyring).unwrap(), &secrets));
    assert!(!leaks(&fs_err::read(&build_ring).unwrap(), &secrets));
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
