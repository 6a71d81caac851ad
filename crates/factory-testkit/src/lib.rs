//! The harness of the `factory` binary's integration tests.
//!
//! A [`TestContext`] is a temporary directory with a store and a definition directory in it,
//! and the path of the binary under test: Cargo tells that path only to the binary's own
//! tests (`env!("CARGO_BIN_EXE_factory")`), so they hand it over. The context runs the real
//! binary against its store ([`FactoryCommand`]) and filters what it printed
//! ([`TestContext::filter`]) so a snapshot holds only what a change to the code can change.

mod command;
mod context;
mod files;
mod filter;
mod process;
mod served;
mod snapshot;
mod store;

pub use command::{FactoryCommand, Outcome, ok, run};
pub use context::TestContext;
pub use files::{command_component, write};
pub use filter::Filters;
pub use process::{interrupt, watching};
pub use served::Served;
pub use snapshot::{snapshot_settings, sort_build_entries};
pub use store::{block_on, hook_cursors, stored_blobs};

/// insta itself, for [`assert_filtered_snapshot!`], which expands in the tests' crate.
pub use insta;
