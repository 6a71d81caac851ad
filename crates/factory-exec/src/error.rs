//! Typed build failures: the build's own fault (input) versus the machinery's (environment).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use factory_types::{Fault, HasFault};

use crate::spec::SpecError;
use crate::tree::TreeError;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitKind::Code(127) => {
                f.write_str("exit code 127 (command not found: is the tool installed?)")
            }
            ExitKind::Code(code) => write!(f, "exit code {code}"),
            ExitKind::Signal(signal) => write!(f, "signal {signal}"),
        }
    }
}

/// Why a build did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The build's own failure: retrying the same key gives the same result.
    #[error("build `{build}`: command {index} `{command}` failed with {status}")]
    CommandFailed {
        build: String,
        index: usize,
        command: String,
        status: ExitKind,
    },
    #[error(
        "build `{build}`: timed out after {limit:?} in command {index} `{command}`; the whole process group was killed"
    )]
    TimedOut {
        build: String,
        index: usize,
        command: String,
        limit: Duration,
    },
    #[error(
        "build `{build}`: declared output `{path}` was not produced; check the kind's commands write it below the output directory"
    )]
    MissingOutput { build: String, path: String },
    #[error("build `{build}`: output tree cannot be recorded: {source}")]
    BadOutput {
        build: String,
        #[source]
        source: TreeError,
    },
    #[error("build `{build}`: invalid build spec: {source}")]
    InvalidSpec {
        build: String,
        #[source]
        source: SpecError,
    },
    #[error("build `{build}`: cancelled: {reason}")]
    Cancelled { build: String, reason: String },
    /// The factory's failure: the build itself may be fine, retry it.
    #[error(transparent)]
    Infrastructure(#[from] InfraError),
}

/// Failures of the machinery around a build.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("sandbox setup failed: {message}")]
    SandboxSetup { message: String },
    #[error("tool `{tool}` not found{}; install it or fix the kind's command", in_sandbox.then_some(" inside the sandbox").unwrap_or(""))]
    ToolMissing { tool: String, in_sandbox: bool },
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    /// Stopped on request (superseded, shut down): nobody's fault.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, BuildError::Cancelled { .. })
    }

    pub fn is_retryable(&self) -> bool {
        self.fault().is_retryable()
    }
}

impl HasFault for BuildError {
    /// The build's own failure is the input's fault, the machinery's the environment's. A
    /// cancellation is nobody's: it counts as input, so it is never retried (callers that
    /// tell it apart ask [`BuildError::is_cancelled`] first).
    fn fault(&self) -> Fault {
        match self {
            BuildError::Infrastructure(_) => Fault::Environment,
            _ => Fault::Input,
        }
    }
}

impl InfraError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| InfraError::Io {
            action,
            path,
            source,
        }
    }
}
