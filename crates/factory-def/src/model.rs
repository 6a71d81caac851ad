//! The domain: a validated factory definition. Nothing here knows about TOML.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::template::Template;

/// Where an item was defined (file relative to the definition directory, 1-based line/column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A complete, validated factory definition.
#[derive(Debug, Clone, Default)]
pub struct Definition {
    /// The directory it was loaded from; `None` for [`crate::parse_str`].
    pub root: Option<PathBuf>,
    /// The files read, relative to `root`, in the order read.
    pub files: Vec<String>,
    pub components: BTreeMap<String, Component>,
    /// User-declared kinds (the built-in ones are [`BuiltinKind`]).
    pub kinds: BTreeMap<String, Kind>,
    pub modules: BTreeMap<String, Module>,
    pub images: BTreeMap<String, Image>,
    pub products: BTreeMap<String, Product>,
    pub hooks: BTreeMap<String, Hook>,
    pub tests: BTreeMap<String, Test>,
    pub policies: BTreeMap<String, Policy>,
}

/// How many items of each sort a definition holds, for a summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub files: usize,
    pub components: usize,
    pub kinds: usize,
    pub modules: usize,
    pub images: usize,
    pub products: usize,
    pub hooks: usize,
    pub tests: usize,
    pub policies: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}: {}, {}, {}, {}, {}, ",
            plural(self.files, "file", "files"),
            plural(self.components, "component", "components"),
            plural(self.kinds, "kind", "kinds"),
            plural(self.modules, "module", "modules"),
            plural(self.images, "image", "images"),
            plural(self.products, "product", "products"),
        )?;
        // Only a definition with hooks says so: most have none.
        if self.hooks > 0 {
            write!(f, "{}, ", plural(self.hooks, "hook", "hooks"))?;
        }
        write!(
            f,
            "{}, {}",
            plural(self.tests, "test", "tests"),
            plural(self.policies, "policy", "policies"),
        )
    }
}

impl Definition {
    pub fn summary(&self) -> Summary {
        Summary {
            files: self.files.len(),
            components: self.components.len(),
            kinds: self.kinds.len(),
            modules: self.modules.len(),
            images: self.images.len(),
            products: self.products.len(),
            hooks: self.hooks.len(),
            tests: self.tests.len(),
            policies: self.policies.len(),
        }
    }

    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.get(name)
    }

    pub fn kind(&self, name: &str) -> Option<&Kind> {
        self.kinds.get(name)
    }

    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.get(name)
    }

    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images.get(name)
    }

    pub fn product(&self, name: &str) -> Option<&Product> {
        self.products.get(name)
    }

    pub fn hook(&self, name: &str) -> Option<&Hook> {
        self.hooks.get(name)
    }

    /// The component that produces package `name`.
    pub fn component_for_package(&self, package: &str) -> Option<&Component> {
        self.components
            .values()
            .find(|c| c.packages.iter().any(|p| p == package))
    }

    /// The user kind a component is built with (`None` for built-in kinds).
    pub fn kind_of(&self, component: &Component) -> Option<&Kind> {
        match &component.recipe {
            Recipe::Kind { kind, .. } => self.kinds.get(kind),
            _ => None,
        }
    }

    /// The shell steps that build a component: its own (kind `command`) or its kind's,
    /// with environments merged (the component's entries win) and parameters resolved.
    /// `None` for `deb` and `tarball`, which Factory writes itself.
    pub fn build_steps<'a>(&'a self, component: &'a Component) -> Option<BuildSteps<'a>> {
        let mut env: BTreeMap<&'a str, &'a Template> = BTreeMap::new();
        let steps = match &component.recipe {
            Recipe::Command { commands, outputs } => BuildSteps {
                commands,
                outputs,
                env: BTreeMap::new(),
                network: false,
                timeout: DEFAULT_TIMEOUT,
                params: None,
            },
            Recipe::Kind { kind, params } => {
                let kind = self.kinds.get(kind)?;
                env.extend(kind.env.iter().map(|(k, v)| (k.as_str(), v)));
                BuildSteps {
                    commands: &kind.commands,
                    outputs: &kind.outputs,
                    env: BTreeMap::new(),
                    network: kind.network,
                    timeout: kind.timeout,
                    params: Some(params),
                }
            }
            Recipe::Deb(_) | Recipe::Tarball(_) => return None,
        };
        env.extend(component.env.iter().map(|(k, v)| (k.as_str(), v)));
        Some(BuildSteps { env, ..steps })
    }

    /// Absolute directory of a local source, when the definition was loaded from disk.
    pub fn local_source_dir(&self, source: &Source) -> Option<PathBuf> {
        match source {
            Source::Path(path) => self.root.as_deref().map(|root| root.join(path)),
            _ => None,
        }
    }

    /// Components in an order where every component comes after all it depends on
    /// (build inputs and runtime requirements). Ties are broken by name.
    pub fn components_in_build_order(&self) -> Vec<&Component> {
        let mut done: std::collections::BTreeSet<&str> = Default::default();
        let mut order = Vec::with_capacity(self.components.len());
        // Validation guarantees acyclicity, so every pass places at least one component.
        while order.len() < self.components.len() {
            let before = order.len();
            for component in self.components.values() {
                if !done.contains(component.name.as_str())
                    && component.dependencies().all(|d| done.contains(d))
                {
                    order.push(component);
                }
            }
            for component in &order[before..] {
                done.insert(component.name.as_str());
            }
            if order.len() == before {
                break;
            }
        }
        order
    }
}

/// What the engine runs for one component (see [`Definition::build_steps`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSteps<'a> {
    pub commands: &'a [Template],
    /// Paths or globs relative to `{out}` the build must produce.
    pub outputs: &'a [String],
    /// Environment templates: the kind's, overridden by the component's.
    pub env: BTreeMap<&'a str, &'a Template>,
    pub network: bool,
    pub timeout: Duration,
    /// Values of `{param.NAME}` (kind defaults merged with the component's values);
    /// `None` for kind `command`, whose commands take no parameters.
    pub params: Option<&'a BTreeMap<String, String>>,
}

/// A component: one thing the factory builds from one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub version: Option<String>,
    /// Absent for components that only repackage another one (`deb`, `tarball`).
    pub source: Option<Source>,
    pub recipe: Recipe,
    /// Components whose outputs the build needs.
    pub build_requires: Vec<String>,
    /// Components needed at run time.
    pub requires: Vec<String>,
    pub owners: Vec<String>,
    /// Names of the packages/artifacts it produces (default: its own name).
    pub packages: Vec<String>,
    /// Parallel lines of development, e.g. php `7.3` and `7.4`; empty when there is one.
    pub streams: BTreeMap<String, ComponentStream>,
    /// Extra environment for its build (templates).
    pub env: BTreeMap<String, Template>,
}

impl Component {
    /// The kind's name as written in the definition.
    pub fn kind_name(&self) -> &str {
        self.recipe.kind_name()
    }

    /// Components whose outputs the build reads: `build-requires` plus the component a
    /// `deb`/`tarball` packages.
    pub fn build_inputs(&self) -> impl Iterator<Item = &str> {
        self.build_requires
            .iter()
            .map(String::as_str)
            .chain(self.recipe.packaged_component())
    }

    /// Build inputs then runtime requirements.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        self.build_inputs()
            .chain(self.requires.iter().map(String::as_str))
    }

    /// Source of a stream: the stream's own, else the component's.
    pub fn source_for(&self, stream: Option<&str>) -> Option<&Source> {
        stream
            .and_then(|s| self.streams.get(s))
            .and_then(|s| s.source.as_ref())
            .or(self.source.as_ref())
    }
}

/// Where a component's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory, relative to the definition directory.
    Path(PathBuf),
    /// A git repository at a revision (commit, tag or branch).
    Git { url: String, rev: String },
    /// A tarball checked against its sha256 (64 lowercase hex digits).
    Tarball { url: String, sha256: String },
}

impl Source {
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Source::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// One stream of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentStream {
    pub name: String,
    /// Overrides the component's source.
    pub source: Option<Source>,
    /// Overrides the component's version.
    pub version: Option<String>,
}

/// How a component is built.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    /// Built-in `command`: the component gives its own commands.
    Command {
        commands: Vec<Template>,
        outputs: Vec<String>,
    },
    /// Built-in `deb`: Factory writes a binary package from another component's output tree.
    Deb(Box<DebPackage>),
    /// Built-in `tarball`: Factory writes a normalised `.tar.gz` of another component's output.
    Tarball(TarballSpec),
    /// A kind declared in the definition, with the component's parameter values
    /// (kind defaults already applied).
    Kind {
        kind: String,
        params: BTreeMap<String, String>,
    },
}

impl Recipe {
    pub fn kind_name(&self) -> &str {
        match self {
            Recipe::Command { .. } => BuiltinKind::Command.name(),
            Recipe::Deb(_) => BuiltinKind::Deb.name(),
            Recipe::Tarball(_) => BuiltinKind::Tarball.name(),
            Recipe::Kind { kind, .. } => kind,
        }
    }

    /// The component whose output this recipe packages, for `deb` and `tarball`.
    pub fn packaged_component(&self) -> Option<&str> {
        match self {
            Recipe::Deb(deb) => Some(&deb.from),
            Recipe::Tarball(t) => Some(&t.from),
            _ => None,
        }
    }
}

/// The kinds Factory provides without declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinKind {
    Command,
    Deb,
    OciImage,
    Tarball,
}

impl BuiltinKind {
    pub const ALL: [BuiltinKind; 4] = [
        BuiltinKind::Command,
        BuiltinKind::Deb,
        BuiltinKind::OciImage,
        BuiltinKind::Tarball,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::Command => "command",
            BuiltinKind::Deb => "deb",
            BuiltinKind::OciImage => "oci-image",
            BuiltinKind::Tarball => "tarball",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A binary Debian package that Factory writes from a component's output tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebPackage {
    /// The component whose output tree becomes the package contents.
    pub from: String,
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub maintainer: Option<String>,
    pub description: String,
    pub section: Option<String>,
    pub priority: Option<String>,
    /// Debian dependency fields, as Debian writes them (`libc6 (>= 2.36)`, `a | b`).
    pub depends: Vec<String>,
    pub pre_depends: Vec<String>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    /// Where the output tree is installed, e.g. `/usr` (so `bin/hello` becomes `/usr/bin/hello`).
    pub prefix: String,
}

/// A tarball of a component's output tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarballSpec {
    pub from: String,
    /// Directory inside the archive the tree is placed under (empty: the root).
    pub prefix: String,
}

/// A user-declared kind: how a format is built. Pure configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    /// Run in order, each with `sh -c`, in a fresh copy of the source directory.
    pub commands: Vec<Template>,
    /// Paths or globs relative to `{out}` that a successful build must produce.
    pub outputs: Vec<String>,
    /// Whether the build may reach the network (default: no).
    pub network: bool,
    pub timeout: Duration,
    pub env: BTreeMap<String, Template>,
    /// Parameters components may set, with their default values.
    pub params: BTreeMap<String, String>,
}

/// The timeout of a kind that does not declare one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A module: components released together, in streams, installable by profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub components: Vec<String>,
    /// Batches: every component of a batch only build-requires components of earlier batches.
    /// Derived from the dependencies when the definition gives none.
    pub build_order: Vec<Vec<String>>,
    pub streams: BTreeMap<String, ModuleStream>,
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStream {
    pub name: String,
    pub description: Option<String>,
    /// Which stream of each component this module stream takes (component -> stream).
    pub components: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    pub packages: Vec<String>,
}

/// An OCI image, assembled by the built-in `oci-image` kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub base: ImageBase,
    /// Packages installed into the image.
    pub packages: Vec<String>,
    /// Components whose output trees are copied into the image root.
    pub components: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageBase {
    /// An empty image.
    Scratch,
    /// Another image of this definition.
    Image(String),
    /// An OCI image layout directory, relative to the definition directory.
    OciLayout(PathBuf),
}

/// A product: what is released to users, in streams with an end of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub images: Vec<String>,
    pub modules: Vec<String>,
    pub components: Vec<String>,
    pub streams: BTreeMap<String, ProductStream>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductStream {
    pub name: String,
    pub description: Option<String>,
    pub end_of_life: time::Date,
    /// How long before `end_of_life` the stream warns that it is ending.
    pub eol_warning: Duration,
    /// Which stream of each of the product's modules this product stream ships.
    pub modules: BTreeMap<String, String>,
    /// Where its releases go, in release order (a channel after the one it ages in); never empty (a stream that declares
    /// none has one, `stable`, released by hand).
    pub channels: Vec<Channel>,
}

/// The default of `eol-warning`.
pub const DEFAULT_EOL_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// One channel of a product stream (`testing`, `stable`): what is released into it, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub description: Option<String>,
    pub release: Cadence,
    /// The decision context of its gate; `None`: nothing gates it.
    pub gate: Option<String>,
}

/// When a channel releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// As soon as a new candidate passes the gate.
    OnGreen,
    /// Only when asked (`factory release`).
    Manual,
    /// At the times of a cron expression (UTC), when the gate passes.
    Schedule(String),
    /// A candidate released into `channel` for at least `age`, when the gate passes.
    After { age: Duration, channel: String },
}

/// A hook: what the factory runs or posts when an event of its log matches, as Loopabull
/// runs playbooks on bus messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    /// Topic patterns (`build.failed`, `build.*`, `*.finished`): an event whose topic
    /// matches one of them runs the hook.
    pub on: Vec<String>,
    /// Only events about these components run it; empty: events about anything.
    pub components: Vec<String>,
    pub action: HookAction,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How many times one event is tried when it fails for a passing reason.
    pub tries: u32,
}

/// How long one attempt of a hook may take when it says nothing.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a hook is tried for one event, when it says nothing.
pub const DEFAULT_HOOK_TRIES: u32 = 3;

/// What a hook does with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// A program and its arguments, run directly (no shell), sandboxed, in the definition
    /// directory, with the event's JSON on standard input.
    Command { argv: Vec<String>, network: bool },
    /// An HTTP POST of the event's JSON to `url`, with these extra headers.
    Post {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

/// A test (placeholder until the test issue): its fields are kept, not interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub fields: BTreeMap<String, toml::Value>,
}

/// A policy (placeholder until the policy issue): its fields are kept, not interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub origin: Origin,
    pub description: Option<String>,
    pub fields: BTreeMap<String, toml::Value>,
}
