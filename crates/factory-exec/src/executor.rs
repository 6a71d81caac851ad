//! The work boundary: an [`Executor`] runs [`WorkItem`]s, one [`Attempt`] per try.
//!
//! An attempt goes through its phases in order: [`Attempt::prepare`] (the inputs are made
//! available), [`Attempt::execute`] (the work runs, its log streamed, cancellable),
//! [`Attempt::upload`] (the outputs are checked and put in the blob store) and
//! [`Attempt::cleanup`] (whatever the attempt left is removed; dropping it does the same).
//! The phases are separate so that the caller can give back what only the running work
//! needs (a job slot) the moment it ends, before its outputs are uploaded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use factory_types::{BlobError, BoxFuture, Fault, HasFault, TaskPanicked};
use tokio_util::sync::CancellationToken;

use crate::archive::ArchiveError;
use crate::error::BuildError;
use crate::exec::LogSink;
use crate::tree::TreeError;
use crate::work::{WorkItem, WorkResult};

/// Runs work items: on this machine, on Factory's own workers, on a build farm.
pub trait Executor: Send + Sync {
    /// What the work's outputs depend on besides its inputs, on this executor (architecture,
    /// isolation): it goes into every build key, and into each work item's platform.
    fn platform(&self) -> BTreeMap<String, String>;

    /// A new attempt at `item`. Nothing runs until its phases are called.
    fn attempt(&self, item: WorkItem) -> Box<dyn Attempt>;
}

/// One try at one work item.
pub trait Attempt: Send {
    /// Makes the source and the input trees available.
    fn prepare(&mut self) -> BoxFuture<'_, Result<(), ExecError>>;

    /// Runs the work. Log lines go to `log` as they come; cancelling `cancel` stops the
    /// work (the whole process group of a command is killed).
    fn execute(
        &mut self,
        cancel: CancellationToken,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'_, Result<(), ExecError>>;

    /// Checks the declared outputs and puts the output tree and the artifacts in the blob
    /// store.
    fn upload(&mut self) -> BoxFuture<'_, Result<WorkResult, ExecError>>;

    /// Removes what the attempt left behind. Safe to call more than once.
    fn cleanup(&mut self);
}

/// Why an attempt did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The commands failed, timed out, were cancelled, or could not be started.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A built-in kind could not write its archive.
    #[error(transparent)]
    Assemble(#[from] ArchiveError),
    /// The inputs could not be made available.
    #[error(transparent)]
    Inputs(StorageError),
    /// The work succeeded but its outputs could not be kept.
    #[error(transparent)]
    Upload(#[from] StorageError),
    /// A command failed while the disk its outputs go to was full: most likely for that.
    #[error(
        "the disk is full: no space left in `{}`, where builds write their outputs ({message}); free some space (e.g. `factory gc`) and run `factory up` again",
        dir.display()
    )]
    ScratchFull { dir: PathBuf, message: String },
    #[error(transparent)]
    Panicked(#[from] TaskPanicked),
}

/// Why trees could not be read from or put into the blob store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the outputs: {0}")]
    Tree(#[from] TreeError),
}

impl StorageError {
    /// Whether the outputs could not be kept because the disk is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            StorageError::Blob(error) => error.is_out_of_space(),
            other => factory_types::disk::is_out_of_space(other),
        }
    }
}

impl ExecError {
    /// Stopped on request (superseded, shut down): nobody's fault.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ExecError::Build(BuildError::Cancelled { .. }))
    }
}

impl HasFault for ExecError {
    fn fault(&self) -> Fault {
        match self {
            ExecError::Build(error) => error.fault(),
            ExecError::Assemble(ArchiveError::Io { .. }) => Fault::Environment,
            ExecError::Assemble(_) => Fault::Input,
            ExecError::Inputs(_) | ExecError::Upload(_) | ExecError::ScratchFull { .. } => {
                Fault::Environment
            }
            ExecError::Panicked(error) => error.fault(),
        }
    }
}
