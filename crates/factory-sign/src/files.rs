//! Files written whole or not at all: a temporary file beside the target, synced, renamed
//! into place, the directory synced after; so a crash leaves the old file or the new one.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::SignError;

/// Who may read a file: private keys and the key directory are the owner's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 0600: a private key.
    Private,
    /// 0644: public keys, signatures, the key list.
    Public,
}

impl Mode {
    fn bits(self) -> u32 {
        match self {
            Mode::Private => 0o600,
            Mode::Public => 0o644,
        }
    }
}

/// Whether an existing file at the target may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    Yes,
    /// Refuse: a key file handed over by name must never overwrite what is there.
    No,
}

/// Writes `bytes` to `dest` atomically with `mode`. The temporary file is 0600 from its
/// creation, so a private key is never readable by others, not even for a moment.
pub(crate) fn write_atomically(
    dest: &Path,
    bytes: &[u8],
    mode: Mode,
    replace: Replace,
) -> Result<(), SignError> {
    let dir = parent(dest);
    let mut file =
        tempfile::NamedTempFile::new_in(dir).map_err(SignError::io("creating a file in", dir))?;
    file.write_all(bytes)
        .and_then(|()| {
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode.bits()))
        })
        .and_then(|()| file.as_file().sync_all())
        .map_err(SignError::io("writing", dest))?;
    match replace {
        Replace::Yes => file
            .persist(dest)
            .map_err(|e| SignError::io("writing", dest)(e.error))?,
        Replace::No => file.persist_noclobber(dest).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                SignError::WouldOverwrite {
                    path: dest.to_path_buf(),
                }
            } else {
                SignError::io("writing", dest)(e.error)
            }
        })?,
    };
    sync_dir(dir)
}

/// Makes `dir` (and its parents) and sets it to 0700: only the owner may list the keys.
pub(crate) fn private_dir(dir: &Path) -> Result<(), SignError> {
    fs_err::create_dir_all(dir).map_err(SignError::fs)?;
    fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(SignError::fs)
}

/// The rename is durable once the directory that holds it is.
fn sync_dir(dir: &Path) -> Result<(), SignError> {
    fs_err::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SignError::fs)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_file_is_0600_and_a_named_one_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_atomically(&path, b"one", Mode::Private, Replace::No).unwrap();
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_atomically(&path, b"two", Mode::Private, Replace::No).unwrap_err();
        assert!(matches!(err, SignError::WouldOverwrite { .. }), "{err}");
        assert_eq!(fs_err::read(&path).unwrap(), b"one");
        write_atomically(&path, b"three", Mode::Public, Replace::Yes).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"three");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // Nothing else was left behind.
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }
}
