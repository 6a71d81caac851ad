//! The routes, by audience: reading the factory ([`read`]), its events ([`events`]) and
//! blobs ([`blobs`]), why things are as they are ([`why`]), operating it ([`health`]), and changing it ([`actions`], and forges' pushes:
//! [`webhooks`]).

pub mod actions;
pub mod blobs;
pub mod events;
pub mod health;
pub mod read;
pub mod webhooks;
pub mod why;
