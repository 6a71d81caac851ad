//! `[component.NAME]`: its dependencies resolve, its kind exists and fits the fields it
//! sets, and its kind's templates make sense for it.

use std::collections::BTreeSet;

use super::Checker;
use super::cycles::Edge;
use super::packages::{build_inputs, packaged};
use super::placeholders::Scope;
use crate::diag::{Diagnostic, ErrorCode};
use crate::model::BuiltinKind;
use crate::source::At;
use crate::suggest::did_you_mean;
use crate::template::{self, Var};
use crate::wire::{L, Pairs, RawComponent, RawDefinition, RawKind};

/// The built-in kinds a component may name (`oci-image` is for images only).
const COMPONENT_BUILTINS: [BuiltinKind; 3] =
    [BuiltinKind::Command, BuiltinKind::Deb, BuiltinKind::Tarball];

impl Checker<'_> {
    pub(super) fn check_component(&mut self, component: &RawComponent, raw: &RawDefinition) {
        for dep in component.build_requires.iter().chain(&component.requires) {
            self.component_ref(dep);
        }
        let Some(kind) = &component.kind else {
            return;
        };
        let builtin = BuiltinKind::from_name(&kind.value);
        let user_kind = self.kinds.get(&kind.value).map(|&i| &raw.kinds[i]);
        if !self.kind_usable(component, kind, builtin, user_kind.is_some()) {
            return;
        }
        self.recipe_fields(component, builtin);
        self.component_templates(component, kind, builtin, user_kind);
    }

    /// Whether a component may have the kind it names: a built-in one other than
    /// `oci-image`, or one declared as [kind.NAME]. Reports why not.
    fn kind_usable(
        &mut self,
        component: &RawComponent,
        kind: &L<String>,
        builtin: Option<BuiltinKind>,
        declared: bool,
    ) -> bool {
        if builtin == Some(BuiltinKind::OciImage) {
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("component `{}` has kind `oci-image`", component.name.value),
            )
            .at(self.sources.location(&kind.at))
            .label("for images only")
            .help("images are declared as [image.NAME] with a `base` and `packages`");
            self.push(d);
            return false;
        }
        if builtin.is_none() && !declared {
            let known: Vec<String> = COMPONENT_BUILTINS
                .iter()
                .map(|k| k.name().to_string())
                .chain(self.kinds.keys().cloned())
                .collect();
            self.reference(
                kind,
                "kind",
                known.iter().map(String::as_str),
                &format!(
                    "declare it as [kind.{}] with its `commands`, or use a built-in kind: `command`, `deb`, `tarball`",
                    kind.value
                ),
            );
            return false;
        }
        true
    }

    /// The component's own templates (commands of a `command` component, `env` values),
    /// and, for a declared kind, the kind's templates as they apply to this component.
    fn component_templates(
        &mut self,
        component: &RawComponent,
        kind: &L<String>,
        builtin: Option<BuiltinKind>,
        user_kind: Option<&RawKind>,
    ) {
        let has_source =
            component.source.is_some() || component.streams.iter().any(|s| s.source.is_some());
        let inputs: BTreeSet<&str> = build_inputs(component).map(|l| l.value.as_str()).collect();
        let (params, param_hint) = match (builtin, user_kind) {
            (Some(BuiltinKind::Command), _) => {
                (param_names(&component.params), "set it in the component")
            }
            (None, Some(user_kind)) => {
                self.component_params(component, user_kind);
                self.kind_needs(component, kind, user_kind, &inputs, has_source);
                (
                    param_names(&user_kind.params),
                    "declare it with a default in the kind",
                )
            }
            _ => (
                BTreeSet::new(),
                "built-in kinds take no parameters; remove it",
            ),
        };
        let scope = Scope {
            params,
            deps: Some(inputs),
            has_source: Some(has_source),
            owner: format!("component `{}`", component.name.value),
            param_hint,
        };
        if builtin == Some(BuiltinKind::Command) {
            for command in component.commands.iter().flat_map(|(c, _)| c) {
                self.template(command, &scope);
            }
        }
        for (_, value) in &component.env {
            self.template(value, &scope);
        }
    }

    /// Fields that only some kinds take: `commands`/`outputs` (command), `deb`, `tarball`, `params`.
    fn recipe_fields(&mut self, c: &RawComponent, builtin: Option<BuiltinKind>) {
        let is = |k: BuiltinKind| builtin == Some(k);
        self.command_fields(c, is(BuiltinKind::Command));
        self.deb_table(c, is(BuiltinKind::Deb));
        self.tarball_table(c, is(BuiltinKind::Tarball));
        if is(BuiltinKind::Deb)
            && let Some(first) = c.packages.as_ref().and_then(|p| p.first())
        {
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("component `{}` of kind `deb` lists `packages`", c.name.value),
            )
            .at(self.sources.location(&first.at))
            .label("not used by kind `deb`")
            .help("a `deb` component produces exactly one package, named by `deb.package`: remove `packages`");
            self.push(d);
        }
        if builtin.is_some()
            && let Some((first, _)) = c.params.first()
        {
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!(
                    "`params` are for components of a declared kind, and `{}` is built in",
                    kind_name(c)
                ),
            )
            .at(self.sources.location(&first.at))
            .label("not a parameter of a built-in kind")
            .help("remove `params`");
            self.push(d);
        }
    }

    /// `commands` and `outputs`: required (commands) on a `command` component, misplaced on
    /// any other, whose kind says how it is built.
    fn command_fields(&mut self, c: &RawComponent, is_command: bool) {
        if !is_command {
            for (field, at) in [
                ("commands", c.commands.as_ref()),
                ("outputs", c.outputs.as_ref()),
            ]
            .into_iter()
            .filter_map(|(f, v)| v.map(|(_, at)| (f, at)))
            {
                let d = misplaced(c, field, "command")
                    .at(self.sources.location(at))
                    .help(format!("the kind declares how `{}` is built: remove `{field}`, or set `kind = \"command\"`", c.name.value));
                self.push(d);
            }
        } else if c.commands.as_ref().is_none_or(|(cmds, _)| cmds.is_empty()) {
            let d = Diagnostic::new(
                ErrorCode::MissingField,
                format!("component `{}` of kind `command` has no commands", c.name.value),
            )
            .at(self.sources.location(&c.name.at))
            .label("`commands` is required")
            .help("list the shell commands, e.g. `commands = [\"cc {src}/main.c -o {out}/bin/main\"]`");
            self.push(d);
        }
    }

    /// The `deb` table: required and checked on a `deb` component, misplaced on any other.
    fn deb_table(&mut self, c: &RawComponent, is_deb: bool) {
        if let Some(deb) = &c.deb {
            if is_deb {
                self.check_deb(c, deb);
            } else {
                let d = misplaced(c, "deb", "deb")
                    .at(self.sources.location(&deb.at))
                    .help("remove the `deb` table, or set `kind = \"deb\"`");
                self.push(d);
            }
        } else if is_deb {
            self.missing_table(
                c,
                "deb",
                "from = \"COMPONENT\", architecture = \"amd64\", description = \"...\"",
            );
        }
    }

    /// The `tarball` table: required on a `tarball` component, misplaced on any other.
    fn tarball_table(&mut self, c: &RawComponent, is_tarball: bool) {
        if let Some(tarball) = &c.tarball {
            if is_tarball {
                self.packaged_from(c, tarball.from.as_ref(), &tarball.at, "tarball");
            } else {
                let d = misplaced(c, "tarball", "tarball")
                    .at(self.sources.location(&tarball.at))
                    .help("remove the `tarball` table, or set `kind = \"tarball\"`");
                self.push(d);
            }
        } else if is_tarball {
            self.missing_table(c, "tarball", "from = \"COMPONENT\"");
        }
    }

    fn missing_table(&mut self, c: &RawComponent, table: &str, example: &str) {
        let d = Diagnostic::new(
            ErrorCode::MissingField,
            format!(
                "component `{}` of kind `{table}` has no `{table}` table",
                c.name.value
            ),
        )
        .at(self.sources.location(&c.name.at))
        .label(format!("`{table}` is required"))
        .help(format!(
            "add [component.{}.{table}] with {example}",
            c.name.value
        ));
        self.push(d);
    }

    pub(super) fn packaged_from(
        &mut self,
        c: &RawComponent,
        from: Option<&L<String>>,
        table_at: &At,
        table: &str,
    ) {
        match from {
            Some(from) => {
                self.component_ref(from);
            }
            None => {
                let d = Diagnostic::new(
                    ErrorCode::MissingField,
                    format!(
                        "the `{table}` table of component `{}` has no `from`",
                        c.name.value
                    ),
                )
                .at(self.sources.location(table_at))
                .label("`from` is required")
                .help("name the component whose output tree is packaged: `from = \"COMPONENT\"`");
                self.push(d);
            }
        }
    }

    /// Every parameter a component sets must be declared by its kind.
    fn component_params(&mut self, c: &RawComponent, kind: &RawKind) {
        for (name, _) in &c.params {
            if kind.params.iter().any(|(k, _)| k.value == name.value) {
                continue;
            }
            let help = match did_you_mean(
                &name.value,
                kind.params.iter().map(|(k, _)| k.value.as_str()),
            ) {
                Some(s) => format!("did you mean `{s}`?"),
                None if kind.params.is_empty() => {
                    format!("kind `{}` declares no parameters", kind.name.value)
                }
                None => format!(
                    "kind `{}` declares {}",
                    kind.name.value,
                    kind.params
                        .iter()
                        .map(|(k, _)| format!("`{}`", k.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let d = Diagnostic::new(
                ErrorCode::UnknownField,
                format!(
                    "unknown parameter `{}` for kind `{}`",
                    name.value, kind.name.value
                ),
            )
            .at(self.sources.location(&name.at))
            .label("not declared by the kind")
            .help(help);
            self.push(d);
        }
    }

    /// A kind's `{dep.NAME}` and `{src}` must make sense for each component using it.
    fn kind_needs(
        &mut self,
        c: &RawComponent,
        kind_ref: &L<String>,
        kind: &RawKind,
        inputs: &BTreeSet<&str>,
        has_source: bool,
    ) {
        let templates = kind.commands.iter().chain(kind.env.iter().map(|(_, v)| v));
        let mut problems: Vec<(String, At, String)> = Vec::new();
        for text in templates {
            for (var, range) in template::parse(&text.value).located {
                let at = self.within(&text.at, &text.value, range);
                match &var {
                    Var::Dep(dep) if !inputs.contains(dep.as_str()) => problems.push((
                        format!("kind `{}` uses `{var}`, but component `{}` does not build-require `{dep}`", kind.name.value, c.name.value),
                        at,
                        format!("add `{dep}` to the `build-requires` of `{}`", c.name.value),
                    )),
                    Var::Src if !has_source => problems.push((
                        format!("kind `{}` uses `{{src}}`, but component `{}` has no source", kind.name.value, c.name.value),
                        at,
                        format!("give `{}` a `source`", c.name.value),
                    )),
                    _ => {}
                }
            }
        }
        for (message, at, help) in problems {
            let d = Diagnostic::new(ErrorCode::Placeholder, message)
                .at(self.sources.location(&kind_ref.at))
                .label("this component")
                .note("the placeholder is here", Some(self.sources.location(&at)))
                .help(help);
            self.push(d);
        }
    }

    pub(super) fn component_cycles(&mut self, raw: &RawDefinition) {
        let mut edges = Vec::new();
        for (from, c) in raw.components.iter().enumerate() {
            if self.components.get(&c.name.value) != Some(&from) {
                continue; // a duplicate; already reported
            }
            let relations = c
                .build_requires
                .iter()
                .map(|d| (d, "build-requires"))
                .chain(c.requires.iter().map(|d| (d, "requires")))
                .chain(packaged(c).map(|d| (d, "is packaged from")));
            for (dep, relation) in relations {
                if let Some(&to) = self.components.get(&dep.value) {
                    edges.push(Edge {
                        from,
                        to,
                        at: dep.at.clone(),
                        relation,
                    });
                }
            }
        }
        let names: Vec<&str> = raw
            .components
            .iter()
            .map(|c| c.name.value.as_str())
            .collect();
        self.report_cycles("dependency cycle", &names, &edges, "components must not depend on themselves, even through others: remove one of these dependencies");
    }
}

/// The kind a component names, as written (empty when it names none).
fn kind_name(c: &RawComponent) -> &str {
    c.kind.as_ref().map_or("", |k| k.value.as_str())
}

/// The diagnostic (without location and help) for a `field` that only components of kind
/// `needs` take.
fn misplaced(c: &RawComponent, field: &str, needs: &str) -> Diagnostic {
    let kind = kind_name(c);
    Diagnostic::new(
        ErrorCode::InvalidValue,
        format!(
            "`{field}` is only for components of kind `{needs}`, and component `{}` has kind `{kind}`",
            c.name.value
        ),
    )
    .label(format!("not used by kind `{kind}`"))
}

/// The names of parameters, as templates may use them (`{param.NAME}`).
fn param_names(params: &Pairs) -> BTreeSet<&str> {
    params.iter().map(|(k, _)| k.value.as_str()).collect()
}
