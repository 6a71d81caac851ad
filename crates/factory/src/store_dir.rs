//! The store directory as the CLI sees it: the stored graph and the list of
//! imports it was built from.
//!
//! Every import is recorded in `imports.json`; the graph is rebuilt from all
//! recorded imports at once, so that importing the same thing twice gives
//! the same graph (idempotence) and a definition and a Debian archive end up
//! in one graph.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use factory_graph::Graph;
use serde::{Deserialize, Serialize};

pub(crate) const GRAPH_FILE: &str = "graph.fgr";
const MANIFEST_FILE: &str = "imports.json";

/// One recorded import (wire type of `imports.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum ImportSpec {
    Debian {
        sources: Vec<PathBuf>,
        packages: Vec<PathBuf>,
        arch: String,
        profiles: Vec<String>,
        #[serde(default)]
        no_build_essential: bool,
    },
    Rpm {
        specs: Vec<PathBuf>,
    },
    Modulemd {
        files: Vec<PathBuf>,
    },
    Definition {
        dir: PathBuf,
    },
}

impl ImportSpec {
    /// Two specs with the same slot replace each other: one Debian archive,
    /// one RPM spec set, one module set and one definition per store.
    fn slot(&self) -> &'static str {
        match self {
            ImportSpec::Debian { .. } => "debian",
            ImportSpec::Rpm { .. } => "rpm",
            ImportSpec::Modulemd { .. } => "modulemd",
            ImportSpec::Definition { .. } => "definition",
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub imports: Vec<ImportSpec>,
}

impl Manifest {
    pub(crate) fn load(store: &Path) -> Result<Manifest> {
        let path = store.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(Manifest::default());
        }
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid import manifest", path.display()))
    }

    /// The manifest with `spec` replacing any import of the same slot.
    pub(crate) fn with(&self, spec: ImportSpec) -> Manifest {
        let mut imports: Vec<ImportSpec> = self
            .imports
            .iter()
            .filter(|s| s.slot() != spec.slot())
            .cloned()
            .collect();
        imports.push(spec);
        imports.sort_by_key(|s| s.slot());
        Manifest { imports }
    }

    pub(crate) fn save(&self, store: &Path) -> Result<()> {
        let path = store.join(MANIFEST_FILE);
        let tmp = store.join(format!("{MANIFEST_FILE}.tmp"));
        fs_err::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        fs_err::File::open(&tmp)?.sync_all()?;
        fs_err::rename(&tmp, &path)?;
        Ok(())
    }
}

/// Absolute form of a path, so the manifest stays valid from any directory.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

pub(crate) fn load_graph(store: &Path) -> Result<Graph> {
    let path = store.join(GRAPH_FILE);
    if !path.exists() {
        anyhow::bail!(
            "no graph in store {}: import something first, e.g. `factory --store {} import debian --sources Sources --packages Packages`",
            store.display(),
            store.display()
        );
    }
    Ok(Graph::load(&path)?)
}
