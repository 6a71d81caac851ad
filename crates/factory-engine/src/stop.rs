//! Stopping a running wave: all of it (shutdown), or only the jobs a newer change made
//! outdated (supersession).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use factory_types::Job;
use tokio_util::sync::CancellationToken;

/// Why a wave stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C or shutdown: the wave stays unfinished and is resumed on the next start.
    Shutdown,
    /// A newer change supersedes the wave's remaining builds.
    Superseded(String),
    /// Someone cancelled the wave (the API names who): it finishes with its remaining
    /// builds cancelled, and a later change builds them.
    Cancelled(String),
}

/// Stops a running wave (running builds are killed, nothing new is dispatched), or only
/// the jobs of it that a newer change made outdated. Cheap to clone; every clone stops the
/// same wave.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    why: Arc<Mutex<Option<StopReason>>>,
    jobs: Arc<Mutex<JobStops>>,
}

#[derive(Debug, Default)]
struct JobStops {
    /// Jobs a newer change made outdated or someone cancelled, with the words their builds
    /// are recorded with.
    outdated: HashMap<Job, String>,
    /// Outdated jobs the wave's dispatcher has not been told about yet.
    untold: Vec<Job>,
    /// The cancellation of every job dispatched so far.
    tokens: HashMap<Job, CancellationToken>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn stop(&self, reason: StopReason) {
        self.why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.why.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// A newer change made these jobs' builds outdated: the running ones are killed and
    /// recorded as cancelled with `reason`, the others are not started; the rest of the
    /// wave goes on. Pass the change's whole affected set, so what depends on an outdated
    /// job is outdated too.
    pub fn supersede(&self, jobs: impl IntoIterator<Item = Job>, reason: &str) {
        self.stop_jobs(jobs, &format!("superseded by {reason}"));
    }

    /// Someone cancelled these jobs (pass a job with everything of the wave that depends
    /// on it): as [`Stop::supersede`], recorded as cancelled `by` them.
    pub fn cancel_jobs(&self, jobs: impl IntoIterator<Item = Job>, by: &str) {
        self.stop_jobs(jobs, &format!("cancelled by {by}"));
    }

    fn stop_jobs(&self, jobs: impl IntoIterator<Item = Job>, words: &str) {
        let mut stops = self.lock_jobs();
        for job in jobs {
            if let Some(token) = stops.tokens.get(&job) {
                token.cancel();
            }
            if !stops.outdated.contains_key(&job) {
                stops.outdated.insert(job.clone(), words.to_owned());
                stops.untold.push(job);
            }
        }
    }

    /// Why `job` was superseded or cancelled, if it was.
    pub fn outdated(&self, job: &Job) -> Option<String> {
        self.lock_jobs().outdated.get(job).cloned()
    }

    /// The jobs superseded since the last call (for the wave's dispatcher).
    pub(crate) fn newly_outdated(&self) -> Vec<Job> {
        std::mem::take(&mut self.lock_jobs().untold)
    }

    /// The cancellation of one job: by the whole wave's stop or by [`Stop::supersede`].
    pub(crate) fn job_token(&self, job: &Job) -> CancellationToken {
        let token = self.token.child_token();
        let mut stops = self.lock_jobs();
        if stops.outdated.contains_key(job) {
            token.cancel();
        }
        stops.tokens.insert(job.clone(), token.clone());
        token
    }

    /// Why a job of this wave was stopped, in the words its build is recorded with.
    pub(crate) fn describe_cancellation(&self, job: &Job) -> String {
        if let Some(words) = self.outdated(job) {
            return words;
        }
        match self.reason() {
            Some(StopReason::Superseded(by)) => format!("superseded by {by}"),
            Some(StopReason::Cancelled(by)) => format!("cancelled by {by}"),
            _ => "stopped: the factory shut down (the wave resumes on the next start)".into(),
        }
    }

    fn lock_jobs(&self) -> std::sync::MutexGuard<'_, JobStops> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}
