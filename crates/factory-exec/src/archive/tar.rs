//! Deterministic tar archives of a directory tree.

use fs_err::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::{Builder, EntryType, Header};

use super::{ArchiveError, gzip, write_atomically};
use crate::tree::{EntryKind, TreeEntry, walk_tree};
use factory_types::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TarOptions {
    /// mtime of every entry: the build's `SOURCE_DATE_EPOCH`.
    pub mtime: u64,
    /// Name entries `./path` and start with a `./` entry, as Debian packages
    /// do; OCI layers use bare `path`.
    pub dot_prefix: bool,
}

/// Writes `root`'s tree as a tar stream into `writer` and returns the writer.
pub fn write_tar<W: Write>(
    root: &Path,
    writer: W,
    options: &TarOptions,
) -> Result<W, ArchiveError> {
    write_tar_of(root, &walk_tree(root)?, writer, options)
}

/// [`write_tar`] of a tree already walked (`entries`, as [`walk_tree`] gives them).
pub fn write_tar_of<W: Write>(
    root: &Path,
    entries: &[TreeEntry],
    writer: W,
    options: &TarOptions,
) -> Result<W, ArchiveError> {
    let mut builder = Builder::new(writer);
    let out_err = |e| ArchiveError::io("writing tar of", root)(e);
    if options.dot_prefix {
        let header = header(EntryType::Directory, 0o755, 0, options.mtime);
        append(&mut builder, header, b"./", None, io::empty()).map_err(out_err)?;
    }
    for entry in entries {
        let mut name = Vec::new();
        if options.dot_prefix {
            name.extend_from_slice(b"./");
        }
        name.extend_from_slice(entry.rel.as_os_str().as_bytes());
        let path = root.join(&entry.rel);
        match &entry.kind {
            EntryKind::Dir => {
                name.push(b'/');
                let header = header(EntryType::Directory, 0o755, 0, options.mtime);
                append(&mut builder, header, &name, None, io::empty()).map_err(out_err)?;
            }
            EntryKind::Symlink { target } => {
                let header = header(EntryType::Symlink, 0o777, 0, options.mtime);
                let target = target.as_os_str().as_bytes();
                append(&mut builder, header, &name, Some(target), io::empty()).map_err(out_err)?;
            }
            EntryKind::File { executable, .. } => {
                let file = File::open(&path).map_err(ArchiveError::io("reading", &path))?;
                // The size comes from the open file, and exactly that many
                // bytes are copied, so the header and data always agree.
                let size = file
                    .metadata()
                    .map_err(ArchiveError::io("reading", &path))?
                    .len();
                let mode = if *executable { 0o755 } else { 0o644 };
                let header = header(EntryType::Regular, mode, size, options.mtime);
                append(&mut builder, header, &name, None, file.take(size)).map_err(out_err)?;
            }
        }
    }
    builder.into_inner().map_err(out_err)
}

/// Writes `root`'s tree as a `.tar.gz` file at `dest` and returns its sha256.
pub fn write_tarball(root: &Path, dest: &Path, mtime: u64) -> Result<Digest, ArchiveError> {
    let options = TarOptions {
        mtime,
        dot_prefix: false,
    };
    let encoder = write_tar(root, gzip(Vec::new()), &options)?;
    let bytes = encoder
        .finish()
        .map_err(ArchiveError::io("compressing", dest))?;
    write_atomically(dest, &bytes)
}

fn header(kind: EntryType, mode: u32, size: u64, mtime: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    // Cannot fail: both names fit the 32-byte fields.
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
    header
}

/// Length of the name and link-name fields of a tar header.
const NAME_FIELD: usize = 100;

/// Appends an entry with `name` stored verbatim. Written here rather than
/// through `tar::Builder::append_data` because that normalises paths and
/// drops the leading `./` that Debian packages conventionally carry; names
/// longer than the header field use the GNU long-name records, as GNU tar does.
fn append<W: Write, R: Read>(
    builder: &mut Builder<W>,
    mut header: Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: R,
) -> io::Result<()> {
    if name.len() > NAME_FIELD {
        append_long_record(builder, EntryType::GNULongName, name, header.mtime()?)?;
    }
    if let Some(link) = link {
        if link.len() > NAME_FIELD {
            append_long_record(builder, EntryType::GNULongLink, link, header.mtime()?)?;
        }
        let field = &mut header.as_old_mut().linkname;
        let n = link.len().min(NAME_FIELD);
        field[..n].copy_from_slice(&link[..n]);
    }
    let field = &mut header.as_old_mut().name;
    let n = name.len().min(NAME_FIELD);
    field[..n].copy_from_slice(&name[..n]);
    header.set_cksum();
    builder.append(&header, data)
}

fn append_long_record<W: Write>(
    builder: &mut Builder<W>,
    kind: EntryType,
    value: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut data = value.to_vec();
    data.push(0);
    let mut header = header(kind, 0o644, data.len() as u64, mtime);
    let magic_name = b"././@LongLink";
    header.as_old_mut().name[..magic_name.len()].copy_from_slice(magic_name);
    header.set_cksum();
    builder.append(&header, data.as_slice())
}
