//! Factory's dependency graph: one format-neutral graph fed by every
//! importer and the factory definition, the queries release engineers ask
//! of it (`affected`, `plan`, `trace`, `why`), and its on-disk snapshot.
//!
//! Architecture invariant: nothing here knows a package format. Importers
//! resolve names and versions; the graph only sees resolved clauses.

// A library reports through its return values; printing is for the binary to decide.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod graph;
mod model;
mod plan;
mod query;
mod snapshot;

pub use graph::{Clause, Graph, Unresolved};
pub use model::{EdgeKind, GraphBuilder, NodeId, NodeKey, NodeKind};
pub use plan::{Plan, plan};
pub use query::{Alternatives, Link, Mode, Reverse, affected, downstream, producer, upstream, why};
pub use snapshot::SnapshotError;
