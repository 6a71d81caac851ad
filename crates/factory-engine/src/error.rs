//! The engine's errors: what stops a wave (as opposed to a build's failure, which is
//! recorded and reported as the build's state). Each says who is at fault.

use std::path::{Path, PathBuf};

use factory_store::StoreError;
use factory_types::{Fault, HasFault, TaskPanicked};

use crate::recipe::RecipeError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Panicked(#[from] TaskPanicked),
    #[error("cannot watch `{}`: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

impl HasFault for EngineError {
    fn fault(&self) -> Fault {
        match self {
            EngineError::Store(error) => error.fault(),
            EngineError::Recipe(error) => error.fault(),
            EngineError::Io { .. } | EngineError::Watch { .. } => Fault::Environment,
            EngineError::Panicked(error) => error.fault(),
        }
    }
}

/// An I/O error on `path`, while doing `action`.
pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.to_path_buf();
    move |source| EngineError::Io {
        action,
        path,
        source,
    }
}
