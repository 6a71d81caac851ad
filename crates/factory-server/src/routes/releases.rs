//! Product streams and their releases: the history (a projection), what each channel waits
//! for (the releaser's look, which changes nothing), and a release by hand, which the
//! releaser `factory up` runs makes or refuses.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use factory_release::{Outcome, ReleaseError};
use factory_store::Scope;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{record, require};
use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::wire::{ChannelOut, ProductOut, ProductStreamOut, Release, ReleaseRequest};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReleasesQuery {
    /// Only this product's releases.
    pub product: Option<String>,
    /// Only this stream's (of every product, or of `product`).
    pub stream: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Releases, newest first.
#[utoipa::path(get, path = "/api/v1/releases", tag = "releases", params(ReleasesQuery),
    responses((status = 200, body = [Release]),
        (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ReleasesQuery>,
) -> ApiResult<Json<Vec<Release>>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(
            ApiError::bad_request("`limit` must be from 1 to 1000").with_hint("ask ?limit=100")
        );
    }
    let db = state.store().db();
    let mut records = match (&query.product, &query.stream) {
        (Some(product), Some(stream)) => {
            let mut all = db.releases_of_stream(product, stream).await?;
            all.reverse();
            all
        }
        _ => db.recent_releases(u32::MAX).await?,
    };
    // A stream name alone asks for that stream of every product (`stable` everywhere).
    records.retain(|r| {
        query.product.as_ref().is_none_or(|p| &r.product == p)
            && query.stream.as_ref().is_none_or(|s| &r.stream == s)
    });
    records.truncate(limit as usize);
    Ok(Json(records.iter().map(Release::from).collect()))
}

/// One release.
#[utoipa::path(get, path = "/api/v1/products/{product}/streams/{stream}/releases/{number}",
    tag = "releases",
    params(("product" = String, Path), ("stream" = String, Path), ("number" = u64, Path)),
    responses((status = 200, body = Release),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn one(
    State(state): State<AppState>,
    Path((product, stream, number)): Path<(String, String, u64)>,
) -> ApiResult<Json<Release>> {
    let records = state
        .store()
        .db()
        .releases_of_stream(&product, &stream)
        .await?;
    records
        .iter()
        .find(|r| r.number == number)
        .map(|r| Json(Release::from(r)))
        .ok_or_else(|| {
            ApiError::not_found(format!("no release {number} of {product} {stream}"))
                .with_hint("GET /api/v1/releases lists them")
        })
}

/// Every product with its streams: end of life, channels, and what each channel waits for.
#[utoipa::path(get, path = "/api/v1/products", tag = "releases",
    responses((status = 200, body = [ProductOut])))]
pub async fn products(State(state): State<AppState>) -> ApiResult<Json<Vec<ProductOut>>> {
    let Some(graph) = state.graph() else {
        return Ok(Json(Vec::new()));
    };
    let def = graph.def();
    let looked = match &state.inner.releases {
        Some(served) => Some(
            served
                .releaser
                .look(def)
                .await
                .map_err(|e| ApiError::from_fault(&e))?,
        ),
        None => None,
    };
    let now = state.store().clock().wall();
    let mut out = Vec::new();
    for product in def.products.values() {
        let mut streams = Vec::new();
        for stream in product.streams.values() {
            let history = state
                .store()
                .db()
                .releases_of_stream(&product.name, &stream.name)
                .await?;
            let channels = stream
                .channels
                .iter()
                .map(|channel| {
                    let outcome = looked.as_ref().and_then(|all| {
                        all.iter().find(|o| {
                            o.product == product.name
                                && o.stream == stream.name
                                && o.channel == channel.name
                        })
                    });
                    let (state, why) = match outcome.map(|o| &o.outcome) {
                        Some(Outcome::Due(_)) => (Some("due"), None),
                        Some(Outcome::Waiting(wait)) => {
                            (Some("waiting"), Some(factory_release::why::wait_text(wait)))
                        }
                        Some(Outcome::Released(_)) | None => (None, None),
                    };
                    ChannelOut {
                        name: channel.name.clone(),
                        release: factory_release::why::cadence_text(&channel.release),
                        gate: channel.gate.clone(),
                        latest: history
                            .iter()
                            .filter(|r| r.channel == channel.name)
                            .map(|r| r.number)
                            .max(),
                        state: state.map(str::to_string),
                        why,
                    }
                })
                .collect();
            streams.push(ProductStreamOut {
                name: stream.name.clone(),
                end_of_life: stream.end_of_life.to_string(),
                lifecycle: factory_release::lifecycle(stream, now).as_str().to_string(),
                channels,
            });
        }
        out.push(ProductOut {
            name: product.name.clone(),
            description: product.description.clone(),
            streams,
        });
    }
    Ok(Json(out))
}

/// Release a stream by hand, into a channel (default: its first). Needs an `admin` token.
/// The time conditions of the channel's cadence are waived; its gate and the stream's end
/// of life are not: a refusal is a 409 that says why.
#[utoipa::path(post, path = "/api/v1/products/{product}/streams/{stream}/releases",
    tag = "releases",
    params(("product" = String, Path), ("stream" = String, Path)),
    request_body = ReleaseRequest,
    security(("bearer" = [])),
    responses((status = 201, body = Release),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn release(
    State(state): State<AppState>,
    Path((product, stream)): Path<(String, String)>,
    headers: HeaderMap,
    Json(request): Json<ReleaseRequest>,
) -> ApiResult<Response> {
    let target = format!("{product} {stream}");
    let token = require(&state, &headers, Scope::Admin, "release", &target).await?;
    let served = state.inner.releases.as_ref().ok_or_else(|| {
        // Not a 5xx: nothing failed, this server is one that does not release (yet).
        ApiError::new(
            StatusCode::CONFLICT,
            "no-releaser",
            "no releaser runs beside this server, so it cannot release",
        )
        .with_hint("release with the factory that runs the stream's releaser")
    })?;
    record(&state, &token.name, "release", &target, true, "admin token").await?;
    let made = served
        .door
        .release(&product, &stream, request.channel.as_deref(), &token.name)
        .await
        .map_err(refused)?;
    let location = format!(
        "/api/v1/products/{}/streams/{}/releases/{}",
        made.product, made.stream, made.number
    );
    let mut response = (StatusCode::CREATED, Json(Release::from(&made))).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

fn refused(error: ReleaseError) -> ApiError {
    match &error {
        ReleaseError::UnknownProduct(_)
        | ReleaseError::UnknownStream { .. }
        | ReleaseError::UnknownChannel { .. } => {
            ApiError::not_found(error.to_string()).with_hint("GET /api/v1/products lists them")
        }
        ReleaseError::EndOfLife { .. } => {
            ApiError::new(StatusCode::CONFLICT, "end-of-life", error.to_string())
                .with_hint("release a stream that is still supported")
        }
        ReleaseError::Held { .. } => ApiError::new(StatusCode::CONFLICT, "gate-closed", error.to_string())
            .with_hint("GET /greenwave/api/v1.0/decision says which requirement is unsatisfied; a waiver can let it through"),
        ReleaseError::NothingToRelease { .. } => {
            ApiError::new(StatusCode::CONFLICT, "nothing-to-release", error.to_string())
        }
        _ => ApiError::from_fault(&error),
    }
}
