//! Factory's declarative definition: a directory of TOML files describing components,
//! kinds, modules, images, products, hooks (and, for later, tests and policies).
//!
//! [`load`] reads and validates a whole directory; [`parse_str`] one file. Both return
//! either a [`Definition`] (plain domain types) or [`Diagnostics`]: every problem found,
//! each with file, line, column, what was expected and how to fix it. No input panics.
//!
//! The format is documented in `docs/definition.md`.

// A library reports through its return values; printing is for the binary to decide.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod check;
mod diag;
mod lower;
mod model;
mod source;
mod suggest;
mod template;
mod wire;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, ErrorCode, Location, Note};
pub use model::{
    BuildSteps, BuiltinKind, Cadence, Channel, Component, ComponentStream, DEFAULT_EOL_WARNING,
    DEFAULT_HOOK_TIMEOUT, DEFAULT_HOOK_TRIES, DEFAULT_TIMEOUT, DebPackage, Definition, Hook,
    HookAction, Image, ImageBase, Kind, Module, ModuleStream, Origin, Policy, Product,
    ProductStream, Profile, Recipe, Source, Summary, TarballSpec, Test,
};
pub use template::{Part, Template, VAR_NAMES, Var};

use diag::Diagnostic as Diag;
use source::{At, Sources};
use wire::{RawBase, RawDefinition, RawSource, Reader};

/// Loads and validates the definition in `dir`: every `*.toml` file below it, in sorted
/// order, except in hidden directories and inside local component sources.
pub fn load(dir: &Path) -> Result<Definition, Diagnostics> {
    let mut diags = Vec::new();
    let mut sources = Sources::default();
    let mut paths = Vec::new();
    if let Err(e) = collect_toml_files(dir, dir, &mut paths) {
        diags.push(
            Diag::new(
                ErrorCode::Io,
                format!("cannot read definition directory `{}`: {e}", dir.display()),
            )
            .help("pass the directory that holds the definition's .toml files"),
        );
        return Err(Diagnostics::from_vec(diags));
    }
    paths.sort();
    if paths.is_empty() {
        diags.push(
            Diag::new(
                ErrorCode::Io,
                format!("no definition files (*.toml) in `{}`", dir.display()),
            )
            .help("a definition is a directory of .toml files, e.g. components.toml"),
        );
        return Err(Diagnostics::from_vec(diags));
    }
    for relative in paths {
        let name = relative.to_string_lossy().replace('\\', "/");
        match fs_err::read(dir.join(&relative)) {
            Ok(bytes) => add_file(&mut sources, &mut diags, name, bytes),
            Err(e) => diags.push(Diag::new(
                ErrorCode::Io,
                format!("cannot read `{name}`: {e}"),
            )),
        }
    }
    build(sources, diags, Some(dir))
}

/// Parses and validates a definition made of one file (for tests, tools and fuzzing).
pub fn parse_str(file_name: &str, text: &str) -> Result<Definition, Diagnostics> {
    let mut sources = Sources::default();
    sources.add(file_name.to_string(), text.to_string());
    build(sources, Vec::new(), None)
}

/// Like [`parse_str`] for raw bytes: a non-UTF-8 input is an error naming the file.
pub fn parse_bytes(file_name: &str, bytes: &[u8]) -> Result<Definition, Diagnostics> {
    let mut sources = Sources::default();
    let mut diags = Vec::new();
    add_file(
        &mut sources,
        &mut diags,
        file_name.to_string(),
        bytes.to_vec(),
    );
    build(sources, diags, None)
}

fn add_file(sources: &mut Sources, diags: &mut Vec<Diag>, name: String, bytes: Vec<u8>) {
    match String::from_utf8(bytes) {
        Ok(text) => {
            sources.add(name, text);
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            let line = prefix.matches('\n').count() + 1;
            let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
            let column = prefix[line_start..].chars().count() + 1;
            let line_end = bytes[line_start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| line_start + i);
            let source_line =
                String::from_utf8_lossy(&bytes[line_start..line_end]).replace('\t', " ");
            diags.push(
                Diag::new(ErrorCode::NotUtf8, format!("`{name}` is not valid UTF-8"))
                    .at(Location {
                        file: name,
                        line,
                        column,
                        source_line,
                        width: 1,
                    })
                    .label("invalid byte")
                    .help("definition files are UTF-8 text: re-encode the file (e.g. `iconv -t UTF-8`)"),
            );
        }
    }
}

/// Recursively lists `*.toml` files relative to `root`, skipping hidden directories and
/// not following symbolic links to directories (no loops).
/// The `*.toml` files [`load`] reads from `dir` (relative to it, sorted), plus any inside
/// local sources, which `load` skips: a superset, for telling whether the definition changed.
pub fn definition_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    collect_toml_files(dir, dir, &mut paths)?;
    paths.sort();
    Ok(paths)
}

fn collect_toml_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect_toml_files(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") && !path.is_dir() {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// Reads every file, drops files inside local sources, checks, lowers.
fn build(
    sources: Sources,
    mut diags: Vec<Diag>,
    root: Option<&Path>,
) -> Result<Definition, Diagnostics> {
    let mut per_file = Vec::with_capacity(sources.files.len());
    for file in 0..sources.files.len() {
        let mut raw = RawDefinition::default();
        let mut file_diags = Vec::new();
        let ok = Reader::new(&sources, file, &mut file_diags).read(&mut raw);
        per_file.push((raw, file_diags, ok));
    }
    let source_dirs = local_source_dirs(&per_file);
    let mut raw = RawDefinition::default();
    let mut syntax_ok = true;
    let mut included = Vec::new();
    for (file, (file_raw, file_diags, ok)) in per_file.into_iter().enumerate() {
        let name = &sources.files[file].name;
        // A component's own source tree may hold .toml files (Cargo.toml...): not ours.
        if root.is_some() && source_dirs.iter().any(|d| Path::new(name).starts_with(d)) {
            continue;
        }
        included.push(name.clone());
        syntax_ok &= ok;
        diags.extend(file_diags);
        merge(&mut raw, file_raw);
    }
    // After a syntax error parts of a file are missing: cross-checks would only add noise.
    if syntax_ok && diags.iter().all(|d| d.code != ErrorCode::NotUtf8) {
        let mut checker = check::Checker::new(&sources);
        checker.check(&raw);
        diags.extend(checker.into_diagnostics());
        if let Some(root) = root {
            check_paths(&sources, &raw, root, &mut diags);
        }
    }
    if !diags.is_empty() {
        return Err(Diagnostics::from_vec(diags));
    }
    let mut definition = lower::lower(&sources, raw);
    definition.root = root.map(Path::to_path_buf);
    definition.files = included;
    Ok(definition)
}

fn local_source_dirs(per_file: &[(RawDefinition, Vec<Diag>, bool)]) -> Vec<PathBuf> {
    per_file
        .iter()
        .flat_map(|(raw, _, _)| &raw.components)
        .flat_map(|c| {
            c.source
                .iter()
                .chain(c.streams.iter().filter_map(|s| s.source.as_ref()))
        })
        .filter_map(|s| match s {
            RawSource::Path(p) => Some(PathBuf::from(&p.value)),
            _ => None,
        })
        .filter(|p| !p.as_os_str().is_empty() && p != Path::new("."))
        .collect()
}

fn merge(into: &mut RawDefinition, from: RawDefinition) {
    into.components.extend(from.components);
    into.kinds.extend(from.kinds);
    into.modules.extend(from.modules);
    into.images.extend(from.images);
    into.products.extend(from.products);
    into.hooks.extend(from.hooks);
    into.tests.extend(from.tests);
    into.policies.extend(from.policies);
}

/// Local paths (component sources, OCI layouts) must exist below the definition directory.
fn check_paths(sources: &Sources, raw: &RawDefinition, root: &Path, diags: &mut Vec<Diag>) {
    let mut missing = |path: &str, at: &At, what: &str| {
        if !root.join(path).is_dir() {
            diags.push(
                Diag::new(
                    ErrorCode::InvalidValue,
                    format!("{what} `{path}` does not exist"),
                )
                .at(sources.location(at))
                .label("no such directory")
                .help("paths are relative to the definition directory; create it or fix the path"),
            );
        }
    };
    for component in &raw.components {
        let all = component
            .source
            .iter()
            .chain(component.streams.iter().filter_map(|s| s.source.as_ref()));
        for source in all {
            if let RawSource::Path(p) = source {
                missing(&p.value, &p.at, "source directory");
            }
        }
    }
    for image in &raw.images {
        if let Some(RawBase::OciLayout(p)) = &image.base {
            missing(&p.value, &p.at, "OCI layout directory");
        }
    }
}
