//! RPM spec files in the graph: a spec is a source, its subpackages are
//! binaries built from it. `BuildRequires` and `Requires` resolve against
//! the imported packages by name and by `Provides`, with rpm's version
//! ordering; what no imported spec provides (the base system, file paths,
//! rich dependencies) is reported as unresolved.

use factory_graph::{EdgeKind, GraphBuilder, NodeId, NodeKind};
use rustc_hash::FxHashMap;

use crate::rpm::{RpmDep, RpmSource};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmReport {
    pub sources: usize,
    pub binaries: usize,
    pub clauses: usize,
    pub edges: usize,
    pub unresolved_names: usize,
}

fn evr(epoch: Option<u64>, version: &str, release: &str) -> String {
    match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    }
}

pub fn add_rpm(builder: &mut GraphBuilder, specs: &[RpmSource]) -> RpmReport {
    let mut report = RpmReport::default();
    // Name or capability -> (node, version it is offered at, if any).
    let mut offered: FxHashMap<&str, Vec<(NodeId, Option<String>)>> = FxHashMap::default();
    for spec in specs {
        let source = builder.node(NodeKind::Source, &spec.name);
        builder.set_version(source, &evr(spec.epoch, &spec.version, &spec.release));
        report.sources += 1;
        for package in &spec.subpackages {
            let binary = builder.node(NodeKind::Binary, &package.name);
            let at = evr(package.epoch, &package.version, &package.release);
            builder.set_version(binary, &at);
            builder.set_built_from(binary, source);
            offered
                .entry(&package.name)
                .or_default()
                .push((binary, Some(at)));
            for provide in &package.provides {
                let version = provide.constraint.as_ref().map(|(_, v)| v.clone());
                offered
                    .entry(&provide.name)
                    .or_default()
                    .push((binary, version));
            }
            report.binaries += 1;
        }
    }
    let mut unresolved = rustc_hash::FxHashSet::default();
    let mut add = |builder: &mut GraphBuilder, from: NodeId, kind: EdgeKind, dep: &RpmDep| {
        let candidates: Vec<NodeId> = offered
            .get(dep.name.as_str())
            .into_iter()
            .flatten()
            .filter(|(_, at)| {
                dep.constraint.is_none() || at.as_deref().is_some_and(|v| dep.satisfied_by(v))
            })
            .map(|&(node, _)| node)
            .collect();
        if candidates.is_empty() && unresolved.insert(dep.name.clone()) {
            builder.add_unresolved(from, kind, &dep.name);
        }
        report.edges += candidates.len();
        report.clauses += 1;
        builder.add_clause(from, kind, vec![candidates]);
    };
    for spec in specs {
        let source = builder.node(NodeKind::Source, &spec.name);
        for dep in &spec.build_requires {
            add(builder, source, EdgeKind::BuildRequires, dep);
        }
        for package in &spec.subpackages {
            let binary = builder.node(NodeKind::Binary, &package.name);
            for dep in &package.requires {
                add(builder, binary, EdgeKind::Requires, dep);
            }
        }
    }
    report.unresolved_names = unresolved.len();
    report
}
