//! The frozen graph: typed sections of one aligned `u32` buffer — the very
//! bytes of the on-disk snapshot — so that loading a stored graph is one
//! read, and a query touches only the sections it needs.

use std::borrow::Cow;

use crate::model::{EdgeKind, GraphBuilder, NodeId, NodeKind};
use crate::query::{Alternatives, Reverse};

/// Marks "no node" in `u32` arrays.
pub(crate) const NONE: u32 = u32::MAX;

/// The sections of a graph's buffer, in storage order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sec {
    /// What the graph was resolved for (UTF-8 bytes).
    Target,
    /// Per node: its [`NodeKind`] (bytes).
    Kinds,
    NameBlob,
    /// Per node: end offset of its name in `NameBlob`.
    NameEnds,
    VersionBlob,
    VersionEnds,
    /// Per node: the source it is built from, or [`NONE`].
    BuiltFrom,
    /// Node -> its clauses (`n + 1` offsets).
    NodeClauses,
    /// Per clause: its [`EdgeKind`] (bytes).
    ClauseKind,
    /// Clause -> its alternatives (`clauses + 1` offsets).
    ClauseAlts,
    /// Alternative -> its candidates (`alternatives + 1` offsets).
    AltCands,
    Cands,
    /// Node ids sorted by (name, kind), for lookups by binary search.
    ByName,
    /// Who names each node, counting every alternative (`n + 1` offsets,
    /// then the edges): the index behind every default query.
    RevStart,
    RevEdges,
    /// Unresolved names: (from u32, kind u8, length u32, bytes)*.
    Unresolved,
}

pub(crate) const SECTIONS: usize = 16;

impl Sec {
    pub(crate) const ALL: [Sec; SECTIONS] = [
        Sec::Target,
        Sec::Kinds,
        Sec::NameBlob,
        Sec::NameEnds,
        Sec::VersionBlob,
        Sec::VersionEnds,
        Sec::BuiltFrom,
        Sec::NodeClauses,
        Sec::ClauseKind,
        Sec::ClauseAlts,
        Sec::AltCands,
        Sec::Cands,
        Sec::ByName,
        Sec::RevStart,
        Sec::RevEdges,
        Sec::Unresolved,
    ];
}

/// Where a section lies in the buffer: its first word and its length in
/// elements (bytes for byte sections, words otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) word: usize,
    pub(crate) len: usize,
}

/// The words of a graph: built in memory, or a stored snapshot mapped
/// from its file.
#[derive(Debug)]
pub(crate) enum Body {
    Owned(Vec<u32>),
    /// The whole file; the words start after the header.
    Mapped(memmap2::Mmap),
}

impl Body {
    pub(crate) fn words(&self) -> &[u32] {
        match self {
            Body::Owned(words) => words,
            Body::Mapped(map) => {
                let end = map.len() - crate::snapshot::TRAILER;
                bytemuck::cast_slice(&map[crate::snapshot::HEADER..end])
            }
        }
    }
}

impl Clone for Body {
    fn clone(&self) -> Self {
        Body::Owned(self.words().to_vec())
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.words() == other.words()
    }
}

impl Eq for Body {}

/// A resolved dependency graph. Built once by an importer, then only read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The section table (as written) followed by the sections.
    pub(crate) body: Body,
    pub(crate) spans: [Span; SECTIONS],
    /// Derived from `BuiltFrom` when the graph is opened: source -> binaries.
    products_start: Vec<u32>,
    products: Vec<u32>,
    unresolved: Vec<Unresolved>,
}

/// A dependency name nothing satisfies, kept for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub from: NodeId,
    pub kind: EdgeKind,
    pub name: String,
}

/// One dependency clause of a node, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Clause<'g> {
    graph: &'g Graph,
    index: usize,
}

impl<'g> Clause<'g> {
    pub fn kind(&self) -> EdgeKind {
        EdgeKind::from_u8(self.graph.bytes(Sec::ClauseKind)[self.index])
            .unwrap_or(EdgeKind::Requires)
    }

    /// The alternatives, each the list of nodes satisfying it.
    pub fn alternatives(&self) -> impl Iterator<Item = &'g [NodeId]> + 'g {
        let g = self.graph;
        let (alts, starts, cands) = (
            g.words(Sec::ClauseAlts),
            g.words(Sec::AltCands),
            g.words(Sec::Cands),
        );
        (alts[self.index] as usize..alts[self.index + 1] as usize)
            .map(move |a| &cands[starts[a] as usize..starts[a + 1] as usize])
    }

    /// Every candidate of every alternative.
    pub fn candidates(&self) -> impl Iterator<Item = NodeId> + 'g {
        self.alternatives().flat_map(|alt| alt.iter().copied())
    }
}

/// Sections under construction, before they are laid out in one buffer.
#[derive(Default)]
pub(crate) struct Parts {
    pub(crate) bytes: Vec<(Sec, Vec<u8>)>,
    pub(crate) words: Vec<(Sec, Vec<u32>)>,
}

impl Graph {
    pub(crate) fn from_builder(b: GraphBuilder) -> Self {
        let n = b.kinds.len();
        let mut parts = Parts::default();
        parts
            .bytes
            .push((Sec::Target, b.target.as_bytes().to_vec()));
        parts
            .bytes
            .push((Sec::Kinds, b.kinds.iter().map(|k| *k as u8).collect()));
        for (blob, ends, strings) in [
            (Sec::NameBlob, Sec::NameEnds, &b.names),
            (Sec::VersionBlob, Sec::VersionEnds, &b.versions),
        ] {
            let mut text = Vec::new();
            let mut offsets = Vec::with_capacity(strings.len());
            for s in strings {
                text.extend_from_slice(s.as_bytes());
                offsets.push(len_u32(text.len()));
            }
            parts.bytes.push((blob, text));
            parts.words.push((ends, offsets));
        }
        parts.words.push((
            Sec::BuiltFrom,
            b.built_from.iter().map(|s| s.unwrap_or(NONE)).collect(),
        ));
        let (node_clauses, clause_kind, clause_alts, alt_cands, cands) = group_clauses(&b, n);
        parts.words.push((Sec::NodeClauses, node_clauses));
        parts.bytes.push((Sec::ClauseKind, clause_kind));
        parts.words.push((Sec::ClauseAlts, clause_alts));
        parts.words.push((Sec::AltCands, alt_cands));
        parts.words.push((Sec::Cands, cands));
        let mut by_name: Vec<u32> = (0..len_u32(n)).collect();
        // Importers add nodes in index order, which is alphabetical: a few
        // sorted runs, which the stable (run-detecting) sort merges in
        // near-linear time where an unstable sort would not.
        by_name.sort_by(|&x, &y| {
            let (x, y) = (x as usize, y as usize);
            (b.names[x].as_str(), b.kinds[x]).cmp(&(b.names[y].as_str(), b.kinds[y]))
        });
        parts.words.push((Sec::ByName, by_name));
        let mut unresolved = Vec::new();
        for (from, kind, name) in &b.unresolved {
            unresolved.extend_from_slice(&from.to_le_bytes());
            unresolved.push(*kind as u8);
            unresolved.extend_from_slice(&len_u32(name.len()).to_le_bytes());
            unresolved.extend_from_slice(name.as_bytes());
        }
        parts.bytes.push((Sec::Unresolved, unresolved));
        let reverse = Reverse::from_arrays(
            n,
            parts
                .words
                .iter()
                .map(|(sec, words)| (*sec, words.as_slice())),
            Alternatives::All,
        );
        parts
            .words
            .push((Sec::RevStart, reverse.start.into_owned()));
        parts
            .words
            .push((Sec::RevEdges, reverse.edges.into_owned()));
        Graph::from_body(Body::Owned(crate::snapshot::lay_out(parts)))
            .expect("a built graph is consistent")
    }

    /// Opens a laid-out buffer: checks every section, then derives the
    /// source -> binaries index and decodes the unresolved names.
    pub(crate) fn from_body(body: Body) -> Result<Self, String> {
        let spans = crate::snapshot::read_table(body.words())?;
        let mut graph = Graph {
            body,
            spans,
            products_start: Vec::new(),
            products: Vec::new(),
            unresolved: Vec::new(),
        };
        crate::snapshot::validate(&graph)?;
        graph.unresolved = crate::snapshot::decode_unresolved(graph.bytes(Sec::Unresolved))?;
        graph.index_products();
        Ok(graph)
    }

    pub(crate) fn words(&self, sec: Sec) -> &[u32] {
        let span = self.spans[sec as usize];
        &self.body.words()[span.word..span.word + span.len]
    }

    pub(crate) fn bytes(&self, sec: Sec) -> &[u8] {
        let span = self.spans[sec as usize];
        let all: &[u8] = bytemuck::cast_slice(self.body.words());
        &all[span.word * 4..span.word * 4 + span.len]
    }

    fn string(&self, blob: Sec, ends: Sec, i: usize) -> &str {
        let ends = self.words(ends);
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        // Validated as UTF-8 on char boundaries when the graph was opened.
        std::str::from_utf8(&self.bytes(blob)[start..ends[i] as usize]).unwrap_or("")
    }

    /// Derives source -> binaries from `built_from`.
    fn index_products(&mut self) {
        let n = self.node_count();
        let built_from = self.words(Sec::BuiltFrom);
        let mut counts = vec![0u32; n + 1];
        for &src in built_from {
            if src != NONE {
                counts[src as usize + 1] += 1;
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut products = vec![0u32; counts[n] as usize];
        for (bin, &src) in built_from.iter().enumerate() {
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
        std::str::from_utf8(self.bytes(Sec::Target)).unwrap_or("")
    }

    pub fn node_count(&self) -> usize {
        self.spans[Sec::Kinds as usize].len
    }

    pub fn clause_count(&self) -> usize {
        self.spans[Sec::ClauseKind as usize].len
    }

    pub fn edge_count(&self) -> usize {
        self.spans[Sec::Cands as usize].len
    }

    pub fn kind(&self, node: NodeId) -> NodeKind {
        NodeKind::from_u8(self.bytes(Sec::Kinds)[node as usize]).unwrap_or(NodeKind::Binary)
    }

    pub fn name(&self, node: NodeId) -> &str {
        self.string(Sec::NameBlob, Sec::NameEnds, node as usize)
    }

    pub fn version(&self, node: NodeId) -> &str {
        self.string(Sec::VersionBlob, Sec::VersionEnds, node as usize)
    }

    /// The source a binary is built from.
    pub fn built_from(&self, node: NodeId) -> Option<NodeId> {
        let s = self.words(Sec::BuiltFrom)[node as usize];
        (s != NONE).then_some(s)
    }

    /// The binaries built from a source.
    pub fn builds(&self, source: NodeId) -> &[NodeId] {
        let s = source as usize;
        &self.products[self.products_start[s] as usize..self.products_start[s + 1] as usize]
    }

    pub fn clauses(&self, node: NodeId) -> impl Iterator<Item = Clause<'_>> + '_ {
        let starts = self.words(Sec::NodeClauses);
        let n = node as usize;
        (starts[n] as usize..starts[n + 1] as usize).map(move |index| Clause { graph: self, index })
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
        let kinds = self.bytes(Sec::Kinds);
        let by_name = self.words(Sec::ByName);
        by_name
            .binary_search_by(|&id| (self.name(id), kinds[id as usize]).cmp(&(name, kind as u8)))
            .ok()
            .map(|i| by_name[i])
    }

    /// Every node with this name, whatever its kind.
    pub fn find_all(&self, name: &str) -> &[NodeId] {
        let by_name = self.words(Sec::ByName);
        let start = by_name.partition_point(|&id| self.name(id) < name);
        let end = by_name.partition_point(|&id| self.name(id) <= name);
        &by_name[start..end]
    }

    /// All names, for "did you mean" suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.nodes().map(|n| self.name(n))
    }

    /// The reverse index for `alternatives`: stored for every alternative,
    /// derived on demand for the first only.
    pub fn reverse(&self, alternatives: Alternatives) -> Reverse<'_> {
        match alternatives {
            Alternatives::All => Reverse {
                start: Cow::Borrowed(self.words(Sec::RevStart)),
                edges: Cow::Borrowed(self.words(Sec::RevEdges)),
            },
            Alternatives::First => Reverse::build(self, Alternatives::First),
        }
    }
}

type Grouped = (Vec<u32>, Vec<u8>, Vec<u32>, Vec<u32>, Vec<u32>);

/// Groups the builder's clauses by owner (a stable counting sort), copying
/// each clause's alternatives and candidates into place.
fn group_clauses(b: &GraphBuilder, n: usize) -> Grouped {
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
    let alt_end = |c: usize| {
        b.clause_alts
            .get(c + 1)
            .map_or(b.alt_cands.len() - 1, |&a| a as usize)
    };
    let mut clause_kind = Vec::with_capacity(order.len());
    let mut clause_alts = Vec::with_capacity(order.len() + 1);
    let mut alt_cands = Vec::with_capacity(b.alt_cands.len());
    let mut cands = Vec::with_capacity(b.cands.len());
    clause_alts.push(0);
    alt_cands.push(0);
    for &clause in &order {
        let c = clause as usize;
        clause_kind.push(b.clause_kind[c] as u8);
        for a in b.clause_alts[c] as usize..alt_end(c) {
            cands.extend_from_slice(&b.cands[b.alt_cands[a] as usize..b.alt_cands[a + 1] as usize]);
            alt_cands.push(len_u32(cands.len()));
        }
        clause_alts.push(len_u32(alt_cands.len() - 1));
    }
    (node_clauses, clause_kind, clause_alts, alt_cands, cands)
}

pub(crate) fn len_u32(n: usize) -> u32 {
    u32::try_from(n).expect("graph larger than 4 billion entries")
}
