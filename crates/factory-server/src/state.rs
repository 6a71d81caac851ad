//! What every handler shares.

use std::sync::Arc;

use factory_engine::{Control, JobGraph};
use factory_store::Store;

use crate::hub::Hub;
use crate::metrics::Metrics;

/// The handlers' state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    /// The running loop, when the server runs inside `factory up`; without it the server
    /// only reads (`factory demo --serve`), and mutations answer 503.
    pub(crate) control: Option<Control>,
    /// The definition, when there is no loop to ask for the current one.
    pub(crate) graph: Option<Arc<JobGraph>>,
    /// The bus relay beside the server, if any.
    pub(crate) relay: Option<factory_bus::RelayStatus>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) hub: Hub,
    /// Reads need a token too (`--read-token-required`).
    pub(crate) read_token_required: bool,
    pub(crate) webhooks: crate::routes::webhooks::WebhookSecrets,
    /// The releaser beside the loop, when it runs here (`factory up`).
    pub(crate) releases: Option<ServedReleases>,
    /// Cancelled when the server shuts down: live streams end so it can.
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The definition the factory runs now, if the server knows it.
    pub(crate) fn graph(&self) -> Option<Arc<JobGraph>> {
        match &self.inner.control {
            Some(control) => Some(control.graph()),
            None => self.inner.graph.clone(),
        }
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// The releaser a server shows and asks: its look at every channel, and its door for
/// releases by hand.
#[derive(Clone)]
pub struct ServedReleases {
    pub releaser: Arc<factory_release::Releaser>,
    pub door: factory_release::ReleaseDoor,
}
