//! Container image signatures checked by skopeo itself: `skopeo copy --policy P` with a
//! `signedBy` requirement accepts the image Factory signed, and refuses an unsigned one,
//! one whose manifest changed after signing, and one signed by another key. The image is
//! made by Factory's own OCI writer.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fixture, have, run, text};
use factory_exec::archive::{OciImageSpec, OciLayer, write_oci_layout};
use factory_sign::{Encoding, Role, write_signed_image};
use serde_json::json;

const INSTALL: &str = "apt-get install skopeo";
const IDENTITY: &str = "registry.example.org/factory/hello:1.0";

/// An OCI layout with one image, tagged `1.0`, of one small layer.
fn oci_image(fx: &Fixture) -> PathBuf {
    let root = fx.path("root");
    fs_err::create_dir_all(root.join("usr/bin")).unwrap();
    fs_err::write(root.join("usr/bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
    let layout = fx.path("oci");
    let spec = OciImageSpec {
        tag: "1.0".into(),
        base: None,
        layers: vec![OciLayer {
            name: "hello".into(),
            root,
        }],
        architecture: "amd64".into(),
        os: "linux".into(),
        env: vec![],
        entrypoint: Some(vec!["/usr/bin/hello".into()]),
        cmd: None,
        working_dir: None,
        labels: Default::default(),
        created: 1_704_067_200,
    };
    write_oci_layout(&spec, &layout).unwrap();
    layout
}

/// A policy that accepts only images signed by a key of `keyring` as [`IDENTITY`].
fn policy(fx: &Fixture, name: &str, keyring: &Path) -> PathBuf {
    let signed_by = json!([{
        "type": "signedBy",
        "keyType": "GPGKeys",
        "keyPath": keyring,
        "signedIdentity": { "type": "exactReference", "dockerReference": IDENTITY },
    }]);
    let policy = json!({
        "default": [{ "type": "reject" }],
        "transports": { "dir": { "": signed_by }, "oci": { "": signed_by } },
    });
    fx.file(name, policy.to_string().as_bytes())
}

/// `skopeo copy` into an OCI layout, as a user gets a verified image out of a compose: the
/// source's signatures are checked against the policy, then dropped (an OCI layout has no
/// place for them).
fn skopeo_copy(policy: &Path, from: &str, to: &Path) -> std::process::Output {
    run(Command::new("skopeo")
        .arg("copy")
        .arg("--remove-signatures")
        .arg("--policy")
        .arg(policy)
        .arg(from)
        .arg(format!("oci:{}:copied", to.display())))
}

#[test]
fn skopeo_accepts_the_signed_image_and_refuses_unsigned_altered_and_foreign_ones() {
    if !have(&["skopeo"], INSTALL) {
        return;
    }
    let fx = Fixture::new();
    let layout = oci_image(&fx);
    let signer = fx.keys.signer(Role::Release).unwrap();
    let signed_dir = fx.path("signed");
    let signed = write_signed_image(&signer, &layout, Some("1.0"), IDENTITY, &signed_dir).unwrap();
    assert!(signed_dir.join("signature-1").exists());
    let manifest = fs_err::read(signed_dir.join("manifest.json")).unwrap();
    assert_eq!(factory_types::Digest::of(&manifest), signed.manifest_digest);

    let keyring = fx.keyring(Role::Release, Encoding::Binary);
    let release_policy = policy(&fx, "policy.json", &keyring);
    let signed_ref = format!("dir:{}", signed_dir.display());
    let out = skopeo_copy(&release_policy, &signed_ref, &fx.path("accepted"));
    assert!(out.status.success(), "{}", text(&out));

    // The same image straight from the OCI layout carries no signature: refused.
    let unsigned = format!("oci:{}:1.0", layout.display());
    let out = skopeo_copy(&release_policy, &unsigned, &fx.path("unsigned"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no signature exists"),
        "{}",
        text(&out)
    );

    // Signed with the build key, which the policy does not trust: refused.
    let build_policy = policy(
        &fx,
        "build-policy.json",
        &fx.keyring(Role::Build, Encoding::Binary),
    );
    let out = skopeo_copy(&build_policy, &signed_ref, &fx.path("foreign"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Invalid GPG signature"),
        "{}",
        text(&out)
    );

    // The manifest changed after signing (a byte more is enough): refused.
    let altered_dir = fx.path("altered");
    copy_dir(&signed_dir, &altered_dir);
    let mut altered = manifest.clone();
    altered.push(b'\n');
    fs_err::write(altered_dir.join("manifest.json"), altered).unwrap();
    let out = skopeo_copy(
        &release_policy,
        &format!("dir:{}", altered_dir.display()),
        &fx.path("altered-copy"),
    );
    assert!(!out.status.success(), "{}", text(&out));
    // skopeo names the digest the signature claims, which the manifest no longer has.
    let refusal = format!(
        "Signature for digest {} does not match",
        signed.manifest_digest
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&refusal),
        "{}",
        text(&out)
    );
}

#[test]
fn a_signed_image_names_an_identity_that_parses_and_never_overwrites() {
    let fx = Fixture::new();
    let layout = oci_image(&fx);
    let signer = fx.keys.signer(Role::Release).unwrap();
    let err =
        write_signed_image(&signer, &layout, None, "Registry/App", &fx.path("x")).unwrap_err();
    assert!(
        err.to_string()
            .contains("not a valid image reference `Registry/App`"),
        "{err}"
    );
    let err =
        write_signed_image(&signer, &layout, Some("2.0"), IDENTITY, &fx.path("x")).unwrap_err();
    assert!(err.to_string().contains("no image tagged `2.0`"), "{err}");
    assert!(!fx.path("x").exists());
    write_signed_image(&signer, &layout, None, IDENTITY, &fx.path("x")).unwrap();
    let err = write_signed_image(&signer, &layout, None, IDENTITY, &fx.path("x")).unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs_err::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
