//! Errors as the client reads them: `application/problem+json` (RFC 9457). Every error has a
//! stable `type` a script can match, a human `detail`, and what to do about it; the status
//! follows the fault (input 4xx, environment 503, Factory 500). Nothing else reaches a
//! client: no panic message, no stack, no internal path beyond what the detail names.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use factory_types::{Fault, HasFault};
use serde::Serialize;
use utoipa::ToSchema;

/// Where problem types are documented (docs/api.md lists them); the `type` is this prefix
/// and the slug, a relative URI reference as RFC 9457 allows.
const TYPE_PREFIX: &str = "/api/v1/problems/";

/// A problem detail document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A stable URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, in words.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The request's id (as in the `x-request-id` header and the server's log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error a handler returns.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    detail: String,
    hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            slug,
            detail: detail.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", what)
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// An error of a library, with the status its fault gives.
    pub fn from_fault(error: &(impl HasFault + std::fmt::Display)) -> ApiError {
        match error.fault() {
            Fault::Input => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad-request", error.to_string())
            }
            Fault::Environment => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                error.to_string(),
            )
            .with_hint("the factory's machine has a problem (disk, database); retry later"),
            Fault::Factory => {
                tracing::error!(%error, "internal error answering a request");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    error.to_string(),
                )
                .with_hint("this is a bug in Factory; the server's log has the details")
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn into_problem(self, request_id: Option<String>) -> Problem {
        Problem {
            kind: format!("{TYPE_PREFIX}{}", self.slug),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            hint: self.hint,
            request_id,
        }
    }
}

impl From<factory_store::StoreError> for ApiError {
    fn from(error: factory_store::StoreError) -> Self {
        ApiError::from_fault(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(self.into_problem(None))
    }
}

/// The response for a problem document.
pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110 §11.6.1: a 401 says how to authenticate.
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"factory\""),
        );
    }
    response
}

pub type ApiResult<T> = Result<T, ApiError>;
