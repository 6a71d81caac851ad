//! The routes, by audience: reading the factory ([`read`]), its events ([`events`]) and
//! blobs ([`blobs`]), why things are as they are ([`why`]), operating it ([`health`]),
//! and changing it ([`actions`], and forges' pushes: [`webhooks`]); product streams and their
//! releases ([`releases`]); the bus messages'
//! schemas ([`schemas`]) and their history as datagrepper serves it ([`datagrepper`]).

pub mod actions;
pub mod blobs;
pub mod datagrepper;
pub mod events;
pub mod health;
pub mod read;
pub mod releases;
pub mod schemas;
pub mod webhooks;
pub mod why;
