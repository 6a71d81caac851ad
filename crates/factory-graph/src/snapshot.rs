//! The graph's on-disk form: the graph's own buffer, as is.
//!
//! Written by hand rather than through a serde format because a query must
//! open a whole distribution's graph in a few milliseconds: the file is a
//! header, the buffer (a section table, then every section as little-endian
//! words, byte sections padded to a word) and a CRC-32. Opening reads the
//! buffer in one go into aligned memory and uses it in place; nothing is
//! decoded element by element. The CRC catches truncation and corruption (a
//! cryptographic hash would cost more than the rest of a query and guards
//! against nothing a local file faces); then every section is checked, so a
//! bad file gives an error, never a panic or a wrong answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::graph::{Body, Graph, NONE, Parts, SECTIONS, Sec, Span, Unresolved};
use crate::model::{EdgeKind, NodeKind};

// The buffer is used in place, so its words must be little-endian in memory.
#[cfg(target_endian = "big")]
compile_error!("the graph snapshot format assumes a little-endian machine");

const MAGIC: &[u8; 8] = b"FGRAPH\0\0";
const FORMAT_VERSION: u32 = 3;
pub(crate) const HEADER: usize = 16;
pub(crate) const TRAILER: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read the stored graph: {0}")]
    Io(#[from] std::io::Error),
    #[error("{path} is not a Factory graph snapshot (bad magic number); re-run `factory import`")]
    NotASnapshot { path: PathBuf },
    #[error(
        "{path} has snapshot format {found}, this factory reads format {FORMAT_VERSION}; re-run `factory import`"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("{path} is corrupt ({what}); re-run `factory import`")]
    Corrupt { path: PathBuf, what: String },
}

pub(crate) fn is_bytes(sec: Sec) -> bool {
    matches!(
        sec,
        Sec::Target
            | Sec::Kinds
            | Sec::NameBlob
            | Sec::VersionBlob
            | Sec::ClauseKind
            | Sec::Unresolved
    )
}

/// One buffer: the section table (word offset and length of each section,
/// in [`Sec::ALL`] order), then the sections.
pub(crate) fn lay_out(mut parts: Parts) -> Vec<u32> {
    let mut body = vec![0u32; SECTIONS * 2];
    for (i, sec) in Sec::ALL.into_iter().enumerate() {
        let word = body.len();
        let len = if is_bytes(sec) {
            let bytes = take(&mut parts.bytes, sec);
            body.extend(bytes.chunks(4).map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            }));
            bytes.len()
        } else {
            let words = take(&mut parts.words, sec);
            body.extend_from_slice(&words);
            words.len()
        };
        body[i * 2] = u32::try_from(word).expect("graph buffer over 16 GiB");
        body[i * 2 + 1] = u32::try_from(len).expect("section over 4 billion entries");
    }
    body
}

fn take<T: Default>(list: &mut [(Sec, T)], sec: Sec) -> T {
    list.iter_mut()
        .find(|(s, _)| *s == sec)
        .map(|(_, v)| std::mem::take(v))
        .unwrap_or_default()
}

pub(crate) fn read_table(body: &[u32]) -> Result<[Span; SECTIONS], String> {
    if body.len() < SECTIONS * 2 {
        return Err("the section table is cut short".into());
    }
    let mut spans = [Span::default(); SECTIONS];
    for (i, sec) in Sec::ALL.into_iter().enumerate() {
        let span = Span {
            word: body[i * 2] as usize,
            len: body[i * 2 + 1] as usize,
        };
        let words = if is_bytes(sec) {
            span.len.div_ceil(4)
        } else {
            span.len
        };
        if span.word < SECTIONS * 2
            || span
                .word
                .checked_add(words)
                .is_none_or(|end| end > body.len())
        {
            return Err(format!("section {sec:?} lies outside the file"));
        }
        spans[i] = span;
    }
    Ok(spans)
}

/// Every index in range and every offset array monotonic, so that no
/// accessor can panic on a graph that passed.
pub(crate) fn validate(g: &Graph) -> Result<(), String> {
    let n = g.node_count();
    let len = |sec: Sec| g.spans[sec as usize].len;
    let offsets = |sec: Sec, rows: usize, target: usize| -> Result<(), String> {
        let o = g.words(sec);
        if o.len() != rows + 1 || o[0] != 0 || o[rows] as usize != target {
            return Err(format!("{sec:?} has the wrong length or bounds"));
        }
        if !ascending(o) {
            return Err(format!("{sec:?} is not ascending"));
        }
        Ok(())
    };
    if g.bytes(Sec::Kinds)
        .iter()
        .any(|&k| NodeKind::from_u8(k).is_none())
    {
        return Err("unknown node kind".into());
    }
    if g.bytes(Sec::ClauseKind)
        .iter()
        .any(|&k| EdgeKind::from_u8(k).is_none())
    {
        return Err("unknown edge kind".into());
    }
    for sec in [Sec::NameEnds, Sec::VersionEnds, Sec::BuiltFrom, Sec::ByName] {
        if len(sec) != n {
            return Err(format!("{sec:?} disagrees on the node count"));
        }
    }
    for (blob, ends) in [
        (Sec::NameBlob, Sec::NameEnds),
        (Sec::VersionBlob, Sec::VersionEnds),
    ] {
        let text =
            std::str::from_utf8(g.bytes(blob)).map_err(|_| format!("{blob:?} is not UTF-8"))?;
        let mut prev = 0;
        for &end in g.words(ends) {
            if end < prev || end as usize > text.len() || !text.is_char_boundary(end as usize) {
                return Err(format!("{ends:?} offsets are invalid"));
            }
            prev = end;
        }
    }
    std::str::from_utf8(g.bytes(Sec::Target)).map_err(|_| "the target is not UTF-8".to_owned())?;
    offsets(Sec::NodeClauses, n, len(Sec::ClauseKind))?;
    offsets(
        Sec::ClauseAlts,
        len(Sec::ClauseKind),
        len(Sec::AltCands).saturating_sub(1),
    )?;
    offsets(
        Sec::AltCands,
        len(Sec::AltCands).saturating_sub(1),
        len(Sec::Cands),
    )?;
    offsets(Sec::RevStart, n, len(Sec::RevEdges))?;
    for sec in [Sec::Cands, Sec::ByName, Sec::RevEdges] {
        if !all_below(g.words(sec), n) {
            return Err(format!("{sec:?} names a node that does not exist"));
        }
    }
    let built_from = g.words(Sec::BuiltFrom);
    if !built_from
        .iter()
        .fold(true, |ok, &s| ok & ((s == NONE) | ((s as usize) < n)))
    {
        return Err("a binary names a source that does not exist".into());
    }
    Ok(())
}

/// These checks run over every stored graph on every query: written as
/// folds without early exits, so that they compile to vector code.
fn all_below(ids: &[u32], n: usize) -> bool {
    ids.iter()
        .copied()
        .reduce(u32::max)
        .is_none_or(|max| (max as usize) < n)
}

fn ascending(offsets: &[u32]) -> bool {
    offsets
        .iter()
        .zip(offsets.iter().skip(1))
        .fold(true, |ok, (a, b)| ok & (a <= b))
}

pub(crate) fn decode_unresolved(mut bytes: &[u8]) -> Result<Vec<Unresolved>, String> {
    let bad = || "the unresolved names are garbled".to_owned();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (from, rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
        let (kind, rest) = rest.split_first().ok_or_else(bad)?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_le_bytes(*len) as usize;
        let name = rest.get(..len).ok_or_else(bad)?;
        out.push(Unresolved {
            from: u32::from_le_bytes(*from),
            kind: EdgeKind::from_u8(*kind).ok_or_else(bad)?,
            name: String::from_utf8(name.to_vec()).map_err(|_| bad())?,
        });
        bytes = &rest[len..];
    }
    Ok(out)
}

impl Graph {
    /// Writes the graph to `path` atomically: a crash leaves either the old
    /// file or the new one, never a mix.
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let body: &[u8] = bytemuck::cast_slice(self.body.words());
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs_err::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&FORMAT_VERSION.to_le_bytes())?;
        tmp.write_all(
            &u32::try_from(self.body.words().len())
                .expect("graph buffer over 16 GiB")
                .to_le_bytes(),
        )?;
        tmp.write_all(body)?;
        tmp.write_all(&crc32fast::hash(body).to_le_bytes())?;
        tmp.as_file().sync_all()?;
        set_readable(tmp.as_file())?;
        tmp.persist(path).map_err(|e| e.error)?;
        fs_err::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Opens a graph written by [`Graph::save`], mapping the file rather
    /// than copying it: a query touches the sections it needs in the page
    /// cache, which keeps it within a few milliseconds.
    pub fn load(path: &Path) -> Result<Graph, SnapshotError> {
        let corrupt = |what: &str| SnapshotError::Corrupt {
            path: path.to_owned(),
            what: what.to_owned(),
        };
        let file = fs_err::File::open(path)?;
        let map = map_file(file.file())?;
        if map.len() < HEADER + TRAILER || &map[..8] != MAGIC {
            return Err(SnapshotError::NotASnapshot {
                path: path.to_owned(),
            });
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version {
                path: path.to_owned(),
                found: version,
            });
        }
        let words = u32::from_le_bytes(map[12..16].try_into().expect("4 bytes")) as usize;
        if words
            .checked_mul(4)
            .and_then(|b| b.checked_add(HEADER + TRAILER))
            != Some(map.len())
        {
            return Err(corrupt(
                "its length does not match its header: the file was truncated or altered",
            ));
        }
        let (body, crc) = map[HEADER..].split_at(words * 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(corrupt(
                "checksum mismatch: the file was truncated or altered",
            ));
        }
        Graph::from_body(Body::Mapped(map)).map_err(|what| corrupt(&what))
    }
}

/// Maps the whole file read-only, populated up front (every page is read
/// by the checksum anyway).
#[allow(unsafe_code)]
fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is only undefined if the file changes while
    // mapped. Factory never writes a stored graph in place: `save` writes a
    // new file and renames it over the old one, so a mapped file keeps its
    // contents for as long as it is mapped. A page-aligned mapping also
    // makes the words after the 16-byte header 4-byte aligned.
    unsafe { memmap2::MmapOptions::new().populate().map(file) }
}

/// Temporary files are created private; the stored graph is an ordinary
/// store file.
fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}
