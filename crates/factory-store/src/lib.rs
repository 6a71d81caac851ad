//! Factory's durable state, on the embedded default (SQLite plus a local blob directory).
//!
//! - [`event`]: the domain events and their wire form. The event log is the source of truth.
//! - [`backend`]: the storage interface, split by audience ([`EventLog`], [`EngineQueries`],
//!   [`Views`], [`Maintenance`], [`Tokens`], [`Cursors`]); SQLite is its first implementation, private
//!   to this crate, and a PostgreSQL one goes behind the same traits.
//! - [`cas`]: the blob files.
//! - [`token_hash`]: what the store keeps of an API token ([`Tokens`]).
//! - [`Store`]: all of it in one directory, `<dir>/factory.db` and `<dir>/cas/`; it is also
//!   the [`BlobStore`] that decides where a blob lives (small ones in the database).
//!
//! ```
//! use std::collections::BTreeMap;
//! use factory_store::{BuildId, BuildKey, BuildOutput, Digest, EngineQueries, Event, EventLog, Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), factory_store::StoreError> {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path()).await?;
//! let db = store.db();
//! // A build's id is the sequence number of the event that queued it.
//! let build: BuildId = db
//!     .append_one(Event::BuildQueued {
//!         wave: None,
//!         component: "hello".into(),
//!         key: Some(BuildKey(Digest::of(b"k1"))),
//!         reason: "first build".into(),
//!         inputs: BTreeMap::new(),
//!     })
//!     .await?
//!     .into();
//! let blob = store.cas().put_bytes(b"hello binary")?;
//! db.append(vec![
//!     Event::BuildStarted { build, attempt: 1 },
//!     Event::BuildSucceeded {
//!         build,
//!         outputs: vec![BuildOutput { name: "hello".into(), digest: blob.digest, size: blob.size }],
//!     },
//! ])
//! .await?;
//! // The next time this key comes up, the engine reuses the build instead of running it.
//! let reusable = store.reusable_build(&BuildKey(Digest::of(b"k1"))).await?.unwrap();
//! assert_eq!(reusable.outputs[0].digest, blob.digest);
//! # Ok(())
//! # }
//! ```

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod backend;
pub mod cas;
mod cursors;
pub mod error;
pub mod event;
mod published;
pub mod records;
mod sqlite;
mod store;
mod tokens;

pub use backend::{
    Backend, Cursors, EngineQueries, EventFollower, EventLog, HookState, InlineBlobs, LogFollower,
    Maintenance, Releases, Tokens, Views,
};
pub use cas::{Cas, GcReport, INLINE_LIMIT, InlineBlob, Verify};
pub use error::StoreError;
pub use event::{
    BuildOutput, Event, FailureKind, HookOutcome, RecordedEvent, SCHEMA_VERSION, WireEvent,
};
pub use factory_types::{BlobError, BlobStore, BlobWriter, PendingBlob, PutOutcome};
pub use factory_types::{BuildId, BuildKey, Digest, Hasher, LogStream, Seq, WaveId};
pub use published::rfc3339;
pub use records::{
    ArtifactRecord, BuildRecord, BuildState, ComponentRecord, LogChunk, ReleaseRecord, Scope,
    TokenRecord, WaveRecord, WaveState,
};
pub use store::{CAS_DIR, DATABASE_FILE, Store, StoreOptions};
pub use tokens::token_hash;
