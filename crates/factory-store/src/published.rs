//! An event as it leaves the factory: the JSON that the HTTP API pages, the live stream sends,
//! hooks receive (and, later, the bus carries). One function makes it, so every consumer sees
//! the same shape: `seq`, `topic`, `recorded_at`, `build` and the event's own `data`.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::event::{Event, RecordedEvent, WireEvent};

/// One event of the log in its published form.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct PublishedEvent {
    /// Its sequence number: the log's order, and the cursor to page and resume by.
    pub seq: u64,
    /// `build.succeeded`, `wave.planned`, ... (see [`factory_types::topic`]).
    pub topic: String,
    /// When it was committed, RFC 3339 in UTC.
    pub recorded_at: String,
    /// The build it is about. A build's id is the sequence number of the event that queued
    /// it, so a `build.queued` event names itself.
    pub build: Option<u64>,
    /// The event's own fields, as the log stores them.
    pub data: serde_json::Value,
}

impl PublishedEvent {
    pub fn of(recorded: &RecordedEvent) -> PublishedEvent {
        let wire = WireEvent::encode(&recorded.event);
        PublishedEvent {
            seq: recorded.seq.0,
            topic: factory_types::topic::topic(&wire.kind),
            recorded_at: rfc3339(recorded.recorded_at_ms),
            build: match &recorded.event {
                Event::BuildQueued { .. } => Some(recorded.seq.0),
                event => event.build().map(|b| b.0),
            },
            data: serde_json::from_str(&wire.body).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The JSON text, as hooks receive it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a JSON value serializes")
    }
}

/// Milliseconds since the epoch as RFC 3339 in UTC (`2026-12-03T12:50:43.123Z`).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use factory_types::{BuildId, Seq};

    #[test]
    fn a_build_event_names_its_build_and_a_queued_one_itself() {
        let failed = RecordedEvent {
            seq: Seq(12),
            recorded_at_ms: 1_700_000_000_123,
            event: Event::BuildFailed {
                build: BuildId(7),
                reason: "exit 1".into(),
                kind: crate::FailureKind::User,
            },
        };
        let published = PublishedEvent::of(&failed);
        assert_eq!(published.topic, "build.failed");
        assert_eq!(published.build, Some(7));
        assert_eq!(published.recorded_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(published.data["reason"], "exit 1");
        let json: serde_json::Value = serde_json::from_str(&published.to_json()).unwrap();
        assert_eq!(json["seq"], 12);
        assert_eq!(json["data"]["kind"], "user");

        let queued = RecordedEvent {
            seq: Seq(5),
            recorded_at_ms: 0,
            event: Event::BuildQueued {
                wave: None,
                component: "hello".into(),
                key: None,
                reason: "first".into(),
                inputs: Default::default(),
            },
        };
        assert_eq!(PublishedEvent::of(&queued).build, Some(5));
    }
}
