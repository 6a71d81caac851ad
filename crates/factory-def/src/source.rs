//! The files of a definition and the mapping from byte spans to human positions.

use std::ops::Range;

use crate::diag::Location;
use crate::model::Origin;

/// One TOML file of a definition, kept so that every diagnostic can quote its line.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub(crate) name: String,
    pub(crate) text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub(crate) fn new(name: String, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_boundary(&self.text, offset);
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.text[start..offset].chars().count() + 1;
        (line + 1, column)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }
}

/// The largest char boundary at or below `offset`, clamped to the text.
fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Where something was written: a file of the definition and a byte span in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct At {
    pub(crate) file: usize,
    pub(crate) span: Range<usize>,
}

impl At {
    /// A sub-span, `range` being relative to the start of this span.
    pub(crate) fn narrow(&self, range: Range<usize>) -> At {
        At {
            file: self.file,
            span: self.span.start + range.start..self.span.start + range.end,
        }
    }
}

/// All files of one definition.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub(crate) files: Vec<SourceFile>,
}

impl Sources {
    pub(crate) fn add(&mut self, name: String, text: String) -> usize {
        self.files.push(SourceFile::new(name, text));
        self.files.len() - 1
    }

    pub(crate) fn text(&self, at: &At) -> &str {
        let text = &self.files[at.file].text;
        let start = floor_boundary(text, at.span.start);
        let end = floor_boundary(text, at.span.end.max(start));
        &text[start..end]
    }

    pub(crate) fn origin(&self, at: &At) -> Origin {
        let file = &self.files[at.file];
        let (line, column) = file.line_col(at.span.start);
        Origin {
            file: file.name.clone(),
            line,
            column,
        }
    }

    pub(crate) fn location(&self, at: &At) -> Location {
        let file = &self.files[at.file];
        let (line, column) = file.line_col(at.span.start);
        let source_line = file.line_text(line).replace('\t', " ");
        let line_chars = source_line.chars().count();
        let (end_line, end_column) = file.line_col(at.span.end.max(at.span.start));
        let end_column = if end_line == line {
            end_column
        } else {
            line_chars + 1
        };
        let width = end_column.saturating_sub(column).max(1);
        Location {
            file: file.name.clone(),
            line,
            column,
            source_line,
            width,
        }
    }
}
