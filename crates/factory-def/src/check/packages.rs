//! Which component produces which package: package names are unique, and images and
//! profiles install packages by name.

use std::collections::BTreeSet;

use super::Checker;
use crate::diag::{Diagnostic, ErrorCode};
use crate::wire::{L, RawComponent, RawDefinition};

impl Checker<'_> {
    /// Package names are unique: every image or profile that names one must find one producer.
    pub(super) fn index_packages(&mut self, raw: &RawDefinition) {
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
}

/// The component a `deb` or `tarball` component packages (a misplaced table counts for nothing).
pub(super) fn packaged(c: &RawComponent) -> impl Iterator<Item = &L<String>> {
    let kind = c.kind.as_ref().map(|k| k.value.as_str());
    let deb = c.deb.as_ref().filter(|_| kind == Some("deb"));
    let tarball = c.tarball.as_ref().filter(|_| kind == Some("tarball"));
    deb.and_then(|d| d.from.as_ref())
        .into_iter()
        .chain(tarball.and_then(|t| t.from.as_ref()))
}

pub(super) fn build_inputs(c: &RawComponent) -> impl Iterator<Item = &L<String>> {
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
