//! Command templates: text with `{placeholder}`s that the engine fills in.
//!
//! `{{` and `}}` stand for literal braces, so shell `${VAR}` is written `${{VAR}}`
//! (or simply `$VAR`).

use std::fmt;
use std::ops::Range;

/// A placeholder the engine substitutes in a command or an environment value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Var {
    /// `{src}`: the component's source directory.
    Src,
    /// `{out}`: the directory the build writes its outputs to.
    Out,
    /// `{name}`: the component's name.
    Name,
    /// `{version}`: the component's (or stream's) version, empty when none is set.
    Version,
    /// `{stream}`: the stream being built, empty for a component without streams.
    Stream,
    /// `{deps}`: the output directories of all build dependencies, space separated.
    Deps,
    /// `{dep.NAME}`: the output directory of build dependency NAME.
    Dep(String),
    /// `{param.NAME}`: a parameter declared by the kind.
    Param(String),
}

/// The placeholder names, for suggestions and documentation.
pub const VAR_NAMES: &[&str] = &[
    "src",
    "out",
    "name",
    "version",
    "stream",
    "deps",
    "dep.NAME",
    "param.NAME",
];

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Src => write!(f, "{{src}}"),
            Var::Out => write!(f, "{{out}}"),
            Var::Name => write!(f, "{{name}}"),
            Var::Version => write!(f, "{{version}}"),
            Var::Stream => write!(f, "{{stream}}"),
            Var::Deps => write!(f, "{{deps}}"),
            Var::Dep(name) => write!(f, "{{dep.{name}}}"),
            Var::Param(name) => write!(f, "{{param.{name}}}"),
        }
    }
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template; `text` is what the definition says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    pub parts: Vec<Part>,
}

impl Template {
    /// Substitutes every placeholder with `value(var)`.
    pub fn render(&self, mut value: impl FnMut(&Var) -> String) -> String {
        let mut out = String::with_capacity(self.text.len());
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(var) => out.push_str(&value(var)),
            }
        }
        out
    }

    /// The placeholders used, in order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Text(_) => None,
        })
    }
}

/// A problem in a template, with the byte range (within the text) it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub(crate) range: Range<usize>,
    pub(crate) kind: TemplateErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateErrorKind {
    Unclosed,
    StrayClose,
    Unknown(String),
}

/// A placeholder with its byte range inside the template text.
pub(crate) type Located = (Var, Range<usize>);

/// What parsing a template found: the placeholders (with their places) and the problems.
pub(crate) struct Parsed {
    pub(crate) template: Template,
    pub(crate) located: Vec<Located>,
    pub(crate) errors: Vec<TemplateError>,
}

impl Parsed {
    pub(crate) fn ok(self) -> Option<Template> {
        self.errors.is_empty().then_some(self.template)
    }
}

/// Parses `text`, keeping every valid placeholder and every problem found.
// Hand-written: the syntax is three rules ({{, }}, {name}); a template engine
// crate would bring its own syntax (filters, loops) that kinds must not have.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut parts = Vec::new();
    let mut located = Vec::new();
    let mut errors = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => errors.push(TemplateError {
                range: i..i + 1,
                kind: TemplateErrorKind::StrayClose,
            }),
            '{' => {
                let Some(len) = text[i + 1..].find('}') else {
                    errors.push(TemplateError {
                        range: i..text.len(),
                        kind: TemplateErrorKind::Unclosed,
                    });
                    break;
                };
                let name = &text[i + 1..i + 1 + len];
                let range = i..i + len + 2;
                while chars.peek().is_some_and(|&(j, _)| j < range.end) {
                    chars.next();
                }
                match var_from_name(name) {
                    Some(var) => {
                        if !literal.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut literal)));
                        }
                        located.push((var.clone(), range));
                        parts.push(Part::Var(var));
                    }
                    None => errors.push(TemplateError {
                        range,
                        kind: TemplateErrorKind::Unknown(name.to_string()),
                    }),
                }
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Parsed {
        template: Template {
            text: text.to_string(),
            parts,
        },
        located,
        errors,
    }
}

fn var_from_name(name: &str) -> Option<Var> {
    let valid_arg = |arg: &str| crate::wire::is_valid_name(arg);
    Some(match name {
        "src" => Var::Src,
        "out" => Var::Out,
        "name" => Var::Name,
        "version" => Var::Version,
        "stream" => Var::Stream,
        "deps" => Var::Deps,
        _ => {
            if let Some(dep) = name.strip_prefix("dep.").filter(|d| valid_arg(d)) {
                Var::Dep(dep.to_string())
            } else if let Some(param) = name.strip_prefix("param.").filter(|p| valid_arg(p)) {
                Var::Param(param.to_string())
            } else {
                return None;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let parsed = parse("cc {src}/a.c -I{dep.libgreet}/include -o {out}/a ${{HOME}}");
        let located = parsed.located.clone();
        let t = parsed.ok().expect("valid template");
        assert_eq!(located.len(), 3);
        assert_eq!(located[1].1, 15..29);
        let rendered = t.render(|v| match v {
            Var::Src => "/s".into(),
            Var::Out => "/o".into(),
            Var::Dep(n) => format!("/d/{n}"),
            other => panic!("unexpected {other}"),
        });
        assert_eq!(rendered, "cc /s/a.c -I/d/libgreet/include -o /o/a ${HOME}");
    }

    #[test]
    fn reports_every_problem() {
        let parsed = parse("a {sorce} } {dep.} {src} {out");
        assert_eq!(parsed.located.len(), 1, "the valid {{src}} is kept");
        let errors = parsed.errors;
        let kinds: Vec<_> = errors.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                TemplateErrorKind::Unknown("sorce".into()),
                TemplateErrorKind::StrayClose,
                TemplateErrorKind::Unknown("dep.".into()),
                TemplateErrorKind::Unclosed,
            ]
        );
    }
}
