//! What every Factory crate shares, so that no two crates define the same thing twice and
//! none depends on another only for a type.
//!
//! - [`Digest`] (sha256, the name of every blob and tree) and [`BuildKey`].
//! - [`Seq`], [`BuildId`], [`WaveId`]: positions in the event log and what they number.
//! - [`Job`]: something the engine builds, named as events record it.
//! - [`LogStream`]: which stream a line of a build's log came from.
//! - [`Fault`]: who is at fault for an error; retries, exit codes and statuses follow from it.
//! - [`BlobStore`]: the content-addressed store as its clients see it.
//! - [`Clock`]: where time comes from, so tests can move it.
//! - [`blocking`]: the one way to run blocking work from async code.
//! - [`disk`]: whether an error or a file system means "no space left".
//! - [`topic`]: how events are named where they leave the factory, and topic patterns.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod blob;
mod clock;
mod digest;
pub mod disk;
mod fault;
mod ids;
mod job;
mod task;
pub mod topic;

pub use blob::{BlobError, BlobStore, BlobWriter, PendingBlob, PendingBody, PutOutcome};
pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use digest::{Digest, DigestError, Hasher};
pub use fault::{Fault, HasFault};
pub use ids::{BuildId, BuildKey, LogStream, Seq, WaveId};
pub use job::Job;
pub use task::{BoxFuture, TaskPanicked, blocking, detached};
