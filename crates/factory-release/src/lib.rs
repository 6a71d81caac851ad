//! Release streams: when a product stream's channel releases, and what.
//!
//! Each product stream declares its channels (`testing`, `stable`) in the definition, each
//! with a cadence (`on-green`, a cron schedule, an age in an earlier channel, or by hand) and
//! a gate (a decision context). This crate decides, from the stream's release history, its
//! current candidate and the gate's answer, whether a channel releases now, and if not, why
//! not. It does no I/O and reads no clock: `now` is given, so "three days later" is a test
//! of a second. The runner that asks it (the releaser of `factory up`) lives beside the
//! engine and carries out its answers.

mod cadence;
mod candidate;
mod error;
pub mod publish;
mod runner;
pub mod signing;
pub mod why;

pub use cadence::{
    Asked, Decision, Gate, Lifecycle, Notice, Proposal, Released, Wait, decide, ended, lifecycle,
    next_time, propose, stream_notice,
};
pub use candidate::{Candidate, Missing, candidate, product_version, shipped_jobs};
pub use error::ReleaseError;
pub use runner::{
    ByHand, ChannelOutcome, GateRequest, Gatekeeper, Outcome, PublishPlan, Published, Publisher,
    ReleaseDoor, Releaser,
};

#[cfg(test)]
mod tests;
