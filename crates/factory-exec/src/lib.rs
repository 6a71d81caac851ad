//! Factory's executor: everything needed to run one build, and nothing about deciding it.
//! It knows no store, no graph and no build keys: it is given a [`WorkItem`], runs it and
//! puts the outputs in a [`factory_types::BlobStore`].
//!
//! - [`work`]: the work item and its result, shaped after a Remote Execution API action.
//! - [`executor`]: the [`Executor`] trait, one [`Attempt`] per try, and [`ExecError`].
//! - [`local`]: the [`LocalExecutor`], this machine's implementation.
//! - [`spec`]: a build's commands, environment and limits ([`BuildSpec`]).
//! - [`sandbox`] and [`exec`]: bubblewrap (or a plain clean process), logs streamed line by
//!   line, timeouts and cancellation that kill the whole process group, typed failures.
//! - [`runner`]: one build's commands in a fresh private work directory.
//! - [`builtin`]: the kinds Factory writes itself (.deb, tarball, OCI image).
//! - [`archive`]: byte-reproducible tar, tarball, .deb and OCI image layout writers.
//! - [`tree`]: deterministic tree walks and digests.

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod archive;
pub mod builtin;
mod error;
pub mod exec;
pub mod executor;
pub mod local;
pub mod runner;
pub mod sandbox;
pub mod spec;
pub mod tree;
pub mod work;

pub use error::{BuildError, ExitKind, InfraError};
pub use exec::{
    ExecReport, ExecRequest, LogFile, LogLine, LogSink, MAX_LINE_BYTES, execute, input_env_name,
};
pub use executor::{Attempt, ExecError, Executor, StorageError};
pub use local::{LocalExecutor, Trees};
pub use runner::{BuildFailure, BuildOutcome, BuildRequest, BuildRunner};
pub use sandbox::{HostDirs, Layout, Sandbox, SandboxKind};
pub use spec::{
    BuildCommand, BuildSpec, DEFAULT_SOURCE_DATE_EPOCH, SpecError, validate_input_names,
};
pub use tokio_util::sync::CancellationToken;
pub use tree::{TreeError, digest_tree, walk_tree};
pub use work::{
    Artifact, Builtin, ImageAssembly, ImageBase, ImageLayer, SourceTree, TreeBlob, Work, WorkItem,
    WorkResult,
};
