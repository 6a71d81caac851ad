//! Running a build's commands: clean environment, sandbox, process-group
//! lifetime, timeout/cancellation and line-by-line log capture.
//!
//! Call [`execute`] from async tasks on the runtime's worker threads, not
//! from `spawn_blocking`: bubblewrap's `--die-with-parent` is tied to the
//! thread that spawned it, and blocking-pool threads exit when idle, which
//! would kill a running build.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use factory_types::LogStream;

use crate::error::{BuildError, ExitKind, InfraError};
use crate::sandbox::{BUILD_PATH, HostDirs, Layout, Sandbox, SandboxKind};
use crate::spec::{BuildCommand, BuildSpec, validate_input_names};

/// One line of a build's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Index of the command that printed it.
    pub command: usize,
    pub stream: LogStream,
    /// The line without its newline; invalid UTF-8 is replaced.
    pub text: String,
    /// Time since the build started.
    pub elapsed: Duration,
}

/// Receives log lines the moment they are read, so a running build's log
/// can be streamed. Called from reader tasks: must not block for long.
pub trait LogSink: Send + Sync {
    fn line(&self, line: &LogLine);
}

impl<F: Fn(&LogLine) + Send + Sync> LogSink for F {
    fn line(&self, line: &LogLine) {
        self(line)
    }
}

/// Every sink of the list gets every line, in list order.
impl LogSink for Vec<Arc<dyn LogSink>> {
    fn line(&self, line: &LogLine) {
        for sink in self {
            sink.line(line);
        }
    }
}

/// Appends every line to a file the moment it arrives (one `write` per
/// line, no buffering), so a running build's log can be followed with
/// `tail -f`-like readers. Engine lines are written as they are (`$ command`).
#[derive(Debug)]
pub struct LogFile {
    file: Mutex<fs_err::File>,
}

impl LogFile {
    /// Creates (or truncates) the file.
    pub fn create(path: &std::path::Path) -> std::io::Result<LogFile> {
        Ok(LogFile {
            file: Mutex::new(fs_err::File::create(path)?),
        })
    }
}

impl LogSink for LogFile {
    fn line(&self, line: &LogLine) {
        use std::io::Write;
        let mut bytes = line.text.clone().into_bytes();
        bytes.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = file.write_all(&bytes) {
            tracing::warn!(%error, "cannot append to a build log file; the in-memory log is complete");
        }
    }
}

impl LogSink for tokio::sync::mpsc::UnboundedSender<LogLine> {
    fn line(&self, line: &LogLine) {
        // A receiver that went away only stops listening; the build goes on.
        let _ = self.send(line.clone());
    }
}

/// What one execution produced. The log is always there, also on failure.
#[derive(Debug)]
pub struct ExecReport {
    pub result: Result<(), BuildError>,
    pub log: Vec<LogLine>,
    pub duration: Duration,
    pub layout: Layout,
}

/// One execution of a build's commands.
pub struct ExecRequest<'a> {
    pub spec: &'a BuildSpec,
    pub dirs: &'a HostDirs,
    pub sink: Option<Arc<dyn LogSink>>,
    pub cancel: CancellationToken,
    /// A file every command reads as its standard input; without one they read nothing
    /// (`/dev/null`). A file rather than a pipe: a command that never reads it cannot stall,
    /// and nothing writes to a pipe whose reader is gone (the binary keeps SIGPIPE's default
    /// action, which would end it).
    pub stdin: Option<&'a Path>,
    /// Run the commands in the source directory (read-only) instead of the work directory.
    pub in_source: bool,
}

/// Runs every command of the spec in order; stops at the first failure.
pub async fn execute(sandbox: &Sandbox, request: ExecRequest<'_>) -> ExecReport {
    let started = Instant::now();
    let layout = sandbox.layout(request.dirs);
    let log = Arc::new(LogCollector {
        lines: Mutex::new(Vec::new()),
        sink: request.sink.clone(),
        started,
    });
    let result = run_all(sandbox, &request, &layout, &log, started).await;
    let lines = std::mem::take(&mut *log.lines.lock().unwrap_or_else(|e| e.into_inner()));
    ExecReport {
        result,
        log: lines,
        duration: started.elapsed(),
        layout,
    }
}

async fn run_all(
    sandbox: &Sandbox,
    request: &ExecRequest<'_>,
    layout: &Layout,
    log: &Arc<LogCollector>,
    started: Instant,
) -> Result<(), BuildError> {
    let spec = request.spec;
    spec.validate()
        .and_then(|()| validate_input_names(request.dirs.inputs.keys()))
        .map_err(|source| BuildError::InvalidSpec {
            build: spec.name.clone(),
            source,
        })?;
    let cwd = match &layout.source {
        Some(source) if request.in_source => source,
        _ => &layout.work,
    };
    let env = build_env(spec, layout, cwd);
    let deadline = spec.timeout.map(|limit| started + limit);
    for (index, command) in spec.commands.iter().enumerate() {
        if request.cancel.is_cancelled() {
            return Err(BuildError::Cancelled {
                build: spec.name.clone(),
                reason: "cancellation requested before command started".into(),
            });
        }
        log.push(
            index,
            LogStream::Factory,
            format!("$ {}", command.display()),
        );
        let run = CommandRun {
            sandbox,
            spec,
            index,
            command,
            env: &env,
            dirs: request.dirs,
            log,
            stdin: request.stdin,
            in_source: request.in_source,
        };
        run.run(deadline, &request.cancel).await?;
    }
    Ok(())
}

/// The fixed, clean environment plus the declared one; `cwd` is where the commands run.
fn build_env(spec: &BuildSpec, layout: &Layout, cwd: &Path) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let path = |p: &Path| p.to_string_lossy().into_owned();
    env.insert("PATH".into(), BUILD_PATH.into());
    env.insert("LANG".into(), "C.UTF-8".into());
    env.insert("LC_ALL".into(), "C.UTF-8".into());
    env.insert("TZ".into(), "UTC".into());
    env.insert("TMPDIR".into(), "/tmp".into());
    env.insert("HOME".into(), path(&layout.work));
    // bubblewrap exports PWD after --chdir; set it in both modes so the
    // environment is the same with and without the sandbox.
    env.insert("PWD".into(), path(cwd));
    env.insert(
        "SOURCE_DATE_EPOCH".into(),
        spec.source_date_epoch.to_string(),
    );
    env.insert("FACTORY_WORK".into(), path(&layout.work));
    env.insert("FACTORY_OUT".into(), path(&layout.out));
    if let Some(source) = &layout.source {
        env.insert("FACTORY_SRC".into(), path(source));
    }
    for (name, dir) in &layout.inputs {
        env.insert(input_env_name(name), path(dir));
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// `FACTORY_INPUT_<NAME>`: upper-cased, every non-alphanumeric becomes `_`.
pub fn input_env_name(input: &str) -> String {
    let name: String = input
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("FACTORY_INPUT_{name}")
}

struct LogCollector {
    lines: Mutex<Vec<LogLine>>,
    sink: Option<Arc<dyn LogSink>>,
    started: Instant,
}

impl LogCollector {
    /// The sink is called under the lock so it sees lines in the same order
    /// as the returned log.
    fn push(&self, command: usize, stream: LogStream, text: String) {
        let line = LogLine {
            command,
            stream,
            text,
            elapsed: self.started.elapsed(),
        };
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sink) = &self.sink {
            sink.line(&line);
        }
        lines.push(line);
    }
}

/// Kills the whole process group when dropped, so no path out of a command
/// (error, timeout, cancellation, the future being dropped) leaves processes behind.
struct GroupKiller(Option<Pid>);

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH only means the group is already gone.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Longest log line kept as one line.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// How long to wait for the output pipes to close after the group was
/// killed; only a process that escaped the group (setsid) could hold them longer.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

struct CommandRun<'a> {
    sandbox: &'a Sandbox,
    spec: &'a BuildSpec,
    index: usize,
    command: &'a BuildCommand,
    env: &'a BTreeMap<String, String>,
    dirs: &'a HostDirs,
    log: &'a Arc<LogCollector>,
    stdin: Option<&'a Path>,
    in_source: bool,
}

impl CommandRun<'_> {
    async fn run(
        &self,
        deadline: Option<Instant>,
        cancel: &CancellationToken,
    ) -> Result<(), BuildError> {
        let argv = self.command.argv();
        let mut child = self.spawn(&argv)?;
        // The child leads a new process group whose id is its pid.
        let mut killer = GroupKiller(child.id().map(|pid| Pid::from_raw(pid as i32)));
        let readers = [
            child
                .stdout
                .take()
                .map(|s| self.read_lines(s, LogStream::Stdout)),
            child
                .stderr
                .take()
                .map(|s| self.read_lines(s, LogStream::Stderr)),
        ];
        let ending = wait_for_end(&mut child, deadline, cancel).await;
        // Background children of a finished command are stragglers too.
        killer.kill();
        let ending = match ending {
            Ok(ending) => ending,
            Err(source) => {
                return Err(InfraError::Io {
                    action: "waiting for build process",
                    path: self.dirs.work.clone(),
                    source,
                }
                .into());
            }
        };
        if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
            // Reap the killed leader so it does not linger as a zombie.
            let _ = child.wait().await;
        }
        drain(readers).await;
        self.judge(ending, &argv)
    }

    fn spawn(&self, argv: &[String]) -> Result<Child, BuildError> {
        let mut cmd =
            self.sandbox
                .command(argv, self.env, self.dirs, self.spec.network, self.in_source);
        let stdin = match self.stdin {
            Some(path) => fs_err::File::open(path)
                .map(|file| Stdio::from(file.into_parts().0))
                .map_err(|source| InfraError::Io {
                    action: "opening standard input",
                    path: path.to_path_buf(),
                    source,
                })?,
            None => Stdio::null(),
        };
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd.spawn().map_err(|source| {
            let program = match self.sandbox.kind() {
                SandboxKind::Bubblewrap(bwrap) => bwrap.to_string_lossy().into_owned(),
                SandboxKind::Plain => argv[0].clone(),
            };
            if source.kind() == std::io::ErrorKind::NotFound {
                InfraError::ToolMissing {
                    tool: program,
                    in_sandbox: false,
                }
                .into()
            } else {
                InfraError::Io {
                    action: "starting",
                    path: program.into(),
                    source,
                }
                .into()
            }
        })
    }

    fn read_lines<R>(&self, stream: R, kind: LogStream) -> JoinHandle<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let log = Arc::clone(self.log);
        let index = self.index;
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                // Longer lines are split, so output without newlines cannot
                // make one line grow without bound.
                let mut limited = (&mut reader).take(MAX_LINE_BYTES);
                match limited.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                        }
                        log.push(index, kind, String::from_utf8_lossy(&buf).into_owned());
                    }
                }
            }
        })
    }

    fn judge(&self, ending: Ending, argv: &[String]) -> Result<(), BuildError> {
        let build = self.spec.name.clone();
        let command = self.command.display();
        let status = match ending {
            Ending::TimedOut => {
                return Err(BuildError::TimedOut {
                    build,
                    index: self.index,
                    command,
                    limit: self.spec.timeout.unwrap_or_default(),
                });
            }
            Ending::Cancelled => {
                return Err(BuildError::Cancelled {
                    build,
                    reason: "cancellation requested".into(),
                });
            }
            Ending::Exited(status) => status,
        };
        if status.success() {
            return Ok(());
        }
        if let Some(infra) = self.sandbox_failure(&status, argv) {
            return Err(infra.into());
        }
        use std::os::unix::process::ExitStatusExt;
        let status = match (status.code(), status.signal()) {
            (Some(code), _) => ExitKind::Code(code),
            (None, Some(signal)) => ExitKind::Signal(signal),
            (None, None) => ExitKind::Code(-1),
        };
        Err(BuildError::CommandFailed {
            build,
            index: self.index,
            command,
            status,
        })
    }

    /// bubblewrap reports its own failures (mount setup, exec of the
    /// command) as exit code 1 with a `bwrap: ` line on stderr; a build's own
    /// output never comes from bwrap itself.
    fn sandbox_failure(&self, status: &ExitStatus, argv: &[String]) -> Option<InfraError> {
        if !matches!(self.sandbox.kind(), SandboxKind::Bubblewrap(_)) || status.code() != Some(1) {
            return None;
        }
        let lines = self.log.lines.lock().unwrap_or_else(|e| e.into_inner());
        let message = lines
            .iter()
            .filter(|l| l.command == self.index && l.stream == LogStream::Stderr)
            .find_map(|l| l.text.strip_prefix("bwrap: "))?
            .to_string();
        if message.starts_with("execvp ") {
            return Some(InfraError::ToolMissing {
                tool: argv[0].clone(),
                in_sandbox: true,
            });
        }
        Some(InfraError::SandboxSetup { message })
    }
}

async fn wait_for_end(
    child: &mut Child,
    deadline: Option<Instant>,
    cancel: &CancellationToken,
) -> std::io::Result<Ending> {
    let timeout = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        status = child.wait() => status.map(Ending::Exited),
        () = timeout => Ok(Ending::TimedOut),
        () = cancel.cancelled() => Ok(Ending::Cancelled),
    }
}

async fn drain(readers: [Option<JoinHandle<()>>; 2]) {
    for reader in readers.into_iter().flatten() {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_GRACE, reader).await.is_err() {
            tracing::warn!(
                "a build process escaped its process group and keeps its output open; log capture stopped"
            );
            abort.abort();
        }
    }
}
