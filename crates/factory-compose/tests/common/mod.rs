//! What the compose tests share: the tools they need, a signer that is the real `gpg` with
//! a key of its own, real `.deb`s and an OCI image made by Factory's own writers, and a
//! demo-sized request.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use factory_compose::{
    AptRepository, BuildOrder, ComposeRequest, ComposeType, DebInput, ImageInput, ModuleComponent,
    ModuleDependencies, ModuleProfile, ModuleStream, Release, ReleaseType, SignError, Signer,
    module_context, module_version,
};
use factory_exec::archive::{DebControl, OciImageSpec, OciLayer, write_deb, write_oci_layout};
use factory_types::Fault;

/// 2026-12-03T12:00:00Z.
pub(crate) fn release_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_299_200)
}

/// Whether every tool runs; without one a test skips loudly, except under CI
/// (`FACTORY_CI`), where it fails.
pub(crate) fn have(tools: &[(&str, &str)]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|(tool, _)| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|(tool, install)| format!("{tool} ({install})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("SKIPPED: not installed: {}", missing.join(", "));
    assert!(
        std::env::var_os("FACTORY_CI").is_none(),
        "CI must be able to run this test: {message}"
    );
    eprintln!("{message}");
    false
}

/// Runs a command, failing the test with its output when it cannot start.
pub(crate) fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

pub(crate) fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The release key as the real `gpg` holds it, in a home of its own.
pub(crate) struct GpgSigner {
    home: tempfile::TempDir,
    pub(crate) fingerprint: String,
}

impl GpgSigner {
    /// A new ed25519 signing key without a passphrase.
    pub(crate) fn new(user: &str) -> GpgSigner {
        // gpg-agent's socket lives in the home: keep its path short.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        fs_err::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut signer = GpgSigner {
            home,
            fingerprint: String::new(),
        };
        let made = signer.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            user,
            "ed25519",
            "sign",
            "1y",
        ]);
        assert_success(&made, "gpg --quick-gen-key");
        let listed = signer.gpg(&["--with-colons", "--list-keys"]);
        let text = String::from_utf8(listed.stdout).unwrap();
        let fingerprint = text
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .expect("gpg lists the key's fingerprint");
        signer.fingerprint = fingerprint;
        signer
    }

    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    fn command(&self) -> Command {
        let mut command = Command::new("gpg");
        command.arg("--homedir").arg(self.home.path()).args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
        ]);
        command
    }

    fn gpg(&self, args: &[&str]) -> Output {
        run(self.command().args(args))
    }

    fn gpg_with_input(&self, args: &[&str], input: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut child = self
            .command()
            .args(["--local-user", &self.fingerprint, "--digest-algo", "SHA256"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SignError::with_fault(Fault::Environment, e))?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input)
            .map_err(|e| SignError::with_fault(Fault::Environment, e))?;
        let output = child
            .wait_with_output()
            .map_err(|e| SignError::with_fault(Fault::Environment, e))?;
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr).into_owned();
            return Err(SignError::with_fault(Fault::Environment, why));
        }
        Ok(output.stdout)
    }

    /// Deletes the secret key: signing fails from then on, as with a key that is gone.
    pub(crate) fn forget_secret_key(&self) {
        let deleted = self.gpg(&["--delete-secret-keys", &self.fingerprint]);
        assert_success(&deleted, "gpg --delete-secret-keys");
    }

    /// The public key, binary, in a file of its own.
    pub(crate) fn export_to(&self, path: &Path) {
        fs_err::write(path, self.public_key().unwrap()).unwrap();
    }
}

impl Drop for GpgSigner {
    fn drop(&mut self) {
        // The agent gpg started for this home; nothing else.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

impl Signer for GpgSigner {
    fn clearsign(&self, text: &str) -> Result<String, SignError> {
        let signed = self.gpg_with_input(&["--clearsign"], text.as_bytes())?;
        String::from_utf8(signed).map_err(|e| SignError::with_fault(Fault::Factory, e))
    }

    fn detached_armored(&self, data: &[u8]) -> Result<String, SignError> {
        let signed = self.gpg_with_input(&["--armor", "--detach-sign"], data)?;
        String::from_utf8(signed).map_err(|e| SignError::with_fault(Fault::Factory, e))
    }

    fn public_key(&self) -> Result<Vec<u8>, SignError> {
        let output = self.gpg(&["--export", &self.fingerprint]);
        if !output.status.success() || output.stdout.is_empty() {
            return Err(SignError::with_fault(
                Fault::Environment,
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        Ok(output.stdout)
    }
}

/// A `.deb` written by Factory's own writer, holding `usr/bin/PROGRAM` that prints
/// `says`; its path.
pub(crate) fn make_deb(
    dir: &Path,
    package: &str,
    version: &str,
    architecture: &str,
    says: &str,
) -> PathBuf {
    let tree = dir.join(format!("{package}-{architecture}-tree"));
    let program = tree.join("usr/bin").join(package);
    fs_err::create_dir_all(program.parent().unwrap()).unwrap();
    fs_err::write(&program, format!("#!/bin/sh\necho '{says}'\n")).unwrap();
    fs_err::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let control = DebControl {
        package: package.into(),
        version: version.into(),
        architecture: architecture.into(),
        maintainer: "Factory <factory@example.org>".into(),
        description: format!("the {package} program\nIt prints a line.\n\nThat is all."),
        depends: vec![],
        extra: BTreeMap::from([("Section".to_owned(), "misc".to_owned())]),
    };
    let dest = dir.join(format!("{package}_{version}_{architecture}.deb"));
    write_deb(&tree, &control, &dest, 946_684_800).unwrap();
    dest
}

/// An OCI image layout written by Factory's own writer: one layer with `usr/bin/hello`.
pub(crate) fn make_image(dir: &Path, tag: &str) -> PathBuf {
    let tree = dir.join("image-tree");
    let program = tree.join("usr/bin/hello");
    fs_err::create_dir_all(program.parent().unwrap()).unwrap();
    fs_err::write(&program, "#!/bin/sh\necho hello\n").unwrap();
    let layout = dir.join("image-layout");
    let spec = OciImageSpec {
        tag: tag.into(),
        base: None,
        layers: vec![OciLayer {
            name: "hello".into(),
            root: tree,
        }],
        architecture: "amd64".into(),
        os: "linux".into(),
        env: vec![],
        entrypoint: Some(vec!["/usr/bin/hello".into()]),
        cmd: None,
        working_dir: None,
        labels: BTreeMap::new(),
        created: 946_684_800,
    };
    write_oci_layout(&spec, &layout).unwrap();
    layout
}

/// The demo's shape: `hello` and `greet-cli` (amd64), `motd` (all), the `greet` image and
/// the `greet:stable` module.
pub(crate) struct Demo {
    pub(crate) work: tempfile::TempDir,
    pub(crate) request: ComposeRequest,
}

impl Demo {
    pub(crate) fn new() -> Demo {
        let work = tempfile::tempdir().unwrap();
        let inputs = work.path().join("inputs");
        fs_err::create_dir_all(&inputs).unwrap();
        let debs = vec![
            DebInput::Path(make_deb(
                &inputs,
                "hello",
                "1.0.0-1",
                "amd64",
                "hello from the compose",
            )),
            DebInput::Path(make_deb(
                &inputs,
                "greet-cli",
                "1:1.2.0-1",
                "amd64",
                "greetings",
            )),
            DebInput::Bytes {
                name: "motd (artifact)".into(),
                bytes: fs_err::read(make_deb(
                    &inputs,
                    "motd",
                    "0.3.0",
                    "all",
                    "message of the day",
                ))
                .unwrap(),
            },
        ];
        let layout = make_image(&inputs, "greet");
        let request = ComposeRequest {
            release: Release {
                name: "Demo OS".into(),
                short: "DemoOS".into(),
                version: "1.0".into(),
                release_type: ReleaseType::Ga,
            },
            compose_type: ComposeType::Production,
            respin: 0,
            created: release_time(),
            variant: "Everything".into(),
            apt: AptRepository {
                origin: "Factory".into(),
                label: "Demo OS".into(),
                suite: "stable".into(),
                codename: "demo-os-1.0".into(),
                description: Some("Demo OS 1.0, stable".into()),
                architectures: vec!["amd64".into()],
            },
            debs,
            images: vec![ImageInput {
                name: "greet".into(),
                layout,
                tag: Some("greet".into()),
                signatures: vec![],
            }],
            modules: vec![greet_module()],
        };
        Demo { work, request }
    }

    /// Where composes go.
    pub(crate) fn root(&self) -> PathBuf {
        self.work.path().join("composes")
    }
}

pub(crate) fn greet_module() -> ModuleStream {
    let dependencies = vec![ModuleDependencies {
        buildrequires: BTreeMap::from([("platform".into(), vec!["demo-os-1.0".into()])]),
        requires: BTreeMap::from([("platform".into(), vec!["demo-os-1.0".into()])]),
    }];
    let component = |name: &str, batch| ModuleComponent {
        name: name.into(),
        rationale: format!("{name} is part of greet"),
        git_ref: Some("stable".into()),
        order: BuildOrder::Batch(batch),
    };
    ModuleStream {
        name: "greet".into(),
        stream: "stable".into(),
        version: module_version(release_time()),
        context: module_context(&dependencies),
        summary: "The greeting library and the programs built on it.".into(),
        description: "What demo-os ships.".into(),
        license: vec!["MIT".into()],
        dependencies,
        profiles: BTreeMap::from([(
            "default".into(),
            ModuleProfile {
                description: Some("The programs.".into()),
                packages: vec!["hello".into(), "greet-cli".into()],
            },
        )]),
        api: vec!["hello".into(), "greet-cli".into()],
        components: vec![
            component("libgreet", 0),
            component("hello", 1),
            component("greet-cli", 1),
        ],
        artifacts: vec!["hello".into(), "greet-cli".into(), "motd".into()],
    }
}
