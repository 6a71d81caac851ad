//! What starts a wave and what a wave tells: changes and their reasons, the report of each
//! build and of the whole wave, and the observer a user interface follows a wave with.

use std::time::Duration;

use factory_store::{BuildId, BuildState, Digest, Seq, WaveId};
use factory_types::Job;

use crate::stop::StopReason;

/// Why a wave runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeReason {
    /// Bring every job up to date (first build, or `factory up` starting).
    Reconcile,
    /// A local source directory changed.
    SourceChanged,
    /// `factory rebuild NAME`.
    Manual,
    /// A rebuild asked for over the API, by the token's name.
    Requested { by: String },
    /// The definition of the job (its component, kind or image) changed.
    DefinitionChanged,
    /// The wave was interrupted (crash, kill, Ctrl-C) and is run again.
    Resumed(WaveId),
}

impl ChangeReason {
    pub fn describe(&self) -> String {
        match self {
            ChangeReason::Reconcile => "bring up to date".into(),
            ChangeReason::SourceChanged => "source changed".into(),
            ChangeReason::Manual => "manual rebuild".into(),
            ChangeReason::Requested { by } => format!("rebuild requested by {by}"),
            ChangeReason::DefinitionChanged => "definition changed".into(),
            ChangeReason::Resumed(wave) => format!("resuming interrupted wave {wave}"),
        }
    }

    /// Bringing everything up to date (or resuming) touches every job: one whose key is its
    /// latest usable build's, outputs present, is current and needs no event at all.
    pub fn sweeps(&self) -> bool {
        matches!(self, ChangeReason::Reconcile | ChangeReason::Resumed(_))
    }
}

/// A change to some jobs.
#[derive(Debug, Clone)]
pub struct Change {
    pub jobs: Vec<Job>,
    pub reason: ChangeReason,
}

/// How one job of a wave ended.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub job: String,
    pub build: BuildId,
    pub state: BuildState,
    /// Why it was queued.
    pub reason: String,
    /// Failure, cutoff, reuse or block detail.
    pub detail: Option<String>,
    /// Set when the build ran.
    pub duration: Option<Duration>,
    /// The output digest (tree tar) when usable.
    pub output: Option<Digest>,
    /// The build ran and its output equals the output of the component's previous build.
    pub output_unchanged: bool,
    /// Nothing was queued: the job's latest build is current (`build` and `state` are its).
    pub up_to_date: bool,
    /// For a failed build: whether the machine failed rather than the build itself.
    pub infrastructure: bool,
}

impl BuildReport {
    /// A build just queued.
    pub(crate) fn scheduled(job: &Job, build: BuildId, reason: String) -> BuildReport {
        BuildReport {
            job: job.name(),
            build,
            state: BuildState::Scheduled,
            reason,
            detail: None,
            duration: None,
            output: None,
            output_unchanged: false,
            up_to_date: false,
            infrastructure: false,
        }
    }
}

/// What a wave did.
#[derive(Debug, Clone)]
pub struct WaveReport {
    pub wave: WaveId,
    pub affected: Vec<String>,
    pub builds: Vec<BuildReport>,
    pub stopped: Option<StopReason>,
    pub duration: Duration,
    /// The event that recorded the end of the wave (none when it was left to resume).
    pub finished: Option<Seq>,
    /// Jobs not started because a newer change made them outdated ([`crate::Stop::supersede`]).
    pub superseded: usize,
}

impl WaveReport {
    /// Builds of this wave in `state` (jobs found up to date are not builds of the wave).
    pub fn count(&self, state: BuildState) -> usize {
        self.builds
            .iter()
            .filter(|b| b.state == state && !b.up_to_date)
            .count()
    }

    pub fn up_to_date(&self) -> usize {
        self.builds.iter().filter(|b| b.up_to_date).count()
    }

    /// Builds that ran (succeeded or failed after running).
    pub fn ran(&self) -> usize {
        self.builds.iter().filter(|b| b.duration.is_some()).count()
    }

    /// Builds that failed by their own fault, and builds that failed because the machine
    /// did (with those blocked behind either).
    pub fn failures(&self) -> (usize, usize) {
        let failed = |b: &&BuildReport| matches!(b.state, BuildState::Failed | BuildState::Blocked);
        let infrastructure = self
            .builds
            .iter()
            .filter(failed)
            .filter(|b| b.infrastructure)
            .count();
        let all = self.builds.iter().filter(failed).count();
        (all - infrastructure, infrastructure)
    }

    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for state in BuildState::ALL {
            let n = self.count(state);
            if n > 0 {
                parts.push(format!("{n} {state}"));
            }
        }
        let current = self.up_to_date();
        if current > 0 {
            parts.push(format!("{current} up to date"));
        }
        if self.superseded > 0 {
            parts.push(format!(
                "{} not started (a newer change covers them)",
                self.superseded
            ));
        }
        if parts.is_empty() {
            "nothing to do".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Progress callbacks for a user interface. Called from the engine's tasks.
pub trait Observer: Send + Sync {
    fn wave_planned(&self, _wave: WaveId, _jobs: &[String]) {}
    /// A build's work starts (it holds a slot); its number may not be known yet.
    fn build_started(&self, _job: &str) {}
    fn build_finished(&self, _report: &BuildReport) {}
    /// A wave ended (also one the reconcile loop started by itself).
    fn wave_finished(&self, _report: &WaveReport) {}
    /// Something a person watching should know that is not a build (the loop is watching,
    /// a changed definition is invalid and the previous one stays, ...).
    fn note(&self, _text: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}
