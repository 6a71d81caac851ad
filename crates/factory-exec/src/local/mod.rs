//! The local executor: work items run on this machine, in the sandbox, with their input
//! trees materialised from the blob store and their output trees put back into it.
//!
//! Directories, below the scratch directory the executor is given:
//! - `work/`: the builds' private work directories (reused, see [`crate::runner`]);
//! - `PID-N.out`: an attempt's output directory, `PID-N.staging` what a built-in kind
//!   assembles beside it. The process id keeps two factories on one store apart, and lets
//!   the next one recognise and remove what a killed one left;
//! - and beside it, the materialised trees ([`trees`]).

mod trees;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use factory_types::{BlobStore, BoxFuture, Digest, Fault, HasFault, LogStream, blocking};
use tokio_util::sync::CancellationToken;

use crate::builtin;
use crate::error::BuildError;
use crate::exec::{LogLine, LogSink};
use crate::executor::{Attempt, ExecError, Executor, StorageError};
use crate::runner::{BuildRequest, BuildRunner, check_declared_outputs_in};
use crate::sandbox::Sandbox;
use crate::spec::DEFAULT_SOURCE_DATE_EPOCH;
use crate::work::{Artifact, TreeBlob, Work, WorkItem, WorkResult};

pub use trees::Trees;

/// The Debian name of the architecture Factory runs on.
pub fn debian_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        other => other,
    }
}

/// What builds on this machine depend on besides their inputs (the architecture and the
/// isolation they run in): part of every build key, and the platform of its work items.
pub fn platform(sandbox: &Sandbox) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("arch".to_owned(), debian_arch().to_owned()),
        ("sandbox".to_owned(), sandbox.describe().to_owned()),
    ])
}

/// Runs work items on this machine. Cheap to clone.
#[derive(Clone)]
pub struct LocalExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    runner: BuildRunner,
    scratch: PathBuf,
    trees: Trees,
    blobs: Arc<dyn BlobStore>,
    /// Attempts started, for naming their output directories.
    attempts: AtomicU64,
}

impl LocalExecutor {
    /// Builds run below `scratch`, materialised trees live in `trees` (on the same file
    /// system, so a finished tree is moved there, never copied). What killed factories left
    /// in `scratch` is removed.
    pub fn new(
        sandbox: Sandbox,
        scratch: PathBuf,
        trees: PathBuf,
        blobs: Arc<dyn BlobStore>,
    ) -> LocalExecutor {
        remove_leftovers(&scratch);
        LocalExecutor {
            inner: Arc::new(Inner {
                runner: BuildRunner::new(sandbox, scratch.join("work")),
                scratch,
                trees: Trees::new(trees),
                blobs,
                attempts: AtomicU64::new(0),
            }),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.inner.runner.sandbox()
    }

    /// The materialised trees, for whoever needs a build's outputs as a directory.
    pub fn trees(&self) -> &Trees {
        &self.inner.trees
    }

    /// The directory holding the tree with this digest, extracted from the blob store once.
    pub async fn materialise(&self, digest: &Digest) -> Result<PathBuf, StorageError> {
        self.inner
            .trees
            .materialise(digest, &*self.inner.blobs)
            .await
    }
}

impl Executor for LocalExecutor {
    fn platform(&self) -> BTreeMap<String, String> {
        platform(self.sandbox())
    }

    fn attempt(&self, item: WorkItem) -> Box<dyn Attempt> {
        let n = self.inner.attempts.fetch_add(1, Ordering::Relaxed);
        let out = self
            .inner
            .scratch
            .join(format!("{}-{n}.out", std::process::id()));
        Box::new(LocalAttempt {
            staging: out.with_extension("staging"),
            out,
            exec: self.inner.clone(),
            item,
            input_dirs: BTreeMap::new(),
            uploaded: false,
        })
    }
}

/// One try, with its own output directory.
struct LocalAttempt {
    exec: Arc<Inner>,
    item: WorkItem,
    out: PathBuf,
    staging: PathBuf,
    input_dirs: BTreeMap<String, PathBuf>,
    /// The output tree went to the materialised trees and the staging directory is gone:
    /// nothing is left to clean up.
    uploaded: bool,
}

impl Attempt for LocalAttempt {
    fn prepare(&mut self) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move {
            self.remove_own_dirs().map_err(ExecError::Inputs)?;
            for (name, digest) in &self.item.inputs {
                let dir = self.exec.trees.materialise(digest, &*self.exec.blobs).await;
                self.input_dirs
                    .insert(name.clone(), dir.map_err(ExecError::Inputs)?);
            }
            Ok(())
        })
    }

    fn execute(
        &mut self,
        cancel: CancellationToken,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move {
            match &self.item.work {
                Work::Commands(_) => self.run_commands(cancel, log).await,
                Work::Builtin(_) => self.run_builtin(log).await,
            }
        })
    }

    fn upload(&mut self) -> BoxFuture<'_, Result<WorkResult, ExecError>> {
        Box::pin(async move {
            let artifacts = self.upload_artifacts().await?;
            let tree = self.upload_tree(artifacts.is_empty()).await?;
            self.uploaded = true;
            Ok(WorkResult {
                tree: TreeBlob::Pending(tree),
                artifacts,
            })
        })
    }

    fn cleanup(&mut self) {
        if !self.uploaded {
            let _ = self.remove_own_dirs();
        }
    }
}

impl Drop for LocalAttempt {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl LocalAttempt {
    /// A fresh start: an earlier attempt with the same name (a reused pid) left nothing.
    fn remove_own_dirs(&self) -> Result<(), StorageError> {
        for dir in [&self.out, &self.staging] {
            match fs_err::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StorageError::Io {
                        action: "removing",
                        path: dir.clone(),
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn run_commands(
        &mut self,
        cancel: CancellationToken,
        log: Arc<dyn LogSink>,
    ) -> Result<(), ExecError> {
        let Work::Commands(spec) = &self.item.work else {
            unreachable!("called for commands only")
        };
        let mut request = BuildRequest::new(spec.clone(), &self.out);
        request.source = self.item.source.as_ref().map(|s| s.path.clone());
        request.inputs = self.input_dirs.clone();
        request.sink = Some(log);
        request.cancel = cancel;
        // Checked in the upload, in the same walk of the tree that archives it.
        request.check_outputs = false;
        match self.exec.runner.run(request).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(self.blame_a_full_disk(failure.error)),
        }
    }

    /// A command that failed while the disk holding the build directories is full most
    /// likely failed for that (it could not write its outputs): the environment's fault.
    fn blame_a_full_disk(&self, error: BuildError) -> ExecError {
        let scratch = &self.exec.scratch;
        if error.fault() != Fault::Input
            || error.is_cancelled()
            || !factory_types::disk::no_space_left(scratch)
        {
            return ExecError::Build(error);
        }
        ExecError::ScratchFull {
            dir: scratch.clone(),
            message: error.to_string(),
        }
    }

    async fn run_builtin(&mut self, log: Arc<dyn LogSink>) -> Result<(), ExecError> {
        let Work::Builtin(work) = self.item.work.clone() else {
            unreachable!("called for built-in kinds only")
        };
        let (inputs, out, staging) = (
            self.input_dirs.clone(),
            self.out.clone(),
            self.staging.clone(),
        );
        let note = blocking("assembling a built-in kind", move || {
            builtin::run(&work, &inputs, &out, &staging)
        })
        .await??;
        log.line(&LogLine {
            command: 0,
            stream: LogStream::Factory,
            text: note,
            elapsed: Duration::ZERO,
        });
        Ok(())
    }

    /// Packages, each stored as a blob of its own, while the tree is still where the build
    /// left it.
    async fn upload_artifacts(&self) -> Result<Vec<Artifact>, ExecError> {
        let mut artifacts = Vec::new();
        for name in &self.item.artifacts {
            let path = self.out.join(name);
            let put = put_file(&*self.exec.blobs, path).await?;
            artifacts.push(Artifact {
                name: name.clone(),
                digest: put.digest,
                size: put.size,
            });
        }
        Ok(artifacts)
    }

    /// One walk of the tree serves the check of the declared outputs (`check`), the tar
    /// (streamed straight into a blob: it never exists as a second file) and keeping the
    /// tree as the materialised copy of that tar, so dependents need not extract it.
    async fn upload_tree(&self, check: bool) -> Result<factory_types::PendingBlob, ExecError> {
        let declared = match &self.item.work {
            Work::Commands(spec) if check => Some(spec.clone()),
            _ => None,
        };
        let writer = self.exec.blobs.writer();
        let trees = self.exec.trees.clone();
        let (tree, staging) = (self.out.clone(), self.staging.clone());
        let uploaded = blocking("archiving the outputs", move || {
            let entries = crate::tree::walk_tree(&tree).map_err(StorageError::Tree)?;
            if let Some(spec) = declared {
                check_declared_outputs_in(&spec, &entries).map_err(ExecError::Build)?;
            }
            let blob = trees::write_tree_blob(&tree, &entries, writer, DEFAULT_SOURCE_DATE_EPOCH)?;
            trees.keep(&tree, &entries, &blob.digest());
            let _ = fs_err::remove_dir_all(&staging);
            Ok::<_, ExecError>(blob)
        });
        uploaded.await?
    }
}

/// Puts the file at `path` in the blob store as a blob of its own.
async fn put_file(
    blobs: &dyn BlobStore,
    path: PathBuf,
) -> Result<factory_types::PutOutcome, ExecError> {
    let mut writer = blobs.writer();
    let file = path.clone();
    let written = blocking("reading an artifact", move || {
        let mut file = fs_err::File::open(&file)?;
        std::io::copy(&mut file, &mut writer).map(|_| writer)
    })
    .await?;
    let writer = written.map_err(|source| StorageError::Io {
        action: "storing",
        path,
        source,
    })?;
    let put = blobs
        .put(writer.finish())
        .await
        .map_err(StorageError::Blob)?;
    Ok(put)
}

/// Removes the output and staging directories (`PID-N.out`, `PID-N.staging`) that
/// factories no longer running left in `scratch` when they were killed mid-build. Those of
/// a factory still running on the same store are its own. Assumes the factories sharing a
/// store see one another's process ids (one machine, one pid namespace).
fn remove_leftovers(scratch: &Path) {
    let Ok(entries) = fs_err::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_exists(pid)) {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}

/// Signal 0 checks without signalling: only "no such process" means it is gone.
fn process_exists(pid: i32) -> bool {
    let pid = nix::unistd::Pid::from_raw(pid);
    !matches!(
        nix::sys::signal::kill(pid, None),
        Err(nix::errno::Errno::ESRCH)
    )
}
