//! Archives Factory writes itself, byte-identical for identical inputs.
//!
//! Common rules: entries in [`crate::walk_tree`] order, every mtime set to
//! the build's `SOURCE_DATE_EPOCH`, owner and group `root` (0/0), modes
//! normalised to 0755 (directories, executables), 0644 (other files) and
//! 0777 (symlinks), gzip at a fixed level with no timestamp or file name.

pub mod deb;
pub mod oci;
pub mod tar;

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::GzBuilder;
use flate2::write::GzEncoder;

use crate::tree::TreeError;
use factory_types::Digest;

pub use self::deb::{DebControl, write_deb};
pub use self::oci::{
    OciBase, OciImageInfo, OciImageSpec, OciLayer, OciLayerInfo, write_oci_layout,
};
pub use self::tar::{TarOptions, write_tar, write_tar_of, write_tarball};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid .deb control field {field}: {problem}")]
    DebControl { field: String, problem: String },
    #[error("OCI layout `{path}`: {problem}")]
    Oci { path: PathBuf, problem: String },
}

impl ArchiveError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| ArchiveError::Io {
            action,
            path,
            source,
        }
    }
}

/// Fixed compression level: part of what makes outputs reproducible (with
/// the same flate2 backend version, which the lock file pins).
const GZIP_LEVEL: u32 = 9;

/// A gzip stream with mtime 0, no file name and a fixed OS byte (3 = Unix),
/// so the header never depends on when or where it was written.
pub(crate) fn gzip<W: Write>(writer: W) -> GzEncoder<W> {
    GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(writer, Compression::new(GZIP_LEVEL))
}

/// Writes `bytes` to `dest` atomically (temporary file in the same
/// directory, then rename) and returns their sha256.
pub(crate) fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<Digest, ArchiveError> {
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(ArchiveError::io("creating a file in", dir))?;
    // Temporary files are private (0600); published archives are world-readable like any package.
    let readable = std::fs::Permissions::from_mode(0o644);
    file.write_all(bytes)
        .and_then(|()| file.as_file().set_permissions(readable))
        .and_then(|()| file.as_file().sync_all())
        .map_err(ArchiveError::io("writing", dest))?;
    file.persist(dest)
        .map_err(|e| ArchiveError::io("writing", dest)(e.error))?;
    Ok(Digest::of(bytes))
}
