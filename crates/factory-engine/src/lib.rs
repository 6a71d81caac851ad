//! Factory's build engine, first layer: everything needed to execute one
//! build deterministically and safely.
//!
//! - [`spec`]: the engine-side description of a build ([`BuildSpec`]).
//! - [`sandbox`] and [`exec`]: bubblewrap (or a plain clean process), logs
//!   streamed line by line, timeouts and cancellation that kill the whole
//!   process group, typed failures ([`BuildError`]).
//! - [`key`] and [`tree`]: build keys and deterministic tree digests.
//! - [`archive`]: byte-reproducible tar, tarball, .deb and OCI image layout writers.
//! - [`runner`]: [`BuildRunner`], the facade the orchestrator calls.
//! - [`recipe`]: a definition job + its inputs' digests -> key material and work.
//! - [`orchestrator`]: changes -> waves of builds, reuse, early cutoff, events.
//! - [`fetch`] and [`tarball`]: remote sources (git checkouts; tarballs checked
//!   against their sha256, then unpacked safely), each cached once.

pub mod archive;
pub mod digest;
pub mod error;
pub mod exec;
pub mod fetch;
pub mod key;
pub mod orchestrator;
pub mod recipe;
pub mod runner;
pub mod sandbox;
pub mod slots;
pub mod spec;
pub mod stamp;
pub mod tarball;
pub mod tree;

pub use digest::Digest;
pub use error::{BuildError, ExitKind, FailureClass, InfraError};
pub use exec::{
    ExecReport, ExecRequest, LogFile, LogLine, LogSink, LogStream, MAX_LINE_BYTES, execute,
    input_env_name,
};
pub use key::{BUILD_KEY_FORMAT_VERSION, BuildKey, KeyMaterial};
pub use orchestrator::{
    BuildReport, Change, ChangeReason, Observer, Orchestrator, OrchestratorError, Quiet, Settings,
    Stop, StopReason, WaveReport,
};
pub use recipe::{Job, RecipeError};
pub use runner::{BuildFailure, BuildOutcome, BuildRequest, BuildRunner};
pub use sandbox::{HostDirs, Layout, Sandbox, SandboxKind};
pub use spec::{
    BuildCommand, BuildSpec, DEFAULT_SOURCE_DATE_EPOCH, SpecError, validate_input_names,
};
pub use tokio_util::sync::CancellationToken;
pub use tree::{TreeError, digest_tree, walk_tree};
