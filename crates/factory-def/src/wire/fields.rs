//! Typed access to a table's fields, shared by every section: each accessor reports a
//! wrong type, a missing or an unknown field at the place it was written, and the
//! fields that several sections share (`env`, `outputs`) are read here once.

use toml::de::DeValue;

use super::{At, Entry, L, Pairs, Reader, Value};
use crate::diag::{Diagnostic, ErrorCode};
use crate::suggest::did_you_mean;

/// Names of components, kinds, streams...: what a package name may look like.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '_' | '-'))
        && name.len() <= 128
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Reader<'_> {
    pub(super) fn check_name(&mut self, name: &str, at: &At, noun: &str) -> bool {
        if is_valid_name(name) {
            return true;
        }
        let d = Diagnostic::new(ErrorCode::InvalidValue, format!("invalid {noun} name `{name}`"))
            .at(self.loc(at))
            .label("not a valid name")
            .help("names start with a letter or digit and contain only letters, digits, `+`, `.`, `_` and `-`");
        self.push(d);
        false
    }

    pub(super) fn name_of(&self, entry: &Entry<'_, '_>) -> L<String> {
        L {
            value: entry.name.clone(),
            at: entry.at.clone(),
        }
    }

    pub(super) fn get<'t, 'i>(&self, entry: &Entry<'t, 'i>, key: &str) -> Option<Value<'t, 'i>> {
        entry.table.get(key)
    }

    pub(super) fn type_error(
        &mut self,
        entry: &Entry<'_, '_>,
        key: &str,
        value: Value<'_, '_>,
        expected: &str,
        example: &str,
    ) {
        let at = self.at(value.span());
        let d = Diagnostic::new(
            ErrorCode::Type,
            format!(
                "wrong type for `{key}` in {}: expected {expected}, found {}",
                entry.what,
                value.get_ref().type_str()
            ),
        )
        .at(self.loc(&at))
        .label(format!("expected {expected}"))
        .help(format!("write it like `{key} = {example}`"));
        self.push(d);
    }

    pub(super) fn missing(&mut self, entry: &Entry<'_, '_>, key: &str, help: &str) {
        let d = Diagnostic::new(
            ErrorCode::MissingField,
            format!("{} has no `{key}`", entry.what),
        )
        .at(self.loc(&entry.at))
        .label(format!("`{key}` is required"))
        .help(help.to_string());
        self.push(d);
    }

    pub(super) fn invalid(
        &mut self,
        at: &At,
        code: ErrorCode,
        message: String,
        label: &str,
        help: String,
    ) {
        let d = Diagnostic::new(code, message)
            .at(self.loc(at))
            .label(label.to_string())
            .help(help);
        self.push(d);
    }

    pub(super) fn string(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<L<String>> {
        let value = self.get(entry, key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(L {
                value: s.to_string(),
                at: self.at(value.span()),
            }),
            _ => {
                self.type_error(entry, key, value, "a string", "\"...\"");
                None
            }
        }
    }

    pub(super) fn required_string(
        &mut self,
        entry: &Entry<'_, '_>,
        key: &str,
        help: &str,
    ) -> Option<L<String>> {
        if self.get(entry, key).is_none() {
            self.missing(entry, key, help);
            return None;
        }
        self.string(entry, key)
    }

    /// An array of strings; `None` when absent. Bad elements are reported and skipped.
    pub(super) fn string_list(
        &mut self,
        entry: &Entry<'_, '_>,
        key: &str,
    ) -> Option<(Vec<L<String>>, At)> {
        let value = self.get(entry, key)?;
        let at = self.at(value.span());
        let DeValue::Array(items) = value.get_ref() else {
            self.type_error(entry, key, value, "an array of strings", "[\"a\", \"b\"]");
            return Some((Vec::new(), at));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(L {
                    value: s.to_string(),
                    at: self.at(item.span()),
                }),
                _ => self.type_error(entry, key, item, "a string", "[\"a\", \"b\"]"),
            }
        }
        Some((out, at))
    }

    pub(super) fn strings(&mut self, entry: &Entry<'_, '_>, key: &str) -> Vec<L<String>> {
        self.string_list(entry, key)
            .map(|(v, _)| v)
            .unwrap_or_default()
    }

    pub(super) fn boolean(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<bool> {
        let value = self.get(entry, key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(entry, key, value, "a boolean", "false");
                None
            }
        }
    }

    /// A table of string values (`env`, `params`, `labels`...).
    pub(super) fn string_map(&mut self, entry: &Entry<'_, '_>, key: &str) -> Pairs {
        let Some(value) = self.get(entry, key) else {
            return Vec::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                entry,
                key,
                value,
                "a table of strings",
                "{ NAME = \"value\" }",
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(table.len());
        for (k, v) in table {
            match v.get_ref() {
                DeValue::String(s) => out.push((
                    L {
                        value: k.get_ref().to_string(),
                        at: self.at(k.span()),
                    },
                    L {
                        value: s.to_string(),
                        at: self.at(v.span()),
                    },
                )),
                _ => self.type_error(
                    entry,
                    &format!("{key}.{}", k.get_ref()),
                    v,
                    "a string",
                    "\"value\"",
                ),
            }
        }
        out
    }

    pub(super) fn table<'t, 'i>(
        &mut self,
        entry: &Entry<'t, 'i>,
        key: &str,
        fields: &'static [&'static str],
        what: String,
    ) -> Option<Entry<'t, 'i>> {
        let (k, value) = entry.table.get_key_value(key)?;
        match value.get_ref() {
            DeValue::Table(table) => Some(Entry {
                table,
                at: self.at(k.span()),
                what,
                name: key.to_string(),
                fields,
            }),
            _ => {
                self.type_error(entry, key, value, "a table", "{ ... }");
                None
            }
        }
    }

    /// A table of named tables (`streams`, `profiles`).
    pub(super) fn named_tables<'t, 'i>(
        &mut self,
        entry: &Entry<'t, 'i>,
        key: &str,
        noun: &str,
        fields: &'static [&'static str],
    ) -> Vec<Entry<'t, 'i>> {
        let Some(value) = self.get(entry, key) else {
            return Vec::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                entry,
                key,
                value,
                "a table",
                &format!("{{ NAME = {{ ... }} }}` or `[...{key}.NAME]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, item) in table {
            let at = self.at(name.span());
            if !self.check_name(name.get_ref(), &at, noun) {
                continue;
            }
            match item.get_ref() {
                DeValue::Table(t) => out.push(Entry {
                    table: t,
                    at,
                    what: format!("{noun} `{}` of {}", name.get_ref(), entry.what),
                    name: name.get_ref().to_string(),
                    fields,
                }),
                _ => self.type_error(
                    entry,
                    &format!("{key}.{}", name.get_ref()),
                    item,
                    "a table",
                    "{ ... }",
                ),
            }
        }
        out
    }

    /// Reports every key of `entry` that is not one of its fields.
    pub(super) fn unknown_fields(&mut self, entry: &Entry<'_, '_>) {
        for key in entry.table.keys() {
            let name = key.get_ref().as_ref();
            if entry.fields.contains(&name) {
                continue;
            }
            let help = match did_you_mean(name, entry.fields.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the known fields are {}", quoted_list(entry.fields)),
            };
            let at = self.at(key.span());
            let d = Diagnostic::new(
                ErrorCode::UnknownField,
                format!("unknown field `{name}` in {}", entry.what),
            )
            .at(self.loc(&at))
            .label("unknown field")
            .help(help);
            self.push(d);
        }
    }

    /// `outputs`: paths or globs relative to `{out}`.
    pub(super) fn outputs(&mut self, entry: &Entry<'_, '_>) -> Option<(Vec<L<String>>, At)> {
        let (outputs, at) = self.string_list(entry, "outputs")?;
        let mut valid = Vec::with_capacity(outputs.len());
        for output in outputs {
            let escapes = output.value.split('/').any(|c| c == "..");
            let problem = if output.value.is_empty() || output.value.starts_with('/') || escapes {
                Some(
                    "outputs are paths inside the output directory: relative, without `..`"
                        .to_string(),
                )
            } else if output.value.contains(['{', '}']) {
                Some(
                    "outputs take no placeholders: match the file with a glob such as `bin/*`"
                        .to_string(),
                )
            } else {
                glob::Pattern::new(&output.value)
                    .err()
                    .map(|e| format!("invalid glob pattern: {}", e.msg))
            };
            match problem {
                Some(help) => self.invalid(
                    &output.at,
                    ErrorCode::InvalidValue,
                    format!("invalid output `{}` in {}", output.value, entry.what),
                    "expected a relative path or glob, e.g. `bin/*`",
                    help,
                ),
                None => valid.push(output),
            }
        }
        Some((valid, at))
    }

    pub(super) fn env(&mut self, entry: &Entry<'_, '_>) -> Pairs {
        let mut env = self.string_map(entry, "env");
        env.retain(|(name, _)| {
            if is_env_name(&name.value) {
                return true;
            }
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("invalid environment variable name `{}`", name.value),
            )
            .at(self.sources.location(&name.at))
            .label("not a variable name")
            .help("variable names contain only letters, digits and `_`, and do not start with a digit");
            self.diags.push(d);
            false
        });
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn names() {
        assert!(is_valid_name("libgreet"));
        assert!(is_valid_name("g++-12"));
        assert!(is_valid_name("7.3"));
        assert!(!is_valid_name("-x"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name(""));
    }
}
