//! How a build's outputs reach its dependents, possibly before the build is recorded: a
//! build hands its kept tree to the dispatcher the moment it has one ("released"), number
//! or not, and its dependents start on it. They record nothing before the build's success
//! is in the log; a watch channel tells them when it is, or that it never will be.

use std::collections::BTreeMap;

use factory_store::{BuildId, Digest};

/// How a build handed over before it was recorded ended up in the log: `None` until that
/// is known.
pub(crate) type Recorded = tokio::sync::watch::Receiver<Option<Recording>>;

/// How a build that handed its outputs over before it was recorded ended up in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recording {
    /// Its success is submitted (so whatever a dependent records is committed after it).
    Stored(BuildId),
    /// Its outputs could not be kept, or it could not be recorded at all (then it may have
    /// no number).
    Lost(Option<BuildId>),
}

/// A finished job's outputs, as its dependents in the wave get them.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) output: Digest,
    /// Unknown yet for a build handed over before it was recorded: see `recorded`.
    pub(crate) build: Option<BuildId>,
    pub(crate) rebuilt_identical: bool,
    /// For a build handed to its dependents before its success was recorded.
    pub(crate) recorded: Option<Recorded>,
}

/// One input of a build as it is dispatched.
#[derive(Debug, Clone)]
pub(crate) struct InputState {
    pub(crate) digest: Digest,
    /// Built in this wave: whether it ran and produced identical output.
    pub(crate) rebuilt_identical: Option<bool>,
    /// Its build, when known at dispatch (else `recorded` tells it).
    pub(crate) build: Option<BuildId>,
    pub(crate) recorded: Option<Recorded>,
}

impl InputState {
    pub(crate) fn built_in_wave(done: &Done) -> InputState {
        InputState {
            digest: done.output,
            rebuilt_identical: Some(done.rebuilt_identical),
            build: done.build,
            recorded: done.recorded.clone(),
        }
    }

    /// An input the wave does not build: its latest usable build, recorded long ago.
    pub(crate) fn outside_the_wave(digest: Digest, build: BuildId) -> InputState {
        InputState {
            digest,
            rebuilt_identical: None,
            build: Some(build),
            recorded: None,
        }
    }

    /// The input's build, once it is recorded (see [`inputs_recorded`]).
    pub(crate) fn build(&self) -> Option<BuildId> {
        self.build
            .or_else(|| match *self.recorded.as_ref()?.borrow() {
                Some(Recording::Stored(build)) | Some(Recording::Lost(Some(build))) => Some(build),
                _ => None,
            })
    }
}

/// An input whose outputs a build started on, but which could not store them.
pub(crate) struct LostInput {
    pub(crate) input: String,
    pub(crate) build: Option<BuildId>,
}

/// A build's outputs handed to its dependents, not yet recorded.
pub(crate) struct Released {
    pub(crate) recorded: tokio::sync::watch::Sender<Option<Recording>>,
    /// The previous build of the component, when the output is identical to its.
    pub(crate) cut_off_from: Option<BuildId>,
}

impl Released {
    pub(crate) fn tell(&self, recording: Recording) {
        self.recorded.send_replace(Some(recording));
    }
}

/// Waits until every input that was handed over before its success was recorded has it
/// recorded. Inputs are few and usually recorded already, so waiting in turn is enough.
pub(crate) async fn inputs_recorded(
    inputs: &BTreeMap<String, InputState>,
) -> Result<(), LostInput> {
    for (name, state) in inputs {
        let Some(recorded) = &state.recorded else {
            continue;
        };
        let mut recorded = recorded.clone();
        let recording = recorded.wait_for(Option::is_some).await.map(|r| *r);
        match recording {
            Ok(Some(Recording::Stored(_))) => {}
            Ok(Some(Recording::Lost(build))) => {
                return Err(LostInput {
                    input: name.clone(),
                    build,
                });
            }
            // The producer's task ended without a word: it could not be recorded.
            Ok(None) | Err(_) => {
                return Err(LostInput {
                    input: name.clone(),
                    build: state.build,
                });
            }
        }
    }
    Ok(())
}
