//! What every page shares: the shell (landmarks, navigation, the icon sprite, the live
//! status), state badges, and how times, durations, sizes and links are written.
//!
//! Everything that comes from the store reaches the HTML through maud's `(value)`
//! splices, which escape; nothing here uses `PreEscaped` on store text.

use std::fmt::Write as _;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use time::OffsetDateTime;

use super::assets;

/// How the page's script keeps it current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Live {
    /// Refreshed after any build or wave event.
    Always,
    /// Refreshed while the page says `data-follow="1"` (a running wave, an unfinished
    /// build), then left alone.
    WhileRunning(bool),
}

/// The page around the content: title, which page it is for the script, and where the
/// event stream starts (the log's end when the page's data was read, so nothing that
/// happens after is missed).
pub(crate) struct Shell<'a> {
    pub(crate) title: String,
    /// `overview`, `wave`, `build`, `component`, `graph`, `list`, `error`.
    pub(crate) kind: &'static str,
    pub(crate) after: Option<u64>,
    pub(crate) live: Live,
    /// What the page is about, for the script: which events concern it.
    pub(crate) build: Option<u64>,
    pub(crate) wave: Option<u64>,
    pub(crate) component: Option<String>,
    /// Which navigation entry is the current page.
    pub(crate) section: &'a str,
}

impl<'a> Shell<'a> {
    pub(crate) fn new(title: impl Into<String>, kind: &'static str, section: &'a str) -> Self {
        Shell {
            title: title.into(),
            kind,
            after: None,
            live: Live::WhileRunning(false),
            build: None,
            wave: None,
            component: None,
            section,
        }
    }

    pub(crate) fn after(mut self, seq: u64, live: Live) -> Self {
        self.after = Some(seq);
        self.live = live;
        self
    }

    pub(crate) fn build(mut self, id: u64) -> Self {
        self.build = Some(id);
        self
    }

    pub(crate) fn wave(mut self, id: u64) -> Self {
        self.wave = Some(id);
        self
    }

    pub(crate) fn component(mut self, name: &str) -> Self {
        self.component = Some(name.to_owned());
        self
    }
}

/// The whole document.
pub(crate) fn shell(shell: &Shell<'_>, content: Markup) -> Markup {
    let follow = match shell.live {
        Live::Always => "always",
        Live::WhileRunning(true) => "1",
        Live::WhileRunning(false) => "0",
    };
    let after = shell.after.map(|a| a.to_string());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No favicon request: the page draws everything from its own two assets.
                link rel="icon" href="data:,";
                title { (shell.title) " · Factory" }
                link rel="stylesheet" href=(assets::url("dashboard.css"));
                script src=(assets::url("dashboard.js")) defer {}
            }
            body data-page=(shell.kind) data-after=[after] data-follow=(follow) {
                div #page-data hidden data-build=[shell.build] data-wave=[shell.wave]
                    data-component=[shell.component.as_deref()] {}
                a.skip href="#main" { "Skip to content" }
                (icon_sprite())
                (header(shell.section))
                main #main tabindex="-1" { (content) }
                footer {
                    p { "Factory dashboard · data from "
                        a href="/api/v1/openapi.json" { "the HTTP API" } }
                }
            }
        }
    }
}

fn header(section: &str) -> Markup {
    let entry = |href: &str, label: &str, name: &str| {
        let current = (section == name).then_some("page");
        html! { li { a href=(href) aria-current=[current] { (label) } } }
    };
    html! {
        header.top {
            a.brand href="/" { "Factory" }
            nav aria-label="Main" {
                ul {
                    (entry("/", "Overview", "overview"))
                    (entry("/waves", "Waves", "waves"))
                    (entry("/components", "Components", "components"))
                    (entry("/releases", "Releases", "releases"))
                }
            }
            p #live-status .live-status role="status" data-state="off" {
                span.dot aria-hidden="true" {}
                span.text { "not live" }
            }
        }
    }
}

/// Icons drawn once and used by reference. Each state has its own shape, so nothing is
/// told by colour alone; the state's word is always beside it.
fn icon_sprite() -> Markup {
    const SYMBOLS: &str = concat!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="sprite" aria-hidden="true" focusable="false">"#,
        r#"<symbol id="i-waiting" viewBox="0 0 16 16"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="2" stroke-dasharray="2.6 2"/></symbol>"#,
        r#"<symbol id="i-scheduled" viewBox="0 0 16 16"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="2"/><circle cx="8" cy="8" r="2" fill="currentColor"/></symbol>"#,
        r#"<symbol id="i-building" viewBox="0 0 16 16"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="2"/><path d="M8 2.5a5.5 5.5 0 0 1 0 11z" fill="currentColor"/></symbol>"#,
        r#"<symbol id="i-succeeded" viewBox="0 0 16 16"><path d="M2.5 8.5l3.5 3.5 7.5-8" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/></symbol>"#,
        r#"<symbol id="i-reused" viewBox="0 0 16 16"><path d="M13 8a5 5 0 1 1-1.6-3.7" fill="none" stroke="currentColor" stroke-width="2"/><path d="M13.5 1.5v4h-4z" fill="currentColor"/></symbol>"#,
        r#"<symbol id="i-unchanged" viewBox="0 0 16 16"><path d="M3 5.5h10M3 10.5h10" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/></symbol>"#,
        r#"<symbol id="i-failed" viewBox="0 0 16 16"><path d="M3.5 3.5l9 9M12.5 3.5l-9 9" stroke="currentColor" stroke-width="2.6" stroke-linecap="round"/></symbol>"#,
        r#"<symbol id="i-blocked" viewBox="0 0 16 16"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="2"/><path d="M4.2 11.8l7.6-7.6" stroke="currentColor" stroke-width="2"/></symbol>"#,
        r#"<symbol id="i-cancelled" viewBox="0 0 16 16"><rect x="3.5" y="3.5" width="9" height="9" rx="1" fill="currentColor"/></symbol>"#,
        r#"<symbol id="i-finished" viewBox="0 0 16 16"><path d="M4 2v12M4 2.5h8l-2 3 2 3H4" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></symbol>"#,
        "</svg>"
    );
    PreEscaped(SYMBOLS.to_owned())
}

/// The states a job can be shown in: the store's build states, plus `waiting` (in a
/// running wave, not queued yet) and `finished` (a wave).
pub(crate) fn state_label(state: &str) -> &'static str {
    match state {
        "waiting" => "waiting",
        "scheduled" => "scheduled",
        "building" => "building",
        "succeeded" => "succeeded",
        "reused" => "reused",
        "unchanged" => "unchanged (cut off)",
        "failed" => "failed",
        "blocked" => "blocked",
        "cancelled" => "cancelled",
        "running" => "running",
        "finished" => "finished",
        "up-to-date" => "up to date",
        _ => "unknown",
    }
}

pub(crate) fn icon_of(state: &str) -> &'static str {
    match state {
        "waiting" | "up-to-date" => "waiting",
        "scheduled" => "scheduled",
        "building" | "running" => "building",
        "succeeded" => "succeeded",
        "reused" => "reused",
        "unchanged" => "unchanged",
        "failed" => "failed",
        "blocked" => "blocked",
        "cancelled" => "cancelled",
        "finished" => "finished",
        _ => "waiting",
    }
}

/// A state's icon (a shape of its own) without the word, for places that say it otherwise.
pub(crate) fn icon(state: &str) -> Markup {
    let href = format!("#i-{}", icon_of(state));
    html! {
        svg.icon aria-hidden="true" focusable="false" viewBox="0 0 16 16" {
            use href=(href) {}
        }
    }
}

/// A state as a badge: its icon, its word, its colour.
pub(crate) fn badge(state: &str) -> Markup {
    let class = format!("state s-{}", icon_of(state));
    html! { span class=(class) data-state=(state) { (icon(state)) (state_label(state)) } }
}

/// Build states in the order pages list them: what needs attention first.
pub(crate) const STATE_ORDER: [&str; 9] = [
    "failed",
    "blocked",
    "building",
    "scheduled",
    "waiting",
    "succeeded",
    "unchanged",
    "reused",
    "cancelled",
];

/// A path segment with everything but unreserved characters percent-encoded, so a name
/// can never break out of the link it is put in.
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

pub(crate) fn build_href(id: u64) -> String {
    format!("/builds/{id}")
}

pub(crate) fn wave_href(id: u64) -> String {
    format!("/waves/{id}")
}

pub(crate) fn component_href(name: &str) -> String {
    format!("/components/{}", segment(name))
}

pub(crate) fn graph_href(name: &str) -> String {
    format!("/graph/{}", segment(name))
}

pub(crate) fn blob_href(digest: &str) -> String {
    format!("/api/v1/blobs/{}", segment(digest))
}

pub(crate) fn build_link(id: u64) -> Markup {
    html! { a href=(build_href(id)) { "b" (id) } }
}

pub(crate) fn wave_link(id: u64) -> Markup {
    html! { a href=(wave_href(id)) { "w" (id) } }
}

pub(crate) fn component_link(name: &str) -> Markup {
    html! { a href=(component_href(name)) { (name) } }
}

fn datetime(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// A moment: the time of day in UTC as text, the full time for machines and on hover.
pub(crate) fn time(ms: i64) -> Markup {
    let full = crate::wire::rfc3339(ms);
    let short = datetime(ms)
        .map(|t| {
            format!(
                "{} {:02}:{:02}:{:02}",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default();
    html! { time datetime=(full) title=(full) { (short) } }
}

pub(crate) fn maybe_time(ms: Option<i64>) -> Markup {
    match ms {
        Some(ms) => time(ms),
        None => html! { span.none { "—" } },
    }
}

/// A duration in words a person reads at a glance: `850 ms`, `12.4 s`, `3 min 5 s`.
pub(crate) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.1} s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    if s < 3600 {
        return format!("{} min {} s", s / 60, s % 60);
    }
    format!("{} h {} min", s / 3600, (s % 3600) / 60)
}

pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `sha256:0123456789ab…`: enough to tell digests apart; the whole one is in the title.
pub(crate) fn short_digest(digest: &str) -> Markup {
    let short: String = digest.chars().take(19).collect();
    html! { code title=(digest) { (short) "…" } }
}

/// Text with each build number in it (`b12`) made a link to that build.
pub(crate) fn linked(text: &str) -> Markup {
    let bytes = text.as_bytes();
    let mut parts: Vec<(&str, Option<u64>)> = Vec::new();
    let (mut plain, mut i) = (0, 0);
    while i < bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if bytes[i] == b'b' && starts_word {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let end = i + 1 + digits;
            let ends_word = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
            if digits > 0
                && ends_word
                && let Ok(id) = text[i + 1..end].parse()
            {
                parts.push((&text[plain..i], None));
                parts.push((&text[i..end], Some(id)));
                plain = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    parts.push((&text[plain..], None));
    html! {
        @for (part, id) in parts {
            @match id { Some(id) => { a href=(build_href(id)) { (part) } }, None => { (part) } }
        }
    }
}

/// `items` joined by commas, at most `limit` of them, and how many more.
pub(crate) fn some_of<T>(items: &[T], limit: usize, each: impl Fn(&T) -> Markup) -> Markup {
    let shown = items.len().min(limit);
    html! {
        @for (i, item) in items[..shown].iter().enumerate() {
            @if i > 0 { ", " }
            (each(item))
        }
        @if items.len() > shown { " and " (items.len() - shown) " more" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_break_out_of_a_link() {
        assert_eq!(segment("libfoo"), "libfoo");
        assert_eq!(segment("image:base"), "image:base");
        assert_eq!(segment("a/../b\"<x>"), "a%2F..%2Fb%22%3Cx%3E");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn build_numbers_in_text_become_links() {
        let html = linked("against b32 (key ab12), not b3x nor sub7 <b>").into_string();
        assert_eq!(
            html,
            "against <a href=\"/builds/32\">b32</a> (key ab12), not b3x nor sub7 &lt;b&gt;"
        );
    }

    #[test]
    fn durations_and_sizes_read_at_a_glance() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(duration(3_780_000), "1 h 3 min");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
    }
}
