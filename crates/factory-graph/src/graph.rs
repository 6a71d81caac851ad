//! The frozen graph: compact arrays (compressed sparse rows) that load fast
//! and answer reachability queries without allocating per edge.

use std::borrow::Cow;

use crate::model::{EdgeKind, GraphBuilder, NodeId, NodeKind};
use crate::query::{Alternatives, Reverse};

/// Marks "no node" in `u32` arrays.
pub(crate) const NONE: u32 = u32::MAX;

/// A resolved dependency graph. Built once by an importer, then only read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub(crate) target: String,
    pub(crate) kinds: Vec<u8>,
    pub(crate) names: Strings,
    pub(crate) versions: Strings,
    pub(crate) built_from: Vec<u32>,
    /// Node -> its clauses (`node_clauses[n]..node_clauses[n+1]`).
    pub(crate) node_clauses: Vec<u32>,
    pub(crate) clause_kind: Vec<u8>,
    /// Clause -> its alternatives.
    pub(crate) clause_alts: Vec<u32>,
    /// Alternative -> its candidates.
    pub(crate) alt_cands: Vec<u32>,
    pub(crate) cands: Vec<u32>,
    /// Node ids sorted by (name, kind), for lookups by binary search.
    pub(crate) by_name: Vec<u32>,
    /// Source -> the binaries built from it (CSR).
    pub(crate) products_start: Vec<u32>,
    pub(crate) products: Vec<u32>,
    /// Who names each node, counting every alternative: the index behind
    /// every default query, stored so that a query need not derive it.
    pub(crate) reverse: Reverse,
    pub(crate) unresolved: Vec<Unresolved>,
}

/// A dependency name nothing satisfies, kept for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub from: NodeId,
    pub kind: EdgeKind,
    pub name: String,
}

/// Many strings in one buffer, so that loading does not allocate per name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Strings {
    pub(crate) blob: String,
    pub(crate) ends: Vec<u32>,
}

impl Strings {
    fn push(&mut self, s: &str) {
        self.blob.push_str(s);
        self.ends.push(u32::try_from(self.blob.len()).expect("names exceed 4 GiB"));
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.blob[start..self.ends[i] as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

/// One dependency clause of a node, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Clause<'g> {
    graph: &'g Graph,
    index: usize,
}

impl<'g> Clause<'g> {
    pub fn kind(&self) -> EdgeKind {
        EdgeKind::from_u8(self.graph.clause_kind[self.index]).unwrap_or(EdgeKind::Requires)
    }

    /// The alternatives, each the list of nodes satisfying it.
    pub fn alternatives(&self) -> impl Iterator<Item = &'g [NodeId]> + 'g {
        let g = self.graph;
        let range = g.clause_alts[self.index] as usize..g.clause_alts[self.index + 1] as usize;
        range.map(move |a| &g.cands[g.alt_cands[a] as usize..g.alt_cands[a + 1] as usize])
    }

    /// Every candidate of every alternative.
    pub fn candidates(&self) -> impl Iterator<Item = NodeId> + 'g {
        self.alternatives().flat_map(|alt| alt.iter().copied())
    }
}

impl Graph {
    pub(crate) fn from_builder(b: GraphBuilder) -> Self {
        let n = b.kinds.len();
        let mut g = Graph {
            target: b.target,
            kinds: b.kinds.iter().map(|k| *k as u8).collect(),
            names: Strings::default(),
            versions: Strings::default(),
            built_from: b.built_from.iter().map(|s| s.unwrap_or(NONE)).collect(),
            node_clauses: Vec::new(),
            clause_kind: Vec::with_capacity(b.clause_kind.len()),
            clause_alts: Vec::with_capacity(b.clause_kind.len() + 1),
            alt_cands: Vec::with_capacity(b.alt_cands.len()),
            cands: Vec::with_capacity(b.cands.len()),
            by_name: Vec::new(),
            products_start: Vec::new(),
            products: Vec::new(),
            reverse: Reverse::default(),
            unresolved: b
                .unresolved
                .into_iter()
                .map(|(from, kind, name)| Unresolved { from, kind, name })
                .collect(),
        };
        for name in &b.names {
            g.names.push(name);
        }
        for version in &b.versions {
            g.versions.push(version);
        }
        // Group the clauses by owner (a stable counting sort), copying each
        // clause's alternatives and candidates into place.
        let mut node_clauses = vec![0u32; n + 1];
        for &owner in &b.clause_owner {
            node_clauses[owner as usize + 1] += 1;
        }
        for i in 0..n {
            node_clauses[i + 1] += node_clauses[i];
        }
        let mut order = vec![0u32; b.clause_owner.len()];
        let mut next = node_clauses.clone();
        for (clause, &owner) in b.clause_owner.iter().enumerate() {
            order[next[owner as usize] as usize] = len_u32(clause);
            next[owner as usize] += 1;
        }
        let alt_end = |c: usize| b.clause_alts.get(c + 1).map_or(b.alt_cands.len() - 1, |&a| a as usize);
        g.clause_alts.push(0);
        g.alt_cands.push(0);
        for &clause in &order {
            let c = clause as usize;
            g.clause_kind.push(b.clause_kind[c] as u8);
            for a in b.clause_alts[c] as usize..alt_end(c) {
                g.cands.extend_from_slice(&b.cands[b.alt_cands[a] as usize..b.alt_cands[a + 1] as usize]);
                g.alt_cands.push(len_u32(g.cands.len()));
            }
            g.clause_alts.push(len_u32(g.alt_cands.len() - 1));
        }
        g.node_clauses = node_clauses;
        g.by_name = (0..len_u32(n)).collect();
        g.by_name.sort_unstable_by(|&x, &y| {
            (g.names.get(x as usize), g.kinds[x as usize]).cmp(&(g.names.get(y as usize), g.kinds[y as usize]))
        });
        g.index_products();
        g.reverse = Reverse::build(&g, Alternatives::All);
        g
    }

    /// The reverse index for `alternatives`: stored for every alternative,
    /// derived on demand for the first only.
    pub fn reverse(&self, alternatives: Alternatives) -> Cow<'_, Reverse> {
        match alternatives {
            Alternatives::All => Cow::Borrowed(&self.reverse),
            Alternatives::First => Cow::Owned(Reverse::build(self, Alternatives::First)),
        }
    }

    /// Derives source -> binaries from `built_from`.
    pub(crate) fn index_products(&mut self) {
        let n = self.kinds.len();
        let mut counts = vec![0u32; n + 1];
        for &src in &self.built_from {
            if src != NONE {
                counts[src as usize + 1] += 1;
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut products = vec![0u32; counts[n] as usize];
        for (bin, &src) in self.built_from.iter().enumerate() {
            if src != NONE {
                products[next[src as usize] as usize] = len_u32(bin);
                next[src as usize] += 1;
            }
        }
        self.products_start = counts;
        self.products = products;
    }

    /// What the graph was resolved for, e.g. `debian/amd64`.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn node_count(&self) -> usize {
        self.kinds.len()
    }

    pub fn clause_count(&self) -> usize {
        self.clause_kind.len()
    }

    pub fn edge_count(&self) -> usize {
        self.cands.len()
    }

    pub fn kind(&self, node: NodeId) -> NodeKind {
        NodeKind::from_u8(self.kinds[node as usize]).unwrap_or(NodeKind::Binary)
    }

    pub fn name(&self, node: NodeId) -> &str {
        self.names.get(node as usize)
    }

    pub fn version(&self, node: NodeId) -> &str {
        self.versions.get(node as usize)
    }

    /// The source a binary is built from.
    pub fn built_from(&self, node: NodeId) -> Option<NodeId> {
        let s = self.built_from[node as usize];
        (s != NONE).then_some(s)
    }

    /// The binaries built from a source.
    pub fn builds(&self, source: NodeId) -> &[NodeId] {
        let s = source as usize;
        &self.products[self.products_start[s] as usize..self.products_start[s + 1] as usize]
    }

    pub fn clauses(&self, node: NodeId) -> impl Iterator<Item = Clause<'_>> + '_ {
        let n = node as usize;
        (self.node_clauses[n] as usize..self.node_clauses[n + 1] as usize).map(move |index| Clause { graph: self, index })
    }

    pub fn unresolved(&self) -> &[Unresolved] {
        &self.unresolved
    }

    /// Every node, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> {
        0..len_u32(self.node_count())
    }

    /// The node of this kind and name.
    pub fn find(&self, kind: NodeKind, name: &str) -> Option<NodeId> {
        let k = kind as u8;
        self.by_name
            .binary_search_by(|&id| (self.name(id), self.kinds[id as usize]).cmp(&(name, k)))
            .ok()
            .map(|i| self.by_name[i])
    }

    /// Every node with this name, whatever its kind.
    pub fn find_all(&self, name: &str) -> &[NodeId] {
        let start = self.by_name.partition_point(|&id| self.name(id) < name);
        let end = self.by_name.partition_point(|&id| self.name(id) <= name);
        &self.by_name[start..end]
    }

    /// All names, for "did you mean" suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        (0..self.names.len()).map(|i| self.names.get(i))
    }
}

pub(crate) fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("graph larger than 4 billion entries")
}
