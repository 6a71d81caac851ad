//! For whoever operates the server: liveness, readiness, metrics, the API's description.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use factory_store::BuildState;

use crate::extract::Json;
use crate::problem::ApiResult;
use crate::state::AppState;
use crate::wire::Health;

/// The process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        last_seq: None,
        detail: None,
    })
}

/// The store answers: the server can serve reads and take requests.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().db().last_seq().await {
        Ok(seq) => Json(Health {
            status: "ready".into(),
            last_seq: Some(seq.0),
            detail: None,
        })
        .into_response(),
        Err(error) => {
            let health = Health {
                status: "unavailable".into(),
                last_seq: None,
                detail: Some(error.to_string()),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response()
        }
    }
}

/// Metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let db = state.store().db();
    let unfinished = db.unfinished_builds().await?;
    let count = |s: BuildState| unfinished.iter().filter(|b| b.state == s).count();
    let queue = [
        ("scheduled", count(BuildState::Scheduled)),
        ("building", count(BuildState::Building)),
    ];
    let last_seq = db.last_seq().await?.0;
    if let Some(relay) = &state.inner.relay {
        let published = *relay.published.borrow();
        state
            .metrics()
            .set_bus_lag(last_seq.saturating_sub(published));
    }
    let text = state.metrics().encode(&queue, last_seq);
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// This API's OpenAPI 3.1 document, generated from the code.
pub async fn openapi() -> Response {
    let document = crate::openapi::document();
    Json(document).into_response()
}
