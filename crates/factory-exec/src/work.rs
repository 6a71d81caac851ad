//! What crosses the work boundary: a [`WorkItem`] in, a [`WorkResult`] out.
//!
//! A work item says everything needed to run one build and nothing about how it was
//! decided: the dispatcher computed its key, chose its inputs and will record the result;
//! an executor only runs it. It is shaped after a Bazel Remote Execution API action, so a
//! remote executor maps it field by field:
//!
//! | work item            | REAPI                                                   |
//! |----------------------|---------------------------------------------------------|
//! | `key`                | the action's digest, as a cache key the worker never recomputes |
//! | `Work::Commands`     | `Command.arguments` (one `sh -c` per command), `environment_variables` |
//! | `source`, `inputs`   | the input root: `src/` and `inputs/NAME/` by digest     |
//! | `outputs`, `artifacts` | `Command.output_paths`                                |
//! | `platform`           | `Platform.properties`                                   |
//! | `timeout`            | `Action.timeout`                                        |
//!
//! Built-in kinds ([`Builtin`]) have no REAPI counterpart: Factory's own workers run them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use factory_types::{BuildKey, Digest, PendingBlob};
use serde::{Deserialize, Serialize};

use crate::archive::DebControl;
use crate::spec::BuildSpec;

/// One build to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkItem {
    /// The build's key as the dispatcher computed it: a name for this work (in logs, for a
    /// remote cache). A worker never computes it and never trusts it to describe the work.
    pub key: BuildKey,
    /// The job's name, for messages.
    pub name: String,
    pub work: Work,
    /// The source tree, visible read-only.
    pub source: Option<SourceTree>,
    /// The output trees of the build's inputs by input name, each by the digest of the
    /// blob that holds it (a deterministic tar).
    pub inputs: BTreeMap<String, Digest>,
    /// Files of the output tree that are also stored as blobs of their own (packages).
    pub artifacts: Vec<String>,
    /// Properties a worker must have (architecture, sandbox), as REAPI platforms name them.
    pub platform: BTreeMap<String, String>,
}

impl WorkItem {
    /// The declared outputs: paths or globs the output tree must contain.
    pub fn outputs(&self) -> &[String] {
        match &self.work {
            Work::Commands(spec) => &spec.outputs,
            Work::Builtin(_) => &self.artifacts,
        }
    }

    /// The wall-clock limit of the work, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        match &self.work {
            Work::Commands(spec) => spec.timeout,
            Work::Builtin(_) => None,
        }
    }
}

/// Where a source tree is. Its digest names its content (as the key has it); a local
/// executor reads it at `path`, a remote one would fetch it by digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceTree {
    pub digest: Option<Digest>,
    pub path: PathBuf,
}

/// What running the work means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Work {
    /// Shell commands in the sandbox.
    Commands(BuildSpec),
    /// An archive Factory writes itself from the inputs' trees.
    Builtin(Builtin),
}

/// The kinds Factory builds by a library call rather than a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Builtin {
    /// A .deb of input `from`'s tree, installed under `prefix`.
    Deb {
        from: String,
        prefix: String,
        control: DebControl,
        file_name: String,
        mtime: u64,
    },
    /// A normalised `.tar.gz` of input `from`'s tree.
    Tarball {
        from: String,
        prefix: String,
        file_name: String,
        mtime: u64,
    },
    /// An OCI image layout assembled from the inputs' contents.
    Image(ImageAssembly),
}

/// How an image is put together from the inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageAssembly {
    /// Layers in order.
    pub layers: Vec<ImageLayer>,
    pub base: Option<ImageBase>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub architecture: String,
    pub mtime: u64,
}

/// One layer: an input's tree, or the contents of the one .deb in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageLayer {
    pub name: String,
    pub input: String,
    pub unpack_deb: bool,
}

/// The image an image is built on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ImageBase {
    /// The input of this name (another image of the definition).
    Input(String),
    /// An OCI image layout on disk.
    Layout(PathBuf),
}

/// What a successful work item produced.
pub struct WorkResult {
    /// The output tree as a deterministic tar.
    pub tree: TreeBlob,
    /// The files of [`WorkItem::artifacts`], each stored as a blob of its own (durable).
    pub artifacts: Vec<Artifact>,
}

/// An output tree's blob: written but not yet durable (the local executor leaves making it
/// durable to whoever records the build, so its fsyncs are off the path to the dependents),
/// or already stored (a remote executor's upload).
pub enum TreeBlob {
    Pending(PendingBlob),
    Stored { digest: Digest, size: u64 },
}

impl TreeBlob {
    pub fn digest(&self) -> Digest {
        match self {
            TreeBlob::Pending(blob) => blob.digest(),
            TreeBlob::Stored { digest, .. } => *digest,
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            TreeBlob::Pending(blob) => blob.size(),
            TreeBlob::Stored { size, .. } => *size,
        }
    }
}

/// A file of the output tree stored as a blob of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub name: String,
    pub digest: Digest,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BuildCommand;

    #[test]
    fn a_work_item_survives_the_wire() {
        let mut spec = BuildSpec::new("hello", vec![BuildCommand::Shell("make".into())]);
        spec.outputs = vec!["bin/*".into()];
        spec.timeout = Some(Duration::from_secs(60));
        let item = WorkItem {
            key: BuildKey(Digest::of(b"material")),
            name: "hello".into(),
            work: Work::Commands(spec),
            source: Some(SourceTree {
                digest: Some(Digest::of(b"tree")),
                path: "/src/hello".into(),
            }),
            inputs: BTreeMap::from([("libgreet".into(), Digest::of(b"lib"))]),
            artifacts: Vec::new(),
            platform: BTreeMap::from([("arch".into(), "amd64".into())]),
        };
        let json = serde_json::to_string(&item).unwrap();
        let back: WorkItem = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.outputs(), ["bin/*"]);
        assert_eq!(back.timeout(), Some(Duration::from_secs(60)));
    }
}
