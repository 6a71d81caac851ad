//! RPM spec files, evaluated by the real `rpmspec` tool.
//!
//! A spec file is a macro program (`%if`, `%bcond`, `%{?dist}`, Lua): a
//! static parse gets names and versions wrong, so the importer asks
//! `rpmspec` for the evaluated headers of the source package (whose
//! requirements are the `BuildRequires`) and of every binary subpackage.

use std::cmp::Ordering;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ImportError;
use crate::version::VersionOp;

/// A dependency: a name (a package, a virtual capability like
/// `pkgconfig(zlib)`, or a rich dependency like `(a or b)`) and an optional
/// version constraint `[epoch:]version[-release]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmDep {
    pub name: String,
    pub constraint: Option<(VersionOp, String)>,
}

impl RpmDep {
    /// Whether a provider at `evr` satisfies the constraint (an unversioned
    /// dependency is satisfied by any version).
    pub fn satisfied_by(&self, evr: &str) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|(op, wanted)| op.satisfied_by(compare_evr(evr, wanted)))
    }
}

/// One binary package a spec builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub requires: Vec<RpmDep>,
    pub provides: Vec<RpmDep>,
}

/// A spec file, evaluated: the source package and its subpackages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmSource {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub build_requires: Vec<RpmDep>,
    pub subpackages: Vec<RpmPackage>,
}

/// How to run `rpmspec`: which binary, and the conditionals and macros to
/// evaluate the spec with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmSpecOptions {
    /// The `rpmspec` binary (default: found on `PATH`).
    pub tool: PathBuf,
    /// `--with NAME` for `%bcond_with NAME` conditionals.
    pub with: Vec<String>,
    /// `--without NAME` for `%bcond_without NAME` conditionals.
    pub without: Vec<String>,
    /// `--define "NAME VALUE"`.
    pub defines: Vec<(String, String)>,
}

impl Default for RpmSpecOptions {
    fn default() -> Self {
        Self {
            tool: PathBuf::from("rpmspec"),
            with: Vec::new(),
            without: Vec::new(),
            defines: Vec::new(),
        }
    }
}

const INSTALL_HINT: &str =
    "install it: `apt-get install rpm` (Debian, Ubuntu) or `dnf install rpm-build` (Fedora, RHEL)";

/// Evaluates a spec file with `rpmspec` from `PATH`.
pub fn load_spec(spec: &Path) -> Result<RpmSource, ImportError> {
    load_spec_with(spec, &RpmSpecOptions::default())
}

/// Evaluates a spec file with the given `rpmspec` and options.
pub fn load_spec_with(spec: &Path, options: &RpmSpecOptions) -> Result<RpmSource, ImportError> {
    fs_err::metadata(spec).map_err(|source| ImportError::Io {
        path: spec.to_path_buf(),
        source,
    })?;
    let header = "S\t%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\\n";
    let deps = |tag: &str, kind: &str| {
        format!("[{tag}\\t%{{{kind}NAME}}\\t%{{{kind}FLAGS}}\\t%{{{kind}VERSION}}\\n]")
    };
    let source_format = format!("{header}{}", deps("R", "REQUIRE"));
    let source_output = run(spec, options, &["--srpm", "--queryformat", &source_format])?;
    let binary_format = format!(
        "{}{}{}",
        header.replacen('S', "P", 1),
        deps("R", "REQUIRE"),
        deps("V", "PROVIDE")
    );
    let binary_output = run(spec, options, &["--queryformat", &binary_format])?;

    let mut sources = parse_query(spec, &source_output)?;
    if sources.len() != 1 {
        return Err(unexpected(
            spec,
            "one source package header",
            &source_output,
        ));
    }
    let source = sources.remove(0);
    Ok(RpmSource {
        name: source.name,
        epoch: source.epoch,
        version: source.version,
        release: source.release,
        build_requires: source.requires,
        subpackages: parse_query(spec, &binary_output)?,
    })
}

fn run(spec: &Path, options: &RpmSpecOptions, query: &[&str]) -> Result<String, ImportError> {
    let mut command = Command::new(&options.tool);
    command.arg("-q").args(query);
    for name in &options.with {
        command.args(["--with", name]);
    }
    for name in &options.without {
        command.args(["--without", name]);
    }
    for (name, value) in &options.defines {
        command.args(["--define", &format!("{name} {value}")]);
    }
    let output = command.arg(spec).output().map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            ImportError::ToolMissing {
                path: spec.to_path_buf(),
                tool: "rpmspec",
                hint: INSTALL_HINT,
            }
        } else {
            ImportError::Io {
                path: options.tool.clone(),
                source: error,
            }
        }
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(spec_error(spec, output.status.to_string(), stderr));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| unexpected(spec, "UTF-8 output from rpmspec", "invalid UTF-8"))
}

/// rpmspec reports spec errors as `error: line N: message`; those become
/// syntax errors pointing at the line, anything else a tool failure.
fn spec_error(spec: &Path, status: String, stderr: String) -> ImportError {
    let located = stderr.lines().find_map(|line| {
        let rest = line.strip_prefix("error: line ")?;
        let (number, message) = rest.split_once(':')?;
        Some((
            number.trim().parse::<usize>().ok()?,
            message.trim().to_string(),
        ))
    });
    match located {
        Some((line, message)) => ImportError::syntax(
            spec,
            (line, 1),
            "a spec file rpmspec can evaluate",
            message,
            "fix the spec at that line (rpmspec -P shows it after macro expansion)",
        ),
        None => ImportError::ToolFailed {
            path: spec.to_path_buf(),
            tool: "rpmspec",
            status,
            stderr,
            hint: "run `rpmspec -P` on the file to see what it rejects",
        },
    }
}

fn unexpected(spec: &Path, expected: &str, found: &str) -> ImportError {
    ImportError::syntax(
        spec,
        (1, 1),
        expected,
        crate::error::describe_found(found),
        "the installed rpmspec printed something this importer does not understand; \
         check `rpmspec --version`",
    )
}

/// Parses the tab-separated query output: a header line per package, then
/// its `R` (requires) and `V` (provides) lines.
fn parse_query(spec: &Path, output: &str) -> Result<Vec<RpmPackage>, ImportError> {
    let mut packages: Vec<RpmPackage> = Vec::new();
    for line in output.lines().filter(|line| !line.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["S" | "P", name, epoch, version, release] => packages.push(RpmPackage {
                name: name.to_string(),
                epoch: epoch.parse().ok(),
                version: version.to_string(),
                release: release.to_string(),
                requires: Vec::new(),
                provides: Vec::new(),
            }),
            [kind @ ("R" | "V"), name, flags, version] => {
                let Some(package) = packages.last_mut() else {
                    return Err(unexpected(spec, "a package header line", line));
                };
                let Some(dep) = dependency(name, flags, version) else {
                    continue;
                };
                if kind == "R" {
                    package.requires.push(dep);
                } else {
                    package.provides.push(dep);
                }
            }
            _ => return Err(unexpected(spec, "a tab-separated query line", line)),
        }
    }
    Ok(packages)
}

/// rpm's sense flags: bits for less, greater and equal; rpmlib() feature
/// requirements are rpm's own and not packages, so they are dropped.
fn dependency(name: &str, flags: &str, version: &str) -> Option<RpmDep> {
    const LESS: u32 = 1 << 1;
    const GREATER: u32 = 1 << 2;
    const EQUAL: u32 = 1 << 3;
    const RPMLIB: u32 = 1 << 24;
    let flags: u32 = flags.parse().unwrap_or(0);
    if flags & RPMLIB != 0 || name.starts_with("rpmlib(") {
        return None;
    }
    let op = match (flags & LESS != 0, flags & GREATER != 0, flags & EQUAL != 0) {
        (true, false, false) => Some(VersionOp::Less),
        (true, false, true) => Some(VersionOp::LessOrEqual),
        (false, false, true) => Some(VersionOp::Equal),
        (false, true, true) => Some(VersionOp::GreaterOrEqual),
        (false, true, false) => Some(VersionOp::Greater),
        _ => None,
    };
    let constraint = match op {
        Some(op) if !version.is_empty() => Some((op, version.to_string())),
        _ => None,
    };
    Some(RpmDep {
        name: name.to_string(),
        constraint,
    })
}

/// Splits `[epoch:]version[-release]`.
fn split_evr(evr: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, evr),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// Compares `[epoch:]version[-release]` as rpm does for dependencies: a
/// missing epoch is 0, and the release only counts when both sides have one
/// (`foo >= 1.0` is satisfied by `foo-1.0-5`).
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (epoch_a, version_a, release_a) = split_evr(a);
    let (epoch_b, version_b, release_b) = split_evr(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| rpmvercmp(version_a, version_b))
        .then_with(|| match (release_a, release_b) {
            (Some(a), Some(b)) => rpmvercmp(a, b),
            _ => Ordering::Equal,
        })
}

/// rpm's version segment comparison: alphanumeric segments, numbers
/// compared numerically and newer than letters, `~` before everything
/// (even the end), `^` after the end but before anything else. Hand-written
/// (a dozen lines) and checked against rpm's own `rpm.vercmp` in the tests.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), _) if x != b'^' => return Ordering::Greater,
                (_, Some(y)) if y != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        match compare_segment(&a[i..], &b[j..]) {
            ControlFlow::Break(order) => return order,
            ControlFlow::Continue((len_a, len_b)) => {
                i += len_a;
                j += len_b;
            }
        }
    }
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (true, _) => Ordering::Greater,
        (false, true) => Ordering::Less,
    }
}

/// Compares the segments `a` and `b` start with (`a` with a letter or a digit, which
/// says whether both segments are numeric or alphabetic): `Break` with their order when
/// they differ, else `Continue` with their lengths.
fn compare_segment(a: &[u8], b: &[u8]) -> ControlFlow<Ordering, (usize, usize)> {
    let numeric = a[0].is_ascii_digit();
    let in_segment = |c: &u8| {
        if numeric {
            c.is_ascii_digit()
        } else {
            c.is_ascii_alphabetic()
        }
    };
    let len_a = a.iter().take_while(|c| in_segment(c)).count();
    let len_b = b.iter().take_while(|c| in_segment(c)).count();
    if len_b == 0 {
        // Segments of different kinds: the numeric one is newer.
        return ControlFlow::Break(if numeric {
            Ordering::Greater
        } else {
            Ordering::Less
        });
    }
    let (mut seg_a, mut seg_b) = (&a[..len_a], &b[..len_b]);
    if numeric {
        while seg_a.len() > 1 && seg_a[0] == b'0' {
            seg_a = &seg_a[1..];
        }
        while seg_b.len() > 1 && seg_b[0] == b'0' {
            seg_b = &seg_b[1..];
        }
        let by_length = seg_a.len().cmp(&seg_b.len());
        if by_length != Ordering::Equal {
            return ControlFlow::Break(by_length);
        }
    }
    match seg_a.cmp(seg_b) {
        Ordering::Equal => ControlFlow::Continue((len_a, len_b)),
        order => ControlFlow::Break(order),
    }
}
