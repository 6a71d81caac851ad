//! Remote sources: each component's git checkout or tarball, fetched once into the store's
//! `sources/` directory, and the revision every kind of source is recorded with.
//!
//! - [`git`]: revisions resolved and trees checked out with the real `git`.
//! - [`tarball`]: a path or URL, its sha256 checked before anything is unpacked, unpacked
//!   entry by entry, refusing anything that would land or point outside the tree.
//!
//! Every error says who is at fault: a remote that cannot be reached is the environment's
//! (the engine retries it with backoff), a wrong digest or an unknown branch the input's.

pub mod git;
pub mod tarball;

use std::path::{Path, PathBuf};

use factory_def::{Definition, Source};
use factory_types::{Fault, HasFault, Job};

/// A remote source that could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Git(#[from] git::FetchError),
    #[error(transparent)]
    Tarball(#[from] tarball::TarballError),
}

impl HasFault for SourceError {
    fn fault(&self) -> Fault {
        match self {
            SourceError::Git(error) => error.fault(),
            SourceError::Tarball(error) => error.fault(),
        }
    }
}

/// A fetched source: its tree and its revision (a commit, or the tarball's sha256).
pub struct Fetched {
    pub dir: PathBuf,
    pub revision: String,
}

/// For a component with a remote source, its tree and revision, fetched once below
/// `cache`: a git checkout and its commit, or an unpacked tarball (`cache/tarball/SHA256`,
/// checked before unpacking) and its sha256. Blocking.
pub fn fetch(def: &Definition, job: &Job, cache: &Path) -> Result<Option<Fetched>, SourceError> {
    let Job::Component(name) = job else {
        return Ok(None);
    };
    match def.component(name).and_then(|c| c.source.as_ref()) {
        Some(Source::Git { url, rev }) => {
            let commit = git::resolve(url, rev)?;
            let dir = git::checkout(url, &commit, cache)?;
            Ok(Some(Fetched {
                dir,
                revision: commit,
            }))
        }
        Some(Source::Tarball { url, sha256 }) => {
            let tarballs = cache.join("tarball");
            let dir = tarball::fetch(name, url, sha256, def.root.as_deref(), &tarballs)?;
            Ok(Some(Fetched {
                dir,
                revision: sha256.clone(),
            }))
        }
        _ => Ok(None),
    }
}

/// Whether preparing `job` reads files (a source tree to digest or fetch, an image's base
/// layout); if not, its key is a few hashes, computed without a thread hop.
pub fn reads_files(def: &Definition, job: &Job) -> bool {
    match job {
        Job::Component(name) => def.component(name).is_none_or(|c| c.source.is_some()),
        Job::Image(_) => true,
    }
}

/// The revision of each job's local source (its tree digest) or tarball (its sha256), when
/// it has one, as a change records it. Blocking.
pub fn revisions(def: &Definition, jobs: &[Job]) -> Vec<Option<String>> {
    jobs.iter()
        .map(|job| match job {
            Job::Component(name) => match def.component(name).and_then(|c| c.source.as_ref()) {
                Some(Source::Tarball { sha256, .. }) => Some(sha256.clone()),
                source => source
                    .and_then(|s| def.local_source_dir(s))
                    .and_then(|dir| factory_exec::digest_tree(&dir).ok())
                    .map(|d| d.hex()),
            },
            Job::Image(_) => None,
        })
        .collect()
}
