//! What can go wrong when releasing, and whose fault it is.

use factory_types::{Fault, HasFault};

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("no product `{0}` in the definition")]
    UnknownProduct(String),
    #[error("product `{product}` has no stream `{stream}` (it has {known})")]
    UnknownStream {
        product: String,
        stream: String,
        known: String,
    },
    #[error("stream `{stream}` of `{product}` has no channel `{channel}` (it has {known})")]
    UnknownChannel {
        product: String,
        stream: String,
        channel: String,
        known: String,
    },
    #[error(
        "stream `{stream}` of `{product}` reached its end of life on {date}: it releases nothing more"
    )]
    EndOfLife {
        product: String,
        stream: String,
        date: String,
    },
    #[error("stream `{stream}` of `{product}` has nothing to release into `{channel}`: {why}")]
    NothingToRelease {
        product: String,
        stream: String,
        channel: String,
        why: String,
    },
    #[error("the gate of `{channel}` holds `{product}` {stream}: {why}")]
    Held {
        product: String,
        stream: String,
        channel: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] factory_store::StoreError),
    #[error(transparent)]
    Engine(#[from] factory_engine::EngineError),
    /// Writing the compose or signing it failed.
    #[error("{what}: {detail}")]
    Publish {
        what: String,
        detail: String,
        fault: Fault,
    },
}

impl HasFault for ReleaseError {
    fn fault(&self) -> Fault {
        match self {
            ReleaseError::UnknownProduct(_)
            | ReleaseError::UnknownStream { .. }
            | ReleaseError::UnknownChannel { .. }
            | ReleaseError::EndOfLife { .. }
            | ReleaseError::NothingToRelease { .. }
            | ReleaseError::Held { .. } => Fault::Input,
            ReleaseError::Store(e) => e.fault(),
            ReleaseError::Engine(e) => e.fault(),
            ReleaseError::Publish { fault, .. } => *fault,
        }
    }
}
