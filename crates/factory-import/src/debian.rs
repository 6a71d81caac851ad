//! Typed records of Debian archive indexes: `Packages` (binary packages)
//! and `Sources` (source packages).

use std::path::{Path, PathBuf};

use crate::compress;
use crate::deb822::{Field, Paragraph, Parser};
use crate::error::ImportError;
use crate::relation::{self, Clause, Relation, RelationError};
use crate::version::Version;

/// The `Multi-Arch` field of a binary package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

/// One stanza of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package's name: the `Source` field, or the package name
    /// when the field is absent.
    pub source: String,
    /// The version in `Source: name (version)`; `None` when the source
    /// version is the binary's own version.
    pub source_version: Option<String>,
    pub multi_arch: MultiArch,
    pub essential: bool,
    pub depends: Vec<Clause>,
    pub pre_depends: Vec<Clause>,
    /// Virtual packages provided, possibly versioned with `=`.
    pub provides: Vec<Relation>,
}

/// One stanza of a `Sources` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePackage {
    pub name: String,
    pub version: String,
    /// Architecture patterns, e.g. `any all` or `linux-any`.
    pub architecture: Vec<String>,
    /// Binary packages built from it (the `Binary` field).
    pub binaries: Vec<String>,
    pub build_depends: Vec<Clause>,
    pub build_depends_indep: Vec<Clause>,
    pub build_depends_arch: Vec<Clause>,
    pub build_conflicts: Vec<Clause>,
    pub build_conflicts_indep: Vec<Clause>,
    pub build_conflicts_arch: Vec<Clause>,
    /// `Extra-Source-Only: yes`: kept in the archive only because another
    /// package's `Built-Using` names it; nothing is built from it.
    pub extra_source_only: bool,
}

/// Reads, decompresses (by magic bytes) and parses a `Packages` index,
/// streaming: the decompressed text is never in memory as a whole.
/// Where apt keeps the indexes it downloaded.
pub const APT_LISTS: &str = "/var/lib/apt/lists";

/// The index apt keeps for `list` (say `_dists_bookworm_main_binary-amd64_Packages`),
/// whatever mirror it came from and however it is compressed: the name of an apt list
/// starts with the mirror's host and path, which differ from one machine to the next.
pub fn find_apt_list(list: &str) -> Option<PathBuf> {
    find_list_in(Path::new(APT_LISTS), list)
}

fn find_list_in(dir: &Path, list: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs_err::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.split_once(list)
                .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with('.'))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

pub fn load_packages(path: &Path) -> Result<Vec<BinaryPackage>, ImportError> {
    let mut packages = Vec::new();
    compress::for_each_paragraph_chunk(path, |text, first_line| {
        let mut parser = Parser::starting_at(path, text, first_line);
        let mut paragraph = Paragraph::default();
        while parser.next_into(&mut paragraph)? {
            packages.push(binary_package(path, &paragraph)?);
        }
        Ok(())
    })?;
    packages.shrink_to_fit();
    Ok(packages)
}

/// Reads, decompresses (by magic bytes) and parses a `Sources` index,
/// streaming like [`load_packages`].
pub fn load_sources(path: &Path) -> Result<Vec<SourcePackage>, ImportError> {
    let mut sources = Vec::new();
    compress::for_each_paragraph_chunk(path, |text, first_line| {
        let mut parser = Parser::starting_at(path, text, first_line);
        let mut paragraph = Paragraph::default();
        while parser.next_into(&mut paragraph)? {
            sources.push(source_package(path, &paragraph)?);
        }
        Ok(())
    })?;
    sources.shrink_to_fit();
    Ok(sources)
}

/// Parses the text of a `Packages` index; `file` is used in errors.
pub fn parse_packages(file: &Path, text: &str) -> Result<Vec<BinaryPackage>, ImportError> {
    let mut parser = Parser::new(file, text);
    let mut paragraph = Paragraph::default();
    // Real indexes have about one stanza per 790 bytes (Sources: 1480);
    // a slight over-estimate avoids a regrowth copy, and the rest is given
    // back at the end.
    let mut packages = Vec::with_capacity(text.len() / 700 + 1);
    while parser.next_into(&mut paragraph)? {
        packages.push(binary_package(file, &paragraph)?);
    }
    packages.shrink_to_fit();
    Ok(packages)
}

/// Parses the text of a `Sources` index; `file` is used in errors.
pub fn parse_sources(file: &Path, text: &str) -> Result<Vec<SourcePackage>, ImportError> {
    let mut parser = Parser::new(file, text);
    let mut paragraph = Paragraph::default();
    let mut sources = Vec::with_capacity(text.len() / 1300 + 1);
    while parser.next_into(&mut paragraph)? {
        sources.push(source_package(file, &paragraph)?);
    }
    sources.shrink_to_fit();
    Ok(sources)
}

/// The fields of one stanza that the records need, each at most once.
struct Wanted<'p, 'a, const N: usize> {
    fields: [Option<&'p Field<'a>>; N],
}

impl<'p, 'a, const N: usize> Wanted<'p, 'a, N> {
    /// Picks the fields named in `names` (case-insensitive); a wanted field
    /// given twice is an error, as in dpkg.
    fn pick(
        file: &Path,
        paragraph: &'p Paragraph<'a>,
        names: &[&str; N],
    ) -> Result<Self, ImportError> {
        let mut fields = [None; N];
        for field in &paragraph.fields {
            let Some(slot) = names.iter().position(|name| {
                name.len() == field.name.len() && name.eq_ignore_ascii_case(field.name)
            }) else {
                continue;
            };
            if let Some(first) = fields[slot] {
                let first: &Field = first;
                return Err(ImportError::syntax(
                    file,
                    (field.line, 1),
                    format!("`{}` only once per stanza", names[slot]),
                    format!("a second one (the first is on line {})", first.line),
                    "remove the duplicate field",
                ));
            }
            fields[slot] = Some(field);
        }
        Ok(Self { fields })
    }
}

fn required<'p, 'a>(
    file: &Path,
    paragraph: &Paragraph<'a>,
    field: Option<&'p Field<'a>>,
    name: &str,
) -> Result<&'p Field<'a>, ImportError> {
    match field {
        Some(field) if !field.value.is_empty() => Ok(field),
        Some(field) => Err(ImportError::syntax(
            file,
            (field.value_line, field.value_column),
            format!("a value for `{name}`"),
            "an empty field",
            "fill in the field",
        )),
        None => {
            let last_line = paragraph.fields.last().map_or(paragraph.line, |f| f.line);
            Err(ImportError::syntax(
                file,
                (last_line + 1, 1),
                format!(
                    "the `{name}` field in the stanza starting at line {}",
                    paragraph.line
                ),
                "the end of the stanza",
                "every stanza needs it; a stanza cut short like this is usually a truncated index \
                 (download it again with apt-get update)",
            ))
        }
    }
}

/// A package name as dpkg accepts it: a letter or digit, then letters,
/// digits and `+ - . _`.
fn package_name<'v>(file: &Path, field: &Field, value: &'v str) -> Result<&'v str, ImportError> {
    let bad = value.bytes().enumerate().find(|&(i, b)| {
        !(b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'+' | b'-' | b'.' | b'_')))
    });
    match bad {
        None => Ok(value),
        Some((offset, _)) => Err(ImportError::syntax(
            file,
            field.position(offset),
            "a package name (letters, digits and `+ - . _`, starting with a letter or digit)",
            crate::error::describe_found(&value[offset..]),
            "fix the package name",
        )),
    }
}

fn version<'v>(
    file: &Path,
    field: &Field,
    value: &'v str,
    offset_in_field: usize,
) -> Result<&'v str, ImportError> {
    match Version::parse(value) {
        Ok(_) => Ok(value),
        Err(error) => Err(ImportError::syntax(
            file,
            field.position(offset_in_field + error.offset),
            "a Debian version `[epoch:]upstream[-revision]`",
            format!("{value:?} ({})", error.message),
            "fix the version string",
        )),
    }
}

fn relation_error(file: &Path, field: &Field, error: RelationError) -> ImportError {
    ImportError::syntax(
        file,
        field.position(error.offset),
        format!("{} in `{}`", error.expected, field.name),
        error.found,
        "fix the relation; the syntax is `name[:arch] [(op version)] [[arch ...]] [<profile ...>]`, \
         alternatives separated by `|`, entries by `,`",
    )
}

fn clauses(file: &Path, field: Option<&Field>) -> Result<Vec<Clause>, ImportError> {
    match field {
        None => Ok(Vec::new()),
        Some(field) => relation::parse_relations(field.value)
            .map_err(|error| relation_error(file, field, error)),
    }
}

fn yes_no(file: &Path, field: Option<&Field>) -> Result<bool, ImportError> {
    match field.map(|f| (f, f.value)) {
        None | Some((_, "no")) => Ok(false),
        Some((_, "yes")) => Ok(true),
        Some((field, other)) => Err(ImportError::syntax(
            file,
            (field.value_line, field.value_column),
            format!("`yes` or `no` for `{}`", field.name),
            format!("{other:?}"),
            "use yes or no",
        )),
    }
}

const BINARY_FIELDS: [&str; 9] = [
    "Package",
    "Version",
    "Architecture",
    "Source",
    "Multi-Arch",
    "Essential",
    "Depends",
    "Pre-Depends",
    "Provides",
];

fn binary_package(file: &Path, paragraph: &Paragraph) -> Result<BinaryPackage, ImportError> {
    let [
        package,
        version_field,
        architecture,
        source,
        multi_arch,
        essential,
        depends,
        pre_depends,
        provides,
    ] = Wanted::pick(file, paragraph, &BINARY_FIELDS)?.fields;
    let package = required(file, paragraph, package, "Package")?;
    let name = package_name(file, package, package.value)?;
    let version_field = required(file, paragraph, version_field, "Version")?;
    let version_text = version(file, version_field, version_field.value, 0)?;
    let architecture = required(file, paragraph, architecture, "Architecture")?.value;
    let (source, source_version) = match source {
        None => (name.to_string(), None),
        Some(field) => source_field(file, field)?,
    };
    let provides = match provides {
        None => Vec::new(),
        Some(field) => relation::parse_relation_list(field.value)
            .map_err(|error| relation_error(file, field, error))?,
    };
    Ok(BinaryPackage {
        name: name.to_string(),
        version: version_text.to_string(),
        architecture: architecture.to_string(),
        source,
        source_version,
        multi_arch: multi_arch_field(file, multi_arch)?,
        essential: yes_no(file, essential)?,
        depends: clauses(file, depends)?,
        pre_depends: clauses(file, pre_depends)?,
        provides,
    })
}

/// `Source: name` or `Source: name (version)`.
fn source_field(file: &Path, field: &Field) -> Result<(String, Option<String>), ImportError> {
    let value = field.value;
    let Some(open) = value.find('(') else {
        return Ok((package_name(file, field, value)?.to_string(), None));
    };
    let name = package_name(file, field, value[..open].trim_end())?;
    let inner = &value[open + 1..];
    let Some(close) = inner.find(')') else {
        return Err(ImportError::syntax(
            file,
            field.position(value.len()),
            "`)` closing the source version",
            "the end of the field",
            "write `Source: name (version)`",
        ));
    };
    if !inner[close + 1..].trim().is_empty() {
        return Err(ImportError::syntax(
            file,
            field.position(open + 2 + close),
            "the end of the `Source` field",
            crate::error::describe_found(&inner[close + 1..]),
            "write `Source: name (version)`",
        ));
    }
    let text = inner[..close].trim();
    let leading = inner[..close].len() - inner[..close].trim_start().len();
    let version_text = version(file, field, text, open + 1 + leading)?;
    Ok((name.to_string(), Some(version_text.to_string())))
}

fn multi_arch_field(file: &Path, field: Option<&Field>) -> Result<MultiArch, ImportError> {
    let Some(field) = field else {
        return Ok(MultiArch::No);
    };
    match field.value {
        "no" => Ok(MultiArch::No),
        "same" => Ok(MultiArch::Same),
        "foreign" => Ok(MultiArch::Foreign),
        "allowed" => Ok(MultiArch::Allowed),
        other => Err(ImportError::syntax(
            file,
            (field.value_line, field.value_column),
            "`no`, `same`, `foreign` or `allowed` for `Multi-Arch`",
            format!("{other:?}"),
            "use one of the four Multi-Arch values",
        )),
    }
}

const SOURCE_FIELDS: [&str; 11] = [
    "Package",
    "Version",
    "Architecture",
    "Binary",
    "Build-Depends",
    "Build-Depends-Indep",
    "Build-Depends-Arch",
    "Build-Conflicts",
    "Build-Conflicts-Indep",
    "Build-Conflicts-Arch",
    "Extra-Source-Only",
];

fn source_package(file: &Path, paragraph: &Paragraph) -> Result<SourcePackage, ImportError> {
    let [
        package,
        version_field,
        architecture,
        binary,
        bd,
        bdi,
        bda,
        bc,
        bci,
        bca,
        extra_source_only,
    ] = Wanted::pick(file, paragraph, &SOURCE_FIELDS)?.fields;
    let package = required(file, paragraph, package, "Package")?;
    let name = package_name(file, package, package.value)?;
    let version_field = required(file, paragraph, version_field, "Version")?;
    let version_text = version(file, version_field, version_field.value, 0)?;
    let architecture = required(file, paragraph, architecture, "Architecture")?.value;
    let binary_list = required(file, paragraph, binary, "Binary")?.value;
    let binaries = binary_list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(String::from)
        .collect();
    Ok(SourcePackage {
        name: name.to_string(),
        version: version_text.to_string(),
        architecture: architecture
            .split_ascii_whitespace()
            .map(String::from)
            .collect(),
        binaries,
        build_depends: clauses(file, bd)?,
        build_depends_indep: clauses(file, bdi)?,
        build_depends_arch: clauses(file, bda)?,
        build_conflicts: clauses(file, bc)?,
        build_conflicts_indep: clauses(file, bci)?,
        build_conflicts_arch: clauses(file, bca)?,
        extra_source_only: yes_no(file, extra_source_only)?,
    })
}

#[cfg(test)]
mod apt_list_tests {
    use super::*;

    #[test]
    fn a_list_is_found_by_the_rest_of_its_name_whatever_its_mirror_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "mirror.example_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
            "mirror.example_debian_dists_bookworm_main_binary-amd64_Packages-diff",
            "mirror.example_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4",
        ] {
            fs_err::write(dir.path().join(name), "").unwrap();
        }
        let found = find_list_in(dir.path(), "_dists_bookworm_main_binary-amd64_Packages");
        assert_eq!(
            found.unwrap().file_name().unwrap(),
            "mirror.example_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
        );
        assert!(find_list_in(dir.path(), "_dists_bookworm_main_source_Sources").is_none());
    }
}
