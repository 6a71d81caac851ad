//! `/builds/{id}`: one build. Its state and reason, why it waits or is blocked, why it
//! ran (the explanation against the previous build), what it was built from and what it
//! made (with downloads), and its log, which grows live while the build runs.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use factory_store::{ArtifactRecord, BuildId, BuildRecord, BuildState, LogChunk, Seq};
use factory_types::Job;
use maud::{Markup, html};

use super::error::{PageError, PageResult, parse_id};
use super::page::{self, Live, Shell, badge, build_link, component_link, wave_link};
use super::view::{self, WaveIndex, WaveView};
use super::why;
use crate::state::AppState;

/// The most of a log a page carries; the whole log is one link away.
const LOG_SHOWN: usize = 1024 * 1024;

struct BuildPage {
    build: BuildRecord,
    explain: Vec<String>,
    artifacts: Vec<ArtifactRecord>,
    log: Vec<LogChunk>,
    why: Option<Markup>,
    /// Input name → the job it is, from the definition the server runs.
    input_jobs: std::collections::BTreeMap<String, String>,
    now: i64,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> PageResult<Markup> {
    let id = parse_id(path, "build")?;
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let build = db
        .build(BuildId(id))
        .await?
        .ok_or_else(|| PageError::not_found(format!("no build b{id}")))?;
    let explain = factory_engine::explain::explain(db, &build).await?;
    let artifacts = db.artifacts_of_build(build.id).await?;
    let log = db.build_log(build.id, Seq(0)).await?;
    let why = why_panel(&state, &build).await?;
    let input_jobs = state
        .graph()
        .and_then(|g| {
            g.inputs(&Job::parse(&build.component))
                .ok()
                .map(|i| i.iter().map(|(k, v)| (k.clone(), v.name())).collect())
        })
        .unwrap_or_default();
    let unfinished = build.state.is_unfinished();
    let shown = BuildPage {
        build,
        explain,
        artifacts,
        log,
        why,
        input_jobs,
        now: state.store().clock().wall_ms(),
    };
    let shell = Shell::new(
        format!("b{id} {}", shown.build.component),
        "build",
        "builds",
    )
    .after(after, Live::WhileRunning(unfinished))
    .build(id)
    .component(&shown.build.component);
    Ok(page::shell(&shell, render(&shown)))
}

async fn why_panel(state: &AppState, build: &BuildRecord) -> PageResult<Option<Markup>> {
    let db = state.store().db();
    let content = match build.state {
        BuildState::Blocked => {
            let root = view::root_of(db, build).await?;
            why::for_build(build, root.as_ref(), 0)
        }
        BuildState::Scheduled => {
            let wave = match build.wave {
                Some(w) => WaveView::load(db, w.0).await?,
                None => None,
            };
            let building = wave.as_ref().map_or(0, |v| WaveIndex::new(v).building);
            why::for_build(build, None, building)
        }
        _ => None,
    };
    Ok(content.map(|c| why::panel(&build.component, Some(build.id.0), true, c)))
}

fn render(p: &BuildPage) -> Markup {
    let b = &p.build;
    html! {
        h1 { "Build b" (b.id.0) " of " (component_link(&b.component)) " " (badge(b.state.as_str())) }
        (summary(p))
        @if let Some(why) = &p.why {
            section #why-section .panel aria-labelledby="why-title" {
                h2 #why-title { "Why is it " (page::state_label(b.state.as_str())) "?" }
                (why)
            }
        }
        (log(p))
        section #explain .panel aria-labelledby="explain-title" {
            h2 #explain-title { @if b.attempt > 0 { "Why it ran" } @else { "Why it was queued" } }
            ul.explain { @for line in &p.explain { li { (page::linked(line)) } } }
        }
        div.grid {
            (inputs(p))
            (outputs(p))
        }
    }
}

fn summary(p: &BuildPage) -> Markup {
    let b = &p.build;
    let ran = b
        .started_at_ms
        .map(|s| b.finished_at_ms.unwrap_or(p.now) - s);
    html! {
        section #summary .panel aria-labelledby="summary-title" {
            h2 #summary-title .visually-hidden { "Summary" }
            dl.facts {
                dt { "State" } dd #build-state data-state=(b.state.as_str()) { (badge(b.state.as_str())) }
                dt { "Reason" } dd { (b.reason) }
                @if b.detail.is_some() || !b.related.is_empty() {
                    dt { "Detail" } dd #build-detail { (why::detail(b)) }
                }
                dt { "Wave" } dd { @if let Some(w) = b.wave { (wave_link(w.0)) } @else { "none" } }
                dt { "Attempt" } dd { (b.attempt) }
                dt { "Queued" } dd { (page::time(b.queued_at_ms)) }
                dt { "Started" } dd { (page::maybe_time(b.started_at_ms)) }
                dt { "Finished" } dd { (page::maybe_time(b.finished_at_ms)) }
                dt { "Ran for" } dd { @if let Some(ms) = ran { (page::duration(ms))
                    @if b.finished_at_ms.is_none() { " so far" } } @else { "—" } }
                dt { "Key" } dd { @match b.key { Some(k) => { code.key { (k.to_string()) } },
                    None => { "none" } } }
                @if !b.related.is_empty() {
                    dt { (related_label(b.state)) }
                    dd { @for (i, r) in b.related.iter().enumerate() {
                        @if i > 0 { ", " } (build_link(r.0)) } }
                }
            }
        }
    }
}

fn related_label(state: BuildState) -> &'static str {
    match state {
        BuildState::Blocked => "Blocked by",
        BuildState::Reused => "Reused from",
        BuildState::Unchanged => "Same as",
        _ => "Related",
    }
}

fn inputs(p: &BuildPage) -> Markup {
    html! {
        section #inputs .panel aria-labelledby="inputs-title" {
            h2 #inputs-title { "Built from" }
            @if p.build.inputs.is_empty() { p.empty { "No recorded inputs." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Ingredient" } th scope="col" { "Value" } } }
                    tbody {
                        @for (name, value) in &p.build.inputs {
                            tr { th scope="row" { (ingredient(p, name)) } td { (value_of(value)) } }
                        }
                    }
                }
            }
        }
    }
}

/// An ingredient's name; an input links to the job it is.
fn ingredient(p: &BuildPage, name: &str) -> Markup {
    let job = name
        .strip_prefix("input:")
        .and_then(|input| p.input_jobs.get(input).map(|job| (input, job)));
    html! {
        @match job {
            Some((input, job)) => { "input " (input) " (" (component_link(job)) ")" }
            None => { (name) }
        }
    }
}

fn value_of(value: &str) -> Markup {
    let is_hex = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
    html! {
        @if is_hex { code title=(value) { (value[..12]) "…" } } @else { code { (value) } }
    }
}

fn outputs(p: &BuildPage) -> Markup {
    let b = &p.build;
    html! {
        section #outputs .panel aria-labelledby="outputs-title" {
            h2 #outputs-title { "Outputs and artifacts" }
            @if b.outputs.is_empty() && p.artifacts.is_empty() { p.empty { "Nothing stored" @if b.state.is_unfinished() { " yet" } "." } }
            @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" }
                        th scope="col" { "Size" } th scope="col" { "Digest" } } }
                    tbody {
                        @for s in view::stored(b, &p.artifacts) { (blob_row(&s)) }
                    }
                }
            }
        }
    }
}

fn blob_row(s: &view::Stored) -> Markup {
    html! {
        tr {
            td { a href=(page::blob_href(&s.digest)) download=(s.name) { (s.name) } }
            td { (s.kind) } td.num { (page::size(s.size)) } td { (page::short_digest(&s.digest)) }
        }
    }
}

/// The log so far; the script appends what the event stream brings after `data-log-seq`.
fn log(p: &BuildPage) -> Markup {
    let b = &p.build;
    let total: usize = p.log.iter().map(|c| c.chunk.len()).sum();
    let mut skipped = 0;
    let mut start = 0;
    while total - skipped > LOG_SHOWN && start < p.log.len() {
        skipped += p.log[start].chunk.len();
        start += 1;
    }
    let last = p.log.last().map_or(0, |c| c.seq.0);
    let raw = format!("/api/v1/builds/{}/log", b.id.0);
    html! {
        section #log-section .panel aria-labelledby="log-title" {
            h2 #log-title { "Log" }
            p.log-meta {
                span #log-status aria-live="polite" {
                    @if b.state.is_unfinished() { "Following the log as it is written." }
                    @else if total > 0 { (page::size(total as u64)) " in all." }
                }
                " " a href=(raw) { "Plain text" }
                @if skipped > 0 { " · the first " (page::size(skipped as u64)) " are not shown here" }
            }
            // Thousands of lines would drown a screen reader; the state change is what
            // gets announced, and the log can be read at leisure (it takes focus).
            @if p.log.is_empty() && !b.state.is_unfinished() {
                p.empty { "No log: " (if b.attempt == 0 { "it never ran." } else { "it printed nothing." }) }
            } @else {
            pre #log tabindex="0" aria-label="Build log" data-keep data-log-seq=(last) data-build=(b.id.0) {
                @for chunk in &p.log[start..] {
                    @if chunk.stream == factory_types::LogStream::Stdout { (chunk.chunk) }
                    @else { span class={"log-" (chunk.stream.as_str())} { (chunk.chunk) } }
                }
            }
            }
        }
    }
}
