//! How each way a build can end is written to the log: blocked, failed, reused, cut off,
//! succeeded.

use std::collections::BTreeMap;

use factory_exec::{TreeBlob, WorkResult};
use factory_store::{BuildId, BuildOutput, BuildRecord, BuildState, Event, Store, WaveId};
use factory_types::Job;

use super::failure::Failure;
use super::handover::{InputState, LostInput, Recording, Released};
use crate::engine::TREE_OUTPUT;
use crate::error::EngineError;
use crate::tree_digest;
use crate::wave::BuildReport;

/// A dependent of `failed`, whose build `failure` reports, will not run in this wave.
pub(crate) async fn blocked_by_failure(
    store: &Store,
    wave: WaveId,
    job: &Job,
    failed: &Job,
    failure: &BuildReport,
) -> Result<BuildReport, EngineError> {
    let detail = format!(
        "blocked: {failed} {} in build {}{}",
        failure.state,
        failure.build,
        failure
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    let mut report = blocked(
        store,
        wave,
        job,
        &failed.name(),
        Some(failure.build),
        detail,
    )
    .await?;
    report.infrastructure = failure.infrastructure;
    Ok(report)
}

/// A build started on an input whose outputs could not be stored after all.
pub(crate) async fn blocked_by_lost_input(
    store: &Store,
    wave: WaveId,
    job: &Job,
    lost: LostInput,
) -> Result<BuildReport, EngineError> {
    let of_build = lost
        .build
        .map(|b| format!(" (build {b})"))
        .unwrap_or_default();
    let detail = format!(
        "blocked: the outputs of input {}{of_build} could not be stored",
        lost.input
    );
    let mut report = blocked(store, wave, job, &lost.input, lost.build, detail).await?;
    report.infrastructure = true;
    Ok(report)
}

async fn blocked(
    store: &Store,
    wave: WaveId,
    job: &Job,
    failed: &str,
    by: Option<BuildId>,
    detail: String,
) -> Result<BuildReport, EngineError> {
    let reason = format!("input {failed} did not build");
    let build = queued_without_key(store, wave, job, &reason).await?;
    store
        .db()
        .append_one(Event::BuildBlocked {
            build,
            by: by.into_iter().collect(),
            reason: detail.clone(),
        })
        .await?;
    let mut report = BuildReport::scheduled(job, build, reason);
    report.state = BuildState::Blocked;
    report.detail = Some(detail);
    Ok(report)
}

/// A build of `job` that never gets a key (it is blocked, or its key cannot be computed):
/// queued, so that it has a number and a story, with nothing to compare it by.
async fn queued_without_key(
    store: &Store,
    wave: WaveId,
    job: &Job,
    reason: &str,
) -> Result<BuildId, EngineError> {
    let event = Event::BuildQueued {
        wave: Some(wave),
        component: job.name(),
        key: None,
        reason: reason.to_owned(),
        inputs: BTreeMap::new(),
    };
    Ok(BuildId::from(store.db().append_one(event).await?))
}

/// A build that did not succeed: cancelled, or failed (its own fault or not).
pub(crate) async fn failure(
    store: &Store,
    mut report: BuildReport,
    failure: Failure,
) -> Result<BuildReport, EngineError> {
    let build = report.build;
    let (event, state) = if failure.fault.is_none() {
        let reason = failure.message.clone();
        (
            Event::BuildCancelled { build, reason },
            BuildState::Cancelled,
        )
    } else {
        let event = Event::BuildFailed {
            build,
            reason: failure.message.clone(),
            kind: failure.kind(),
        };
        (event, BuildState::Failed)
    };
    store.db().append_one(event).await?;
    report.state = state;
    report.infrastructure = state == BuildState::Failed && failure.kind().is_infrastructure();
    report.detail = Some(failure.message);
    Ok(report)
}

/// A job whose key cannot be computed (its source cannot be fetched or read): queued
/// without a key and failed at once.
pub(crate) async fn unpreparable(
    store: &Store,
    job: &Job,
    wave: WaveId,
    failed: Failure,
) -> Result<BuildReport, EngineError> {
    let reason = "cannot compute the build key".to_owned();
    let build = queued_without_key(store, wave, job, &reason).await?;
    let report = BuildReport::scheduled(job, build, reason);
    failure(store, report, failed).await
}

/// A key that already succeeded: its outputs are reused. When it is the key of the job's
/// latest build and the job itself did not change, that is an early cutoff: an input was
/// rebuilt with identical output, or nothing changed at all.
pub(crate) async fn reuse(
    store: &Store,
    mut report: BuildReport,
    existing: BuildRecord,
    previous: Option<BuildRecord>,
    is_changed: bool,
    inputs: &BTreeMap<String, InputState>,
) -> Result<BuildReport, EngineError> {
    let build = report.build;
    let same_as_latest = previous.as_ref().filter(|p| p.key == existing.key);
    let event = match same_as_latest {
        Some(latest) if !is_changed => {
            let detail = cutoff_detail(latest.id, inputs);
            report.state = BuildState::Unchanged;
            report.detail = Some(detail.clone());
            Event::BuildCutOff {
                build,
                reason: detail,
                previous: Some(latest.id),
            }
        }
        _ => {
            report.state = BuildState::Reused;
            report.detail = Some(format!(
                "build key already succeeded in {}: outputs reused",
                existing.id
            ));
            Event::BuildReused {
                build,
                from: existing.id,
            }
        }
    };
    store.db().append_one(event).await?;
    report.output = tree_digest(&existing);
    Ok(report)
}

fn cutoff_detail(latest: BuildId, inputs: &BTreeMap<String, InputState>) -> String {
    let identical: Vec<String> = inputs
        .iter()
        .filter(|(_, s)| s.rebuilt_identical == Some(true))
        .map(|(name, s)| match s.build() {
            Some(b) => format!("{name} (rebuilt in {b})"),
            None => format!("{name} (rebuilt)"),
        })
        .collect();
    if identical.is_empty() {
        format!("inputs identical to those of {latest}: nothing to do")
    } else {
        format!(
            "early cutoff: {} produced output identical to before, so the build key equals {latest}'s",
            identical.join(", ")
        )
    }
}

/// Makes a released build's outputs durable and records its success: a small tree goes
/// into the database with the success, a larger one is a file, made durable first. Its
/// packages (`kind`) are recorded as artifacts of the build.
pub(crate) async fn success(
    store: &Store,
    mut report: BuildReport,
    result: WorkResult,
    kind: &str,
    released: Released,
) -> Result<BuildReport, EngineError> {
    let build = report.build;
    let digest = result.tree.digest();
    let mut outputs = vec![BuildOutput {
        name: TREE_OUTPUT.into(),
        digest,
        size: result.tree.size(),
    }];
    let mut events = Vec::new();
    for artifact in result.artifacts {
        events.push(Event::ArtifactStored {
            digest: artifact.digest,
            name: artifact.name.clone(),
            kind: kind.to_owned(),
            size: artifact.size,
            build: Some(build),
        });
        outputs.push(BuildOutput {
            name: artifact.name,
            digest: artifact.digest,
            size: artifact.size,
        });
    }
    events.push(Event::BuildSucceeded { build, outputs });
    let pending = match result.tree {
        TreeBlob::Pending(blob) => vec![blob],
        TreeBlob::Stored { .. } => Vec::new(),
    };
    let committed = match store.submit_lazy_with_blobs(events, pending).await {
        Ok(committed) => committed,
        Err(error) => {
            released.tell(Recording::Lost(Some(build)));
            let full = factory_types::disk::is_out_of_space(&error);
            let failed = Failure::keeping(&error, full, store.dir());
            return failure(store, report, failed).await;
        }
    };
    // Not awaited: the log commits in submission order, so whatever a dependent records is
    // committed after this success, and a success lost in a crash only means the build runs
    // again.
    released.tell(Recording::Stored(build));
    tokio::spawn(async move {
        if let Err(error) = committed.await {
            tracing::error!(%build, %error, "the success of a build was not recorded; it runs again next time");
        }
    });
    if let Some(previous) = released.cut_off_from {
        report.output_unchanged = true;
        report.detail = Some(format!(
            "output identical to build {previous} (early cutoff for what depends on it)"
        ));
    }
    report.state = BuildState::Succeeded;
    report.output = Some(digest);
    Ok(report)
}
