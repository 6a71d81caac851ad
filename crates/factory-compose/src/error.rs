//! Why a compose could not be written, with who is at fault. Whatever the error, nothing
//! is left behind: the compose is written under a temporary name, removed on failure.

use std::io;
use std::path::PathBuf;

use factory_types::{Fault, HasFault};

use crate::sign::SignError;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "compose `{id}` already exists at `{path}`: a compose is never overwritten; write the next respin (respin {next_respin}) instead"
    )]
    Exists {
        id: String,
        path: PathBuf,
        next_respin: u32,
    },
    /// A field of the request is not what a compose can be made of.
    #[error("{what}: {problem}")]
    Invalid { what: String, problem: String },
    #[error("`{name}`: not a .deb package that can be published: {problem}")]
    Deb { name: String, problem: String },
    #[error("image `{name}` (layout `{layout}`): {problem}")]
    Image {
        name: String,
        layout: PathBuf,
        problem: String,
    },
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("signing {what} with the release key: {source}")]
    Sign {
        what: &'static str,
        #[source]
        source: SignError,
    },
    /// Factory could not render a document of its own: a bug.
    #[error("rendering {what}: {problem}")]
    Render { what: &'static str, problem: String },
    /// The signer answered, but not with what it promised: a bug of the signer.
    #[error(
        "the release key's signer returned, for {what}, something that does not start with `{expected}`"
    )]
    SignerOutput {
        what: &'static str,
        expected: &'static str,
    },
}

impl ComposeError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| ComposeError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        ComposeError::Invalid {
            what: what.into(),
            problem: problem.into(),
        }
    }
}

impl HasFault for ComposeError {
    fn fault(&self) -> Fault {
        match self {
            ComposeError::Exists { .. }
            | ComposeError::Invalid { .. }
            | ComposeError::Deb { .. }
            | ComposeError::Image { .. } => Fault::Input,
            ComposeError::Io { .. } => Fault::Environment,
            ComposeError::Sign { source, .. } => source.fault(),
            ComposeError::SignerOutput { .. } | ComposeError::Render { .. } => Fault::Factory,
        }
    }
}
