//! What can go wrong, each with who is at fault. No message ever carries key material:
//! keys are named by role and fingerprint, files by path.

use std::io;
use std::path::{Path, PathBuf};

use factory_types::{Fault, HasFault};

use crate::Role;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signing keys in {}: `factory keys init` makes the build and release keys", dir.display())]
    NoKeys { dir: PathBuf },
    #[error(
        "the signing keys already exist in {}: `factory keys list` shows them, \
         `factory keys rotate ROLE` replaces one",
        dir.display()
    )]
    AlreadyInitialised { dir: PathBuf },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An error of `fs-err`, which names its path itself.
    #[error("{0}")]
    FileSystem(#[source] io::Error),
    #[error(
        "{}: {reason}; it is written by `factory keys` only: restore it from a backup, or \
         move the key directory away and run `factory keys init` again",
        path.display()
    )]
    CorruptList { path: PathBuf, reason: String },
    #[error("{}: not a usable OpenPGP key: {reason}", path.display())]
    CorruptKey {
        path: PathBuf,
        reason: String,
        /// The environment's for a file of the store, the input's for one handed in.
        fault: Fault,
    },
    #[error(
        "the private part of the {role} key {fingerprint} is missing: {} does not exist; \
         restore it, or `factory keys rotate {role}` to make a new key",
        path.display()
    )]
    MissingSecret {
        role: Role,
        fingerprint: String,
        path: PathBuf,
    },
    #[error(
        "the private part of the {role} key {fingerprint} is kept outside the store: \
         hand its file in (--{role}-key FILE)"
    )]
    SecretElsewhere { role: Role, fingerprint: String },
    #[error(
        "{} holds the key {found}, not the active {role} key {expected}: \
         `factory keys list` shows the active keys",
        path.display()
    )]
    WrongKey {
        path: PathBuf,
        role: Role,
        expected: String,
        found: String,
    },
    #[error(
        "the {role} key {fingerprint} expired at {expired}: nothing it signs would verify; \
         `factory keys rotate {role}` makes a new one"
    )]
    Expired {
        role: Role,
        fingerprint: String,
        expired: String,
    },
    #[error(
        "{} exists already, and a key file is never overwritten: name a new file",
        path.display()
    )]
    WouldOverwrite { path: PathBuf },
    #[error("{0}")]
    BadSettings(String),
    #[error("not a valid image reference `{reference}`: {reason}")]
    BadReference { reference: String, reason: String },
    #[error("{}: not a usable OCI image layout: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },
    #[error("cannot attest: {0}")]
    BadProvenance(String),
    #[error("a clearsigned document must be UTF-8 text: {0}")]
    NotText(#[source] std::str::Utf8Error),
    #[error("OpenPGP {what} failed: {source}")]
    OpenPgp {
        what: &'static str,
        #[source]
        source: pgp::errors::Error,
    },
}

impl SignError {
    /// For `map_err`: an I/O error doing `action` on `path`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SignError {
        let path = path.to_path_buf();
        move |source| SignError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn fs(source: io::Error) -> SignError {
        SignError::FileSystem(source)
    }

    /// For `map_err`: rpgp failed at `what` with a key that loaded, which is a bug here or
    /// there, never the caller's input.
    pub(crate) fn pgp(what: &'static str) -> impl FnOnce(pgp::errors::Error) -> SignError {
        move |source| SignError::OpenPgp { what, source }
    }
}

impl HasFault for SignError {
    fn fault(&self) -> Fault {
        match self {
            SignError::NoKeys { .. }
            | SignError::AlreadyInitialised { .. }
            | SignError::SecretElsewhere { .. }
            | SignError::WrongKey { .. }
            | SignError::Expired { .. }
            | SignError::WouldOverwrite { .. }
            | SignError::BadSettings(_)
            | SignError::BadReference { .. }
            | SignError::BadImage { .. }
            | SignError::BadProvenance(_)
            | SignError::NotText(_) => Fault::Input,
            SignError::Io { .. }
            | SignError::FileSystem(_)
            | SignError::CorruptList { .. }
            | SignError::MissingSecret { .. } => Fault::Environment,
            SignError::CorruptKey { fault, .. } => *fault,
            SignError::OpenPgp { .. } => Fault::Factory,
        }
    }
}
