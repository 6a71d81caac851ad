//! Factory's durable state, on the embedded default (SQLite plus a local blob directory).
//!
//! - [`event`]: the domain events and their wire form. The event log is the source of truth.
//! - [`backend`]: the storage interface ([`EventLog`], [`Projections`]), implemented by
//!   [`SqliteStore`]; a PostgreSQL backend can be added behind the same traits.
//! - [`cas`]: the content-addressed blob store.
//! - [`Store`]: both together in one directory, `<dir>/factory.db` and `<dir>/cas/`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use factory_store::{BuildId, BuildKey, BuildOutput, Event, EventLog, Projections, Store};
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
//!         key: BuildKey("k1".into()),
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
//! let reusable = store.reusable_build(&BuildKey("k1".into())).await?.unwrap();
//! assert_eq!(reusable.outputs[0].digest, blob.digest);
//! # Ok(())
//! # }
//! ```

pub mod backend;
pub mod cas;
pub mod digest;
pub mod error;
pub mod event;
pub mod records;
mod sqlite;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use backend::{EventFollower, EventLog, InlineBlobs, LogFollower, Projections};
pub use cas::{
    BlobWriter, Cas, FinishedBlob, GcReport, INLINE_LIMIT, InlineBlob, PutOutcome, Verify,
};
pub use digest::Digest;
pub use error::StoreError;
pub use event::{
    BuildId, BuildKey, BuildOutput, Event, FailureKind, LogStream, RecordedEvent, SCHEMA_VERSION,
    Seq, WaveId, WireEvent,
};
pub use records::{
    ArtifactRecord, BuildRecord, BuildState, ComponentRecord, LogChunk, WaveRecord, WaveState,
};
pub use sqlite::SqliteStore;

/// File name of the database inside the store directory.
pub const DATABASE_FILE: &str = "factory.db";
/// Directory of the content-addressed store inside the store directory.
pub const CAS_DIR: &str = "cas";

/// The store of one factory: the event log with its projections, and the blob store.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    db: SqliteStore,
    cas: Cas,
}

impl Store {
    /// Opens the store in `dir`, creating `dir`, `dir/factory.db` and `dir/cas/` as needed.
    /// Must be called inside a tokio runtime (the event writer runs as a task on it).
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        let cas = Cas::open(&dir.join(CAS_DIR))?;
        let db = SqliteStore::open(&dir.join(DATABASE_FILE)).await?;
        Ok(Store {
            dir: dir.to_owned(),
            db,
            cas,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The event log and the projection queries.
    pub fn db(&self) -> &SqliteStore {
        &self.db
    }

    pub fn cas(&self) -> &Cas {
        &self.cas
    }

    /// A build with this key that succeeded and whose outputs are all still in the blob
    /// store: if there is one, the engine reuses it instead of building.
    pub async fn reusable_build(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError> {
        let Some(build) = self.db.succeeded_build_by_key(key).await? else {
            return Ok(None);
        };
        let digests: Vec<Digest> = build.outputs.iter().map(|o| o.digest).collect();
        Ok(self.contains_all(&digests).await?.then_some(build))
    }

    /// Whether the blob is in the store, as a file or in the database.
    pub async fn contains(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.contains_all(std::slice::from_ref(digest)).await
    }

    /// Whether every one of `digests` is in the store, as a file or in the database.
    pub async fn contains_all(&self, digests: &[Digest]) -> Result<bool, StoreError> {
        let (files, inline) = self.locate(digests).await?;
        Ok(files.len() + inline.len() == digests.len())
    }

    /// Those of `digests` that are in the store, as files or in the database.
    pub async fn present(&self, digests: &[Digest]) -> Result<HashSet<Digest>, StoreError> {
        let (files, inline) = self.locate(digests).await?;
        Ok(files.into_iter().chain(inline).collect())
    }

    /// Where `digests` are kept: (those that are files, those in the database), in order;
    /// one that is in neither is left out. One query for all those that are not files.
    pub async fn locate(
        &self,
        digests: &[Digest],
    ) -> Result<(Vec<Digest>, Vec<Digest>), StoreError> {
        let (files, others): (Vec<Digest>, Vec<Digest>) =
            digests.iter().partition(|d| self.cas.contains(d));
        if others.is_empty() {
            return Ok((files, others));
        }
        let in_database = self.db.inline_blobs_present(&others).await?;
        let inline = others.into_iter().filter(|d| in_database.contains(d));
        Ok((files, inline.collect()))
    }

    /// The content of a blob, wherever it is kept.
    pub async fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send>, StoreError> {
        match self.cas.open_blob(digest) {
            Ok(file) => Ok(Box::new(file)),
            Err(missing @ StoreError::BlobMissing { .. }) => {
                match self.db.inline_blob(digest).await? {
                    Some(bytes) => Ok(Box::new(std::io::Cursor::new(bytes))),
                    None => Err(missing),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Puts the file at `path` in the blob store and records it as an artifact named `name`
    /// of kind `kind` (of `build`, if given). Returns the put outcome and the event's number.
    pub async fn store_artifact(
        &self,
        path: &Path,
        name: &str,
        kind: &str,
        build: Option<BuildId>,
    ) -> Result<(PutOutcome, Seq), StoreError> {
        let cas = self.cas.clone();
        let source = path.to_owned();
        let put = tokio::task::spawn_blocking(move || cas.put_file(&source))
            .await
            .map_err(|e| StoreError::io("store", path, std::io::Error::other(e)))??;
        let seq = self
            .db
            .append_one(Event::ArtifactStored {
                digest: put.digest,
                name: name.to_owned(),
                kind: kind.to_owned(),
                size: put.size,
                build,
            })
            .await?;
        Ok((put, seq))
    }

    /// Removes every blob no live build references (see [`Projections::live_digests`]): the
    /// files older than `min_age` (a build stores its file before the event that makes it
    /// live), and the blobs kept in the database (stored with that event, in one
    /// transaction, so none is ever young and unreferenced).
    pub async fn gc(&self, min_age: Duration) -> Result<GcReport, StoreError> {
        let live = self.db.live_digests().await?;
        let cas = self.cas.clone();
        let files = tokio::task::spawn_blocking(move || cas.gc(&live, min_age))
            .await
            .map_err(|e| StoreError::io("collect", &self.dir, std::io::Error::other(e)))??;
        let inline = self.db.collect_inline_blobs().await?;
        Ok(GcReport {
            removed: files.removed + inline.removed,
            bytes_freed: files.bytes_freed + inline.bytes_freed,
            kept: files.kept + inline.kept,
            bytes_kept: files.bytes_kept + inline.bytes_kept,
        })
    }

    /// Closes the database connections used for reading.
    pub async fn close(&self) {
        self.db.close().await;
    }
}
