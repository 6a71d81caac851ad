//! `import` and `check`: getting metadata into the graph.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use factory_graph::{Graph, GraphBuilder};
use factory_import::arch::BuildProfiles;
use factory_import::debian::{BinaryPackage, SourcePackage, load_packages, load_sources};
use factory_import::modulemd::load_modulemd;
use factory_import::resolve::{DebianTarget, add_debian, add_definition, add_modulemd, add_rpm};
use factory_import::rpm::load_spec;

use crate::cli::Import;
use crate::store_dir::{GRAPH_FILE, ImportSpec, Manifest, absolute};

/// `factory check DIR`: every problem of the definition, or a summary.
pub(super) fn check(dir: &Path) -> Result<ExitCode> {
    match factory_def::load(dir) {
        Ok(def) => {
            println!("{}: ok — {}", dir.display(), def.summary());
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            // The diagnostics end with their count ("2 errors").
            eprintln!("{diagnostics} in {}; nothing was changed", dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Loads a definition, turning its diagnostics into one error.
pub(super) fn load_definition(dir: &Path) -> Result<factory_def::Definition> {
    factory_def::load(dir).map_err(|diagnostics| {
        anyhow::anyhow!(
            "{diagnostics} in the definition at {}; run `factory check {}`",
            dir.display(),
            dir.display()
        )
    })
}

pub(super) fn import(store: &Path, what: &Import) -> Result<()> {
    let spec = spec_of(what)?;
    let manifest = Manifest::load(store)?.with(spec);
    let started = Instant::now();
    // Everything is read and resolved before anything is written: bad
    // input leaves the store as it was.
    let graph = build_graph(&manifest, &mut |line| println!("{line}"))?;
    fs_err::create_dir_all(store)?;
    graph.save(&store.join(GRAPH_FILE))?;
    manifest.save(store)?;
    println!(
        "graph: {} nodes, {} dependency clauses, {} edges; stored in {} ({:.2} s)",
        graph.node_count(),
        graph.clause_count(),
        graph.edge_count(),
        store.join(GRAPH_FILE).display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn spec_of(what: &Import) -> Result<ImportSpec> {
    let all_absolute = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| absolute(p))
            .collect::<Result<Vec<_>>>()
    };
    Ok(match what {
        Import::Debian {
            sources,
            packages,
            arch,
            profiles,
            no_build_essential,
        } => ImportSpec::Debian {
            sources: all_absolute(sources)?,
            packages: all_absolute(packages)?,
            arch: arch.clone(),
            profiles: profiles.clone(),
            no_build_essential: *no_build_essential,
        },
        Import::Rpm { specs } => ImportSpec::Rpm {
            specs: all_absolute(specs)?,
        },
        Import::Modulemd { files } => ImportSpec::Modulemd {
            files: all_absolute(files)?,
        },
        Import::Definition { dir } => ImportSpec::Definition {
            dir: absolute(dir)?,
        },
    })
}

/// Runs every recorded import into one graph. `report` receives one line
/// per import with what it found.
pub(super) fn build_graph(manifest: &Manifest, report: &mut dyn FnMut(String)) -> Result<Graph> {
    let target = manifest
        .imports
        .iter()
        .find_map(|s| match s {
            ImportSpec::Debian { arch, .. } => Some(format!("debian/{arch}")),
            _ => None,
        })
        .unwrap_or_else(|| "factory".to_owned());
    let mut builder = GraphBuilder::new(target);
    for spec in &manifest.imports {
        match spec {
            ImportSpec::Debian {
                sources,
                packages,
                arch,
                profiles,
                no_build_essential,
            } => {
                let target = DebianTarget {
                    arch: arch.clone(),
                    profiles: BuildProfiles::new(profiles.iter().cloned()),
                    implicit_build_essential: !no_build_essential,
                };
                import_debian(&mut builder, sources, packages, &target, report)?;
            }
            ImportSpec::Definition { dir } => {
                let def = load_definition(dir)?;
                let r = add_definition(&mut builder, &def);
                report(format!(
                    "definition {}: {} components, {} packages, {} images, {} modules, {} products, {} dependency clauses",
                    dir.display(),
                    r.components,
                    r.packages,
                    r.images,
                    r.modules,
                    r.products,
                    r.clauses
                ));
            }
            ImportSpec::Rpm { specs } => {
                let sources = load_all(specs, |p| load_spec(p).map(|s| vec![s]))?;
                let r = add_rpm(&mut builder, &sources);
                report(format!(
                    "rpm: {} specs, {} binary packages, {} dependency clauses, {} edges, {} unresolved names",
                    r.sources, r.binaries, r.clauses, r.edges, r.unresolved_names
                ));
            }
            ImportSpec::Modulemd { files } => {
                let streams = load_all(files, load_modulemd)?;
                let r = add_modulemd(&mut builder, &streams);
                report(format!(
                    "modulemd: {} module streams, {} components, {} dependency clauses",
                    r.streams, r.components, r.clauses
                ));
            }
        }
    }
    Ok(builder.finish())
}

fn import_debian(
    builder: &mut GraphBuilder,
    sources: &[PathBuf],
    packages: &[PathBuf],
    target: &DebianTarget,
    report: &mut dyn FnMut(String),
) -> Result<()> {
    // The two index kinds are independent: parse them on two threads.
    let (sources, binaries) = std::thread::scope(|scope| {
        let binaries = scope.spawn(|| load_all(packages, load_packages));
        let sources = load_all(sources, load_sources);
        let binaries = binaries
            .join()
            .expect("the Packages parser thread panicked");
        (sources, binaries)
    });
    let (sources, binaries): (Vec<SourcePackage>, Vec<BinaryPackage>) = (sources?, binaries?);
    let r = add_debian(builder, &sources, &binaries, target);
    let arch = &target.arch;
    // Freed here, before the graph is frozen, so the two never coexist.
    drop((sources, binaries));
    report(format!(
        "debian ({arch}): {} sources ({} build nothing for {arch}), {} binaries ({} of other architectures), \
         {} virtual packages, {} dependency clauses, {} edges, {} unresolved names, {} unsatisfiable clauses",
        r.sources,
        r.sources_skipped,
        r.binaries,
        r.binaries_skipped,
        r.virtual_names,
        r.clauses,
        r.edges,
        r.unresolved_names,
        r.unsatisfiable_clauses
    ));
    Ok(())
}

fn load_all<T, E>(paths: &[PathBuf], load: impl Fn(&Path) -> Result<Vec<T>, E>) -> Result<Vec<T>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut all = Vec::new();
    for path in paths {
        all.extend(load(path).with_context(|| format!("cannot import {}", path.display()))?);
    }
    Ok(all)
}
