//! The facade the orchestrator calls: one build in, checked outputs + log out.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{BuildError, InfraError};
use crate::exec::{ExecRequest, LogLine, LogSink, execute};
use crate::sandbox::{HostDirs, Layout, Sandbox};
use crate::spec::{BuildSpec, validate_input_names};
use crate::tree::{TreeEntry, walk_tree};

/// Runs single builds in fresh private work directories below a scratch root.
#[derive(Debug, Clone)]
pub struct BuildRunner {
    sandbox: Sandbox,
    scratch_root: PathBuf,
    /// Emptied work directories ready for the next build. Creating and deleting a
    /// directory per build costs more than the build itself for small jobs (ext4 without a
    /// journal scans recently deleted inodes on every allocation), so they are reused.
    idle_work_dirs: Arc<WorkDirPool>,
}

/// Idle work directories; removed when the last runner sharing them goes away.
#[derive(Debug, Default)]
struct WorkDirPool(Mutex<Vec<PathBuf>>);

impl WorkDirPool {
    fn take(&self) -> Option<PathBuf> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn put(&self, path: PathBuf) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(path);
    }
}

impl Drop for WorkDirPool {
    fn drop(&mut self) {
        for path in self
            .0
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = fs_err::remove_dir_all(path);
        }
    }
}

/// A build's private work directory: empty when handed out, emptied and returned to the
/// pool when dropped (or removed, if emptying fails).
struct WorkDir {
    path: PathBuf,
    pool: Arc<WorkDirPool>,
}

impl WorkDir {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        if empty_dir(&path).is_ok() {
            self.pool.put(path);
        } else {
            let _ = fs_err::remove_dir_all(&path);
        }
    }
}

/// Removes everything inside `dir`, keeping `dir`.
fn empty_dir(dir: &Path) -> io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs_err::remove_dir_all(entry.path())?;
        } else {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// One build to run.
pub struct BuildRequest {
    pub spec: BuildSpec,
    /// Source tree, visible read-only.
    pub source: Option<PathBuf>,
    /// Output trees of the build's inputs by name, visible read-only.
    pub inputs: BTreeMap<String, PathBuf>,
    /// Where the outputs go; created if missing, must be empty.
    pub output_dir: PathBuf,
    /// Receives log lines as they are printed.
    pub sink: Option<Arc<dyn LogSink>>,
    /// Cancelling kills the build's whole process group.
    pub cancel: CancellationToken,
    /// Whether `run` checks that the declared outputs were produced. A caller that reads
    /// the output tree right after anyway turns this off and calls
    /// [`check_declared_outputs`] itself, saving a second walk and a thread hop.
    pub check_outputs: bool,
}

impl BuildRequest {
    pub fn new(spec: BuildSpec, output_dir: impl Into<PathBuf>) -> Self {
        BuildRequest {
            spec,
            source: None,
            inputs: BTreeMap::new(),
            output_dir: output_dir.into(),
            sink: None,
            cancel: CancellationToken::new(),
            check_outputs: true,
        }
    }
}

/// A successful build.
#[derive(Debug)]
pub struct BuildOutcome {
    pub log: Vec<LogLine>,
    pub duration: Duration,
    /// The paths the build saw.
    pub layout: Layout,
}

/// A failed build, with everything it logged before failing.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BuildFailure {
    #[source]
    pub error: BuildError,
    pub log: Vec<LogLine>,
    pub duration: Duration,
}

impl BuildRunner {
    /// `scratch_root` holds the private work directories; it is created if missing.
    pub fn new(sandbox: Sandbox, scratch_root: impl Into<PathBuf>) -> Self {
        BuildRunner {
            sandbox,
            scratch_root: scratch_root.into(),
            idle_work_dirs: Arc::default(),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    pub async fn run(&self, request: BuildRequest) -> Result<BuildOutcome, BuildFailure> {
        let started = Instant::now();
        let fail = |error: BuildError, log: Vec<LogLine>| BuildFailure {
            error,
            log,
            duration: started.elapsed(),
        };
        let spec = &request.spec;
        if let Err(source) = spec
            .validate()
            .and_then(|()| validate_input_names(request.inputs.keys()))
        {
            let build = spec.name.clone();
            return Err(fail(BuildError::InvalidSpec { build, source }, Vec::new()));
        }
        let work = self
            .prepare(&request)
            .map_err(|e| fail(e.into(), Vec::new()))?;
        let dirs = HostDirs {
            work: work.path().to_path_buf(),
            out: request.output_dir.clone(),
            source: request.source.clone(),
            inputs: request.inputs.clone(),
        };
        let exec = ExecRequest {
            spec,
            dirs: &dirs,
            sink: request.sink.clone(),
            cancel: request.cancel.clone(),
            stdin: None,
            in_source: false,
        };
        let report = execute(&self.sandbox, exec).await;
        if let Err(error) = report.result {
            return Err(fail(error, report.log));
        }
        let checked = if request.check_outputs {
            check_outputs(spec, &request.output_dir).await
        } else {
            Ok(())
        };
        match checked {
            Ok(()) => Ok(BuildOutcome {
                log: report.log,
                duration: started.elapsed(),
                layout: report.layout,
            }),
            Err(error) => Err(fail(error, report.log)),
        }
    }

    /// Checks the declared directories and hands out an empty work directory,
    /// emptied again when the returned guard drops.
    fn prepare(&self, request: &BuildRequest) -> Result<WorkDir, InfraError> {
        if let Some(source) = &request.source {
            require_dir("reading source directory", source)?;
        }
        for path in request.inputs.values() {
            require_dir("reading input directory", path)?;
        }
        // A directory this call creates is empty; only one that was there must be checked.
        match fs_err::create_dir(&request.output_dir) {
            Ok(()) => return self.work_dir(),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => fs_err::create_dir_all(&request.output_dir).map_err(InfraError::io(
                "creating output directory",
                &request.output_dir,
            ))?,
        }
        let mut entries = fs_err::read_dir(&request.output_dir).map_err(InfraError::io(
            "reading output directory",
            &request.output_dir,
        ))?;
        if entries.next().is_some() {
            return Err(InfraError::Io {
                action: "output directory must be empty",
                path: request.output_dir.clone(),
                source: io::Error::new(
                    io::ErrorKind::DirectoryNotEmpty,
                    "stale files would mix into the outputs",
                ),
            });
        }
        self.work_dir()
    }

    /// An empty work directory: an idle one, else a new one.
    fn work_dir(&self) -> Result<WorkDir, InfraError> {
        let pool = Arc::clone(&self.idle_work_dirs);
        if let Some(path) = pool.take() {
            return Ok(WorkDir { path, pool });
        }
        fs_err::create_dir_all(&self.scratch_root).map_err(InfraError::io(
            "creating scratch directory",
            &self.scratch_root,
        ))?;
        let path = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&self.scratch_root)
            .map_err(InfraError::io(
                "creating work directory in",
                &self.scratch_root,
            ))?
            .keep();
        Ok(WorkDir { path, pool })
    }
}

fn require_dir(action: &'static str, path: &Path) -> Result<(), InfraError> {
    let meta = fs_err::metadata(path).map_err(InfraError::io(action, path))?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(InfraError::Io {
            action,
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        })
    }
}

/// Checks that every declared output was produced. The caller digests the tree when it
/// stores it; digesting it here too would read every output file twice.
async fn check_outputs(spec: &BuildSpec, out: &Path) -> Result<(), BuildError> {
    let (spec, root) = (spec.clone(), out.to_path_buf());
    factory_types::blocking("checking outputs", move || {
        check_declared_outputs(&spec, &root)
    })
    .await
    .map_err(|panicked| InfraError::Io {
        action: "checking outputs in",
        path: out.to_path_buf(),
        source: io::Error::other(panicked),
    })?
}

/// Whether every output `spec` declares is in the tree at `out`. Blocking.
pub fn check_declared_outputs(spec: &BuildSpec, out: &Path) -> Result<(), BuildError> {
    let entries = walk_tree(out).map_err(|source| BuildError::BadOutput {
        build: spec.name.clone(),
        source,
    })?;
    check_declared_outputs_in(spec, &entries)
}

/// [`check_declared_outputs`] of an output tree already walked.
pub fn check_declared_outputs_in(
    spec: &BuildSpec,
    entries: &[TreeEntry],
) -> Result<(), BuildError> {
    match spec
        .outputs
        .iter()
        .find(|pattern| !matches_any(pattern, entries))
    {
        Some(missing) => Err(BuildError::MissingOutput {
            build: spec.name.clone(),
            path: missing.clone(),
        }),
        None => Ok(()),
    }
}

/// Whether a declared output (a path or glob, already validated) names at
/// least one produced entry. `*` does not cross `/`, as in the shell.
fn matches_any(pattern: &str, entries: &[TreeEntry]) -> bool {
    let Ok(pattern) = glob::Pattern::new(pattern.trim_start_matches("./")) else {
        return false;
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    entries
        .iter()
        .any(|entry| pattern.matches_path_with(&entry.rel, options))
}
