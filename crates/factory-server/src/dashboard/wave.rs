//! `/waves/{id}`: a change's story. What changed, the affected set and its plan, every job
//! on a timeline (queued, started, finished) with its state, reason and detail, and the
//! artifacts with their downloads. The jobs are paged and filtered by state and name, so
//! a wave of 10,000 builds shows a hundred rows at a time. `/waves`: the latest waves.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use factory_store::{ArtifactRecord, BuildId, BuildRecord};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{PageError, PageResult, parse_id};
use super::page::{self, Live, Shell, badge, build_link, component_link};
use super::view::{WaveIndex, WaveView};
use super::why;
use crate::state::AppState;

/// Rows on one page of the story.
pub(crate) const PAGE_ROWS: usize = 100;
/// Names shown per level of the plan before "and N more".
const LEVEL_NAMES: usize = 30;
/// Width of a timeline bar's drawing, in its own units.
const BAR_WIDTH: f64 = 240.0;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoryQuery {
    /// Only jobs in this state (a build state, `waiting` or `up-to-date`).
    state: Option<String>,
    /// Only jobs whose name contains this.
    q: Option<String>,
    /// 1-based.
    page: Option<usize>,
}

/// One row of the story: a build, or a job with no build in the wave.
enum Row<'a> {
    Build(&'a BuildRecord),
    Job(&'a str),
}

impl Row<'_> {
    fn name(&self) -> &str {
        match self {
            Row::Build(b) => &b.component,
            Row::Job(job) => job,
        }
    }
}

pub(crate) async fn page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<StoryQuery>, QueryRejection>,
) -> PageResult<Markup> {
    let id = parse_id(path, "wave")?;
    let Query(query) = query.map_err(|e| PageError::bad_request(e.body_text()))?;
    if let Some(s) = &query.state
        && !page::STATE_ORDER.contains(&s.as_str())
        && s != "up-to-date"
    {
        return Err(
            PageError::bad_request(format!("unknown state `{s}`")).with_hint(format!(
                "one of: {}, up-to-date",
                page::STATE_ORDER.join(", ")
            )),
        );
    }
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let view = WaveView::load(db, id).await?.ok_or_else(|| {
        PageError::not_found(format!("no wave w{id}"))
            .with_hint("the overview lists the latest waves")
    })?;
    let now = state.store().clock().wall_ms();
    let rows = rows(&view, &query);
    let page_no = query.page.unwrap_or(1).max(1);
    let shown: Vec<&Row<'_>> = rows
        .iter()
        .skip((page_no - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .collect();
    let artifacts = artifacts(&state, &shown).await?;
    let story = Story {
        state: &state,
        view: &view,
        index: WaveIndex::new(&view),
        query: &query,
        now,
        total_rows: rows.len(),
        page: page_no,
    };
    let content = html! {
        (heading(&view, now))
        (plan(&view))
        (filters(&story))
        (jobs(&story, &shown))
        (artifact_list(&artifacts))
    };
    let shell = Shell::new(format!("Wave w{id}"), "wave", "waves")
        .after(after, Live::WhileRunning(view.running()))
        .wave(id);
    Ok(page::shell(&shell, content))
}

struct Story<'a> {
    state: &'a AppState,
    view: &'a WaveView,
    index: WaveIndex<'a>,
    query: &'a StoryQuery,
    now: i64,
    total_rows: usize,
    page: usize,
}

fn rows<'a>(view: &'a WaveView, query: &StoryQuery) -> Vec<Row<'a>> {
    let wanted = query.state.as_deref();
    let needle = query.q.as_deref().filter(|q| !q.is_empty());
    let builds = view
        .builds
        .iter()
        .filter(|b| wanted.is_none_or(|s| b.state.as_str() == s))
        .map(Row::Build);
    let unqueued_state = view.unqueued_state();
    let jobs = view
        .unqueued
        .iter()
        .filter(|_| wanted.is_none_or(|s| s == unqueued_state))
        .map(|j| Row::Job(j.as_str()));
    builds
        .chain(jobs)
        .filter(|row| needle.is_none_or(|n| row.name().contains(n)))
        .collect()
}

fn heading(view: &WaveView, now: i64) -> Markup {
    let w = &view.wave;
    let state = super::overview::wave_state(w);
    html! {
        h1 { "Wave w" (w.id.0) " " (badge(state)) }
        section #change .panel aria-labelledby="change-title" {
            h2 #change-title { "What changed" }
            p.trigger { (w.trigger) }
            dl.facts {
                dt { "Planned" } dd { (page::time(w.planned_at_ms)) }
                dt { "Finished" } dd { (page::maybe_time(w.finished_at_ms)) }
                dt { "Took" } dd { (page::duration(w.finished_at_ms.unwrap_or(now) - w.planned_at_ms))
                    @if view.running() { " so far" } }
                @if let Some(summary) = &w.summary { dt { "Summary" } dd { (summary) } }
            }
            p.progress-line {
                progress max=(view.total().max(1)) value=(view.done())
                    aria-label="jobs done" {}
                span { (view.done()) " of " (view.total()) " jobs done" }
            }
        }
    }
}

fn plan(view: &WaveView) -> Markup {
    let w = &view.wave;
    html! {
        section #plan .panel aria-labelledby="plan-title" {
            h2 #plan-title { "Affected set and plan" }
            p { (w.affected.len()) " "
                (if w.affected.len() == 1 { "job" } else { "jobs" }) " affected, in "
                (w.plan.len()) " " (if w.plan.len() == 1 { "level" } else { "levels" })
                ": each level is built from the levels before it." }
            ol.levels {
                @for level in &w.plan {
                    li { span.level-size { "(" (level.len()) ") " }
                        (page::some_of(level, LEVEL_NAMES, |name| component_link(name))) }
                }
            }
        }
    }
}

/// The link to this story with `state` (None: every state), the name filter kept.
fn filter_href(story: &Story<'_>, state: Option<&str>, page: usize) -> String {
    let mut params = Vec::new();
    if let Some(state) = state {
        params.push(format!("state={}", page::segment(state)));
    }
    if let Some(q) = story.query.q.as_deref().filter(|q| !q.is_empty()) {
        params.push(format!("q={}", page::segment(q)));
    }
    if page > 1 {
        params.push(format!("page={page}"));
    }
    let base = page::wave_href(story.view.wave.id.0);
    if params.is_empty() {
        base
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

fn filters(story: &Story<'_>) -> Markup {
    let counts = story.view.counts();
    let current = story.query.state.as_deref();
    let states = page::STATE_ORDER.iter().chain(["up-to-date"].iter());
    html! {
        nav #filters .panel aria-label="Jobs by state" {
            h2.visually-hidden { "Jobs by state" }
            ul.filters {
                li { a href=(filter_href(story, None, 1)) aria-current=[current.is_none().then_some("page")] {
                    "All " span.n { (story.view.total()) } } }
                @for state in states {
                    @if let Some(n) = counts.get(state) {
                        li data-count=(state) { a href=(filter_href(story, Some(state), 1))
                            aria-current=[(current == Some(*state)).then_some("page")] {
                            (badge(state)) " " span.n { (n) } } }
                    }
                }
            }
            form.search method="get" action=(page::wave_href(story.view.wave.id.0)) role="search" {
                @if let Some(state) = current { input type="hidden" name="state" value=(state); }
                label for="q" { "Component name contains" }
                input #q type="search" name="q" value=[story.query.q.as_deref()];
                button type="submit" { "Filter" }
            }
        }
    }
}

fn jobs(story: &Story<'_>, shown: &[&Row<'_>]) -> Markup {
    let first = (story.page - 1) * PAGE_ROWS;
    html! {
        section #jobs .panel aria-labelledby="jobs-title" {
            h2 #jobs-title { "Builds on a timeline" }
            @if shown.is_empty() { p.empty { "No job matches." } }
            @else {
                p #rows-shown { "Jobs " (first + 1) "–" (first + shown.len()) " of "
                    (story.total_rows) ", in queue order." }
                table.story {
                    thead { tr {
                        th scope="col" { "Job" } th scope="col" { "Build" } th scope="col" { "State" }
                        th scope="col" { "Timeline" } th scope="col" { "Duration" }
                        th scope="col" { "Reason" } th scope="col" { "Detail" }
                    } }
                    tbody { @for row in shown { (job_row(story, row)) } }
                }
                (pager(story))
            }
        }
    }
}

fn job_row(story: &Story<'_>, row: &Row<'_>) -> Markup {
    match row {
        Row::Build(b) => build_row(story, b),
        Row::Job(job) => {
            let state = story.view.unqueued_state();
            let inputs = why::inputs_in_wave(story.state, &story.index, job);
            let building = story.index.building;
            let key = why::key_of(job);
            html! {
                tr #{"job-" (key)} data-state=(state) data-job=(job) {
                    th scope="row" { (component_link(job)) }
                    td { span.none { "—" } }
                    td { (badge(state)) }
                    td {} td {}
                    td { @if state == "waiting" { "not queued yet" } @else { "found up to date" } }
                    td { @if state == "waiting" {
                        (why::panel(job, None, false, why::waiting(inputs.as_deref(), building)))
                    } }
                }
            }
        }
    }
}

fn build_row(story: &Story<'_>, b: &BuildRecord) -> Markup {
    let state = b.state.as_str();
    let ran = match (b.started_at_ms, b.finished_at_ms) {
        (Some(s), Some(f)) => Some(f - s),
        (Some(s), None) => Some(story.now - s),
        _ => None,
    };
    let root = super::view::root_in(b, |id| story.index.build(id));
    let panel = why::for_build(b, root, story.index.building);
    html! {
        tr #{"build-" (b.id.0)} data-state=(state) data-job=(b.component) {
            th scope="row" { (component_link(&b.component)) }
            td { (build_link(b.id.0)) }
            td { (badge(state)) }
            td { (bar(story, b)) }
            td.num { @if let Some(ms) = ran { (page::duration(ms)) } }
            td { (b.reason) }
            td { (why::detail(b))
                @if let Some(panel) = panel {
                    (why::panel(&b.component, Some(b.id.0), false, panel))
                }
            }
        }
    }
}

/// Queued → started (waiting) and started → finished (running), on the wave's time axis.
fn bar(story: &Story<'_>, b: &BuildRecord) -> Markup {
    let w = &story.view.wave;
    let start = w.planned_at_ms;
    let end = w.finished_at_ms.unwrap_or(story.now).max(start + 1);
    let x =
        |ms: i64| ((ms - start).max(0) as f64 / (end - start) as f64 * BAR_WIDTH).min(BAR_WIDTH);
    let queued = x(b.queued_at_ms);
    let started = b.started_at_ms.map(x);
    let finished = b.finished_at_ms.map(x);
    let wait_end = started.or(finished).unwrap_or(x(story.now));
    let run_end = finished.unwrap_or(x(story.now));
    let fmt = |v: f64| format!("{v:.1}");
    let class = format!("run s-{}", b.state.as_str());
    html! {
        svg.bar viewBox={"0 0 " (BAR_WIDTH) " 12"} preserveAspectRatio="none" aria-hidden="true" focusable="false" {
            rect.track x="0" y="5" width=(BAR_WIDTH) height="2" {}
            rect.wait x=(fmt(queued)) y="3" width=(fmt((wait_end - queued).max(0.5))) height="6" {}
            @if let Some(s) = started {
                rect class=(class) x=(fmt(s)) y="1" width=(fmt((run_end - s).max(1.0))) height="10" {}
            } @else if let Some(f) = finished {
                rect class=(class) x=(fmt((f - 1.0).max(0.0))) y="1" width="2" height="10" {}
            }
        }
    }
}

fn pager(story: &Story<'_>) -> Markup {
    let pages = story.total_rows.div_ceil(PAGE_ROWS).max(1);
    let state = story.query.state.as_deref();
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages of jobs" {
                @if story.page > 1 {
                    a rel="prev" href=(filter_href(story, state, story.page - 1)) { "← Previous" }
                }
                span { "Page " (story.page) " of " (pages) }
                @if story.page < pages {
                    a rel="next" href=(filter_href(story, state, story.page + 1)) { "Next →" }
                }
            }
        }
    }
}

/// Outputs and artifacts of the builds on this page that have them.
async fn artifacts(
    state: &AppState,
    shown: &[&Row<'_>],
) -> PageResult<Vec<(BuildRecord, Vec<ArtifactRecord>)>> {
    let mut out = Vec::new();
    for row in shown {
        let Row::Build(b) = row else { continue };
        if !b.state.has_usable_outputs() {
            continue;
        }
        let stored = state
            .store()
            .db()
            .artifacts_of_build(BuildId(b.id.0))
            .await?;
        if !b.outputs.is_empty() || !stored.is_empty() {
            out.push(((*b).clone(), stored));
        }
    }
    Ok(out)
}

fn artifact_list(artifacts: &[(BuildRecord, Vec<ArtifactRecord>)]) -> Markup {
    html! {
        section #artifacts .panel aria-labelledby="artifacts-title" {
            h2 #artifacts-title { "Artifacts" }
            @if artifacts.is_empty() { p.empty { "No outputs among the jobs shown." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Build" } th scope="col" { "Name" }
                        th scope="col" { "Kind" } th scope="col" { "Size" } th scope="col" { "Digest" } } }
                    tbody {
                        @for (b, stored) in artifacts {
                            @for s in super::view::stored(b, stored) { (artifact_row(b, &s)) }
                        }
                    }
                }
            }
        }
    }
}

fn artifact_row(b: &BuildRecord, s: &super::view::Stored) -> Markup {
    html! {
        tr {
            td { (build_link(b.id.0)) " " (b.component) }
            td { a href=(page::blob_href(&s.digest)) download=(s.name) { (s.name) } }
            td { (s.kind) }
            td.num { (page::size(s.size)) }
            td { (page::short_digest(&s.digest)) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// 1-based page of the list, newest first.
    page: Option<usize>,
}

/// Waves on a page of the list, and the pages there are (each wave record carries its
/// affected set and plan, which may be thousands of names: the list reads few at a time).
const LIST_ROWS: usize = 50;
const LIST_PAGES: usize = 20;

pub(crate) async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> PageResult<Markup> {
    let Query(query) = query.map_err(|e| PageError::bad_request(e.body_text()))?;
    let page_no = query.page.unwrap_or(1).clamp(1, LIST_PAGES);
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let read = db.recent_waves((page_no * LIST_ROWS + 1) as u32).await?;
    let more = read.len() > page_no * LIST_ROWS && page_no < LIST_PAGES;
    let waves: Vec<_> = read
        .into_iter()
        .skip((page_no - 1) * LIST_ROWS)
        .take(LIST_ROWS)
        .collect();
    let now = state.store().clock().wall_ms();
    let content = html! {
        h1 { "Waves" }
        section #waves .panel aria-labelledby="waves-title" {
            h2 #waves-title .visually-hidden { "The latest waves" }
            p { "Newest first." }
            (super::overview::wave_table(&waves, now))
            nav.pager aria-label="Pages of waves" {
                @if page_no > 1 { a rel="prev" href={"/waves?page=" (page_no - 1)} { "← Newer" } }
                span { "Page " (page_no) }
                @if more { a rel="next" href={"/waves?page=" (page_no + 1)} { "Older →" } }
            }
        }
    };
    let shell = Shell::new("Waves", "list", "waves").after(after, Live::Always);
    Ok(page::shell(&shell, content))
}
