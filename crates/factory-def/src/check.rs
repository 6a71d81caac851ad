//! Cross-checks over the raw definition (names, references, placeholders, cycles), then
//! lowering into the domain types.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};

use crate::diag::{Diagnostic, ErrorCode};
use crate::model::BuiltinKind;
use crate::source::{At, Sources};
use crate::suggest::did_you_mean;
use crate::template::{self, TemplateErrorKind, VAR_NAMES, Var};
use crate::wire::{
    L, RawBase, RawComponent, RawDefinition, RawImage, RawKind, RawModule, RawProduct,
};

/// Name -> position in the raw vector, first definition wins.
type Index = BTreeMap<String, usize>;

/// The built-in kinds a component may name (`oci-image` is for images only).
const COMPONENT_BUILTINS: [BuiltinKind; 3] =
    [BuiltinKind::Command, BuiltinKind::Deb, BuiltinKind::Tarball];

/// What a template may refer to, where it is written.
struct Scope<'a> {
    /// Names usable as `{param.NAME}`.
    params: BTreeSet<&'a str>,
    /// Names usable as `{dep.NAME}`; `None` when that can only be checked per component.
    deps: Option<BTreeSet<&'a str>>,
    /// Whether `{src}` has a source to refer to; `None` when unknown here.
    has_source: Option<bool>,
    /// e.g. "component `hello`".
    owner: String,
    /// Where a missing parameter should be declared.
    param_hint: &'static str,
}

pub(crate) struct Checker<'s> {
    sources: &'s Sources,
    diags: Vec<Diagnostic>,
    components: Index,
    kinds: Index,
    modules: Index,
    images: Index,
    products: Index,
    /// Package name -> (producing component, where the package name was written).
    packages: BTreeMap<String, (String, At)>,
}

impl<'s> Checker<'s> {
    pub(crate) fn new(sources: &'s Sources) -> Self {
        Self {
            sources,
            diags: Vec::new(),
            components: Index::new(),
            kinds: Index::new(),
            modules: Index::new(),
            images: Index::new(),
            products: Index::new(),
            packages: BTreeMap::new(),
        }
    }

    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diags
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Runs every cross-check. The raw definition is only read.
    pub(crate) fn check(&mut self, raw: &RawDefinition) {
        self.components = self.index("component", raw.components.iter().map(|c| &c.name));
        self.kinds = self.index("kind", raw.kinds.iter().map(|k| &k.name));
        self.modules = self.index("module", raw.modules.iter().map(|m| &m.name));
        self.images = self.index("image", raw.images.iter().map(|i| &i.name));
        self.products = self.index("product", raw.products.iter().map(|p| &p.name));
        self.index("test", raw.tests.iter().map(|t| &t.name));
        self.index("policy", raw.policies.iter().map(|p| &p.name));
        self.builtin_kind_names(raw);
        self.index_packages(raw);
        for kind in &raw.kinds {
            self.check_kind(kind);
        }
        for component in &raw.components {
            self.check_component(component, raw);
        }
        for module in &raw.modules {
            self.check_module(module, raw);
        }
        for image in &raw.images {
            self.check_image(image);
        }
        for product in &raw.products {
            self.check_product(product, raw);
        }
        self.component_cycles(raw);
        self.image_cycles(raw);
    }

    fn index<'r>(&mut self, noun: &str, names: impl Iterator<Item = &'r L<String>>) -> Index {
        let mut index = Index::new();
        let mut first_at: BTreeMap<String, At> = BTreeMap::new();
        for (i, name) in names.enumerate() {
            if let Some(first) = first_at.get(&name.value) {
                let d = Diagnostic::new(
                    ErrorCode::Duplicate,
                    format!("{noun} `{}` is defined twice", name.value),
                )
                .at(self.sources.location(&name.at))
                .label("second definition")
                .note("first defined here", Some(self.sources.location(first)))
                .help(format!(
                    "{noun} names are unique across all files: rename or remove one of them"
                ));
                self.push(d);
                continue;
            }
            first_at.insert(name.value.clone(), name.at.clone());
            index.insert(name.value.clone(), i);
        }
        index
    }

    fn builtin_kind_names(&mut self, raw: &RawDefinition) {
        for kind in &raw.kinds {
            if BuiltinKind::from_name(&kind.name.value).is_some() {
                let d = Diagnostic::new(
                    ErrorCode::Duplicate,
                    format!("kind `{}` is built in and cannot be redefined", kind.name.value),
                )
                .at(self.sources.location(&kind.name.at))
                .label("built-in kind")
                .help("give your kind another name, e.g. `my-deb`; the built-in kinds are `command`, `deb`, `oci-image` and `tarball`");
                self.push(d);
            }
        }
    }

    /// Package names are unique: every image or profile that names one must find one producer.
    fn index_packages(&mut self, raw: &RawDefinition) {
        let packaged = packaged_components(raw);
        for component in &raw.components {
            for package in produced_packages(component, &packaged) {
                if let Some((owner, first)) = self.packages.get(&package.value) {
                    let d = Diagnostic::new(
                        ErrorCode::Duplicate,
                        format!(
                            "package `{}` is produced by both `{owner}` and `{}`",
                            package.value, component.name.value
                        ),
                    )
                    .at(self.sources.location(&package.at))
                    .label("second producer")
                    .note("first produced here", Some(self.sources.location(first)))
                    .help("each package has exactly one producing component: rename one with `packages = [...]`");
                    self.push(d);
                    continue;
                }
                self.packages.insert(
                    package.value.clone(),
                    (component.name.value.clone(), package.at.clone()),
                );
            }
        }
    }

    /// Reports `name` if it is not in `known`; returns whether it is.
    fn reference<'k>(
        &mut self,
        name: &L<String>,
        noun: &str,
        known: impl Iterator<Item = &'k str> + Clone,
        define_hint: &str,
    ) -> bool {
        self.scoped_reference(name, noun, None, known, define_hint)
    }

    /// Like [`Self::reference`], for names that must be among those of `scope`
    /// (e.g. the components of one module).
    /// A stream named from elsewhere must be declared by its owner (a
    /// component or a module, `section` being its table name).
    fn stream_reference<'k>(
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

    fn scoped_reference<'k>(
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

    fn component_ref(&mut self, name: &L<String>) -> bool {
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

    fn package_ref(&mut self, name: &L<String>) -> bool {
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

    /// Where a sub-range of a string value is in the file: exact when the string is written
    /// without escapes, else the whole string.
    fn within(&self, at: &At, value: &str, range: std::ops::Range<usize>) -> At {
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
    fn template(&mut self, text: &L<String>, scope: &Scope<'_>) -> Vec<(Var, At)> {
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

    fn check_kind(&mut self, kind: &RawKind) {
        let scope = Scope {
            params: kind.params.iter().map(|(k, _)| k.value.as_str()).collect(),
            deps: None,
            has_source: None,
            owner: format!("kind `{}`", kind.name.value),
            param_hint: "declare it with a default in the kind",
        };
        for command in &kind.commands {
            self.template(command, &scope);
        }
        for (_, value) in &kind.env {
            self.template(value, &scope);
        }
    }

    fn check_component(&mut self, component: &RawComponent, raw: &RawDefinition) {
        for dep in component.build_requires.iter().chain(&component.requires) {
            self.component_ref(dep);
        }
        let Some(kind) = &component.kind else {
            return;
        };
        let builtin = BuiltinKind::from_name(&kind.value);
        let user_kind = self.kinds.get(&kind.value).map(|&i| &raw.kinds[i]);
        if builtin == Some(BuiltinKind::OciImage) {
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("component `{}` has kind `oci-image`", component.name.value),
            )
            .at(self.sources.location(&kind.at))
            .label("for images only")
            .help("images are declared as [image.NAME] with a `base` and `packages`");
            self.push(d);
            return;
        }
        if builtin.is_none() && user_kind.is_none() {
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
            return;
        }
        self.recipe_fields(component, builtin);
        let has_source =
            component.source.is_some() || component.streams.iter().any(|s| s.source.is_some());
        let inputs: BTreeSet<&str> = build_inputs(component).map(|l| l.value.as_str()).collect();
        let owner = format!("component `{}`", component.name.value);
        match (builtin, user_kind) {
            (Some(BuiltinKind::Command), _) => {
                let scope = Scope {
                    params: component
                        .params
                        .iter()
                        .map(|(k, _)| k.value.as_str())
                        .collect(),
                    deps: Some(inputs),
                    has_source: Some(has_source),
                    owner,
                    param_hint: "set it in the component",
                };
                for command in component.commands.iter().flat_map(|(c, _)| c) {
                    self.template(command, &scope);
                }
                for (_, value) in &component.env {
                    self.template(value, &scope);
                }
            }
            (None, Some(user_kind)) => {
                self.component_params(component, user_kind);
                self.kind_needs(component, kind, user_kind, &inputs, has_source);
                let scope = Scope {
                    params: user_kind
                        .params
                        .iter()
                        .map(|(k, _)| k.value.as_str())
                        .collect(),
                    deps: Some(inputs),
                    has_source: Some(has_source),
                    owner,
                    param_hint: "declare it with a default in the kind",
                };
                for (_, value) in &component.env {
                    self.template(value, &scope);
                }
            }
            _ => {
                let scope = Scope {
                    params: BTreeSet::new(),
                    deps: Some(inputs),
                    has_source: Some(has_source),
                    owner,
                    param_hint: "built-in kinds take no parameters; remove it",
                };
                for (_, value) in &component.env {
                    self.template(value, &scope);
                }
            }
        }
    }

    /// Fields that only some kinds take: `commands`/`outputs` (command), `deb`, `tarball`, `params`.
    fn recipe_fields(&mut self, c: &RawComponent, builtin: Option<BuiltinKind>) {
        let kind = c.kind.as_ref().map_or("", |k| k.value.as_str());
        let misplaced = |field: &str, needs: &str| {
            Diagnostic::new(
                ErrorCode::InvalidValue,
                format!(
                    "`{field}` is only for components of kind `{needs}`, and component `{}` has kind `{kind}`",
                    c.name.value
                ),
            )
            .label(format!("not used by kind `{kind}`"))
        };
        let is = |k: BuiltinKind| builtin == Some(k);
        if !is(BuiltinKind::Command) {
            for (field, at) in [
                ("commands", c.commands.as_ref()),
                ("outputs", c.outputs.as_ref()),
            ]
            .into_iter()
            .filter_map(|(f, v)| v.map(|(_, at)| (f, at)))
            {
                let d = misplaced(field, "command")
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
        if let Some(deb) = &c.deb {
            if is(BuiltinKind::Deb) {
                self.check_deb(c, deb);
            } else {
                let d = misplaced("deb", "deb")
                    .at(self.sources.location(&deb.at))
                    .help("remove the `deb` table, or set `kind = \"deb\"`");
                self.push(d);
            }
        } else if is(BuiltinKind::Deb) {
            self.missing_table(
                c,
                "deb",
                "from = \"COMPONENT\", architecture = \"amd64\", description = \"...\"",
            );
        }
        if let Some(tarball) = &c.tarball {
            if is(BuiltinKind::Tarball) {
                self.packaged_from(c, tarball.from.as_ref(), &tarball.at, "tarball");
            } else {
                let d = misplaced("tarball", "tarball")
                    .at(self.sources.location(&tarball.at))
                    .help("remove the `tarball` table, or set `kind = \"tarball\"`");
                self.push(d);
            }
        } else if is(BuiltinKind::Tarball) {
            self.missing_table(c, "tarball", "from = \"COMPONENT\"");
        }
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
                format!("`params` are for components of a declared kind, and `{kind}` is built in"),
            )
            .at(self.sources.location(&first.at))
            .label("not a parameter of a built-in kind")
            .help("remove `params`");
            self.push(d);
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

    fn packaged_from(
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

    fn check_deb(&mut self, c: &RawComponent, deb: &crate::wire::RawDeb) {
        self.packaged_from(c, deb.from.as_ref(), &deb.at, "deb");
        let require = |present: bool, field: &str, help: &str, diags: &mut Vec<Diagnostic>| {
            if !present {
                diags.push(
                    Diagnostic::new(
                        ErrorCode::MissingField,
                        format!(
                            "the `deb` table of component `{}` has no `{field}`",
                            c.name.value
                        ),
                    )
                    .at(self.sources.location(&deb.at))
                    .label(format!("`{field}` is required"))
                    .help(help.to_string()),
                );
            }
        };
        let mut diags = Vec::new();
        require(
            deb.version.is_some() || c.version.is_some(),
            "version",
            "set `version = \"1.0-1\"` here or on the component",
            &mut diags,
        );
        require(
            deb.architecture.is_some(),
            "architecture",
            "set `architecture = \"amd64\"` (or `all` for architecture-independent files)",
            &mut diags,
        );
        require(
            deb.description.is_some() || c.description.is_some(),
            "description",
            "set `description = \"...\"` here or on the component",
            &mut diags,
        );
        self.diags.extend(diags);
        self.debian_field(
            deb.package.as_ref().unwrap_or(&c.name),
            "package name",
            is_debian_package_name,
            "Debian package names are lowercase letters, digits, `+`, `-` and `.`, at least two characters, starting with a letter or digit: set `package = \"...\"`",
        );
        if let Some(version) = deb.version.as_ref().or(c.version.as_ref()) {
            self.debian_field(
                version,
                "version",
                is_debian_version,
                "a Debian version starts with a digit and holds only letters, digits and `.+~-:`, e.g. `1.0.0-1`",
            );
        }
        if let Some(arch) = &deb.architecture {
            self.debian_field(
                arch,
                "architecture",
                |a| {
                    !a.is_empty()
                        && a.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                },
                "write a Debian architecture such as `amd64`, `arm64` or `all`",
            );
        }
        if let Some(prefix) = &deb.prefix
            && !prefix.value.starts_with('/')
        {
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("deb prefix `{}` is not absolute", prefix.value),
            )
            .at(self.sources.location(&prefix.at))
            .label("expected an absolute path")
            .help("write e.g. `prefix = \"/usr\"`");
            self.push(d);
        }
    }

    fn debian_field(
        &mut self,
        value: &L<String>,
        what: &str,
        valid: impl Fn(&str) -> bool,
        help: &str,
    ) {
        if valid(&value.value) {
            return;
        }
        let d = Diagnostic::new(
            ErrorCode::InvalidValue,
            format!("invalid Debian {what} `{}`", value.value),
        )
        .at(self.sources.location(&value.at))
        .label(format!("dpkg would reject this {what}"))
        .help(help.to_string());
        self.push(d);
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

    fn check_module(&mut self, module: &RawModule, raw: &RawDefinition) {
        let mut members: BTreeSet<&str> = BTreeSet::new();
        for c in &module.components {
            if self.component_ref(c) {
                members.insert(&c.value);
            }
        }
        if let Some(order) = &module.build_order {
            self.check_build_order(module, order, &members, raw);
        }
        for stream in &module.streams {
            for (component, stream_name) in &stream.components {
                if !members.contains(component.value.as_str()) {
                    let known: Vec<&str> = members.iter().copied().collect();
                    self.scoped_reference(
                        component,
                        "component",
                        Some(&format!("module `{}`", module.name.value)),
                        known.into_iter(),
                        "add it to the module's `components`",
                    );
                    continue;
                }
                let Some(&i) = self.components.get(&component.value) else {
                    continue;
                };
                let streams = raw.components[i]
                    .streams
                    .iter()
                    .map(|s| s.name.value.as_str());
                self.stream_reference(stream_name, "component", &component.value, streams);
            }
        }
        let module_packages: Vec<String> = self
            .packages
            .iter()
            .filter(|(_, (owner, _))| members.contains(owner.as_str()))
            .map(|(p, _)| p.clone())
            .collect();
        for profile in &module.profiles {
            for package in &profile.packages {
                self.scoped_reference(
                    package,
                    "package",
                    Some(&format!("module `{}`", module.name.value)),
                    module_packages.iter().map(String::as_str),
                    "a profile installs packages produced by the module's components",
                );
            }
        }
    }

    fn check_build_order(
        &mut self,
        module: &RawModule,
        order: &[Vec<L<String>>],
        members: &BTreeSet<&str>,
        raw: &RawDefinition,
    ) {
        let mut batch_of: BTreeMap<&str, (usize, &L<String>)> = BTreeMap::new();
        for (i, batch) in order.iter().enumerate() {
            for name in batch {
                if !members.contains(name.value.as_str()) {
                    let known: Vec<&str> = members.iter().copied().collect();
                    self.scoped_reference(
                        name,
                        "component",
                        Some(&format!("module `{}`", module.name.value)),
                        known.into_iter(),
                        "the build order lists only the module's `components`",
                    );
                } else if let Some((_, first)) = batch_of.get(name.value.as_str()) {
                    let d = Diagnostic::new(
                        ErrorCode::Duplicate,
                        format!(
                            "`{}` appears twice in the build order of module `{}`",
                            name.value, module.name.value
                        ),
                    )
                    .at(self.sources.location(&name.at))
                    .label("second time")
                    .note("first time here", Some(self.sources.location(&first.at)))
                    .help("list each component in exactly one batch");
                    self.push(d);
                } else {
                    batch_of.insert(&name.value, (i, name));
                }
            }
        }
        let missing: Vec<&str> = members
            .iter()
            .copied()
            .filter(|m| !batch_of.contains_key(m))
            .collect();
        if !missing.is_empty() {
            let d = Diagnostic::new(ErrorCode::MissingField, format!("the build order of module `{}` leaves out {}", module.name.value, missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")))
                .at(self.sources.location(&module.name.at))
                .label("incomplete build order")
                .help("put every component of the module in a batch, or remove `build-order` to have it derived");
            self.push(d);
        }
        let mut problems = Vec::new();
        for (name, (batch, at)) in &batch_of {
            let Some(&ci) = self.components.get(*name) else {
                continue;
            };
            for dep in build_inputs(&raw.components[ci]) {
                if let Some((dep_batch, dep_at)) = batch_of.get(dep.value.as_str())
                    && dep_batch >= batch
                {
                    problems.push((
                        name.to_string(),
                        *batch,
                        (*at).clone(),
                        dep.value.clone(),
                        *dep_batch,
                        (*dep_at).clone(),
                    ));
                }
            }
        }
        for (name, batch, at, dep, dep_batch, dep_at) in problems {
            let d = Diagnostic::new(ErrorCode::InvalidValue, format!("in module `{}`, `{name}` (batch {}) is built before or with its build dependency `{dep}` (batch {})", module.name.value, batch + 1, dep_batch + 1))
                .at(self.sources.location(&at.at))
                .label("too early")
                .note(format!("`{dep}` is here"), Some(self.sources.location(&dep_at.at)))
                .help(format!("move `{dep}` to an earlier batch than `{name}`"));
            self.push(d);
        }
    }

    fn check_image(&mut self, image: &RawImage) {
        if let Some(RawBase::Image(base)) = &image.base {
            let known: Vec<String> = self.images.keys().cloned().collect();
            self.reference(
                base,
                "image",
                known.iter().map(String::as_str),
                &format!(
                    "define it as [image.{}], or use `base = \"scratch\"`",
                    base.value
                ),
            );
        }
        for package in &image.packages {
            self.package_ref(package);
        }
        for component in &image.components {
            self.component_ref(component);
        }
    }

    fn check_product(&mut self, product: &RawProduct, raw: &RawDefinition) {
        for image in &product.images {
            let known: Vec<String> = self.images.keys().cloned().collect();
            self.reference(
                image,
                "image",
                known.iter().map(String::as_str),
                &format!("define it as [image.{}]", image.value),
            );
        }
        for module in &product.modules {
            let known: Vec<String> = self.modules.keys().cloned().collect();
            self.reference(
                module,
                "module",
                known.iter().map(String::as_str),
                &format!("define it as [module.{}]", module.value),
            );
        }
        for component in &product.components {
            self.component_ref(component);
        }
        if product.streams.is_empty() {
            let d = Diagnostic::new(ErrorCode::MissingField, format!("product `{}` has no streams", product.name.value))
                .at(self.sources.location(&product.name.at))
                .label("at least one stream is required")
                .help(format!("add one with its end of life: [product.{}.streams.\"1.0\"] end-of-life = 2028-12-31", key(&product.name.value)));
            self.push(d);
        }
        for stream in &product.streams {
            for (module, module_stream) in &stream.modules {
                let in_product = product.modules.iter().map(|m| m.value.as_str());
                if !self.scoped_reference(
                    module,
                    "module",
                    Some(&format!("product `{}`", product.name.value)),
                    in_product,
                    "add it to the product's `modules`",
                ) {
                    continue;
                }
                let Some(&mi) = self.modules.get(&module.value) else {
                    continue;
                };
                let streams = raw.modules[mi]
                    .streams
                    .iter()
                    .map(|s| s.name.value.as_str());
                self.stream_reference(module_stream, "module", &module.value, streams);
            }
        }
    }

    fn component_cycles(&mut self, raw: &RawDefinition) {
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

    fn image_cycles(&mut self, raw: &RawDefinition) {
        let mut edges = Vec::new();
        for (from, image) in raw.images.iter().enumerate() {
            if let Some(RawBase::Image(base)) = &image.base
                && let Some(&to) = self.images.get(&base.value)
            {
                edges.push(Edge {
                    from,
                    to,
                    at: base.at.clone(),
                    relation: "is based on",
                });
            }
        }
        let names: Vec<&str> = raw.images.iter().map(|i| i.name.value.as_str()).collect();
        self.report_cycles(
            "image base cycle",
            &names,
            &edges,
            "one image of the cycle must start from `scratch` or an OCI layout",
        );
    }

    /// One error per strongly connected component, showing one cycle through it in order.
    fn report_cycles(&mut self, what: &str, names: &[&str], edges: &[Edge], help: &str) {
        let mut graph: DiGraph<usize, usize> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..names.len()).map(|i| graph.add_node(i)).collect();
        for (i, e) in edges.iter().enumerate() {
            graph.add_edge(nodes[e.from], nodes[e.to], i);
        }
        for scc in petgraph::algo::tarjan_scc(&graph) {
            let self_loop = scc.len() == 1 && graph.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let cycle = cycle_through(&graph, &scc, names);
            if cycle.is_empty() {
                continue;
            }
            let path: Vec<&str> = cycle
                .iter()
                .map(|&e| names[edges[e].from])
                .chain(cycle.first().map(|&e| names[edges[e].from]))
                .collect();
            let first = &edges[cycle[0]];
            let mut d = Diagnostic::new(ErrorCode::Cycle, format!("{what}: {}", path.join(" -> ")))
                .at(self.sources.location(&first.at))
                .label(format!(
                    "`{}` {} `{}`",
                    names[first.from], first.relation, names[first.to]
                ));
            for &e in &cycle[1..] {
                let edge = &edges[e];
                d = d.note(
                    format!(
                        "`{}` {} `{}`",
                        names[edge.from], edge.relation, names[edge.to]
                    ),
                    Some(self.sources.location(&edge.at)),
                );
            }
            self.push(d.help(help));
        }
    }
}

/// Debian policy 5.6.1.
fn is_debian_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

/// Debian policy 5.6.12, loosely: `[epoch:]upstream[-revision]` starting with a digit.
fn is_debian_version(version: &str) -> bool {
    let upstream = version.split_once(':').map_or(version, |(epoch, rest)| {
        if epoch.chars().all(|c| c.is_ascii_digit()) && !epoch.is_empty() {
            rest
        } else {
            ""
        }
    });
    upstream.starts_with(|c: char| c.is_ascii_digit())
        && upstream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-'))
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

struct Edge {
    from: usize,
    to: usize,
    at: At,
    relation: &'static str,
}

/// The edges of one shortest cycle through the alphabetically first node of `scc`.
// petgraph finds the strongly connected components; it has no "one cycle, in order"
// query, so we walk a breadth-first search inside the component.
fn cycle_through(graph: &DiGraph<usize, usize>, scc: &[NodeIndex], names: &[&str]) -> Vec<usize> {
    use petgraph::visit::EdgeRef;
    let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
    let Some(&start) = scc.iter().min_by_key(|n| names[graph[**n]]) else {
        return Vec::new();
    };
    let mut came_by: BTreeMap<NodeIndex, (NodeIndex, usize)> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut out: Vec<_> = graph
            .edges(node)
            .filter(|e| members.contains(&e.target()))
            .collect();
        out.sort_by_key(|e| names[graph[e.target()]]);
        for edge in out {
            let target = edge.target();
            if target == start {
                let mut path = vec![*edge.weight()];
                let mut at = node;
                while at != start {
                    let Some(&(prev, e)) = came_by.get(&at) else {
                        return Vec::new();
                    };
                    path.push(e);
                    at = prev;
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(v) = came_by.entry(target) {
                v.insert((node, *edge.weight()));
                queue.push_back(target);
            }
        }
    }
    Vec::new()
}

/// The component a `deb` or `tarball` component packages (a misplaced table counts for nothing).
pub(crate) fn packaged(c: &RawComponent) -> impl Iterator<Item = &L<String>> {
    let kind = c.kind.as_ref().map(|k| k.value.as_str());
    let deb = c.deb.as_ref().filter(|_| kind == Some("deb"));
    let tarball = c.tarball.as_ref().filter(|_| kind == Some("tarball"));
    deb.and_then(|d| d.from.as_ref())
        .into_iter()
        .chain(tarball.and_then(|t| t.from.as_ref()))
}

/// A name as a TOML key: quoted when it holds characters a bare key cannot.
fn key(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

fn build_inputs(c: &RawComponent) -> impl Iterator<Item = &L<String>> {
    c.build_requires.iter().chain(packaged(c))
}

/// Components whose output another component (`deb`, `tarball`) packages.
pub(crate) fn packaged_components(raw: &RawDefinition) -> BTreeSet<String> {
    raw.components
        .iter()
        .flat_map(packaged)
        .map(|l| l.value.clone())
        .collect()
}

/// The packages a component produces: `deb.package` for a `deb`, else `packages`, else
/// one named like the component, unless another component packages its output (then
/// that one's package is what gets published).
pub(crate) fn produced_packages(
    c: &RawComponent,
    packaged_by_others: &BTreeSet<String>,
) -> Vec<L<String>> {
    if c.kind.as_ref().is_some_and(|k| k.value == "deb") {
        let package = c.deb.as_ref().and_then(|d| d.package.clone());
        return vec![package.unwrap_or_else(|| c.name.clone())];
    }
    match &c.packages {
        Some(packages) => packages.clone(),
        None if packaged_by_others.contains(&c.name.value) => Vec::new(),
        None => vec![c.name.clone()],
    }
}
