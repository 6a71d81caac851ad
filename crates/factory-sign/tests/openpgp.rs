//! OpenPGP signatures made by Factory, verified only by the stock tools: `gpgv` (GnuPG)
//! and `sqv` (Sequoia), as apt runs them; and refused by them when anything changed.

mod common;

use common::{Fixture, gpgv, have, sqv, text};
use factory_sign::{Encoding, Role, SecretTarget};

const INSTALL: &str = "apt-get install gpgv sqv";

#[test]
fn detached_signatures_verify_with_gpgv_and_sqv_and_fail_on_changed_bytes() {
    if !have(&["gpgv", "sqv"], INSTALL) {
        return;
    }
    let fx = Fixture::new();
    let signer = fx.keys.signer(Role::Release).unwrap();
    let data = fx.file("Release", b"Origin: Factory\nSuite: stable\n");
    let changed = fx.file("Release.changed", b"Origin: Factory\nSuite: stablE\n");
    for (encoding, name) in [
        (Encoding::Binary, "Release.sig"),
        (Encoding::Armored, "Release.gpg"),
    ] {
        let signature = fx.file(
            name,
            &signer
                .detached(b"Origin: Factory\nSuite: stable\n", encoding)
                .unwrap(),
        );
        let keyring = fx.keyring(Role::Release, Encoding::Binary);
        let out = gpgv(&keyring, &[&signature, &data]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(signer.fingerprint()),
            "{}",
            text(&out)
        );
        let out = sqv(&keyring, &signature, &data);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            signer.fingerprint()
        );
        // sqv reads an armored keyring as well.
        let armored = fx.keyring(Role::Release, Encoding::Armored);
        assert!(sqv(&armored, &signature, &data).status.success());

        let out = gpgv(&keyring, &[&signature, &changed]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("BAD signature"),
            "{}",
            text(&out)
        );
        assert!(!sqv(&keyring, &signature, &changed).status.success());
    }
}

#[test]
fn the_build_key_is_not_the_release_key() {
    if !have(&["gpgv", "sqv"], INSTALL) {
        return;
    }
    let fx = Fixture::new();
    let build = fx.keys.signer(Role::Build).unwrap();
    let release = fx.keys.signer(Role::Release).unwrap();
    assert_ne!(build.fingerprint(), release.fingerprint());
    let data = fx.file("artifact", b"bytes");
    let signature = fx.file(
        "artifact.sig",
        &build.detached(b"bytes", Encoding::Binary).unwrap(),
    );
    let release_ring = fx.keyring(Role::Release, Encoding::Binary);
    let out = gpgv(&release_ring, &[&signature, &data]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!sqv(&release_ring, &signature, &data).status.success());
    let build_ring = fx.keyring(Role::Build, Encoding::Binary);
    assert!(gpgv(&build_ring, &[&signature, &data]).status.success());
}

#[test]
fn clearsigned_text_verifies_with_gpgv_which_gives_back_the_text() {
    if !have(&["gpgv"], INSTALL) {
        return;
    }
    let fx = Fixture::new();
    let signer = fx.keys.signer(Role::Release).unwrap();
    // Lines that need care: one starting with a dash (dash-escaped), "From ", an empty one.
    let release = "Origin: Factory\nLabel: demo\nDescription: trailing spaces  \n- not a header\nFrom here\n\nSHA256:\n 0123 12 main/binary-amd64/Packages\n";
    let signed = signer.clearsign(release.as_bytes()).unwrap();
    let signed_text = String::from_utf8(signed.clone()).unwrap();
    assert!(
        signed_text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"),
        "{signed_text}"
    );
    let in_release = fx.file("InRelease", &signed);
    let keyring = fx.keyring(Role::Release, Encoding::Binary);
    let output = fx.path("Release.out");
    let out = gpgv(
        &keyring,
        &[std::path::Path::new("--output"), &output, &in_release],
    );
    assert!(out.status.success(), "{}", text(&out));
    // What gpgv gives back is what was signed: the text, less trailing blanks, which
    // OpenPGP never signs.
    let signed_part = release.replace("spaces  \n", "spaces\n");
    assert_eq!(fs_err::read_to_string(&output).unwrap(), signed_part);

    let tampered = fx.file(
        "InRelease.tampered",
        signed_text.replace("Label: demo", "Label: dem0").as_bytes(),
    );
    let out = gpgv(&keyring, &[&tampered]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(signer.clearsign(b"\xff\xfe").is_err(), "not UTF-8");
}

#[test]
fn after_a_rotation_the_export_verifies_old_and_new_signatures_and_only_the_new_key_signs() {
    if !have(&["gpgv", "sqv"], INSTALL) {
        return;
    }
    let mut fx = Fixture::new();
    let old = fx.keys.signer(Role::Release).unwrap();
    let old_signature = fx.file("old.sig", &old.detached(b"data", Encoding::Binary).unwrap());
    let settings = factory_sign::KeySettings::default_for(Role::Release);
    let new_info = fx
        .keys
        .rotate(Role::Release, &settings, &SecretTarget::Store)
        .unwrap();
    let new = fx.keys.signer(Role::Release).unwrap();
    assert_eq!(new.fingerprint(), new_info.fingerprint);
    assert_ne!(new.fingerprint(), old.fingerprint());
    let new_signature = fx.file("new.sig", &new.detached(b"data", Encoding::Binary).unwrap());
    let data = fx.file("data", b"data");
    let keyring = fx.keyring(Role::Release, Encoding::Binary);
    for signature in [&old_signature, &new_signature] {
        let out = gpgv(&keyring, &[signature, &data]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(sqv(&keyring, signature, &data).status.success());
    }
    // The exported keyring is the new key, then the retired one: just the two.
    let only_new = fx.file("new.gpg", &new.public_key(Encoding::Binary).unwrap());
    assert!(!gpgv(&only_new, &[&old_signature, &data]).status.success());
    assert!(gpgv(&only_new, &[&new_signature, &data]).status.success());
}
