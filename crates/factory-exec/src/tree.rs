//! Deterministic directory walking and tree digests.
//!
//! Everything that turns a directory into bytes (the tree digest, the tar,
//! .deb and OCI writers) walks it through [`walk_tree`], so they all agree on
//! which entries exist and in which order.

use fs_err as fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use factory_types::Digest;

/// What a tree entry is. Hard links are seen as regular files: the digest and
/// the archives describe contents, not inode sharing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File { executable: bool, size: u64 },
    Symlink { target: PathBuf },
}

/// One entry below a tree root; `rel` is relative to the root and never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub rel: PathBuf,
    pub kind: EntryKind,
    /// The permission bits as found (archives record normalised ones instead).
    pub mode: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`{path}` is a {what}; only regular files, directories and symlinks can be part of a build tree — remove it from the output"
    )]
    UnsupportedFileType { path: PathBuf, what: &'static str },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Lists every entry below `root` (not the root itself), sorted byte-wise by
/// relative path, which puts every directory before its contents.
/// Symlinks are recorded, never followed.
pub fn walk_tree(root: &Path) -> Result<Vec<TreeEntry>, TreeError> {
    let mut entries = Vec::new();
    let meta = fs::metadata(root).map_err(io_err(root))?;
    if !meta.is_dir() {
        return Err(TreeError::Io {
            path: root.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    walk_dir(root, Path::new(""), &mut entries)?;
    entries.sort_by(|a, b| {
        a.rel
            .as_os_str()
            .as_bytes()
            .cmp(b.rel.as_os_str().as_bytes())
    });
    Ok(entries)
}

fn walk_dir(root: &Path, rel_dir: &Path, out: &mut Vec<TreeEntry>) -> Result<(), TreeError> {
    let dir = root.join(rel_dir);
    for item in fs::read_dir(&dir).map_err(io_err(&dir))? {
        let item = item.map_err(io_err(&dir))?;
        let rel = rel_dir.join(item.file_name());
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File {
                executable: meta.permissions().mode() & 0o111 != 0,
                size: meta.len(),
            }
        } else if file_type.is_symlink() {
            EntryKind::Symlink {
                target: fs::read_link(&path).map_err(io_err(&path))?,
            }
        } else {
            return Err(TreeError::UnsupportedFileType {
                path,
                what: special_file_name(&file_type),
            });
        };
        let is_dir = kind == EntryKind::Dir;
        out.push(TreeEntry {
            rel: rel.clone(),
            kind,
            mode: meta.permissions().mode() & 0o7777,
        });
        if is_dir {
            walk_dir(root, &rel, out)?;
        }
    }
    Ok(())
}

fn special_file_name(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "named pipe"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// Version tag of the tree digest encoding; bump it when the encoding changes
/// so old and new digests can never be confused.
const TREE_DIGEST_FORMAT: &[u8] = b"factory-tree-digest-v1";

/// A deterministic digest of a directory tree: sorted relative paths, entry
/// types, the executable bit of files, symlink targets and file contents.
/// Modification times, owners and other permission bits are ignored, so the
/// same build producing the same files twice yields the same digest (early
/// cutoff depends on that).
pub fn digest_tree(root: &Path) -> Result<Digest, TreeError> {
    let mut hasher = Sha256::new();
    put_bytes(&mut hasher, TREE_DIGEST_FORMAT);
    for entry in walk_tree(root)? {
        let path = root.join(&entry.rel);
        match &entry.kind {
            EntryKind::Dir => {
                hasher.update(b"d");
                put_bytes(&mut hasher, entry.rel.as_os_str().as_bytes());
            }
            EntryKind::File { executable, .. } => {
                hasher.update(b"f");
                put_bytes(&mut hasher, entry.rel.as_os_str().as_bytes());
                hasher.update([u8::from(*executable)]);
                let (size, content) = digest_file(&path)?;
                hasher.update(size.to_le_bytes());
                hasher.update(content.as_bytes());
            }
            EntryKind::Symlink { target } => {
                hasher.update(b"l");
                put_bytes(&mut hasher, entry.rel.as_os_str().as_bytes());
                put_bytes(&mut hasher, target.as_os_str().as_bytes());
            }
        }
    }
    Ok(Digest::from_bytes(hasher.finalize().into()))
}

/// Length-prefixed so that no two different sequences of fields can encode
/// to the same byte stream.
fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// sha256 and length of one file's contents, streamed.
pub fn digest_file(path: &Path) -> Result<(u64, Digest), TreeError> {
    let mut file = fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, Digest::from_bytes(hasher.finalize().into())))
}
