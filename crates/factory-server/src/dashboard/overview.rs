//! `/`: what the factory is doing now. Running waves with their progress, the queue by
//! state, the build slots in use, recent failures grouped by root cause ("libfoo failed:
//! 12 builds blocked"), and the latest waves.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use factory_store::{BuildRecord, BuildState, WaveRecord, WaveState};
use maud::{Markup, html};

use super::error::PageResult;
use super::page::{self, Live, Shell, badge, build_link, component_link, wave_link};
use super::view::{Cache, RootCause, WaveView};
use crate::state::AppState;

/// Waves listed, and looked for failures in (a wave record carries its whole affected
/// set and plan, so a page reads only a few).
const RECENT_WAVES: u32 = 10;
const FAILURE_WAVES: usize = 10;
/// Root-cause groups shown; rows of running builds shown.
const GROUPS: usize = 10;
const SLOTS: usize = 50;

struct Overview {
    now: i64,
    waves: Vec<WaveRecord>,
    running: Vec<WaveView>,
    building: Vec<BuildRecord>,
    failures: Vec<(u64, RootCause, Option<u64>)>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
) -> PageResult<Markup> {
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let waves = db.recent_waves(RECENT_WAVES).await?;
    let mut running = Vec::new();
    for wave in waves.iter().filter(|w| w.state == WaveState::Planned) {
        let builds = db.builds_of_wave(wave.id).await?;
        running.push(WaveView::new(wave.clone(), builds));
    }
    // Every build is queued in a wave, so the running waves' builds are all that run.
    let mut building: Vec<BuildRecord> = running
        .iter()
        .flat_map(|view| view.builds.iter())
        .filter(|b| b.state == BuildState::Building)
        .cloned()
        .collect();
    building.sort_by_key(|b| (b.started_at_ms, b.id));
    let failures = failures(&state, &cache, &waves, &running).await?;
    let overview = Overview {
        now: state.store().clock().wall_ms(),
        waves,
        running,
        building,
        failures,
    };
    let shell = Shell::new("Overview", "overview", "overview").after(after, Live::Always);
    Ok(page::shell(&shell, render(&overview)))
}

/// The root-cause groups of the latest waves, the most blocking first, each with the
/// build that fixed it since, if one did.
async fn failures(
    state: &AppState,
    cache: &Cache,
    waves: &[WaveRecord],
    running: &[WaveView],
) -> PageResult<Vec<(u64, RootCause, Option<u64>)>> {
    let db = state.store().db();
    let mut all = Vec::new();
    for wave in waves.iter().take(FAILURE_WAVES) {
        let groups = match running.iter().find(|r| r.wave.id == wave.id) {
            Some(view) => Arc::new(super::view::root_causes(&view.builds)),
            None => cache.root_causes(db, wave).await?,
        };
        all.extend(groups.iter().map(|g| (wave.id.0, g.clone())));
    }
    // The most blocking first; among equals, the newest.
    all.sort_by(|a, b| {
        b.1.blocked
            .len()
            .cmp(&a.1.blocked.len())
            .then(b.1.root.id.cmp(&a.1.root.id))
    });
    all.truncate(GROUPS);
    let mut out = Vec::new();
    for (wave, group) in all {
        let fixed = db
            .component(&group.root.component)
            .await?
            .and_then(|c| c.latest_success)
            .filter(|s| s.id > group.root.id)
            .map(|s| s.id.0);
        out.push((wave, group, fixed));
    }
    Ok(out)
}

fn render(o: &Overview) -> Markup {
    html! {
        h1 { "Overview" }
        div.grid {
            (running(o))
            (queue(o))
            (slots(o))
            (failure_groups(o))
        }
        (recent(o))
    }
}

fn running(o: &Overview) -> Markup {
    html! {
        section #running .panel .wide aria-labelledby="running-title" {
            h2 #running-title { "Running waves" }
            @if o.running.is_empty() {
                p.empty #running-none { "Nothing is running: every wave has finished." }
            }
            @for view in &o.running { (wave_card(view, o.now)) }
        }
    }
}

/// One running wave: what started it, how far it got, its jobs by state.
pub(crate) fn wave_card(view: &WaveView, now: i64) -> Markup {
    let id = view.wave.id.0;
    let (done, total) = (view.done(), view.total());
    let counts = view.counts();
    html! {
        article.wave-card #{"wave-" (id)} data-wave=(id) {
            h3 { a href=(page::wave_href(id)) { "Wave w" (id) } }
            p.trigger { (view.wave.trigger) }
            p.progress-line {
                progress max=(total.max(1)) value=(done) aria-label={"wave w" (id) " progress"} {}
                span { (done) " of " (total) " done · running for "
                    (page::duration(now - view.wave.planned_at_ms)) }
            }
            (state_counts(&format!("w{id}"), &counts))
        }
    }
}

/// Counts as a list, each with the state's icon, word and number, in attention order.
pub(crate) fn state_counts(prefix: &str, counts: &BTreeMap<&'static str, usize>) -> Markup {
    html! {
        ul.counts {
            @for state in page::STATE_ORDER.iter().chain(["up-to-date"].iter()) {
                @if let Some(n) = counts.get(state) {
                    li #{(prefix) "-count-" (state)} data-count=(state) {
                        (badge(state)) " " span.n { (n) }
                    }
                }
            }
        }
    }
}

fn queue(o: &Overview) -> Markup {
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for view in &o.running {
        for (state, n) in view.counts() {
            *totals.entry(state).or_default() += n;
        }
    }
    let rows = [
        ("waiting", "not queued yet: an input is still building"),
        ("scheduled", "inputs ready, waiting for a free build slot"),
        ("building", "running now"),
        ("blocked", "will not run in this wave: an input failed"),
    ];
    html! {
        section #queue .panel aria-labelledby="queue-title" {
            h2 #queue-title { "Queue" }
            table {
                caption.visually-hidden { "Jobs of the running waves by state" }
                thead { tr { th scope="col" { "State" } th scope="col" { "Jobs" }
                    th scope="col" { "Meaning" } } }
                tbody {
                    @for (state, meaning) in rows {
                        tr #{"queue-" (state)} data-count=(state) {
                            th scope="row" { (badge(state)) }
                            td.num { span.n { (totals.get(state).copied().unwrap_or(0)) } }
                            td { (meaning) }
                        }
                    }
                }
            }
        }
    }
}

fn slots(o: &Overview) -> Markup {
    html! {
        section #slots .panel aria-labelledby="slots-title" {
            h2 #slots-title { "Slots in use" }
            p #slots-count { (o.building.len()) " "
                (if o.building.len() == 1 { "build" } else { "builds" }) " running" }
            @if !o.building.is_empty() {
                table {
                    thead { tr {
                        th scope="col" { "Build" } th scope="col" { "Component" }
                        th scope="col" { "Wave" } th scope="col" { "Running for" }
                    } }
                    tbody {
                        @for b in o.building.iter().take(SLOTS) {
                            tr #{"slot-" (b.id.0)} {
                                td { (build_link(b.id.0)) }
                                td { (component_link(&b.component)) }
                                td { @if let Some(w) = b.wave { (wave_link(w.0)) } }
                                td { (page::duration(o.now - b.started_at_ms.unwrap_or(o.now))) }
                            }
                        }
                    }
                }
                @if o.building.len() > SLOTS { p { "and " (o.building.len() - SLOTS) " more" } }
            }
        }
    }
}

fn failure_groups(o: &Overview) -> Markup {
    html! {
        section #failures .panel .wide aria-labelledby="failures-title" {
            h2 #failures-title { "Recent failures, by root cause" }
            @if o.failures.is_empty() {
                p.empty { "No failures in the latest " (FAILURE_WAVES) " waves." }
            }
            ul.groups {
                @for (wave, group, fixed) in &o.failures {
                    (root_cause(*wave, group, *fixed))
                }
            }
        }
    }
}

/// "libfoo failed: 12 builds blocked", with where, why, and which builds.
pub(crate) fn root_cause(wave: u64, group: &RootCause, fixed: Option<u64>) -> Markup {
    let root = &group.root;
    let n = group.blocked.len();
    html! {
        li.group #{"root-" (root.id.0)} data-root=(root.id.0) {
            p.headline {
                span.s-failed { (page::icon("failed")) } " "
                strong { (component_link(&root.component)) " failed" } ": "
                span.blocked-count { (n) " " (if n == 1 { "build" } else { "builds" }) " blocked" }
            }
            p.where { "in " (build_link(root.id.0)) " of " (wave_link(wave))
                @if let Some(fixed) = fixed { " · fixed since by " (build_link(fixed)) } }
            @if let Some(detail) = &root.detail { p.detail { (detail) } }
            @if n > 0 {
                p.blocked-list { "Blocked: "
                    (page::some_of(&group.blocked, 8, |(id, name)| html! {
                        a href=(page::build_href(*id)) { (name) }
                    }))
                }
            }
        }
    }
}

fn recent(o: &Overview) -> Markup {
    html! {
        section #recent .panel aria-labelledby="recent-title" {
            h2 #recent-title { "Recent waves" }
            (wave_table(&o.waves, o.now))
            p { a href="/waves" { "All waves" } }
        }
    }
}

/// Waves as a table, newest first.
pub(crate) fn wave_table(waves: &[WaveRecord], now: i64) -> Markup {
    html! {
        table.waves {
            thead { tr {
                th scope="col" { "Wave" } th scope="col" { "State" } th scope="col" { "Trigger" }
                th scope="col" { "Summary" } th scope="col" { "Planned" } th scope="col" { "Took" }
            } }
            tbody {
                @for w in waves {
                    tr #{"recent-" (w.id.0)} {
                        td { (wave_link(w.id.0)) }
                        td { (badge(wave_state(w))) }
                        td { (w.trigger) }
                        td { (w.summary.as_deref().unwrap_or("")) }
                        td { (page::time(w.planned_at_ms)) }
                        td { (page::duration(w.finished_at_ms.unwrap_or(now) - w.planned_at_ms)) }
                    }
                }
            }
        }
    }
}

pub(crate) fn wave_state(wave: &WaveRecord) -> &'static str {
    match wave.state {
        WaveState::Planned => "running",
        WaveState::Finished => "finished",
    }
}
