//! Downloading a blob (an output, an artifact) by its digest. The digest is the `ETag`, so
//! a client that has it gets `304`; one range is served as `206`. A blob is checked against
//! its digest as it is sent: if the stored bytes were damaged, the transfer is cut off
//! rather than completed with wrong content.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use factory_types::{Digest, Hasher};
use tokio::sync::mpsc;

use crate::extract::Path;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

const CHUNK: usize = 64 * 1024;

/// The path of a blob: its digest (described for the API's schema; the handler parses it).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BlobPath {
    /// `sha256:` and 64 hex digits (the prefix may be left out).
    #[param(pattern = "^(sha256:)?[0-9a-fA-F]{64}$")]
    pub digest: String,
}

/// A blob's bytes.
#[utoipa::path(get, path = "/api/v1/blobs/{digest}", tag = "artifacts",
    params(BlobPath,
        ("Range" = Option<String>, Header, description = "One range: `bytes=START-END`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag the client has")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "The client's copy is this blob"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 416, body = Problem, content_type = "application/problem+json")))]
pub async fn blob(
    State(state): State<AppState>,
    Path(text): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let digest = Digest::parse_lenient(&text).map_err(|e| {
        ApiError::bad_request(e.to_string()).with_hint("name a blob by `sha256:` and 64 hex digits")
    })?;
    let etag = format!("\"{digest}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    if !state.store().contains(&digest).await? {
        return Err(
            ApiError::not_found(format!("no blob {digest} in the store"))
                .with_hint("a build's outputs and artifacts name their digests"),
        );
    }
    let reader = state.store().open_blob(&digest).await?;
    // A range in another unit (or no unit) is ignored and the whole blob sent, as RFC 9110
    // §14.2 asks of units a server does not understand.
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|r| r.trim_start().starts_with("bytes="));
    let mut response = match range {
        Some(range) => ranged(reader, digest, range).await?,
        None => streamed(reader, digest),
    };
    let is_blob = response.status().is_success();
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if is_blob {
        let octets = HeaderValue::from_static("application/octet-stream");
        response_headers.insert(header::CONTENT_TYPE, octets);
    }
    Ok(response)
}

/// The whole blob, read on a blocking thread and hashed on the way; a mismatch at the end
/// ends the body with an error, so the client sees a broken transfer, not a good one.
fn streamed(mut reader: Box<dyn Read + Send>, digest: Digest) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    // Not awaited: the body's stream ends when the blocking work does.
    tokio::spawn(factory_types::blocking("sending a blob", move || {
        let mut hasher = Hasher::default();
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buffer[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(error) => {
                    let _ = tx.blocking_send(Err(error));
                    return;
                }
            }
        }
        if hasher.finish() != digest {
            tracing::error!(%digest, "a stored blob does not match its digest");
            let damaged = std::io::Error::other(format!("the stored blob {digest} is damaged"));
            let _ = tx.blocking_send(Err(damaged));
        }
    }));
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (StatusCode::OK, body).into_response()
}

/// One range of the blob. The blob is read whole (and checked) to know its size.
async fn ranged(
    mut reader: Box<dyn Read + Send>,
    digest: Digest,
    range: &str,
) -> ApiResult<Response> {
    let bytes = factory_types::blocking("reading a blob", move || {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    })
    .await
    .map_err(|e| ApiError::from_fault(&e))?
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("reading {digest}: {e}"),
        )
    })?;
    if Digest::of(&bytes) != digest {
        tracing::error!(%digest, "a stored blob does not match its digest");
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "damaged-blob",
            format!("the stored blob {digest} does not match its digest"),
        ));
    }
    let size = bytes.len() as u64;
    let Some((start, end)) = parse_range(range, size) else {
        let problem = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad-range",
            format!("cannot serve `{range}` of a blob of {size} bytes"),
        )
        .with_hint("one range, `bytes=START-END`, `bytes=START-` or `bytes=-LENGTH`");
        let mut response = problem.into_response();
        let unsatisfied = HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii");
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, unsatisfied);
        return Ok(response);
    };
    let part = bytes[start as usize..=end as usize].to_vec();
    let content_range = format!("bytes {start}-{end}/{size}");
    Ok((
        StatusCode::PARTIAL_CONTENT,
        [(header::CONTENT_RANGE, content_range)],
        part,
    )
        .into_response())
}

/// One byte range of a `size`-byte body, inclusive (RFC 9110 §14.1.2); None if it cannot
/// be served.
fn parse_range(text: &str, size: u64) -> Option<(u64, u64)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let length: u64 = last.parse().ok()?;
        if length == 0 {
            return None;
        }
        return Some((size.saturating_sub(length), size - 1));
    }
    let start: u64 = first.parse().ok()?;
    let end = if last.is_empty() {
        size - 1
    } else {
        last.parse::<u64>().ok()?.min(size - 1)
    };
    (start <= end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=-0", 100), None);
    }
}
