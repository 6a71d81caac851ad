//! A build that did not succeed, as it is recorded: in words, with who is at fault.

use std::path::Path;

use factory_exec::ExecError;
use factory_store::FailureKind;
use factory_types::{Fault, HasFault};

/// Why a build did not succeed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// `None`: it was cancelled, nobody's fault.
    pub(crate) fault: Option<Fault>,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(fault: Fault, message: String) -> Failure {
        Failure {
            fault: Some(fault),
            message,
        }
    }

    pub(crate) fn cancelled(message: String) -> Failure {
        Failure {
            fault: None,
            message,
        }
    }

    /// Whether trying again may help: only the environment's failures are retried.
    pub(crate) fn is_retryable(&self) -> bool {
        self.fault.is_some_and(Fault::is_retryable)
    }

    /// How the log records the failure: the build's own, or the machinery's (the
    /// environment's, or Factory's own bug, which is not the build's either).
    pub(crate) fn kind(&self) -> FailureKind {
        match self.fault {
            Some(Fault::Input) | None => FailureKind::User,
            Some(Fault::Environment | Fault::Factory) => FailureKind::Infrastructure,
        }
    }

    /// An attempt that did not succeed; `cancelled` words a cancellation, `store` is where
    /// outputs are kept.
    pub(crate) fn from_exec(
        error: ExecError,
        cancelled: impl FnOnce() -> String,
        store: &Path,
    ) -> Failure {
        if error.is_cancelled() {
            return Failure::cancelled(cancelled());
        }
        match error {
            ExecError::Upload(upload) => {
                let full = upload.is_out_of_space();
                Failure::keeping(&upload, full, store)
            }
            other => Failure::new(other.fault(), other.to_string()),
        }
    }

    /// Keeping a finished build's outputs failed: most often a full disk.
    pub(crate) fn keeping(
        error: &dyn std::error::Error,
        out_of_space: bool,
        store: &Path,
    ) -> Failure {
        let message = if out_of_space {
            format!(
                "the disk is full: no space left to keep the outputs in the store `{}` ({error}); \
                 free some space (e.g. `factory gc`) and run `factory up` again",
                store.display()
            )
        } else {
            format!("keeping the outputs in the store failed: {error}")
        };
        Failure::new(Fault::Environment, message)
    }
}
