//! The content-addressed store: blobs named by their sha256, under
//! `<store>/cas/sha256/<first two hex digits>/<all 64 hex digits>`.
//!
//! A blob is written to a temporary file in `<store>/cas/tmp/` (same file system, so the
//! final rename is atomic), hashed while it is written, fsynced, made read-only, renamed into
//! place and the directory fsynced. A reader therefore sees a complete blob or none; a crash
//! or a full disk leaves at most a temporary file, which a later `open` removes once nothing
//! has written to it for [`STALE_TEMPORARY`] (another process opening the store, say for
//! `factory events`, must not remove a blob that a running factory is still writing).

use fs_err::{self as fs, File};
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Result, StoreError};
use factory_types::{BlobWriter, Digest, Hasher, PendingBlob, PendingBody, PutOutcome};

const BUFFER: usize = 256 * 1024;

/// Blobs up to this size are written in memory, and the engine keeps such blobs in the
/// database. An output tree of a few small files is a tar of a few KiB: as a file it would
/// cost an inode and two fsyncs, in the database it rides on the commit of its build's
/// success.
pub const INLINE_LIMIT: usize = 64 * 1024;

/// How long a temporary file must have gone unwritten before it counts as left by a crash.
pub const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// The content-addressed blob store. All operations are blocking file-system calls; from async
/// code call them inside `tokio::task::spawn_blocking`.
#[derive(Clone, Debug)]
pub struct Cas {
    blobs: PathBuf,
    tmp: PathBuf,
}

/// Whether reading a blob re-hashes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verify {
    Yes,
    No,
}

/// What garbage collection did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct GcReport {
    pub removed: u64,
    pub bytes_freed: u64,
    pub kept: u64,
    pub bytes_kept: u64,
}

impl Cas {
    /// The store under `root`, for looking blobs up only: creates and removes nothing.
    pub fn at(root: &Path) -> Cas {
        Cas {
            blobs: root.join("sha256"),
            tmp: root.join("tmp"),
        }
    }

    /// Opens (creating if needed) the store under `root` and removes temporary files left by
    /// an interrupted write.
    pub fn open(root: &Path) -> Result<Cas> {
        let cas = Cas::at(root);
        for dir in [&cas.blobs, &cas.tmp] {
            fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        }
        cas.remove_stale_temporaries()?;
        Ok(cas)
    }

    fn remove_stale_temporaries(&self) -> Result<()> {
        let entries = fs::read_dir(&self.tmp).map_err(|e| StoreError::io("list", &self.tmp, e))?;
        let now = SystemTime::now();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &self.tmp, e))?;
            let path = entry.path();
            let idle = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok());
            if idle.is_none_or(|idle| idle < STALE_TEMPORARY) {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", path, e)),
            }
        }
        Ok(())
    }

    /// Where the blob with `digest` lives (whether or not it is present).
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.blobs.join(&hex[..2]).join(hex)
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path_of(digest).is_file()
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<PutOutcome> {
        self.put_reader(bytes)
    }

    /// Stores the content of the file at `path`.
    pub fn put_file(&self, path: &Path) -> Result<PutOutcome> {
        let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
        self.put_from(file, path)
    }

    /// Stores everything `reader` yields.
    pub fn put_reader(&self, reader: impl Read) -> Result<PutOutcome> {
        self.put_from(reader, Path::new("<stream>"))
    }

    fn put_from(&self, mut reader: impl Read, source: &Path) -> Result<PutOutcome> {
        let mut writer = self.writer();
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io("read", source, e)),
            };
            writer
                .write_all(&buffer[..read])
                .map_err(|e| StoreError::io("write", &self.tmp, e))?;
        }
        self.put_pending(writer.finish())
    }

    /// A blob written piece by piece; nothing is stored unless it is put. The first
    /// [`INLINE_LIMIT`] bytes stay in memory: a blob no larger than that never touches the
    /// disk here and may go to the database instead (see [`crate::Store`]).
    pub fn writer(&self) -> BlobWriter {
        BlobWriter::new(self.tmp.clone(), INLINE_LIMIT)
    }

    /// Makes a written blob durable and visible under its digest, as a file.
    pub fn put_pending(&self, blob: PendingBlob) -> Result<PutOutcome> {
        let (digest, size) = (blob.digest(), blob.size());
        let temp = match blob.into_body() {
            PendingBody::File(temp) => temp,
            PendingBody::Memory(bytes) => {
                let mut temp = self.temporary()?;
                temp.write_all(&bytes)
                    .map_err(|e| StoreError::io("write", temp.path().to_owned(), e))?;
                temp
            }
        };
        self.store_temporary(temp, digest, size)
    }

    /// A temporary file for a blob being written. It deletes itself when dropped, so every
    /// early return leaves nothing behind.
    fn temporary(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".put-")
            .tempfile_in(&self.tmp)
            .map_err(|e| StoreError::io("create temporary file in", &self.tmp, e))
    }

    fn store_temporary(
        &self,
        temp: tempfile::NamedTempFile,
        digest: Digest,
        size: u64,
    ) -> Result<PutOutcome> {
        let temp_path = temp.path().to_owned();
        let target = self.path_of(&digest);
        if target.is_file() {
            return Ok(PutOutcome {
                digest,
                size,
                deduplicated: true,
            });
        }
        temp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io("fsync", &temp_path, e))?;
        let mut permissions = temp
            .as_file()
            .metadata()
            .map_err(|e| StoreError::io("stat", &temp_path, e))?
            .permissions();
        // Blobs are immutable: read-only guards against a build writing through a hard link.
        permissions.set_readonly(true);
        fs::set_permissions(&temp_path, permissions)
            .map_err(|e| StoreError::io("make read-only", &temp_path, e))?;

        let shard = target.parent().unwrap_or(&self.blobs).to_owned();
        if !shard.is_dir() {
            fs::create_dir_all(&shard)
                .map_err(|e| StoreError::io("create directory", &shard, e))?;
            sync_dir(&self.blobs)?;
        }
        // Renaming over a concurrently stored copy is fine: the content is identical.
        temp.persist(&target)
            .map_err(|e| StoreError::io("rename into place", &target, e.error))?;
        sync_dir(&shard)?;
        Ok(PutOutcome {
            digest,
            size,
            deduplicated: false,
        })
    }

    /// Opens a blob for reading (without verifying it).
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.path_of(digest);
        File::open(&path).map_err(|e| self.missing_or_io(digest, path, e))
    }

    fn missing_or_io(&self, digest: &Digest, path: PathBuf, err: io::Error) -> StoreError {
        if err.kind() == io::ErrorKind::NotFound {
            StoreError::BlobMissing {
                digest: digest.to_string(),
                path,
            }
        } else {
            StoreError::io("open", path, err)
        }
    }

    /// Reads a whole blob, re-hashing it first when `verify` says so.
    pub fn read(&self, digest: &Digest, verify: Verify) -> Result<Vec<u8>> {
        let path = self.path_of(digest);
        let bytes = fs::read(&path).map_err(|e| self.missing_or_io(digest, path.clone(), e))?;
        if verify == Verify::Yes {
            check(digest, Digest::of(&bytes), &path)?;
        }
        Ok(bytes)
    }

    /// Re-hashes a blob and fails with [`StoreError::BlobCorrupt`] if it changed.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let path = self.path_of(digest);
        let mut file = self.open_blob(digest)?;
        let mut hasher = Hasher::default();
        let mut buffer = vec![0u8; BUFFER];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io("read", &path, e)),
            }
        }
        check(digest, hasher.finish(), &path)
    }

    /// Copies a blob to `dest` (written atomically next to it), verifying it on the way.
    pub fn copy_to(&self, digest: &Digest, dest: &Path) -> Result<()> {
        let bytes = self.read(digest, Verify::Yes)?;
        let dir = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".copy-")
            .tempfile_in(dir)
            .map_err(|e| StoreError::io("create temporary file in", dir, e))?;
        temp.write_all(&bytes)
            .map_err(|e| StoreError::io("write", temp.path().to_owned(), e))?;
        temp.persist(dest)
            .map_err(|e| StoreError::io("rename into place", dest, e.error))?;
        Ok(())
    }

    /// Every blob in the store with its size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut blobs = Vec::new();
        for shard in read_dir(&self.blobs)? {
            if !shard.is_dir() {
                continue;
            }
            for path in read_dir(&shard)? {
                let Some(digest) = digest_of_blob_path(&path) else {
                    continue;
                };
                let size = fs::metadata(&path)
                    .map_err(|e| StoreError::io("stat", &path, e))?
                    .len();
                blobs.push((digest, size));
            }
        }
        blobs.sort();
        Ok(blobs)
    }

    /// Removes every blob whose digest is not in `live` and that is older than `min_age` (so
    /// a blob stored by a running build, before its artifact event is appended, survives).
    pub fn gc(&self, live: &HashSet<Digest>, min_age: Duration) -> Result<GcReport> {
        let now = SystemTime::now();
        let mut report = GcReport::default();
        for (digest, size) in self.list()? {
            let path = self.path_of(&digest);
            let young = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age < min_age);
            if live.contains(&digest) || young {
                report.kept += 1;
                report.bytes_kept += size;
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.removed += 1;
                    report.bytes_freed += size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", path, e)),
            }
        }
        Ok(report)
    }
}

/// A small blob kept in the database rather than as a file. Committed in the same transaction
/// as the event that refers to it, it costs no inode and no fsync of its own (see
/// [`crate::EventLog::submit_lazy_with_blobs`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InlineBlob {
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

fn check(expected: &Digest, actual: Digest, path: &Path) -> Result<()> {
    if *expected == actual {
        Ok(())
    } else {
        Err(StoreError::BlobCorrupt {
            path: path.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))?;
    entries
        .map(|entry| {
            entry
                .map(|e| e.path())
                .map_err(|e| StoreError::io("list", dir, e))
        })
        .collect()
}

/// Files that are not named by a digest (there should be none) are left alone.
fn digest_of_blob_path(path: &Path) -> Option<Digest> {
    let name = path.file_name()?.to_str()?;
    format!("sha256:{name}").parse().ok()
}

/// Makes a rename or a new entry in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}
