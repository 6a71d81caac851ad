//! Writing the compose's files durably. Everything is written inside the compose's
//! temporary directory, so a file needs no rename of its own: the directory's one rename
//! publishes all of them, after every file and directory has been synced.

use std::io::{self, Read, Write};
use std::path::Path;

use factory_types::{Digest, Hasher};

use crate::error::ComposeError;

/// Writes `bytes` to `path` (making its directories) and syncs it.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ComposeError> {
    make_parent(path)?;
    let mut file = fs_err::File::create(path).map_err(ComposeError::io("creating", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(ComposeError::io("writing", path))
}

/// Copies `source` to `dest` while hashing it, syncs the copy, and returns its digest and
/// size: the caller compares them with what the source claims to be.
pub(crate) fn copy_hashed(source: &Path, dest: &Path) -> Result<(Digest, u64), ComposeError> {
    make_parent(dest)?;
    let mut input = fs_err::File::open(source).map_err(ComposeError::io("reading", source))?;
    let mut output = fs_err::File::create(dest).map_err(ComposeError::io("creating", dest))?;
    let mut hasher = Hasher::default();
    let mut buffer = vec![0; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = input
            .read(&mut buffer)
            .map_err(ComposeError::io("reading", source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        output
            .write_all(&buffer[..read])
            .map_err(ComposeError::io("writing", dest))?;
        size += read as u64;
    }
    output
        .sync_all()
        .map_err(ComposeError::io("writing", dest))?;
    Ok((hasher.finish(), size))
}

pub(crate) fn make_parent(path: &Path) -> Result<(), ComposeError> {
    match path.parent() {
        Some(parent) => make_dir(parent),
        None => Ok(()),
    }
}

pub(crate) fn make_dir(dir: &Path) -> Result<(), ComposeError> {
    fs_err::create_dir_all(dir).map_err(ComposeError::io("creating", dir))
}

/// Syncs `dir` and every directory below it, deepest first, so every entry written is on
/// disk before the tree is renamed into place.
pub(crate) fn sync_dirs(dir: &Path) -> Result<(), ComposeError> {
    for entry in fs_err::read_dir(dir).map_err(ComposeError::io("listing", dir))? {
        let entry = entry.map_err(ComposeError::io("listing", dir))?;
        let is_dir = entry
            .file_type()
            .map_err(ComposeError::io("inspecting", entry.path()))?
            .is_dir();
        if is_dir {
            sync_dirs(&entry.path())?;
        }
    }
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), ComposeError> {
    fs_err::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ComposeError::io("syncing", dir))
}

/// Hard-links `source` to `dest`, copying when the two cannot share an inode; both are
/// files of the compose that never change again.
pub(crate) fn link_or_copy(source: &Path, dest: &Path) -> Result<(), ComposeError> {
    make_parent(dest)?;
    match fs_err::hard_link(source, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(ComposeError::io("linking", dest)(e))
        }
        Err(_) => copy_hashed(source, dest).map(drop),
    }
}
