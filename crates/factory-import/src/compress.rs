//! Reading index files as apt stores them: plain, gzip, xz, lz4 or zstd.
//!
//! The format is recognised by its magic bytes, never by the file name: apt
//! keeps lists under names that do not always tell, and a renamed file must
//! still load.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use crate::error::ImportError;

/// A compression format recognised by its leading magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Xz,
    Lz4,
    Zstd,
    Bzip2,
}

impl Compression {
    /// Recognises the format from the first bytes of a file.
    pub fn detect(bytes: &[u8]) -> Self {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Self::Xz
        } else if bytes.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Self::Lz4
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else if bytes.starts_with(b"BZh") {
            Self::Bzip2
        } else {
            Self::Plain
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Gzip => "gzip",
            Self::Xz => "xz",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
            Self::Bzip2 => "bzip2",
        }
    }
}

const DAMAGED_HINT: &str = "the file is truncated or corrupt: download it again (apt-get update) \
     or check it with the format's own tool (gzip -t, xz -t, lz4 -t, zstd -t)";

/// Reads a file fully and returns its decompressed bytes.
pub fn read_decompressed(path: &Path) -> Result<Vec<u8>, ImportError> {
    let raw = fs_err::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decompress(path, raw)
}

/// Decompresses bytes already in memory; `path` is only used in errors.
/// Plain input is returned as is, without a copy.
pub fn decompress(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, ImportError> {
    let format = Compression::detect(&raw);
    // Index files compress 3-5x; reserving that avoids repeated regrowth.
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    let result = match format {
        Compression::Plain => return Ok(raw),
        Compression::Gzip => flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out),
        Compression::Xz => {
            liblzma::read::XzDecoder::new_multi_decoder(&raw[..]).read_to_end(&mut out)
        }
        Compression::Lz4 => lz4_frames_complete(&raw)
            .and_then(|()| lz4_flex::frame::FrameDecoder::new(&raw[..]).read_to_end(&mut out)),
        Compression::Zstd => zstd_frames(&raw, &mut out),
        Compression::Bzip2 => {
            return Err(ImportError::Decompress {
                path: path.to_path_buf(),
                format: format.name(),
                detail: "bzip2 is not supported".to_string(),
                hint: "decompress it first (bunzip2) or point at the .xz/.gz/.lz4 index apt keeps",
            });
        }
    };
    match result {
        Ok(_) => Ok(out),
        Err(error) => Err(ImportError::Decompress {
            path: path.to_path_buf(),
            format: format.name(),
            detail: describe_io_error(&error),
            hint: DAMAGED_HINT,
        }),
    }
}

/// Walks the lz4 frame structure and fails when a frame lacks its end
/// mark. The decoder takes the end of input after any whole block for the
/// end of the stream, so an index cut at a block boundary would otherwise
/// load as a silently shorter index.
fn lz4_frames_complete(raw: &[u8]) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let truncated = || {
        Error::new(
            ErrorKind::UnexpectedEof,
            "lz4 frame ends before its end mark",
        )
    };
    let u32_at = |at: usize| -> std::io::Result<u32> {
        let bytes = raw.get(at..at + 4).ok_or_else(truncated)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let mut at = 0;
    while at < raw.len() {
        let magic = u32_at(at)?;
        if magic & 0xffff_fff0 == 0x184d_2a50 {
            // A skippable frame: magic, length, payload.
            at += 8 + u32_at(at + 4)? as usize;
            continue;
        }
        if magic != 0x184d_2204 {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!("no lz4 frame magic at byte {at}"),
            ));
        }
        let flags = *raw.get(at + 4).ok_or_else(truncated)?;
        let (block_checksum, content_size, content_checksum, dictionary) = (
            flags & 0x10 != 0,
            flags & 0x08 != 0,
            flags & 0x04 != 0,
            flags & 0x01 != 0,
        );
        at += 4 + 2 + 1 + if content_size { 8 } else { 0 } + if dictionary { 4 } else { 0 };
        loop {
            let size = u32_at(at)?;
            at += 4;
            if size == 0 {
                break;
            }
            at += (size & 0x7fff_ffff) as usize + if block_checksum { 4 } else { 0 };
        }
        at += if content_checksum { 4 } else { 0 };
        if at > raw.len() {
            return Err(truncated());
        }
    }
    Ok(())
}

/// Decodes concatenated zstd frames, checking each frame's end and its
/// content checksum (the decoder computes it but leaves the check to us).
fn zstd_frames(raw: &[u8], out: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::io::{Error, ErrorKind};
    let mut input = raw;
    while !input.is_empty() {
        let mut decoder =
            ruzstd::decoding::StreamingDecoder::new(&mut input).map_err(Error::other)?;
        decoder.read_to_end(out)?;
        let frame = decoder.into_frame_decoder();
        if !frame.is_finished() {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "zstd frame ends early",
            ));
        }
        if let (Some(stored), Some(computed)) = (
            frame.get_checksum_from_data(),
            frame.get_calculated_checksum(),
        ) && stored != computed
        {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "zstd content checksum mismatch",
            ));
        }
    }
    Ok(out.len())
}

fn describe_io_error(error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("stream ends early (truncated): {error}")
    } else {
        format!("garbled data: {error}")
    }
}

/// Validates UTF-8; the error names the first bad byte's line, column and
/// byte offset so the user can look at it with a hex viewer.
pub fn to_utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, ImportError> {
    to_utf8_at(path, bytes, 0, 1)
}

/// [`to_utf8`] for a piece of a file that starts at byte `offset` and
/// line `line` of the whole file.
fn to_utf8_at<'a>(
    path: &Path,
    bytes: &'a [u8],
    offset: usize,
    line: usize,
) -> Result<&'a str, ImportError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let bad = error.valid_up_to();
        let before = &bytes[..bad];
        let line = line + memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        // The prefix is valid UTF-8, so counting chars gives a real column.
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        ImportError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            column,
            offset: offset + bad,
            hint: "Debian indexes are UTF-8; the file is corrupt or not an index \
                   (check it with `iconv -f utf-8 -t utf-8`)",
        }
    })
}

/// How much decompressed text is parsed at a time. Streaming in pieces
/// keeps the whole text (50 MB per index) out of memory: the buffer stays
/// in cache and is never faulted in again.
const CHUNK: usize = 2 << 20;

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens a file as a stream of decompressed bytes, the format recognised
/// by its magic bytes. gzip, xz and plain files stream from disk; lz4 and
/// zstd are read whole first, to check their framing (see
/// [`lz4_frames_complete`] and [`zstd_frames`]).
fn open_decompressed(path: &Path) -> Result<(Compression, Box<dyn Read>), ImportError> {
    let file = fs_err::File::open(path).map_err(io_error(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let format = Compression::detect(reader.fill_buf().map_err(io_error(path))?);
    let stream: Box<dyn Read> = match format {
        Compression::Plain => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader)),
        Compression::Lz4 => {
            let mut raw = Vec::new();
            reader.read_to_end(&mut raw).map_err(io_error(path))?;
            lz4_frames_complete(&raw).map_err(|error| damaged(path, format, &error))?;
            Box::new(lz4_flex::frame::FrameDecoder::new(Cursor::new(raw)))
        }
        Compression::Zstd | Compression::Bzip2 => {
            let mut raw = Vec::new();
            reader.read_to_end(&mut raw).map_err(io_error(path))?;
            Box::new(Cursor::new(decompress(path, raw)?))
        }
    };
    Ok((format, stream))
}

fn damaged(path: &Path, format: Compression, error: &std::io::Error) -> ImportError {
    ImportError::Decompress {
        path: path.to_path_buf(),
        format: format.name(),
        detail: describe_io_error(error),
        hint: DAMAGED_HINT,
    }
}

/// Streams a (possibly compressed) deb822 file through `parse` in pieces
/// that end at paragraph boundaries (an empty line). `parse` gets each
/// piece, validated as UTF-8, with the file line it starts at.
pub fn for_each_paragraph_chunk(
    path: &Path,
    mut parse: impl FnMut(&str, usize) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let (format, mut stream) = open_decompressed(path)?;
    let read_error = |error: std::io::Error| match format {
        Compression::Plain => ImportError::Io {
            path: path.to_path_buf(),
            source: error,
        },
        _ => damaged(path, format, &error),
    };
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 2);
    let (mut line, mut offset, mut want, mut at_end) = (1, 0, CHUNK, false);
    loop {
        if !at_end && buffer.len() < want {
            let missing = (want - buffer.len()) as u64;
            let got = (&mut stream)
                .take(missing)
                .read_to_end(&mut buffer)
                .map_err(read_error)?;
            at_end = (got as u64) < missing;
        }
        let cut = if at_end {
            buffer.len()
        } else {
            match memchr::memmem::rfind(&buffer, b"\n\n") {
                Some(blank) => blank + 2,
                None => {
                    // One paragraph longer than the buffer: read more.
                    want *= 2;
                    continue;
                }
            }
        };
        let text = to_utf8_at(path, &buffer[..cut], offset, line)?;
        parse(text, line)?;
        if at_end {
            return Ok(());
        }
        line += memchr::memchr_iter(b'\n', &buffer[..cut]).count();
        offset += cut;
        buffer.drain(..cut);
        want = CHUNK.max(buffer.len() + CHUNK / 2);
    }
}

/// Reads, decompresses and validates a text file, then hands it to `parse`.
/// The decompressed text is dropped before returning so peak memory stays at
/// one file's text plus the parsed records.
pub fn with_text<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    let bytes = read_decompressed(path)?;
    let text = to_utf8(path, &bytes)?;
    parse(text)
}
