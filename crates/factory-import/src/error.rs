//! The one error type of the importers.
//!
//! Every variant names the file it is about; syntax errors also carry the
//! 1-based line and column, what was expected, what was found, and a hint
//! that tells the user what to do.

use std::path::{Path, PathBuf};

/// Why an import failed. Nothing is partially imported: callers get either
/// all records of a file or this error.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read at all.
    #[error("{}: cannot read", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A compressed stream is truncated or garbled.
    #[error("{}: damaged {format} stream: {detail}\n  hint: {hint}", path.display())]
    Decompress {
        path: PathBuf,
        format: &'static str,
        detail: String,
        hint: &'static str,
    },

    /// The (decompressed) bytes are not UTF-8.
    #[error(
        "{}:{line}:{column}: invalid UTF-8 at byte offset {offset}\n  hint: {hint}",
        path.display()
    )]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
        offset: usize,
        hint: &'static str,
    },

    /// The text does not follow the format at a precise place.
    #[error(
        "{}:{line}:{column}: expected {expected}, found {found}\n  hint: {hint}",
        path.display()
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        expected: String,
        found: String,
        hint: String,
    },

    /// An external tool the importer relies on is not installed.
    #[error("{}: `{tool}` is not installed\n  hint: {hint}", path.display())]
    ToolMissing {
        path: PathBuf,
        tool: &'static str,
        hint: &'static str,
    },

    /// An external tool ran but rejected the input.
    #[error("{}: `{tool}` failed ({status}):\n{stderr}\n  hint: {hint}", path.display())]
    ToolFailed {
        path: PathBuf,
        tool: &'static str,
        status: String,
        stderr: String,
        hint: &'static str,
    },
}

impl ImportError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Decompress { path, .. }
            | Self::NotUtf8 { path, .. }
            | Self::Syntax { path, .. }
            | Self::ToolMissing { path, .. }
            | Self::ToolFailed { path, .. } => path,
        }
    }

    /// 1-based (line, column) when the error points into the text.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::NotUtf8 { line, column, .. } | Self::Syntax { line, column, .. } => {
                Some((*line, *column))
            }
            _ => None,
        }
    }

    pub(crate) fn syntax(
        path: &Path,
        (line, column): (usize, usize),
        expected: impl Into<String>,
        found: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            expected: expected.into(),
            found: found.into(),
            hint: hint.into(),
        }
    }
}

/// Describes what was found at an error position in a way that stays short
/// and shows invisible characters.
pub(crate) fn describe_found(rest: &str) -> String {
    match rest.chars().next() {
        None => "end of input".to_string(),
        Some('\n') => "end of line".to_string(),
        Some(_) => {
            let token: String = rest.chars().take_while(|c| *c != '\n').take(24).collect();
            format!("{token:?}")
        }
    }
}
