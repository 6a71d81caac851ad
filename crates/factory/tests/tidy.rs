//! Rules about the shape of the code that no compiler lint expresses, checked over the
//! workspace's sources: where the runtime is blocked on, which crate spawns build
//! processes and names the SQLite store, how long a source file grows.

use std::path::{Path, PathBuf};

/// The largest a source file of a crate may grow.
const MAX_LINES: usize = 1_000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file below each crate's `src/`, with its crate's name and its text.
fn sources() -> Vec<(String, PathBuf, String)> {
    let mut files = Vec::new();
    let crates = workspace().join("crates");
    for entry in fs_err::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        collect(&dir.join("src"), &name, &mut files);
    }
    assert!(files.len() > 50, "the sources were found: {}", files.len());
    files
}

fn collect(dir: &Path, krate: &str, files: &mut Vec<(String, PathBuf, String)>) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, krate, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs_err::read_to_string(&path).unwrap();
            files.push((krate.to_owned(), path, text));
        }
    }
}

/// The files outside `allowed` (crate names, or crate/relative-path prefixes) whose code
/// (not their comments) contains `needle`.
fn offenders(needle: &str, allowed: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(krate, path, text)| {
            let relative = path.strip_prefix(workspace().join("crates")).unwrap();
            let place = relative.to_string_lossy();
            let exempt = allowed.iter().any(|a| *a == krate || place.starts_with(a));
            !exempt && code_lines(text).any(|line| line.contains(needle))
        })
        .map(|(_, path, _)| path.display().to_string())
        .collect()
}

/// Lines that are not comments.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
}

#[test]
fn only_main_blocks_on_the_runtime() {
    // The testkit is test support: its `block_on` reads the store of a stopped factory.
    let found = offenders("block_on", &["factory/src/main.rs", "factory-testkit"]);
    assert!(found.is_empty(), "block_on outside main: {found:?}");
}

#[test]
fn only_the_executor_spawns_build_processes() {
    let found = offenders("tokio::process", &["factory-exec"]);
    assert!(
        found.is_empty(),
        "build processes spawned outside factory-exec: {found:?}"
    );
}

#[test]
fn only_the_store_names_its_sqlite_implementation() {
    let found = offenders("SqliteStore", &["factory-store"]);
    assert!(
        found.is_empty(),
        "the SQLite store named outside factory-store: {found:?}"
    );
}

#[test]
fn no_source_file_grows_past_a_thousand_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, _, text)| text.lines().count() > MAX_LINES)
        .map(|(_, path, text)| format!("{} ({} lines)", path.display(), text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these by what they do: {long:?}");
}

#[test]
fn the_rules_see_what_they_look_for() {
    // Each rule's needle does occur where it is allowed: a rule that finds nothing
    // anywhere would pass forever without checking anything.
    assert!(!offenders("block_on", &[]).is_empty());
    assert!(!offenders("tokio::process", &[]).is_empty());
    assert!(!offenders("SqliteStore", &[]).is_empty());
}
