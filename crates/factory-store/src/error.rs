//! Typed errors of the store. Every error that touches the file system names the path.

use std::path::PathBuf;

use factory_types::{DigestError, Fault, HasFault, Seq};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation failed (other than running out of space).
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The disk (or quota) is full. Nothing partial was left behind.
    #[error(
        "no space left while trying to {op} `{}`; free some space (e.g. `factory gc`) and retry",
        path.display()
    )]
    DiskFull {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The database reported an error.
    #[error("database `{}`: {source}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    /// Applying the schema migrations failed (e.g. the database was written by a newer Factory).
    #[error(
        "migrating database `{}`: {source} (if a newer Factory wrote it, upgrade Factory)",
        path.display()
    )]
    Migration {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// An event that cannot be appended because it contradicts the current state
    /// (unknown build, a transition out of a finished state, ...). Nothing of the
    /// request that contained it was written.
    #[error("rejected event `{kind}`: {reason}")]
    InvalidEvent { kind: &'static str, reason: String },

    /// No build has this id.
    #[error("build {build} does not exist; `factory status` lists builds")]
    UnknownBuild { build: factory_types::BuildId },

    /// A stored event could not be decoded.
    #[error("event #{seq} (`{kind}`, schema v{schema_version}) cannot be decoded: {reason}")]
    CorruptEvent {
        seq: Seq,
        kind: String,
        schema_version: u32,
        reason: String,
    },

    /// A stored event was written by a newer Factory.
    #[error(
        "event #{seq} has schema v{found}, this Factory understands up to v{supported}; upgrade Factory"
    )]
    FutureSchema {
        seq: Seq,
        found: u32,
        supported: u32,
    },

    /// A projection row could not be decoded.
    #[error("projection `{table}` row {id}: {reason}")]
    CorruptProjection {
        table: &'static str,
        id: String,
        reason: String,
    },

    /// A row of the token table could not be decoded.
    #[error("token row {id} cannot be read: {reason}")]
    CorruptToken { id: i64, reason: String },

    /// Text that should be a digest is not one.
    #[error("invalid digest `{text}`: expected `sha256:` followed by 64 lowercase hex digits")]
    InvalidDigest { text: String },

    /// A blob is missing from the content-addressed store.
    #[error("blob {digest} is not in the store (expected at `{}`)", path.display())]
    BlobMissing { digest: String, path: PathBuf },

    /// A blob's content does not match its digest (bit rot or tampering).
    #[error("blob `{}` is corrupt: expected {expected}, content hashes to {actual}", path.display())]
    BlobCorrupt {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// The background writer is gone (the store is shutting down or it panicked).
    #[error("the event writer of `{}` has stopped", path.display())]
    WriterStopped { path: PathBuf },

    /// An active API token already has this name (a revoked one does not count).
    #[error(
        "an active token named `{name}` already exists; revoke it first or choose another name"
    )]
    TokenExists { name: String },

    /// A new token's name or one of its owners is not a name the store accepts.
    #[error("token {what} `{text}` is refused: {reason}; names are non-empty, without whitespace")]
    InvalidTokenName {
        /// `name` or `owner`.
        what: &'static str,
        text: String,
        reason: &'static str,
    },

    /// The hash given for a new token is already that of a token (active or revoked): the
    /// caller handed in a token it had used before instead of generating a fresh one.
    #[error(
        "the token given for `{name}` was issued before (as `{existing}`); a new token must be generated, never reused"
    )]
    TokenReused { name: String, existing: String },

    /// A cursor's name is empty or holds whitespace.
    #[error("cursor name `{name}` is refused: names are non-empty, without whitespace")]
    InvalidCursorName { name: String },

    /// The store's identity is missing or malformed (the database was damaged).
    #[error("the store's identity cannot be read: {reason}")]
    CorruptIdentity { reason: String },
}

impl StoreError {
    /// Classify an I/O error: running out of space gets its own variant so callers can act on it.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if factory_types::disk::is_out_of_space_io(&source) {
            StoreError::DiskFull { op, path, source }
        } else {
            StoreError::Io { op, path, source }
        }
    }

    /// True for errors that come from the machine (disk, I/O), not from the request.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            StoreError::Io { .. }
                | StoreError::DiskFull { .. }
                | StoreError::Database { .. }
                | StoreError::WriterStopped { .. }
        )
    }
}

impl HasFault for StoreError {
    /// The machine's state (I/O, a full disk, the database, data damaged on disk, a store
    /// written by a newer Factory) is the environment's fault; a wrong name or digest, or a
    /// token name already taken, is the input's; an event the store refuses, or a token
    /// reused instead of generated, is a bug in whoever handed it over.
    fn fault(&self) -> Fault {
        match self {
            StoreError::UnknownBuild { .. }
            | StoreError::InvalidDigest { .. }
            | StoreError::TokenExists { .. }
            | StoreError::InvalidTokenName { .. }
            | StoreError::InvalidCursorName { .. } => Fault::Input,
            StoreError::InvalidEvent { .. } | StoreError::TokenReused { .. } => Fault::Factory,
            StoreError::Io { .. }
            | StoreError::DiskFull { .. }
            | StoreError::Database { .. }
            | StoreError::Migration { .. }
            | StoreError::CorruptEvent { .. }
            | StoreError::FutureSchema { .. }
            | StoreError::CorruptProjection { .. }
            | StoreError::CorruptToken { .. }
            | StoreError::CorruptIdentity { .. }
            | StoreError::BlobMissing { .. }
            | StoreError::BlobCorrupt { .. }
            | StoreError::WriterStopped { .. } => Fault::Environment,
        }
    }
}

impl From<DigestError> for StoreError {
    fn from(error: DigestError) -> Self {
        StoreError::InvalidDigest { text: error.text }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
