//! The dashboard's stylesheet and script, compiled into the binary (no bundler, no
//! network: the dashboard works on a machine that reaches nothing). Their URLs carry a
//! hash of their bytes, so a browser may keep them for good and still never runs an old
//! script against a new server.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::PageError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_str!("../../assets/dashboard.css"),
    },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_str!("../../assets/dashboard.js"),
    },
];

/// FNV-1a of each asset, as 16 hex digits: a version, not a security measure.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in asset.bytes.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{hash:016x}")
        })
        .collect()
});

/// Where a page links `name` from.
pub(crate) fn url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/assets/{name}?v={}", VERSIONS[i]),
        None => format!("/assets/{name}"),
    }
}

pub(crate) async fn serve(
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return PageError::not_found(format!("no asset named `{name}`")).into_response();
    };
    let asset = &ASSETS[i];
    let etag = format!("\"{}\"", VERSIONS[i]);
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches {
        return (StatusCode::NOT_MODIFIED, [cache, (header::ETAG, etag)]).into_response();
    }
    let content_type = HeaderValue::from_static(asset.content_type);
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::ETAG, etag),
            cache,
        ],
        asset.bytes,
    )
        .into_response()
}
