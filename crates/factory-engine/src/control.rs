//! How a server steers the loop `factory up` runs ([`crate::reconcile`]): rebuilds and
//! cancellations asked for over the API go in as [`Request`]s, and the loop tells back the
//! definition it runs and the wave it is running. The loop stays the only one that starts
//! waves, so a request and a file change never race each other into two waves.

use std::sync::Arc;

use factory_store::WaveId;
use factory_types::{Fault, HasFault, Job};
use tokio::sync::{mpsc, oneshot, watch};

use crate::plan::JobGraph;

/// What someone asked the loop to do. `by` names who (a token's name), for the record.
#[derive(Debug)]
pub enum Request {
    /// Rebuild these jobs and what depends on them.
    Rebuild {
        jobs: Vec<Job>,
        by: String,
        reply: oneshot::Sender<Result<RebuildAccepted, ControlError>>,
    },
    /// Cancel a running wave: its running builds are killed, the rest not started.
    CancelWave {
        wave: WaveId,
        by: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
    /// Cancel one job of a running wave, and what of the wave depends on it.
    CancelJob {
        wave: WaveId,
        job: Job,
        by: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
    },
}

/// Where an accepted rebuild went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildAccepted {
    /// Its wave is planned and running.
    Started(WaveId),
    /// A wave is running: the builds of it that the rebuild makes outdated are stopped,
    /// and the rebuild's wave starts when that one ends.
    Queued { behind: WaveId },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("wave {wave} is not running (only a running wave or its builds can be cancelled)")]
    NotRunning { wave: WaveId },
    #[error("`{job}` is not a job of the definition the factory runs")]
    UnknownJob { job: String },
    #[error("the factory is not running waves (it is stopping, or it runs without a loop)")]
    Gone,
}

impl HasFault for ControlError {
    fn fault(&self) -> Fault {
        match self {
            ControlError::NotRunning { .. } | ControlError::UnknownJob { .. } => Fault::Input,
            ControlError::Gone => Fault::Environment,
        }
    }
}

/// The server's side: send requests, read what the loop runs. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    requests: mpsc::Sender<Request>,
    graph: watch::Receiver<Arc<JobGraph>>,
    running: watch::Receiver<Option<WaveId>>,
    slots: usize,
}

/// The loop's side, handed to [`crate::Engine::watch_with`].
pub struct ControlPort {
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) graph: watch::Sender<Arc<JobGraph>>,
    pub(crate) running: watch::Sender<Option<WaveId>>,
}

/// Requests waiting for the loop; more wait in the sender (HTTP handlers), not in memory.
const QUEUE: usize = 64;

/// A connected pair, starting from the definition the loop starts with; `slots` is the
/// engine's `--jobs` (see [`crate::Engine::slots`]).
pub fn control(graph: Arc<JobGraph>, slots: usize) -> (Control, ControlPort) {
    let (requests_tx, requests) = mpsc::channel(QUEUE);
    let (graph_tx, graph_rx) = watch::channel(graph);
    let (running_tx, running_rx) = watch::channel(None);
    let control = Control {
        requests: requests_tx,
        graph: graph_rx,
        running: running_rx,
        slots,
    };
    let port = ControlPort {
        requests,
        graph: graph_tx,
        running: running_tx,
    };
    (control, port)
}

impl Control {
    /// The definition's jobs as the loop runs them now (a changed definition replaces it).
    pub fn graph(&self) -> Arc<JobGraph> {
        self.graph.borrow().clone()
    }

    /// Follows the definition's jobs: the receiver sees each replacement (a changed
    /// definition), for what must act on a reload as it happens (the hooks).
    pub fn graphs(&self) -> watch::Receiver<Arc<JobGraph>> {
        self.graph.clone()
    }

    /// The builds whose work may run at once.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The wave the loop is running, if any.
    pub fn running(&self) -> Option<WaveId> {
        *self.running.borrow()
    }

    pub async fn rebuild(&self, jobs: Vec<Job>, by: &str) -> Result<RebuildAccepted, ControlError> {
        self.ask(|reply| Request::Rebuild {
            jobs,
            by: by.to_owned(),
            reply,
        })
        .await
    }

    pub async fn cancel_wave(&self, wave: WaveId, by: &str) -> Result<(), ControlError> {
        self.ask(|reply| Request::CancelWave {
            wave,
            by: by.to_owned(),
            reply,
        })
        .await
    }

    pub async fn cancel_job(&self, wave: WaveId, job: Job, by: &str) -> Result<(), ControlError> {
        self.ask(|reply| Request::CancelJob {
            wave,
            job,
            by: by.to_owned(),
            reply,
        })
        .await
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, ControlError>>) -> Request,
    ) -> Result<T, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .await
            .map_err(|_| ControlError::Gone)?;
        answer.await.map_err(|_| ControlError::Gone)?
    }
}
