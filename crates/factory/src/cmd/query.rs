//! `affected`, `plan`, `trace` and `why`: read-only questions to the stored graph.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Result, bail};
use factory_graph::{Alternatives, Graph, Link, Mode, NodeId, NodeKind};
use serde_json::json;

use crate::cli::{AffectedArgs, AlternativesArg, Format, ModeArg, PlanArgs, Selection};
use crate::output::{node_json, node_label, plural, print_wrapped};
use crate::store_dir::load_graph;

/// Turns `src:NAME` / `NAME` into a node, with a suggestion when unknown.
pub(super) fn resolve_name(graph: &Graph, name: &str) -> Result<NodeId> {
    if let Some(source) = name.strip_prefix("src:") {
        if let Some(id) = graph.find(NodeKind::Source, source) {
            return Ok(id);
        }
        bail!(
            "unknown source package `{source}`{}",
            suggestion(graph, source, Some(NodeKind::Source))
        );
    }
    // A bare name is a binary first, then anything else of that name.
    if let Some(id) = graph.find(NodeKind::Binary, name) {
        return Ok(id);
    }
    let others = graph.find_all(name);
    match others {
        [only] => Ok(*only),
        [] => bail!("unknown name `{name}`{}", suggestion(graph, name, None)),
        _ => Ok(others[0]),
    }
}

/// The closest name of that kind (any kind when `None`): fewest edits,
/// then the most similar start (typos tend to be late in a name).
fn suggestion(graph: &Graph, name: &str, kind: Option<NodeKind>) -> String {
    let best = graph
        .nodes()
        .filter(|&n| kind.is_none_or(|k| graph.kind(n) == k))
        .map(|n| {
            (
                strsim::levenshtein(name, graph.name(n)),
                -strsim::jaro_winkler(name, graph.name(n)),
                n,
            )
        })
        .filter(|&(d, _, _)| d <= 2.max(name.len() / 4))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    match best {
        Some((_, _, node)) => format!(" — did you mean `{}`?", node_label(graph, node)),
        None => " — check the spelling, or `factory import` the archive that has it; a virtual \
         package (one that is only provided) is not a node: name a package providing it"
            .to_owned(),
    }
}

fn mode(arg: ModeArg) -> Mode {
    match arg {
        ModeArg::Closure => Mode::Closure,
        ModeArg::Direct => Mode::Direct,
        ModeArg::Transitive => Mode::Transitive,
        ModeArg::Local => Mode::Local,
    }
}

fn alternatives(arg: AlternativesArg) -> Alternatives {
    match arg {
        AlternativesArg::All => Alternatives::All,
        AlternativesArg::First => Alternatives::First,
    }
}

/// The affected set of a selection on a loaded graph.
pub(super) fn affected_set(
    graph: &Graph,
    selection: &Selection,
) -> Result<(Vec<NodeId>, Vec<NodeId>)> {
    let changed = selection
        .names
        .iter()
        .map(|n| resolve_name(graph, n))
        .collect::<Result<Vec<_>>>()?;
    let reverse = graph.reverse(alternatives(selection.alternatives));
    let set = factory_graph::affected(graph, &reverse, &changed, mode(selection.mode));
    Ok((changed, set))
}

pub(super) fn affected(store: &Path, args: &AffectedArgs) -> Result<()> {
    print_affected(&load_graph(store)?, args)
}

pub(super) fn print_affected(graph: &Graph, args: &AffectedArgs) -> Result<()> {
    let (changed, set) = affected_set(graph, &args.selection)?;
    match args.format {
        Format::Lines => {
            let mut out = String::with_capacity(set.len() * 16);
            for &n in &set {
                out.push_str(graph.name(n));
                out.push('\n');
            }
            print!("{out}");
        }
        Format::Json => {
            let value = json!({
                "changed": changed.iter().map(|&n| node_json(graph, n)).collect::<Vec<_>>(),
                "mode": format!("{:?}", args.selection.mode).to_lowercase(),
                "alternatives": format!("{:?}", args.selection.alternatives).to_lowercase(),
                "count": set.len(),
                "affected": set.iter().map(|&n| node_json(graph, n)).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Dot => {
            let plan = factory_graph::plan(
                graph,
                &set,
                alternatives(args.selection.alternatives),
                |_| 1.0,
            );
            print_dot(graph, &set, &plan.edges);
        }
        Format::Text => {
            let names: Vec<String> = changed.iter().map(|&n| node_label(graph, n)).collect();
            println!(
                "{} to rebuild if {} changes (mode {}, alternatives {}):",
                set.len(),
                names.join(", "),
                format!("{:?}", args.selection.mode).to_lowercase(),
                format!("{:?}", args.selection.alternatives).to_lowercase()
            );
            print_wrapped(set.iter().map(|&n| node_label(graph, n)));
        }
    }
    Ok(())
}

pub(super) async fn plan(store: &Path, args: &PlanArgs) -> Result<()> {
    let graph = load_graph(store)?;
    let (_, set) = affected_set(&graph, &args.selection)?;
    let history = recorded_durations(store, &graph, &set).await?;
    print_plan_with(&graph, args, &history)
}

pub(super) fn print_plan(graph: &Graph, args: &PlanArgs) -> Result<()> {
    print_plan_with(graph, args, &HashMap::new())
}

/// Seconds each node took when it last built successfully, from the
/// store's event log (none when the factory has not built anything here).
async fn recorded_durations(
    store: &Path,
    graph: &Graph,
    set: &[NodeId],
) -> Result<HashMap<NodeId, f64>> {
    if !store.join(factory_store::DATABASE_FILE).exists() {
        return Ok(HashMap::new());
    }
    let store = factory_store::Store::open(store).await?;
    let mut durations = HashMap::new();
    for &node in set {
        let Some(build) = store.db().latest_successful_build(graph.name(node)).await? else {
            continue;
        };
        if let (Some(start), Some(end)) = (build.started_at_ms, build.finished_at_ms) {
            durations.insert(node, (end - start).max(0) as f64 / 1000.0);
        }
    }
    Ok(durations)
}

fn print_plan_with(graph: &Graph, args: &PlanArgs, history: &HashMap<NodeId, f64>) -> Result<()> {
    let (changed, set) = affected_set(graph, &args.selection)?;
    let default = args.default_duration;
    let plan = factory_graph::plan(
        graph,
        &set,
        alternatives(args.selection.alternatives),
        |node| history.get(&node).copied().unwrap_or(default),
    );
    let from_history = set.iter().filter(|n| history.contains_key(n)).count();
    let names = |nodes: &[NodeId]| {
        nodes
            .iter()
            .map(|&n| graph.name(n).to_owned())
            .collect::<Vec<_>>()
    };
    match args.format {
        Format::Json => {
            let value = json!({
                "changed": names(&changed),
                "count": set.len(),
                "waves": plan.waves.iter().map(|w| names(w)).collect::<Vec<_>>(),
                "cycles": plan.cycles.iter().map(|c| names(c)).collect::<Vec<_>>(),
                "max_width": plan.max_width(),
                "critical_path": names(&plan.critical_path),
                "critical_seconds": plan.critical_seconds,
                "total_seconds": plan.total_seconds,
                "durations_from_history": from_history,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Lines => {
            for (i, wave) in plan.waves.iter().enumerate() {
                for &n in wave {
                    println!("{}\t{}", i + 1, graph.name(n));
                }
            }
        }
        Format::Dot => print_dot(graph, &set, &plan.edges),
        Format::Text => {
            println!(
                "{} builds in {} waves, at most {} at once; {} build cycles.",
                set.len(),
                plan.waves.len(),
                plan.max_width(),
                plan.cycles.len()
            );
            for (i, wave) in plan.waves.iter().enumerate() {
                println!(
                    "wave {} ({}):",
                    i + 1,
                    plural(wave.len(), "build", "builds")
                );
                print_wrapped(wave.iter().map(|&n| node_label(graph, n)));
            }
            for (i, cycle) in plan.cycles.iter().enumerate() {
                println!(
                    "cycle {} ({} sources, built as one unit):",
                    i + 1,
                    cycle.len()
                );
                print_wrapped(cycle.iter().map(|&n| node_label(graph, n)));
            }
            println!(
                "critical path ({:.0} s of {:.0} s total work; {} of {} durations from build history, \
                 the rest {default} s each): {}",
                plan.critical_seconds,
                plan.total_seconds,
                from_history,
                set.len(),
                names(&plan.critical_path).join(" -> ")
            );
        }
    }
    Ok(())
}

fn print_dot(graph: &Graph, set: &[NodeId], edges: &[(NodeId, NodeId)]) {
    println!("digraph factory {{\n  rankdir=LR;");
    for &n in set {
        println!(
            "  n{n} [label=\"{}\"];",
            node_label(graph, n).replace('"', "\\\"")
        );
    }
    for &(a, b) in edges {
        println!("  n{a} -> n{b};");
    }
    println!("}}");
}

pub(super) fn trace(store: &Path, name: &str, depth: usize, format: Format) -> Result<()> {
    print_trace(&load_graph(store)?, name, depth, format)
}

pub(super) fn print_trace(graph: &Graph, name: &str, depth: usize, format: Format) -> Result<()> {
    let root = resolve_name(graph, name)?;
    let reverse = graph.reverse(Alternatives::All);
    let up = walk(graph, root, depth, |n| factory_graph::upstream(graph, n));
    let down = walk(graph, root, depth, |n| {
        factory_graph::downstream(graph, &reverse, n)
    });
    match format {
        Format::Json => {
            let edges = |list: &[(usize, NodeId, Link, NodeId)]| {
                list.iter()
                    .map(|&(d, a, link, b)| json!({"depth": d, "from": node_json(graph, a), "edge": link.as_str(), "to": node_json(graph, b)}))
                    .collect::<Vec<_>>()
            };
            let value = json!({"node": node_json(graph, root), "built_from": edges(&up), "builds": edges(&down)});
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Dot => {
            let mut nodes = BTreeSet::from([root]);
            let mut edges = Vec::new();
            for &(_, a, _, b) in &up {
                nodes.extend([a, b]);
                edges.push((b, a));
            }
            for &(_, a, _, b) in &down {
                nodes.extend([a, b]);
                edges.push((a, b));
            }
            print_dot(graph, &nodes.into_iter().collect::<Vec<_>>(), &edges);
        }
        Format::Text | Format::Lines => {
            println!("{}", node_label(graph, root));
            println!("made from:");
            print_tree(graph, &up, "<-");
            println!("made into:");
            print_tree(graph, &down, "->");
        }
    }
    Ok(())
}

/// Breadth-first, each node expanded once: (depth, from, link, to).
fn walk(
    graph: &Graph,
    root: NodeId,
    max_depth: usize,
    next: impl Fn(NodeId) -> Vec<(Link, NodeId)>,
) -> Vec<(usize, NodeId, Link, NodeId)> {
    let mut seen = vec![false; graph.node_count()];
    seen[root as usize] = true;
    let mut frontier = vec![root];
    let mut out = Vec::new();
    for depth in 1..=max_depth {
        if frontier.is_empty() {
            break;
        }
        let mut following = Vec::new();
        for &node in &frontier {
            for (link, to) in next(node) {
                out.push((depth, node, link, to));
                if !std::mem::replace(&mut seen[to as usize], true) {
                    following.push(to);
                }
            }
        }
        frontier = following;
    }
    out
}

fn print_tree(graph: &Graph, edges: &[(usize, NodeId, Link, NodeId)], arrow: &str) {
    if edges.is_empty() {
        println!("  (nothing)");
    }
    for &(depth, from, link, to) in edges {
        println!(
            "{:indent$}{} {arrow} {} [{}]",
            "",
            node_label(graph, from),
            node_label(graph, to),
            link.as_str(),
            indent = depth * 2
        );
    }
}

pub(super) fn why(store: &Path, from: &str, to: &str, format: Format) -> Result<()> {
    let graph = &load_graph(store)?;
    let a = resolve_name(graph, from)?;
    let b = resolve_name(graph, to)?;
    let Some(path) = factory_graph::why(graph, a, b) else {
        let hint = if factory_graph::why(graph, b, a).is_some() {
            format!(" (but `{to}` depends on `{from}`: try `factory why {to} {from}`)")
        } else {
            String::new()
        };
        bail!("`{from}` does not depend on `{to}`{hint}");
    };
    match format {
        Format::Json => {
            let steps: Vec<_> = path
                .iter()
                .map(|&(x, link, y)| json!({"from": node_json(graph, x), "edge": link.as_str(), "to": node_json(graph, y)}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&json!({"path": steps}))?);
        }
        _ => {
            println!("{}", node_label(graph, a));
            for &(_, link, y) in &path {
                println!("  --{}--> {}", link.as_str(), node_label(graph, y));
            }
        }
    }
    Ok(())
}
