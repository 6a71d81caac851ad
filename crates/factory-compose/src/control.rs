//! A `.deb`'s control file: one deb822 paragraph, kept field by field exactly as written so
//! that its `Packages` stanza says what the package itself says.
//!
//! Written here rather than taken from a crate: the crates that parse deb822 either drop
//! the original spelling of multi-line values or bring a whole package model; a stanza is
//! re-emitted byte for byte, which needs only this.

/// The fields of one control paragraph, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    /// Name as written, and the value as written after the colon: its first line and each
    /// continuation line, joined by newlines, without the final newline.
    fields: Vec<(String, String)>,
}

impl Control {
    /// Parses one paragraph; a problem names its line (1-based).
    pub(crate) fn parse(text: &str) -> Result<Control, String> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut ended_at = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() {
                if !fields.is_empty() {
                    ended_at.get_or_insert(number);
                }
                continue;
            }
            if let Some(blank) = ended_at {
                return Err(format!(
                    "line {number}: a second paragraph after the blank line {blank}: a package's control file has one"
                ));
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(format!(
                        "line {number}: a continuation line (starting with a space) before any field"
                    ));
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let field = field_line(line).map_err(|problem| format!("line {number}: {problem}"))?;
            if fields
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(field.0))
            {
                return Err(format!("line {number}: field `{}` given twice", field.0));
            }
            fields.push((field.0.to_owned(), field.1.to_owned()));
        }
        if fields.is_empty() {
            return Err("the control file has no fields".into());
        }
        Ok(Control { fields })
    }

    /// A field's value, its lines folded into one and trimmed (names are case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let (_, raw) = self
            .fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))?;
        let folded: Vec<&str> = raw
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Some(folded.join(" "))
    }

    /// The paragraph as a `Packages` stanza: every field as written, with `added` placed
    /// before `Description` (where Debian's archive tools put `Filename`, `Size` and the
    /// hashes), or at the end when there is none. Ends with a newline.
    pub(crate) fn stanza_with(&self, added: &[(&str, String)]) -> String {
        let mut text = String::new();
        let mut placed = false;
        let place = |text: &mut String| {
            for (name, value) in added {
                text.push_str(&format!("{name}: {value}\n"));
            }
        };
        for (name, raw) in &self.fields {
            if !placed && name.eq_ignore_ascii_case("description") {
                place(&mut text);
                placed = true;
            }
            text.push_str(&format!("{name}:{raw}\n"));
        }
        if !placed {
            place(&mut text);
        }
        text
    }
}

/// `Name: value`: the name is printable ASCII without a colon, not starting with `-` or `#`.
fn field_line(line: &str) -> Result<(&str, &str), String> {
    if line.starts_with('#') {
        return Err("a comment: a package's control file has none".into());
    }
    let Some((name, value)) = line.split_once(':') else {
        return Err(format!("`{line}` is not `Field: value`"));
    };
    let name_ok = !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if !name_ok {
        return Err(format!(
            "`{name}` is not a field name (printable characters without spaces, not starting with `-`)"
        ));
    }
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDepends: libc6 (>= 2.36),\n libgreet1\nDescription: says hello\n A longer text.\n .\n Another paragraph.\n";

    #[test]
    fn fields_are_read_folded_and_written_back_as_they_were() {
        let control = Control::parse(HELLO).unwrap();
        assert_eq!(control.get("package").as_deref(), Some("hello"));
        assert_eq!(
            control.get("Depends").as_deref(),
            Some("libc6 (>= 2.36), libgreet1")
        );
        assert_eq!(control.get("Source"), None);
        let stanza =
            control.stanza_with(&[("Filename", "pool/h.deb".into()), ("Size", "9".into())]);
        let expected = HELLO.replace(
            "Description:",
            "Filename: pool/h.deb\nSize: 9\nDescription:",
        );
        assert_eq!(stanza, expected);
    }

    #[test]
    fn added_fields_go_last_without_a_description() {
        let control = Control::parse("Package: a1\nVersion: 1\n\n\n").unwrap();
        assert_eq!(
            control.stanza_with(&[("Size", "1".into())]),
            "Package: a1\nVersion: 1\nSize: 1\n"
        );
    }

    #[test]
    fn malformed_control_files_are_refused_with_their_line() {
        for (text, expected) in [
            ("", "no fields"),
            (" continued\n", "line 1: a continuation line"),
            (
                "Package: a\nno colon here\n",
                "line 2: `no colon here` is not `Field: value`",
            ),
            (
                "Package: a\n\nVersion: 1\n",
                "line 3: a second paragraph after the blank line 2",
            ),
            (
                "Package: a\npackage: b\n",
                "line 2: field `package` given twice",
            ),
            ("# comment\nPackage: a\n", "line 1: a comment"),
            ("-Bad: a\n", "line 1: `-Bad` is not a field name"),
            ("Bad name: a\n", "line 1: `Bad name` is not a field name"),
        ] {
            let problem = Control::parse(text).unwrap_err();
            assert!(problem.contains(expected), "{text:?}: {problem}");
        }
    }
}
