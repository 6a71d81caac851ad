//! The "why" panel of a job that waits or is blocked: what it waits for, or which failure
//! blocks it, said in words with links, never only "blocked".
//!
//! The server renders what the projections tell (the job's inputs and their state in the
//! wave, a blocked build's chain down to its failed root). A build's panel also names its
//! build (`data-why-build`): the script asks `GET /api/v1/builds/{id}/why`, and where the
//! server has that route (a 404 says it has not), shows its summary and reasons instead.

use factory_store::{BuildRecord, BuildState};
use factory_types::Job;
use maud::{Markup, html};

use super::page::{self, badge, build_link, component_link};
use super::view::WaveIndex;
use crate::state::AppState;

/// One input of a waiting job, as the wave knows it.
pub(crate) struct InputState<'a> {
    pub(crate) job: String,
    /// Its build in the wave, if it has one.
    pub(crate) build: Option<&'a BuildRecord>,
    /// In the wave but not queued yet.
    pub(crate) waiting: bool,
}

impl InputState<'_> {
    fn ready(&self) -> bool {
        match self.build {
            Some(b) => b.state.has_usable_outputs(),
            None => !self.waiting,
        }
    }
}

/// The inputs of `job` with their state in `view`; None when the server does not know the
/// definition (or the job is no longer in it).
pub(crate) fn inputs_in_wave<'a>(
    state: &AppState,
    index: &WaveIndex<'a>,
    job: &str,
) -> Option<Vec<InputState<'a>>> {
    let graph = state.graph()?;
    let inputs = graph.inputs(&Job::parse(job)).ok()?;
    let mut out: Vec<InputState<'a>> = inputs
        .values()
        .map(|input| {
            let name = input.name();
            InputState {
                build: index.job(&name),
                waiting: index.is_waiting(&name),
                job: name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.job.cmp(&b.job));
    out.dedup_by(|a, b| a.job == b.job);
    Some(out)
}

/// The disclosure every such job gets, named for `job` (a table has many). `open`: shown
/// unfolded (the build's own page).
pub(crate) fn panel(job: &str, build: Option<u64>, open: bool, content: Markup) -> Markup {
    let key = match build {
        Some(id) => id.to_string(),
        None => key_of(job),
    };
    html! {
        details.why #{"why-" (key)} data-why-build=[build] open[open] {
            summary { "Why?" span.visually-hidden { " (" (job) ")" } }
            div.why-body {
                div.why-api hidden {}
                div.why-fallback { (content) }
            }
        }
    }
}

/// A job of a running wave with no build yet: which inputs it still waits for.
pub(crate) fn waiting(inputs: Option<&[InputState<'_>]>, building: usize) -> Markup {
    let Some(inputs) = inputs else {
        return html! { p.summary { "Waiting: it starts once everything it is built from has \
        built in this wave (the plan's earlier levels)." } };
    };
    let pending: Vec<&InputState<'_>> = inputs.iter().filter(|i| !i.ready()).collect();
    html! {
        @if pending.is_empty() {
            p.summary { "Its inputs are ready: it is being prepared, or waits for a free build \
                slot (" (building) " " (if building == 1 { "build" } else { "builds" })
                " of this wave running)." }
        } @else {
            p.summary { "Waiting for " (pending.len()) " of its " (inputs.len())
                (if inputs.len() == 1 { " input" } else { " inputs" }) " to build." }
        }
        (input_list(inputs))
    }
}

fn input_list(inputs: &[InputState<'_>]) -> Markup {
    html! {
        @if !inputs.is_empty() {
            ul.reasons {
                @for input in inputs {
                    li {
                        (component_link(&input.job)) " "
                        @match input.build {
                            Some(b) => { (badge(b.state.as_str())) " in " (build_link(b.id.0)) }
                            None if input.waiting => { (badge("waiting")) }
                            None => { (badge("succeeded")) " built before this wave" }
                        }
                    }
                }
            }
        }
    }
}

/// A queued build that has not started: its inputs are there, a slot is not (yet).
pub(crate) fn scheduled(build: &BuildRecord, building: usize) -> Markup {
    html! {
        p.summary { "Queued: its inputs are ready and it waits for a free build slot ("
            (building) " " (if building == 1 { "build" } else { "builds" }) " running now)." }
        p { "Queued because: " (build.reason) }
    }
}

/// A blocked build: its detail and the failure at the root of its chain.
pub(crate) fn blocked(build: &BuildRecord, root: Option<&BuildRecord>) -> Markup {
    html! {
        p.summary {
            "Blocked: it will not run in this wave because something it is built from failed."
        }
        @match root {
            Some(root) if root.id != build.id => {
                p.root { "Root cause: " (badge(root.state.as_str())) " "
                    (component_link(&root.component)) " in " (build_link(root.id.0))
                    @if let Some(detail) = &root.detail { ": " (detail) } }
            }
            // The chain leaves what the store knows: the build's own detail is all there is.
            _ => { @if let Some(detail) = &build.detail { p { (detail) } } }
        }
    }
}

/// The panel's content for a build, by its state (None: nothing to explain).
pub(crate) fn for_build(
    build: &BuildRecord,
    root: Option<&BuildRecord>,
    building: usize,
) -> Option<Markup> {
    match build.state {
        BuildState::Scheduled => Some(scheduled(build, building)),
        BuildState::Blocked => Some(blocked(build, root)),
        _ => None,
    }
}

/// The line the story's table shows for a build: its detail, and for reuse and early
/// cutoff, the build it stands on.
pub(crate) fn detail(build: &BuildRecord) -> Markup {
    let related = build.related.first().map(|r| r.0);
    html! {
        @match (build.state, related) {
            (BuildState::Reused, Some(from)) => { "reused " (build_link(from)) }
            (BuildState::Unchanged, Some(previous)) => {
                (build.detail.as_deref().unwrap_or("cut off")) " (same as " (build_link(previous)) ")"
            }
            _ => { (build.detail.as_deref().unwrap_or("")) }
        }
        @if let Some(kind) = build.failure_kind { " " span.tag { (kind.as_str()) } }
    }
}

pub(crate) fn key_of(job: &str) -> String {
    page::segment(job).replace('%', "_")
}
