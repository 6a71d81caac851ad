//! The compose's metadata read by the stock tools: the `productmd` library loads the
//! compose (`Compose(path)` and each of `.info`, `.images`, `.modules`, which is what
//! validates them) and `ComposeInfo().loads(text)`; `modulemd-validator` accepts every
//! module document.

mod common;

use std::process::Command;

use common::{Demo, GpgSigner, assert_success, have, run};
use factory_compose::write_compose;
use serde_json::Value;

/// Whether the Python library `productmd` is importable; skips loudly as `have` does.
fn have_productmd() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import productmd"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let message =
            "SKIPPED: the Python library productmd is not installed (pip install productmd)";
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: {message}"
        );
        eprintln!("{message}");
    }
    found
}

/// What productmd read, as JSON: loading each file through the library's own classes.
const READ_WITH_PRODUCTMD: &str = r#"
import json, sys
import productmd.compose, productmd.composeinfo
compose = productmd.compose.Compose(sys.argv[1])
info, images, modules = compose.info, compose.images, compose.modules
strict = productmd.composeinfo.ComposeInfo()
with open(sys.argv[1] + "/compose/metadata/composeinfo.json") as f:
    strict.loads(f.read())
variant = info.variants["Everything"]
print(json.dumps({
    "id": info.compose.id,
    "respin": info.compose.respin,
    "release": [info.release.short, info.release.version, info.release.type],
    "arches": sorted(variant.arches),
    "repository": variant.paths.repository,
    "images": [
        {"path": i.path, "type": i.type, "format": i.format, "arch": i.arch,
         "sha256": i.checksums["sha256"], "size": i.size, "subvariant": i.subvariant}
        for arch in images.images["Everything"].values() for i in arch
    ],
    "modules": {arch: sorted(m) for arch, m in modules.modules["Everything"].items()},
    "strict_id": strict.compose.id,
}))
"#;

#[test]
fn productmd_loads_every_metadata_file() {
    if !have(&[("gpg", "apt-get install gpg")]) || !have_productmd() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let demo = Demo::new();
    let written = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    assert_eq!(written.id.as_str(), "DemoOS-1.0-20261203.0");
    let read = run(Command::new("python3")
        .args(["-c", READ_WITH_PRODUCTMD])
        .arg(&written.path));
    assert_success(&read, "productmd");
    let read: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(read["id"], "DemoOS-1.0-20261203.0");
    assert_eq!(read["strict_id"], "DemoOS-1.0-20261203.0");
    assert_eq!(read["respin"], 0);
    assert_eq!(read["release"], serde_json::json!(["DemoOS", "1.0", "ga"]));
    assert_eq!(read["arches"], serde_json::json!(["x86_64"]));
    assert_eq!(read["repository"]["x86_64"], "Everything/apt");
    let image = &read["images"][0];
    assert_eq!(image["path"], "Everything/x86_64/images/greet");
    assert_eq!(image["type"], "container");
    assert_eq!(image["format"], "oci");
    assert_eq!(image["arch"], "x86_64");
    assert_eq!(image["subvariant"], "greet");
    assert_eq!(image["sha256"], written.images[0].manifest_digest.hex());
    assert_eq!(image["size"], written.images[0].size);
    let nsvc = &written.modules[0].nsvc;
    assert_eq!(read["modules"]["x86_64"], serde_json::json!([nsvc]));
}

#[test]
fn modulemd_validator_accepts_every_module_document() {
    if !have(&[
        ("gpg", "apt-get install gpg"),
        ("modulemd-validator", "apt-get install libmodulemd-tools"),
    ]) {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let mut demo = Demo::new();
    // A second stream ordered by buildafter, with no artifacts of its own.
    let mut after = common::greet_module();
    after.stream = "next".into();
    for component in &mut after.components {
        component.order = match component.name.as_str() {
            "libgreet" => factory_compose::BuildOrder::After(vec![]),
            _ => factory_compose::BuildOrder::After(vec!["libgreet".into()]),
        };
    }
    after.artifacts.clear();
    demo.request.modules.push(after);
    let written = write_compose(&demo.root(), &demo.request, &signer).unwrap();
    assert_eq!(written.modules.len(), 2);
    for module in &written.modules {
        let validated = run(Command::new("modulemd-validator")
            .args(["--type", "modulemd-v2", "--verbose"])
            .arg(&module.path));
        assert_success(
            &validated,
            &format!("modulemd-validator {}", module.path.display()),
        );
    }
    let stable = fs_err::read_to_string(&written.modules[0].path).unwrap();
    for expected in [
        "name: greet\n",
        "stream: stable\n",
        "version: 20261203120000\n",
        "buildorder: 1\n",
        "- hello-0:1.0.0-1.x86_64\n",
        "- greet-cli-1:1.2.0-1.x86_64\n",
        "- motd-0:0.3.0-0.noarch\n",
    ] {
        assert!(
            stable.contains(expected),
            "missing {expected:?} in:\n{stable}"
        );
    }
    let next = fs_err::read_to_string(&written.modules[1].path).unwrap();
    assert!(next.contains("buildafter:\n"), "{next}");
    assert!(!next.contains("artifacts:"), "{next}");
}
