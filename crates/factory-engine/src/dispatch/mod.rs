//! Running a wave: a synchronous state machine that decides ([`state`]) and a thin driver
//! that waits and carries out ([`driver`]).

pub(crate) mod driver;
pub(crate) mod state;
