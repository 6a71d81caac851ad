//! `/graph/{name}`: the graph around one job, drawn as SVG. What it is built from goes up
//! (a couple of levels), what is built from it goes down; every node is a link to the
//! graph around it and shows its latest build's state. The same is written out as lists
//! below the drawing, for whoever does not read pictures.
//!
//! The layout is by hand: one row per level, nodes ordered by where their neighbours
//! closer to the centre sit (so edges cross little), rows centred.

use std::collections::{HashMap, HashSet};

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use factory_engine::JobGraph;
use factory_types::Job;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{PageError, PageResult};
use super::page::{self, Live, Shell, component_link};
use crate::state::AppState;

/// Nodes drawn per level; the rest are counted.
const PER_LEVEL: usize = 14;
const NODE_HEIGHT: f64 = 34.0;
const LEVEL_GAP: f64 = 76.0;
const NODE_GAP: f64 = 18.0;
const MARGIN: f64 = 16.0;
/// Characters of a name drawn before it is cut (the whole name is in the title).
const NAME_CHARS: usize = 26;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphQuery {
    /// Levels up and down (1 to 4, default 2).
    depth: Option<usize>,
}

/// One level of the drawing: its distance from the centre (negative: inputs), its nodes
/// in drawing order, and how many more did not fit.
struct Level {
    at: i32,
    nodes: Vec<String>,
    more: usize,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<GraphQuery>, QueryRejection>,
) -> PageResult<Markup> {
    let Path(name) = path.map_err(|e| PageError::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(|e| PageError::bad_request(e.body_text()))?;
    let depth = query.depth.unwrap_or(2).clamp(1, 4);
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let graph = state.graph().ok_or_else(|| {
        PageError::not_found("this server does not know the definition, so it has no graph")
    })?;
    let job = Job::parse(&name);
    if !graph.contains(&job) {
        return Err(
            PageError::not_found(format!("no job named `{name}` in the definition"))
                .with_hint("the components page lists them"),
        );
    }
    let levels = levels(&graph, &job, depth);
    let mut states = HashMap::new();
    for node in levels.iter().flat_map(|l| l.nodes.iter()) {
        if let Some(b) = db.latest_build(node).await? {
            states.insert(node.clone(), b.state.as_str());
        }
    }
    let content = html! {
        h1 { "The graph around " (name) }
        (depth_nav(&name, depth))
        section #graph .panel aria-labelledby="graph-title" {
            h2 #graph-title .visually-hidden { "Drawing" }
            (draw(&graph, &levels, &states, &name))
            (legend())
        }
        (as_lists(&levels, &states))
    };
    let shell = Shell::new(format!("Graph of {name}"), "graph", "components")
        .after(after, Live::Always)
        .component(&name);
    Ok(page::shell(&shell, content))
}

/// Levels from the farthest inputs down to the farthest dependents.
fn levels(graph: &JobGraph, center: &Job, depth: usize) -> Vec<Level> {
    let mut seen: HashSet<Job> = HashSet::from([center.clone()]);
    let up = walk(center, depth, &mut seen, |j| {
        graph
            .inputs(j)
            .map(|i| i.values().cloned().collect())
            .unwrap_or_default()
    });
    let down = walk(center, depth, &mut seen, |j| graph.dependents(j));
    let mut levels: Vec<Level> = up
        .into_iter()
        .enumerate()
        .map(|(i, (nodes, more))| Level {
            at: -(i as i32 + 1),
            nodes,
            more,
        })
        .collect();
    levels.reverse();
    levels.push(Level {
        at: 0,
        nodes: vec![center.name()],
        more: 0,
    });
    levels.extend(
        down.into_iter()
            .enumerate()
            .map(|(i, (nodes, more))| Level {
                at: i as i32 + 1,
                nodes,
                more,
            }),
    );
    order(graph, &mut levels);
    levels
}

/// Breadth first from `center`, `depth` steps; each job at its nearest distance.
fn walk(
    center: &Job,
    depth: usize,
    seen: &mut HashSet<Job>,
    next: impl Fn(&Job) -> Vec<Job>,
) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut frontier = vec![center.clone()];
    for _ in 0..depth {
        let mut found: Vec<Job> = Vec::new();
        for job in &frontier {
            for n in next(job) {
                if seen.insert(n.clone()) {
                    found.push(n);
                }
            }
        }
        if found.is_empty() {
            break;
        }
        found.sort();
        let more = found.len().saturating_sub(PER_LEVEL);
        found.truncate(PER_LEVEL);
        out.push((found.iter().map(Job::name).collect(), more));
        frontier = found;
    }
    out
}

/// Orders each level by the mean position of its neighbours in the level next to it,
/// towards the centre, so edges cross little.
fn order(graph: &JobGraph, levels: &mut [Level]) {
    let centre = levels.iter().position(|l| l.at == 0).unwrap_or(0);
    let outward: Vec<(usize, usize)> = (0..centre)
        .rev()
        .map(|i| (i, i + 1))
        .chain((centre + 1..levels.len()).map(|i| (i, i - 1)))
        .collect();
    for (i, towards) in outward {
        let place: HashMap<String, usize> = levels[towards]
            .nodes
            .iter()
            .enumerate()
            .map(|(p, n)| (n.clone(), p))
            .collect();
        let score = |name: &String| {
            let job = Job::parse(name);
            let mut near: Vec<Job> = graph
                .inputs(&job)
                .map(|i| i.values().cloned().collect())
                .unwrap_or_default();
            near.extend(graph.dependents(&job));
            let hits: Vec<usize> = near
                .iter()
                .filter_map(|n| place.get(&n.name()).copied())
                .collect();
            if hits.is_empty() {
                f64::MAX
            } else {
                hits.iter().sum::<usize>() as f64 / hits.len() as f64
            }
        };
        let mut scored: Vec<(f64, String)> = levels[i]
            .nodes
            .iter()
            .map(|n| (score(n), n.clone()))
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        levels[i].nodes = scored.into_iter().map(|(_, n)| n).collect();
    }
}

fn label(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        return name.to_owned();
    }
    let cut: String = name.chars().take(NAME_CHARS - 1).collect();
    format!("{cut}…")
}

fn node_width(name: &str) -> f64 {
    (label(name).chars().count() as f64 * 7.4 + 40.0).clamp(96.0, 240.0)
}

/// Where each node goes: (x, y, width), by name.
fn positions(levels: &[Level]) -> (HashMap<String, (f64, f64, f64)>, f64, f64) {
    let row_width = |l: &Level| {
        let nodes: f64 = l.nodes.iter().map(|n| node_width(n) + NODE_GAP).sum();
        nodes + if l.more > 0 { 110.0 } else { 0.0 }
    };
    let width = levels.iter().map(row_width).fold(360.0, f64::max) + 2.0 * MARGIN;
    let mut at = HashMap::new();
    for (row, level) in levels.iter().enumerate() {
        let y = MARGIN + row as f64 * LEVEL_GAP;
        let mut x = (width - row_width(level)) / 2.0 + NODE_GAP / 2.0;
        for node in &level.nodes {
            let w = node_width(node);
            at.insert(node.clone(), (x, y, w));
            x += w + NODE_GAP;
        }
    }
    let height = 2.0 * MARGIN + (levels.len().max(1) - 1) as f64 * LEVEL_GAP + NODE_HEIGHT;
    (at, width, height)
}

fn draw(
    graph: &JobGraph,
    levels: &[Level],
    states: &HashMap<String, &str>,
    center: &str,
) -> Markup {
    let (at, width, height) = positions(levels);
    let mut edges = Vec::new();
    for (node, &(x, y, w)) in &at {
        let inputs = graph
            .inputs(&Job::parse(node))
            .map(|i| i.values().cloned().collect::<Vec<_>>());
        for input in inputs.unwrap_or_default() {
            if let Some(&(ix, iy, iw)) = at.get(&input.name()) {
                edges.push((ix + iw / 2.0, iy + NODE_HEIGHT, x + w / 2.0, y));
            }
        }
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.total_cmp(&b.2)));
    let f = |v: f64| format!("{v:.1}");
    html! {
        svg.graph viewBox={"0 0 " (f(width)) " " (f(height))} width=(f(width)) height=(f(height))
            role="group" aria-labelledby="graph-title" {
            defs { marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"
                orient="auto-start-reverse" { path d="M0 0L10 5L0 10z" {} } }
            g.edges aria-hidden="true" {
                @for (x1, y1, x2, y2) in &edges {
                    @let mid = (y1 + y2) / 2.0;
                    path d={"M" (f(*x1)) " " (f(*y1)) " C" (f(*x1)) " " (f(mid)) " " (f(*x2)) " " (f(mid)) " " (f(*x2)) " " (f(*y2 - 2.0))}
                        marker-end="url(#arrow)" {}
                }
            }
            @for level in levels {
                @for name in &level.nodes {
                    @if let Some(&(x, y, w)) = at.get(name) {
                        (node(name, states.get(name).copied(), (x, y, w), name == center))
                    }
                }
                @if level.more > 0 { (more(level, &at)) }
            }
        }
    }
}

fn node(name: &str, state: Option<&str>, (x, y, w): (f64, f64, f64), center: bool) -> Markup {
    let state = state.unwrap_or("waiting");
    let shown = if state == "waiting" {
        "never built"
    } else {
        page::state_label(state)
    };
    let class = format!("node s-{state}{}", if center { " center" } else { "" });
    let f = |v: f64| format!("{v:.1}");
    let href = format!("#i-{}", page::icon_of(state));
    html! {
        a href=(page::graph_href(name)) aria-label={(name) ", " (shown)} {
            title { (name) ": " (shown) }
            g class=(class) {
                rect x=(f(x)) y=(f(y)) width=(f(w)) height=(NODE_HEIGHT) rx="6" {}
                use href=(href) x=(f(x + 8.0)) y=(f(y + 9.0)) width="16" height="16" {}
                text x=(f(x + 30.0)) y=(f(y + 22.0)) { (label(name)) }
            }
        }
    }
}

fn more(level: &Level, at: &HashMap<String, (f64, f64, f64)>) -> Markup {
    let (x, y) = level
        .nodes
        .last()
        .and_then(|n| at.get(n))
        .map_or((MARGIN, MARGIN), |&(x, y, w)| (x + w + NODE_GAP, y));
    html! {
        text.more x=(format!("{x:.1}")) y=(format!("{:.1}", y + 22.0)) { "+" (level.more) " more" }
    }
}

fn legend() -> Markup {
    html! {
        p.legend { "Arrows go from what a job is built from to what is built from it. "
            "Each node shows its latest build's state by icon, word (on hover and to screen readers) and colour." }
    }
}

fn as_lists(levels: &[Level], states: &HashMap<String, &str>) -> Markup {
    let describe = |at: i32| match at.cmp(&0) {
        std::cmp::Ordering::Less => format!(
            "Built from, {} {} up",
            -at,
            if at == -1 { "level" } else { "levels" }
        ),
        std::cmp::Ordering::Greater => format!(
            "Built into, {at} {} down",
            if at == 1 { "level" } else { "levels" }
        ),
        std::cmp::Ordering::Equal => "This job".to_owned(),
    };
    html! {
        section #graph-lists .panel aria-labelledby="lists-title" {
            h2 #lists-title { "The same, as lists" }
            @for level in levels {
                h3 { (describe(level.at)) }
                ul.inline-list {
                    @for name in &level.nodes {
                        li { (component_link(name)) " "
                            (page::badge(states.get(name).copied().unwrap_or("waiting"))) }
                    }
                    @if level.more > 0 { li { "and " (level.more) " more" } }
                }
            }
        }
    }
}

fn depth_nav(name: &str, depth: usize) -> Markup {
    html! {
        nav.depth aria-label="Levels shown" {
            "Levels up and down: "
            @for d in 1..=4usize {
                @let href = format!("{}?depth={d}", page::graph_href(name));
                a href=(href) aria-current=[(d == depth).then_some("page")] { (d) } " "
            }
            " · " a href=(page::component_href(name)) { "Component page" }
        }
    }
}
