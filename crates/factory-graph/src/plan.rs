//! Rebuild plans: the affected set ordered into waves, with build cycles
//! planned as one unit and the critical path through it.

use std::collections::HashMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::graph::Graph;
use crate::model::NodeId;
use crate::query::{Alternatives, producer};

/// The order in which a set of nodes must be rebuilt.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Waves (levels): everything in a wave depends only on earlier waves.
    /// Members of one build cycle share a wave.
    pub waves: Vec<Vec<NodeId>>,
    /// Build cycles (strongly connected components of more than one node),
    /// each planned as one unit.
    pub cycles: Vec<Vec<NodeId>>,
    /// The chain of units whose total duration is longest, first to last.
    pub critical_path: Vec<NodeId>,
    /// Sum of the durations along the critical path, in seconds.
    pub critical_seconds: f64,
    /// Sum of every node's duration, in seconds.
    pub total_seconds: f64,
    /// Ordering edges inside the set (producer, consumer).
    pub edges: Vec<(NodeId, NodeId)>,
}

impl Plan {
    /// The widest wave: how many builds could run at once at best.
    pub fn max_width(&self) -> usize {
        self.waves.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// Orders `set`: `a` comes before `b` when one of `b`'s dependencies
/// (build dependency, or content for images and products) resolves to
/// something `a` produces. `duration` gives each node's expected seconds.
pub fn plan(
    graph: &Graph,
    set: &[NodeId],
    alternatives: Alternatives,
    duration: impl Fn(NodeId) -> f64,
) -> Plan {
    let dag = ordering_graph(graph, set, alternatives);
    let edges = dag
        .edge_indices()
        .filter_map(|e| dag.edge_endpoints(e))
        .map(|(a, b)| (dag[a], dag[b]))
        .collect();
    // tarjan_scc yields components in reverse topological order.
    let mut sccs = tarjan_scc(&dag);
    sccs.reverse();
    let mut unit_of = vec![0usize; dag.node_count()];
    for (unit, members) in sccs.iter().enumerate() {
        for &m in members {
            unit_of[m.index()] = unit;
        }
    }
    let weight: Vec<f64> = sccs
        .iter()
        .map(|members| members.iter().map(|&m| duration(dag[m])).sum())
        .collect();
    let mut level = vec![0usize; sccs.len()];
    let mut finish = weight.clone();
    let mut best_pred: Vec<Option<usize>> = vec![None; sccs.len()];
    for (unit, members) in sccs.iter().enumerate() {
        for &m in members {
            for pred in dag.neighbors_directed(m, petgraph::Direction::Incoming) {
                let p = unit_of[pred.index()];
                if p == unit {
                    continue;
                }
                level[unit] = level[unit].max(level[p] + 1);
                if finish[p] + weight[unit] > finish[unit] {
                    finish[unit] = finish[p] + weight[unit];
                    best_pred[unit] = Some(p);
                }
            }
        }
    }
    let name_sorted = |mut v: Vec<NodeId>| {
        v.sort_by(|&a, &b| graph.name(a).cmp(graph.name(b)).then(a.cmp(&b)));
        v
    };
    let depth = level.iter().copied().max().map_or(0, |m| m + 1);
    let mut waves = vec![Vec::new(); depth];
    for (unit, members) in sccs.iter().enumerate() {
        waves[level[unit]].extend(members.iter().map(|&m| dag[m]));
    }
    let waves = waves.into_iter().map(name_sorted).collect();
    let mut cycles: Vec<Vec<NodeId>> = sccs
        .iter()
        .filter(|members| members.len() > 1)
        .map(|members| name_sorted(members.iter().map(|&m| dag[m]).collect()))
        .collect();
    cycles.sort_by(|a, b| {
        b.len()
            .cmp(&a.len())
            .then_with(|| graph.name(a[0]).cmp(graph.name(b[0])))
    });
    let (critical_path, critical_seconds) = critical_chain(&sccs, &finish, &best_pred, |m| dag[m]);
    Plan {
        waves,
        cycles,
        critical_path,
        critical_seconds,
        total_seconds: weight.iter().sum(),
        edges,
    }
}

fn ordering_graph(
    graph: &Graph,
    set: &[NodeId],
    alternatives: Alternatives,
) -> DiGraph<NodeId, ()> {
    let mut dag = DiGraph::with_capacity(set.len(), set.len() * 4);
    let mut index = HashMap::with_capacity(set.len());
    for &node in set {
        index.entry(node).or_insert_with(|| dag.add_node(node));
    }
    let mut seen_edges = std::collections::HashSet::new();
    for &consumer in set {
        for clause in graph.clauses(consumer) {
            let alts: Vec<&[NodeId]> = match alternatives {
                Alternatives::All => clause.alternatives().collect(),
                Alternatives::First => clause.alternatives().take(1).collect(),
            };
            for &candidate in alts.into_iter().flatten() {
                let from = producer(graph, candidate);
                if from == consumer {
                    continue;
                }
                if let (Some(&a), Some(&b)) = (index.get(&from), index.get(&consumer)) {
                    if seen_edges.insert((a, b)) {
                        dag.add_edge(a, b, ());
                    }
                }
            }
        }
    }
    dag
}

/// Walks back from the unit that finishes last.
fn critical_chain(
    sccs: &[Vec<NodeIndex>],
    finish: &[f64],
    best_pred: &[Option<usize>],
    node: impl Fn(NodeIndex) -> NodeId,
) -> (Vec<NodeId>, f64) {
    let Some((last, &total)) = finish.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
        return (Vec::new(), 0.0);
    };
    let mut chain = Vec::new();
    let mut cur = Some(last);
    while let Some(unit) = cur {
        // A cycle unit is shown by its first member.
        chain.push(node(sccs[unit][0]));
        cur = best_pred[unit];
    }
    chain.reverse();
    (chain, total)
}
