//! The content-addressed blob store as everyone but the store sees it: has, get and put by
//! digest, streaming both ways. Where a blob lives (a file, a database row, a remote CAS)
//! is the store's own business.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::digest::{Digest, Hasher};
use crate::fault::{Fault, HasFault};
use crate::task::BoxFuture;

/// A content-addressed blob store.
pub trait BlobStore: Send + Sync {
    /// Those of `digests` that the store holds.
    fn present<'a>(
        &'a self,
        digests: &'a [Digest],
    ) -> BoxFuture<'a, Result<HashSet<Digest>, BlobError>>;

    /// The content of a blob, to be read from blocking code.
    fn get<'a>(
        &'a self,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Box<dyn Read + Send>, BlobError>>;

    /// A new blob to write piece by piece (say, an archive streamed straight into the
    /// store, so it never exists as a second file). Nothing is stored until it is finished
    /// and put.
    fn writer(&self) -> BlobWriter;

    /// Makes a written blob durable and visible under its digest.
    fn put(&self, blob: PendingBlob) -> BoxFuture<'_, Result<PutOutcome, BlobError>>;
}

/// What a put did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PutOutcome {
    pub digest: Digest,
    pub size: u64,
    /// The blob was already present; nothing new was stored.
    pub deduplicated: bool,
}

/// A store's error, as the store's clients see it: its message and cause, who is at fault
/// and whether the disk is full.
pub struct BlobError {
    source: Box<dyn std::error::Error + Send + Sync>,
    fault: Fault,
    out_of_space: bool,
}

impl BlobError {
    pub fn new<E>(error: E) -> BlobError
    where
        E: std::error::Error + HasFault + Send + Sync + 'static,
    {
        BlobError {
            fault: error.fault(),
            out_of_space: crate::disk::is_out_of_space(&error),
            source: Box::new(error),
        }
    }

    /// Whether the blob could not be kept because the disk (or quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        self.out_of_space
    }

    /// The store's own error, for a caller that knows the store.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref()
    }
}

impl HasFault for BlobError {
    fn fault(&self) -> Fault {
        self.fault
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.fmt(f)
    }
}

impl fmt::Debug for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

/// Transparent: the store's error is shown as it is, its causes after it.
impl std::error::Error for BlobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// A blob being written: hashed as it goes. Its first bytes stay in memory; past the
/// store's limit it spills to a temporary file in the store's own directory (so that
/// putting it is a rename, never a copy).
pub struct BlobWriter {
    body: PendingBody,
    hasher: Hasher,
    size: u64,
    spill_dir: PathBuf,
    memory_limit: usize,
}

/// Where the bytes of a blob being written are.
pub enum PendingBody {
    Memory(Vec<u8>),
    /// A temporary file that removes itself when dropped.
    File(tempfile::NamedTempFile),
}

/// A completely written blob whose digest is known, not yet stored. Dropping it removes
/// its temporary file, if it has one.
pub struct PendingBlob {
    digest: Digest,
    size: u64,
    body: PendingBody,
}

impl BlobWriter {
    /// Keeps up to `memory_limit` bytes in memory, then spills to a file in `spill_dir`.
    pub fn new(spill_dir: PathBuf, memory_limit: usize) -> BlobWriter {
        BlobWriter {
            body: PendingBody::Memory(Vec::new()),
            hasher: Hasher::default(),
            size: 0,
            spill_dir,
            memory_limit,
        }
    }

    /// Ends writing: the digest is known, the blob is not stored yet (see
    /// [`BlobStore::put`]). Lets a caller act on the digest while the store's fsyncs, which
    /// take longer than writing a small blob, run off its critical path.
    pub fn finish(self) -> PendingBlob {
        PendingBlob {
            digest: self.hasher.finish(),
            size: self.size,
            body: self.body,
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        let PendingBody::Memory(buffer) = &self.body else {
            return Ok(());
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".put-")
            .tempfile_in(&self.spill_dir)
            .map_err(|e| {
                let path = self.spill_dir.display();
                io::Error::new(
                    e.kind(),
                    format!("creating a temporary file in `{path}`: {e}"),
                )
            })?;
        temp.write_all(buffer)?;
        self.body = PendingBody::File(temp);
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let PendingBody::Memory(buffer) = &self.body
            && buffer.len() + bytes.len() > self.memory_limit
        {
            self.spill()?;
        }
        match &mut self.body {
            PendingBody::Memory(buffer) => buffer.extend_from_slice(bytes),
            PendingBody::File(temp) => temp.write_all(bytes)?,
        }
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.body {
            PendingBody::Memory(_) => Ok(()),
            PendingBody::File(temp) => temp.flush(),
        }
    }
}

impl PendingBlob {
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the blob stayed in memory (it is no larger than the writer's limit).
    pub fn is_in_memory(&self) -> bool {
        matches!(self.body, PendingBody::Memory(_))
    }

    /// Its parts, for the store that puts it.
    pub fn into_body(self) -> PendingBody {
        self.body
    }

    /// Its bytes if it stayed in memory, else itself.
    pub fn into_bytes(self) -> Result<Vec<u8>, PendingBlob> {
        match self.body {
            PendingBody::Memory(bytes) => Ok(bytes),
            body => Err(PendingBlob { body, ..self }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_stays_in_memory_up_to_the_limit_and_spills_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = BlobWriter::new(dir.path().to_owned(), 8);
        small.write_all(b"12345678").unwrap();
        let small = small.finish();
        assert!(small.is_in_memory());
        assert_eq!(small.digest(), Digest::of(b"12345678"));

        let mut large = BlobWriter::new(dir.path().to_owned(), 8);
        large.write_all(b"12345").unwrap();
        large.write_all(b"6789").unwrap();
        let large = large.finish();
        assert!(!large.is_in_memory());
        assert_eq!(
            (large.digest(), large.size()),
            (Digest::of(b"123456789"), 9)
        );
        let PendingBody::File(temp) = large.into_body() else {
            unreachable!("checked above")
        };
        assert_eq!(fs_err::read(temp.path()).unwrap(), b"123456789");
        drop(temp);
        assert_eq!(
            fs_err::read_dir(dir.path()).unwrap().count(),
            0,
            "the temporary is gone"
        );
    }
}
