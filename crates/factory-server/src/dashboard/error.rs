//! Errors as a person in a browser reads them: an HTML page with the status, what went
//! wrong and what to do, in the dashboard's frame (the API answers problem documents;
//! a page answers a page). The status follows the fault, as in the API.

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use factory_types::{Fault, HasFault};
use maud::html;

use super::page::{Shell, shell};

#[derive(Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    detail: String,
    hint: Option<String>,
}

impl PageError {
    pub(crate) fn not_found(detail: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
            hint: None,
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> PageError {
        self.hint = Some(hint.into());
        self
    }

    /// A library's error, with the status its fault gives.
    pub(crate) fn from_fault(error: &(impl HasFault + std::fmt::Display)) -> PageError {
        let (status, hint) = match error.fault() {
            Fault::Input => (StatusCode::BAD_REQUEST, None),
            Fault::Environment => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("the factory's machine has a problem (disk, database); reload in a while"),
            ),
            Fault::Factory => {
                tracing::error!(%error, "internal error rendering a dashboard page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some("this is a bug in Factory; the server's log has the details"),
                )
            }
        };
        PageError {
            status,
            detail: error.to_string(),
            hint: hint.map(str::to_owned),
        }
    }
}

impl From<factory_store::StoreError> for PageError {
    fn from(error: factory_store::StoreError) -> Self {
        PageError::from_fault(&error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        let title = format!("{} {reason}", self.status.as_u16());
        let body = html! {
            section.problem aria-labelledby="problem-title" {
                h1 #problem-title { (title) }
                p.detail { (self.detail) }
                @if let Some(hint) = &self.hint { p.hint { (hint) } }
                p { a href="/" { "Back to the overview" } }
            }
        };
        let page = shell(&Shell::new(title.clone(), "error", ""), body);
        (self.status, page).into_response()
    }
}

pub(crate) type PageResult<T> = Result<T, PageError>;

/// A wave's or build's number from its path (`12`, or `w12`/`b12` as pages write them).
pub(crate) fn parse_id(path: Result<Path<String>, PathRejection>, what: &str) -> PageResult<u64> {
    let Path(text) = path.map_err(|e| PageError::bad_request(e.body_text()))?;
    let digits = text
        .strip_prefix(what.chars().next().unwrap_or('x'))
        .unwrap_or(&text);
    digits.parse().map_err(|_| {
        PageError::bad_request(format!("`{text}` is not a {what} number"))
            .with_hint("numbers are as the API gives them: /waves/12, /builds/34")
    })
}

/// A page handler panicked: the page says so, the log has it.
pub(crate) fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a dashboard page handler panicked; this is a bug in Factory");
    PageError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        detail: "the server failed while drawing this page; this is a bug in Factory".into(),
        hint: Some("the server's log has the details".into()),
    }
    .into_response()
}
