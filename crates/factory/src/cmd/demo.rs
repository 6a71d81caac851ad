//! `factory demo`: the bundled example through the whole pipeline — the
//! graph facts, a build of everything, an upstream change to the library
//! (the rebuild wave with its reasons), then a comment-only change (early
//! cutoff). Everything happens in a work directory (temporary unless
//! `--dir`); a second run on the same directory builds nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use factory_engine::{Change, ChangeReason, Engine, JobGraph, Quiet, Stop, WaveReport};
use factory_graph::GraphBuilder;
use factory_import::resolve::add_definition;
use factory_types::Job;

use crate::cli::{AlternativesArg, Format, ModeArg, PlanArgs, Selection};
use crate::cmd::engine::{RunArgs, ServeArgs, Serving, engine, latest_outputs, load_graph};
use crate::cmd::progress::print_wave;
use crate::cmd::query::{print_plan, print_trace};

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

/// The library's source file the demo edits, relative to the definition.
const LIBRARY_SOURCE: &str = "src/libgreet/greet.c";

pub(super) async fn demo(
    definition: Option<&Path>,
    dir: Option<&Path>,
    jobs: Option<usize>,
    serve: Option<ServeArgs>,
) -> Result<()> {
    let example = match definition {
        Some(dir) => std::path::absolute(dir)?,
        None => bundled_example()?,
    };
    let (work, _temp) = match dir {
        Some(dir) => (std::path::absolute(dir)?, None),
        None => {
            let temp = tempfile::Builder::new().prefix("factory-demo-").tempdir()?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let def_dir = work.join("definition");
    // The demo edits sources, so it works on a fresh copy of the example each run.
    if def_dir.exists() {
        fs_err::remove_dir_all(&def_dir)?;
    }
    factory_exec::builtin::copy_tree(&example, &def_dir)
        .with_context(|| format!("cannot copy {} to {}", example.display(), def_dir.display()))?;
    let graph = load_graph(&def_dir)?;
    println!("== work directory {}", work.display());
    println!(
        "== definition {}: {}\n",
        example.display(),
        graph.def().summary()
    );
    print_graph_facts(graph.def())?;
    let store = work.join("store");
    let run = RunArgs {
        definition: def_dir.clone(),
        jobs,
        no_sandbox: false,
    };
    let orch = engine(&store, &run, Arc::new(Quiet)).await?;
    let serving = match serve.as_ref().and_then(|s| s.address(false)) {
        Some(addr) => {
            let services = factory_server::Services {
                store: orch.store().clone(),
                control: None,
                graph: Some(graph.clone()),
                relay: None,
                releases: None,
            };
            Some(Serving::start(serve.as_ref().expect("serving"), addr, services).await?)
        }
        None => None,
    };
    run_demo(&orch, graph, &def_dir, &store, &work).await?;
    if let Some(serving) = serving {
        println!("\n== serving the demo's store until Ctrl-C");
        serving.until_ctrl_c().await?;
    }
    Ok(())
}

fn print_graph_facts(def: &factory_def::Definition) -> Result<()> {
    let mut builder = GraphBuilder::new("factory");
    add_definition(&mut builder, def);
    let graph = builder.finish();
    println!(
        "== graph: {} nodes, {} dependency clauses",
        graph.node_count(),
        graph.clause_count()
    );
    let changed = "src:libgreet";
    println!("== trace {changed}: what it is made from and what is made from it");
    print_trace(&graph, changed, usize::MAX, Format::Text)?;
    let selection = Selection {
        names: vec![changed.to_owned()],
        mode: ModeArg::Transitive,
        alternatives: AlternativesArg::All,
    };
    println!("\n== rebuild plan for a change to libgreet (transitive)");
    print_plan(
        &graph,
        &PlanArgs {
            selection,
            default_duration: 60.0,
            format: Format::Text,
        },
    )?;
    println!();
    Ok(())
}

async fn run_demo(
    orch: &Engine,
    graph: Arc<JobGraph>,
    def_dir: &Path,
    store: &Path,
    work: &Path,
) -> Result<()> {
    let mut ran = 0;
    for report in orch.resume(&graph, Stop::new()).await? {
        println!("== resumed an interrupted wave");
        print_wave(&report);
        ran += report.ran();
    }

    println!("== 1. build everything (what already succeeded with the same key is reused)");
    let all = graph.jobs().to_vec();
    let first = wave(orch, &graph, all, ChangeReason::Reconcile).await?;
    ran += first.ran();
    export(orch, &graph, &work.join("out")).await?;

    println!("\n== 2. upstream change to libgreet: version 1.0.0 -> 1.1.0 in {LIBRARY_SOURCE}");
    edit(def_dir, |text| {
        text.replace("return \"1.0.0\";", "return \"1.1.0\";")
    })?;
    let libgreet = vec![Job::Component("libgreet".into())];
    let second = wave(orch, &graph, libgreet.clone(), ChangeReason::SourceChanged).await?;
    ran += second.ran();
    if let Some(hello) = second.builds.iter().find(|b| b.job == "hello")
        && let Some(record) = orch.store().db().build(hello.build).await?
    {
        println!("\n   factory explain {}:", hello.build);
        for line in factory_engine::explain::explain(orch.store().db(), &record).await? {
            println!("     {line}");
        }
    }

    println!(
        "\n== 3. comment-only change to {LIBRARY_SOURCE}: same object code, so an early cutoff"
    );
    edit(def_dir, |text| {
        format!("/* greet.c: formats greetings for hello and greet-cli. */\n{text}")
    })?;
    let third = wave(orch, &graph, libgreet, ChangeReason::SourceChanged).await?;
    ran += third.ran();
    let exported_after = export(orch, &graph, &work.join("out")).await?;

    println!("\n== artifacts in {}", work.join("out").display());
    for path in &exported_after {
        println!("   {}", path.display());
    }
    println!(
        "   check them: dpkg-deb -I out/hello_1.0.0-1_amd64.deb; skopeo inspect oci:out/greet-oci:latest"
    );
    println!(
        "\n== event log: {} events in {}; `factory --store {} events` prints it",
        last_seq(orch).await?,
        store.display(),
        store.display()
    );
    println!("builds run: {ran}");
    Ok(())
}

async fn wave(
    orch: &Engine,
    graph: &Arc<JobGraph>,
    jobs: Vec<Job>,
    reason: ChangeReason,
) -> Result<WaveReport> {
    let report = orch
        .run_change(graph, Change { jobs, reason }, Stop::new())
        .await?;
    print_wave(&report);
    Ok(report)
}

fn edit(def_dir: &Path, change: impl FnOnce(&str) -> String) -> Result<()> {
    let path = def_dir.join(LIBRARY_SOURCE);
    let text = fs_err::read_to_string(&path)?;
    fs_err::write(&path, change(&text))?;
    Ok(())
}

async fn last_seq(orch: &Engine) -> Result<u64> {
    Ok(orch.store().db().last_seq().await?.0)
}

/// Copies the packages and the image out of the store into `out/`.
async fn export(orch: &Engine, graph: &JobGraph, out: &Path) -> Result<Vec<PathBuf>> {
    let def = graph.def();
    if out.exists() {
        fs_err::remove_dir_all(out)?;
    }
    fs_err::create_dir_all(out)?;
    let mut written = Vec::new();
    for (job, tree) in latest_outputs(orch, graph).await? {
        let is_package = def.components.get(&job).is_some_and(|c| {
            matches!(
                c.recipe,
                factory_def::Recipe::Deb(_) | factory_def::Recipe::Tarball(_)
            )
        });
        if is_package {
            for entry in fs_err::read_dir(&tree)? {
                let entry = entry?;
                let dest = out.join(entry.file_name());
                fs_err::copy(entry.path(), &dest)?;
                written.push(dest);
            }
        } else if let Some(image) = job.strip_prefix("image:") {
            let dest = out.join(format!("{image}-oci"));
            factory_exec::builtin::copy_tree(&tree, &dest)?;
            written.push(dest);
        }
    }
    Ok(written)
}
