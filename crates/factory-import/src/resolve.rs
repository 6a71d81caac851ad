//! Every importer's records fed into the one graph. Each submodule resolves
//! names with its own format's rules, so the graph stays format-neutral.

pub mod debian;
pub mod definition;
pub mod modulemd;
pub mod rpm;

pub use debian::{DebianReport, DebianTarget, add_debian};
pub use definition::{DefinitionReport, add_definition};
pub use modulemd::{ModulemdReport, add_modulemd};
pub use rpm::{RpmReport, add_rpm};
