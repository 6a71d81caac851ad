//! [`Store`]: the event log with its projections and the blob store of one factory, opened
//! from one directory. The only type outside this crate needs to name: the backend behind
//! it is chosen here (SQLite today) and reached through the traits of [`crate::backend`].

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use factory_types::{
    BlobError, BlobStore, BlobWriter, BoxFuture, BuildId, BuildKey, Clock, Digest, PendingBlob,
    PutOutcome, Seq, SystemClock, blocking,
};

use crate::backend::{Backend, EventFollower};
use crate::cas::{Cas, GcReport, INLINE_LIMIT, InlineBlob};
use crate::error::StoreError;
use crate::event::Event;
use crate::records::BuildRecord;
use crate::sqlite::SqliteStore;

/// File name of the database inside the store directory.
pub const DATABASE_FILE: &str = "factory.db";
/// Directory of the content-addressed store inside the store directory.
pub const CAS_DIR: &str = "cas";

/// How a store is opened.
#[derive(Clone)]
pub struct StoreOptions {
    /// Stamps every commit; tests give a clock they can move.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: SystemClock::shared(),
        }
    }
}

/// The store of one factory: the event log with its projections, and the blob store. Cheap
/// to clone.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    db: Arc<dyn Backend>,
    cas: Cas,
    clock: Arc<dyn Clock>,
}

impl Store {
    /// Opens the store in `dir`, creating `dir`, `dir/factory.db` and `dir/cas/` as needed.
    /// Must be called inside a tokio runtime (the event writer runs as a task on it).
    pub async fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default()).await
    }

    pub async fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        fs_err::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        let cas = Cas::open(&dir.join(CAS_DIR))?;
        let db = SqliteStore::open(&dir.join(DATABASE_FILE), options.clock.clone()).await?;
        Ok(Store {
            dir: dir.to_owned(),
            db: Arc::new(db),
            cas,
            clock: options.clock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The event log and the projection queries, every audience's part.
    pub fn db(&self) -> &dyn Backend {
        &*self.db
    }

    /// The backend, shared (for what outlives a borrow: followers, spawned tasks).
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.db.clone()
    }

    /// Follows the log from `after` on (see [`EventFollower`]).
    pub fn follow(&self, after: Seq) -> EventFollower {
        EventFollower::new(self.backend(), after)
    }

    /// The clock the store stamps commits with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The blob files (the blobs too large for the database), for tests and tools that
    /// look at files; everyone else uses [`BlobStore`].
    pub fn cas(&self) -> &Cas {
        &self.cas
    }

    /// Whether every one of `digests` is a blob file of the store in `dir`, checked without
    /// opening the store (for `up --once`'s up-to-date stamp).
    pub fn files_present(dir: &Path, digests: &[Digest]) -> bool {
        let cas = Cas::at(&dir.join(CAS_DIR));
        digests.iter().all(|digest| cas.contains(digest))
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
    pub async fn present_blobs(&self, digests: &[Digest]) -> Result<HashSet<Digest>, StoreError> {
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

    /// Every blob with its size, files and those in the database alike, by digest.
    pub async fn list_blobs(&self) -> Result<Vec<(Digest, u64)>, StoreError> {
        let cas = self.cas.clone();
        let mut blobs = blocking("listing the blob files", move || cas.list())
            .await
            .map_err(|e| StoreError::io("list", &self.dir, std::io::Error::other(e)))??;
        blobs.extend(self.db.inline_blob_sizes().await?);
        blobs.sort();
        Ok(blobs)
    }

    /// Makes `blobs` durable where they belong and submits `events`, which refer to them,
    /// lazily (see [`crate::EventLog::submit_lazy`]): a small blob goes into the database in
    /// the commit of `events`, a larger one becomes a file first. The outer future ends once
    /// `events` are submitted (if a file cannot be stored, nothing is submitted); the one it
    /// returns, once they are durable.
    pub async fn submit_lazy_with_blobs(
        &self,
        events: Vec<Event>,
        blobs: Vec<PendingBlob>,
    ) -> Result<BoxFuture<'static, crate::error::Result<Vec<Seq>>>, StoreError> {
        let mut inline = Vec::new();
        for blob in blobs {
            let digest = blob.digest();
            if blob.size() > INLINE_LIMIT as u64 {
                self.put_file(blob).await?;
                continue;
            }
            match blob.into_bytes() {
                Ok(bytes) => inline.push(InlineBlob { digest, bytes }),
                Err(blob) => drop(self.put_file(blob).await?),
            }
        }
        Ok(self.db.submit_lazy_with_blobs(events, inline))
    }

    async fn put_file(&self, blob: PendingBlob) -> Result<PutOutcome, StoreError> {
        let cas = self.cas.clone();
        blocking("storing a blob file", move || cas.put_pending(blob))
            .await
            .map_err(|e| StoreError::io("store", &self.dir, std::io::Error::other(e)))?
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
        let put = blocking("storing an artifact", move || cas.put_file(&source))
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

    /// Removes every blob no live build references (see [`crate::Maintenance::live_digests`]):
    /// the files older than `min_age` (a build stores its file before the event that makes
    /// it live), and the blobs kept in the database (stored with that event, in one
    /// transaction, so none is ever young and unreferenced).
    pub async fn gc(&self, min_age: Duration) -> Result<GcReport, StoreError> {
        let live = self.db.live_digests().await?;
        let cas = self.cas.clone();
        let files = blocking("collecting blob files", move || cas.gc(&live, min_age))
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

/// The store's blobs as its clients see them: where each lives is decided here.
impl BlobStore for Store {
    fn present<'a>(
        &'a self,
        digests: &'a [Digest],
    ) -> BoxFuture<'a, Result<HashSet<Digest>, BlobError>> {
        Box::pin(async move { self.present_blobs(digests).await.map_err(BlobError::new) })
    }

    fn get<'a>(
        &'a self,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Box<dyn Read + Send>, BlobError>> {
        Box::pin(async move { self.open_blob(digest).await.map_err(BlobError::new) })
    }

    fn writer(&self) -> BlobWriter {
        self.cas.writer()
    }

    /// A blob put on its own, with no event to ride on, is always a file: one in the
    /// database would be unreferenced until an event names it, and collected.
    fn put(&self, blob: PendingBlob) -> BoxFuture<'_, Result<PutOutcome, BlobError>> {
        Box::pin(async move { self.put_file(blob).await.map_err(BlobError::new) })
    }
}
