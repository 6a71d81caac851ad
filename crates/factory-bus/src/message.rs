//! One event as a fedora-messaging message: its id, routing key, headers and body, and the
//! serialized form (`fedora-messaging record`'s lines, datagrepper's `/v2/id`).
//!
//! What the stock tools expect is in `docs/events.md` ("The wire format"); in short: the
//! properties `content_type`, `content_encoding`, `delivery_mode` and `message_id` and
//! nothing else, the headers `fedora_messaging_schema`, `fedora_messaging_schema_package`,
//! `fedora_messaging_severity`, `sent-at` and `priority`, and a JSON object as the body.

use factory_store::{Event, RecordedEvent, Seq};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use crate::wire::Body;

/// The schema name in `fedora_messaging_schema`. Factory ships no Python schema package, so
/// it names the base message, which every consumer can load: a name of our own would make
/// each consumer warn that it is not in its registry and fall back to the base anyway.
pub const SCHEMA: &str = "base.message";
/// The distribution that provides [`SCHEMA`] (`fedora_messaging_schema_package`), as
/// fedora-messaging itself sends it for the base message.
pub const SCHEMA_PACKAGE: &str = "fedora_messaging";
/// The default routing key prefix: a message's topic is `factory.build.succeeded`.
pub const DEFAULT_PREFIX: &str = "factory";
/// The default exchange, where fedora-messaging publishes and binds.
pub const DEFAULT_EXCHANGE: &str = "amq.topic";

/// fedora-messaging's levels (`fedora_messaging_severity`); consumers drop any other value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Debug = 10,
    Info = 20,
    Warning = 30,
    Error = 40,
}

impl Severity {
    /// Chosen by topic, so a consumer can filter on it without reading bodies: a build's log
    /// lines are noise to a notification service (debug); a build that will not run because
    /// its dependency failed wants a look (warning); a failed build is what someone must act
    /// on (error); everything else is information.
    pub fn of(event: &Event) -> Severity {
        match event {
            Event::BuildLog { .. } => Severity::Debug,
            Event::BuildBlocked { .. } | Event::StreamEol { .. } => Severity::Warning,
            Event::BuildFailed { .. } => Severity::Error,
            _ => Severity::Info,
        }
    }

    pub fn level(self) -> i32 {
        self as i32
    }
}

/// The message id of the event at `seq` of the store with `identity`.
///
/// fedora-messaging makes a random UUID4 per message. Factory's are UUID version 8 (the
/// layout is ours): the first 64 bits are the store's identity, the last 64 the sequence
/// number. Deterministic, so an event published again after a crash or a lost confirm
/// carries the id it had and consumers that deduplicate by id see one message; unique
/// across stores publishing to one broker; and datagrepper's `/v2/id` finds the event from
/// the id alone, without an index of ids. Sequence numbers stay far below the 2^62 the
/// layout leaves them (SQLite's are 63-bit, one per event).
pub fn message_id(identity: &[u8; 16], seq: Seq) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&identity[..8]);
    bytes[8..].copy_from_slice(&seq.0.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The sequence number a [`message_id`] of this store names; None for an id of another
/// store or not made by [`message_id`].
pub fn seq_of_message_id(identity: &[u8; 16], id: &Uuid) -> Option<Seq> {
    if id.get_version_num() != 8 {
        return None;
    }
    let bytes = id.as_bytes();
    let ours = message_id(identity, Seq(0));
    // The version nibble and the variant bits overwrote part of what was put in; compare
    // what is left of the identity, and take the sequence number without the variant.
    if bytes[..8] != ours.as_bytes()[..8] {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[8..]);
    Some(Seq(u64::from_be_bytes(seq) & 0x3fff_ffff_ffff_ffff))
}

/// `sent-at` as fedora-messaging writes it: UTC, whole seconds, `+00:00`.
pub fn sent_at(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// One event, ready to publish.
#[derive(Debug, Clone)]
pub struct Message {
    pub seq: Seq,
    pub id: Uuid,
    /// `PREFIX.TOPIC`.
    pub routing_key: String,
    pub severity: Severity,
    /// The time the event was committed, not the time of publishing: a message published
    /// again after a crash, and datagrepper's copy of it, are then the same message byte for
    /// byte (fedora-messaging stamps the time its object was made, which for a live
    /// publisher is nearly the same).
    pub sent_at: String,
    /// The JSON of the [`Body`].
    pub body: Vec<u8>,
}

impl Message {
    /// The headers as JSON, in the serialized form.
    pub fn headers(&self) -> Value {
        json!({
            "fedora_messaging_schema": SCHEMA,
            "fedora_messaging_schema_package": SCHEMA_PACKAGE,
            "fedora_messaging_severity": self.severity.level(),
            "priority": 0,
            "sent-at": self.sent_at,
        })
    }

    /// The form `fedora-messaging record` writes and datagrepper serves (`/v2/id`): body,
    /// headers, id, priority, queue (none: it was not received from one) and topic.
    pub fn serialized(&self) -> Value {
        json!({
            "body": serde_json::from_slice::<Value>(&self.body).unwrap_or(Value::Null),
            "headers": self.headers(),
            "id": self.id.to_string(),
            "priority": 0,
            "queue": null,
            "topic": self.routing_key,
        })
    }
}

/// Makes the messages of one store for one prefix.
#[derive(Debug, Clone)]
pub struct Encoder {
    identity: [u8; 16],
    prefix: String,
}

impl Encoder {
    pub fn new(identity: [u8; 16], prefix: &str) -> Encoder {
        Encoder {
            identity,
            prefix: prefix.to_owned(),
        }
    }

    pub fn identity(&self) -> &[u8; 16] {
        &self.identity
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `PREFIX.TOPIC`, or the bare topic for an empty prefix.
    pub fn routing_key(&self, topic: &str) -> String {
        if self.prefix.is_empty() {
            topic.to_owned()
        } else {
            format!("{}.{topic}", self.prefix)
        }
    }

    pub fn encode(&self, recorded: &RecordedEvent) -> Message {
        let body = Body::from_recorded(recorded);
        Message {
            seq: recorded.seq,
            id: message_id(&self.identity, recorded.seq),
            routing_key: self.routing_key(&body.topic),
            severity: Severity::of(&recorded.event),
            sent_at: sent_at(recorded.recorded_at_ms),
            body: serde_json::to_vec(&body).expect("bodies serialize to JSON"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_deterministic_and_name_their_event() {
        let store = [7u8; 16];
        let other = [9u8; 16];
        let id = message_id(&store, Seq(12_345));
        assert_eq!(id, message_id(&store, Seq(12_345)));
        assert_ne!(id, message_id(&store, Seq(12_346)));
        assert_ne!(id, message_id(&other, Seq(12_345)));
        assert_eq!(id.get_version_num(), 8);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(seq_of_message_id(&store, &id), Some(Seq(12_345)));
        assert_eq!(seq_of_message_id(&other, &id), None);
        let random = Uuid::parse_str("c0b4b5e0-6a3e-4b8e-9f4a-2d7f5e1c3a90").unwrap();
        assert_eq!(seq_of_message_id(&store, &random), None);
        let last = message_id(&store, Seq((1 << 62) - 1));
        assert_eq!(seq_of_message_id(&store, &last), Some(Seq((1 << 62) - 1)));
    }

    #[test]
    fn sent_at_is_whole_seconds_with_an_offset() {
        assert_eq!(sent_at(1_796_278_495_999), "2026-12-03T06:14:55+00:00");
        assert_eq!(sent_at(0), "1970-01-01T00:00:00+00:00");
    }
}
