//! How nodes are shown to people and to programs.

use factory_graph::{Graph, NodeId, NodeKind};
use serde_json::{Value, json};

/// `src:openssl`, `libssl-dev`, `image:demo`…: unambiguous, and what the
/// CLI accepts back.
pub(crate) fn node_label(graph: &Graph, node: NodeId) -> String {
    let name = graph.name(node);
    match graph.kind(node) {
        NodeKind::Binary => name.to_owned(),
        NodeKind::Source => format!("src:{name}"),
        kind => format!("{}:{name}", kind.as_str()),
    }
}

pub(crate) fn node_json(graph: &Graph, node: NodeId) -> Value {
    let version = graph.version(node);
    json!({
        "name": graph.name(node),
        "kind": graph.kind(node).as_str(),
        "version": (!version.is_empty()).then_some(version),
    })
}

/// Prints labels as wrapped, indented lines.
pub(crate) fn print_wrapped(labels: impl Iterator<Item = String>) {
    let mut line = String::from(" ");
    for label in labels {
        if line.len() + label.len() + 1 > 100 && line.len() > 1 {
            println!("{line}");
            line = String::from(" ");
        }
        line.push(' ');
        line.push_str(&label);
    }
    if line.len() > 1 {
        println!("{line}");
    }
}

/// `1 build`, `2 builds`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
