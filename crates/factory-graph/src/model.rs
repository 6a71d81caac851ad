//! The format-neutral dependency graph.
//!
//! Importers (Debian indexes, RPM specs, modulemd, the factory definition)
//! resolve names themselves, because only they know their format's version
//! ordering and naming rules. They hand the graph *resolved clauses*: a clause
//! is one dependency (`a | b (>= 2)`), each alternative already turned into
//! the list of nodes that satisfy it. The graph never sees a version string
//! it has to interpret, which keeps every query format-neutral.

use rustc_hash::FxHashMap;

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
    pub const ALL: [EdgeKind; 3] = [
        EdgeKind::BuildRequires,
        EdgeKind::Requires,
        EdgeKind::Contains,
    ];

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
/// then add the clauses. Clauses go into flat arrays in the order they are
/// added (a distribution has over half a million; one allocation each would
/// dominate an import) and are grouped by node once, in `finish`.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    pub(crate) target: String,
    pub(crate) kinds: Vec<NodeKind>,
    pub(crate) names: Vec<String>,
    pub(crate) versions: Vec<String>,
    /// One name index per kind, so a lookup by `&str` needs no allocation.
    pub(crate) index: [FxHashMap<String, NodeId>; 5],
    pub(crate) built_from: Vec<Option<NodeId>>,
    pub(crate) clause_owner: Vec<NodeId>,
    pub(crate) clause_kind: Vec<EdgeKind>,
    /// Clause -> first alternative; one past the end is `alt_cands.len() - 1`.
    pub(crate) clause_alts: Vec<u32>,
    /// Alternative -> first candidate; always ends with `cands.len()`.
    pub(crate) alt_cands: Vec<u32>,
    pub(crate) cands: Vec<NodeId>,
    pub(crate) unresolved: Vec<(NodeId, EdgeKind, String)>,
}

impl GraphBuilder {
    /// `target` names what the graph was resolved for (e.g. `debian/amd64`).
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            alt_cands: vec![0],
            ..Self::default()
        }
    }

    /// Makes room for `nodes` more nodes of `kind`.
    pub fn reserve(&mut self, kind: NodeKind, nodes: usize) {
        self.index[kind as usize].reserve(nodes);
        self.kinds.reserve(nodes);
        self.names.reserve(nodes);
        self.versions.reserve(nodes);
        self.built_from.reserve(nodes);
    }

    /// The node of that kind and name, created if new.
    pub fn node(&mut self, kind: NodeKind, name: &str) -> NodeId {
        if let Some(&id) = self.index[kind as usize].get(name) {
            return id;
        }
        let id = NodeId::try_from(self.kinds.len()).expect("more than 4 billion nodes");
        self.kinds.push(kind);
        self.names.push(name.to_owned());
        self.versions.push(String::new());
        self.built_from.push(None);
        self.index[kind as usize].insert(name.to_owned(), id);
        id
    }

    /// An existing node, without creating one.
    pub fn lookup(&self, kind: NodeKind, name: &str) -> Option<NodeId> {
        self.index[kind as usize].get(name).copied()
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
        self.start_clause(from, kind);
        for alternative in alternatives {
            self.cands.extend(alternative);
            self.end_alternative();
        }
    }

    /// Starts a clause of `from`; follow with `push_candidate` and
    /// `end_alternative` for each alternative. The allocation-free form of
    /// [`GraphBuilder::add_clause`].
    pub fn start_clause(&mut self, from: NodeId, kind: EdgeKind) {
        self.clause_owner.push(from);
        self.clause_kind.push(kind);
        self.clause_alts.push(len_u32(self.alt_cands.len() - 1));
    }

    pub fn push_candidate(&mut self, node: NodeId) {
        self.cands.push(node);
    }

    /// Closes the current alternative; its candidates are sorted and
    /// deduplicated.
    pub fn end_alternative(&mut self) {
        let start = *self.alt_cands.last().expect("alt_cands starts with 0") as usize;
        let alternative = &mut self.cands[start..];
        alternative.sort_unstable();
        let mut kept = 0;
        for i in 0..alternative.len() {
            if i == 0 || alternative[i] != alternative[kept - 1] {
                alternative[kept] = alternative[i];
                kept += 1;
            }
        }
        self.cands.truncate(start + kept);
        self.alt_cands.push(len_u32(self.cands.len()));
    }

    /// Adds a whole alternative of the current clause at once; `candidates`
    /// must be sorted and free of duplicates.
    pub fn push_alternative(&mut self, candidates: &[NodeId]) {
        debug_assert!(
            candidates.windows(2).all(|w| w[0] < w[1]),
            "candidates must be sorted and distinct"
        );
        self.cands.extend_from_slice(candidates);
        self.alt_cands.push(len_u32(self.cands.len()));
    }

    /// Drops the clause being built (e.g. none of its alternatives applies).
    pub fn abandon_clause(&mut self) {
        let first_alt = self.clause_alts.pop().expect("a clause was started") as usize;
        self.clause_owner.pop();
        self.clause_kind.pop();
        self.cands.truncate(self.alt_cands[first_alt] as usize);
        self.alt_cands.truncate(first_alt + 1);
    }

    /// Alternatives of the clause being built so far.
    pub fn current_alternatives(&self) -> usize {
        self.alt_cands.len() - 1 - *self.clause_alts.last().unwrap_or(&0) as usize
    }

    /// Candidates of the alternative being built so far.
    pub fn current_candidates(&self) -> usize {
        self.cands.len() - *self.alt_cands.last().unwrap_or(&0) as usize
    }

    /// Candidates of the alternative closed last.
    pub fn current_candidates_of_last(&self) -> usize {
        match self.alt_cands.len() {
            0 | 1 => 0,
            n => (self.alt_cands[n - 1] - self.alt_cands[n - 2]) as usize,
        }
    }

    /// Moves the clauses and unresolved names of `other` — a builder used
    /// as a buffer, whose clauses name nodes of this one — after this
    /// builder's clauses. Lets several threads resolve clauses at once.
    pub fn append_clauses(&mut self, mut other: GraphBuilder) {
        if self.clause_owner.is_empty() && self.unresolved.is_empty() {
            // Nothing to offset: take the buffers as they are.
            std::mem::swap(&mut self.clause_owner, &mut other.clause_owner);
            std::mem::swap(&mut self.clause_kind, &mut other.clause_kind);
            std::mem::swap(&mut self.clause_alts, &mut other.clause_alts);
            std::mem::swap(&mut self.alt_cands, &mut other.alt_cands);
            std::mem::swap(&mut self.cands, &mut other.cands);
            std::mem::swap(&mut self.unresolved, &mut other.unresolved);
            return;
        }
        let alt_base = len_u32(self.alt_cands.len() - 1);
        let cand_base = len_u32(self.cands.len());
        self.clause_owner.extend(other.clause_owner);
        self.clause_kind.extend(other.clause_kind);
        self.clause_alts
            .extend(other.clause_alts.iter().map(|a| a + alt_base));
        self.alt_cands
            .extend(other.alt_cands[1..].iter().map(|c| c + cand_base));
        self.cands.extend(other.cands);
        self.unresolved.extend(other.unresolved);
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

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("graph larger than 4 billion entries")
}
