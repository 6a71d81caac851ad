//! The format-neutral dependency graph.
//!
//! Importers (Debian indexes, RPM specs, modulemd, the factory definition)
//! resolve names themselves, because only they know their format's version
//! ordering and naming rules. They hand the graph *resolved clauses*: a clause
//! is one dependency (`a | b (>= 2)`), each alternative already turned into
//! the list of nodes that satisfy it. The graph never sees a version string
//! it has to interpret, which keeps every query format-neutral.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Index of a node in a [`Graph`].
pub type NodeId = u32;

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeKind {
    /// A unit of source that is built (a Debian source package, a component).
    Source,
    /// Something a source build produces (a binary package, an artifact).
    Binary,
    /// A module stream grouping components.
    Module,
    /// A container image.
    Image,
    /// A released product.
    Product,
}

impl NodeKind {
    pub const ALL: [NodeKind; 5] = [
        NodeKind::Source,
        NodeKind::Binary,
        NodeKind::Module,
        NodeKind::Image,
        NodeKind::Product,
    ];

    /// Whether a change upstream makes this node something to rebuild
    /// (a binary is rebuilt by rebuilding its source).
    pub fn is_buildable(self) -> bool {
        !matches!(self, NodeKind::Binary)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Source => "source",
            NodeKind::Binary => "binary",
            NodeKind::Module => "module",
            NodeKind::Image => "image",
            NodeKind::Product => "product",
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }
}

/// The meaning of a dependency clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    /// Needed in the build environment (Build-Depends, BuildRequires).
    BuildRequires,
    /// Needed at run time (Depends, Pre-Depends, Requires).
    Requires,
    /// Part of the thing (an image contains packages, a product contains images).
    Contains,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 3] = [EdgeKind::BuildRequires, EdgeKind::Requires, EdgeKind::Contains];

    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::BuildRequires => "build-requires",
            EdgeKind::Requires => "requires",
            EdgeKind::Contains => "contains",
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }
}

/// A node's identity: its kind and its name. A Debian source and a binary
/// may share a name (`openssl`), so the name alone is not enough.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeKey {
    pub kind: NodeKind,
    pub name: String,
}

/// Collects nodes and resolved clauses; [`GraphBuilder::finish`] freezes
/// them into a compact [`Graph`].
///
/// Typical use: register every node first (so that names can be resolved),
/// then add the clauses.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    pub(crate) target: String,
    pub(crate) kinds: Vec<NodeKind>,
    pub(crate) names: Vec<String>,
    pub(crate) versions: Vec<String>,
    pub(crate) index: HashMap<(NodeKind, String), NodeId>,
    pub(crate) built_from: Vec<Option<NodeId>>,
    /// Per node, its clauses: (kind, alternatives, each a candidate list).
    pub(crate) clauses: Vec<Vec<(EdgeKind, Vec<Vec<NodeId>>)>>,
    pub(crate) unresolved: Vec<(NodeId, EdgeKind, String)>,
}

impl GraphBuilder {
    /// `target` names what the graph was resolved for (e.g. `debian/amd64`).
    pub fn new(target: impl Into<String>) -> Self {
        Self { target: target.into(), ..Self::default() }
    }

    /// The node of that kind and name, created if new.
    pub fn node(&mut self, kind: NodeKind, name: &str) -> NodeId {
        if let Some(&id) = self.index.get(&(kind, name.to_owned())) {
            return id;
        }
        let id = NodeId::try_from(self.kinds.len()).expect("more than 4 billion nodes");
        self.kinds.push(kind);
        self.names.push(name.to_owned());
        self.versions.push(String::new());
        self.built_from.push(None);
        self.clauses.push(Vec::new());
        self.index.insert((kind, name.to_owned()), id);
        id
    }

    /// An existing node, without creating one.
    pub fn lookup(&self, kind: NodeKind, name: &str) -> Option<NodeId> {
        self.index.get(&(kind, name.to_owned())).copied()
    }

    pub fn version(&self, node: NodeId) -> &str {
        &self.versions[node as usize]
    }

    pub fn set_version(&mut self, node: NodeId, version: &str) {
        self.versions[node as usize] = version.to_owned();
    }

    /// Records that `binary` is produced by building `source`.
    pub fn set_built_from(&mut self, binary: NodeId, source: NodeId) {
        self.built_from[binary as usize] = Some(source);
    }

    /// Adds one dependency of `from`. Each alternative is the (possibly
    /// empty) list of nodes satisfying it; a clause whose alternatives are all
    /// empty is unsatisfiable and is still kept, so `trace` can show it.
    pub fn add_clause(&mut self, from: NodeId, kind: EdgeKind, alternatives: Vec<Vec<NodeId>>) {
        self.clauses[from as usize].push((kind, alternatives));
    }

    /// Records a dependency name that nothing in the graph satisfies.
    pub fn add_unresolved(&mut self, from: NodeId, kind: EdgeKind, name: &str) {
        self.unresolved.push((from, kind, name.to_owned()));
    }

    pub fn node_count(&self) -> usize {
        self.kinds.len()
    }

    pub fn finish(self) -> crate::Graph {
        crate::Graph::from_builder(self)
    }
}
