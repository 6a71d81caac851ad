//! The questions release engineers ask of the graph. Exact semantics are
//! documented in `docs/graph.md`; keep the two in step.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::graph::{Graph, NONE};
use crate::model::{EdgeKind, NodeId, NodeKind};

/// How far a change propagates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// A buildable node is affected when the changed node is in the closure
    /// of its build dependencies through runtime dependencies (its build
    /// environment contains it). What `dose-ceve -r` computes.
    #[default]
    Closure,
    /// Only nodes that name the changed node (or a package providing it)
    /// directly.
    Direct,
    /// Open Build Service's meaning: the outputs of every affected source
    /// change too, so whatever depends on them is affected, to a fixpoint.
    Transitive,
    /// Only the changed sources themselves.
    Local,
}

/// Which alternatives of `a | b` count as a dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Alternatives {
    /// Every alternative, as dose does.
    #[default]
    All,
    /// Only the first, as Debian's build daemons resolve build dependencies.
    First,
}

/// Reverse adjacency: for each node, the nodes that have a clause naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse<'g> {
    pub(crate) start: Cow<'g, [u32]>,
    pub(crate) edges: Cow<'g, [u32]>,
}

impl Reverse<'_> {
    pub fn build(graph: &Graph, alternatives: Alternatives) -> Reverse<'static> {
        use crate::graph::Sec;
        let sections = [Sec::NodeClauses, Sec::ClauseAlts, Sec::AltCands, Sec::Cands]
            .map(|s| (s, graph.words(s)));
        Reverse::from_arrays(graph.node_count(), sections.into_iter(), alternatives)
    }

    /// From the clause arrays alone, so a graph can be given its stored
    /// reverse index before it exists as a graph.
    pub(crate) fn from_arrays<'a>(
        n: usize,
        sections: impl Iterator<Item = (crate::graph::Sec, &'a [u32])>,
        alternatives: Alternatives,
    ) -> Reverse<'static> {
        use crate::graph::Sec;
        let (mut node_clauses, mut clause_alts, mut alt_cands, mut cands): (
            &[u32],
            &[u32],
            &[u32],
            &[u32],
        ) = (&[], &[], &[], &[]);
        for (sec, words) in sections {
            match sec {
                Sec::NodeClauses => node_clauses = words,
                Sec::ClauseAlts => clause_alts = words,
                Sec::AltCands => alt_cands = words,
                Sec::Cands => cands = words,
                _ => {}
            }
        }
        let for_each_edge = |f: &mut dyn FnMut(u32, u32)| {
            for from in 0..n {
                for c in node_clauses[from] as usize..node_clauses[from + 1] as usize {
                    let last_alt = match alternatives {
                        Alternatives::All => clause_alts[c + 1] as usize,
                        Alternatives::First => {
                            (clause_alts[c] as usize + 1).min(clause_alts[c + 1] as usize)
                        }
                    };
                    for a in clause_alts[c] as usize..last_alt {
                        for &to in &cands[alt_cands[a] as usize..alt_cands[a + 1] as usize] {
                            f(from as u32, to);
                        }
                    }
                }
            }
        };
        let mut counts = vec![0u32; n + 1];
        for_each_edge(&mut |_, to| counts[to as usize + 1] += 1);
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut edges = vec![0u32; counts[n] as usize];
        for_each_edge(&mut |from, to| {
            edges[next[to as usize] as usize] = from;
            next[to as usize] += 1;
        });
        Reverse {
            start: Cow::Owned(counts),
            edges: Cow::Owned(edges),
        }
    }

    /// The nodes with a clause naming `node` (may repeat).
    pub fn dependents(&self, node: NodeId) -> &[NodeId] {
        &self.edges[self.start[node as usize] as usize..self.start[node as usize + 1] as usize]
    }
}

/// The buildable nodes a change to `changed` makes necessary to rebuild,
/// sorted by name. `changed` holds binaries (a package changed) and/or
/// buildable nodes (that source, image, … itself changed).
pub fn affected(
    graph: &Graph,
    reverse: &Reverse<'_>,
    changed: &[NodeId],
    mode: Mode,
) -> Vec<NodeId> {
    let mut seen = vec![false; graph.node_count()];
    let mut result = Vec::new();
    let mut queue = VecDeque::new();
    for &node in changed {
        if graph.kind(node).is_buildable() {
            mark(&mut seen, &mut result, node);
        } else {
            seen[node as usize] = true;
        }
        if mode == Mode::Local {
            // Only what builds the changed thing: a binary's own source.
            let source = producer(graph, node);
            if graph.kind(source).is_buildable() {
                mark(&mut seen, &mut result, source);
            }
            continue;
        }
        // A changed source changes its binaries, and its output tree for
        // whatever names the source itself (definition components).
        if graph.kind(node) == NodeKind::Source {
            push_binaries(graph, node, &mut seen, &mut queue);
        }
        queue.push_back(node);
    }
    if mode == Mode::Local {
        return sorted_by_name(graph, result);
    }
    while let Some(node) = queue.pop_front() {
        for &dependent in reverse.dependents(node) {
            if seen[dependent as usize] {
                continue;
            }
            let kind = graph.kind(dependent);
            if kind.is_buildable() {
                mark(&mut seen, &mut result, dependent);
            } else {
                seen[dependent as usize] = true;
            }
            let propagate = match (mode, kind) {
                (Mode::Direct, _) => false,
                (_, NodeKind::Binary) => true,
                (Mode::Transitive, NodeKind::Source) => {
                    push_binaries(graph, dependent, &mut seen, &mut queue);
                    true
                }
                (_, NodeKind::Source) => false,
                // Images, modules and products: what contains them changes too.
                _ => true,
            };
            if propagate {
                queue.push_back(dependent);
            }
        }
    }
    sorted_by_name(graph, result)
}

fn push_binaries(graph: &Graph, source: NodeId, seen: &mut [bool], queue: &mut VecDeque<NodeId>) {
    for &bin in graph.builds(source) {
        if !std::mem::replace(&mut seen[bin as usize], true) {
            queue.push_back(bin);
        }
    }
}

fn mark(seen: &mut [bool], result: &mut Vec<NodeId>, node: NodeId) {
    if !std::mem::replace(&mut seen[node as usize], true) {
        result.push(node);
    }
}

fn sorted_by_name(graph: &Graph, mut nodes: Vec<NodeId>) -> Vec<NodeId> {
    nodes.sort_by(|&a, &b| graph.name(a).cmp(graph.name(b)).then(a.cmp(&b)));
    nodes.dedup();
    nodes
}

/// The node that must be built to produce `node`: its source for a binary,
/// the node itself otherwise.
pub fn producer(graph: &Graph, node: NodeId) -> NodeId {
    match graph.kind(node) {
        NodeKind::Binary => graph.built_from(node).unwrap_or(node),
        _ => node,
    }
}

/// How one node reaches another, for `trace` and `why`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `from` has a clause of this kind satisfied by `to`.
    Depends(EdgeKind),
    /// `from` (a binary) is built from `to` (a source).
    BuiltFrom,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Depends(kind) => kind.as_str(),
            Link::BuiltFrom => "built-from",
        }
    }
}

/// What `node` is made from: its clauses' candidates, and its source.
pub fn upstream(graph: &Graph, node: NodeId) -> Vec<(Link, NodeId)> {
    let mut out = Vec::new();
    if let Some(src) = graph.built_from(node) {
        out.push((Link::BuiltFrom, src));
    }
    for clause in graph.clauses(node) {
        for to in clause.candidates() {
            out.push((Link::Depends(clause.kind()), to));
        }
    }
    out.sort_unstable_by_key(|&(link, to)| (link.as_str(), to));
    out.dedup();
    out
}

/// What is made from `node`: the binaries a source builds and whatever
/// build-requires or contains it. Runtime users are left out: they are not
/// made from it.
pub fn downstream(graph: &Graph, reverse: &Reverse<'_>, node: NodeId) -> Vec<(Link, NodeId)> {
    let mut out: Vec<(Link, NodeId)> = graph
        .builds(node)
        .iter()
        .map(|&b| (Link::BuiltFrom, b))
        .collect();
    for &dependent in reverse.dependents(node) {
        for clause in graph.clauses(dependent) {
            if clause.kind() != EdgeKind::Requires && clause.candidates().any(|c| c == node) {
                out.push((Link::Depends(clause.kind()), dependent));
            }
        }
    }
    out.sort_unstable_by_key(|&(link, to)| (link.as_str(), to));
    out.dedup();
    out
}

/// One shortest path `from` → … → `to` following dependencies and
/// built-from links; `None` when `from` does not depend on `to`.
pub fn why(graph: &Graph, from: NodeId, to: NodeId) -> Option<Vec<(NodeId, Link, NodeId)>> {
    let mut parent: Vec<(u32, Option<Link>)> = vec![(NONE, None); graph.node_count()];
    let mut queue = VecDeque::from([from]);
    parent[from as usize] = (from, None);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = Vec::new();
            let mut cur = to;
            while cur != from {
                let (prev, link) = parent[cur as usize];
                path.push((prev, link.unwrap_or(Link::BuiltFrom), cur));
                cur = prev;
            }
            path.reverse();
            return Some(path);
        }
        for (link, next) in upstream(graph, node) {
            if parent[next as usize].0 == NONE {
                parent[next as usize] = (node, Some(link));
                queue.push_back(next);
            }
        }
    }
    None
}
