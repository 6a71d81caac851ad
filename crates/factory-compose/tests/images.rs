//! The compose's images against the real skopeo: each OCI layout reads with `skopeo
//! inspect oci:PATH`; an image given signatures (made here by `skopeo standalone-sign`
//! with the release key in gpg) is also written in the `dir:` form, which `skopeo copy`
//! accepts under a `signedBy` policy, and refuses once its signature is gone or its
//! manifest is altered.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Demo, GpgSigner, assert_success, have, run};
use factory_compose::write_compose;
use factory_types::Digest;
use serde_json::{Value, json};

const IDENTITY: &str = "registry.demo-os.example/demo-os/greet:1.0";

fn tools() -> bool {
    have(&[
        ("gpg", "apt-get install gpg"),
        ("skopeo", "apt-get install skopeo"),
    ])
}

/// The manifest of the layout's one image, as skopeo signs it.
fn manifest_of(layout: &Path, into: &Path) -> PathBuf {
    let index: Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    let digest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let manifest = into.join("manifest.json");
    fs_err::copy(layout.join("blobs/sha256").join(digest.hex()), &manifest).unwrap();
    manifest
}

/// A "simple signing" signature of the manifest for `IDENTITY`, by the real skopeo with
/// the signer's gpg home.
fn sign(signer: &GpgSigner, manifest: &Path, into: &Path) -> Vec<u8> {
    let signature = into.join("signature");
    let signed = run(Command::new("skopeo")
        .env("GNUPGHOME", signer.home())
        .arg("standalone-sign")
        .arg(manifest)
        .arg(IDENTITY)
        .arg(&signer.fingerprint)
        .arg("--output")
        .arg(&signature));
    assert_success(&signed, "skopeo standalone-sign");
    fs_err::read(signature).unwrap()
}

/// Only images signed by `key` for `IDENTITY` may be read from a `dir:` path.
fn policy(key: &Path, into: &Path) -> PathBuf {
    let policy = json!({
        "default": [{"type": "reject"}],
        "transports": {
            "dir": {"": [{
                "type": "signedBy",
                "keyType": "GPGKeys",
                "keyPath": key,
                "signedIdentity": {"type": "exactReference", "dockerReference": IDENTITY},
            }]},
        },
    });
    let path = into.join("policy.json");
    fs_err::write(&path, serde_json::to_vec_pretty(&policy).unwrap()).unwrap();
    path
}

fn copy_with(policy: &Path, source: &Path, into: &Path, name: &str) -> std::process::Output {
    run(Command::new("skopeo")
        .arg("--policy")
        .arg(policy)
        .arg("copy")
        // The policy is checked on the source all the same; an oci: layout cannot hold
        // the signatures.
        .arg("--remove-signatures")
        .arg(format!("dir:{}", source.display()))
        .arg(format!("oci:{}:greet", into.join(name).display())))
}

#[test]
fn skopeo_reads_every_image_layout_of_the_compose() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let demo = Demo::new();
    let written = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    let image = &written.images[0];
    assert!(image.signed.is_none(), "no signatures were given");
    for reference in [
        format!("oci:{}", image.layout.display()),
        format!("oci:{}:greet", image.layout.display()),
    ] {
        let inspected = run(Command::new("skopeo").args(["inspect", &reference]));
        assert_success(&inspected, &format!("skopeo inspect {reference}"));
        let inspected: Value = serde_json::from_slice(&inspected.stdout).unwrap();
        assert_eq!(inspected["Digest"], image.manifest_digest.to_string());
        assert_eq!(inspected["Architecture"], "amd64");
    }
    // What is copied out is the image that went in.
    let out = demo.work.path().join("copied");
    let copied = run(Command::new("skopeo")
        .args(["--insecure-policy", "copy"])
        .arg(format!("oci:{}:greet", image.layout.display()))
        .arg(format!("oci:{}:greet", out.display())));
    assert_success(&copied, "skopeo copy");
}

#[test]
fn a_signed_image_is_accepted_by_a_signed_by_policy_and_an_unsigned_or_altered_one_refused() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let mut demo = Demo::new();
    let scratch = demo.work.path().join("scratch");
    fs_err::create_dir_all(&scratch).unwrap();
    let manifest = manifest_of(&demo.request.images[0].layout, &scratch);
    demo.request.images[0].signatures = vec![sign(&signer, &manifest, &scratch)];
    let written = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    let signed = written.images[0].signed.clone().expect("a signed form");
    assert!(signed.ends_with("Everything/x86_64/images/greet.signed"));
    let key = scratch.join("release-key.gpg");
    signer.export_to(&key);
    let policy = policy(&key, &scratch);

    let accepted = copy_with(&policy, &signed, &scratch, "accepted");
    assert_success(&accepted, "skopeo copy of the signed image");

    let unsigned = scratch.join("unsigned");
    assert_success(
        &run(Command::new("cp").arg("-a").arg(&signed).arg(&unsigned)),
        "cp",
    );
    fs_err::remove_file(unsigned.join("signature-1")).unwrap();
    let refused = copy_with(&policy, &unsigned, &scratch, "unsigned-copy");
    assert!(!refused.status.success(), "an unsigned image was accepted");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("signature"), "{said}");

    let altered = scratch.join("altered");
    assert_success(
        &run(Command::new("cp").arg("-a").arg(&signed).arg(&altered)),
        "cp",
    );
    let mut manifest: Value =
        serde_json::from_slice(&fs_err::read(altered.join("manifest.json")).unwrap()).unwrap();
    manifest["annotations"] = json!({"altered": "yes"});
    fs_err::write(
        altered.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let refused = copy_with(&policy, &altered, &scratch, "altered-copy");
    assert!(!refused.status.success(), "an altered image was accepted");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("igest") || said.contains("signature"),
        "{said}"
    );
}
