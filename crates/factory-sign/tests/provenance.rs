//! Attestations checked by stock tools only: Python's in-toto bindings parse every
//! Statement and its SLSA predicate strictly, the subjects are the artifacts' digests, and
//! `gpgv` verifies each DSSE signature over a PAE the checker rebuilt itself; a payload
//! changed after signing does not verify.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Fixture, gpgv, have, have_in_toto, run, text};
use factory_sign::{
    Builder, Dependency, Encoding, Parameter, Provenance, Role, Subject, attest, jsonl,
};
use factory_types::Digest;

fn provenance(artifact: &str, bytes: &[u8]) -> Provenance {
    let started = SystemTime::now() - Duration::from_secs(5);
    Provenance {
        subjects: vec![Subject {
            name: artifact.into(),
            sha256: Digest::of(bytes),
        }],
        build_type: "https://factory.example.org/build-types/command/v1".into(),
        external_parameters: BTreeMap::from([
            ("component".into(), Parameter::Text("hello".into())),
            ("commands".into(), Parameter::List(vec!["make".into()])),
        ]),
        internal_parameters: BTreeMap::new(),
        resolved_dependencies: vec![
            Dependency {
                name: Some("definition".into()),
                git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                ..Dependency::default()
            },
            Dependency {
                name: Some("libgreet_1.0_amd64.deb".into()),
                uri: Some(
                    "factory-package:libgreet@sha256:".to_owned() + &Digest::of(b"lib").hex(),
                ),
                sha256: Some(Digest::of(b"lib")),
                git_commit: None,
            },
        ],
        builder: Builder {
            id: "https://factory.example.org/builder".into(),
            version: BTreeMap::from([("factory".into(), env!("CARGO_PKG_VERSION").into())]),
        },
        invocation_id: "b7".into(),
        started,
        finished: started + Duration::from_secs(2),
    }
}

/// Runs the checker on `jsonl`; its output (the subjects) or its refusal.
fn check(fx: &Fixture, jsonl: &str) -> Result<String, String> {
    let file = fx.file("attestations.intoto.jsonl", jsonl.as_bytes());
    let out = fx.path("checked");
    fs_err::create_dir_all(&out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_attestation.py");
    let output = run(Command::new("python3").arg(script).arg(&file).arg(&out));
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(text(&output))
    }
}

#[test]
fn every_attestation_is_a_strict_statement_about_its_artifact_and_gpgv_verifies_it() {
    if !have(&["gpgv"], "apt-get install gpgv") || !have_in_toto() {
        return;
    }
    let fx = Fixture::new();
    let signer = fx.keys.signer(Role::Build).unwrap();
    let artifacts = [
        ("hello_1.0_amd64.deb", b"a deb".as_slice()),
        ("hello.tar", b"a tar"),
    ];
    let envelopes: Vec<_> = artifacts
        .iter()
        .map(|(name, bytes)| attest(&signer, &provenance(name, bytes)).unwrap())
        .collect();
    let subjects = check(&fx, &jsonl(&envelopes)).unwrap_or_else(|e| panic!("{e}"));
    let expected: String = artifacts
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| format!("{i} {name} {}\n", Digest::of(bytes).hex()))
        .collect();
    assert_eq!(subjects, expected);

    let keyring = fx.keyring(Role::Build, Encoding::Binary);
    for i in 0..artifacts.len() {
        let (sig, pae) = (
            fx.path(&format!("checked/{i}.sig")),
            fx.path(&format!("checked/{i}.pae")),
        );
        let out = gpgv(&keyring, &[&sig, &pae]);
        assert!(out.status.success(), "{}", text(&out));
        let keyid = fs_err::read_to_string(fx.path(&format!("checked/{i}.keyid"))).unwrap();
        assert_eq!(keyid, signer.fingerprint());
    }
    // The statement names the build key, too.
    let statement = String::from_utf8(envelopes[0].payload.clone()).unwrap();
    assert!(
        statement.contains(&format!("\"buildKey\":\"{}\"", signer.fingerprint())),
        "{statement}"
    );
}

#[test]
fn a_payload_changed_after_signing_does_not_verify() {
    if !have(&["gpgv"], "apt-get install gpgv") || !have_in_toto() {
        return;
    }
    let fx = Fixture::new();
    let signer = fx.keys.signer(Role::Build).unwrap();
    let mut envelope = attest(&signer, &provenance("hello.deb", b"the deb")).unwrap();
    let forged = String::from_utf8(envelope.payload.clone())
        .unwrap()
        .replace(
            &Digest::of(b"the deb").hex(),
            &Digest::of(b"another deb").hex(),
        );
    envelope.payload = forged.into_bytes();
    // Still a valid statement: only the signature can tell.
    check(&fx, &jsonl(&[envelope])).unwrap_or_else(|e| panic!("{e}"));
    let keyring = fx.keyring(Role::Build, Encoding::Binary);
    let out = gpgv(
        &keyring,
        &[&fx.path("checked/0.sig"), &fx.path("checked/0.pae")],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BAD signature"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_checker_refuses_what_in_toto_refuses() {
    if !have_in_toto() {
        return;
    }
    let fx = Fixture::new();
    let signer = fx.keys.signer(Role::Build).unwrap();
    let good = attest(&signer, &provenance("hello.deb", b"x")).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&good.payload).unwrap();
    let mut unknown_field = statement.clone();
    unknown_field["predicate"]["runDetails"]["builder"]["colour"] = "blue".into();
    let mut bad_time = statement.clone();
    bad_time["predicate"]["runDetails"]["metadata"]["startedOn"] = "yesterday".into();
    let mut no_digest = statement.clone();
    no_digest["subject"][0]["digest"] = serde_json::json!({});
    for (broken, why) in [
        (unknown_field, "colour"),
        (bad_time, "startedOn"),
        (no_digest, "digest"),
    ] {
        let line = serde_json::json!({
            "payloadType": factory_sign::IN_TOTO_PAYLOAD_TYPE,
            "payload": STANDARD.encode(broken.to_string()),
            "signatures": [{"keyid": "x", "sig": ""}],
        });
        let refusal = check(&fx, &format!("{line}\n")).unwrap_err();
        assert!(refusal.contains(why), "{why}: {refusal}");
    }
}
