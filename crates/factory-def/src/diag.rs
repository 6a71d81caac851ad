//! Diagnostics: every problem found in a definition, rendered compiler-style.

use std::fmt;

/// What kind of problem a diagnostic reports; stable, so tools and tests can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A file or directory could not be read.
    Io,
    /// A file is not valid UTF-8.
    NotUtf8,
    /// A file is not valid TOML.
    Syntax,
    /// A value has the wrong TOML type.
    Type,
    /// A field or section that the format does not know.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A value of the right type whose content is not acceptable.
    InvalidValue,
    /// Two definitions with the same name.
    Duplicate,
    /// A reference to something that is not defined.
    UnknownReference,
    /// A sha256 digest that is not 64 hexadecimal digits.
    BadSha256,
    /// A date that is not a calendar date written `YYYY-MM-DD`.
    BadDate,
    /// A `{...}` placeholder that is unknown or not usable where it is written.
    Placeholder,
    /// A dependency cycle.
    Cycle,
}

/// A position in a definition file, with the text of its line for quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File name relative to the definition directory.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The whole source line (tabs shown as spaces).
    pub source_line: String,
    /// Number of characters the problem spans on that line (at least 1).
    pub width: usize,
}

/// A secondary message, possibly pointing at another place (e.g. "first defined here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub message: String,
    pub location: Option<Location>,
}

/// One problem in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: ErrorCode,
    /// What is wrong, in one line.
    pub message: String,
    /// Where; absent only for problems that have no place in a file (an unreadable directory).
    pub location: Option<Location>,
    /// Short text shown beside the caret: what was expected there.
    pub label: Option<String>,
    pub notes: Vec<Note>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            location: None,
            label: None,
            notes: Vec::new(),
            help: None,
        }
    }

    pub(crate) fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub(crate) fn note(mut self, message: impl Into<String>, location: Option<Location>) -> Self {
        self.notes.push(Note {
            message: message.into(),
            location,
        });
        self
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    fn gutter(&self) -> usize {
        let widest = std::iter::once(self.location.as_ref())
            .chain(self.notes.iter().map(|n| n.location.as_ref()))
            .flatten()
            .map(|l| l.line.to_string().len())
            .max()
            .unwrap_or(1);
        widest + 1
    }
}

fn render_snippet(
    f: &mut fmt::Formatter<'_>,
    gutter: usize,
    location: &Location,
    label: Option<&str>,
) -> fmt::Result {
    let pad = " ".repeat(gutter);
    writeln!(
        f,
        "{pad}--> {}:{}:{}",
        location.file, location.line, location.column
    )?;
    writeln!(f, "{pad} |")?;
    writeln!(
        f,
        "{:>gutter$} | {}",
        location.line,
        location.source_line.trim_end()
    )?;
    let indent = " ".repeat(location.column - 1);
    let carets = "^".repeat(location.width);
    match label {
        Some(label) => writeln!(f, "{pad} | {indent}{carets} {label}"),
        None => writeln!(f, "{pad} | {indent}{carets}"),
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gutter = self.gutter();
        writeln!(f, "error: {}", self.message)?;
        if let Some(location) = &self.location {
            render_snippet(f, gutter, location, self.label.as_deref())?;
        }
        for note in &self.notes {
            match &note.location {
                Some(location) => {
                    writeln!(
                        f,
                        "{:width$}= note: {}",
                        "",
                        note.message,
                        width = gutter + 1
                    )?;
                    render_snippet(f, gutter, location, None)?;
                }
                None => writeln!(
                    f,
                    "{:width$}= note: {}",
                    "",
                    note.message,
                    width = gutter + 1
                )?,
            }
        }
        if let Some(help) = &self.help {
            writeln!(f, "{:width$}= help: {help}", "", width = gutter + 1)?;
        }
        Ok(())
    }
}

/// Every problem found in a definition (never empty when returned as an error).
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn from_vec(mut items: Vec<Diagnostic>) -> Self {
        // Reading order: by file, then position; problems without a place first.
        items.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.location
                    .as_ref()
                    .map(|l| (l.file.clone(), l.line, l.column))
            };
            key(a).cmp(&key(b))
        });
        Self { items }
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    pub fn as_slice(&self) -> &[Diagnostic] {
        &self.items
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Renders every diagnostic, separated by blank lines, then a count.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.items {
            writeln!(f, "{diagnostic}")?;
        }
        let n = self.items.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}
