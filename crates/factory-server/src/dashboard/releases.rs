//! `/releases`: every product stream — its end of life (a warning when near or past), its
//! channels with their cadence, gate and what each waits for — and the releases, newest
//! first, with their composes.

use axum::extract::State;
use factory_release::Outcome;
use factory_store::ReleaseRecord;
use maud::{Markup, html};

use super::error::PageResult;
use super::page::{self, Live, Shell};
use crate::state::AppState;

/// Releases listed on the page.
const RECENT: u32 = 100;

pub(crate) async fn page(State(state): State<AppState>) -> PageResult<Markup> {
    let db = state.store().db();
    let after = db.last_seq().await?.0;
    let releases = db.recent_releases(RECENT).await?;
    let streams = streams(&state, &releases).await?;
    let content = html! {
        h1 { "Releases" }
        (streams)
        section #releases .panel aria-labelledby="releases-title" {
            h2 #releases-title { "Releases, newest first" }
            @if releases.is_empty() { p.empty { "Nothing released yet." } }
            @else { (release_table(&releases)) }
        }
    };
    let shell = Shell::new("Releases", "list", "releases").after(after, Live::Always);
    Ok(page::shell(&shell, content))
}

async fn streams(state: &AppState, releases: &[ReleaseRecord]) -> PageResult<Markup> {
    let Some(graph) = state.graph() else {
        return Ok(html! { p.note { "This server does not know the definition's products." } });
    };
    let def = graph.def();
    let looked = match &state.inner.releases {
        Some(served) => served.releaser.look(def).await.ok(),
        None => None,
    };
    let now = state.store().clock().wall();
    Ok(html! {
        @for product in def.products.values() {
            @for stream in product.streams.values() {
                @let lifecycle = factory_release::lifecycle(stream, now);
                section.panel #{"stream-" (super::why::key_of(&format!("{}-{}", product.name, stream.name)))}
                    aria-label={ (product.name) " " (stream.name) } {
                    h2 { (product.name) " " (stream.name) }
                    @match lifecycle {
                        factory_release::Lifecycle::Ended => p.warning role="alert" {
                            strong { "End of life: " } "this stream reached its end of life on "
                            (stream.end_of_life.to_string()) " and releases nothing more." }
                        factory_release::Lifecycle::Ending => p.warning role="alert" {
                            strong { "End of life soon: " } "this stream stops releasing after "
                            (stream.end_of_life.to_string()) "." }
                        factory_release::Lifecycle::Active => p { "Supported until "
                            (stream.end_of_life.to_string()) "." }
                    }
                    table {
                        thead { tr { th scope="col" { "Channel" } th scope="col" { "Releases" }
                            th scope="col" { "Gate" } th scope="col" { "Latest" } th scope="col" { "Now" } } }
                        tbody {
                            @for channel in &stream.channels {
                                @let latest = releases.iter().filter(|r| r.product == product.name
                                    && r.stream == stream.name && r.channel == channel.name).map(|r| r.number).max();
                                @let now = looked.as_ref().and_then(|all| all.iter().find(|o| o.product == product.name
                                    && o.stream == stream.name && o.channel == channel.name)).map(|o| &o.outcome);
                                tr {
                                    th scope="row" { (channel.name) }
                                    td { (factory_release::why::cadence_text(&channel.release)) }
                                    td { @match &channel.gate { Some(g) => code { (g) }, None => "none" } }
                                    td { @match latest { Some(n) => { "release " (n) }, None => "none" } }
                                    td { @match now {
                                        Some(Outcome::Waiting(wait)) => { (factory_release::why::wait_text(wait)) }
                                        Some(Outcome::Due(_)) => { "due: released at the next pass" }
                                        _ => { "—" }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn release_table(releases: &[ReleaseRecord]) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "Release" } th scope="col" { "Channel" }
                th scope="col" { "When" } th scope="col" { "By" } th scope="col" { "Why" }
                th scope="col" { "Compose" } } }
            tbody {
                @for r in releases {
                    tr #{"release-" (r.seq.0)} {
                        th scope="row" { (r.product) " " (r.stream) " #" (r.number) }
                        td { (r.channel) }
                        td { (page::time(r.released_at_ms)) }
                        td { (r.by) }
                        td { (r.why) }
                        td { code { (r.compose_id) } }
                    }
                }
            }
        }
    }
}
