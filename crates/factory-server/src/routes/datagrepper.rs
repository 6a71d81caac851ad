//! The bus's history as datagrepper serves Fedora's: `/datagrepper/raw` and
//! `/datagrepper/v2/search` (a page of messages, filtered), `/datagrepper/v2/id` (one message
//! by its id), with datagrepper's parameter names and response shapes, and each message in
//! the serialized form the bus carries, with the id it was published with, so tools written
//! for datagrepper (`fedora-messaging reconsume --datagrepper-url`) work against a factory.
//!
//! The history is the event log itself: every event is a message, whether or not a relay
//! published it yet. Errors are answered the way datagrepper answers them (`{"error": ...}`),
//! not as problem documents: its clients read those.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use factory_bus::{Encoder, Message};
use factory_store::{RecordedEvent, Seq};
use serde_json::{Value, json};

use crate::state::AppState;

/// Marks a response whose error body is datagrepper's, which the server's layers leave alone.
#[derive(Debug, Clone, Copy)]
pub struct OwnErrors;

/// The routes, to nest at `/datagrepper`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/raw", get(raw))
        .route("/v2/search", get(search))
        .route("/v2/id", get(by_id))
}

/// datagrepper's limit on a page.
const MAX_ROWS: u64 = 100;
const DEFAULT_ROWS: u64 = 25;
/// Events read from the log at once while searching.
const SCAN_PAGE: u32 = 2_000;

/// A datagrepper error: its status and `{"error": ..., "detail": ...}`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "detail": self.detail});
        let mut response = (self.status, axum::Json(body)).into_response();
        response.extensions_mut().insert(OwnErrors);
        response
    }
}

fn error(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        detail: detail.into(),
    }
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "datagrepper: the store failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        e.to_string(),
    )
}

async fn encoder(state: &AppState) -> Result<Encoder, Refusal> {
    let identity = state
        .store()
        .db()
        .store_identity()
        .await
        .map_err(unavailable)?;
    let prefix = state
        .inner
        .relay
        .as_ref()
        .map_or(factory_bus::message::DEFAULT_PREFIX, |r| r.prefix.as_str());
    Ok(Encoder::new(identity, prefix))
}

/// The query's pairs, in order, repeated names kept.
fn pairs(query: Option<String>) -> Result<Vec<(String, String)>, Refusal> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string()))
}

/// One message by id: `/v2/id?id=UUID` (`is_raw` is accepted and changes nothing: the
/// serialized form is what `fedora-messaging reconsume` and `replay` load).
async fn by_id(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let pairs = pairs(query)?;
        let id = pairs
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_argument",
                    "id is required",
                )
            })?;
        let encoder = encoder(&state).await?;
        let not_found = || {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no message {id}"),
            )
        };
        let uuid = uuid::Uuid::parse_str(&id).map_err(|_| not_found())?;
        let seq =
            factory_bus::seq_of_message_id(encoder.identity(), &uuid).ok_or_else(not_found)?;
        let event = event_at(&state, seq).await?.ok_or_else(not_found)?;
        Ok::<_, Refusal>(axum::Json(encoder.encode(&event).serialized()).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn event_at(state: &AppState, seq: Seq) -> Result<Option<RecordedEvent>, Refusal> {
    if seq.0 == 0 {
        return Ok(None);
    }
    let page = state
        .store()
        .db()
        .events_since(Seq(seq.0 - 1), 1)
        .await
        .map_err(unavailable)?;
    Ok(page.into_iter().find(|e| e.seq == seq))
}

/// `/v2/search`: messages in the serialized form.
async fn search(state: State<AppState>, query: RawQuery) -> Response {
    page(state, query, Shape::Serialized).await
}

/// `/raw`: the same search, messages in the legacy fedmsg shape.
async fn raw(state: State<AppState>, query: RawQuery) -> Response {
    page(state, query, Shape::Legacy).await
}

#[derive(Clone, Copy)]
enum Shape {
    Serialized,
    Legacy,
}

async fn page(State(state): State<AppState>, RawQuery(query): RawQuery, shape: Shape) -> Response {
    let result = async {
        let search = Search::parse(&pairs(query)?, now())
            .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid_argument", e))?;
        let encoder = encoder(&state).await?;
        let matches = matching(&state, &encoder, &search).await?;
        let total = matches.len() as u64;
        let pages = total.div_ceil(search.rows_per_page);
        let skip = ((search.page - 1) * search.rows_per_page) as usize;
        let rows = search.rows_per_page as usize;
        let chosen: Vec<Seq> = if search.ascending {
            matches.iter().skip(skip).take(rows).copied().collect()
        } else {
            matches
                .iter()
                .rev()
                .skip(skip)
                .take(rows)
                .copied()
                .collect()
        };
        let mut messages = Vec::new();
        for seq in chosen {
            if let Some(event) = event_at(&state, seq).await? {
                messages.push(shaped(&encoder.encode(&event), &event, shape));
            }
        }
        let body = json!({
            "raw_messages": messages,
            "count": messages.len(),
            "total": total,
            "pages": pages,
            "arguments": search.arguments(),
        });
        Ok::<_, Refusal>(axum::Json(body).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

fn shaped(message: &Message, event: &RecordedEvent, shape: Shape) -> Value {
    match shape {
        Shape::Serialized => message.serialized(),
        Shape::Legacy => {
            let serialized = message.serialized();
            json!({
                "i": event.seq.0,
                "msg_id": message.id.to_string(),
                "topic": message.routing_key,
                "timestamp": event.recorded_at_ms as f64 / 1000.0,
                "msg": serialized["body"],
                "headers": serialized["headers"],
                "username": null,
                "users": [],
                "packages": [],
                "source_name": "factory",
                "source_version": env!("CARGO_PKG_VERSION"),
            })
        }
    }
}

/// The sequence numbers of every matching event, oldest first.
async fn matching(
    state: &AppState,
    encoder: &Encoder,
    search: &Search,
) -> Result<Vec<Seq>, Refusal> {
    let db = state.store().db();
    let mut matches = Vec::new();
    let mut after = Seq(0);
    loop {
        let page = db
            .events_since(after, SCAN_PAGE)
            .await
            .map_err(unavailable)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            if search.matches(encoder, event) {
                matches.push(event.seq);
            }
        }
    }
    Ok(matches)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The filters of one search: OR within a kind, AND across kinds.
#[derive(Debug, Default)]
struct Search {
    start: Option<f64>,
    end: Option<f64>,
    delta: Option<f64>,
    /// By kind (`topic`, `category`, `contains`, `user`, `package`, `agent`): wanted, unwanted.
    filters: std::collections::BTreeMap<&'static str, (Vec<String>, Vec<String>)>,
    page: u64,
    rows_per_page: u64,
    ascending: bool,
}

const KINDS: [&str; 6] = ["user", "package", "category", "topic", "agent", "contains"];

impl Search {
    fn parse(pairs: &[(String, String)], now: f64) -> Result<Search, String> {
        let mut search = Search {
            page: 1,
            rows_per_page: DEFAULT_ROWS,
            ascending: false,
            ..Search::default()
        };
        for kind in KINDS {
            search.filters.insert(kind, Default::default());
        }
        for (name, value) in pairs {
            search.take(name, value)?;
        }
        search.window(now);
        Ok(search)
    }

    /// One parameter; unknown ones are ignored, as datagrepper ignores them.
    fn take(&mut self, name: &str, value: &str) -> Result<(), String> {
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{name} must be a number"))
        };
        match name {
            "start" => self.start = Some(parse_time(value)?),
            "end" => self.end = Some(parse_time(value)?),
            "delta" => {
                self.delta = Some(
                    value
                        .parse()
                        .map_err(|_| "delta must be seconds".to_owned())?,
                )
            }
            "page" => match number(value)? {
                0 => return Err("page must be 1 or more".into()),
                page => self.page = page,
            },
            "rows_per_page" => match number(value)? {
                rows if rows > MAX_ROWS => {
                    return Err(format!("rows_per_page must be <= {MAX_ROWS}"));
                }
                0 => return Err("rows_per_page must be 1 or more".into()),
                rows => self.rows_per_page = rows,
            },
            "order" => match value {
                "asc" => self.ascending = true,
                "desc" => self.ascending = false,
                _ => return Err("order must be asc or desc".into()),
            },
            _ => {
                let (negated, kind) = match name.strip_prefix("not_") {
                    Some(kind) => (true, kind),
                    None => (false, name),
                };
                if let Some((wanted, unwanted)) = self.filters.get_mut(kind) {
                    let list = if negated { unwanted } else { wanted };
                    list.push(value.to_owned());
                }
            }
        }
        Ok(())
    }

    /// datagrepper's rules: start and delta give the end, end and delta the start, a delta
    /// alone the last delta seconds, a start alone up to now.
    fn window(&mut self, now: f64) {
        match (self.start, self.end, self.delta) {
            (Some(start), None, Some(delta)) => self.end = Some(start + delta),
            (None, Some(end), Some(delta)) => self.start = Some(end - delta),
            (None, None, Some(delta)) => {
                self.start = Some(now - delta);
                self.end = Some(now);
            }
            (Some(_), None, None) => self.end = Some(now),
            _ => {}
        }
    }

    fn matches(&self, encoder: &Encoder, event: &RecordedEvent) -> bool {
        let at = event.recorded_at_ms as f64 / 1000.0;
        if self.start.is_some_and(|s| at < s) || self.end.is_some_and(|e| at > e) {
            return false;
        }
        let topic = factory_bus::topic(event.event.kind());
        let routing_key = encoder.routing_key(&topic);
        let category = topic.split('.').next().unwrap_or_default().to_owned();
        let needs_body =
            !self.filters["contains"].0.is_empty() || !self.filters["contains"].1.is_empty();
        let body = if needs_body {
            let message = encoder.encode(event);
            String::from_utf8(message.body).unwrap_or_default()
        } else {
            String::new()
        };
        self.filters.iter().all(|(kind, (wanted, unwanted))| {
            // A message of Factory names no user, package or agent (it is a base message).
            let hit = |value: &String| match *kind {
                "topic" => *value == routing_key,
                "category" => *value == category,
                "contains" => body.contains(value.as_str()),
                _ => false,
            };
            (wanted.is_empty() || wanted.iter().any(hit)) && !unwanted.iter().any(hit)
        })
    }

    /// The parsed arguments, as datagrepper echoes them.
    fn arguments(&self) -> Value {
        let mut arguments = json!({
            "start": self.start,
            "end": self.end,
            "delta": self.delta,
            "page": self.page,
            "rows_per_page": self.rows_per_page,
            "order": if self.ascending { "asc" } else { "desc" },
        });
        for (kind, (wanted, unwanted)) in &self.filters {
            let plural = match *kind {
                "category" => "categories".to_owned(),
                "contains" => "contains".to_owned(),
                kind => format!("{kind}s"),
            };
            arguments[&plural] = json!(wanted);
            arguments[format!("not_{plural}")] = json!(unwanted);
        }
        arguments
    }
}

/// UNIX seconds, or a date (`2026-12-03`, `2026-12-03T12:00:00`, with an offset or without:
/// naive means UTC).
fn parse_time(text: &str) -> Result<f64, String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok(seconds);
    }
    let seconds = |t: time::OffsetDateTime| t.unix_timestamp_nanos() as f64 / 1e9;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(seconds(t));
    }
    let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(text, naive) {
        return Ok(seconds(t.assume_utc()));
    }
    let day = format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(text, day) {
        return Ok(seconds(d.midnight().assume_utc()));
    }
    Err(format!("`{text}` is neither UNIX seconds nor a date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Search {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        Search::parse(&pairs, 1000.0).unwrap()
    }

    #[test]
    fn times_follow_datagreppers_rules() {
        let s = parse("delta=60");
        assert_eq!((s.start, s.end), (Some(940.0), Some(1000.0)));
        let s = parse("start=10&delta=5");
        assert_eq!((s.start, s.end), (Some(10.0), Some(15.0)));
        let s = parse("end=10&delta=5");
        assert_eq!((s.start, s.end), (Some(5.0), Some(10.0)));
        let s = parse("start=10");
        assert_eq!((s.start, s.end), (Some(10.0), Some(1000.0)));
        let s = parse("");
        assert_eq!((s.start, s.end), (None, None));
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400.0);
        assert_eq!(parse_time("1970-01-01T00:01:00").unwrap(), 60.0);
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00").unwrap(), 0.0);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn paging_and_order_are_checked() {
        let s = parse("page=3&rows_per_page=100&order=asc&topic=a&topic=b&not_category=c");
        assert_eq!((s.page, s.rows_per_page, s.ascending), (3, 100, true));
        assert_eq!(s.filters["topic"].0, ["a", "b"]);
        assert_eq!(s.filters["category"].1, ["c"]);
        let args = s.arguments();
        assert_eq!(args["topics"], json!(["a", "b"]));
        assert_eq!(args["not_categories"], json!(["c"]));
        for bad in ["rows_per_page=101", "page=0", "order=up", "start=soon"] {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(bad).unwrap();
            assert!(Search::parse(&pairs, 0.0).is_err(), "{bad}");
        }
    }
}
