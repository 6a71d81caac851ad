//! A factory definition in the graph.
//!
//! A component is a source node; the packages it produces are binary nodes
//! built from it. A component that produces no package of its own (another
//! component packages it, as `hello-deb` packages `hello`) is depended on
//! through its source node, which stands for its output tree. Images,
//! modules and products contain what they name.

use factory_def::{Component, Definition};
use factory_graph::{EdgeKind, GraphBuilder, NodeId, NodeKind};

/// Counts printed after an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefinitionReport {
    pub components: usize,
    pub packages: usize,
    pub images: usize,
    pub modules: usize,
    pub products: usize,
    pub clauses: usize,
}

pub fn add_definition(builder: &mut GraphBuilder, def: &Definition) -> DefinitionReport {
    let mut report = DefinitionReport::default();
    for component in def.components.values() {
        let source = builder.node(NodeKind::Source, &component.name);
        builder.set_version(source, component.version.as_deref().unwrap_or(""));
        for package in &component.packages {
            let binary = builder.node(NodeKind::Binary, package);
            builder.set_built_from(binary, source);
            builder.set_version(binary, component.version.as_deref().unwrap_or(""));
            report.packages += 1;
        }
        report.components += 1;
    }
    for image in def.images.values() {
        builder.node(NodeKind::Image, &image.name);
    }
    for module in def.modules.values() {
        builder.node(NodeKind::Module, &module.name);
    }
    for product in def.products.values() {
        builder.node(NodeKind::Product, &product.name);
    }
    for component in def.components.values() {
        report.clauses += add_component_clauses(builder, def, component);
    }
    for image in def.images.values() {
        let node = builder.node(NodeKind::Image, &image.name);
        if let factory_def::ImageBase::Image(base) = &image.base {
            let base = builder.node(NodeKind::Image, base);
            contains(builder, node, vec![base]);
            report.clauses += 1;
        }
        for package in &image.packages {
            let target = package_node(builder, package);
            contains(builder, node, target);
            report.clauses += 1;
        }
        for name in &image.components {
            let target = outputs(builder, def, name);
            contains(builder, node, target);
            report.clauses += 1;
        }
        report.images += 1;
    }
    for module in def.modules.values() {
        let node = builder.node(NodeKind::Module, &module.name);
        for name in &module.components {
            let target = outputs(builder, def, name);
            contains(builder, node, target);
            report.clauses += 1;
        }
        report.modules += 1;
    }
    for product in def.products.values() {
        let node = builder.node(NodeKind::Product, &product.name);
        let mut targets: Vec<Vec<NodeId>> = Vec::new();
        targets.extend(
            product
                .images
                .iter()
                .map(|i| vec![builder.node(NodeKind::Image, i)]),
        );
        targets.extend(
            product
                .modules
                .iter()
                .map(|m| vec![builder.node(NodeKind::Module, m)]),
        );
        targets.extend(product.components.iter().map(|c| outputs(builder, def, c)));
        for target in targets {
            contains(builder, node, target);
            report.clauses += 1;
        }
        report.products += 1;
    }
    report
}

fn add_component_clauses(
    builder: &mut GraphBuilder,
    def: &Definition,
    component: &Component,
) -> usize {
    let source = builder.node(NodeKind::Source, &component.name);
    let mut clauses = 0;
    for input in component.build_inputs() {
        let target = outputs(builder, def, input);
        builder.add_clause(source, EdgeKind::BuildRequires, vec![target]);
        clauses += 1;
    }
    // Runtime requirements belong to what the component produces.
    let holders: Vec<NodeId> = if component.packages.is_empty() {
        vec![source]
    } else {
        component
            .packages
            .iter()
            .map(|p| builder.node(NodeKind::Binary, p))
            .collect()
    };
    for required in &component.requires {
        let target = outputs(builder, def, required);
        for &holder in &holders {
            builder.add_clause(holder, EdgeKind::Requires, vec![target.clone()]);
            clauses += 1;
        }
    }
    clauses
}

/// What depending on component `name` means: its packages, or its output
/// tree (the source node) when it produces none.
fn outputs(builder: &mut GraphBuilder, def: &Definition, name: &str) -> Vec<NodeId> {
    match def.components.get(name) {
        Some(c) if !c.packages.is_empty() => c
            .packages
            .iter()
            .map(|p| builder.node(NodeKind::Binary, p))
            .collect(),
        _ => vec![builder.node(NodeKind::Source, name)],
    }
}

fn package_node(builder: &mut GraphBuilder, package: &str) -> Vec<NodeId> {
    vec![builder.node(NodeKind::Binary, package)]
}

fn contains(builder: &mut GraphBuilder, node: NodeId, target: Vec<NodeId>) {
    builder.add_clause(node, EdgeKind::Contains, vec![target]);
}
