//! The release key behind the compose's signing traits, checked by the stock `gpgv` only:
//! an `InRelease` it clearsigns verifies with the keyring it hands to composes, a changed
//! one does not, and the build key's keyring does not verify it.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

use factory_compose::Signer;
use factory_release::publish::ReleaseSigner;
use factory_release::signing::ReleaseKey;
use factory_sign::{Encoding, InitSettings, Keys, Role};
use factory_types::ManualClock;

fn have_gpgv() -> bool {
    let found = Command::new("gpgv").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: it needs gpgv (apt-get install gpgv)"
        );
        eprintln!("SKIPPED: needs gpgv (apt-get install gpgv)");
    }
    found
}

fn gpgv(keyring: &Path, file: &Path) -> bool {
    Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .arg(file)
        .output()
        .expect("gpgv runs")
        .status
        .success()
}

#[test]
fn inrelease_signed_by_the_release_key_verifies_with_gpgv_and_only_as_signed() {
    if !have_gpgv() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let keys = Keys::init(&dir.path().join("keys"), clock, &InitSettings::default()).unwrap();
    let key = ReleaseKey::open(&keys, None).unwrap();
    assert_eq!(key.fingerprint(), keys.active(Role::Release).fingerprint);

    let ring = dir.path().join("release-key.gpg");
    fs_err::write(&ring, key.public_key().unwrap()).unwrap();
    let release = "Origin: demo-os\nSuite: stable\nCodename: stable\n";
    let signed = key.clearsign(release).unwrap();
    let inrelease = dir.path().join("InRelease");
    fs_err::write(&inrelease, &signed).unwrap();
    assert!(gpgv(&ring, &inrelease), "gpgv refused:\n{signed}");

    let tampered = dir.path().join("InRelease.tampered");
    fs_err::write(&tampered, signed.replace("stable", "unstable")).unwrap();
    assert!(!gpgv(&ring, &tampered), "gpgv accepted a changed InRelease");

    let build_ring = dir.path().join("build-key.gpg");
    let build_public = keys.export(Role::Build, Encoding::Binary).unwrap();
    fs_err::write(&build_ring, build_public).unwrap();
    assert!(
        !gpgv(&build_ring, &inrelease),
        "the build key verified a release"
    );
}

#[test]
fn an_image_signature_is_refused_for_a_digest_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let keys = Keys::init(&dir.path().join("keys"), clock, &InitSettings::default()).unwrap();
    let key = ReleaseKey::open(&keys, None).unwrap();
    assert!(
        key.sign_image("localhost/demo-os/app:stable", "not-a-digest")
            .is_err()
    );
    let digest = format!("sha256:{}", "ab".repeat(32));
    let signature = key
        .sign_image("localhost/demo-os/app:stable", &digest)
        .unwrap();
    assert!(!signature.is_empty());
}
