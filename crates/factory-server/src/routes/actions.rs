//! Changing the factory: a rebuild of a component (and what depends on it), cancelling a
//! running wave or build. Each needs a token (see [`crate::auth`]), is recorded with who
//! asked, and is carried out by the loop `factory up` runs, through its control: the
//! server never starts a wave itself.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use factory_engine::{Control, ControlError, JobGraph, RebuildAccepted};
use factory_store::{BuildId, Scope, TokenRecord, WaveId};
use factory_types::Job;

use crate::auth::{may_rebuild, record, require};
use crate::extract::{Json, Path};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::routes::read::find_build;
use crate::state::AppState;
use crate::wire::Accepted;

/// The loop to ask, and the definition it runs.
fn steering(state: &AppState) -> ApiResult<(Control, std::sync::Arc<JobGraph>)> {
    let control = state.inner.control.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read-only",
            "this server only reads its store: no factory loop runs here",
        )
        .with_hint("run `factory up` to serve a factory that builds")
    })?;
    let graph = control.graph();
    Ok((control, graph))
}

fn control_error(error: ControlError) -> ApiError {
    match error {
        ControlError::NotRunning { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not-running", error.to_string())
                .with_hint("GET /api/v1/waves shows which waves are running")
        }
        ControlError::UnknownJob { .. } => ApiError::not_found(error.to_string()),
        ControlError::Gone => ApiError::from_fault(&error),
    }
}

fn accepted(body: Accepted) -> Response {
    let location = body.location.clone();
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Some(value) = location.and_then(|l| l.parse().ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Decides with the owner rule and records the decision; `Err` (403) when refused.
async fn decide(
    state: &AppState,
    token: &TokenRecord,
    graph: &JobGraph,
    action: &str,
    target: &str,
    jobs: &[Job],
) -> ApiResult<()> {
    let mut reasons = Vec::new();
    for job in jobs {
        match may_rebuild(token, graph, job) {
            Ok(why) => reasons.push(why),
            Err(why) => {
                record(state, &token.name, action, target, false, &why).await?;
                return Err(
                    ApiError::new(StatusCode::FORBIDDEN, "forbidden", why).with_hint(
                        "a build token may change what its groups own and what depends on that",
                    ),
                );
            }
        }
    }
    reasons.dedup();
    let why = if reasons.len() > 3 {
        format!(
            "{}; and {} more",
            reasons[..3].join("; "),
            reasons.len() - 3
        )
    } else {
        reasons.join("; ")
    };
    record(state, &token.name, action, target, true, &why).await
}

/// Rebuild a component or image, and everything that depends on it.
#[utoipa::path(post, path = "/api/v1/components/{name}/rebuild", tag = "components",
    params(("name" = String, Path, description = "A component, or `image:NAME`")),
    security(("bearer" = [])),
    responses((status = 202, body = Accepted),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn rebuild(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let token = require(&state, &headers, Scope::Build, "rebuild", &name).await?;
    let (control, graph) = steering(&state)?;
    let job = Job::parse(&name);
    if !graph.contains(&job) {
        return Err(ApiError::not_found(format!(
            "`{name}` is not a component or image of the definition the factory runs"
        ))
        .with_hint("GET /api/v1/components lists them"));
    }
    decide(
        &state,
        &token,
        &graph,
        "rebuild",
        &name,
        std::slice::from_ref(&job),
    )
    .await?;
    let outcome = control
        .rebuild(vec![job], &token.name)
        .await
        .map_err(control_error)?;
    let body = match outcome {
        RebuildAccepted::Started(wave) => Accepted {
            status: "started".into(),
            wave: Some(wave.0),
            build: None,
            location: Some(format!("/api/v1/waves/{}", wave.0)),
            detail: format!("wave {wave} rebuilds {name} and what depends on it"),
        },
        RebuildAccepted::Queued { behind } => Accepted {
            status: "queued".into(),
            wave: None,
            build: None,
            location: Some(format!("/api/v1/waves/{}", behind.0)),
            detail: format!(
                "wave {behind} is running: its builds that the rebuild makes outdated are \
                 stopped, and the rebuild's wave starts when it ends"
            ),
        },
    };
    Ok(accepted(body))
}

/// Cancel a running wave: its running builds are killed and the rest are not started.
#[utoipa::path(post, path = "/api/v1/waves/{id}/cancel", tag = "waves",
    params(("id" = u64, Path, description = "The wave's number")),
    security(("bearer" = [])),
    responses((status = 202, body = Accepted),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_wave(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let target = WaveId(id).to_string();
    let token = require(&state, &headers, Scope::Build, "cancel_wave", &target).await?;
    let (control, graph) = steering(&state)?;
    let wave = state
        .store()
        .db()
        .wave(WaveId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no wave {target}")))?;
    let jobs: Vec<Job> = wave
        .affected
        .iter()
        .map(|n| Job::parse(n))
        .filter(|j| graph.contains(j))
        .collect();
    decide(&state, &token, &graph, "cancel_wave", &target, &jobs).await?;
    control
        .cancel_wave(WaveId(id), &token.name)
        .await
        .map_err(control_error)?;
    Ok(accepted(Accepted {
        status: "cancelling".into(),
        wave: Some(id),
        build: None,
        location: Some(format!("/api/v1/waves/{id}")),
        detail: format!("wave {target} is being cancelled by {}", token.name),
    }))
}

/// Cancel a running or waiting build, and what of its wave depends on it.
#[utoipa::path(post, path = "/api/v1/builds/{id}/cancel", tag = "builds",
    params(("id" = u64, Path, description = "The build's number")),
    security(("bearer" = [])),
    responses((status = 202, body = Accepted),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_build(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let target = BuildId(id).to_string();
    let token = require(&state, &headers, Scope::Build, "cancel_build", &target).await?;
    let (control, graph) = steering(&state)?;
    let build = find_build(&state, id).await?;
    let job = Job::parse(&build.component);
    let (Some(wave), true) = (build.wave, build.state.is_unfinished()) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-running",
            format!("build {target} is {}, not waiting or running", build.state),
        ));
    };
    decide(
        &state,
        &token,
        &graph,
        "cancel_build",
        &target,
        std::slice::from_ref(&job),
    )
    .await?;
    control
        .cancel_job(wave, job, &token.name)
        .await
        .map_err(control_error)?;
    Ok(accepted(Accepted {
        status: "cancelling".into(),
        wave: Some(wave.0),
        build: Some(id),
        location: Some(format!("/api/v1/builds/{id}")),
        detail: format!("build {target} is being cancelled by {}", token.name),
    }))
}
