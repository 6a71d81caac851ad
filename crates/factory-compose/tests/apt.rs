//! The compose's apt repository against the real apt, in a throwaway apt root: `apt-get
//! update` verifies it with the release key as `signed-by`, `apt-get install` installs a
//! package into a throwaway root and its program runs; a tampered `Packages` or
//! `InRelease`, or another key, is refused. The signatures also verify with `gpgv` and
//! `sqv`, the stock verifiers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Demo, GpgSigner, assert_success, have, run};
use factory_compose::{WrittenCompose, write_compose};

fn tools() -> bool {
    have(&[
        ("gpg", "apt-get install gpg"),
        ("gpgv", "apt-get install gpgv"),
        ("apt-get", "apt-get install apt"),
        ("dpkg", "apt-get install dpkg"),
    ])
}

/// An apt root of its own (configuration, lists, cache) and a root to install into, with
/// one `sources.list` line.
struct AptRoot {
    dir: tempfile::TempDir,
}

impl AptRoot {
    fn new(sources_line: &str) -> AptRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/log/apt",
            "target/var/lib/dpkg/info",
            "target/var/lib/dpkg/updates",
            "target/var/lib/dpkg/triggers",
            "target/var/log",
        ] {
            fs_err::create_dir_all(root.join(sub)).unwrap();
        }
        fs_err::write(root.join("target/var/lib/dpkg/status"), "").unwrap();
        fs_err::write(
            root.join("etc/apt/sources.list"),
            format!("{sources_line}\n"),
        )
        .unwrap();
        fs_err::write(root.join("etc/apt/apt.conf"), "").unwrap();
        AptRoot { dir }
    }

    fn target(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    /// apt-get with every directory in the throwaway root, dpkg working on `target/`.
    fn apt_get(&self, args: &[&str]) -> Output {
        let root = self.dir.path();
        let target = self.target();
        let option = |name: &str, value: &Path| format!("{name}={}", value.display());
        let options = [
            option("Dir::Etc", &root.join("etc/apt")),
            option("Dir::State", &root.join("var/lib/apt")),
            option("Dir::Cache", &root.join("var/cache/apt")),
            option("Dir::Log", &root.join("var/log/apt")),
            option("Dir::State::status", &target.join("var/lib/dpkg/status")),
            option(
                "DPkg::Options::",
                &PathBuf::from(format!("--root={}", target.display())),
            ),
            "Debug::NoLocking=1".to_owned(),
            // The files are the test's own: no need to drop to the `_apt` user to read them.
            "APT::Sandbox::User=root".to_owned(),
        ];
        let mut command = Command::new("apt-get");
        for option in &options {
            command.arg("-o").arg(option);
        }
        // No configuration of the host's apt may leak in.
        command.env("APT_CONFIG", root.join("etc/apt/apt.conf"));
        command.env("DEBIAN_FRONTEND", "noninteractive");
        run(command.args(args))
    }
}

fn written_demo(signer: &GpgSigner) -> (Demo, WrittenCompose) {
    let demo = Demo::new();
    let written = write_compose(&demo.root(), &demo.request, signer).unwrap();
    (demo, written)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn apt_verifies_the_repository_installs_a_package_and_its_program_runs() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let (_demo, written) = written_demo(&signer);
    let apt = written.apt.as_ref().unwrap();
    assert!(
        apt.key.ends_with("release-key.gpg"),
        "{}",
        apt.key.display()
    );
    let root = AptRoot::new(&apt.sources_line());
    let update = root.apt_get(&["update"]);
    assert_success(&update, "apt-get update");
    assert!(
        !text(&update).contains("W:"),
        "apt warned:\n{}",
        text(&update)
    );
    let install = root.apt_get(&["install", "-y", "--no-install-recommends", "hello", "motd"]);
    assert_success(&install, "apt-get install");
    let program = run(&mut Command::new(root.target().join("usr/bin/hello")));
    assert_success(&program, "the installed hello");
    assert_eq!(
        String::from_utf8_lossy(&program.stdout),
        "hello from the compose\n"
    );
    // The `all` package came from the amd64 index, as its stanza says.
    let motd = run(&mut Command::new(root.target().join("usr/bin/motd")));
    assert_eq!(
        String::from_utf8_lossy(&motd.stdout),
        "message of the day\n"
    );
    // The epoch is kept in the index, not in the file name.
    let policy = root.apt_get(&["install", "-y", "--print-uris", "greet-cli"]);
    assert!(
        text(&policy).contains("greet-cli_1.2.0-1_amd64.deb"),
        "{}",
        text(&policy)
    );
}

#[test]
fn the_signatures_verify_with_gpgv_and_sqv() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let (_demo, written) = written_demo(&signer);
    let apt = written.apt.as_ref().unwrap();
    let suite = apt.root.join("dists/stable");
    let inrelease = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&apt.key)
        .arg(suite.join("InRelease")));
    assert_success(&inrelease, "gpgv InRelease");
    let detached = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&apt.key)
        .arg(suite.join("Release.gpg"))
        .arg(suite.join("Release")));
    assert_success(&detached, "gpgv Release.gpg Release");
    if have(&[("sqv", "apt-get install sqv")]) {
        let sqv = run(Command::new("sqv")
            .arg("--keyring")
            .arg(&apt.key)
            .arg(suite.join("Release.gpg"))
            .arg(suite.join("Release")));
        assert_success(&sqv, "sqv Release.gpg Release");
    }
    let release = fs_err::read_to_string(suite.join("Release")).unwrap();
    for field in [
        "Origin: Factory\n",
        "Label: Demo OS\n",
        "Suite: stable\n",
        "Codename: demo-os-1.0\n",
        "Date: Thu, 03 Dec 2026 12:00:00 UTC\n",
        "Architectures: amd64\n",
        "Components: main\n",
    ] {
        assert!(
            release.contains(field),
            "Release lacks {field:?}:\n{release}"
        );
    }
    for index in ["Packages", "Packages.gz", "Packages.xz"] {
        assert!(
            release.contains(&format!(" main/binary-amd64/{index}\n")),
            "{release}"
        );
    }
}

/// A copy of the published repository to tamper with: the compose itself never changes.
fn copy_of(repository: &Path, into: &Path) -> PathBuf {
    let copy = into.join("tampered");
    assert_success(
        &run(Command::new("cp").arg("-a").arg(repository).arg(&copy)),
        "cp -a",
    );
    copy
}

fn assert_refused(root: &AptRoot, what: &str) {
    let update = root.apt_get(&["update"]);
    let said = text(&update);
    assert!(
        !update.status.success() || said.contains("E:"),
        "apt accepted {what}:\n{said}"
    );
    let install = root.apt_get(&["install", "-y", "hello"]);
    assert!(
        !install.status.success(),
        "apt installed from {what}:\n{}",
        text(&install)
    );
    assert!(!root.target().join("usr/bin/hello").exists());
}

#[test]
fn a_tampered_packages_index_is_refused() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let (demo, written) = written_demo(&signer);
    let apt = written.apt.as_ref().unwrap();
    let copy = copy_of(&apt.root, demo.work.path());
    let index = copy.join("dists/stable/main/binary-amd64");
    // Every form rewritten consistently, as someone replacing the index would.
    let packages = fs_err::read_to_string(index.join("Packages")).unwrap();
    let changed = packages.replace("Version: 1.0.0-1", "Version: 1.0.0-2");
    assert_ne!(packages, changed);
    fs_err::write(index.join("Packages"), &changed).unwrap();
    for (tool, suffix) in [("gzip", "gz"), ("xz", "xz")] {
        let compressed = run(Command::new(tool).arg("-c").arg(index.join("Packages")));
        fs_err::write(index.join(format!("Packages.{suffix}")), compressed.stdout).unwrap();
    }
    let line = format!(
        "deb [signed-by={}] file:{} stable main",
        apt.key.display(),
        copy.display()
    );
    let root = AptRoot::new(&line);
    assert_refused(&root, "a changed Packages");
    let said = text(&root.apt_get(&["update"]));
    assert!(said.contains("Hash Sum mismatch"), "{said}");
}

#[test]
fn a_tampered_inrelease_is_refused() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let (demo, written) = written_demo(&signer);
    let apt = written.apt.as_ref().unwrap();
    let copy = copy_of(&apt.root, demo.work.path());
    let inrelease = copy.join("dists/stable/InRelease");
    let signed = fs_err::read_to_string(&inrelease).unwrap();
    let changed = signed.replace("Label: Demo OS", "Label: Demo 0S");
    assert_ne!(signed, changed);
    fs_err::write(&inrelease, changed).unwrap();
    let line = format!(
        "deb [signed-by={}] file:{} stable main",
        apt.key.display(),
        copy.display()
    );
    let root = AptRoot::new(&line);
    assert_refused(&root, "a changed InRelease");
    let said = text(&root.apt_get(&["update"]));
    assert!(said.contains("BADSIG"), "{said}");
    let gpgv = run(Command::new("gpgv")
        .arg("--keyring")
        .arg(&apt.key)
        .arg(&inrelease));
    assert!(!gpgv.status.success(), "gpgv accepted a changed InRelease");
}

#[test]
fn a_repository_signed_by_another_key_is_refused() {
    if !tools() {
        return;
    }
    let signer = GpgSigner::new("Demo OS release <release@demo-os.example>");
    let (demo, written) = written_demo(&signer);
    let apt = written.apt.as_ref().unwrap();
    let stranger = GpgSigner::new("Someone else <else@example.org>");
    let other_key = demo.work.path().join("other.gpg");
    stranger.export_to(&other_key);
    let line = format!(
        "deb [signed-by={}] file:{} stable main",
        other_key.display(),
        apt.root.display()
    );
    let root = AptRoot::new(&line);
    assert_refused(&root, "a repository signed by another key");
    let said = text(&root.apt_get(&["update"]));
    assert!(
        said.contains("NO_PUBKEY") || said.contains("not signed"),
        "{said}"
    );
}
