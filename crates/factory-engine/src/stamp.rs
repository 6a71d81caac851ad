//! The up-to-date stamp: lets `factory up --once` answer "nothing to do" without parsing the
//! definition, computing build keys or opening the database — the way make and ninja compare
//! file times instead of re-running rules.
//!
//! A stamp is written after a reconcile wave in which every job ended with usable outputs,
//! and only if no event followed the end of that wave. It holds a fingerprint of everything a
//! build key is made of that is not in the store (the bytes of the definition files, the
//! environment facts, the factory binary), a signature of every local directory the
//! definition names (paths, sizes, modification times and inodes of their entries), the
//! output blob of every job and the identity of the database file. Outputs kept as files are
//! looked up one by one; those kept in the database are there as long as the database is
//! the same file, since only a later wave (which removes the stamp first) can make them
//! garbage.
//!
//! Invariant: a stamp on disk describes the latest state of the store. Every wave removes it
//! before its first event, under the same lock that guards writing it, and the writer checks
//! that its wave's end is still the last event. Git sources get no stamp: only asking the
//! remote tells whether a branch moved.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const STAMP_FILE: &str = "up-to-date.json";
const LOCK_FILE: &str = "up-to-date.lock";
const FORMAT: u32 = 2;

/// What a fresh stamp says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    format: u32,
    fingerprint: String,
    /// The wave that found everything up to date.
    pub wave: u64,
    /// Jobs of the definition.
    pub jobs: usize,
    /// Local directories the definition names, with their signatures.
    sources: Vec<(PathBuf, String)>,
    /// The output blobs of the jobs that are files in the blob store.
    outputs: Vec<factory_store::Digest>,
    /// The output blobs of the other jobs, kept in the database.
    inline_outputs: Vec<factory_store::Digest>,
    /// Device and inode of the database file.
    database: (u64, u64),
}

/// Held while a stamp is removed or written; see the module invariant. Released on drop.
pub struct StampLock {
    _flock: nix::fcntl::Flock<File>,
}

/// Takes the store's stamp lock, waiting for another process that holds it.
pub fn lock(store_dir: &Path) -> io::Result<StampLock> {
    fs_err::create_dir_all(store_dir)?;
    // flock takes the standard library's file.
    let (file, _) = fs_err::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(store_dir.join(LOCK_FILE))?
        .into_parts();
    let flock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::from(errno))?;
    Ok(StampLock { _flock: flock })
}

/// Removes the stamp (call with the lock held, before a wave's first event).
pub fn invalidate(store_dir: &Path, _lock: &StampLock) -> io::Result<()> {
    match fs_err::remove_file(store_dir.join(STAMP_FILE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The fingerprint of the definition in `def_dir` and the environment builds run in.
pub fn fingerprint(def_dir: &Path, environment: &BTreeMap<String, String>) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut put = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    put(b"factory up-to-date stamp");
    put(env!("CARGO_PKG_VERSION").as_bytes());
    // A rebuilt factory may derive keys differently: its binary is part of the fingerprint.
    let exe = std::env::current_exe().and_then(fs_err::metadata)?;
    put(&exe.len().to_le_bytes());
    put(&exe.mtime().to_le_bytes());
    put(&exe.mtime_nsec().to_le_bytes());
    for (name, value) in environment {
        put(name.as_bytes());
        put(value.as_bytes());
    }
    for relative in factory_def::definition_files(def_dir)? {
        put(relative.as_os_str().as_encoded_bytes());
        put(&fs_err::read(def_dir.join(&relative))?);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A signature of every entry below `dir`: what `ls -lR --time-style=full-iso -i` shows.
/// Any write to a file changes its modification time, so an unchanged signature means an
/// unchanged tree (a file rewritten within the same nanosecond tick is not told apart,
/// as with make).
pub fn tree_signature(dir: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    sign_dir(dir, Path::new(""), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn sign_dir(root: &Path, relative: &Path, hasher: &mut Sha256) -> io::Result<()> {
    let mut entries: Vec<_> = fs_err::read_dir(root.join(relative))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for name in entries {
        let path = relative.join(&name);
        let meta = fs_err::symlink_metadata(root.join(&path))?;
        for field in [
            meta.mode() as u64,
            meta.len(),
            meta.ino(),
            meta.mtime() as u64,
            meta.mtime_nsec() as u64,
        ] {
            hasher.update(field.to_le_bytes());
        }
        hasher.update(path.as_os_str().as_encoded_bytes());
        hasher.update([0]);
        if meta.is_dir() {
            sign_dir(root, &path, hasher)?;
        }
    }
    Ok(())
}

impl Stamp {
    /// `sources`: every local directory the definition names, signed before the wave read
    /// them; the output blob of every job, as `outputs` (files in the blob store) and
    /// `inline_outputs` (in the database).
    pub fn new(
        store_dir: &Path,
        fingerprint: String,
        wave: u64,
        sources: Vec<(PathBuf, String)>,
        outputs: Vec<factory_store::Digest>,
        inline_outputs: Vec<factory_store::Digest>,
    ) -> io::Result<Stamp> {
        Ok(Stamp {
            format: FORMAT,
            fingerprint,
            wave,
            jobs: outputs.len() + inline_outputs.len(),
            sources,
            outputs,
            inline_outputs,
            database: database_identity(store_dir)?,
        })
    }

    /// Writes the stamp atomically (call with the lock held).
    pub fn write(&self, store_dir: &Path, _lock: &StampLock) -> io::Result<()> {
        let mut temp = tempfile::NamedTempFile::new_in(store_dir)?;
        temp.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
        temp.persist(store_dir.join(STAMP_FILE))
            .map_err(|e| e.error)?;
        Ok(())
    }
}

/// Whether a component takes its source from git (such a definition gets no stamp).
pub fn has_git_source(def: &factory_def::Definition) -> bool {
    def.components.values().any(|c| {
        c.source
            .iter()
            .chain(c.streams.values().filter_map(|s| s.source.as_ref()))
            .any(|s| matches!(s, factory_def::Source::Git { .. }))
    })
}

/// Every local directory the definition reads (component sources, OCI layout bases),
/// each with its [`tree_signature`].
pub fn sign_local_dirs(def: &factory_def::Definition) -> io::Result<Vec<(PathBuf, String)>> {
    let sources = def.components.values().flat_map(|c| {
        c.source
            .iter()
            .chain(c.streams.values().filter_map(|s| s.source.as_ref()))
            .filter_map(|s| def.local_source_dir(s))
    });
    let layouts = def.images.values().filter_map(|image| match &image.base {
        factory_def::ImageBase::OciLayout(path) => def.root.as_ref().map(|root| root.join(path)),
        _ => None,
    });
    let dirs: std::collections::BTreeSet<PathBuf> = sources.chain(layouts).collect();
    dirs.into_iter()
        .map(|dir| tree_signature(&dir).map(|signature| (dir, signature)))
        .collect()
}

/// The stamp, if there is one and it still holds: same fingerprint, same local directories,
/// every output still in the store. Any doubt (a missing or unreadable file) means no.
pub fn fresh(store_dir: &Path, fingerprint: &str) -> Option<Stamp> {
    let bytes = fs_err::read(store_dir.join(STAMP_FILE)).ok()?;
    let stamp: Stamp = serde_json::from_slice(&bytes).ok()?;
    if stamp.format != FORMAT || stamp.fingerprint != fingerprint {
        return None;
    }
    for (dir, signature) in &stamp.sources {
        if tree_signature(dir).ok()? != *signature {
            return None;
        }
    }
    if database_identity(store_dir).ok()? != stamp.database {
        return None;
    }
    factory_store::Store::files_present(store_dir, &stamp.outputs).then_some(stamp)
}

/// Device and inode of the store's database: a database deleted or replaced since the stamp
/// was written is another file.
fn database_identity(store_dir: &Path) -> io::Result<(u64, u64)> {
    let meta = fs_err::metadata(store_dir.join(factory_store::DATABASE_FILE))?;
    Ok((meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_signature_changes_with_any_write_rename_or_new_file() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("sub")).unwrap();
        fs_err::write(dir.path().join("sub/a.c"), "int a;").unwrap();
        let before = tree_signature(dir.path()).unwrap();
        assert_eq!(before, tree_signature(dir.path()).unwrap());
        fs_err::write(dir.path().join("sub/a.c"), "int b;").unwrap();
        let written = tree_signature(dir.path()).unwrap();
        assert_ne!(before, written);
        fs_err::rename(dir.path().join("sub/a.c"), dir.path().join("sub/b.c")).unwrap();
        let renamed = tree_signature(dir.path()).unwrap();
        assert_ne!(written, renamed);
        fs_err::write(dir.path().join("new"), "").unwrap();
        assert_ne!(renamed, tree_signature(dir.path()).unwrap());
    }

    #[test]
    fn the_fingerprint_follows_definition_bytes_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("a.toml"), "[component.a]\n").unwrap();
        let env = BTreeMap::from([("sandbox".to_owned(), "none".to_owned())]);
        let first = fingerprint(dir.path(), &env).unwrap();
        assert_eq!(first, fingerprint(dir.path(), &env).unwrap());
        let other_env = BTreeMap::from([("sandbox".to_owned(), "bwrap".to_owned())]);
        assert_ne!(first, fingerprint(dir.path(), &other_env).unwrap());
        fs_err::write(dir.path().join("a.toml"), "[component.a] \n").unwrap();
        assert_ne!(first, fingerprint(dir.path(), &env).unwrap());
    }

    #[test]
    fn a_stamp_holds_until_its_fingerprint_a_source_an_output_or_the_database_changes() {
        let store = tempfile::tempdir().unwrap();
        let database = store.path().join(factory_store::DATABASE_FILE);
        fs_err::write(&database, "the log").unwrap();
        let cas = factory_store::Cas::open(&store.path().join("cas")).unwrap();
        let source = tempfile::tempdir().unwrap();
        fs_err::write(source.path().join("main.c"), "int main;").unwrap();
        let digest = cas.put_bytes(b"tree").unwrap().digest;
        let in_database = factory_store::Digest::of(b"small tree");
        let blob = cas.path_of(&digest);
        let write = |wave, signature| {
            let sources = vec![(source.path().to_path_buf(), signature)];
            let (outputs, inline) = (vec![digest], vec![in_database]);
            let stamp =
                Stamp::new(store.path(), "f".repeat(64), wave, sources, outputs, inline).unwrap();
            let held = lock(store.path()).unwrap();
            stamp.write(store.path(), &held).unwrap();
            stamp
        };
        let stamp = write(7, tree_signature(source.path()).unwrap());
        assert_eq!((stamp.outputs.len(), stamp.inline_outputs.len()), (1, 1));
        assert_eq!(fresh(store.path(), &"f".repeat(64)), Some(stamp));
        assert_eq!(fresh(store.path(), &"e".repeat(64)), None);

        fs_err::write(source.path().join("main.c"), "int main2;").unwrap();
        assert_eq!(fresh(store.path(), &"f".repeat(64)), None);
        fs_err::write(source.path().join("main.c"), "int main;").unwrap();

        write(8, tree_signature(source.path()).unwrap());
        assert!(fresh(store.path(), &"f".repeat(64)).is_some());
        fs_err::remove_file(&blob).unwrap();
        assert_eq!(fresh(store.path(), &"f".repeat(64)), None);

        // Another database file (deleted and created again) may not hold the small outputs.
        cas.put_bytes(b"tree").unwrap();
        write(9, tree_signature(source.path()).unwrap());
        assert!(fresh(store.path(), &"f".repeat(64)).is_some());
        let replacement = store.path().join("replacement");
        fs_err::write(&replacement, "another log").unwrap();
        fs_err::rename(&replacement, &database).unwrap();
        assert_eq!(fresh(store.path(), &"f".repeat(64)), None);

        let held = lock(store.path()).unwrap();
        invalidate(store.path(), &held).unwrap();
        assert!(!store.path().join(STAMP_FILE).exists());
    }
}
