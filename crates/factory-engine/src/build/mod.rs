//! One job of a wave, from dispatch to its last event: the key is computed (fetching the
//! source if it is remote), a key that already succeeded is reused or cut off, anything
//! else runs through the executor, with retries for what the environment broke.
//!
//! Off the critical path: a build's work starts while its `BuildQueued` event waits to be
//! committed (the build's number is that event's sequence number; until it is known, its
//! start and log lines wait in [`events::BuildEvents`]), and the moment its tree is kept it
//! is handed to the dispatcher ("released"), number or not; its dependents start on it.
//! Only then does it wait for its number, make a blob file durable and submit its success.

mod events;
pub(crate) mod failure;
pub(crate) mod handover;
mod record;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use factory_def::Definition;
use factory_exec::{Attempt, WorkItem, WorkResult};
use factory_store::{BuildId, BuildKey, BuildRecord, BuildState, Event, LogStream, WaveId};
use factory_types::{Fault, HasFault, Job, blocking};
use tokio_util::sync::CancellationToken;

use crate::engine::Shared;
use crate::error::EngineError;
use crate::explain;
use crate::recipe::{self, Prepared};
use crate::slots::{Claim, Slot};
use crate::stop::Stop;
use crate::tree_digest;
use crate::wave::{BuildReport, ChangeReason};
use events::{BuildEvents, Unnumbered};
use failure::Failure;
use handover::{Done, InputState, LostInput, Recording, Released, inputs_recorded};

pub(crate) use record::blocked_by_failure;

/// What a build's task tells the dispatcher before the task ends.
pub(crate) enum Progress {
    /// The work succeeded: the slot goes back, once slots are claimed for what the build
    /// is about to make ready.
    WorkDone(Job, Slot),
    /// The outputs are kept and go to the dependents before the success is recorded.
    Released(Job, Done),
}

/// Everything a job's task knows about its wave.
pub(crate) struct JobContext {
    pub(crate) wave: WaveId,
    pub(crate) job: Job,
    /// Named by the change itself (not only affected by it).
    pub(crate) is_changed: bool,
    pub(crate) reason: ChangeReason,
    pub(crate) cancel: CancellationToken,
    pub(crate) stop: Stop,
    /// Where the build tells the dispatcher how far it got before its task ends.
    pub(crate) progress: tokio::sync::mpsc::UnboundedSender<Progress>,
    /// The job's latest usable build when the wave started.
    pub(crate) previous: Option<BuildRecord>,
    /// Whether that build's output tree was still in the store when the wave started.
    pub(crate) previous_present: bool,
}

impl JobContext {
    fn cancellation(&self) -> String {
        self.stop.describe_cancellation(&self.job)
    }
}

/// What a build is queued with.
struct Queued {
    key: BuildKey,
    reason: String,
    ingredients: BTreeMap<String, String>,
}

/// Where a build's work left it, before the build has a number.
enum Outcome {
    Failed(Failure),
    /// Outputs kept and handed to the dependents.
    Released(WorkResult, Released),
}

impl Outcome {
    /// The build cannot be recorded (`blocked`: the number it got as blocked, if any): its
    /// outputs go, and dependents that started on them learn that they are lost.
    fn discard(self, blocked: Option<BuildId>) {
        if let Outcome::Released(_, released) = self {
            released.tell(Recording::Lost(blocked));
        }
    }
}

/// Queues one job, then reuses, cuts off or runs it.
pub(crate) async fn run(
    shared: Arc<Shared>,
    def: Arc<Definition>,
    inputs: BTreeMap<String, InputState>,
    claim: Claim,
    ctx: JobContext,
) -> Result<BuildReport, EngineError> {
    let (prepared, revision) = match prepare(&shared, &def, &inputs, &ctx).await {
        Ok(prepared) => prepared,
        Err(failed) => {
            // Whether an input's outputs were lost or not, this build fails.
            let _ = inputs_recorded(&inputs).await;
            return record::unpreparable(&shared.store, &ctx.job, ctx.wave, failed).await;
        }
    };
    let key = prepared.material.key();
    if let Some(report) = up_to_date(&ctx, &key) {
        return Ok(report);
    }
    let mut ingredients = explain::ingredients(&prepared);
    if let Some(revision) = revision {
        ingredients.insert("revision".into(), revision);
    }
    let reason = explain::queue_reason(
        &ctx.reason,
        ctx.is_changed,
        ctx.previous.as_ref(),
        &ingredients,
    );
    let queued = Queued {
        key,
        reason,
        ingredients,
    };
    if let Some(existing) = reusable(&shared, &ctx, &queued.key).await? {
        let work_ended = AtomicBool::new(true);
        let build = match queue(&shared, &ctx, &queued, &inputs, &work_ended).await? {
            Ok(build) => build,
            Err(lost) => {
                return record::blocked_by_lost_input(&shared.store, ctx.wave, &ctx.job, lost)
                    .await;
            }
        };
        let report = BuildReport::scheduled(&ctx.job, build, queued.reason);
        let previous = ctx.previous.clone();
        return record::reuse(
            &shared.store,
            report,
            existing,
            previous,
            ctx.is_changed,
            &inputs,
        )
        .await;
    }
    run_new(&shared, prepared, inputs, claim, ctx, queued).await
}

/// A build of this key that succeeded, outputs present. A key names its job (the job's
/// name is part of its material), so a job with no usable build at the wave's start has
/// no succeeded key at all: the store is not asked again, one round trip less for every
/// build of a job that never built (a new store, a new component).
async fn reusable(
    shared: &Shared,
    ctx: &JobContext,
    key: &BuildKey,
) -> Result<Option<BuildRecord>, EngineError> {
    if ctx.previous.is_none() {
        return Ok(None);
    }
    Ok(shared.store.reusable_build(key).await?)
}

/// Bringing everything up to date (or resuming) touches every job: one whose key is its
/// latest usable build's, outputs present, is current and needs no event at all.
fn up_to_date(ctx: &JobContext, key: &BuildKey) -> Option<BuildReport> {
    if !ctx.reason.sweeps() || !ctx.previous_present {
        return None;
    }
    let latest = ctx
        .previous
        .as_ref()
        .filter(|p| p.key.as_ref() == Some(key))?;
    let mut report = BuildReport::scheduled(&ctx.job, latest.id, "up to date".into());
    report.state = latest.state;
    report.output = Some(tree_digest(latest)?);
    report.up_to_date = true;
    Some(report)
}

/// The job's key material and work, and its source's revision when it is remote. A
/// source that cannot be fetched because of the environment (the network, the disk) is
/// tried again with backoff; one that is wrong (a digest, a branch) is not.
async fn prepare(
    shared: &Shared,
    def: &Arc<Definition>,
    inputs: &BTreeMap<String, InputState>,
    ctx: &JobContext,
) -> Result<(Prepared, Option<String>), Failure> {
    let tries = shared.settings.tries.max(1);
    let mut backoff = shared.settings.backoff;
    for attempt in 1..=tries {
        let error = match prepare_once(shared, def, inputs, &ctx.job).await {
            Ok(prepared) => return Ok(prepared),
            Err(error) => error,
        };
        let fault = error.fault();
        if !fault.is_retryable() {
            return Err(Failure::new(fault, error.to_string()));
        }
        if attempt == tries {
            let message = format!("{error}; gave up after {tries} tries");
            return Err(Failure::new(fault, message));
        }
        tracing::warn!(job = %ctx.job, %error, attempt, "preparing a build failed; retrying in {backoff:?}");
        wait_to_retry(ctx, &mut backoff).await?;
    }
    unreachable!("the last try returns")
}

/// Waits `backoff` before the next try, and doubles it; a cancellation ends the wait.
async fn wait_to_retry(ctx: &JobContext, backoff: &mut std::time::Duration) -> Result<(), Failure> {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = ctx.cancel.cancelled() => return Err(Failure::cancelled(ctx.cancellation())),
    }
    *backoff *= 2;
    Ok(())
}

/// Why a job could not be prepared.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Recipe(#[from] recipe::RecipeError),
    #[error(transparent)]
    Panicked(#[from] factory_types::TaskPanicked),
}

impl HasFault for PrepareError {
    fn fault(&self) -> Fault {
        match self {
            PrepareError::Source(error) => error.fault(),
            PrepareError::Recipe(error) => error.fault(),
            PrepareError::Panicked(error) => error.fault(),
        }
    }
}

async fn prepare_once(
    shared: &Shared,
    def: &Arc<Definition>,
    inputs: &BTreeMap<String, InputState>,
    job: &Job,
) -> Result<(Prepared, Option<String>), PrepareError> {
    let digests: BTreeMap<String, factory_types::Digest> = inputs
        .iter()
        .map(|(name, s)| (name.clone(), s.digest))
        .collect();
    let (def, job, platform, cache) = (
        def.clone(),
        job.clone(),
        shared.platform.clone(),
        shared.sources.clone(),
    );
    let reads_files = crate::source::reads_files(&def, &job);
    let prepare = move || -> Result<_, PrepareError> {
        let fetched = crate::source::fetch(&def, &job, &cache)?;
        let dir = fetched.as_ref().map(|f| f.dir.as_path());
        let prepared = recipe::prepare_fetched(&def, &job, &digests, &platform, dir)?;
        Ok((prepared, fetched.map(|f| f.revision)))
    };
    // Without a source (or an image's base) to read, the key is a few hashes: computed
    // right here, a thread hop sooner.
    if reads_files {
        blocking("preparing a build", prepare).await?
    } else {
        prepare()
    }
}

/// Records the build as queued once every input built in this wave has its success in
/// the log, so the log never shows a build before what it was built from. The build's
/// number is the queued event's sequence number. `Err`: an input's outputs were lost.
/// `work_ended`: whether the build's work is over (its number is then overdue).
async fn queue(
    shared: &Shared,
    ctx: &JobContext,
    queued: &Queued,
    inputs: &BTreeMap<String, InputState>,
    work_ended: &AtomicBool,
) -> Result<Result<BuildId, LostInput>, EngineError> {
    if let Err(lost) = inputs_recorded(inputs).await {
        return Ok(Err(lost));
    }
    let event = Event::BuildQueued {
        wave: Some(ctx.wave),
        component: ctx.job.name(),
        key: Some(queued.key),
        reason: queued.reason.clone(),
        inputs: queued.ingredients.clone(),
    };
    // While the work runs, the number is not needed yet: the event may wait a moment to
    // share a commit with others. Once the work is over, the recording of this build, and
    // of what depends on it, waits for the number: no lingering then.
    let db = shared.store.db();
    let seqs = if work_ended.load(Ordering::Acquire) {
        db.submit(vec![event]).await?
    } else {
        db.submit_lazy(vec![event]).await?
    };
    Ok(Ok(BuildId::from(seqs[0])))
}

/// Runs a build whose key never succeeded. Its work starts as soon as a slot is free,
/// while it is being recorded as queued, and its outputs go to its dependents as soon as
/// they are kept: neither its inputs' commits nor its own queued event's are on the path
/// from one command to the next.
async fn run_new(
    shared: &Shared,
    prepared: Prepared,
    inputs: BTreeMap<String, InputState>,
    claim: Claim,
    mut ctx: JobContext,
    queued: Queued,
) -> Result<BuildReport, EngineError> {
    // Cancelled on its own when the build cannot be recorded.
    ctx.cancel = ctx.cancel.child_token();
    let events = Arc::new(BuildEvents::new(shared.store.clone()));
    let work_ended = AtomicBool::new(false);
    let queue = async {
        let result = queue(shared, &ctx, &queued, &inputs, &work_ended).await;
        match &result {
            Ok(Ok(build)) => events.numbered(*build),
            _ => ctx.cancel.cancel(),
        }
        result
    };
    let item = prepared.work_item(queued.key, &shared.platform);
    let work = work(shared, item, claim, &events, &ctx, &work_ended);
    let (queued_as, (outcome, duration)) = tokio::join!(queue, work);
    let build = match queued_as {
        Ok(Ok(build)) => build,
        Ok(Err(lost)) => {
            let blocked =
                record::blocked_by_lost_input(&shared.store, ctx.wave, &ctx.job, lost).await;
            outcome.discard(blocked.as_ref().ok().map(|report| report.build));
            return blocked;
        }
        Err(error) => {
            outcome.discard(None);
            return Err(error);
        }
    };
    let mut report = BuildReport::scheduled(&ctx.job, build, queued.reason);
    report.duration = Some(duration);
    match outcome {
        Outcome::Failed(failed) => record::failure(&shared.store, report, failed).await,
        Outcome::Released(result, released) => {
            let kind = &prepared.material.kind;
            record::success(&shared.store, report, result, kind, released).await
        }
    }
}

/// The build's work: a slot, the attempts, the upload, the release. Returns where it left
/// the build and how long its work took.
async fn work(
    shared: &Shared,
    item: WorkItem,
    claim: Claim,
    events: &Arc<BuildEvents>,
    ctx: &JobContext,
    work_ended: &AtomicBool,
) -> (Outcome, std::time::Duration) {
    // Only running the work takes one of the `jobs` slots: the bookkeeping before and after
    // (key, events, storing outputs) overlaps with other builds' work.
    let slot = tokio::select! {
        slot = claim.acquire() => Some(slot),
        () = ctx.cancel.cancelled() => None,
    };
    let started = shared.clock.monotonic();
    let result = match slot {
        Some(slot) => {
            shared.observer.build_started(&ctx.job.name());
            let result = attempts(shared, item, events, ctx).await;
            if result.is_ok() {
                // The dispatcher claims slots for what this build is about to make ready
                // before the slot is freed, so they are not overtaken.
                let _ = ctx.progress.send(Progress::WorkDone(ctx.job.clone(), slot));
            }
            result
        }
        None => Err(Failure::cancelled(ctx.cancellation())),
    };
    let duration = shared.clock.monotonic().saturating_duration_since(started);
    work_ended.store(true, Ordering::Release);
    let outcome = match result {
        Err(failed) => Outcome::Failed(failed),
        Ok(mut attempt) => match attempt.upload().await {
            Ok(result) => {
                let released = release(&result, ctx);
                Outcome::Released(result, released)
            }
            Err(error) => {
                attempt.cleanup();
                let failed = Failure::from_exec(error, || ctx.cancellation(), shared.store.dir());
                Outcome::Failed(failed)
            }
        },
    };
    (outcome, duration)
}

/// Runs attempts until one succeeds, one fails by the build's own fault, or the tries are
/// used up; what the environment broke is tried again after a backoff that doubles.
async fn attempts(
    shared: &Shared,
    item: WorkItem,
    events: &Arc<BuildEvents>,
    ctx: &JobContext,
) -> Result<Box<dyn Attempt>, Failure> {
    let tries = shared.settings.tries.max(1);
    let mut backoff = shared.settings.backoff;
    for number in 1..=tries {
        events.record(Unnumbered::Started { attempt: number });
        let failed = match attempt(shared, item.clone(), events, ctx).await {
            Ok(attempt) => return Ok(attempt),
            Err(failed) => failed,
        };
        if !failed.is_retryable() || number == tries {
            return Err(failed);
        }
        let line = format!(
            "attempt {number} failed ({}); retrying in {backoff:?}",
            failed.message
        );
        events.record(Unnumbered::Log(LogStream::Factory, line));
        wait_to_retry(ctx, &mut backoff).await?;
    }
    unreachable!("the last try returns")
}

/// One try: the inputs materialised, the work run into a fresh output directory.
async fn attempt(
    shared: &Shared,
    item: WorkItem,
    events: &Arc<BuildEvents>,
    ctx: &JobContext,
) -> Result<Box<dyn Attempt>, Failure> {
    if ctx.cancel.is_cancelled() {
        return Err(Failure::cancelled(ctx.cancellation()));
    }
    let mut attempt = shared.executor.attempt(item);
    let sink: Arc<dyn factory_exec::LogSink> = events.clone();
    let ran = match attempt.prepare().await {
        Ok(()) => attempt.execute(ctx.cancel.clone(), sink).await,
        Err(error) => Err(error),
    };
    match ran {
        Ok(()) => Ok(attempt),
        Err(error) => {
            attempt.cleanup();
            Err(Failure::from_exec(
                error,
                || ctx.cancellation(),
                shared.store.dir(),
            ))
        }
    }
}

/// Hands kept outputs to the dispatcher, whose dependents start on the kept tree at once.
/// They record nothing before this build's success is in the log (see [`queue`]), which
/// [`Released`] tells them.
fn release(result: &WorkResult, ctx: &JobContext) -> Released {
    let digest = result.tree.digest();
    let cut_off_from = ctx
        .previous
        .as_ref()
        .filter(|prev| tree_digest(prev) == Some(digest))
        .map(|prev| prev.id);
    let (recorded_tx, recorded) = tokio::sync::watch::channel(None);
    let done = Done {
        output: digest,
        build: None,
        rebuilt_identical: cut_off_from.is_some(),
        recorded: Some(recorded),
    };
    let _ = ctx.progress.send(Progress::Released(ctx.job.clone(), done));
    Released {
        recorded: recorded_tx,
        cut_off_from,
    }
}

/// A report's state as the dispatcher sees it.
pub(crate) fn is_failure(state: BuildState) -> bool {
    matches!(state, BuildState::Failed | BuildState::Blocked)
}
