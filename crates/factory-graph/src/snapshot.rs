//! The graph's on-disk form.
//!
//! Written by hand rather than through a serde format because a query must
//! load a whole distribution's graph in a few milliseconds: the arrays are
//! stored as raw little-endian `u32` runs that decode with one pass, and the
//! names as one string blob. A CRC-32 trailer catches truncation and
//! corruption (a cryptographic hash would cost more than the rest of a
//! query and guards against nothing a local file faces); the arrays are then checked for consistency so that a bad
//! file gives an error, never a panic or a wrong answer.

use std::io::Write;
use std::path::{Path, PathBuf};


use crate::graph::{Graph, NONE, Strings, Unresolved};
use crate::model::{EdgeKind, NodeKind};
use crate::query::Reverse;

const MAGIC: &[u8; 8] = b"FGRAPH\0\0";
const FORMAT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read the stored graph: {0}")]
    Io(#[from] std::io::Error),
    #[error("{path} is not a Factory graph snapshot (bad magic number); re-run `factory import`")]
    NotASnapshot { path: PathBuf },
    #[error("{path} has snapshot format {found}, this factory reads format {FORMAT_VERSION}; re-run `factory import`")]
    Version { path: PathBuf, found: u32 },
    #[error("{path} is corrupt ({what}); re-run `factory import`")]
    Corrupt { path: PathBuf, what: String },
}

impl Graph {
    /// Writes the graph to `path` atomically: a crash leaves either the old
    /// file or the new one, never a mix.
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let mut body = Vec::with_capacity(self.cands.len() * 4 + self.names.blob.len() * 2);
        put_str(&mut body, &self.target);
        body.extend_from_slice(&self.kinds.len().to_le_bytes()[..4]);
        put_bytes(&mut body, &self.kinds);
        put_strings(&mut body, &self.names);
        put_strings(&mut body, &self.versions);
        for array in [
            &self.built_from,
            &self.node_clauses,
            &self.clause_alts,
            &self.alt_cands,
            &self.cands,
            &self.by_name,
            &self.reverse.start,
            &self.reverse.edges,
        ] {
            put_u32s(&mut body, array);
        }
        put_bytes(&mut body, &self.clause_kind);
        put_u32(&mut body, u32_len(self.unresolved.len()));
        for u in &self.unresolved {
            put_u32(&mut body, u.from);
            body.push(u.kind as u8);
            put_str(&mut body, &u.name);
        }
        let digest = crc32fast::hash(&body).to_le_bytes();
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs_err::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&FORMAT_VERSION.to_le_bytes())?;
        tmp.write_all(&body)?;
        tmp.write_all(&digest)?;
        tmp.as_file().sync_all()?;
        set_readable(tmp.as_file())?;
        tmp.persist(path).map_err(|e| e.error)?;
        fs_err::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Reads a graph written by [`Graph::save`].
    pub fn load(path: &Path) -> Result<Graph, SnapshotError> {
        let bytes = fs_err::read(path)?;
        let corrupt = |what: &str| SnapshotError::Corrupt { path: path.to_owned(), what: what.to_owned() };
        if bytes.len() < 12 + 4 || &bytes[..8] != MAGIC {
            return Err(SnapshotError::NotASnapshot { path: path.to_owned() });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version { path: path.to_owned(), found: version });
        }
        let (body, digest) = bytes[12..].split_at(bytes.len() - 12 - 4);
        if crc32fast::hash(body).to_le_bytes() != digest {
            return Err(corrupt("checksum mismatch: the file was truncated or altered"));
        }
        let mut r = Reader { buf: body, pos: 0 };
        let mut graph = read_graph(&mut r).ok_or_else(|| corrupt("truncated section"))?;
        validate(&graph).map_err(|what| corrupt(&what))?;
        graph.index_products();
        Ok(graph)
    }
}

fn read_graph(r: &mut Reader<'_>) -> Option<Graph> {
    let target = r.string()?;
    let n = r.u32()? as usize;
    let kinds = r.bytes()?.to_vec();
    let names = r.strings()?;
    let versions = r.strings()?;
    let built_from = r.u32s()?;
    let node_clauses = r.u32s()?;
    let clause_alts = r.u32s()?;
    let alt_cands = r.u32s()?;
    let cands = r.u32s()?;
    let by_name = r.u32s()?;
    let reverse = Reverse { start: r.u32s()?, edges: r.u32s()? };
    let clause_kind = r.bytes()?.to_vec();
    let unresolved_count = r.u32()?;
    let mut unresolved = Vec::new();
    for _ in 0..unresolved_count {
        let from = r.u32()?;
        let kind = EdgeKind::from_u8(*r.take(1)?.first()?)?;
        unresolved.push(Unresolved { from, kind, name: r.string()? });
    }
    if kinds.len() != n || r.pos != r.buf.len() {
        return None;
    }
    Some(Graph {
        target,
        kinds,
        names,
        versions,
        built_from,
        node_clauses,
        clause_kind,
        clause_alts,
        alt_cands,
        cands,
        by_name,
        products_start: Vec::new(),
        products: Vec::new(),
        reverse,
        unresolved,
    })
}

/// Every index in range and every offset array monotonic, so that no
/// accessor can panic on a graph that passed.
fn validate(g: &Graph) -> Result<(), String> {
    let n = g.kinds.len();
    let check_offsets = |name: &str, offsets: &[u32], rows: usize, target: usize| -> Result<(), String> {
        if offsets.len() != rows + 1 || offsets[0] != 0 || offsets[rows] as usize != target {
            return Err(format!("{name} offsets have the wrong length or bounds"));
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!("{name} offsets are not ascending"));
        }
        Ok(())
    };
    if g.kinds.iter().any(|&k| NodeKind::from_u8(k).is_none()) {
        return Err("unknown node kind".into());
    }
    if g.clause_kind.iter().any(|&k| EdgeKind::from_u8(k).is_none()) {
        return Err("unknown edge kind".into());
    }
    if g.names.len() != n || g.versions.len() != n || g.built_from.len() != n || g.by_name.len() != n {
        return Err("per-node arrays disagree on the node count".into());
    }
    for strings in [&g.names, &g.versions] {
        let mut prev = 0;
        for &end in &strings.ends {
            if end < prev || end as usize > strings.blob.len() || !strings.blob.is_char_boundary(end as usize) {
                return Err("string table offsets are invalid".into());
            }
            prev = end;
        }
    }
    check_offsets("node", &g.node_clauses, n, g.clause_kind.len())?;
    check_offsets("clause", &g.clause_alts, g.clause_kind.len(), g.alt_cands.len().saturating_sub(1))?;
    check_offsets("alternative", &g.alt_cands, g.alt_cands.len().saturating_sub(1), g.cands.len())?;
    let in_range = |id: u32| (id as usize) < n;
    if !g.cands.iter().all(|&c| in_range(c)) || !g.by_name.iter().all(|&c| in_range(c)) {
        return Err("an edge names a node that does not exist".into());
    }
    check_offsets("reverse", &g.reverse.start, n, g.reverse.edges.len())?;
    if !g.reverse.edges.iter().all(|&c| in_range(c)) {
        return Err("the reverse index names a node that does not exist".into());
    }
    if !g.built_from.iter().all(|&s| s == NONE || in_range(s)) {
        return Err("a binary names a source that does not exist".into());
    }
    if !g.unresolved.iter().all(|u| in_range(u.from)) {
        return Err("an unresolved dependency names a node that does not exist".into());
    }
    Ok(())
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).expect("section larger than 4 GiB")
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, u32_len(bytes.len()));
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    put_u32(out, u32_len(values.len()));
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_strings(out: &mut Vec<u8>, strings: &Strings) {
    put_str(out, &strings.blob);
    put_u32s(out, &strings.ends);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn u32s(&mut self) -> Option<Vec<u32>> {
        let len = self.u32()? as usize;
        let raw = self.take(len.checked_mul(4)?)?;
        Some(raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn strings(&mut self) -> Option<Strings> {
        let blob = self.string()?;
        let ends = self.u32s()?;
        Some(Strings { blob, ends })
    }
}

/// Temporary files are created private; the stored graph is an ordinary
/// store file.
fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}
