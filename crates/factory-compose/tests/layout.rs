//! How composes are laid down: never over another, nothing left behind by a failure, one
//! winner when two race for an id; and what the repository's indexes hold.

mod common;

use std::path::Path;

use common::{Demo, GpgSigner, have, make_deb};
use factory_compose::{ComposeError, DebInput, next_respin, write_compose};
use factory_types::{Fault, HasFault};

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs_err::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    };
    names.sort();
    names
}

fn signer() -> Option<GpgSigner> {
    have(&[("gpg", "apt-get install gpg")])
        .then(|| GpgSigner::new("Demo OS release <release@demo-os.example>"))
}

#[test]
fn a_compose_is_never_overwritten_and_the_next_respin_is_named() {
    let Some(signer) = signer() else { return };
    let mut demo = Demo::new();
    let first = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    let release = first
        .path
        .join("compose/Everything/apt/dists/stable/InRelease");
    let before = fs_err::read(&release).unwrap();
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert_eq!(error.fault(), Fault::Input);
    assert_eq!(
        error.to_string(),
        format!(
            "compose `DemoOS-1.0-20261203.0` already exists at `{}`: a compose is never overwritten; write the next respin (respin 1) instead",
            first.path.display()
        )
    );
    assert_eq!(
        fs_err::read(&release).unwrap(),
        before,
        "the first compose is untouched"
    );
    assert_eq!(entries(&demo.root()), ["DemoOS-1.0-20261203.0"]);
    demo.request.respin = next_respin(&demo.root(), &demo.request).unwrap();
    let second = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    assert_eq!(second.id.as_str(), "DemoOS-1.0-20261203.1");
    assert_eq!(
        fs_err::read_to_string(second.path.join("COMPOSE_ID")).unwrap(),
        "DemoOS-1.0-20261203.1\n"
    );
    assert_eq!(
        fs_err::read_to_string(second.path.join("STATUS")).unwrap(),
        "FINISHED\n"
    );
}

#[test]
fn of_two_writers_racing_for_one_id_exactly_one_wins() {
    let Some(signer) = signer() else { return };
    let demo = Demo::new();
    let results: Vec<Result<_, ComposeError>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| write_compose(&demo.root(), &demo.request, &signer)))
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    let lost = results.into_iter().find_map(Result::err).unwrap();
    assert!(matches!(lost, ComposeError::Exists { .. }), "{lost}");
    assert_eq!(entries(&demo.root()), ["DemoOS-1.0-20261203.0"]);
}

#[test]
fn a_failure_half_way_leaves_nothing_behind() {
    let Some(signer) = signer() else { return };
    let demo = Demo::new();
    // A layer that is not what the manifest says: found only while it is copied.
    let layout = &demo.request.images[0].layout;
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs_err::read(layout.join("blobs/sha256").join(manifest_digest)).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let layer_path = layout.join("blobs/sha256").join(layer);
    let mut bytes = fs_err::read(&layer_path).unwrap();
    bytes[20] ^= 0xff;
    fs_err::write(&layer_path, bytes).unwrap();
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert_eq!(error.fault(), Fault::Input);
    assert!(
        error.to_string().contains("the layout is damaged"),
        "{error}"
    );
    assert!(
        error.to_string().starts_with("image `greet` (layout `"),
        "{error}"
    );
    assert_eq!(
        entries(&demo.root()),
        Vec::<String>::new(),
        "nothing is left in the root"
    );
}

#[test]
fn a_signer_that_fails_fails_the_compose_with_its_fault() {
    let Some(signer) = signer() else { return };
    // The real gpg, whose secret key is gone.
    signer.forget_secret_key();
    let demo = Demo::new();
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert_eq!(error.fault(), Fault::Environment);
    assert!(
        error
            .to_string()
            .starts_with("signing InRelease with the release key: "),
        "{error}"
    );
    assert_eq!(entries(&demo.root()), Vec::<String>::new());
}

#[test]
fn a_bad_package_is_refused_before_anything_is_written() {
    let Some(signer) = signer() else { return };
    let mut demo = Demo::new();
    demo.request.debs.push(DebInput::Bytes {
        name: "broken.deb".into(),
        bytes: b"!<arch>\nnot really".to_vec(),
    });
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert_eq!(error.fault(), Fault::Input);
    assert!(
        error
            .to_string()
            .starts_with("`broken.deb`: not a .deb package"),
        "{error}"
    );
    assert!(!demo.root().exists());
}

#[test]
fn all_packages_are_in_every_index_and_the_same_file_given_twice_is_published_once() {
    let Some(signer) = signer() else { return };
    let mut demo = Demo::new();
    let inputs = demo.work.path().join("more");
    fs_err::create_dir_all(&inputs).unwrap();
    demo.request.debs.push(DebInput::Path(make_deb(
        &inputs,
        "hello",
        "1.0.0-1",
        "arm64",
        "hello on arm",
    )));
    let twice = demo.request.debs[0].clone();
    demo.request.debs.push(twice);
    let written = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    let apt = written.apt.unwrap();
    assert_eq!(apt.architectures, ["amd64", "arm64"]);
    let index = |arch: &str| {
        fs_err::read_to_string(
            apt.root
                .join(format!("dists/stable/main/binary-{arch}/Packages")),
        )
        .unwrap()
    };
    let packages = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("Filename: "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        packages(&index("amd64")),
        [
            "pool/main/g/greet-cli/greet-cli_1.2.0-1_amd64.deb",
            "pool/main/h/hello/hello_1.0.0-1_amd64.deb",
            "pool/main/m/motd/motd_0.3.0_all.deb",
        ]
    );
    assert_eq!(
        packages(&index("arm64")),
        [
            "pool/main/h/hello/hello_1.0.0-1_arm64.deb",
            "pool/main/m/motd/motd_0.3.0_all.deb"
        ]
    );
    let release = fs_err::read_to_string(apt.root.join("dists/stable/Release")).unwrap();
    assert!(
        release.contains("Architectures: amd64 arm64\n"),
        "{release}"
    );
    // The variant's architectures are the repository's and the images'.
    let info =
        fs_err::read_to_string(written.path.join("compose/metadata/composeinfo.json")).unwrap();
    assert!(info.contains("\"aarch64\""), "{info}");
}

#[test]
fn two_different_packages_with_one_name_version_and_architecture_are_refused() {
    let Some(signer) = signer() else { return };
    let mut demo = Demo::new();
    let inputs = demo.work.path().join("other");
    fs_err::create_dir_all(&inputs).unwrap();
    demo.request.debs.push(DebInput::Path(make_deb(
        &inputs,
        "hello",
        "1.0.0-1",
        "amd64",
        "another hello",
    )));
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("both are hello 1.0.0-1 (amd64) with different contents"),
        "{error}"
    );
    assert_eq!(entries(&demo.root()), Vec::<String>::new());
}

#[test]
fn a_module_artifact_that_is_not_a_package_of_the_compose_is_refused() {
    let Some(signer) = signer() else { return };
    let mut demo = Demo::new();
    demo.request.modules[0]
        .artifacts
        .push("libgreet-dev".into());
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert_eq!(
        error.to_string(),
        "module stream `greet:stable`: artifact `libgreet-dev` is not a package of this compose (packages: {\"greet-cli\", \"hello\", \"motd\"})"
    );
}

#[test]
fn an_image_tag_the_layout_does_not_hold_is_refused_naming_the_tags_it_does() {
    let Some(signer) = signer() else { return };
    let mut demo = Demo::new();
    demo.request.images[0].tag = Some("latest".into());
    let error = write_compose(&demo.root(), &demo.request, &signer).unwrap_err();
    assert_eq!(error.fault(), Fault::Input);
    let text = error.to_string();
    assert!(text.starts_with("image `greet` (layout `"), "{text}");
    assert!(
        text.ends_with("`index.json` has no image tagged `latest` (tags: [\"greet\"])"),
        "{text}"
    );
    assert!(!demo.root().exists());
}
