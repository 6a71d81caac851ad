//! Git sources: resolving a revision to a commit and checking it out once
//! into a cache, with the real `git` (it speaks every transport and protocol
//! version; no library here would be as complete).

use std::path::{Path, PathBuf};
use std::process::Command;

use factory_types::{Fault, HasFault};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`git` could not be run ({0}); install git (apt-get install git)")]
    NoGit(std::io::Error),
    #[error("git {action} of `{url}` failed: {stderr}")]
    Git {
        action: &'static str,
        url: String,
        stderr: String,
    },
    #[error("`{url}` has no branch or tag `{rev}`; give a branch, a tag or a full commit id")]
    UnknownRevision { url: String, rev: String },
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HasFault for FetchError {
    /// The remote answered that the revision does not exist: the definition's to fix.
    /// Anything else (git missing, the remote unreachable, a clone that broke off, the disk)
    /// may go right later, so it is the environment's and retried.
    fn fault(&self) -> Fault {
        match self {
            FetchError::UnknownRevision { .. } => Fault::Input,
            FetchError::NoGit(_) | FetchError::Git { .. } | FetchError::Io { .. } => {
                Fault::Environment
            }
        }
    }
}

fn git(args: &[&str], action: &'static str, url: &str) -> Result<String, FetchError> {
    let output = Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(FetchError::NoGit)?;
    if !output.status.success() {
        return Err(FetchError::Git {
            action,
            url: url.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_commit_id(rev: &str) -> bool {
    rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit())
}

/// The commit `rev` (branch, tag or commit id) of `url` names now.
pub fn resolve(url: &str, rev: &str) -> Result<String, FetchError> {
    if is_commit_id(rev) {
        return Ok(rev.to_ascii_lowercase());
    }
    let listing = git(&["ls-remote", url, rev], "ls-remote", url)?;
    let refs: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    // An annotated tag's peeled line (`^{}`) names the commit; prefer it, then tags, then branches.
    let wanted = [
        format!("refs/tags/{rev}^{{}}"),
        format!("refs/tags/{rev}"),
        format!("refs/heads/{rev}"),
        rev.to_owned(),
    ];
    wanted
        .iter()
        .find_map(|name| {
            refs.iter()
                .find(|(_, r)| r == name)
                .map(|(c, _)| c.to_string())
        })
        .ok_or_else(|| FetchError::UnknownRevision {
            url: url.to_owned(),
            rev: rev.to_owned(),
        })
}

/// The tree of `commit` of `url`, checked out once below `cache` (without `.git`).
pub fn checkout(url: &str, commit: &str, cache: &Path) -> Result<PathBuf, FetchError> {
    let dir = cache.join(commit);
    if dir.is_dir() {
        return Ok(dir);
    }
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io {
            action,
            path,
            source,
        }
    };
    fs_err::create_dir_all(cache).map_err(io("creating", cache))?;
    let temp = tempfile::Builder::new()
        .prefix(".clone-")
        .tempdir_in(cache)
        .map_err(io("creating a directory in", cache))?;
    let work = temp.path().join("tree");
    let work_str = work.to_string_lossy().into_owned();
    git(
        &["clone", "--quiet", "--no-checkout", url, &work_str],
        "clone",
        url,
    )?;
    git(
        &["-C", &work_str, "checkout", "--quiet", "--detach", commit],
        "checkout",
        url,
    )?;
    let dot_git = work.join(".git");
    fs_err::remove_dir_all(&dot_git).map_err(io("removing", &dot_git))?;
    if let Err(e) = fs_err::rename(&work, &dir)
        && !dir.is_dir()
    {
        return Err(io("moving the checkout to", &dir)(e));
    }
    Ok(dir)
}
