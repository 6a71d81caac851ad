//! Materialised trees: each output tree the local executor needs as a directory, at
//! `trees/DIGEST`, extracted from its blob once or kept straight from the build that made it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use factory_types::{BlobStore, BlobWriter, Digest, PendingBlob, blocking};

use crate::archive::{TarOptions, write_tar_of};
use crate::executor::StorageError;
use crate::tree::{EntryKind, TreeEntry};

/// The directory of materialised trees. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Trees {
    dir: PathBuf,
}

impl Trees {
    pub fn new(dir: PathBuf) -> Trees {
        Trees { dir }
    }

    /// Where the tree with this digest is, once materialised.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// The directory holding the tree with this digest, extracted from `blobs` once.
    pub async fn materialise(
        &self,
        digest: &Digest,
        blobs: &dyn BlobStore,
    ) -> Result<PathBuf, StorageError> {
        let target = self.path_of(digest);
        if target.is_dir() {
            return Ok(target);
        }
        let blob = blobs.get(digest).await?;
        let (trees, into) = (self.dir.clone(), target.clone());
        blocking("extracting a tree", move || extract(blob, &trees, &into))
            .await
            .map_err(|e| StorageError::Io {
                action: "extracting into",
                path: target.clone(),
                source: std::io::Error::other(e),
            })??;
        Ok(target)
    }

    /// Moves a freshly built tree to where [`Self::materialise`] looks for it, after giving
    /// its entries the modes and times the tar gives them, so a dependent sees the same tree
    /// whether it was built in this run or extracted later. Best effort: a tree that cannot
    /// be kept is removed and extracted again when needed. Blocking.
    pub fn keep(&self, tree: &Path, entries: &[TreeEntry], digest: &Digest) {
        let target = self.path_of(digest);
        let kept = !target.exists()
            && normalise_tree(tree, entries).is_ok()
            && fs_err::create_dir_all(&self.dir).is_ok()
            && fs_err::rename(tree, &target).is_ok();
        if !kept {
            let _ = fs_err::remove_dir_all(tree);
        }
    }

    /// Removes every tree whose digest is not in `live`; an extraction in progress (a
    /// hidden temporary) only when `busy` is false. Returns how many went. Blocking.
    pub fn collect(&self, live: &HashSet<Digest>, busy: bool) -> usize {
        let live: HashSet<String> = live.iter().map(Digest::hex).collect();
        let Ok(entries) = fs_err::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = live.contains(&name) || (busy && name.starts_with('.'));
            if !keep && fs_err::remove_dir_all(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// Unpacks a tree's tar into a temporary directory beside `target`, then renames it into
/// place, so a reader sees the whole tree or none.
fn extract(
    blob: Box<dyn std::io::Read + Send>,
    trees: &Path,
    target: &Path,
) -> Result<(), StorageError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    };
    fs_err::create_dir_all(trees).map_err(io("creating", trees))?;
    let temp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(trees)
        .map_err(io("creating a directory in", trees))?;
    tar::Archive::new(blob)
        .unpack(temp.path())
        .map_err(io("extracting into", temp.path()))?;
    let temp = temp.keep();
    if let Err(e) = fs_err::rename(&temp, target) {
        let _ = fs_err::remove_dir_all(&temp);
        if !target.is_dir() {
            return Err(io("renaming into", target)(e));
        }
    }
    Ok(())
}

/// Streams `tree` as a deterministic tar into a new blob, not yet put. Blocking.
pub(crate) fn write_tree_blob(
    tree: &Path,
    entries: &[TreeEntry],
    writer: BlobWriter,
    mtime: u64,
) -> Result<PendingBlob, StorageError> {
    let options = TarOptions {
        mtime,
        dot_prefix: false,
    };
    let archiving = |source| StorageError::Io {
        action: "archiving",
        path: tree.to_path_buf(),
        source,
    };
    // Small enough to come from the allocator's reused pages rather than fresh ones per build.
    let buffered = std::io::BufWriter::with_capacity(32 * 1024, writer);
    let buffered = write_tar_of(tree, entries, buffered, &options)
        .map_err(|e| archiving(std::io::Error::other(e)))?;
    let writer = buffered
        .into_inner()
        .map_err(|e| archiving(e.into_error()))?;
    Ok(writer.finish())
}

/// Modes 0755/0644 and the fixed mtime, as the tar records them (`entries`: the tree as
/// walked; a mode that is already right is left alone).
fn normalise_tree(root: &Path, entries: &[TreeEntry]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mtime = nix::sys::time::TimeSpec::new(crate::spec::DEFAULT_SOURCE_DATE_EPOCH as i64, 0);
    let set = |path: &Path, mode: u32, found: Option<u32>| -> std::io::Result<()> {
        if found != Some(mode) {
            fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        let no_follow = nix::sys::stat::UtimensatFlags::NoFollowSymlink;
        nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, path, &mtime, &mtime, no_follow)
            .map_err(std::io::Error::from)
    };
    for entry in entries {
        let mode = match entry.kind {
            EntryKind::Dir
            | EntryKind::File {
                executable: true, ..
            } => 0o755,
            EntryKind::File { .. } => 0o644,
            EntryKind::Symlink { .. } => continue,
        };
        set(&root.join(&entry.rel), mode, Some(entry.mode))?;
    }
    set(root, 0o755, None)
}
