//! Cross-checks over the raw definition (names, references, placeholders, cycles); a
//! definition that passes them is lowered into the domain types (`lower.rs`).
//!
//! How the parts fit: [`Checker::check`] first indexes every section's names (a name
//! defined twice is reported here, and only its first definition counts), then checks
//! each section in turn, one module per section (`kind`, `component` with its `deb`
//! table in `deb`, `module`, `image`, `product`, `hook`), and last looks for cycles among
//! components and among images (`cycles`). The section checks share three helpers:
//! `references` (a name must resolve, else "did you mean"), `placeholders` (the `{...}`
//! of commands and environment values) and `packages` (which component produces which
//! package; lowering uses it too).

mod component;
mod cycles;
mod deb;
mod hook;
mod image;
mod kind;
mod module;
mod packages;
mod placeholders;
mod product;
mod references;

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, ErrorCode};
use crate::source::{At, Sources};
use crate::wire::{L, RawDefinition};

pub(crate) use packages::{packaged_components, produced_packages};

/// Name -> position in the raw vector, first definition wins.
type Index = BTreeMap<String, usize>;

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
        self.index("hook", raw.hooks.iter().map(|h| &h.name));
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
        for hook in &raw.hooks {
            self.check_hook(hook);
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
}
