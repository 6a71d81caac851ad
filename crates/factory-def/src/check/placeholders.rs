//! The `{...}` placeholders of commands and environment values: well formed, known, and
//! usable where they are written (a parameter declared, a dependency built first, a
//! source present).

use std::collections::BTreeSet;

use super::Checker;
use crate::diag::{Diagnostic, ErrorCode};
use crate::source::At;
use crate::suggest::did_you_mean;
use crate::template::{self, TemplateErrorKind, VAR_NAMES, Var};
use crate::wire::L;

/// What a template may refer to, where it is written.
pub(super) struct Scope<'a> {
    /// Names usable as `{param.NAME}`.
    pub(super) params: BTreeSet<&'a str>,
    /// Names usable as `{dep.NAME}`; `None` when that can only be checked per component.
    pub(super) deps: Option<BTreeSet<&'a str>>,
    /// Whether `{src}` has a source to refer to; `None` when unknown here.
    pub(super) has_source: Option<bool>,
    /// e.g. "component `hello`".
    pub(super) owner: String,
    /// Where a missing parameter should be declared.
    pub(super) param_hint: &'static str,
}

impl Checker<'_> {
    /// Where a sub-range of a string value is in the file: exact when the string is written
    /// without escapes, else the whole string.
    pub(super) fn within(&self, at: &At, value: &str, range: std::ops::Range<usize>) -> At {
        let written = self.sources.text(at);
        let quote = if written.starts_with("\"\"\"") || written.starts_with("'''") {
            3
        } else if written.starts_with(['"', '\'']) {
            1
        } else {
            return at.clone();
        };
        match written.get(quote..written.len().saturating_sub(quote)) {
            Some(inner) if inner == value => at.narrow(quote + range.start..quote + range.end),
            _ => at.clone(),
        }
    }

    /// Parses and checks a template; returns the placeholders it uses with their places.
    pub(super) fn template(&mut self, text: &L<String>, scope: &Scope<'_>) -> Vec<(Var, At)> {
        let parsed = template::parse(&text.value);
        for error in parsed.errors {
            let at = self.within(&text.at, &text.value, error.range.clone());
            let d = template_error(error.kind, &scope.owner).at(self.sources.location(&at));
            self.push(d);
        }
        let mut out = Vec::with_capacity(parsed.located.len());
        for (var, range) in parsed.located {
            let at = self.within(&text.at, &text.value, range);
            self.check_var(&var, &at, scope);
            out.push((var, at));
        }
        out
    }

    fn check_var(&mut self, var: &Var, at: &At, scope: &Scope<'_>) {
        match var {
            Var::Param(p) if !scope.params.contains(p.as_str()) => {
                let help = match did_you_mean(p, scope.params.iter().copied()) {
                    Some(s) => format!("did you mean `{{param.{s}}}`?"),
                    None => format!("{}: `params = {{ {p} = \"...\" }}`", scope.param_hint),
                };
                let d = Diagnostic::new(
                    ErrorCode::Placeholder,
                    format!("unknown parameter `{var}` in {}", scope.owner),
                )
                .at(self.sources.location(at))
                .label("no such parameter")
                .help(help);
                self.push(d);
            }
            Var::Dep(dep) => {
                if let Some(deps) = &scope.deps
                    && !deps.contains(dep.as_str())
                {
                    let help = match did_you_mean(dep, deps.iter().copied()) {
                        Some(s) => format!("did you mean `{{dep.{s}}}`?"),
                        None => format!("add `{dep}` to `build-requires`, or use `{{deps}}`"),
                    };
                    let d = Diagnostic::new(
                        ErrorCode::Placeholder,
                        format!(
                            "`{var}` in {} names `{dep}`, which is not one of its build inputs",
                            scope.owner
                        ),
                    )
                    .at(self.sources.location(at))
                    .label("not a build dependency")
                    .help(help);
                    self.push(d);
                }
            }
            Var::Src if scope.has_source == Some(false) => {
                let d = Diagnostic::new(
                    ErrorCode::Placeholder,
                    format!("`{{src}}` is used but {} has no source", scope.owner),
                )
                .at(self.sources.location(at))
                .label("nothing to refer to")
                .help("give the component a `source`, or remove `{src}`");
                self.push(d);
            }
            _ => {}
        }
    }
}

/// The diagnostic (without location) for a malformed template of `owner`.
fn template_error(kind: TemplateErrorKind, owner: &str) -> Diagnostic {
    match kind {
        TemplateErrorKind::Unclosed => Diagnostic::new(
            ErrorCode::Placeholder,
            format!("unclosed placeholder in a command of {owner}"),
        )
        .label("`{` without `}`")
        .help(
            "close it, e.g. `{out}`; write `{{` for a literal `{` (shell `${VAR}` is `${{VAR}}`)",
        ),
        TemplateErrorKind::StrayClose => Diagnostic::new(
            ErrorCode::Placeholder,
            format!("unmatched `}}` in a command of {owner}"),
        )
        .label("`}` without `{`")
        .help("write `}}` for a literal `}`"),
        TemplateErrorKind::Unknown(name) => {
            let help = if looks_like_shell_variable(&name) {
                format!(
                    "for the shell variable write `${name}` or `${{{{{name}}}}}`; braces are doubled to stay literal"
                )
            } else if let Some(s) = did_you_mean(&name, VAR_NAMES.iter().copied()) {
                format!("did you mean `{{{s}}}`?")
            } else {
                let all: Vec<String> = VAR_NAMES.iter().map(|v| format!("`{{{v}}}`")).collect();
                format!(
                    "placeholders are {}; write `{{{{` and `}}}}` for literal braces",
                    all.join(", ")
                )
            };
            Diagnostic::new(
                ErrorCode::Placeholder,
                format!("unknown placeholder `{{{name}}}` in {owner}"),
            )
            .label("not a placeholder")
            .help(help)
        }
    }
}

fn looks_like_shell_variable(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}
