//! Resolution of Debian relations into the graph.
//!
//! The rules follow what `dose-ceve` computes, so that `factory affected`
//! gives the same answer on the same archive:
//! - a relation is kept when its architecture restriction matches the
//!   target and its build-profile formula holds with the active profiles;
//! - it is satisfied by every package of that name whose version meets the
//!   constraint, and by every package that provides the name (a versioned
//!   relation only by a versioned `Provides: name (= v)` that meets it);
//! - every alternative counts; the graph keeps them apart so that a query
//!   can still take only the first.

use factory_graph::{EdgeKind, GraphBuilder, NodeId, NodeKind};
use rustc_hash::FxHashMap;

use crate::arch::{BuildProfiles, source_builds_on};
use crate::debian::{BinaryPackage, SourcePackage};
use crate::relation::{Clause, Relation};
use crate::version::compare;

/// What to resolve for.
#[derive(Debug, Clone)]
pub struct DebianTarget {
    pub arch: String,
    pub profiles: BuildProfiles,
}

/// Counts printed after an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebianReport {
    pub sources: usize,
    /// Sources that build nothing for the target architecture.
    pub sources_skipped: usize,
    pub binaries: usize,
    /// Binaries of another architecture.
    pub binaries_skipped: usize,
    pub virtual_names: usize,
    pub clauses: usize,
    pub edges: usize,
    /// Relation names that no package has or provides.
    pub unresolved_names: usize,
    /// Clauses none of whose alternatives resolves.
    pub unsatisfiable_clauses: usize,
}

struct Candidate<'a> {
    node: NodeId,
    version: &'a str,
}

struct Provider<'a> {
    node: NodeId,
    version: Option<&'a str>,
}

/// Name indexes over the binaries, built once and shared by every lookup.
struct Index<'a> {
    real: FxHashMap<&'a str, Vec<Candidate<'a>>>,
    provided: FxHashMap<&'a str, Vec<Provider<'a>>>,
}

/// Adds sources and binaries to `builder`, resolved for `target`.
pub fn add_debian(
    builder: &mut GraphBuilder,
    sources: &[SourcePackage],
    binaries: &[BinaryPackage],
    target: &DebianTarget,
) -> DebianReport {
    let mut report = DebianReport::default();
    let mut source_nodes = FxHashMap::default();
    let mut kept_sources = Vec::new();
    for source in sources {
        if !source_builds_on(&source.architecture, &target.arch) {
            report.sources_skipped += 1;
            continue;
        }
        let node = builder.node(NodeKind::Source, &source.name);
        set_newest_version(builder, node, &source.version);
        source_nodes.insert(source.name.as_str(), node);
        kept_sources.push((node, source));
    }
    report.sources = source_nodes.len();
    let mut index = Index { real: FxHashMap::default(), provided: FxHashMap::default() };
    let mut kept_binaries = Vec::new();
    for binary in binaries {
        if binary.architecture != target.arch && binary.architecture != "all" {
            report.binaries_skipped += 1;
            continue;
        }
        let node = builder.node(NodeKind::Binary, &binary.name);
        set_newest_version(builder, node, &binary.version);
        if let Some(&src) = source_nodes.get(binary.source.as_str()) {
            builder.set_built_from(node, src);
        }
        index.real.entry(binary.name.as_str()).or_default().push(Candidate { node, version: &binary.version });
        for provide in &binary.provides {
            let version = provide.version.as_ref().map(|(_, v)| v.as_str());
            index.provided.entry(provide.name.as_str()).or_default().push(Provider { node, version });
        }
        kept_binaries.push((node, binary));
    }
    report.binaries = kept_binaries.len();
    report.virtual_names = index.provided.keys().filter(|name| !index.real.contains_key(*name)).count();

    let mut unresolved = rustc_hash::FxHashSet::default();
    let mut add = |builder: &mut GraphBuilder, from: NodeId, kind: EdgeKind, clauses: &[Clause]| {
        for clause in clauses {
            builder.start_clause(from, kind);
            let mut satisfiable = false;
            for relation in clause.alternatives.iter().filter(|r| r.applies(&target.arch, &target.profiles)) {
                index.resolve_into(relation, builder);
                let found = builder.current_candidates();
                if found == 0 && unresolved.insert(relation.name.clone()) {
                    builder.add_unresolved(from, kind, &relation.name);
                }
                builder.end_alternative();
                report.edges += builder.current_candidates_of_last();
                satisfiable |= found > 0;
            }
            if builder.current_alternatives() == 0 {
                builder.abandon_clause();
                continue;
            }
            if !satisfiable {
                report.unsatisfiable_clauses += 1;
            }
            report.clauses += 1;
        }
    };
    for (node, binary) in kept_binaries {
        add(builder, node, EdgeKind::Requires, &binary.pre_depends);
        add(builder, node, EdgeKind::Requires, &binary.depends);
    }
    for (node, source) in kept_sources {
        add(builder, node, EdgeKind::BuildRequires, &source.build_depends);
        add(builder, node, EdgeKind::BuildRequires, &source.build_depends_indep);
        add(builder, node, EdgeKind::BuildRequires, &source.build_depends_arch);
    }
    report.unresolved_names = unresolved.len();
    report
}

/// Two versions of one package may be indexed (e.g. main and security);
/// the node shows the newest.
fn set_newest_version(builder: &mut GraphBuilder, node: NodeId, version: &str) {
    let current = builder.version(node);
    if current.is_empty() || compare(version, current).is_gt() {
        builder.set_version(node, version);
    }
}

impl Index<'_> {
    /// Pushes every node satisfying `relation` as candidates of the
    /// builder's current alternative.
    fn resolve_into(&self, relation: &Relation, builder: &mut GraphBuilder) {
        if let Some(candidates) = self.real.get(relation.name.as_str()) {
            for candidate in candidates {
                let ok = match &relation.version {
                    None => true,
                    Some((op, wanted)) => op.satisfied_by(compare(candidate.version, wanted)),
                };
                if ok {
                    builder.push_candidate(candidate.node);
                }
            }
        }
        if let Some(providers) = self.provided.get(relation.name.as_str()) {
            for provider in providers {
                let ok = match (&relation.version, provider.version) {
                    (None, _) => true,
                    (Some((op, wanted)), Some(provided)) => op.satisfied_by(compare(provided, wanted)),
                    (Some(_), None) => false,
                };
                if ok {
                    builder.push_candidate(provider.node);
                }
            }
        }
    }
}
