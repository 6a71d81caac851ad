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
use crate::version::{VersionOp, compare};

/// What to resolve for.
#[derive(Debug, Clone)]
pub struct DebianTarget {
    pub arch: String,
    pub profiles: BuildProfiles,
    /// Debian policy (§4.2) makes `build-essential` an implicit build
    /// dependency of every source; dose counts it, and so do we unless told
    /// not to.
    pub implicit_build_essential: bool,
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

/// Everything offered under one name: packages of that name, and packages
/// providing it.
#[derive(Default)]
struct Offers<'a> {
    real: Vec<Candidate<'a>>,
    provided: Vec<Provider<'a>>,
}

/// Name -> what is offered under it.
type OfferIndex<'a> = FxHashMap<&'a str, Offers<'a>>;

/// A relation as far as resolution cares: its name and version constraint.
type RelationKey<'a> = (&'a str, Option<(VersionOp, &'a str)>);

/// Resolves relations, remembering each distinct (name, constraint): an
/// archive repeats the same few thousand relations hundreds of thousands of
/// times (`debhelper-compat (= 13)`, `libc6 (>= 2.34)`).
struct Resolver<'a, 'o> {
    offers: &'o OfferIndex<'a>,
    /// (name, constraint) -> its range in `arena`.
    memo: FxHashMap<RelationKey<'a>, (u32, u32)>,
    /// Memoised candidate lists, each sorted and free of duplicates.
    arena: Vec<NodeId>,
}

/// Adds sources and binaries to `builder`, resolved for `target`.
pub fn add_debian<'a>(
    builder: &mut GraphBuilder,
    sources: &'a [SourcePackage],
    binaries: &'a [BinaryPackage],
    target: &DebianTarget,
) -> DebianReport {
    let mut report = DebianReport::default();
    builder.reserve(NodeKind::Source, sources.len());
    builder.reserve(NodeKind::Binary, binaries.len());
    let (source_nodes, kept_sources) = add_sources(builder, sources, target, &mut report);
    let (offers, kept_binaries) =
        add_binaries(builder, binaries, target, &source_nodes, &mut report);
    let build_essential = target
        .implicit_build_essential
        .then(|| build_essential_candidates(&offers));
    let batches = resolve_in_parallel(
        &offers,
        target,
        &kept_binaries,
        &kept_sources,
        build_essential.as_deref(),
    );
    let mut unresolved = rustc_hash::FxHashSet::default();
    for batch in batches {
        report.clauses += batch.clauses;
        report.edges += batch.edges;
        report.unsatisfiable_clauses += batch.unsatisfiable;
        unresolved.extend(batch.unresolved);
        builder.append_clauses(batch.out);
    }
    report.unresolved_names = unresolved.len();
    report
}

/// A package kept for the target, with its node.
type Kept<'a, P> = Vec<(NodeId, &'a P)>;

/// Adds the sources that build something for the target; returns their nodes by name.
fn add_sources<'a>(
    builder: &mut GraphBuilder,
    sources: &'a [SourcePackage],
    target: &DebianTarget,
    report: &mut DebianReport,
) -> (FxHashMap<&'a str, NodeId>, Kept<'a, SourcePackage>) {
    let mut source_nodes = FxHashMap::with_capacity_and_hasher(sources.len(), Default::default());
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
    (source_nodes, kept_sources)
}

/// Adds the binaries of the target architecture (or `all`), each linked to the source it
/// is built from; returns what each name offers, for resolving relations.
fn add_binaries<'a>(
    builder: &mut GraphBuilder,
    binaries: &'a [BinaryPackage],
    target: &DebianTarget,
    source_nodes: &FxHashMap<&'a str, NodeId>,
    report: &mut DebianReport,
) -> (OfferIndex<'a>, Kept<'a, BinaryPackage>) {
    let mut offers: OfferIndex<'a> =
        FxHashMap::with_capacity_and_hasher(binaries.len() * 2, Default::default());
    let mut kept_binaries = Vec::with_capacity(binaries.len());
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
        offers
            .entry(binary.name.as_str())
            .or_default()
            .real
            .push(Candidate {
                node,
                version: &binary.version,
            });
        for provide in &binary.provides {
            let version = provide.version.as_ref().map(|(_, v)| v.as_str());
            offers
                .entry(provide.name.as_str())
                .or_default()
                .provided
                .push(Provider { node, version });
        }
        kept_binaries.push((node, binary));
    }
    report.binaries = kept_binaries.len();
    report.virtual_names = offers.values().filter(|o| o.real.is_empty()).count();
    (offers, kept_binaries)
}

/// What satisfies the implicit `build-essential`, sorted and without duplicates.
fn build_essential_candidates(offers: &OfferIndex<'_>) -> Vec<NodeId> {
    let mut found = Vec::new();
    if let Some(offers) = offers.get("build-essential") {
        offers.satisfying(None, &mut found);
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Resolves the runtime dependencies of binaries and the build dependencies of sources;
/// returns the binaries' batch first.
fn resolve_in_parallel<'a, 'o>(
    offers: &'o OfferIndex<'a>,
    target: &'o DebianTarget,
    kept_binaries: &Kept<'a, BinaryPackage>,
    kept_sources: &Kept<'a, SourcePackage>,
    build_essential: Option<&[NodeId]>,
) -> [Batch<'a, 'o>; 2] {
    // The two resolve independently: one thread each, merged in a fixed order so that
    // the graph does not depend on scheduling.
    std::thread::scope(|scope| {
        let binary_batch = scope.spawn(|| {
            let mut batch = Batch::new(offers, target);
            for (node, binary) in kept_binaries {
                batch.add(*node, EdgeKind::Requires, &binary.pre_depends);
                batch.add(*node, EdgeKind::Requires, &binary.depends);
            }
            batch
        });
        let mut batch = Batch::new(offers, target);
        for (node, source) in kept_sources {
            if let Some(essential) = build_essential {
                batch.implicit(*node, essential);
            }
            batch.add(*node, EdgeKind::BuildRequires, &source.build_depends);
            batch.add(*node, EdgeKind::BuildRequires, &source.build_depends_indep);
            batch.add(*node, EdgeKind::BuildRequires, &source.build_depends_arch);
        }
        let binary_batch = binary_batch.join().expect("the resolver thread panicked");
        [binary_batch, batch]
    })
}

/// Clauses of a set of nodes, resolved into a builder used as a buffer (it
/// names nodes of the real builder, never creates any).
struct Batch<'a, 'o> {
    resolver: Resolver<'a, 'o>,
    target: &'o DebianTarget,
    out: GraphBuilder,
    unresolved: rustc_hash::FxHashSet<&'a str>,
    clauses: usize,
    edges: usize,
    unsatisfiable: usize,
}

impl<'a, 'o> Batch<'a, 'o> {
    fn new(offers: &'o OfferIndex<'a>, target: &'o DebianTarget) -> Self {
        Batch {
            resolver: Resolver {
                offers,
                memo: FxHashMap::default(),
                arena: Vec::new(),
            },
            target,
            out: GraphBuilder::new(""),
            unresolved: Default::default(),
            clauses: 0,
            edges: 0,
            unsatisfiable: 0,
        }
    }

    fn add(&mut self, from: NodeId, kind: EdgeKind, clauses: &'a [Clause]) {
        let (arch, profiles) = (&self.target.arch, &self.target.profiles);
        for clause in clauses {
            self.out.start_clause(from, kind);
            let mut satisfiable = false;
            for relation in clause
                .alternatives
                .iter()
                .filter(|r| r.applies(arch, profiles))
            {
                let candidates = self.resolver.resolve(relation);
                if candidates.is_empty() && self.unresolved.insert(relation.name.as_str()) {
                    self.out.add_unresolved(from, kind, &relation.name);
                }
                self.out.push_alternative(candidates);
                self.edges += candidates.len();
                satisfiable |= !candidates.is_empty();
            }
            if self.out.current_alternatives() == 0 {
                self.out.abandon_clause();
                continue;
            }
            if !satisfiable {
                self.unsatisfiable += 1;
            }
            self.clauses += 1;
        }
    }

    /// The implicit `build-essential` clause, resolved once for all.
    fn implicit(&mut self, from: NodeId, candidates: &[NodeId]) {
        self.out.start_clause(from, EdgeKind::BuildRequires);
        self.out.push_alternative(candidates);
        self.clauses += 1;
        self.edges += candidates.len();
    }
}

/// Two versions of one package may be indexed (e.g. main and security);
/// the node shows the newest.
fn set_newest_version(builder: &mut GraphBuilder, node: NodeId, version: &str) {
    let current = builder.version(node);
    if current.is_empty() || compare(version, current).is_gt() {
        builder.set_version(node, version);
    }
}

impl<'a> Resolver<'a, '_> {
    /// Every node satisfying `relation`, sorted, without duplicates.
    fn resolve(&mut self, relation: &'a Relation) -> &[NodeId] {
        let constraint = relation.version.as_ref().map(|(op, v)| (*op, v.as_str()));
        let key = (relation.name.as_str(), constraint);
        let (start, end) = match self.memo.get(&key) {
            Some(&range) => range,
            None => {
                let start = self.arena.len();
                if let Some(offers) = self.offers.get(relation.name.as_str()) {
                    offers.satisfying(constraint, &mut self.arena);
                }
                let found = &mut self.arena[start..];
                found.sort_unstable();
                let kept = dedup_sorted(found);
                self.arena.truncate(start + kept);
                let range = (start as u32, self.arena.len() as u32);
                self.memo.insert(key, range);
                range
            }
        };
        &self.arena[start as usize..end as usize]
    }
}

impl Offers<'_> {
    fn satisfying(&self, constraint: Option<(VersionOp, &str)>, out: &mut Vec<NodeId>) {
        for candidate in &self.real {
            if constraint
                .is_none_or(|(op, wanted)| op.satisfied_by(compare(candidate.version, wanted)))
            {
                out.push(candidate.node);
            }
        }
        for provider in &self.provided {
            // Only a versioned Provides satisfies a versioned relation.
            let ok = match (constraint, provider.version) {
                (None, _) => true,
                (Some((op, wanted)), Some(provided)) => op.satisfied_by(compare(provided, wanted)),
                (Some(_), None) => false,
            };
            if ok {
                out.push(provider.node);
            }
        }
    }
}

/// Moves the distinct values of a sorted slice to its front; returns how many.
fn dedup_sorted(values: &mut [NodeId]) -> usize {
    let mut kept = 0;
    for i in 0..values.len() {
        if kept == 0 || values[i] != values[kept - 1] {
            values[kept] = values[i];
            kept += 1;
        }
    }
    kept
}
