//! Factory as a service: the HTTP API (`/api/v1`), the live event stream, health and
//! metrics, served from the same process that builds (`factory up`) or over a finished
//! store (`factory demo --serve`).
//!
//! - [`routes`]: the handlers, by audience; [`wire`]: their JSON, apart from the domain.
//! - [`problem`]: every error as `application/problem+json`, its status from the fault.
//! - [`hub`]: one follower of the event log, fanned out to every live client.
//! - [`metrics`]: what `/metrics` exports.
//! - [`openapi`]: the API's description, generated from the handlers.
//! - `dashboard`: the live web pages at `/`, over the same projections.
//!
//! Invariant: the server never writes the store itself except through the engine's
//! [`factory_engine::Control`] (waves) and the token and decision records; a read never
//! scans the event log except to page through it.

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod auth;
mod dashboard;
mod extract;
pub mod hub;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
mod server;
mod state;
pub mod wire;

pub use routes::webhooks::WebhookSecrets;
pub use server::{Server, ServerConfig, ServerError, Services};
pub use state::AppState;
