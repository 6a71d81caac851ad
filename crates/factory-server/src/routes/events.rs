//! The event log over HTTP: pages of history by cursor, and the live stream (Server-Sent
//! Events, resumable with `Last-Event-ID`, which is the sequence number).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use factory_store::{BuildId, Seq};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::{Json, Query};
use crate::hub::{Subscription, topic_matches};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::wire::{EventOut, EventPage};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this sequence number (the previous page's `next_after`).
    pub after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only topics matching this pattern; `*` matches anything (`build.*`).
    pub topic: Option<String>,
    /// Only events about this build.
    pub build: Option<u64>,
}

/// Most events scanned for one filtered page, so a filter that matches little cannot make
/// one request read the whole log: the page then ends early, with a cursor to go on from.
const SCAN_LIMIT: u32 = 20_000;

/// The event log, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, body = EventPage),
        (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Json<EventPage>> {
    let limit = crate::extract::page_limit(query.limit, 100)?;
    crate::extract::seq_param(query.build, "build")?;
    let db = state.store().db();
    let last_seq = db.last_seq().await?.0;
    let mut cursor = crate::extract::seq_param(query.after, "after")?.unwrap_or(0);
    let mut events = Vec::new();
    let mut scanned = 0u32;
    while events.len() < limit && scanned < SCAN_LIMIT && cursor < last_seq {
        let page = db.events_since(Seq(cursor), 1000).await?;
        let Some(last) = page.last() else { break };
        scanned += page.len() as u32;
        for recorded in &page {
            cursor = recorded.seq.0;
            if matches(&query, recorded) {
                events.push(EventOut::from(recorded));
                if events.len() == limit {
                    break;
                }
            }
        }
        if events.len() < limit {
            cursor = last.seq.0;
        }
    }
    let next_after = (cursor < last_seq).then_some(cursor);
    Ok(Json(EventPage {
        events,
        next_after,
        last_seq,
    }))
}

fn matches(query: &EventsQuery, recorded: &factory_store::RecordedEvent) -> bool {
    // A build's id is the sequence number of the event that queued it.
    let queued_it = query.build == Some(recorded.seq.0) && recorded.event.kind() == "build_queued";
    if let Some(build) = query.build
        && recorded.event.build() != Some(BuildId(build))
        && !queued_it
    {
        return false;
    }
    match &query.topic {
        Some(pattern) => topic_matches(pattern, &crate::wire::topic(recorded.event.kind())),
        None => true,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start after this sequence number (`Last-Event-ID` wins when both are given).
    pub after: Option<u64>,
    /// Only topics matching this pattern; `*` matches anything.
    pub topic: Option<String>,
}

/// Every event as it is committed, as Server-Sent Events: `id` is the sequence number,
/// `event` the topic, `data` the event as `/api/v1/events` gives it. Reconnect with
/// `Last-Event-ID` to go on where the connection broke; nothing is skipped.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream", body = crate::wire::SseMessage),
        (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be a sequence number")
                    .with_hint("send back the `id` of the last event received")
            })?,
        None => match crate::extract::seq_param(query.after, "after")? {
            Some(after) => after,
            None => state.store().db().last_seq().await?.0,
        },
    };
    let subscription = state.inner.hub.subscribe(state.store().backend(), after);
    let clients = ClientCount::new(state.clone());
    let frames = futures_util::stream::unfold(
        (subscription, clients, query.topic),
        |(mut subscription, clients, pattern)| async move {
            let chunk = next_chunk(&mut subscription, pattern.as_deref()).await?;
            Some((Ok::<_, Infallible>(chunk), (subscription, clients, pattern)))
        },
    );
    // Ends with the server, so a graceful shutdown does not wait for clients to leave.
    let frames = frames.take_until(state.inner.shutdown.clone().cancelled_owned());
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// A comment line after this long without an event, so proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The next piece of a client's stream: the frames of every event that is ready (encoded
/// once by the hub), or a keep-alive comment; `None` when the log cannot be read.
async fn next_chunk(subscription: &mut Subscription, pattern: Option<&str>) -> Option<Bytes> {
    let wanted = |topic: &str| pattern.is_none_or(|p| topic_matches(p, topic));
    match tokio::time::timeout(KEEP_ALIVE, subscription.next_chunk(&wanted)).await {
        Err(_) => Some(Bytes::from_static(b":\n\n")),
        Ok(Ok(chunk)) => Some(chunk),
        Ok(Err(error)) => {
            tracing::warn!(%error, "event stream: the log cannot be read");
            None
        }
    }
}

/// Counts a connected stream client while it lives.
struct ClientCount(AppState);

impl ClientCount {
    fn new(state: AppState) -> ClientCount {
        state.metrics().sse_clients().inc();
        ClientCount(state)
    }
}

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.metrics().sse_clients().dec();
    }
}
