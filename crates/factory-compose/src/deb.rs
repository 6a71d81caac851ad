//! Reading a `.deb` as apt's archive tools do: an `ar` archive whose first member is
//! `debian-binary` (`2.0`), then `control.tar` (plain, or compressed with gzip, xz or zstd,
//! as `dpkg-deb` may write it) holding the `control` file, then `data.tar`.

use std::borrow::Cow;
use std::io::Read;

use factory_types::Digest;

use crate::control::Control;
use crate::error::ComposeError;
use crate::request::DebInput;

/// A package to publish: its bytes and what its control file says.
#[derive(Debug)]
pub(crate) struct Deb<'a> {
    /// What errors call it.
    pub(crate) name: String,
    pub(crate) bytes: Cow<'a, [u8]>,
    pub(crate) sha256: Digest,
    pub(crate) control: Control,
    pub(crate) package: String,
    pub(crate) version: String,
    pub(crate) architecture: String,
    /// The source package it was built from (`Source`, without its version), else itself.
    pub(crate) source: String,
}

impl Deb<'_> {
    /// Where it goes in the repository, as Debian's archives lay out their pool:
    /// `pool/main/h/hello/hello_1.0-1_amd64.deb`, `lib` sources under four letters
    /// (`pool/main/libg/libgreet/…`); the epoch is not part of a file name.
    pub(crate) fn pool_path(&self) -> String {
        let prefix_len = if self.source.starts_with("lib") && self.source.len() > 3 {
            4
        } else {
            1
        };
        let version = self
            .version
            .split_once(':')
            .map_or(self.version.as_str(), |(_, rest)| rest);
        format!(
            "pool/main/{}/{}/{}_{version}_{}.deb",
            &self.source[..prefix_len],
            self.source,
            self.package,
            self.architecture
        )
    }
}

/// Reads the package and checks the fields the repository is built from.
pub(crate) fn read_deb(input: &DebInput) -> Result<Deb<'_>, ComposeError> {
    let (name, bytes) = match input {
        DebInput::Path(path) => (
            path.display().to_string(),
            Cow::Owned(fs_err::read(path).map_err(ComposeError::io("reading", path))?),
        ),
        DebInput::Bytes { name, bytes } => (name.clone(), Cow::Borrowed(bytes.as_slice())),
    };
    let bad = |problem: String| ComposeError::Deb {
        name: name.clone(),
        problem,
    };
    let text = control_text(&bytes).map_err(bad)?;
    let control =
        Control::parse(&text).map_err(|problem| bad(format!("its control file, {problem}")))?;
    let required = |field: &str| {
        control
            .get(field)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("its control file has no `{field}` field")))
    };
    let package = required("Package")?;
    let version = required("Version")?;
    let architecture = required("Architecture")?;
    let source = match control.get("Source") {
        Some(source) => source
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => package.clone(),
    };
    check_names(&package, &version, &architecture, &source).map_err(bad)?;
    Ok(Deb {
        sha256: Digest::of(&bytes),
        name,
        bytes,
        control,
        package,
        version,
        architecture,
        source,
    })
}

/// Debian policy's syntax for the fields that become file names and index entries, so no
/// package can name a path outside the pool.
fn check_names(
    package: &str,
    version: &str,
    architecture: &str,
    source: &str,
) -> Result<(), String> {
    let is_name = |name: &str| {
        name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    };
    for (field, value) in [("Package", package), ("Source", source)] {
        if !is_name(value) {
            return Err(format!(
                "its {field} `{value}` is not a package name (at least two of a-z, 0-9, `+`, `-`, `.`, starting with a letter or digit)"
            ));
        }
    }
    let upstream = version.split_once(':').map_or(version, |(epoch, rest)| {
        if epoch.chars().all(|c| c.is_ascii_digit()) && !epoch.is_empty() {
            rest
        } else {
            version
        }
    });
    let version_ok = upstream.starts_with(|c: char| c.is_ascii_digit())
        && upstream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c));
    if !version_ok {
        return Err(format!(
            "its Version `{version}` is not a Debian version ([EPOCH:]UPSTREAM[-REVISION], starting with a digit)"
        ));
    }
    let arch_ok = !architecture.is_empty()
        && architecture
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !arch_ok {
        return Err(format!(
            "its Architecture `{architecture}` is not one architecture (e.g. `amd64` or `all`)"
        ));
    }
    Ok(())
}

/// The text of the `control` file inside the package.
fn control_text(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(b"!<arch>\n") {
        return Err("it is not an ar archive (a .deb starts with `!<arch>`)".into());
    }
    let mut archive = ar::Archive::new(bytes);
    let mut members = Vec::new();
    let mut control = None;
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.map_err(|e| format!("its ar archive is damaged: {e}"))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        if members.is_empty() {
            let mut magic = String::new();
            let read = (&mut entry).take(16).read_to_string(&mut magic);
            if name != "debian-binary" || read.is_err() || !magic.starts_with("2.") {
                return Err(format!(
                    "its first member is `{name}`, not `debian-binary` saying format 2.x"
                ));
            }
        } else if let Some(compression) = name.strip_prefix("control.tar") {
            let mut member = Vec::new();
            entry
                .read_to_end(&mut member)
                .map_err(|e| format!("reading its `{name}`: {e}"))?;
            control = Some(find_control(
                &decompress(compression, &member, &name)?,
                &name,
            )?);
        }
        members.push(name);
    }
    if !members.iter().any(|m| m.starts_with("data.tar")) {
        return Err(format!("it has no data.tar member (members: {members:?})"));
    }
    control.ok_or_else(|| format!("it has no control.tar member (members: {members:?})"))
}

fn decompress(compression: &str, member: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let result = match compression {
        "" => {
            out.extend_from_slice(member);
            Ok(0)
        }
        ".gz" => flate2::read::GzDecoder::new(member).read_to_end(&mut out),
        ".xz" => liblzma::read::XzDecoder::new_multi_decoder(member).read_to_end(&mut out),
        ".zst" => ruzstd::decoding::StreamingDecoder::new(member)
            .map_err(std::io::Error::other)
            .and_then(|mut decoder| decoder.read_to_end(&mut out)),
        other => {
            return Err(format!(
                "its `{name}` is compressed as `{other}`, which dpkg does not write (expected none, .gz, .xz or .zst)"
            ));
        }
    };
    result.map_err(|e| format!("decompressing its `{name}`: {e}"))?;
    Ok(out)
}

fn find_control(tar_bytes: &[u8], member: &str) -> Result<String, String> {
    let damaged = |e: std::io::Error| format!("its `{member}` is not a readable tar archive: {e}");
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry.path().map_err(damaged)?.into_owned();
        let is_control = path.strip_prefix(".").unwrap_or(&path) == std::path::Path::new("control");
        if is_control && entry.header().entry_type().is_file() {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(damaged)?;
            return String::from_utf8(text).map_err(|e| {
                format!(
                    "its control file is not UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                )
            });
        }
    }
    Err(format!("its `{member}` holds no `control` file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut archive = ar::Builder::new(Vec::new());
        for (name, bytes) in members {
            let header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            archive.append(&header, *bytes).unwrap();
        }
        archive.into_inner().unwrap()
    }

    fn tar_of(name: &str, text: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, text.as_bytes())
            .unwrap();
        builder.into_inner().unwrap()
    }

    fn deb_with(control: &str) -> DebInput {
        let control_tar = tar_of("./control", control);
        let data_tar = tar_of("./usr/bin/x", "x");
        DebInput::Bytes {
            name: "test.deb".into(),
            bytes: ar_of(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar", &control_tar),
                ("data.tar", &data_tar),
            ]),
        }
    }

    #[test]
    fn an_uncompressed_control_tarball_is_read_and_lib_sources_get_four_letters() {
        let input = deb_with(
            "Package: libgreet1\nSource: libgreet (1.0-1)\nVersion: 2:1.0-1\nArchitecture: amd64\nDescription: x\n",
        );
        let deb = read_deb(&input).unwrap();
        assert_eq!(deb.source, "libgreet");
        assert_eq!(
            deb.pool_path(),
            "pool/main/libg/libgreet/libgreet1_1.0-1_amd64.deb"
        );
    }

    #[test]
    fn packages_that_are_not_publishable_say_why() {
        let cases = [
            ("Version: 1\nArchitecture: all\n", "no `Package` field"),
            (
                "Package: ../x\nVersion: 1\nArchitecture: all\n",
                "Package `../x` is not a package name",
            ),
            (
                "Package: ab\nVersion: x1\nArchitecture: all\n",
                "Version `x1` is not a Debian version",
            ),
            (
                "Package: ab\nVersion: 1/2\nArchitecture: all\n",
                "Version `1/2`",
            ),
            (
                "Package: ab\nVersion: 1\nArchitecture: amd64 i386\n",
                "Architecture `amd64 i386`",
            ),
            (
                "Package: ab\nSource: A/b\nVersion: 1\nArchitecture: all\n",
                "Source `A/b`",
            ),
            ("Package: ab\n\nVersion: 1\n", "its control file, line 3"),
        ];
        for (control, expected) in cases {
            let error = read_deb(&deb_with(control)).unwrap_err().to_string();
            assert!(error.starts_with("`test.deb`: not a .deb"), "{error}");
            assert!(error.contains(expected), "{control:?}: {error}");
        }
    }

    #[test]
    fn archives_that_are_not_debs_say_why() {
        let control_tar = tar_of("./control", "Package: ab\nVersion: 1\nArchitecture: all\n");
        let cases: [(Vec<u8>, &str); 5] = [
            (b"PK\x03\x04".to_vec(), "not an ar archive"),
            (ar_of(&[("data.tar", b"")]), "first member is `data.tar`"),
            (
                ar_of(&[("debian-binary", b"2.0\n"), ("data.tar", b"")]),
                "no control.tar member",
            ),
            (
                ar_of(&[("debian-binary", b"2.0\n"), ("control.tar", &control_tar)]),
                "no data.tar member",
            ),
            (
                ar_of(&[
                    ("debian-binary", b"2.0\n"),
                    ("control.tar.bz2", b"x"),
                    ("data.tar", b""),
                ]),
                "compressed as `.bz2`",
            ),
        ];
        for (bytes, expected) in cases {
            let input = DebInput::Bytes {
                name: "odd.deb".into(),
                bytes,
            };
            let error = read_deb(&input).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
