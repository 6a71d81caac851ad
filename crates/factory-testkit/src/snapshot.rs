//! Snapshots (insta) of what the binary prints.

use std::sync::LazyLock;

use regex::Regex;

/// Settings for a snapshot of the binary's output: the snapshot file's header says what was
/// run instead of repeating the test's expression, which only ever reads `filtered`.
pub fn snapshot_settings(description: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_description(description);
    settings.set_omit_expression(true);
    settings
}

/// Snapshots `text` after the context's [`Filters`](crate::Filters), with
/// [`snapshot_settings`]: `assert_filtered_snapshot!(context, "name", "what ran", text)`.
/// A macro, because insta names and places the snapshot after the test that calls it.
#[macro_export]
macro_rules! assert_filtered_snapshot {
    ($context:expr, $name:expr, $description:expr, $text:expr $(,)?) => {{
        let filtered = $context.filter(&$text);
        $crate::snapshot_settings($description)
            .bind(|| $crate::insta::assert_snapshot!($name, filtered));
    }};
}

/// The first line of a build in a wave report: `  b12    job ...` (or already filtered).
static ENTRY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^  (?:b[0-9]+|\[BUILD\]) +\S").expect("a valid pattern"));

/// A build's detail line in a wave report sits below its reason, far right of the job.
fn is_detail(line: &str) -> bool {
    line.starts_with(&" ".repeat(10))
}

/// `text` with the builds of each wave report in order of their job (each build's detail
/// lines kept with it), where the report has them by build number: builds that were queued
/// at the same time get their numbers in whatever order their events were committed, which
/// varies from run to run. Everything else stays where it was.
pub fn sort_build_entries(text: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut entries: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if ENTRY.is_match(line) {
            entries.push(vec![line]);
        } else if let Some(entry) = entries.last_mut().filter(|_| is_detail(line)) {
            entry.push(line);
        } else {
            flush_sorted(&mut entries, &mut lines);
            lines.push(line);
        }
    }
    flush_sorted(&mut entries, &mut lines);
    let mut sorted = lines.join("\n");
    if text.ends_with('\n') {
        sorted.push('\n');
    }
    sorted
}

fn flush_sorted<'a>(entries: &mut Vec<Vec<&'a str>>, lines: &mut Vec<&'a str>) {
    entries.sort_by_key(|entry| job_onwards(entry));
    lines.extend(entries.drain(..).flatten());
}

/// An entry's first line from its job on: the build id, whose digits decide nothing, left out.
fn job_onwards<'a>(entry: &[&'a str]) -> &'a str {
    let line = entry[0].trim_start();
    line.split_once(' ')
        .map_or(line, |(_id, rest)| rest.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_are_sorted_by_job_with_their_details_and_nothing_else_moves() {
        let report = "wave w3: 3 ran\n\
            \x20 b11    motd      succeeded\n\
            \x20 b9     libgreet  succeeded\n\
            \x20                            output identical\n\
            \x20 b12    hello     unchanged\n\
            \n\
            == next\n";
        assert_eq!(
            sort_build_entries(report),
            "wave w3: 3 ran\n\
             \x20 b12    hello     unchanged\n\
             \x20 b9     libgreet  succeeded\n\
             \x20                            output identical\n\
             \x20 b11    motd      succeeded\n\
             \n\
             == next\n"
        );
    }
}
