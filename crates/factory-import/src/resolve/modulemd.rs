//! modulemd v2 streams in the graph: each stream is a module node named
//! `name:stream`, containing its components (sources of that name, created
//! when no spec or index defined them) and build-requiring the module
//! streams it names.

use factory_graph::{EdgeKind, GraphBuilder, NodeKind};

use crate::modulemd::ModuleStream;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulemdReport {
    pub streams: usize,
    pub components: usize,
    pub clauses: usize,
}

pub fn add_modulemd(builder: &mut GraphBuilder, streams: &[ModuleStream]) -> ModulemdReport {
    let mut report = ModulemdReport::default();
    let label = |s: &ModuleStream| format!("{}:{}", s.name, s.stream);
    for stream in streams {
        let node = builder.node(NodeKind::Module, &label(stream));
        builder.set_version(node, &stream.version.to_string());
    }
    for stream in streams {
        let node = builder.node(NodeKind::Module, &label(stream));
        for component in &stream.components {
            let source = builder.node(NodeKind::Source, &component.name);
            builder.add_clause(node, EdgeKind::Contains, vec![vec![source]]);
            report.components += 1;
            report.clauses += 1;
        }
        for (module, wanted) in &stream.buildrequires {
            // Any imported stream of that module that the list admits.
            let candidates = streams
                .iter()
                .filter(|s| &s.name == module && admits(wanted, &s.stream))
                .map(|s| builder.node(NodeKind::Module, &label(s)))
                .collect::<Vec<_>>();
            if candidates.is_empty() {
                builder.add_unresolved(node, EdgeKind::BuildRequires, module);
            }
            builder.add_clause(node, EdgeKind::BuildRequires, vec![candidates]);
            report.clauses += 1;
        }
        report.streams += 1;
    }
    report
}

/// modulemd stream lists: empty admits every stream, `-s` excludes `s`,
/// otherwise the stream must be listed.
fn admits(wanted: &[String], stream: &str) -> bool {
    let excluded = wanted.iter().any(|w| w.strip_prefix('-') == Some(stream));
    let positive: Vec<&String> = wanted.iter().filter(|w| !w.starts_with('-')).collect();
    !excluded && (positive.is_empty() || positive.iter().any(|w| *w == stream))
}
