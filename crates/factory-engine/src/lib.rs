//! Factory's engine: from a change to finished builds.
//!
//! - [`engine`]: [`Engine`], the one door: a change becomes a wave, a crash's waves are
//!   resumed, a complete reconcile leaves an up-to-date [`stamp`].
//! - [`plan`]: a definition's jobs and their inputs ([`JobGraph`]), once per definition.
//! - `dispatch`: the wave's state machine and the driver that carries out its commands.
//! - `build`: one job, from its key to its last event; reuse, early cutoff, retries.
//! - [`recipe`] and [`key`]: a job and its inputs' digests become key material and a work
//!   item for an executor (`factory-exec`).
//! - [`source`]: git and tarball sources, fetched once, with faults that decide retries.
//! - [`explain`]: the words of `factory explain` and of every build's reason.
//! - [`reconcile`]: the watch loop `factory up` runs; [`control`]: how a server steers it.
//! - [`slots`]: the `--jobs` slots, granted by priority.
//! - [`why`]: why a build is in its state, a wave's failure groups and its forecast.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod build;
pub mod control;
mod dispatch;
pub mod engine;
mod error;
pub mod explain;
pub mod key;
pub mod plan;
pub mod recipe;
pub mod reconcile;
mod resume;
pub mod slots;
pub mod source;
pub mod stamp;
pub mod stop;
pub mod wave;
pub mod why;

pub use control::{Control, ControlError, ControlPort, RebuildAccepted, control};
pub use engine::{Engine, PlannedWave, Settings, TREE_OUTPUT};
pub use error::EngineError;
pub use key::{BUILD_KEY_FORMAT_VERSION, KeyMaterial};
pub use plan::JobGraph;
pub use recipe::RecipeError;
pub use reconcile::{FirstWave, Watch};
pub use stop::{Stop, StopReason};
pub use wave::{BuildReport, Change, ChangeReason, Observer, Quiet, WaveReport};

use factory_store::{BuildRecord, Digest};

/// The output tree digest a build recorded.
pub fn tree_digest(build: &BuildRecord) -> Option<Digest> {
    build
        .outputs
        .iter()
        .find(|o| o.name == TREE_OUTPUT)
        .map(|o| o.digest)
}
