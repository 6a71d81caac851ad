//! The live dashboard: HTML pages at `/`, served by the same process as the API.
//!
//! Pages are rendered on the server (maud, which escapes every value it splices) from the
//! same projections the API reads, and are complete without a script. One small script
//! (`assets/dashboard.js`) keeps them live: it follows `/api/v1/events/stream` and, when
//! an event concerns the page, fetches the page again and patches the changed parts in
//! place (rows by id), at most about once a second. A build's log is appended from the
//! stream's `build.log` events. The script never builds markup from store text, so
//! escaping happens in one place.
//!
//! - [`overview`] `/`, [`wave`] `/waves` and `/waves/{id}` (a change's story),
//!   [`build`] `/builds/{id}`, [`component`] `/components` and `/components/{name}`,
//!   [`graph`] `/graph/{name}`, [`releases`] `/releases` (product streams, their channels and
//!   releases); [`why`] the panel that says why a job waits or is blocked.
//! - [`view`]: what pages compute from the store (waves with their waiting jobs, root
//!   causes); [`page`]: the shell and the small pieces every page uses; [`error`]: errors
//!   as pages; [`assets`]: the stylesheet and script, compiled in.
//!
//! The routes sit outside the API's layer that turns every error into a problem document
//! (a browser gets an error *page*), so they carry their own: read tokens, panics,
//! timeouts, latency metrics, and the headers every page sends.

mod assets;
mod build;
mod component;
mod error;
mod graph;
mod overview;
mod page;
mod releases;
mod view;
mod wave;
mod why;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;

/// The dashboard's routes, with the layers they need (see the module's doc).
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/waves", get(wave::list))
        .route("/waves/{id}", get(wave::page))
        .route("/builds/{id}", get(build::page))
        .route("/components", get(component::list))
        .route("/components/{name}", get(component::page))
        .route("/graph/{name}", get(graph::page))
        .route("/releases", get(releases::page))
        .route("/assets/{name}", get(assets::serve))
        .layer(Extension(Arc::new(view::Cache::default())))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::reads,
        ))
        .layer(middleware::from_fn_with_state(
            state,
            crate::server::measure,
        ))
        .layer(CatchPanicLayer::custom(error::panicked))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(middleware::map_response(page_headers))
}

/// What every page says to the browser: run only our own script and style (so even a
/// value that escaped escaping could not run), never sniff types, never be framed, and
/// never be cached (a page is live; assets are cached by their own headers).
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
               connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
               frame-ancestors 'none'";
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
