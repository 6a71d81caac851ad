//! One test's world: a temporary directory holding a store and a definition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::command::FactoryCommand;
use crate::files::write;
use crate::filter::Filters;

/// A temporary directory (removed when the context is dropped) with the store at `store/`
/// and the definition at `def/`, and the `factory` binary to run against them. Neither
/// directory exists until something is written there: the binary creates its store itself.
pub struct TestContext {
    dir: tempfile::TempDir,
    binary: PathBuf,
    store: PathBuf,
    definition: PathBuf,
}

impl TestContext {
    /// `binary` is the `factory` under test: `env!("CARGO_BIN_EXE_factory")`.
    pub fn new(binary: impl Into<PathBuf>) -> TestContext {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = dir.path().join("store");
        let definition = dir.path().join("def");
        TestContext {
            dir,
            binary: binary.into(),
            store,
            definition,
        }
    }

    /// The temporary directory everything else is in.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> &Path {
        &self.store
    }

    pub fn definition(&self) -> &Path {
        &self.definition
    }

    /// `relative` below the temporary directory.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root().join(relative)
    }

    /// Writes `text` to `relative` below the temporary directory; returns the full path.
    pub fn write(&self, relative: impl AsRef<Path>, text: &str) -> PathBuf {
        let path = self.path(relative);
        write(&path, text);
        path
    }

    /// Writes a file of the definition, e.g. `components.toml`.
    pub fn write_definition(&self, file: &str, text: &str) -> PathBuf {
        let path = self.definition.join(file);
        write(&path, text);
        path
    }

    /// Writes `file` of `component`'s local source, `src/COMPONENT` in the definition (where
    /// [`crate::command_component`] points its source).
    pub fn write_source(&self, component: &str, file: &str, text: &str) -> PathBuf {
        let path = self.source_dir(component).join(file);
        write(&path, text);
        path
    }

    /// `src/COMPONENT` in the definition.
    pub fn source_dir(&self, component: &str) -> PathBuf {
        self.definition.join("src").join(component)
    }

    /// `factory --store STORE`; add the command and its arguments.
    pub fn factory(&self) -> FactoryCommand {
        FactoryCommand::new(&self.binary, &self.store)
    }

    /// `factory demo --dir DIR`: the demo keeps its store in `DIR/store`, not the context's.
    pub fn demo(&self, dir: &Path) -> FactoryCommand {
        self.factory()
            .without_store()
            .args(["demo", "--dir"])
            .arg(dir)
    }

    /// `factory --store STORE up --once OPTIONS... --definition DEF`.
    pub fn up_once(&self, options: &[&str]) -> FactoryCommand {
        self.factory()
            .args(["up", "--once"])
            .args(options)
            .arg("--definition")
            .arg(&self.definition)
    }

    /// `factory --store STORE up OPTIONS... --definition DEF` in the foreground (after its
    /// first wave it watches), standard output discarded, standard error piped for the
    /// caller (see [`crate::watching`]).
    /// It serves nothing unless `options` say where (`--listen 127.0.0.1:0`; see
    /// [`crate::Served`]), so tests running side by side never race for a port.
    pub fn spawn_up(&self, options: &[&str]) -> Child {
        let serves = options
            .iter()
            .any(|o| *o == "--listen" || *o == "--no-listen");
        let quiet: &[&str] = if serves { &[] } else { &["--no-listen"] };
        self.factory()
            .arg("up")
            .args(quiet)
            .args(options)
            .arg("--definition")
            .arg(&self.definition)
            .spawn(Stdio::null(), Stdio::piped())
    }

    /// `factory events` of the store.
    pub fn events(&self) -> String {
        self.factory().arg("events").ok()
    }

    /// `factory status` of the store.
    pub fn status(&self) -> String {
        self.factory().arg("status").ok()
    }

    /// The cursor of every hook the store knows (see [`crate::hook_cursors`]).
    pub fn hook_cursors(&self) -> Vec<(String, u64)> {
        crate::store::hook_cursors(&self.store)
    }

    /// Every blob of the store (its factory stopped), by digest.
    pub fn stored_blobs(&self) -> BTreeMap<String, Vec<u8>> {
        crate::store::stored_blobs(&self.store)
    }

    /// `text` with what varies from run to run replaced by placeholders: see [`Filters`].
    pub fn filter(&self, text: &str) -> String {
        Filters::for_temp_dir(self.root()).apply(text)
    }
}
