//! Axum's extractors, with their rejections as problem documents: a malformed id in a
//! path, a bad query or a body that is not the JSON expected gets the same precise
//! `application/problem+json` as every other error, never a bare text line.

use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;

use crate::problem::ApiError;

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-path", rejection.body_text())
            .with_hint("see /api/v1/openapi.json for the route's parameters")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-query", rejection.body_text())
            .with_hint("see /api/v1/openapi.json for the route's query parameters")
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let slug = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            _ => "bad-body",
        };
        ApiError::new(status, slug, rejection.body_text())
            .with_hint("send a JSON body as /api/v1/openapi.json describes it")
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A page size: `default` when absent, else 1 to 1000 (refused outside, as the schema
/// says, rather than quietly changed).
pub(crate) fn page_limit(value: Option<u64>, default: u64) -> Result<usize, ApiError> {
    match value {
        None => Ok(default as usize),
        Some(n @ 1..=1000) => Ok(n as usize),
        Some(n) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            format!("limit {n} is outside 1 to 1000"),
        )),
    }
}

/// A sequence number from a query: the store's are 63-bit (the schema's int64).
pub(crate) fn seq_param(value: Option<u64>, name: &str) -> Result<Option<u64>, ApiError> {
    match value {
        Some(n) if n > i64::MAX as u64 => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-query",
            format!("{name} {n} is larger than any sequence number"),
        )),
        other => Ok(other),
    }
}
