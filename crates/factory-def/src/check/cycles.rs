//! Dependency cycles, reported one per strongly connected component with one cycle
//! through it spelled out in order; components and images collect their own edges.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};

use super::Checker;
use crate::diag::{Diagnostic, ErrorCode};
use crate::source::At;

/// `from` depends on `to` (indices into the names), written at `at`.
pub(super) struct Edge {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) at: At,
    pub(super) relation: &'static str,
}

impl Checker<'_> {
    /// One error per strongly connected component, showing one cycle through it in order.
    pub(super) fn report_cycles(&mut self, what: &str, names: &[&str], edges: &[Edge], help: &str) {
        let mut graph: DiGraph<usize, usize> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..names.len()).map(|i| graph.add_node(i)).collect();
        for (i, e) in edges.iter().enumerate() {
            graph.add_edge(nodes[e.from], nodes[e.to], i);
        }
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let self_loop = scc.len() == 1 && graph.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let cycle = cycle_through(&graph, &scc, names);
            if cycle.is_empty() {
                continue;
            }
            let path: Vec<&str> = cycle
                .iter()
                .map(|&e| names[edges[e].from])
                .chain(cycle.first().map(|&e| names[edges[e].from]))
                .collect();
            let first = &edges[cycle[0]];
            let mut d = Diagnostic::new(ErrorCode::Cycle, format!("{what}: {}", path.join(" -> ")))
                .at(self.sources.location(&first.at))
                .label(format!(
                    "`{}` {} `{}`",
                    names[first.from], first.relation, names[first.to]
                ));
            for &e in &cycle[1..] {
                let edge = &edges[e];
                d = d.note(
                    format!(
                        "`{}` {} `{}`",
                        names[edge.from], edge.relation, names[edge.to]
                    ),
                    Some(self.sources.location(&edge.at)),
                );
            }
            self.push(d.help(help));
        }
    }
}

/// The edges of one shortest cycle through the alphabetically first node of `scc`.
// petgraph finds the strongly connected components; it has no "one cycle, in order"
// query, so we walk a breadth-first search inside the component.
fn cycle_through(graph: &DiGraph<usize, usize>, scc: &[NodeIndex], names: &[&str]) -> Vec<usize> {
    use petgraph::visit::EdgeRef;
    let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
    let Some(&start) = scc.iter().min_by_key(|n| names[graph[**n]]) else {
        return Vec::new();
    };
    let mut came_by: BTreeMap<NodeIndex, (NodeIndex, usize)> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut out: Vec<_> = graph
            .edges(node)
            .filter(|e| members.contains(&e.target()))
            .collect();
        out.sort_by_key(|e| names[graph[e.target()]]);
        for edge in out {
            let target = edge.target();
            if target == start {
                let mut path = vec![*edge.weight()];
                let mut at = node;
                while at != start {
                    let Some(&(prev, e)) = came_by.get(&at) else {
                        return Vec::new();
                    };
                    path.push(e);
                    at = prev;
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(v) = came_by.entry(target) {
                v.insert((node, *edge.weight()));
                queue.push_back(target);
            }
        }
    }
    Vec::new()
}
