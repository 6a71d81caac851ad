//! What varies from run to run in the binary's output, replaced by placeholders.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Placeholders for the volatile parts of the binary's output, each pattern as narrow as
/// the binary's own formatting allows, so that nothing else is hidden:
///
/// | placeholder  | replaces                                                                |
/// | ------------ | ----------------------------------------------------------------------- |
/// | `[TEMP]`     | the test's temporary directory (as given and canonical)                 |
/// | `[REPO]`     | the workspace's checkout (the demo names its bundled example by path)   |
/// | `[DIGEST]`   | 64 lowercase hex digits standing alone (a `sha256:` before them stays)  |
/// | `[KEY]`      | 12 lowercase hex digits standing alone: a key or digest prefix (and a   |
/// |              | 12-digit decimal number, which the binary does not print)               |
/// | `[DURATION]` | `{:.2?}` of a duration (`12.34ms`, `1.02s`) and whole `ns`, `µs`, `ms`  |
/// | `[SEQ]`      | the sequence number that starts a `factory events` line                 |
/// | `[BUILD]`    | a build id `bN`                                                         |
/// | `[WAVE]`     | a wave id `wN`                                                          |
///
/// Whole seconds without a fraction (`timed out after 1s`) are not durations the binary
/// measured but settings it repeats, and stay. Where an id starts a padded column (a wave
/// report, `status`), the padding after it makes up for the placeholder's width, so that the
/// columns line up as they do for the user whatever the number of digits was; a sequence
/// number stays right-aligned in its column.
pub struct Filters {
    /// Literal paths and their placeholders, longest first: a path inside another one is
    /// replaced before the outer one can take its prefix.
    paths: Vec<(String, &'static str)>,
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid filter pattern")
}

static DIGEST: LazyLock<Regex> = LazyLock::new(|| regex(r"\b[0-9a-f]{64}\b"));
static KEY: LazyLock<Regex> = LazyLock::new(|| regex(r"\b[0-9a-f]{12}\b"));
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b(?:[0-9]+\.[0-9]+(?:ns|µs|ms|s)|[0-9]+(?:ns|µs|ms))\b"));
/// `{:>6} {kind:<16} …`: the kind (snake_case, always with an underscore) anchors it.
static SEQ: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?m)^(?P<number> *[0-9]+)(?P<rest> [a-z]+(?:_[a-z]+)+(?: |$))"));
/// An id that starts a column (after the indentation or after padding) and the padding that
/// ends that column, directly or after one word (`b12 succeeded` in `status`).
static ID_IN_COLUMN: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?m)(?P<before>^ *| {2,})(?P<letter>[bw])(?P<digits>[0-9]+)\b(?P<word>(?: [a-z]+)?)(?P<padding> {2,})",
    )
});
static ID: LazyLock<Regex> = LazyLock::new(|| regex(r"\b(?P<letter>[bw])[0-9]+\b"));

fn id_placeholder(letter: &str) -> &'static str {
    if letter == "b" { "[BUILD]" } else { "[WAVE]" }
}

/// The placeholder takes its width out of the column's padding (or gives it back), keeping
/// at least one space.
fn id_in_column(caps: &Captures<'_>) -> String {
    let placeholder = id_placeholder(&caps["letter"]);
    let id_width = 1 + caps["digits"].len();
    let padding = (caps["padding"].len() + id_width)
        .saturating_sub(placeholder.len())
        .max(1);
    format!(
        "{}{placeholder}{}{}",
        &caps["before"],
        &caps["word"],
        " ".repeat(padding)
    )
}

fn seq_right_aligned(caps: &Captures<'_>) -> String {
    let width = caps["number"].len();
    format!("{:>width$}{}", "[SEQ]", &caps["rest"])
}

impl Filters {
    /// The filters for the output of a factory that works in `temp`.
    pub fn for_temp_dir(temp: &Path) -> Filters {
        let mut paths = Vec::new();
        for (path, placeholder) in [(temp.to_owned(), "[TEMP]"), (checkout(), "[REPO]")] {
            if let Ok(canonical) = fs_err::canonicalize(&path) {
                paths.push((canonical.display().to_string(), placeholder));
            }
            paths.push((path.display().to_string(), placeholder));
        }
        paths.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        paths.dedup();
        Filters { paths }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (path, placeholder) in &self.paths {
            text = text.replace(path.as_str(), placeholder);
        }
        // Paths first, since anything may appear in them; keys before ids, since a key can
        // look like one (`b12345678901`).
        let text = DIGEST.replace_all(&text, "[DIGEST]");
        let text = KEY.replace_all(&text, "[KEY]");
        let text = DURATION.replace_all(&text, "[DURATION]");
        let text = SEQ.replace_all(&text, seq_right_aligned);
        let text = ID_IN_COLUMN.replace_all(&text, id_in_column);
        ID.replace_all(&text, |caps: &Captures<'_>| id_placeholder(&caps["letter"]))
            .into_owned()
    }
}

/// The workspace's root, two levels above this crate: the binary under test was built from
/// the same checkout, so the paths it compiled in start with it.
fn checkout() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .and_then(Path::parent)
        .expect("the testkit lives in crates/ of the workspace")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> String {
        Filters::for_temp_dir(Path::new("/tmp/.tmpAbC123")).apply(text)
    }

    #[test]
    fn paths_go_before_anything_inside_them_is_read_as_an_id() {
        let odd = Filters::for_temp_dir(Path::new("/tmp/b12/w3/0dd762236e4e"));
        assert_eq!(
            odd.apply("== work directory /tmp/b12/w3/0dd762236e4e/demo"),
            "== work directory [TEMP]/demo"
        );
        let example = checkout().join("crates/factory/../../examples/demo");
        assert_eq!(
            filter(&format!("== definition {}: 10 files", example.display())),
            "== definition [REPO]/crates/factory/../../examples/demo: 10 files"
        );
    }

    #[test]
    fn digests_and_keys_only_at_their_exact_lengths() {
        let digest = "438de3eb208891adaabce92f36050300f713f73a9344a9bb83dc6e22f3808f54";
        assert_eq!(
            filter(&format!("b4: tree.tar sha256:{digest}")),
            "[BUILD]: tree.tar sha256:[DIGEST]"
        );
        assert_eq!(
            filter("key 0dd762236e4e, source 2b4cd97082cf -> 8b2c07891788"),
            "key [KEY], source [KEY] -> [KEY]"
        );
        // 11 or 13 digits, capitals and words are something else.
        for kept in [
            "0dd762236e4",
            "0dd762236e4ef",
            "0DD762236E4E",
            "deadbeefcafes",
        ] {
            assert_eq!(filter(kept), kept);
        }
    }

    #[test]
    fn measured_durations_go_and_settings_stay() {
        assert_eq!(
            filter("wave w3: 2 ran (15.88ms); in 1.02s, 850µs, 850.00µs, 12ns, in 4.1ms"),
            "wave [WAVE]: 2 ran ([DURATION]); in [DURATION], [DURATION], [DURATION], \
             [DURATION], in [DURATION]"
        );
        for kept in [
            "timed out after 1s",
            "300 s of 540 s",
            "sleep 0.01",
            "timeout = \"1h 30m\"",
        ] {
            assert_eq!(filter(kept), kept);
        }
    }

    #[test]
    fn ids_in_prose_and_possessives() {
        assert_eq!(
            filter("early cutoff: lib (rebuilt in b33) ... equals b8's"),
            "early cutoff: lib (rebuilt in [BUILD]) ... equals [BUILD]'s"
        );
        for kept in ["b2b", "web3", "bb12", "-j 1", "sha256"] {
            assert_eq!(filter(kept), kept);
        }
    }

    #[test]
    fn columns_line_up_whatever_the_number_of_digits() {
        let report = "  b11    motd               succeeded\n  b102   libgreet           succeeded";
        assert_eq!(
            filter(report),
            "  [BUILD] motd               succeeded\n  [BUILD] libgreet           succeeded"
        );
        let waves = "  w3      finished  up\n  w15     finished  up";
        assert_eq!(
            filter(waves),
            "  [WAVE]  finished  up\n  [WAVE]  finished  up"
        );
        let components = "  app                  b8 succeeded     usable: b8 (x)\n  lib                  b16 succeeded    usable: b16 (x)";
        let filtered = filter(components);
        let usable: Vec<usize> = filtered
            .lines()
            .map(|l| l.find("usable").unwrap())
            .collect();
        assert_eq!(usable[0], usable[1], "{filtered}");
    }

    #[test]
    fn sequence_numbers_only_where_an_event_kind_follows() {
        assert_eq!(
            filter("     9 build_started    b8 attempt 1\n    10 wave_finished    w3: done"),
            " [SEQ] build_started    [BUILD] attempt 1\n [SEQ] wave_finished    [WAVE]: done"
        );
        assert_eq!(filter("     9 builds ran"), "     9 builds ran");
    }

    #[test]
    fn filtering_twice_changes_nothing_more() {
        let text = "  b11    motd  in 1.02s  — b4\n     7 build_succeeded  b4: sha256:\
                    438de3eb208891adaabce92f36050300f713f73a9344a9bb83dc6e22f3808f54 key 0dd762236e4e";
        let once = filter(text);
        assert_eq!(filter(&once), once);
    }

    #[test]
    fn padding_inside_a_log_line_is_the_build_s_own() {
        let line = "     6 build_log        b4 | $ echo   spaced b1  out";
        assert_eq!(
            filter(line),
            " [SEQ] build_log        [BUILD] | $ echo   spaced [BUILD]  out"
        );
    }
}
