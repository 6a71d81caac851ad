//! Factory's own archive writers, checked for byte-reproducibility and
//! against the real tools: tar, dpkg-deb, skopeo, umoci.

mod common;

use fs_err::File;
use fs_err::os::unix::fs::symlink;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{run_tool, set_mode, write};
use factory_exec::archive::{
    ArchiveError, DebControl, OciBase, OciImageSpec, OciLayer, TarOptions, write_deb,
    write_oci_layout, write_tar, write_tarball,
};
use factory_exec::{DEFAULT_SOURCE_DATE_EPOCH, digest_tree};

const EPOCH: u64 = DEFAULT_SOURCE_DATE_EPOCH;

fn long_name() -> String {
    format!(
        "usr/share/doc/hello/{}/notes.txt",
        "very-long-directory-name".repeat(5)
    )
}

/// The same package tree, made differently each time: other creation
/// order, other mtimes, other non-exec permission bits.
fn package_tree(root: &Path, variant: u32) {
    let files = [
        ("usr/bin/hello", "#!/bin/sh\necho hello\n"),
        (
            "usr/share/doc/hello/copyright",
            "Copyright: the Factory authors\n",
        ),
        (
            long_name().leak() as &str,
            "a file whose path needs GNU long names\n",
        ),
    ];
    let ordered: Vec<_> = if variant == 0 {
        files.to_vec()
    } else {
        files.iter().rev().cloned().collect()
    };
    for (path, contents) in ordered {
        write(&root.join(path), contents);
        let mtime =
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 * u64::from(variant + 1));
        File::options()
            .write(true)
            .open(root.join(path))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    set_mode(
        &root.join("usr/bin/hello"),
        if variant == 0 { 0o755 } else { 0o700 },
    );
    set_mode(
        &root.join("usr/share/doc/hello/copyright"),
        if variant == 0 { 0o644 } else { 0o600 },
    );
    symlink("hello", root.join("usr/bin/hi")).unwrap();
    fs_err::create_dir_all(root.join("var/lib/hello")).unwrap();
}

fn two_trees() -> (tempfile::TempDir, tempfile::TempDir) {
    let a = tempfile::tempdir().unwrap();
    package_tree(a.path(), 0);
    let b = tempfile::tempdir().unwrap();
    package_tree(b.path(), 1);
    (a, b)
}

#[test]
fn tar_is_byte_identical_for_identical_trees_and_real_tar_agrees() {
    let (a, b) = two_trees();
    let options = TarOptions {
        mtime: EPOCH,
        dot_prefix: false,
    };
    let tar_a = write_tar(a.path(), Vec::new(), &options).unwrap();
    let tar_b = write_tar(b.path(), Vec::new(), &options).unwrap();
    assert_eq!(tar_a, tar_b);

    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("tree.tar");
    fs_err::write(&file, &tar_a).unwrap();
    let listing = run_tool("tar", &["--utc", "-tvf", file.to_str().unwrap()]);
    let lines: Vec<&str> = listing.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("-rwxr-xr-x root/root")
            && l.ends_with("2000-01-01 00:00 usr/bin/hello")),
        "{listing}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("-rw-r--r-- root/root")
            && l.ends_with("usr/share/doc/hello/copyright")),
        "{listing}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("lrwxrwxrwx root/root") && l.ends_with("usr/bin/hi -> hello")),
        "{listing}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("drwxr-xr-x root/root") && l.ends_with("var/lib/hello/")),
        "{listing}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(&long_name())),
        "long name kept whole: {listing}"
    );

    // Extracting with real tar gives back exactly the tree.
    let extracted = scratch.path().join("x");
    fs_err::create_dir(&extracted).unwrap();
    run_tool(
        "tar",
        &[
            "-xf",
            file.to_str().unwrap(),
            "-C",
            extracted.to_str().unwrap(),
        ],
    );
    assert_eq!(
        digest_tree(&extracted).unwrap(),
        digest_tree(a.path()).unwrap()
    );
}

#[test]
fn tarball_is_byte_identical_and_has_no_gzip_timestamp() {
    let (a, b) = two_trees();
    let out = tempfile::tempdir().unwrap();
    let (file_a, file_b) = (out.path().join("a.tar.gz"), out.path().join("b.tar.gz"));
    let digest_a = write_tarball(a.path(), &file_a, EPOCH).unwrap();
    let digest_b = write_tarball(b.path(), &file_b, EPOCH).unwrap();
    assert_eq!(digest_a, digest_b);
    let bytes = fs_err::read(&file_a).unwrap();
    assert_eq!(bytes, fs_err::read(&file_b).unwrap());
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");
    assert_eq!(factory_types::Digest::of(&bytes), digest_a);

    let extracted = out.path().join("x");
    fs_err::create_dir(&extracted).unwrap();
    run_tool(
        "tar",
        &[
            "-xzf",
            file_a.to_str().unwrap(),
            "-C",
            extracted.to_str().unwrap(),
        ],
    );
    assert_eq!(
        digest_tree(&extracted).unwrap(),
        digest_tree(a.path()).unwrap()
    );

    // A different tree gives a different tarball.
    write(&b.path().join("usr/share/doc/hello/copyright"), "changed\n");
    assert_ne!(write_tarball(b.path(), &file_b, EPOCH).unwrap(), digest_a);
}

fn control() -> DebControl {
    DebControl {
        package: "hello".into(),
        version: "1.2-1".into(),
        architecture: "amd64".into(),
        maintainer: "Factory <factory@example.org>".into(),
        description: "greets the world\nA longer description.\n\nWith a second paragraph.".into(),
        depends: vec!["libgreet1 (>= 1.0)".into(), "sh | busybox".into()],
        extra: BTreeMap::from([("Section".into(), "utils".into())]),
    }
}

#[test]
fn deb_is_byte_identical_and_valid_for_dpkg_deb() {
    let (a, b) = two_trees();
    let out = tempfile::tempdir().unwrap();
    let (deb_a, deb_b) = (out.path().join("a.deb"), out.path().join("b.deb"));
    let digest = write_deb(a.path(), &control(), &deb_a, EPOCH).unwrap();
    assert_eq!(
        write_deb(b.path(), &control(), &deb_b, EPOCH).unwrap(),
        digest
    );
    assert_eq!(fs_err::read(&deb_a).unwrap(), fs_err::read(&deb_b).unwrap());
    let deb = deb_a.to_str().unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs_err::metadata(&deb_a).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let info = run_tool("dpkg-deb", &["-I", deb]);
    for expected in [
        " Package: hello",
        " Version: 1.2-1",
        " Architecture: amd64",
        " Maintainer: Factory <factory@example.org>",
        " Depends: libgreet1 (>= 1.0), sh | busybox",
        " Section: utils",
        " Description: greets the world",
        "  A longer description.",
        "  .",
    ] {
        assert!(
            info.lines().any(|l| l == expected),
            "missing `{expected}` in:\n{info}"
        );
    }
    // 1 KiB per directory (9) and symlink (1), each file rounded up to 1 KiB (3).
    let installed_size = run_tool("dpkg-deb", &["-f", deb, "Installed-Size"]);
    assert_eq!(installed_size.trim(), "13");

    let contents = run_tool("dpkg-deb", &["-c", deb]);
    let lines: Vec<&str> = contents.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.ends_with(" ./")),
        "{contents}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("-rwxr-xr-x root/root") && l.ends_with(" ./usr/bin/hello")),
        "{contents}"
    );
    assert!(lines.iter().any(|l| l.starts_with("lrwxrwxrwx root/root") && l.ends_with(" ./usr/bin/hi -> hello")), "{contents}");
    assert!(
        lines.iter().any(|l| l.contains("2000-01-01 00:00")),
        "{contents}"
    );

    // The payload is exactly the tree.
    let tar = out.path().join("fsys.tar");
    let fsys = std::process::Command::new("dpkg-deb")
        .args(["--fsys-tarfile", deb])
        .output()
        .unwrap();
    assert!(
        fsys.status.success(),
        "{}",
        String::from_utf8_lossy(&fsys.stderr)
    );
    fs_err::write(&tar, fsys.stdout).unwrap();
    let extracted = out.path().join("x");
    fs_err::create_dir(&extracted).unwrap();
    run_tool(
        "tar",
        &[
            "-xf",
            tar.to_str().unwrap(),
            "-C",
            extracted.to_str().unwrap(),
        ],
    );
    assert_eq!(
        digest_tree(&extracted).unwrap(),
        digest_tree(a.path()).unwrap()
    );

    // The ar container is the format dpkg expects, member by member.
    let members = run_tool("ar", &["t", deb]);
    assert_eq!(members, "debian-binary\ncontrol.tar.gz\ndata.tar.gz\n");
}

#[test]
fn bad_deb_control_fields_are_precise_errors_and_write_nothing() {
    let (a, _) = two_trees();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("bad.deb");
    type Breakage = (&'static str, fn(&mut DebControl));
    let cases: Vec<Breakage> = vec![
        ("Package", |c| c.package = "Hello_World".into()),
        ("Version", |c| c.version = "v1".into()),
        ("Maintainer", |c| c.maintainer = "a\nb".into()),
        ("Description", |c| c.description = String::new()),
        ("Depends", |c| c.depends.push("x\nPackage: evil".into())),
        ("Package", |c| {
            c.extra.insert("Package".into(), "again".into());
        }),
    ];
    for (field, break_it) in cases {
        let mut c = control();
        break_it(&mut c);
        match write_deb(a.path(), &c, &dest, EPOCH) {
            Err(ArchiveError::DebControl { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a control error, got {other:?}"),
        }
        assert!(!dest.exists());
    }
}

/// A statically linked program, so it runs straight from an unpacked rootfs.
fn static_hello(dir: &Path) {
    let src = dir.join("hello.c");
    fs_err::create_dir_all(dir.join("rootfs/bin")).unwrap();
    fs_err::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"hello from the image\");return 0;}\n",
    )
    .unwrap();
    run_tool(
        "cc",
        &[
            "-static",
            "-O2",
            "-o",
            dir.join("rootfs/bin/hello").to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    );
}

fn image(tag: &str, base: Option<OciBase>, layers: Vec<OciLayer>) -> OciImageSpec {
    OciImageSpec {
        tag: tag.into(),
        base,
        layers,
        architecture: "amd64".into(),
        os: "linux".into(),
        env: vec!["PATH=/usr/bin:/bin".into(), "GREETING=hi".into()],
        entrypoint: None,
        cmd: Some(vec!["/bin/hello".into()]),
        working_dir: Some("/".into()),
        labels: BTreeMap::from([("org.opencontainers.image.title".into(), tag.into())]),
        created: EPOCH,
    }
}

/// skopeo, reading the layout, sees the manifest, platform, layers and environment.
fn assert_skopeo_reads(layout: &Path, info: &factory_exec::archive::OciImageInfo) {
    let reference = format!("oci:{}:demo", layout.display());
    let inspected: serde_json::Value =
        serde_json::from_str(&run_tool("skopeo", &["inspect", &reference])).unwrap();
    assert_eq!(inspected["Digest"], info.manifest_digest.to_string());
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(inspected["Layers"][1], info.layers[1].digest.to_string());
    assert!(
        inspected["Env"]
            .as_array()
            .unwrap()
            .contains(&"GREETING=hi".into())
    );
}

/// umoci unpacks a root file system whose program runs and whose files are all there.
fn assert_umoci_unpacks_a_runnable_root(layout: &Path, bundle: &Path) {
    run_tool(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:demo", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        run_tool(rootfs.join("bin/hello").to_str().unwrap(), &[]),
        "hello from the image\n"
    );
    assert_eq!(
        fs_err::read_to_string(rootfs.join("usr/share/doc/hello/copyright")).unwrap(),
        "Copyright: the Factory authors\n"
    );
    assert_eq!(
        fs_err::read_link(rootfs.join("usr/bin/hi")).unwrap(),
        Path::new("hello")
    );
    assert!(rootfs.join(long_name()).is_file());
    let runtime: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["/bin/hello"])
    );
}

#[test]
fn oci_image_on_a_base_is_reproducible_and_valid_for_skopeo_and_umoci() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    static_hello(&w.join("base-src"));
    let base_layout = w.join("base-layout");
    let base_info = write_oci_layout(
        &image(
            "base",
            None,
            vec![OciLayer {
                name: "base".into(),
                root: w.join("base-src/rootfs"),
            }],
        ),
        &base_layout,
    )
    .unwrap();
    assert_eq!(base_info.layers.len(), 1);

    let (pkg_a, pkg_b) = two_trees();
    let mut infos = Vec::new();
    for (name, pkg) in [("image-a", pkg_a.path()), ("image-b", pkg_b.path())] {
        let spec = image(
            "demo",
            Some(OciBase {
                layout: base_layout.clone(),
                tag: Some("base".into()),
            }),
            vec![OciLayer {
                name: "hello".into(),
                root: pkg.to_path_buf(),
            }],
        );
        infos.push(write_oci_layout(&spec, &w.join(name)).unwrap());
    }
    assert_eq!(infos[0], infos[1]);
    assert_eq!(
        digest_tree(&w.join("image-a")).unwrap(),
        digest_tree(&w.join("image-b")).unwrap(),
        "every blob, index.json and oci-layout byte-identical"
    );
    let info = &infos[0];
    assert_eq!(info.layers.len(), 2);
    assert_eq!(
        info.layers[0], base_info.layers[0],
        "base layer reused as is"
    );

    let layout = w.join("image-a");
    assert_skopeo_reads(&layout, info);
    assert_umoci_unpacks_a_runnable_root(&layout, &w.join("bundle"));
}

#[test]
fn corrupt_or_ambiguous_base_layouts_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (pkg, _) = two_trees();
    let layer = || {
        vec![OciLayer {
            name: "p".into(),
            root: pkg.path().to_path_buf(),
        }]
    };
    let base = w.join("base");
    let info = write_oci_layout(&image("base", None, layer()), &base).unwrap();

    let err = write_oci_layout(
        &image(
            "x",
            Some(OciBase {
                layout: base.clone(),
                tag: Some("nope".into()),
            }),
            layer(),
        ),
        &w.join("out1"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("no manifest is tagged `nope`"),
        "{err}"
    );

    let blob = base.join("blobs/sha256").join(info.layers[0].digest.hex());
    let mut bytes = fs_err::read(&blob).unwrap();
    bytes[20] ^= 0xff;
    fs_err::write(&blob, bytes).unwrap();
    let err = write_oci_layout(
        &image(
            "x",
            Some(OciBase {
                layout: base.clone(),
                tag: None,
            }),
            layer(),
        ),
        &w.join("out2"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
}

/// A base written by another tool (umoci), so reading bases does not only
/// work for layouts Factory wrote itself.
#[test]
fn oci_image_on_a_base_made_by_umoci() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    static_hello(&w.join("src"));
    let base = w.join("umoci-base");
    let base_str = base.to_str().unwrap();
    run_tool("umoci", &["init", "--layout", base_str]);
    run_tool("umoci", &["new", "--image", &format!("{base_str}:base")]);
    run_tool(
        "umoci",
        &[
            "insert",
            "--rootless",
            "--image",
            &format!("{base_str}:base"),
            w.join("src/rootfs/bin/hello").to_str().unwrap(),
            "/bin/hello",
        ],
    );

    let (pkg, _) = two_trees();
    let spec = image(
        "app",
        Some(OciBase {
            layout: base.clone(),
            tag: Some("base".into()),
        }),
        vec![OciLayer {
            name: "hello".into(),
            root: pkg.path().to_path_buf(),
        }],
    );
    let layout = w.join("app");
    let info = write_oci_layout(&spec, &layout).unwrap();
    assert_eq!(info.layers.len(), 2);

    let inspected: serde_json::Value = serde_json::from_str(&run_tool(
        "skopeo",
        &["inspect", &format!("oci:{}:app", layout.display())],
    ))
    .unwrap();
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
    let bundle = w.join("bundle");
    run_tool(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:app", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        run_tool(rootfs.join("bin/hello").to_str().unwrap(), &[]),
        "hello from the image\n"
    );
    assert!(rootfs.join("usr/bin/hello").is_file());
}
