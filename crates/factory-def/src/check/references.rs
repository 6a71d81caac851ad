//! References by name: each must resolve, and one that does not is reported with the
//! nearest known name or a hint where to define it.

use super::Checker;
use crate::diag::{Diagnostic, ErrorCode};
use crate::suggest::did_you_mean;
use crate::wire::L;

impl Checker<'_> {
    /// Reports `name` if it is not in `known`; returns whether it is.
    pub(super) fn reference<'k>(
        &mut self,
        name: &L<String>,
        noun: &str,
        known: impl Iterator<Item = &'k str> + Clone,
        define_hint: &str,
    ) -> bool {
        self.scoped_reference(name, noun, None, known, define_hint)
    }

    /// A stream named from elsewhere must be declared by its owner (a
    /// component or a module, `section` being its table name).
    pub(super) fn stream_reference<'k>(
        &mut self,
        stream: &L<String>,
        section: &str,
        owner: &str,
        streams: impl Iterator<Item = &'k str> + Clone,
    ) {
        self.scoped_reference(
            stream,
            "stream",
            Some(&format!("{section} `{owner}`")),
            streams,
            &format!(
                "declare it as [{section}.{}.streams.{}]",
                key(owner),
                key(&stream.value)
            ),
        );
    }

    /// Like [`Self::reference`], for names that must be among those of `scope`
    /// (e.g. the components of one module).
    pub(super) fn scoped_reference<'k>(
        &mut self,
        name: &L<String>,
        noun: &str,
        scope: Option<&str>,
        known: impl Iterator<Item = &'k str> + Clone,
        define_hint: &str,
    ) -> bool {
        if known.clone().any(|k| k == name.value) {
            return true;
        }
        let help = match did_you_mean(&name.value, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => define_hint.to_string(),
        };
        let (message, label) = match scope {
            None => (
                format!("unknown {noun} `{}`", name.value),
                format!("no {noun} has this name"),
            ),
            Some(scope) => (
                format!("`{}` is not a {noun} of {scope}", name.value),
                format!("not a {noun} of {scope}"),
            ),
        };
        let d = Diagnostic::new(ErrorCode::UnknownReference, message)
            .at(self.sources.location(&name.at))
            .label(label)
            .help(help);
        self.push(d);
        false
    }

    pub(super) fn component_ref(&mut self, name: &L<String>) -> bool {
        if self.components.contains_key(&name.value) {
            return true;
        }
        let known: Vec<String> = self.components.keys().cloned().collect();
        self.reference(
            name,
            "component",
            known.iter().map(String::as_str),
            &format!(
                "define it as [component.{}], or remove this reference",
                name.value
            ),
        )
    }

    pub(super) fn package_ref(&mut self, name: &L<String>) -> bool {
        if self.packages.contains_key(&name.value) {
            return true;
        }
        let known: Vec<String> = self.packages.keys().cloned().collect();
        self.reference(
            name,
            "package",
            known.iter().map(String::as_str),
            "packages are produced by components (their name, or their `packages` list)",
        )
    }
}

/// A name as a TOML key: quoted when it holds characters a bare key cannot.
pub(super) fn key(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}
