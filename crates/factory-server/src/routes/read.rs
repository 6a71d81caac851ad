//! Components, waves, builds, their logs, explanations and artifacts: each a projection of
//! the log, read through the store's [`factory_store::Views`] (never a scan of the log).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use factory_store::{BuildId, LogFollower, WaveId};
use factory_types::Job;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::wire::{
    ArtifactList, Build, Component, ComponentDetail, ComponentList, Explanation, Wave, WaveList,
    WaveStory,
};

/// Every component the store knows, with its latest builds.
#[utoipa::path(get, path = "/api/v1/components", tag = "components",
    responses((status = 200, body = ComponentList)))]
pub async fn components(State(state): State<AppState>) -> ApiResult<Json<ComponentList>> {
    let records = state.store().db().components().await?;
    let graph = state.graph();
    let def = graph.as_ref().map(|g| g.def().clone());
    let components = records
        .iter()
        .map(|r| Component::from_record(r, def.as_ref().and_then(|d| d.component(&r.name))))
        .collect();
    Ok(Json(ComponentList { components }))
}

/// One component: its state, owners, streams, what it builds from and into.
#[utoipa::path(get, path = "/api/v1/components/{name}", tag = "components",
    params(("name" = String, Path, description = "The component's name")),
    responses((status = 200, body = ComponentDetail),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn component(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ComponentDetail>> {
    let record = state.store().db().component(&name).await?;
    let graph = state.graph();
    let in_def = graph
        .as_ref()
        .and_then(|g| g.def().component(&name).cloned());
    let record = match (record, &in_def) {
        (Some(record), _) => record,
        (None, Some(_)) => factory_store::ComponentRecord {
            name: name.clone(),
            revision: None,
            last_change_reason: None,
            last_change: None,
            latest_build: None,
            latest_success: None,
        },
        (None, None) => return Err(unknown_component(&name)),
    };
    let job = Job::Component(name.clone());
    let names = |jobs: Vec<Job>| jobs.iter().map(Job::name).collect::<Vec<_>>();
    let (inputs, dependents, affected) = match &graph {
        Some(g) if g.contains(&job) => (
            g.inputs(&job)
                .map(|i| i.iter().map(|(k, v)| (k.clone(), v.name())).collect())
                .unwrap_or_default(),
            names(g.dependents(&job)),
            names(g.affected(std::slice::from_ref(&job))),
        ),
        _ => (BTreeMap::new(), Vec::new(), Vec::new()),
    };
    Ok(Json(ComponentDetail {
        component: Component::from_record(&record, in_def.as_ref()),
        inputs,
        dependents,
        affected,
    }))
}

fn unknown_component(name: &str) -> ApiError {
    ApiError::not_found(format!("no component named `{name}`"))
        .with_hint("GET /api/v1/components lists them")
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BuildsQuery {
    /// Only builds in this state.
    #[param(
        pattern = "^(scheduled|blocked|building|failed|succeeded|unchanged|cancelled|reused)$"
    )]
    pub state: Option<String>,
}

/// Every build of a component, newest first.
#[utoipa::path(get, path = "/api/v1/components/{name}/builds", tag = "components",
    params(("name" = String, Path, description = "The component's name"), BuildsQuery),
    responses((status = 200, body = Vec<Build>),
        (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn component_builds(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<BuildsQuery>,
) -> ApiResult<Json<Vec<Build>>> {
    let wanted = match &query.state {
        Some(text) => Some(parse_state(text)?),
        None => None,
    };
    let builds = state.store().db().builds_of_component(&name).await?;
    let builds = builds
        .iter()
        .rev()
        .filter(|b| wanted.is_none_or(|s| b.state == s))
        .map(Build::from)
        .collect();
    Ok(Json(builds))
}

fn parse_state(text: &str) -> ApiResult<factory_store::BuildState> {
    factory_store::BuildState::parse(text).ok_or_else(|| {
        let all: Vec<&str> = factory_store::BuildState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        ApiError::bad_request(format!("unknown build state `{text}`"))
            .with_hint(format!("one of: {}", all.join(", ")))
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WavesQuery {
    /// How many, newest first (default 50, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

/// The latest waves, newest first.
#[utoipa::path(get, path = "/api/v1/waves", tag = "waves", params(WavesQuery),
    responses((status = 200, body = WaveList)))]
pub async fn waves(
    State(state): State<AppState>,
    Query(query): Query<WavesQuery>,
) -> ApiResult<Json<WaveList>> {
    let limit = crate::extract::page_limit(query.limit, 50)?;
    let waves = state.store().db().recent_waves(limit as u32).await?;
    Ok(Json(WaveList {
        waves: waves.iter().map(Wave::from).collect(),
    }))
}

/// A wave's story: what changed, the affected set and plan, every build with its state.
#[utoipa::path(get, path = "/api/v1/waves/{id}", tag = "waves",
    params(("id" = u64, Path, description = "The wave's number")),
    responses((status = 200, body = WaveStory),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn wave(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Json<WaveStory>> {
    let db = state.store().db();
    let wave = db
        .wave(WaveId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no wave w{id}")))?;
    let builds = db.builds_of_wave(WaveId(id)).await?;
    let mut counts = BTreeMap::new();
    for build in &builds {
        *counts.entry(build.state.as_str().to_owned()).or_insert(0) += 1;
    }
    let failures = factory_engine::why::failure_groups(&builds);
    let pending = crate::routes::why::pending_jobs(&state, &wave, &builds).await?;
    Ok(Json(WaveStory {
        pending,
        wave: Wave::from(&wave),
        counts,
        failures: failures.iter().map(Into::into).collect(),
        builds: builds.iter().map(Build::from).collect(),
    }))
}

pub(crate) async fn find_build(state: &AppState, id: u64) -> ApiResult<factory_store::BuildRecord> {
    state
        .store()
        .db()
        .build(BuildId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no build b{id}")))
}

/// One build: state, reasons, inputs and outputs.
#[utoipa::path(get, path = "/api/v1/builds/{id}", tag = "builds",
    params(("id" = u64, Path, description = "The build's number")),
    responses((status = 200, body = Build),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn build(State(state): State<AppState>, Path(id): Path<u64>) -> ApiResult<Json<Build>> {
    Ok(Json(Build::from(&find_build(&state, id).await?)))
}

/// Why a build ran: what changed against the previous build of its component.
#[utoipa::path(get, path = "/api/v1/builds/{id}/explain", tag = "builds",
    params(("id" = u64, Path, description = "The build's number")),
    responses((status = 200, body = Explanation),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn explain(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Json<Explanation>> {
    let record = find_build(&state, id).await?;
    let lines = factory_engine::explain::explain(state.store().db(), &record).await?;
    Ok(Json(Explanation { build: id, lines }))
}

/// The artifacts a build stored.
#[utoipa::path(get, path = "/api/v1/builds/{id}/artifacts", tag = "builds",
    params(("id" = u64, Path, description = "The build's number")),
    responses((status = 200, body = ArtifactList),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn artifacts(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> ApiResult<Json<ArtifactList>> {
    find_build(&state, id).await?;
    let records = state.store().db().artifacts_of_build(BuildId(id)).await?;
    Ok(Json(ArtifactList {
        artifacts: records.iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Keep the response open and send what the build logs until it finishes.
    #[serde(default)]
    pub follow: bool,
}

/// A build's log, stdout and stderr interleaved as they came; followed live with
/// `?follow=true`.
#[utoipa::path(get, path = "/api/v1/builds/{id}/log", tag = "builds",
    params(("id" = u64, Path, description = "The build's number"), LogQuery),
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn log(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Response> {
    find_build(&state, id).await?;
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    let follower = LogFollower::new(state.store().backend(), BuildId(id));
    if !query.follow {
        let chunks = state
            .store()
            .db()
            .build_log(BuildId(id), factory_store::Seq(0))
            .await?;
        let body: String = chunks.iter().map(|c| c.chunk.as_str()).collect();
        return Ok((text, body).into_response());
    }
    // Every stream, Factory's own lines (the command about to run, retries) included.
    let stream = futures_util::stream::unfold(Some(follower), |follower| async move {
        let mut follower = follower?;
        match follower.next().await {
            Ok(Some(chunks)) => {
                let text: String = chunks.iter().map(|c| c.chunk.as_str()).collect();
                Some((Ok::<_, std::io::Error>(text), Some(follower)))
            }
            Ok(None) => None,
            Err(error) => Some((Err(std::io::Error::other(error.to_string())), None)),
        }
    });
    let stream = stream.take_until(state.inner.shutdown.clone().cancelled_owned());
    Ok((text, Body::from_stream(stream)).into_response())
}
