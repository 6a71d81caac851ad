//! `[hook.NAME]`: what the factory runs (a sandboxed command) or posts (an HTTP request)
//! when an event of its log matches: the topics it is `on`, the components it is about, and
//! exactly one action.

use std::time::Duration;

use toml::de::DeValue;

use super::{Entry, L, Pairs, RawDefinition, Reader};
use crate::diag::ErrorCode;
use crate::model::{DEFAULT_HOOK_TIMEOUT, DEFAULT_HOOK_TRIES};
use crate::suggest::did_you_mean;

#[derive(Debug)]
pub(crate) struct RawHook {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    /// Topic patterns, each already checked.
    pub(crate) on: Vec<L<String>>,
    pub(crate) components: Vec<L<String>>,
    /// `None` when missing or ambiguous (already reported).
    pub(crate) action: Option<RawHookAction>,
    pub(crate) timeout: Duration,
    pub(crate) tries: u32,
}

#[derive(Debug)]
pub(crate) enum RawHookAction {
    Command { argv: Vec<L<String>>, network: bool },
    Post { url: L<String>, headers: Pairs },
}

pub(super) const FIELDS: &[&str] = &[
    "description",
    "on",
    "component",
    "command",
    "network",
    "post",
    "headers",
    "timeout",
    "tries",
];

const MAX_TRIES: u64 = 10;

const ACTION_HELP: &str = "give it `command = [\"PROGRAM\", \"ARG\", ...]` (run with the event's JSON on standard input) or `post = \"https://...\"` (the event's JSON sent as an HTTP POST)";

impl Reader<'_> {
    pub(super) fn hook(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let on = self.hook_patterns(&entry);
        let hook = RawHook {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            on,
            components: self.hook_components(&entry),
            action: self.hook_action(&entry),
            timeout: self.timeout(&entry, DEFAULT_HOOK_TIMEOUT),
            tries: self.tries(&entry),
        };
        raw.hooks.push(hook);
    }

    /// A string or an array of strings (`component = "a"`, `component = ["a", "b"]`).
    fn one_or_many(&mut self, entry: &Entry<'_, '_>, key: &str, example: &str) -> Vec<L<String>> {
        let Some(value) = self.get(entry, key) else {
            return Vec::new();
        };
        match value.get_ref() {
            DeValue::String(_) => self.string(entry, key).into_iter().collect(),
            DeValue::Array(_) => self.strings(entry, key),
            _ => {
                self.type_error(
                    entry,
                    key,
                    value,
                    "a string or an array of strings",
                    example,
                );
                Vec::new()
            }
        }
    }

    /// `component`: one component or several; an empty list would read as "any", which is
    /// what leaving it out says.
    fn hook_components(&mut self, entry: &Entry<'_, '_>) -> Vec<L<String>> {
        let components = self.one_or_many(
            entry,
            "component",
            "\"hello\"` or `[\"hello\", \"libgreet\"]",
        );
        if let Some(value) = self.get(entry, "component")
            && components.is_empty()
            && value.get_ref().is_array()
        {
            let at = self.at(value.span());
            self.invalid(
                &at,
                ErrorCode::InvalidValue,
                format!("{} is for no component", entry.what),
                "expected at least one component",
                "name the components it is about, or remove `component` to take events about anything".into(),
            );
        }
        components
    }

    /// `on`: one topic pattern or several, each well formed and matching some topic.
    fn hook_patterns(&mut self, entry: &Entry<'_, '_>) -> Vec<L<String>> {
        const HELP: &str = "say which events run it, e.g. `on = \"build.failed\"` or `on = [\"build.*\", \"wave.finished\"]`";
        let Some(value) = self.get(entry, "on") else {
            self.missing(entry, "on", HELP);
            return Vec::new();
        };
        let at = self.at(value.span());
        let patterns = self.one_or_many(entry, "on", "\"build.failed\"` or `[\"build.*\"]");
        if patterns.is_empty() && value.get_ref().is_array() {
            self.invalid(
                &at,
                ErrorCode::InvalidValue,
                format!("{} is on no topic", entry.what),
                "expected at least one topic pattern",
                HELP.into(),
            );
        }
        patterns
            .into_iter()
            .filter(|pattern| self.check_pattern(pattern, &entry.what))
            .collect()
    }

    fn check_pattern(&mut self, pattern: &L<String>, what: &str) -> bool {
        let text = &pattern.value;
        let well_formed = !text.is_empty()
            && text.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '*')
            });
        if !well_formed {
            self.invalid(
                &pattern.at,
                ErrorCode::InvalidValue,
                format!("invalid topic pattern `{text}` in {what}"),
                "expected a topic pattern",
                "topics are lowercase words joined by `.` and `_` (`build.failed`, `build.cut_off`); `*` stands for any run of characters (`build.*`, `*.failed`)".into(),
            );
            return false;
        }
        let topics: Vec<String> = factory_types::topic::topics().collect();
        if topics
            .iter()
            .any(|t| factory_types::topic::topic_matches(text, t))
        {
            return true;
        }
        let help = match did_you_mean(text, topics.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "the topics are {}",
                topics
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.invalid(
            &pattern.at,
            ErrorCode::UnknownReference,
            format!("no topic matches `{text}` in {what}"),
            "matches no event",
            help,
        );
        false
    }

    /// Exactly one of `command` and `post`, and only the fields that go with it.
    fn hook_action(&mut self, entry: &Entry<'_, '_>) -> Option<RawHookAction> {
        let command = self.get(entry, "command").is_some();
        let post = self.get(entry, "post").is_some();
        self.action_fields(entry, command, post);
        match (command, post) {
            (true, false) => self.hook_command(entry),
            (false, true) => self.hook_post(entry),
            (true, true) => {
                self.invalid(
                    &entry.at,
                    ErrorCode::InvalidValue,
                    format!("{} has both `command` and `post`", entry.what),
                    "one action per hook",
                    "a hook does one thing: make two hooks, one with `command`, one with `post`"
                        .into(),
                );
                None
            }
            (false, false) => {
                let d = crate::diag::Diagnostic::new(
                    ErrorCode::MissingField,
                    format!("{} has no action", entry.what),
                )
                .at(self.loc(&entry.at))
                .label("`command` or `post` is required")
                .help(ACTION_HELP);
                self.push(d);
                None
            }
        }
    }

    /// `network` goes with a command, `headers` with a post.
    fn action_fields(&mut self, entry: &Entry<'_, '_>, command: bool, post: bool) {
        let misplaced = [
            (
                "network",
                post && !command,
                "a POST is sent by Factory itself, which may always reach the network; `network` says whether a hook's command may",
            ),
            (
                "headers",
                command && !post,
                "`headers` are sent with a `post`; a command gets the event on standard input",
            ),
        ];
        for (key, wrong, help) in misplaced {
            if let (true, Some((k, _))) = (wrong, entry.table.get_key_value(key)) {
                let at = self.at(k.span());
                self.invalid(
                    &at,
                    ErrorCode::InvalidValue,
                    format!("`{key}` does not go with this action of {}", entry.what),
                    "not for this action",
                    help.into(),
                );
            }
        }
    }

    fn hook_command(&mut self, entry: &Entry<'_, '_>) -> Option<RawHookAction> {
        let value = self.get(entry, "command")?;
        if !value.get_ref().is_array() {
            let at = self.at(value.span());
            self.invalid(
                &at,
                ErrorCode::Type,
                format!(
                    "wrong type for `command` in {}: expected an array of strings, found {}",
                    entry.what,
                    value.get_ref().type_str()
                ),
                "expected the program and its arguments",
                "a hook's command is run directly, not by a shell: `command = [\"notify-send\", \"failed\"]`; for a shell line write `command = [\"sh\", \"-c\", \"...\"]`".into(),
            );
            return None;
        }
        let (argv, at) = self.string_list(entry, "command")?;
        if argv.first().is_none_or(|program| program.value.is_empty()) {
            self.invalid(
                &at,
                ErrorCode::InvalidValue,
                format!("{} has no program to run", entry.what),
                "expected a program first",
                "write the program, then its arguments: `command = [\"./hooks/notify.sh\", \"--channel\", \"releng\"]`".into(),
            );
            return None;
        }
        let network = self.boolean(entry, "network").unwrap_or(false);
        Some(RawHookAction::Command { argv, network })
    }

    fn hook_post(&mut self, entry: &Entry<'_, '_>) -> Option<RawHookAction> {
        let url = self.string(entry, "post")?;
        if let Some(problem) = url_problem(&url.value) {
            self.invalid(
                &url.at,
                ErrorCode::InvalidValue,
                format!("invalid URL `{}` in {}: {problem}", url.value, entry.what),
                "expected an http:// or https:// URL",
                "write the whole address, e.g. `post = \"https://chat.example.org/hooks/releng\"`"
                    .into(),
            );
            return None;
        }
        let mut headers = self.string_map(entry, "headers");
        headers.retain(|(name, value)| self.check_header(name, value));
        Some(RawHookAction::Post { url, headers })
    }

    fn check_header(&mut self, name: &L<String>, value: &L<String>) -> bool {
        const SET_BY_FACTORY: &[&str] = &[
            "content-type",
            "content-length",
            "host",
            "transfer-encoding",
        ];
        let token = !name.value.is_empty()
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        let lower = name.value.to_ascii_lowercase();
        let (at, problem, help) = if !token {
            (
                &name.at,
                "is not a header name",
                "header names are letters, digits and `-` (e.g. `Authorization`, `X-Factory-Hook`)",
            )
        } else if SET_BY_FACTORY.contains(&lower.as_str()) {
            (
                &name.at,
                "is set by Factory",
                "Factory sends the event as `Content-Type: application/json` and sets the length and host itself: remove it",
            )
        } else if value.value.chars().any(|c| c.is_control() && c != '\t') {
            (
                &value.at,
                "has a control character in its value",
                "a header value is one line of text",
            )
        } else {
            return true;
        };
        self.invalid(
            at,
            ErrorCode::InvalidValue,
            format!("header `{}` {problem}", name.value),
            "invalid header",
            help.into(),
        );
        false
    }

    /// `tries`: how many times one event is tried, 1 to 10.
    fn tries(&mut self, entry: &Entry<'_, '_>) -> u32 {
        let Some(value) = self.get(entry, "tries") else {
            return DEFAULT_HOOK_TRIES;
        };
        let DeValue::Integer(n) = value.get_ref() else {
            self.type_error(entry, "tries", value, "an integer", "3");
            return DEFAULT_HOOK_TRIES;
        };
        match u64::from_str_radix(n.as_str(), n.radix()) {
            Ok(n @ 1..=MAX_TRIES) => n as u32,
            _ => {
                let at = self.at(value.span());
                self.invalid(
                    &at,
                    ErrorCode::InvalidValue,
                    format!("`tries` of {} must be between 1 and {MAX_TRIES}", entry.what),
                    "out of range",
                    "`tries = 1` runs a hook once per event; more retry a failure that may pass (a timeout, exit status 75, HTTP 5xx) with a pause that doubles".into(),
                );
                DEFAULT_HOOK_TRIES
            }
        }
    }
}

/// What is wrong with a POST address, if anything.
fn url_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Some("only http:// and https:// addresses can be posted to");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("an address holds no spaces (write them `%20`)");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Some("it names no host");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::url_problem;

    #[test]
    fn post_addresses() {
        assert_eq!(url_problem("https://chat.example.org/hooks/x"), None);
        assert_eq!(url_problem("http://127.0.0.1:8080"), None);
        assert!(url_problem("ftp://example.org").is_some());
        assert!(url_problem("https://").is_some());
        assert!(url_problem("https://:80/x").is_some());
        assert!(url_problem("https://a b").is_some());
        assert!(url_problem("example.org").is_some());
    }
}
