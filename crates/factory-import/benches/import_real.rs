//! Times load + parse of the real bookworm indexes (decompress, UTF-8
//! check, stanzas, typed records with every relation parsed) and prints the
//! peak resident memory. Run with `cargo bench -p factory-import`.
//!
//! Files: `FACTORY_PACKAGES` / `FACTORY_SOURCES`, else apt's lz4 lists,
//! else /tmp/data/{Packages,Sources}.

use std::path::{Path, PathBuf};
use std::time::Instant;

use factory_import::compress::{read_decompressed, to_utf8};
use factory_import::debian::{load_packages, load_sources, parse_packages, parse_sources};

fn pick(variable: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(variable) {
        return Some(PathBuf::from(path));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

fn peak_rss_mib() -> Option<f64> {
    let status = fs_err::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn time<T>(what: &str, path: &Path, load: impl Fn(&Path) -> T, count: impl Fn(&T) -> usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let records = load(path);
        let seconds = start.elapsed().as_secs_f64();
        best = best.min(seconds);
        println!(
            "{what}: {} records from {} in {:.3} s",
            count(&records),
            path.display(),
            seconds
        );
    }
    best
}

/// Where the time goes: decompression, UTF-8 validation, parsing.
fn phases(path: &Path) {
    let start = Instant::now();
    let bytes = read_decompressed(path).expect("index reads");
    let read = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let text = to_utf8(path, &bytes).expect("index is UTF-8");
    let utf8 = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let is_sources = path.to_string_lossy().contains("Sources");
    let count = if is_sources {
        parse_sources(path, text).expect("parses").len()
    } else {
        parse_packages(path, text).expect("parses").len()
    };
    let parse = start.elapsed().as_secs_f64();
    println!(
        "{}: read+decompress {read:.3} s, UTF-8 {utf8:.3} s, parse {parse:.3} s ({count} records, {} MB text)",
        path.display(),
        bytes.len() / 1_000_000
    );
}

fn main() {
    // apt's lists are named after the mirror they came from: found by the rest of the name.
    let list = |kind: &str| {
        factory_import::debian::find_apt_list(&format!("_dists_bookworm_main{kind}"))
            .map(|path| path.display().to_string())
            .unwrap_or_default()
    };
    let packages = pick(
        "FACTORY_PACKAGES",
        &[&list("_binary-amd64_Packages"), "/tmp/data/Packages"],
    );
    let sources = pick(
        "FACTORY_SOURCES",
        &[&list("_source_Sources"), "/tmp/data/Sources"],
    );
    let (Some(packages), Some(sources)) = (packages, sources) else {
        eprintln!(
            "SKIPPED: no real Packages/Sources index found (set FACTORY_PACKAGES and FACTORY_SOURCES)"
        );
        return;
    };
    // First, what one `factory import` does in a fresh process: both files
    // loaded once, on a heap that has never been used.
    let start = Instant::now();
    let binary_records = load_packages(&packages).expect("Packages loads");
    let source_records = load_sources(&sources).expect("Sources loads");
    let cold = start.elapsed().as_secs_f64();
    let relations: usize = binary_records
        .iter()
        .map(|b| b.depends.len() + b.pre_depends.len() + b.provides.len())
        .chain(source_records.iter().map(|s| {
            s.build_depends.len() + s.build_depends_indep.len() + s.build_depends_arch.len()
        }))
        .sum();
    println!(
        "cold load+parse of both in a fresh process: {cold:.3} s ({} binaries, {} sources, {relations} relation entries)",
        binary_records.len(),
        source_records.len()
    );
    drop((binary_records, source_records));
    if std::env::var_os("FACTORY_BENCH_ONCE").is_some() {
        // For hyperfine or callgrind: one fresh-process import only.
        return;
    }
    for path in [&packages, &sources] {
        phases(path);
    }
    let binaries = time(
        "Packages",
        &packages,
        |path| load_packages(path).expect("Packages loads"),
        Vec::len,
    );
    let sources = time(
        "Sources",
        &sources,
        |path| load_sources(path).expect("Sources loads"),
        Vec::len,
    );
    println!(
        "warm best load+parse of both: {:.3} s (Packages {binaries:.3} s + Sources {sources:.3} s)",
        binaries + sources
    );
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS: {peak:.0} MiB");
    }
}
