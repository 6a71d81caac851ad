//! Running commands: the `factory` binary through a builder, anything else through
//! [`run`] and [`ok`].

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

/// Runs `command` to its end, whatever its exit status.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("the command starts")
}

/// Runs `command`, requires success, returns its standard output.
pub fn ok(command: &mut Command) -> String {
    let output = run(command);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// What a finished command left: its exit status and what it printed.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    command: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Standard output, then standard error: for assertions that do not care which of the
    /// two a message went to.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} exited with {}\nstdout:\n{}\nstderr:\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// `factory --store STORE ARGS...`, assembled only when it runs, so the store can be changed
/// (or dropped, for commands that take none) after the arguments are given.
#[derive(Clone, Debug)]
#[must_use = "a FactoryCommand does nothing until it runs"]
pub struct FactoryCommand {
    binary: PathBuf,
    store: Option<PathBuf>,
    args: Vec<OsString>,
    current_dir: Option<PathBuf>,
}

impl FactoryCommand {
    /// `binary --store STORE`.
    pub fn new(binary: impl Into<PathBuf>, store: impl Into<PathBuf>) -> FactoryCommand {
        FactoryCommand {
            binary: binary.into(),
            store: Some(store.into()),
            args: Vec::new(),
            current_dir: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> FactoryCommand {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> FactoryCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Against another store than the context's.
    pub fn store(mut self, store: impl Into<PathBuf>) -> FactoryCommand {
        self.store = Some(store.into());
        self
    }

    /// Without `--store`: for `demo` and `check`, which do not read one.
    pub fn without_store(mut self) -> FactoryCommand {
        self.store = None;
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> FactoryCommand {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The command as it will run. `FACTORY_STORE` is removed from its environment, so a
    /// store set in the caller's shell never stands in for the one the test chose.
    pub fn to_command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.env_remove("FACTORY_STORE");
        if let Some(store) = &self.store {
            command.arg("--store").arg(store);
        }
        command.args(&self.args);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }

    /// Runs to the end, whatever the exit status.
    pub fn output(&self) -> Outcome {
        let mut command = self.to_command();
        let output = run(&mut command);
        Outcome {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            command: format!("{command:?}"),
        }
    }

    /// Runs, requires success, returns the standard output.
    pub fn ok(&self) -> String {
        let outcome = self.output();
        assert!(outcome.success(), "{outcome}");
        outcome.stdout
    }

    /// Runs, requires failure, returns what it printed.
    pub fn fails(&self) -> Outcome {
        let outcome = self.output();
        assert!(!outcome.success(), "expected a failure: {outcome}");
        outcome
    }

    /// Starts it in the background with the given standard output and error.
    pub fn spawn(&self, stdout: impl Into<Stdio>, stderr: impl Into<Stdio>) -> Child {
        self.to_command()
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("factory starts")
    }
}
