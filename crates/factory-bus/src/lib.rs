//! Factory's events on a message bus.
//!
//! - [`relay`]: the [`Relay`], which publishes every event of the log to an AMQP exchange in
//!   the fedora-messaging format, at least once and in order, after a durable cursor.
//! - [`message`]: one event as a message: its deterministic id, routing key, headers, and
//!   the serialized form the stock tools and datagrepper use.
//! - [`wire`]: the bodies, one wire type per topic (`/api/v1/events` serves the same).
//! - [`schema`]: every topic with its meaning and generated JSON Schema, and the section of
//!   `docs/events.md` rendered from them.
//!
//! Invariant: the relay only reads the log and writes its cursor; it moves the cursor only
//! over events the broker acknowledged, in sequence order.

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod error;
pub mod message;
pub mod relay;
pub mod schema;
pub mod wire;

pub use error::{BusError, redact};
pub use message::{Encoder, Message, Severity, message_id, seq_of_message_id};
pub use relay::{Relay, RelayConfig, RelayStatus, Stopped};
pub use wire::{Body, Envelope, topic};
