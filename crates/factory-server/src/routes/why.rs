//! The why engine over HTTP: why a build is where it is (down to the root cause), a
//! wave's failures grouped by root cause, a running wave's forecast, and the queue with
//! the why of every waiting build. The rules are `factory_engine::why`'s; this reads what
//! they need from the projections, a few queries per request whatever the wave's size.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use factory_engine::why::{self, Context};
use factory_store::{BuildRecord, BuildState, WaveId, WaveState};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::routes::read::find_build;
use crate::state::AppState;
use crate::wire::{
    FailureGroupOut, FailureGroups, ForecastOut, PendingJob, PendingWhy, Queue, ReasonOut, WhyOut,
};

fn why_out(build: &BuildRecord, context: &Context<'_>) -> WhyOut {
    let answer = why::why(build, context);
    WhyOut {
        build: build.id.0,
        component: build.component.clone(),
        state: build.state.as_str().to_owned(),
        summary: answer.summary,
        reasons: answer.reasons.iter().map(ReasonOut::from).collect(),
    }
}

fn is_running(state: &AppState, wave: WaveId) -> bool {
    state.inner.control.as_ref().and_then(|c| c.running()) == Some(wave)
}

fn slots(state: &AppState) -> Option<usize> {
    state.inner.control.as_ref().map(|c| c.slots())
}

async fn building_now(state: &AppState) -> ApiResult<Vec<BuildRecord>> {
    let unfinished = state.store().db().unfinished_builds().await?;
    Ok(unfinished
        .into_iter()
        .filter(|b| b.state == BuildState::Building)
        .collect())
}

/// Why a build is in its state: what it waits for, what blocked it (down to the root
/// failure), why it did not run, or why it ran.
#[utoipa::path(get, path = "/api/v1/builds/{id}/why", tag = "builds",
    params(("id" = u64, Path, description = "The build's number")),
    responses((status = 200, body = WhyOut),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn build_why(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Json<WhyOut>> {
    let build = find_build(&state, id).await?;
    let (wave_builds, affected) = match build.wave {
        Some(wave) => {
            let (record, builds) = wave_builds(&state, wave.0).await?;
            (builds, record.affected)
        }
        None => (vec![build.clone()], Vec::new()),
    };
    let building = building_now(&state).await?;
    let graph = state.graph();
    let context = Context {
        wave_builds: &wave_builds,
        affected: &affected,
        graph: graph.as_deref(),
        building: &building,
        slots: slots(&state),
        wave_running: build.wave.is_some_and(|w| is_running(&state, w)),
    };
    Ok(Json(why_out(&build, &context)))
}

async fn wave_builds(
    state: &AppState,
    id: u64,
) -> ApiResult<(factory_store::WaveRecord, Vec<BuildRecord>)> {
    let db = state.store().db();
    let wave = db
        .wave(WaveId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no wave w{id}")))?;
    let builds = db.builds_of_wave(WaveId(id)).await?;
    Ok((wave, builds))
}

/// Why a job of a wave has no build yet (it is queued once its inputs in the wave have
/// succeeded), or, once it has one, that build's why.
#[utoipa::path(get, path = "/api/v1/waves/{id}/jobs/{job}/why", tag = "waves",
    params(("id" = u64, Path, description = "The wave's number"),
        ("job" = String, Path, description = "A job of its affected set")),
    responses((status = 200, body = PendingWhy),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn job_why(
    State(state): State<AppState>,
    Path((id, job)): Path<(u64, String)>,
) -> ApiResult<Json<PendingWhy>> {
    let (wave, builds) = wave_builds(&state, id).await?;
    if !wave.affected.contains(&job) {
        return Err(
            ApiError::not_found(format!("`{job}` is not a job of wave w{id}"))
                .with_hint(format!("GET /api/v1/waves/{id} lists its affected set")),
        );
    }
    let building = building_now(&state).await?;
    let graph = state.graph();
    let context = Context {
        wave_builds: &builds,
        affected: &wave.affected,
        graph: graph.as_deref(),
        building: &building,
        slots: slots(&state),
        wave_running: is_running(&state, WaveId(id)),
    };
    let build = builds.iter().rev().find(|b| b.component == job);
    let answer = match build {
        Some(build) => why::why(build, &context),
        None => why::why_pending(&job, WaveId(id), &context),
    };
    Ok(Json(PendingWhy {
        wave: id,
        build: build.map(|b| b.id.0),
        job,
        summary: answer.summary,
        reasons: answer.reasons.iter().map(ReasonOut::from).collect(),
    }))
}

/// A wave's failed builds, each with the builds it blocked, the largest group first.
#[utoipa::path(get, path = "/api/v1/waves/{id}/failures", tag = "waves",
    params(("id" = u64, Path, description = "The wave's number")),
    responses((status = 200, body = FailureGroups),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn failures(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Json<FailureGroups>> {
    let (_, builds) = wave_builds(&state, id).await?;
    let groups = why::failure_groups(&builds);
    Ok(Json(FailureGroups {
        wave: id,
        groups: groups.iter().map(FailureGroupOut::from).collect(),
    }))
}

/// When a running wave is expected to end: its critical path and its remaining work over
/// the slots, from how long each component's builds took last time.
#[utoipa::path(get, path = "/api/v1/waves/{id}/forecast", tag = "waves",
    params(("id" = u64, Path, description = "The wave's number")),
    responses((status = 200, body = ForecastOut),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn forecast(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Json<ForecastOut>> {
    let (wave, builds) = wave_builds(&state, id).await?;
    let running = is_running(&state, WaveId(id));
    let label = match (wave.state, running) {
        (WaveState::Finished, _) => "finished",
        (WaveState::Planned, true) => "running",
        (WaveState::Planned, false) => "interrupted",
    };
    let idle = ForecastOut {
        wave: id,
        state: label.to_owned(),
        remaining_seconds: 0.0,
        expected_finish: None,
        critical_path: Vec::new(),
        from_history: 0,
        guessed: 0,
    };
    let Some(graph) = state.graph().filter(|_| running) else {
        return Ok(Json(idle));
    };
    let history = history(&state, &wave.affected).await?;
    let now = state.store().clock().wall_ms();
    let slots = slots(&state).unwrap_or(1);
    let forecast = why::forecast(&wave, &builds, &graph, &history, slots, now);
    Ok(Json(ForecastOut {
        remaining_seconds: forecast.remaining_ms as f64 / 1000.0,
        expected_finish: Some(crate::wire::rfc3339(forecast.expected_finish_ms)),
        critical_path: forecast.critical_path,
        from_history: forecast.from_history,
        guessed: forecast.guessed,
        ..idle
    }))
}

/// How long each job of the wave ran the last time it ran, in ms (one query).
async fn history(state: &AppState, jobs: &[String]) -> ApiResult<HashMap<String, u64>> {
    let previous = state.store().db().latest_successful_builds(jobs).await?;
    Ok(previous
        .iter()
        .filter(|b| b.state == BuildState::Succeeded)
        .filter_map(|b| {
            Some((
                b.component.clone(),
                (b.finished_at_ms? - b.started_at_ms?).max(1) as u64,
            ))
        })
        .collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// At most this many builds (default 100, at most 1000); the counts cover all.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

/// Every unfinished build with its why: what it waits for, or that it runs.
#[utoipa::path(get, path = "/api/v1/queue", tag = "builds", params(QueueQuery),
    responses((status = 200, body = Queue)))]
pub async fn queue(
    State(state): State<AppState>,
    Query(query): Query<QueueQuery>,
) -> ApiResult<Json<Queue>> {
    let limit = crate::extract::page_limit(query.limit, 100)?;
    let unfinished = state.store().db().unfinished_builds().await?;
    let mut counts = BTreeMap::new();
    for build in &unfinished {
        *counts.entry(build.state.as_str().to_owned()).or_insert(0) += 1;
    }
    let building: Vec<BuildRecord> = unfinished
        .iter()
        .filter(|b| b.state == BuildState::Building)
        .cloned()
        .collect();
    let graph = state.graph();
    let mut waves: HashMap<WaveId, (Vec<String>, Vec<BuildRecord>)> = HashMap::new();
    let mut out = Vec::new();
    for build in unfinished.iter().take(limit) {
        if let Some(wave) = build.wave
            && !waves.contains_key(&wave)
        {
            let (record, builds) = wave_builds(&state, wave.0).await?;
            waves.insert(wave, (record.affected, builds));
        }
        let (affected, wave_builds): (&[String], &[BuildRecord]) = match build.wave {
            Some(wave) => (&waves[&wave].0, &waves[&wave].1),
            None => (&[], std::slice::from_ref(build)),
        };
        let context = Context {
            wave_builds,
            affected,
            graph: graph.as_deref(),
            building: &building,
            slots: slots(&state),
            wave_running: build.wave.is_some_and(|w| is_running(&state, w)),
        };
        out.push(why_out(build, &context));
    }
    Ok(Json(Queue {
        counts,
        builds: out,
    }))
}

/// The jobs of a wave's affected set that have no build, each with what it waits for (or,
/// once the wave is over, that it never started).
pub(crate) async fn pending_jobs(
    state: &AppState,
    wave: &factory_store::WaveRecord,
    builds: &[BuildRecord],
) -> ApiResult<Vec<PendingJob>> {
    let queued: std::collections::HashSet<&str> =
        builds.iter().map(|b| b.component.as_str()).collect();
    let unqueued: Vec<&String> = wave
        .affected
        .iter()
        .filter(|j| !queued.contains(j.as_str()))
        .collect();
    if unqueued.is_empty() {
        return Ok(Vec::new());
    }
    if wave.state == WaveState::Finished {
        let words = "never started: the wave ended first (superseded, cancelled or stopped)";
        return Ok(unqueued
            .into_iter()
            .map(|job| PendingJob {
                job: job.clone(),
                summary: format!("{job} {words}"),
            })
            .collect());
    }
    let building = building_now(state).await?;
    let graph = state.graph();
    let context = Context {
        wave_builds: builds,
        affected: &wave.affected,
        graph: graph.as_deref(),
        building: &building,
        slots: slots(state),
        wave_running: is_running(state, wave.id),
    };
    Ok(unqueued
        .into_iter()
        .map(|job| PendingJob {
            job: job.clone(),
            summary: why::why_pending(job, wave.id, &context).summary,
        })
        .collect())
}
