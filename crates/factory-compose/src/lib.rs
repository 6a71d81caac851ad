//! Factory's composes: from a release's content, one immutable directory that real
//! clients use, laid out as pungi lays out a compose:
//!
//! ```text
//! ROOT/DemoOS-1.0-20261203.0/
//!   COMPOSE_ID, STATUS
//!   compose/metadata/      composeinfo.json, images.json, modules.json (productmd)
//!   compose/VARIANT/apt/   a signed apt repository (dists/, pool/, release-key.gpg)
//!   compose/VARIANT/ARCH/images/NAME/         an OCI image layout
//!   compose/VARIANT/ARCH/images/NAME.signed/  the same image as `dir:`, with signatures
//!   compose/VARIANT/modules/NAME-STREAM-VERSION-CONTEXT.modulemd.yaml
//! ```
//!
//! - [`ComposeRequest`] (in `request`): what a compose is made of; the caller fills it
//!   from a release. The crate knows no engine and no store.
//! - [`Signer`]: the release key, brought by the caller (`factory-sign`).
//! - [`write_compose`]: checks everything, writes under a temporary name, syncs, and
//!   renames into place only where no compose of that id exists.
//! - `deb`, `control`: a `.deb`'s control file, read in Rust; `apt`: the repository;
//!   `oci`: image layouts; `modulemd`, `productmd`: the metadata documents.
//!
//! What holds: a compose that exists is complete (the rename is its last step) and never
//! changes; an error leaves nothing behind and says whose fault it is.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod apt;
mod arch;
mod compose;
mod control;
mod deb;
mod error;
mod files;
mod id;
mod modulemd;
mod oci;
mod productmd;
mod request;
mod sign;

pub use apt::{WrittenApt, WrittenPackage};
pub use compose::{WrittenCompose, write_compose};
pub use error::ComposeError;
pub use id::{ComposeId, compose_id, next_respin};
pub use modulemd::{WrittenModule, module_context, module_version};
pub use oci::WrittenImage;
pub use request::{
    AptRepository, BuildOrder, ComposeRequest, ComposeType, DebInput, ImageInput, ModuleComponent,
    ModuleDependencies, ModuleProfile, ModuleStream, Release, ReleaseType,
};
pub use sign::{SignError, Signer};
