//! `factory demo`: the bundled example end to end, as far as the factory
//! goes today — the definition checked, its graph, what a change to the
//! library affects, and the rebuild plan.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use factory_graph::GraphBuilder;
use factory_import::resolve::add_definition;

use crate::cli::{AffectedArgs, AlternativesArg, Format, ModeArg, PlanArgs, Selection};
use crate::cmd::import::load_definition;
use crate::cmd::query::{print_affected, print_plan, print_trace};

/// The bundled example: next to the sources when run with cargo, else
/// `examples/demo` under the current directory.
fn bundled_example() -> Result<PathBuf> {
    let candidates = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo"),
        PathBuf::from("examples/demo"),
    ];
    candidates
        .iter()
        .find(|p| p.join("kinds.toml").exists())
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .context("the bundled example (examples/demo) was not found: run from the source tree or pass --definition DIR")
}

pub fn demo(definition: Option<&Path>) -> Result<()> {
    let dir = match definition {
        Some(dir) => dir.to_owned(),
        None => bundled_example()?,
    };
    let def = load_definition(&dir)?;
    println!("== definition {}\n{}\n", dir.display(), def.summary());
    let mut builder = GraphBuilder::new("factory");
    add_definition(&mut builder, &def);
    let graph = builder.finish();
    println!("== graph: {} nodes, {} dependency clauses\n", graph.node_count(), graph.clause_count());

    let changed = "src:libgreet";
    println!("== trace {changed}: what it is made from and what is made from it");
    print_trace(&graph, changed, usize::MAX, Format::Text)?;
    let selection = |mode| Selection { names: vec![changed.to_owned()], mode, alternatives: AlternativesArg::All };
    for (mode, meaning) in [
        (ModeArg::Local, "the library alone"),
        (ModeArg::Direct, "what names it directly"),
        (ModeArg::Transitive, "everything whose inputs change, up to the product"),
    ] {
        println!("\n== affected by an upstream change to libgreet — {meaning}");
        print_affected(&graph, &AffectedArgs { selection: selection(mode), format: Format::Text })?;
    }
    println!("\n== rebuild plan (transitive)");
    print_plan(
        &graph,
        &PlanArgs { selection: selection(ModeArg::Transitive), default_duration: 60.0, format: Format::Text },
    )?;
    Ok(())
}
