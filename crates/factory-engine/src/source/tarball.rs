//! Tarball sources: an archive named by a path, a `file://` URL or an
//! `http(s)://` URL, checked against the sha256 the definition gives
//! *before* anything is unpacked, then unpacked once into a cache directory
//! named by that digest.
//!
//! Unpacking is done entry by entry, never by the archive library's own
//! `unpack`: an entry whose path is absolute or climbs out with `..`, an entry
//! placed below a symbolic link, a hard link to something outside the
//! archive, and a symbolic link that resolves (through any chain of links)
//! to outside the tree are all refused, and nothing of that archive is kept.
//! When every entry lies below one top-level directory (as in most upstream
//! tarballs, `hello-1.2/...`), that directory is the source tree.

use fs_err as fs;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use factory_types::{Fault, HasFault};
use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error(
        "component `{component}`: the tarball `{url}` has sha256 {actual}, but the definition expects {expected}; nothing was unpacked or built. If the new tarball is the one you want (a new upstream release), set `sha256 = \"{actual}\"` in the component's source; otherwise the file changed or was altered on the way: check the URL and where it is served from"
    )]
    DigestMismatch {
        component: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "component `{component}`: the tarball `{url}` is a relative path, but the definition has no directory to resolve it against; give an absolute path or a file:// or http(s):// URL"
    )]
    NoBase { component: String, url: String },
    /// The tarball cannot be had as named (a missing file, a refused URL, HTTP 404).
    #[error("component `{component}`: cannot fetch the tarball `{url}`: {reason}")]
    Fetch {
        component: String,
        url: String,
        reason: String,
    },
    /// The server could not be reached or failed to answer (network, HTTP 5xx): it may
    /// answer later.
    #[error("component `{component}`: cannot fetch the tarball `{url}`: {reason}")]
    Unreachable {
        component: String,
        url: String,
        reason: String,
    },
    #[error(
        "component `{component}`: the tarball `{url}` cannot be unpacked: entry `{entry}` {reason}; such an archive is refused whole (nothing of it is kept)"
    )]
    Unsafe {
        component: String,
        url: String,
        entry: String,
        reason: String,
    },
    #[error(
        "component `{component}`: the tarball `{url}` is not a readable (compressed) tar archive: {source}"
    )]
    Unpack {
        component: String,
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where a tarball comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file on this machine (a plain path, or a `file://` URL).
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Http(String),
}

impl Location {
    /// Reads a definition's `url`: `http(s)://`, `file://` (absolute path),
    /// an absolute path, or a path relative to `base` (the definition directory).
    pub fn parse(component: &str, url: &str, base: Option<&Path>) -> Result<Self, TarballError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Location::Http(url.to_owned()));
        }
        if lower.starts_with("file://") {
            let path = &url["file://".len()..];
            // `file://localhost/x` names the same file as `file:///x`.
            let path = path.strip_prefix("localhost").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(TarballError::Fetch {
                    component: component.to_owned(),
                    url: url.to_owned(),
                    reason: "a file:// URL needs an absolute path (file:///dir/name.tar.gz)".into(),
                });
            }
            return Ok(Location::File(PathBuf::from(percent_decode(path))));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(TarballError::Fetch {
                component: component.to_owned(),
                url: url.to_owned(),
                reason: format!(
                    "the scheme `{scheme}` is not supported; use http://, https://, file:// or a path relative to the definition"
                ),
            });
        }
        let path = Path::new(url);
        if path.is_absolute() {
            return Ok(Location::File(path.to_owned()));
        }
        match base {
            Some(base) => Ok(Location::File(base.join(path))),
            None => Err(TarballError::NoBase {
                component: component.to_owned(),
                url: url.to_owned(),
            }),
        }
    }
}

/// `%XX` escapes of a URL path, decoded (bytes that are not an escape stay as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The unpacked tree of the tarball `url` whose sha256 must be `sha256`,
/// below `cache` (one directory per digest; fetched and unpacked at most once).
/// `component` names the component in errors; `base` resolves relative paths.
pub fn fetch(
    component: &str,
    url: &str,
    sha256: &str,
    base: Option<&Path>,
    cache: &Path,
) -> Result<PathBuf, TarballError> {
    let expected = sha256.to_ascii_lowercase();
    let dir = cache.join(&expected);
    if dir.is_dir() {
        return Ok(dir);
    }
    let location = Location::parse(component, url, base)?;
    fs::create_dir_all(cache).map_err(io_err("creating", cache))?;
    let temp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(cache)
        .map_err(io_err("creating a directory in", cache))?;
    let archive = temp.path().join("archive");
    let fetch_err = |reason: String| TarballError::Fetch {
        component: component.to_owned(),
        url: url.to_owned(),
        reason,
    };
    let actual = match &location {
        Location::File(path) => {
            let file = fs::File::open(path)
                .map_err(|e| fetch_err(format!("cannot read `{}`: {e}", path.display())))?;
            copy_hashing(file, &archive).map_err(|e| match e {
                CopyError::Read(e) => fetch_err(format!("reading `{}`: {e}", path.display())),
                CopyError::Write(e) => io_err("writing", &archive)(e),
            })?
        }
        Location::Http(url) => {
            let unreachable = |reason: String| TarballError::Unreachable {
                component: component.to_owned(),
                url: url.to_owned(),
                reason,
            };
            let response = ureq::get(url).call().map_err(|e| match http_reason(e) {
                (reason, true) => unreachable(reason),
                (reason, false) => fetch_err(reason),
            })?;
            let body = response.into_body().into_reader();
            copy_hashing(body, &archive).map_err(|e| match e {
                CopyError::Read(e) => unreachable(format!("the download broke off: {e}")),
                CopyError::Write(e) => io_err("writing", &archive)(e),
            })?
        }
    };
    verify(component, url, &expected, &actual)?;
    let raw = temp.path().join("tree");
    let file = fs::File::open(&archive).map_err(io_err("reading", &archive))?;
    let tree = unpack(file, &raw).map_err(|e| match e {
        UnpackError::Unsafe { entry, reason } => TarballError::Unsafe {
            component: component.to_owned(),
            url: url.to_owned(),
            entry,
            reason,
        },
        UnpackError::Read(source) => TarballError::Unpack {
            component: component.to_owned(),
            url: url.to_owned(),
            source,
        },
        UnpackError::Io {
            action,
            path,
            source,
        } => TarballError::Io {
            action,
            path,
            source,
        },
    })?;
    if let Err(e) = fs::rename(&tree, &dir)
        && !dir.is_dir()
    {
        return Err(io_err("moving the unpacked tarball to", &dir)(e));
    }
    Ok(dir)
}

/// Checks a fetched tarball's digest against the definition's, before anything is unpacked.
pub fn verify(
    component: &str,
    url: &str,
    expected: &str,
    actual: &str,
) -> Result<(), TarballError> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(TarballError::DigestMismatch {
            component: component.to_owned(),
            url: url.to_owned(),
            expected: expected.to_ascii_lowercase(),
            actual: actual.to_ascii_lowercase(),
        })
    }
}

/// What went wrong, and whether it may go right later: a server error (5xx), a request
/// timeout or too many requests may; another answer (404, 403) will not.
fn http_reason(error: ureq::Error) -> (String, bool) {
    match error {
        ureq::Error::StatusCode(code) => {
            let transient = code >= 500 || code == 408 || code == 429;
            let hint = if transient {
                "the server may answer later"
            } else {
                "check the URL"
            };
            (
                format!("the server answered HTTP {code}; {hint}"),
                transient,
            )
        }
        other => (
            format!("{other}; check the URL and that the server is reachable"),
            true,
        ),
    }
}

impl HasFault for TarballError {
    /// A wrong digest, path or archive is the definition's to fix; the network and the
    /// disk are the environment's.
    fn fault(&self) -> Fault {
        match self {
            TarballError::Unreachable { .. } | TarballError::Io { .. } => Fault::Environment,
            TarballError::DigestMismatch { .. }
            | TarballError::NoBase { .. }
            | TarballError::Fetch { .. }
            | TarballError::Unsafe { .. }
            | TarballError::Unpack { .. } => Fault::Input,
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TarballError {
    let path = path.to_path_buf();
    move |source| TarballError::Io {
        action,
        path,
        source,
    }
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` into a new file `to`, returning the sha256 (lowercase hex) of what was copied.
fn copy_hashing(mut from: impl Read, to: &Path) -> Result<String, CopyError> {
    let mut file = fs::File::create(to).map_err(CopyError::Write)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(CopyError::Write)?;
    }
    file.sync_all().map_err(CopyError::Write)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The sha256 (lowercase hex) of a file.
pub fn sha256_of_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Why an archive could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("entry `{entry}` {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("not a readable (compressed) tar archive: {0}")]
    Read(#[source] io::Error),
    #[error("{action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A reader that decompresses gzip, xz, zstd or bzip2 (recognised by their
/// magic bytes) and passes anything else through as a plain tar.
pub fn decompressed(reader: impl Read + 'static) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::new(reader);
    let head = {
        use io::BufRead as _;
        reader.fill_buf()?.to_vec()
    };
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(ruzstd::decoding::StreamingDecoder::new(reader).map_err(io::Error::other)?)
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Unpacks the (possibly compressed) tar archive read from `reader` into
/// `dest` (created; must not exist), refusing every entry that could write or
/// point outside the tree. Returns the tree: `dest`, or its only entry when
/// that is a directory.
pub fn unpack(reader: impl Read + 'static, dest: &Path) -> Result<PathBuf, UnpackError> {
    fs::create_dir(dest).map_err(unpack_io("creating", dest))?;
    let mut archive = tar::Archive::new(decompressed(reader).map_err(UnpackError::Read)?);
    let mut symlinks = Vec::new();
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw_path = entry.path().map_err(UnpackError::Read)?.into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        }
        let Some(place) = Place::of(dest, &raw_path)? else {
            continue;
        };
        if let Some(link) = place.unpack(&mut entry, kind, dest)? {
            symlinks.push(link);
        }
    }
    let top = single_top_directory(dest).map_err(unpack_io("reading", dest))?;
    let root = top
        .as_ref()
        .map_or(dest.to_path_buf(), |top| dest.join(top));
    // Links may point at each other, so each is resolved once all are in
    // place, and against the tree as it will be used (top directory stripped).
    for (shown, relative) in symlinks {
        let within = match &top {
            Some(top) => relative.strip_prefix(top).unwrap_or(&relative),
            None => &relative,
        };
        if let Err(reason) = resolves_inside(&root, within) {
            return Err(UnpackError::Unsafe {
                entry: shown,
                reason,
            });
        }
    }
    Ok(root)
}

fn unpack_io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> UnpackError {
    let path = path.to_path_buf();
    move |source| UnpackError::Io {
        action,
        path,
        source,
    }
}

/// Where one entry of the archive goes, and what is there already.
struct Place {
    /// The entry's path as the archive names it (for errors).
    shown: String,
    relative: PathBuf,
    target: PathBuf,
    existing: Option<std::fs::Metadata>,
}

impl Place {
    /// `None` for the archive's `./` itself.
    fn of(dest: &Path, raw_path: &Path) -> Result<Option<Place>, UnpackError> {
        let shown = raw_path.display().to_string();
        let refuse = |reason: &str| UnpackError::Unsafe {
            entry: shown.clone(),
            reason: reason.to_owned(),
        };
        let relative = safe_relative(raw_path).map_err(refuse)?;
        if relative.as_os_str().is_empty() {
            return Ok(None);
        }
        if let Some(parent) = relative.parent() {
            ensure_no_link_on_the_way(dest, parent).map_err(|reason| refuse(&reason))?;
            let dir = dest.join(parent);
            fs::create_dir_all(&dir).map_err(unpack_io("creating", &dir))?;
        }
        let target = dest.join(&relative);
        let existing = fs::symlink_metadata(&target).ok();
        Ok(Some(Place {
            shown,
            relative,
            target,
            existing,
        }))
    }

    fn refuse(&self, reason: &str) -> UnpackError {
        UnpackError::Unsafe {
            entry: self.shown.clone(),
            reason: reason.to_owned(),
        }
    }

    fn is_dir(&self) -> bool {
        self.existing.as_ref().is_some_and(|m| m.is_dir())
    }

    /// A later entry replaces an earlier one, but never by writing through it.
    fn clear(&self) -> Result<(), UnpackError> {
        match &self.existing {
            Some(m) if !m.is_dir() => {
                fs::remove_file(&self.target).map_err(unpack_io("replacing", &self.target))
            }
            _ => Ok(()),
        }
    }

    /// Writes the entry. Returns a symbolic link made, to be checked once all are in place.
    fn unpack<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        kind: tar::EntryType,
        dest: &Path,
    ) -> Result<Option<(String, PathBuf)>, UnpackError> {
        match kind {
            tar::EntryType::Directory => {
                if self.existing.is_some() && !self.is_dir() {
                    self.clear()?;
                }
                fs::create_dir_all(&self.target).map_err(unpack_io("creating", &self.target))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.write_file(entry)?;
            }
            tar::EntryType::Symlink => {
                self.write_symlink(entry)?;
                return Ok(Some((self.shown.clone(), self.relative.clone())));
            }
            tar::EntryType::Link => self.write_hard_link(entry, dest)?,
            other => {
                return Err(self.refuse(&format!(
                    "is of a type a source tree cannot hold ({other:?}: a device or a pipe)"
                )));
            }
        }
        Ok(None)
    }

    fn write_file<R: Read>(&self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        if self.is_dir() {
            return Err(self.refuse("is a file where the archive already has a directory"));
        }
        self.clear()?;
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.target)
            .map_err(unpack_io("creating", &self.target))?;
        io::copy(entry, &mut file).map_err(UnpackError::Read)?;
        set_mode(&self.target, if mode & 0o111 != 0 { 0o755 } else { 0o644 })
            .map_err(unpack_io("setting the mode of", &self.target))
    }

    fn write_symlink<R: Read>(&self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        let link = entry
            .link_name()
            .map_err(UnpackError::Read)?
            .ok_or_else(|| self.refuse("is a symbolic link without a target"))?
            .into_owned();
        if link.is_absolute() {
            return Err(self.refuse(&format!(
                "is a symbolic link to the absolute path `{}`",
                link.display()
            )));
        }
        if self.is_dir() {
            return Err(self.refuse("is a link where the archive already has a directory"));
        }
        self.clear()?;
        fs_err::os::unix::fs::symlink(&link, &self.target)
            .map_err(unpack_io("linking", &self.target))
    }

    fn write_hard_link<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        dest: &Path,
    ) -> Result<(), UnpackError> {
        let link = entry
            .link_name()
            .map_err(UnpackError::Read)?
            .ok_or_else(|| self.refuse("is a hard link without a target"))?
            .into_owned();
        let link_rel = safe_relative(&link).map_err(|reason| {
            self.refuse(&format!(
                "is a hard link to `{}`, which {reason}",
                link.display()
            ))
        })?;
        if let Some(parent) = link_rel.parent() {
            ensure_no_link_on_the_way(dest, parent)
                .map_err(|reason| self.refuse(&format!("is a hard link that {reason}")))?;
        }
        let source = dest.join(&link_rel);
        if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
            return Err(self.refuse(&format!(
                "is a hard link to `{}`, which is not a file unpacked before it",
                link.display()
            )));
        }
        if self.is_dir() {
            return Err(self.refuse("is a link where the archive already has a directory"));
        }
        self.clear()?;
        fs::hard_link(&source, &self.target).map_err(unpack_io("linking", &self.target))
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// An entry's path with `.` removed, or why it is refused.
fn safe_relative(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("climbs out of the archive with `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    Ok(out)
}

/// Refuses a directory path below `root` that passes through a symbolic link.
fn ensure_no_link_on_the_way(root: &Path, relative: &Path) -> Result<(), String> {
    let mut at = root.to_path_buf();
    for part in relative.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "lies below the symbolic link `{}`",
                    at.strip_prefix(root).unwrap_or(&at).display()
                ));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Whether the symbolic link at `relative` (below `root`) resolves, through
/// any chain of links inside the tree, to a place inside `root`.
fn resolves_inside(root: &Path, relative: &Path) -> Result<(), String> {
    // The path being resolved, as components below root.
    let mut at: Vec<std::ffi::OsString> = relative
        .parent()
        .map(|p| p.iter().map(ToOwned::to_owned).collect())
        .unwrap_or_default();
    // A later entry of the same name may have replaced the link: then there is nothing to check.
    let Ok(link) = fs::read_link(root.join(relative)) else {
        return Ok(());
    };
    let mut pending: Vec<std::ffi::OsString> = link.iter().rev().map(ToOwned::to_owned).collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == "." {
            continue;
        }
        if part == ".." {
            if at.pop().is_none() {
                return Err(format!(
                    "is a symbolic link to `{}`, which points outside the archive",
                    link.display()
                ));
            }
            continue;
        }
        if part == "/" {
            return Err(format!(
                "is a symbolic link that reaches the absolute path `{}`",
                link.display()
            ));
        }
        at.push(part);
        let here: PathBuf = at.iter().collect();
        if let Ok(next) = fs::read_link(root.join(&here)) {
            hops += 1;
            if hops > 40 {
                return Err("is a symbolic link in a loop of links".into());
            }
            if next.is_absolute() {
                return Err(format!(
                    "is a symbolic link to `{}`, which leads through `{}` to an absolute path",
                    link.display(),
                    here.display()
                ));
            }
            at.pop();
            pending.extend(next.iter().rev().map(ToOwned::to_owned));
        }
    }
    Ok(())
}

/// The name of the one top-level directory of an unpacked tree, when it has
/// exactly one entry and that is a directory (not a link).
fn single_top_directory(raw: &Path) -> io::Result<Option<PathBuf>> {
    let mut entries = fs::read_dir(raw)?.collect::<Result<Vec<_>, _>>()?;
    if entries.len() != 1 {
        return Ok(None);
    }
    let entry = entries.remove(0);
    Ok(entry
        .file_type()?
        .is_dir()
        .then(|| PathBuf::from(entry.file_name())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar archive (uncompressed) built entry by entry, so tests can write what `tar` refuses to.
    fn archive(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_mtime(0);
            // set_path refuses `..`; write the name field directly, as a hostile archive would.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let link = &mut header.as_old_mut().linkname;
                    link[..content.len()].copy_from_slice(content.as_bytes());
                    header.set_size(0);
                    header.set_cksum();
                    builder.append(&header, io::empty()).unwrap();
                }
                _ => {
                    header.set_size(content.len() as u64);
                    header.set_cksum();
                    builder.append(&header, content.as_bytes()).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    fn unpack_bytes(bytes: Vec<u8>) -> (tempfile::TempDir, Result<PathBuf, UnpackError>) {
        let dir = tempfile::tempdir().unwrap();
        let result = unpack(io::Cursor::new(bytes), &dir.path().join("tree"));
        (dir, result)
    }

    fn refused(bytes: Vec<u8>) -> String {
        match unpack_bytes(bytes).1 {
            Err(UnpackError::Unsafe { entry, reason }) => format!("{entry}: {reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    use tar::EntryType::{Directory, Link, Regular, Symlink};

    #[test]
    fn a_plain_archive_unpacks_with_links_inside_the_tree() {
        let (dir, result) = unpack_bytes(archive(&[
            ("pkg-1.0/", Directory, ""),
            ("pkg-1.0/src/main.c", Regular, "int main;\n"),
            ("pkg-1.0/README", Symlink, "src/main.c"),
            ("pkg-1.0/src/again.c", Link, "pkg-1.0/src/main.c"),
            ("pkg-1.0/src/up", Symlink, "../README"),
        ]));
        let tree = result.unwrap();
        assert_eq!(tree, dir.path().join("tree/pkg-1.0"));
        assert_eq!(
            fs::read_to_string(tree.join("README")).unwrap(),
            "int main;\n"
        );
        assert_eq!(
            fs::read_to_string(tree.join("src/again.c")).unwrap(),
            "int main;\n"
        );
        assert_eq!(
            fs::read_to_string(tree.join("src/up")).unwrap(),
            "int main;\n"
        );
    }

    #[test]
    fn parent_components_and_absolute_paths_are_refused() {
        let why = refused(archive(&[("../evil", Regular, "x")]));
        assert!(why.contains("`..`"), "{why}");
        let why = refused(archive(&[("pkg/../../evil", Regular, "x")]));
        assert!(why.contains("`..`"), "{why}");
        let why = refused(archive(&[("/tmp/evil", Regular, "x")]));
        assert!(why.contains("absolute path"), "{why}");
    }

    #[test]
    fn links_that_escape_the_tree_are_refused() {
        let why = refused(archive(&[("pkg/etc", Symlink, "/etc")]));
        assert!(why.contains("absolute path `/etc`"), "{why}");
        let why = refused(archive(&[("pkg/out", Symlink, "../../outside")]));
        assert!(why.contains("points outside"), "{why}");
        // Inside the archive but outside the tree once `pkg/` is stripped.
        let why = refused(archive(&[("pkg/sub/a", Symlink, "../..")]));
        assert!(why.contains("points outside"), "{why}");
        // A chain: each link stays inside on its own, `b` leaves through `a`.
        let why = refused(archive(&[
            ("pkg/sub/a", Symlink, ".."),
            ("pkg/b", Symlink, "sub/a/.."),
        ]));
        assert!(why.contains("`sub/a/..`, which points outside"), "{why}");
        let why = refused(archive(&[("pkg/hard", Link, "../../etc/passwd")]));
        assert!(why.contains("hard link"), "{why}");
        let why = refused(archive(&[("pkg/hard", Link, "/etc/passwd")]));
        assert!(why.contains("absolute path"), "{why}");
    }

    #[test]
    fn nothing_is_written_through_a_link() {
        // A link inside the tree, then a file below it: refused even though the link stays inside.
        let why = refused(archive(&[
            ("pkg/dir/", Directory, ""),
            ("pkg/l", Symlink, "dir"),
            ("pkg/l/file", Regular, "x"),
        ]));
        assert!(why.contains("below the symbolic link `pkg/l`"), "{why}");
        // A file replacing a link replaces the link, it does not write to where it points.
        let (_dir, result) = unpack_bytes(archive(&[
            ("pkg/target", Regular, "original\n"),
            ("pkg/l", Symlink, "target"),
            ("pkg/l", Regular, "replacement\n"),
        ]));
        let tree = result.unwrap();
        assert_eq!(
            fs::read_to_string(tree.join("target")).unwrap(),
            "original\n"
        );
        assert_eq!(fs::read_to_string(tree.join("l")).unwrap(), "replacement\n");
        assert!(!fs::symlink_metadata(tree.join("l")).unwrap().is_symlink());
    }

    #[test]
    fn garbage_is_an_unreadable_archive_not_a_panic() {
        let (_dir, result) = unpack_bytes(b"\x1f\x8bthis is not gzip at all".to_vec());
        assert!(matches!(result, Err(UnpackError::Read(_))), "{result:?}");
    }

    #[test]
    fn every_compression_is_recognised() {
        let tar = archive(&[("p/a.txt", Regular, "hello\n")]);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let xz = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let bz2 = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        for (name, bytes) in [("tar", tar.clone()), ("gz", gz), ("xz", xz), ("bz2", bz2)] {
            let (dir, result) = unpack_bytes(bytes);
            let tree = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(tree, dir.path().join("tree/p"), "{name}");
            assert_eq!(
                fs::read_to_string(tree.join("a.txt")).unwrap(),
                "hello\n",
                "{name}"
            );
        }
    }

    fn write_archive(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, String) {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        let sha = sha256_of_file(&path).unwrap();
        (path, sha)
    }

    #[test]
    fn a_wrong_digest_is_refused_before_anything_is_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let (_, sha) = write_archive(dir.path(), "p.tar", &archive(&[("p/a", Regular, "a")]));
        let wrong = "0".repeat(64);
        let cache = dir.path().join("cache");
        let error = fetch("hello", "p.tar", &wrong, Some(dir.path()), &cache).unwrap_err();
        let text = error.to_string();
        for needle in [
            "component `hello`",
            "`p.tar`",
            &wrong,
            &sha,
            "set `sha256 = ",
        ] {
            assert!(text.contains(needle), "`{needle}` missing from: {text}");
        }
        // No tree and no leftover temporary directory.
        assert_eq!(fs::read_dir(&cache).unwrap().count(), 0);
        // The digest is checked first: a hostile archive with a wrong digest
        // is reported as a mismatch, never opened.
        write_archive(
            dir.path(),
            "evil.tar",
            &archive(&[("../evil", Regular, "x")]),
        );
        let error = fetch("hello", "evil.tar", &wrong, Some(dir.path()), &cache).unwrap_err();
        assert!(
            matches!(error, TarballError::DigestMismatch { .. }),
            "{error}"
        );
    }

    #[test]
    fn the_top_directory_is_stripped_only_when_it_is_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (_, one) = write_archive(
            dir.path(),
            "one.tar",
            &archive(&[("pkg-1/a.txt", Regular, "a")]),
        );
        let tree = fetch("c", "one.tar", &one, Some(dir.path()), &cache).unwrap();
        assert_eq!(tree, cache.join(&one));
        assert_eq!(fs::read_to_string(tree.join("a.txt")).unwrap(), "a");
        let (_, two) = write_archive(
            dir.path(),
            "two.tar",
            &archive(&[("x/a.txt", Regular, "a"), ("b.txt", Regular, "b")]),
        );
        let tree = fetch("c", "two.tar", &two, Some(dir.path()), &cache).unwrap();
        assert!(tree.join("x/a.txt").is_file() && tree.join("b.txt").is_file());
        // Cached: the archive may vanish once it was unpacked.
        fs::remove_file(dir.path().join("two.tar")).unwrap();
        let url = format!("file://{}", dir.path().join("two.tar").display());
        assert_eq!(fetch("c", &url, &two, None, &cache).unwrap(), tree);
    }

    #[test]
    fn locations() {
        let base = Path::new("/defs/d");
        assert_eq!(
            Location::parse("c", "tarballs/a.tar.gz", Some(base)).unwrap(),
            Location::File("/defs/d/tarballs/a.tar.gz".into())
        );
        assert_eq!(
            Location::parse("c", "file:///srv/a%20b.tar", None).unwrap(),
            Location::File("/srv/a b.tar".into())
        );
        assert_eq!(
            Location::parse("c", "HTTPS://example.org/a.tar", None).unwrap(),
            Location::Http("HTTPS://example.org/a.tar".into())
        );
        let error = Location::parse("c", "ftp://example.org/a.tar", None).unwrap_err();
        assert!(
            error.to_string().contains("`ftp` is not supported"),
            "{error}"
        );
        assert!(matches!(
            Location::parse("c", "a.tar", None),
            Err(TarballError::NoBase { .. })
        ));
    }
}
