//! `[module.NAME]`: its components, build order, streams and profiles name what the
//! module holds.

use std::collections::{BTreeMap, BTreeSet};

use super::Checker;
use super::packages::build_inputs;
use crate::diag::{Diagnostic, ErrorCode};
use crate::wire::{L, RawDefinition, RawModule};

impl Checker<'_> {
    pub(super) fn check_module(&mut self, module: &RawModule, raw: &RawDefinition) {
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
}
