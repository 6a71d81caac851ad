//! Factory's signing: the build key and the release key, and what they sign.
//!
//! - [`Keys`]: the key directory of a store (`STORE/keys/`): `init`, `list`, `rotate`,
//!   `export`, `expiring`, and a [`Signer`] for a role's active key (its private part from
//!   the store, or from a file handed in with [`Keys::signer_from_file`]).
//! - [`Signer`]: OpenPGP detached signatures (binary or armored) and clearsigned text,
//!   dated by the injectable clock: apt's `Release.gpg` and `InRelease`.
//! - [`image_signature`], [`write_signed_image`]: container image signatures that skopeo
//!   verifies with a `signedBy` policy, published as a `dir:` layout.
//! - [`Provenance`], [`attest`]: an in-toto Statement with a SLSA provenance predicate,
//!   signed in a DSSE envelope; [`jsonl`] for `.intoto.jsonl` files.
//!
//! Private keys never leave this crate except as the files it writes: no type here prints
//! one, and no error names one.

#![warn(clippy::print_stdout, clippy::print_stderr)]

mod dsse;
mod error;
mod files;
mod image;
mod keys;
mod list;
mod openpgp;
mod provenance;
mod signer;
mod time;

pub use dsse::{
    BUILD_KEY_PARAMETER, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, attest, jsonl, pae,
};
pub use error::SignError;
pub use image::{
    SignedImage, check_reference, image_signature, signature_payload, write_signed_image,
};
pub use keys::{
    DEFAULT_VALIDITY, InitSettings, KeyInfo, KeySettings, KeyState, Keys, Role, SecretPlace,
    SecretTarget,
};
pub use provenance::{
    Builder, Dependency, Parameter, Provenance, SLSA_PROVENANCE_V1, STATEMENT_TYPE, Subject,
    statement,
};
pub use signer::{Encoding, Signer};
pub use time::rfc3339;
