//! Importers of real distribution metadata into typed records: Debian
//! archive indexes (`Packages`, `Sources`), RPM spec files (evaluated by
//! `rpmspec`) and modulemd v2 documents.

// A library reports through its return values; printing is for the binary to decide.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod arch;
pub mod compress;
pub mod deb822;
pub mod debian;
pub mod error;
pub mod modulemd;
pub mod relation;
pub mod resolve;
pub mod rpm;
pub mod version;

pub use error::ImportError;
