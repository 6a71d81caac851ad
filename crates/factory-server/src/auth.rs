//! Who may do what. A request names its token with `Authorization: Bearer`; the store
//! knows only the token's hash. Reads are open unless `--read-token-required`; every
//! mutation needs a token of enough scope, and a `build` token may rebuild (or cancel)
//! what its groups own **and everything that depends on it**: a library's team can rebuild
//! the programs built on their library without rights over those programs' teams.
//! Every decision on a mutation by a token holder is recorded as an event, allowed or
//! refused (requests without a valid token are refused before that, and only counted).

use std::collections::{HashSet, VecDeque};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use factory_engine::JobGraph;
use factory_store::{Event, Scope, TokenRecord, token_hash};
use factory_types::Job;

use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// The token a request presents, if it presents one; an unknown, revoked or malformed one
/// is refused outright (never treated as anonymous).
pub async fn presented(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<TokenRecord>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header is not `Bearer TOKEN`"))?;
    let record = state.store().db().token_by_hash(&token_hash(token)).await?;
    match record {
        Some(record) if record.is_active() => Ok(Some(record)),
        _ => Err(unauthorized("the token is unknown or revoked")),
    }
}

pub fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        .with_hint("send `Authorization: Bearer TOKEN` with a token from `factory token create`")
}

/// The caller of a mutation, who must present a token of at least `needed`; a refusal is
/// recorded like every decision.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    needed: Scope,
    action: &str,
    target: &str,
) -> ApiResult<TokenRecord> {
    // A request without a valid token is refused without an event: anyone can send those,
    // and they must not be able to fill the log. The HTTP metrics count them (401).
    let Some(token) = presented(state, headers).await? else {
        tracing::info!(action, target, "refused a change without a token");
        return Err(unauthorized(
            "this route changes the factory and needs a token",
        ));
    };
    if token.scope < needed {
        let why = format!("a {} token cannot {action}; it needs {needed}", token.scope);
        record(state, &token.name, action, target, false, &why).await?;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", why)
            .with_hint(format!("use a token with scope {needed} or admin")));
    }
    Ok(token)
}

/// Records a decision on a mutation (who, what, allowed or refused, why).
pub async fn record(
    state: &AppState,
    who: &str,
    action: &str,
    target: &str,
    allowed: bool,
    why: &str,
) -> ApiResult<()> {
    let event = Event::AccessDecided {
        who: who.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        allowed,
        why: why.to_owned(),
    };
    state.store().db().append_one(event).await?;
    Ok(())
}

/// Whether `token` may rebuild `job`, and why.
pub fn may_rebuild(token: &TokenRecord, graph: &JobGraph, job: &Job) -> Result<String, String> {
    if token.scope == Scope::Admin {
        return Ok("an admin token may rebuild anything".into());
    }
    let groups: HashSet<&str> = token.owners.iter().map(String::as_str).collect();
    let owner_of = |job: &Job| -> Option<String> {
        let Job::Component(name) = job else {
            return None;
        };
        let component = graph.def().component(name)?;
        component
            .owners
            .iter()
            .find(|o| groups.contains(o.as_str()))
            .cloned()
    };
    if let Some(group) = owner_of(job) {
        return Ok(format!("{} is owned by {group}", job.name()));
    }
    // Walk up through what the job is built from: a component the token's groups own
    // anywhere below it gives the right to rebuild it.
    let mut seen: HashSet<Job> = HashSet::from([job.clone()]);
    let mut queue: VecDeque<Job> = VecDeque::from([job.clone()]);
    while let Some(next) = queue.pop_front() {
        for input in graph.inputs(&next).into_iter().flat_map(|i| i.values()) {
            if let Some(group) = owner_of(input) {
                return Ok(format!(
                    "{} depends on {}, which is owned by {group}",
                    job.name(),
                    input.name()
                ));
            }
            if seen.insert(input.clone()) {
                queue.push_back(input.clone());
            }
        }
    }
    Err(refusal(token, graph, job))
}

fn refusal(token: &TokenRecord, graph: &JobGraph, job: &Job) -> String {
    let owners = match job {
        Job::Component(name) => graph
            .def()
            .component(name)
            .map(|c| c.owners.join(", "))
            .unwrap_or_default(),
        Job::Image(_) => String::new(),
    };
    let owned_by = if owners.is_empty() {
        "has no owners".to_owned()
    } else {
        format!("is owned by {owners}")
    };
    let groups = if token.owners.is_empty() {
        "no groups".to_owned()
    } else {
        token.owners.join(", ")
    };
    format!(
        "{} {owned_by}, and nothing it is built from is owned by the token's groups ({groups})",
        job.name()
    )
}

/// With `--read-token-required`, every read needs a valid token (of any scope); health
/// checks stay open so an orchestrator can probe without one.
pub async fn reads(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = matches!(path, "/healthz" | "/readyz");
    if !state.inner.read_token_required || open {
        return next.run(request).await;
    }
    match presented(&state, request.headers()).await {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => unauthorized("this server requires a token for reads").into_response(),
        Err(error) => error.into_response(),
    }
}
