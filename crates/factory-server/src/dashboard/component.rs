//! `/components/{name}`: one component (or `image:NAME`). Who owns it, its streams, what
//! it is built from and what is built from it, and the history of its builds.
//! `/components`: every component with its latest build.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use factory_store::BuildRecord;
use factory_types::Job;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{PageError, PageResult};
use super::page::{self, Live, Shell, badge, build_link, component_link, wave_link};
use crate::state::AppState;

/// Builds of the history on one page; names of the affected set shown.
const HISTORY_ROWS: usize = 50;
const AFFECTED_NAMES: usize = 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// 1-based page of the history, newest first.
    page: Option<usize>,
}

/// What the definition says about a job, when the server knows the definition.
#[derive(Default)]
struct Definition {
    known: bool,
    kind: Option<String>,
    owners: Vec<String>,
    streams: Vec<String>,
    inputs: Vec<(String, String)>,
    dependents: Vec<String>,
    affected: Vec<String>,
}

fn definition(state: &AppState, name: &str) -> Definition {
    let Some(graph) = state.graph() else {
        return Definition::default();
    };
    let job = Job::parse(name);
    if !graph.contains(&job) {
        return Definition::default();
    }
    let component = match &job {
        Job::Component(n) => graph.def().component(n),
        Job::Image(_) => None,
    };
    let names = |jobs: Vec<Job>| jobs.iter().map(Job::name).collect::<Vec<_>>();
    let mut affected = names(graph.affected(std::slice::from_ref(&job)));
    affected.retain(|a| a != name);
    Definition {
        known: true,
        kind: component.map(|c| c.kind_name().to_owned()),
        owners: component.map(|c| c.owners.clone()).unwrap_or_default(),
        streams: component
            .map(|c| c.streams.keys().cloned().collect())
            .unwrap_or_default(),
        inputs: graph
            .inputs(&job)
            .map(|i| i.iter().map(|(k, v)| (k.clone(), v.name())).collect())
            .unwrap_or_default(),
        dependents: names(graph.dependents(&job)),
        affected,
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> PageResult<Markup> {
    let Path(name) = path.map_err(|e| PageError::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(|e| PageError::bad_request(e.body_text()))?;
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let record = db.component(&name).await?;
    let def = definition(&state, &name);
    if record.is_none() && !def.known {
        return Err(PageError::not_found(format!("no component named `{name}`"))
            .with_hint("the components page lists them"));
    }
    let mut builds = db.builds_of_component(&name).await?;
    builds.reverse();
    let page_no = query.page.unwrap_or(1).max(1);
    let content = html! {
        h1 { "Component " (name) }
        div.grid {
            (about(&name, &def, record.as_ref()))
            (relations(&name, &def))
        }
        (history(&name, &builds, page_no))
    };
    let shell = Shell::new(name.clone(), "component", "components")
        .after(after, Live::Always)
        .component(&name);
    Ok(page::shell(&shell, content))
}

fn about(name: &str, def: &Definition, record: Option<&factory_store::ComponentRecord>) -> Markup {
    let latest = record.and_then(|r| r.latest_build.as_ref());
    let success = record.and_then(|r| r.latest_success.as_ref());
    html! {
        section #about .panel aria-labelledby="about-title" {
            h2 #about-title { "About" }
            dl.facts {
                dt { "Kind" } dd { (def.kind.as_deref().unwrap_or("—")) }
                dt { "Owners" } dd { @if def.owners.is_empty() { "none" } @else { (def.owners.join(", ")) } }
                dt { "Streams" } dd { @if def.streams.is_empty() { "none" } @else { (def.streams.join(", ")) } }
                @if let Some(r) = record {
                    @if let Some(rev) = &r.revision { dt { "Revision" } dd { code { (rev) } } }
                    @if let Some(why) = &r.last_change_reason { dt { "Last change" } dd { (why) } }
                }
                dt { "Latest build" } dd { (build_summary(latest)) }
                dt { "Latest usable" } dd { (build_summary(success)) }
            }
            @if def.known { p { a href=(page::graph_href(name)) { "The graph around " (name) } } }
            @else { p.note { "This server does not know the definition of " (name)
                " (it may have been removed from it)." } }
        }
    }
}

fn build_summary(build: Option<&BuildRecord>) -> Markup {
    html! {
        @match build {
            Some(b) => { (build_link(b.id.0)) " " (badge(b.state.as_str())) }
            None => { "none" }
        }
    }
}

fn relations(name: &str, def: &Definition) -> Markup {
    html! {
        section #relations .panel aria-labelledby="relations-title" {
            h2 #relations-title { "Built from and into" }
            @if !def.known { p.empty { "Not known: the server has no definition of " (name) "." } }
            @else { (relation_lists(name, def)) }
        }
    }
}

fn relation_lists(name: &str, def: &Definition) -> Markup {
    html! {
            h3 { "Built from (inputs)" }
            @if def.inputs.is_empty() { p.empty { "Nothing: " (name) " has no inputs." } }
            ul { @for (input, job) in &def.inputs {
                li { (component_link(job)) @if input != job { " as " code { (input) } } } } }
            h3 { "Built into (direct dependents)" }
            @if def.dependents.is_empty() { p.empty { "Nothing is built from " (name) "." } }
            ul { @for job in &def.dependents { li { (component_link(job)) } } }
            h3 { "Affected by a change to it" }
            p { (def.affected.len()) " other "
                (if def.affected.len() == 1 { "job rebuilds" } else { "jobs rebuild" })
                " when " (name) " changes"
                @if !def.affected.is_empty() { ": "
                    (page::some_of(&def.affected, AFFECTED_NAMES, |n| component_link(n))) } "." }
    }
}

fn history(name: &str, builds: &[BuildRecord], page_no: usize) -> Markup {
    let first = (page_no - 1) * HISTORY_ROWS;
    let shown: Vec<&BuildRecord> = builds.iter().skip(first).take(HISTORY_ROWS).collect();
    let pages = builds.len().div_ceil(HISTORY_ROWS).max(1);
    let href = |p: usize| format!("{}?page={p}", page::component_href(name));
    html! {
        section #history .panel aria-labelledby="history-title" {
            h2 #history-title { "History of builds" }
            @if builds.is_empty() { p.empty { "No builds yet." } }
            @else {
                p { (builds.len()) " " (if builds.len() == 1 { "build" } else { "builds" }) ", newest first." }
                table {
                    thead { tr {
                        th scope="col" { "Build" } th scope="col" { "Wave" } th scope="col" { "State" }
                        th scope="col" { "Queued" } th scope="col" { "Ran for" } th scope="col" { "Reason" }
                        th scope="col" { "Detail" }
                    } }
                    tbody { @for b in &shown { (history_row(b)) } }
                }
                @if pages > 1 {
                    nav.pager aria-label="Pages of builds" {
                        @if page_no > 1 { a rel="prev" href=(href(page_no - 1)) { "← Newer" } }
                        span { "Page " (page_no) " of " (pages) }
                        @if page_no < pages { a rel="next" href=(href(page_no + 1)) { "Older →" } }
                    }
                }
            }
        }
    }
}

fn history_row(b: &BuildRecord) -> Markup {
    let ran = match (b.started_at_ms, b.finished_at_ms) {
        (Some(s), Some(f)) => page::duration(f - s),
        _ => String::new(),
    };
    html! {
        tr #{"build-" (b.id.0)} data-state=(b.state.as_str()) {
            th scope="row" { (build_link(b.id.0)) }
            td { @if let Some(w) = b.wave { (wave_link(w.0)) } }
            td { (badge(b.state.as_str())) }
            td { (page::time(b.queued_at_ms)) }
            td.num { (ran) }
            td { (b.reason) }
            td { (super::why::detail(b)) }
        }
    }
}

pub(crate) async fn list(State(state): State<AppState>) -> PageResult<Markup> {
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let records = db.components().await?;
    let content = html! {
        h1 { "Components" }
        section #components .panel aria-labelledby="components-title" {
            h2 #components-title .visually-hidden { "Every component" }
            p { (records.len()) " components." }
            table {
                thead { tr { th scope="col" { "Component" } th scope="col" { "Latest build" }
                    th scope="col" { "Latest usable" } th scope="col" { "Graph" } } }
                tbody {
                    @for r in &records {
                        tr #{"component-" (super::why::key_of(&r.name))} {
                            th scope="row" { (component_link(&r.name)) }
                            td { (build_summary(r.latest_build.as_ref())) }
                            td { (build_summary(r.latest_success.as_ref())) }
                            td { a href=(page::graph_href(&r.name)) { "graph" span.visually-hidden { " of " (r.name) } } }
                        }
                    }
                }
            }
        }
    };
    let shell = Shell::new("Components", "list", "components").after(after, Live::Always);
    Ok(page::shell(&shell, content))
}
