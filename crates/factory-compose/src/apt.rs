//! A signed apt repository, laid out as Debian's archives are:
//!
//! ```text
//! dists/SUITE/Release, InRelease, Release.gpg
//! dists/SUITE/main/binary-ARCH/Packages, Packages.gz, Packages.xz
//! pool/main/h/hello/hello_1.0-1_amd64.deb
//! release-key.gpg (or .asc)
//! ```
//!
//! Each `Packages` stanza is the package's own control file with `Filename`, `Size` and
//! `SHA256` added; `Release` lists the sha256 of every index; one signature (in two forms)
//! covers everything.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::format_description;

use factory_types::Digest;

use crate::arch;
use crate::deb::Deb;
use crate::error::ComposeError;
use crate::files::write_file;
use crate::request::AptRepository;
use crate::sign::Signer;

/// The one component.
const COMPONENT: &str = "main";

/// The repository as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenApt {
    /// The repository's root (holding `dists/` and `pool/`), in the published compose.
    pub root: PathBuf,
    /// The release key's public part, for `signed-by`.
    pub key: PathBuf,
    pub suite: String,
    /// Debian architectures indexed.
    pub architectures: Vec<String>,
    /// Every package, in the order of the indexes.
    pub packages: Vec<WrittenPackage>,
}

impl WrittenApt {
    /// The `sources.list` line that installs from this repository with its key.
    pub fn sources_line(&self) -> String {
        format!(
            "deb [signed-by={}] file:{} {} {COMPONENT}",
            self.key.display(),
            self.root.display(),
            self.suite
        )
    }
}

/// One package of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPackage {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Relative to the repository's root: the `Filename` of its stanza.
    pub filename: String,
    pub size: u64,
    pub sha256: Digest,
}

/// What `Release` lists: an index's path below `dists/SUITE/`, its size and digest.
struct IndexFile {
    path: String,
    size: usize,
    sha256: Digest,
}

/// Writes the repository at `dir` (inside the compose being written); `published` is
/// where `dir` will be once the compose is in place.
pub(crate) fn write_apt(
    dir: &Path,
    published: &Path,
    apt: &AptRepository,
    debs: &[Deb<'_>],
    created: OffsetDateTime,
    signer: &dyn Signer,
) -> Result<WrittenApt, ComposeError> {
    check_names(apt)?;
    let architectures = architectures(apt, debs)?;
    let packages = write_pool(dir, debs)?;
    let suite_dir = dir.join("dists").join(&apt.suite);
    let mut indexes = Vec::new();
    for architecture in &architectures {
        let listed = debs
            .iter()
            .zip(&packages)
            .filter(|(deb, _)| deb.architecture == *architecture || deb.architecture == "all");
        let text: Vec<String> = listed.map(|(deb, written)| stanza(deb, written)).collect();
        let relative = format!("{COMPONENT}/binary-{architecture}/Packages");
        indexes.extend(write_index(
            &suite_dir,
            &relative,
            text.join("\n").as_bytes(),
        )?);
    }
    let release = release_text(apt, &architectures, &indexes, created);
    write_file(&suite_dir.join("Release"), release.as_bytes())?;
    let clearsigned = signer
        .clearsign(&release)
        .map_err(|source| ComposeError::Sign {
            what: "InRelease",
            source,
        })?;
    expect_prefix(
        &clearsigned,
        "-----BEGIN PGP SIGNED MESSAGE-----",
        "InRelease",
    )?;
    write_file(&suite_dir.join("InRelease"), clearsigned.as_bytes())?;
    let detached = signer
        .detached_armored(release.as_bytes())
        .map_err(|source| ComposeError::Sign {
            what: "Release.gpg",
            source,
        })?;
    expect_prefix(&detached, "-----BEGIN PGP SIGNATURE-----", "Release.gpg")?;
    write_file(&suite_dir.join("Release.gpg"), detached.as_bytes())?;
    let key_name = write_key(dir, signer)?;
    Ok(WrittenApt {
        root: published.to_owned(),
        key: published.join(key_name),
        suite: apt.suite.clone(),
        architectures: architectures.into_iter().collect(),
        packages,
    })
}

/// The public key beside the repository, named by its form: apt's `signed-by` reads a
/// `.gpg` file as binary OpenPGP and an `.asc` file as armored.
fn write_key(dir: &Path, signer: &dyn Signer) -> Result<&'static str, ComposeError> {
    let key = signer.public_key().map_err(|source| ComposeError::Sign {
        what: "the public key",
        source,
    })?;
    let name = if key.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        "release-key.asc"
    } else if key.first().is_some_and(|tag| tag & 0x80 != 0) {
        "release-key.gpg"
    } else {
        return Err(ComposeError::SignerOutput {
            what: "the public key",
            expected: "an OpenPGP packet or -----BEGIN PGP PUBLIC KEY BLOCK-----",
        });
    };
    write_file(&dir.join(name), &key)?;
    Ok(name)
}

fn expect_prefix(text: &str, prefix: &'static str, what: &'static str) -> Result<(), ComposeError> {
    if text.starts_with(prefix) {
        Ok(())
    } else {
        Err(ComposeError::SignerOutput {
            what,
            expected: prefix,
        })
    }
}

/// The fields of `Release` are single lines; the suite is also a directory name.
fn check_names(apt: &AptRepository) -> Result<(), ComposeError> {
    for (field, value) in [
        ("origin", &apt.origin),
        ("label", &apt.label),
        ("suite", &apt.suite),
        ("codename", &apt.codename),
    ] {
        if value.trim().is_empty() || value.contains(['\n', '\r']) {
            return Err(ComposeError::invalid(
                format!("apt repository {field}"),
                "expected a non-empty single line",
            ));
        }
    }
    for (field, value) in [("suite", &apt.suite), ("codename", &apt.codename)] {
        let ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !value.starts_with('.');
        if !ok {
            return Err(ComposeError::invalid(
                format!("apt repository {field} `{value}`"),
                "expected letters, digits, `.`, `_` and `-`, not starting with `.` (e.g. `stable`)",
            ));
        }
    }
    if let Some(description) = &apt.description
        && description.contains(['\n', '\r'])
    {
        return Err(ComposeError::invalid(
            "apt repository description",
            "expected a single line",
        ));
    }
    Ok(())
}

/// The asked architectures and those of the packages; `all` is not one (its packages are
/// listed under each).
fn architectures(apt: &AptRepository, debs: &[Deb<'_>]) -> Result<BTreeSet<String>, ComposeError> {
    let mut all: BTreeSet<String> = apt.architectures.iter().cloned().collect();
    all.extend(
        debs.iter()
            .map(|deb| deb.architecture.clone())
            .filter(|a| a != "all"),
    );
    if all.is_empty() {
        return Err(ComposeError::invalid(
            "apt repository architectures",
            "every package is `Architecture: all`: name the architectures to index (e.g. `amd64`)",
        ));
    }
    for architecture in &all {
        if architecture == "all" || arch::rpm_of_debian(architecture).is_none() {
            return Err(ComposeError::invalid(
                format!("architecture `{architecture}`"),
                format!("expected one of {}", arch::known_debian()),
            ));
        }
    }
    Ok(all)
}

/// Copies each package into the pool (the caller gives each file once); two different
/// files at one pool path are refused.
fn write_pool(dir: &Path, debs: &[Deb<'_>]) -> Result<Vec<WrittenPackage>, ComposeError> {
    let mut written: BTreeMap<String, &str> = BTreeMap::new();
    let mut packages = Vec::new();
    for deb in debs {
        let filename = deb.pool_path();
        if let Some(other) = written.get(&filename) {
            return Err(ComposeError::invalid(
                format!("packages `{other}` and `{}`", deb.name),
                format!(
                    "both are {} {} ({}) with different contents: a repository holds one",
                    deb.package, deb.version, deb.architecture
                ),
            ));
        }
        write_file(&dir.join(&filename), &deb.bytes)?;
        written.insert(filename.clone(), &deb.name);
        packages.push(WrittenPackage {
            package: deb.package.clone(),
            version: deb.version.clone(),
            architecture: deb.architecture.clone(),
            filename,
            size: deb.bytes.len() as u64,
            sha256: deb.sha256,
        });
    }
    Ok(packages)
}

fn stanza(deb: &Deb<'_>, written: &WrittenPackage) -> String {
    deb.control.stanza_with(&[
        ("Filename", written.filename.clone()),
        ("Size", written.size.to_string()),
        ("SHA256", written.sha256.hex()),
    ])
}

/// Writes an index plain, gzip- and xz-compressed; apt fetches whichever it prefers, and
/// checks each against `Release`.
fn write_index(
    suite_dir: &Path,
    relative: &str,
    text: &[u8],
) -> Result<Vec<IndexFile>, ComposeError> {
    let path = suite_dir.join(relative);
    let compress_error = |e| ComposeError::io("compressing", &path)(e);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(text).map_err(compress_error)?;
    let gz = gz.finish().map_err(compress_error)?;
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(text).map_err(compress_error)?;
    let xz = xz.finish().map_err(compress_error)?;
    let mut files = Vec::new();
    for (suffix, bytes) in [("", text), (".gz", gz.as_slice()), (".xz", xz.as_slice())] {
        let name = format!("{relative}{suffix}");
        write_file(&suite_dir.join(&name), bytes)?;
        files.push(IndexFile {
            path: name,
            size: bytes.len(),
            sha256: Digest::of(bytes),
        });
    }
    Ok(files)
}

fn release_text(
    apt: &AptRepository,
    architectures: &BTreeSet<String>,
    indexes: &[IndexFile],
    created: OffsetDateTime,
) -> String {
    let mut text = String::new();
    let mut field = |name: &str, value: &str| text.push_str(&format!("{name}: {value}\n"));
    field("Origin", &apt.origin);
    field("Label", &apt.label);
    field("Suite", &apt.suite);
    field("Codename", &apt.codename);
    field("Date", &rfc2822_utc(created));
    let architectures: Vec<&str> = architectures.iter().map(String::as_str).collect();
    field("Architectures", &architectures.join(" "));
    field("Components", COMPONENT);
    // `all` packages are in every architecture's index and there is no binary-all: apt
    // then fetches no binary-all index.
    field("No-Support-for-Architecture-all", "Packages");
    if let Some(description) = &apt.description {
        field("Description", description);
    }
    text.push_str("SHA256:\n");
    let width = indexes
        .iter()
        .map(|i| i.size.to_string().len())
        .max()
        .unwrap_or(1);
    for index in indexes {
        text.push_str(&format!(
            " {} {:>width$} {}\n",
            index.sha256.hex(),
            index.size,
            index.path
        ));
    }
    text
}

/// `Thu, 03 Dec 2026 12:00:00 UTC`, as Debian's archives write `Date`.
pub(crate) fn rfc2822_utc(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] UTC"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_2822_in_utc() {
        let at = OffsetDateTime::from_unix_timestamp(1_796_342_399).unwrap();
        assert_eq!(rfc2822_utc(at), "Thu, 03 Dec 2026 23:59:59 UTC");
    }

    #[test]
    fn suites_that_are_not_directory_names_are_refused() {
        for suite in ["../etc", "a b", ".hidden", ""] {
            let apt = AptRepository {
                origin: "o".into(),
                label: "l".into(),
                suite: suite.into(),
                codename: "c".into(),
                description: None,
                architectures: vec![],
            };
            let error = check_names(&apt).unwrap_err().to_string();
            assert!(error.starts_with("apt repository suite"), "{error}");
        }
    }
}
