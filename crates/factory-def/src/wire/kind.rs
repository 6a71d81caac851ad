//! `[kind.NAME]`: a reusable recipe (commands, outputs, network, timeout) that
//! components name with `kind = "NAME"`.

use std::time::Duration;

use super::{Entry, L, Pairs, RawDefinition, Reader};
use crate::diag::ErrorCode;

#[derive(Debug)]
pub(crate) struct RawKind {
    pub(crate) name: L<String>,
    pub(crate) description: Option<L<String>>,
    pub(crate) commands: Vec<L<String>>,
    pub(crate) outputs: Vec<L<String>>,
    pub(crate) network: bool,
    pub(crate) timeout: Duration,
    pub(crate) env: Pairs,
    pub(crate) params: Pairs,
}

pub(super) const FIELDS: &[&str] = &[
    "description",
    "commands",
    "outputs",
    "network",
    "timeout",
    "env",
    "params",
];

impl Reader<'_> {
    pub(super) fn kind(&mut self, entry: Entry<'_, '_>, raw: &mut RawDefinition) {
        self.unknown_fields(&entry);
        let commands = match self.string_list(&entry, "commands") {
            Some((commands, at))
                if commands.is_empty()
                    && self
                        .get(&entry, "commands")
                        .is_some_and(|v| v.get_ref().is_array()) =>
            {
                self.invalid(
                    &at,
                    ErrorCode::InvalidValue,
                    format!("{} has no commands", entry.what),
                    "expected at least one command",
                    "list the shell commands that build the source, e.g. `commands = [\"make -C {src} DESTDIR={out} install\"]`".into(),
                );
                commands
            }
            Some((commands, _)) => commands,
            None => {
                self.missing(&entry, "commands", "list the shell commands that build the source, e.g. `commands = [\"make -C {src} DESTDIR={out} install\"]`");
                Vec::new()
            }
        };
        let timeout = self.timeout(&entry, crate::model::DEFAULT_TIMEOUT);
        let kind = RawKind {
            name: self.name_of(&entry),
            description: self.string(&entry, "description"),
            commands,
            outputs: self.outputs(&entry).map(|(v, _)| v).unwrap_or_default(),
            network: self.boolean(&entry, "network").unwrap_or(false),
            timeout,
            env: self.env(&entry),
            params: self.string_map(&entry, "params"),
        };
        raw.kinds.push(kind);
    }

    /// `timeout`: a positive duration (`"90s"`, `"1h 30m"`); `default` when absent or
    /// invalid (then reported).
    pub(super) fn timeout(&mut self, entry: &Entry<'_, '_>, default: Duration) -> Duration {
        let Some(text) = self.string(entry, "timeout") else {
            return default;
        };
        match humantime::parse_duration(&text.value) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    "a timeout of zero".into(),
                    "expected a positive duration",
                    "write e.g. `timeout = \"10m\"`".into(),
                );
                default
            }
            Err(e) => {
                self.invalid(
                    &text.at,
                    ErrorCode::InvalidValue,
                    format!("invalid timeout `{}`: {e}", text.value),
                    "expected a duration",
                    "write a number and a unit, e.g. `\"90s\"`, `\"10m\"` or `\"1h 30m\"`".into(),
                );
                default
            }
        }
    }
}
