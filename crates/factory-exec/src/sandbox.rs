//! Choosing and describing the isolation a build runs in.
//!
//! With bubblewrap the build sees a minimal read-only host (`/usr`, `/etc`
//! and the usual top-level links), a private `/tmp`, no network unless
//! declared, and fixed paths below `/build`: the source and inputs read-only,
//! the work and output directories writable. Fixed paths make outputs that
//! embed paths (debug info, `__FILE__`) independent of where the host keeps
//! its scratch directories.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Where the build's directories are on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDirs {
    pub work: PathBuf,
    pub out: PathBuf,
    pub source: Option<PathBuf>,
    pub inputs: BTreeMap<String, PathBuf>,
}

/// Where the build sees its directories; substitute these for the
/// definition's placeholders. They are also exported as `FACTORY_SRC`,
/// `FACTORY_WORK`, `FACTORY_OUT` and `FACTORY_INPUT_<NAME>` (name upper-cased,
/// non-alphanumerics replaced by `_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub work: PathBuf,
    pub out: PathBuf,
    pub source: Option<PathBuf>,
    pub inputs: BTreeMap<String, PathBuf>,
}

/// Root of the fixed in-sandbox paths.
pub const SANDBOX_ROOT: &str = "/build";

/// The `PATH` every build gets.
pub const BUILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxKind {
    /// bubblewrap at this path.
    Bubblewrap(PathBuf),
    /// A plain child process with a clean environment: no filesystem or
    /// network isolation.
    Plain,
}

/// How builds are isolated. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    kind: SandboxKind,
    extra_read_only: Vec<PathBuf>,
}

impl Sandbox {
    /// Uses bubblewrap when it is installed and works here (user namespaces
    /// can be disabled even where the binary exists); otherwise warns loudly
    /// and falls back to plain processes.
    pub async fn detect() -> Sandbox {
        let Some(bwrap) = find_bwrap() else {
            tracing::warn!(
                "bubblewrap (bwrap) not found: builds run WITHOUT a sandbox — they can reach the network and write anywhere this user can; install the `bubblewrap` package"
            );
            return Sandbox::plain();
        };
        match probe(&bwrap).await {
            Ok(()) => Sandbox::bubblewrap(bwrap),
            Err(why) => {
                tracing::warn!(
                    bwrap = %bwrap.display(),
                    "bubblewrap is installed but cannot create a sandbox here ({why}): builds run WITHOUT a sandbox"
                );
                Sandbox::plain()
            }
        }
    }

    /// bubblewrap at `bwrap`, without probing it.
    pub fn bubblewrap(bwrap: impl Into<PathBuf>) -> Sandbox {
        Sandbox {
            kind: SandboxKind::Bubblewrap(bwrap.into()),
            extra_read_only: Vec::new(),
        }
    }

    /// No isolation, only a clean environment.
    pub fn plain() -> Sandbox {
        Sandbox {
            kind: SandboxKind::Plain,
            extra_read_only: Vec::new(),
        }
    }

    /// Also expose these host paths read-only at the same place (e.g. a
    /// toolchain outside `/usr`). No effect on plain processes, which see everything.
    pub fn with_read_only_paths(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Sandbox {
        self.extra_read_only.extend(paths);
        self
    }

    pub fn kind(&self) -> &SandboxKind {
        &self.kind
    }

    pub fn is_isolated(&self) -> bool {
        matches!(self.kind, SandboxKind::Bubblewrap(_))
    }

    /// Short description, suitable for a build key's environment facts: a
    /// sandboxed and an unsandboxed build can produce different outputs.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            SandboxKind::Bubblewrap(_) => "bubblewrap",
            SandboxKind::Plain => "plain",
        }
    }

    /// The paths the build sees for the given host directories.
    pub fn layout(&self, host: &HostDirs) -> Layout {
        match self.kind {
            SandboxKind::Plain => Layout {
                work: host.work.clone(),
                out: host.out.clone(),
                source: host.source.clone(),
                inputs: host.inputs.clone(),
            },
            SandboxKind::Bubblewrap(_) => {
                let root = Path::new(SANDBOX_ROOT);
                Layout {
                    work: root.join("work"),
                    out: root.join("out"),
                    source: host.source.as_ref().map(|_| root.join("src")),
                    inputs: host
                        .inputs
                        .keys()
                        .map(|name| (name.clone(), root.join("inputs").join(name)))
                        .collect(),
                }
            }
        }
    }

    /// The command that runs `argv` for a build with this environment, in the work
    /// directory, or in the source directory with `in_source` (when there is one).
    pub(crate) fn command(
        &self,
        argv: &[String],
        env: &BTreeMap<String, String>,
        host: &HostDirs,
        network: bool,
        in_source: bool,
    ) -> Command {
        match &self.kind {
            SandboxKind::Plain => {
                let cwd = match &host.source {
                    Some(source) if in_source => source,
                    _ => &host.work,
                };
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..]).env_clear().envs(env).current_dir(cwd);
                cmd
            }
            SandboxKind::Bubblewrap(bwrap) => {
                let mut cmd = Command::new(bwrap);
                cmd.args(self.bwrap_args(env, host, network, in_source))
                    .arg("--")
                    .args(argv)
                    .env_clear();
                cmd
            }
        }
    }

    fn bwrap_args(
        &self,
        env: &BTreeMap<String, String>,
        host: &HostDirs,
        network: bool,
        in_source: bool,
    ) -> Vec<OsString> {
        let layout = self.layout(host);
        let mut args = BwrapArgs::default();
        // Builds run as whatever user the factory runs as, but with no
        // capabilities: a factory running as root must not hand root powers to builds.
        args.flag("--die-with-parent")
            .pair("--cap-drop", "ALL")
            .flag("--new-session")
            .flag("--unshare-pid")
            .flag("--unshare-ipc")
            .flag("--unshare-uts")
            .flag("--unshare-cgroup-try")
            .pair("--hostname", "factory");
        if !network {
            args.flag("--unshare-net");
        }
        add_host_system(&mut args);
        for path in &self.extra_read_only {
            args.triple("--ro-bind", path, path);
        }
        args.pair("--proc", "/proc")
            .pair("--dev", "/dev")
            .pair("--tmpfs", "/tmp")
            .pair("--dir", SANDBOX_ROOT);
        if let (Some(src), Some(inside)) = (&host.source, &layout.source) {
            args.triple("--ro-bind", src, inside);
        }
        for (name, path) in &host.inputs {
            args.triple("--ro-bind", path, &layout.inputs[name]);
        }
        let cwd = match &layout.source {
            Some(source) if in_source => source,
            _ => &layout.work,
        };
        args.triple("--bind", &host.work, &layout.work)
            .triple("--bind", &host.out, &layout.out)
            .pair("--chdir", cwd)
            .flag("--clearenv");
        for (name, value) in env {
            args.triple("--setenv", name, value);
        }
        args.0
    }
}

/// The read-only slice of the host a build may use: programs, libraries and
/// configuration. Home directories, /var, /srv, /root stay invisible.
fn add_host_system(args: &mut BwrapArgs) {
    for dir in ["/usr", "/etc", "/opt"] {
        if Path::new(dir).is_dir() {
            args.triple("--ro-bind", dir, dir);
        }
    }
    // Merged-/usr systems have these as symlinks into /usr; older ones as directories.
    for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
        let path = Path::new(top);
        match fs_err::read_link(path) {
            Ok(target) => {
                args.triple("--symlink", target, top);
            }
            Err(_) if path.is_dir() => {
                args.triple("--ro-bind", top, top);
            }
            Err(_) => {}
        }
    }
}

#[derive(Default)]
struct BwrapArgs(Vec<OsString>);

impl BwrapArgs {
    fn flag(&mut self, flag: &str) -> &mut Self {
        self.0.push(flag.into());
        self
    }

    fn pair(&mut self, flag: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.push(flag.into());
        self.0.push(value.as_ref().to_os_string());
        self
    }

    fn triple(
        &mut self,
        flag: &str,
        a: impl AsRef<std::ffi::OsStr>,
        b: impl AsRef<std::ffi::OsStr>,
    ) -> &mut Self {
        self.0.push(flag.into());
        self.0.push(a.as_ref().to_os_string());
        self.0.push(b.as_ref().to_os_string());
        self
    }
}

fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| BUILD_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| candidate.is_file())
}

/// Runs a trivial command in the same kind of sandbox builds get.
async fn probe(bwrap: &Path) -> Result<(), String> {
    let scratch =
        tempfile::tempdir().map_err(|e| format!("cannot create a probe directory: {e}"))?;
    let host = HostDirs {
        work: scratch.path().to_path_buf(),
        out: scratch.path().to_path_buf(),
        source: None,
        inputs: BTreeMap::new(),
    };
    let sandbox = Sandbox::bubblewrap(bwrap);
    let env = BTreeMap::from([("PATH".to_string(), BUILD_PATH.to_string())]);
    let output = sandbox
        .command(&["true".to_string()], &env, &host, false, false)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}
