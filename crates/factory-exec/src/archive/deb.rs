//! Binary Debian packages written by Factory itself.
//!
//! A .deb is an `ar` archive of `debian-binary` ("2.0\n"), `control.tar.gz`
//! and `data.tar.gz`, in that order. Everything is built in memory: package
//! payloads of a build are expected to be modest, and the ar header needs
//! each member's size up front.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use super::tar::{TarOptions, write_tar};
use super::{ArchiveError, gzip, write_atomically};
use crate::tree::{EntryKind, walk_tree};
use factory_types::Digest;

/// The control fields Factory writes. `Installed-Size` is computed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DebControl {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub maintainer: String,
    /// First line: the synopsis. Further lines: the extended description.
    pub description: String,
    /// Each entry one dependency, e.g. `libgreet1 (>= 1.0)` or `a | b`.
    pub depends: Vec<String>,
    /// Further fields such as `Section` or `Homepage`, written in name order.
    pub extra: BTreeMap<String, String>,
}

/// Fields Factory writes itself; they cannot come through `extra`.
const OWN_FIELDS: &[&str] = &[
    "package",
    "version",
    "architecture",
    "maintainer",
    "description",
    "depends",
    "installed-size",
];

impl DebControl {
    /// Checks the fields against Debian policy's syntax, so dpkg never sees
    /// a control file it would reject.
    pub fn validate(&self) -> Result<(), ArchiveError> {
        let bad = |field: &str, problem: String| ArchiveError::DebControl {
            field: field.into(),
            problem,
        };
        let p = &self.package;
        let package_ok = p.len() >= 2
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !package_ok {
            return Err(bad(
                "Package",
                format!(
                    "`{p}`: expected at least two characters of a-z, 0-9, `+`, `-`, `.`, starting with a letter or digit"
                ),
            ));
        }
        let v = &self.version;
        let version_ok = v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~-:".contains(c));
        if !version_ok {
            return Err(bad(
                "Version",
                format!(
                    "`{v}`: expected a version starting with a digit, made of letters, digits and `.+~-:`"
                ),
            ));
        }
        for (field, value) in [
            ("Architecture", &self.architecture),
            ("Maintainer", &self.maintainer),
        ] {
            single_line(field, value)?;
        }
        for dep in &self.depends {
            single_line("Depends", dep)?;
        }
        if self
            .description
            .lines()
            .next()
            .is_none_or(|s| s.trim().is_empty())
        {
            return Err(bad(
                "Description",
                "the first line (synopsis) must not be empty".into(),
            ));
        }
        for (name, value) in &self.extra {
            let name_ok = !name.is_empty()
                && !name.starts_with('-')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !name_ok || OWN_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(bad(name, "not a field name Factory can add (letters, digits, `-`; not one of the fields it writes itself)".into()));
            }
            single_line(name, value)?;
        }
        Ok(())
    }

    fn render(&self, installed_size_kib: u64) -> String {
        let mut text = String::new();
        let mut field = |name: &str, value: &str| {
            let _ = writeln!(text, "{name}: {value}");
        };
        field("Package", &self.package);
        field("Version", &self.version);
        field("Architecture", &self.architecture);
        field("Maintainer", &self.maintainer);
        field("Installed-Size", &installed_size_kib.to_string());
        if !self.depends.is_empty() {
            field("Depends", &self.depends.join(", "));
        }
        for (name, value) in &self.extra {
            field(name, value);
        }
        let mut lines = self.description.lines();
        let synopsis = lines.next().unwrap_or_default();
        let _ = writeln!(text, "Description: {synopsis}");
        for line in lines {
            if line.trim().is_empty() {
                text.push_str(" .\n");
            } else {
                let _ = writeln!(text, " {line}");
            }
        }
        text
    }
}

fn single_line(field: &str, value: &str) -> Result<(), ArchiveError> {
    if value.trim().is_empty() || value.contains(['\n', '\r']) {
        return Err(ArchiveError::DebControl {
            field: field.into(),
            problem: format!("`{value}`: expected a non-empty single line"),
        });
    }
    Ok(())
}

/// `Installed-Size` as dpkg-gencontrol estimates it: each file's size
/// rounded up to KiB, plus one KiB per directory and symlink.
fn installed_size_kib(root: &Path) -> Result<u64, ArchiveError> {
    Ok(walk_tree(root)?
        .iter()
        .map(|entry| match entry.kind {
            EntryKind::File { size, .. } => size.div_ceil(1024),
            EntryKind::Dir | EntryKind::Symlink { .. } => 1,
        })
        .sum())
}

/// Writes the package whose installed files are the tree at `root` to
/// `dest` and returns the .deb's sha256.
pub fn write_deb(
    root: &Path,
    control: &DebControl,
    dest: &Path,
    mtime: u64,
) -> Result<Digest, ArchiveError> {
    control.validate()?;
    let options = TarOptions {
        mtime,
        dot_prefix: true,
    };
    let data = compress_tar(root, &options, dest)?;
    let control_text = control.render(installed_size_kib(root)?);
    let control_dir = tempfile::tempdir()
        .map_err(ArchiveError::io("creating a temporary directory for", dest))?;
    let control_file = control_dir.path().join("control");
    fs_err::write(&control_file, control_text)
        .map_err(ArchiveError::io("writing", &control_file))?;
    let control_tar = compress_tar(control_dir.path(), &options, dest)?;

    let mut archive = ar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("debian-binary", b"2.0\n".as_slice()),
        ("control.tar.gz", &control_tar),
        ("data.tar.gz", &data),
    ] {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
        header.set_mode(0o100644);
        header.set_mtime(mtime);
        archive
            .append(&header, bytes)
            .map_err(ArchiveError::io("assembling", dest))?;
    }
    let deb = archive
        .into_inner()
        .map_err(ArchiveError::io("assembling", dest))?;
    write_atomically(dest, &deb)
}

fn compress_tar(root: &Path, options: &TarOptions, dest: &Path) -> Result<Vec<u8>, ArchiveError> {
    let mut encoder = write_tar(root, gzip(Vec::new()), options)?;
    encoder
        .flush()
        .map_err(ArchiveError::io("compressing", dest))?;
    encoder
        .finish()
        .map_err(ArchiveError::io("compressing", dest))
}
