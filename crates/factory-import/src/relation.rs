//! Debian relation fields (`Depends`, `Build-Depends`, `Provides`, ...):
//! `a (>= 1.0) [amd64 !hurd-i386] <!nocheck> <stage1 cross> | b:any, c:native`.
//!
//! Hand-written scanner: relation fields are the bulk of the work of an
//! import (hundreds of thousands of relations), errors must point at the
//! column, and whitespace (newlines of continuation lines included) may
//! appear between any two tokens.

use std::fmt;

use crate::arch::{self, BuildProfiles};
use crate::version::{Version, VersionOp};

/// A comma-separated entry: satisfied when any alternative is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub alternatives: Vec<Relation>,
}

/// `:any`, `:native` or `:ARCH` after a package name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchQualifier {
    Any,
    Native,
    Named(String),
}

/// `[amd64 i386]` (positive) or `[!hurd-i386 !kfreebsd-any]` (negated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchRestriction {
    pub negated: bool,
    pub arches: Vec<String>,
}

impl ArchRestriction {
    /// Whether the relation applies when building for `arch`.
    pub fn matches(&self, arch: &str) -> bool {
        let listed = self
            .arches
            .iter()
            .any(|pattern| arch::matches(arch, pattern));
        listed != self.negated
    }
}

/// One term of a build-profile group: `nocheck` or `!nocheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileTerm {
    pub negated: bool,
    pub name: String,
}

/// One alternative of a clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub arch_qualifier: Option<ArchQualifier>,
    pub version: Option<(VersionOp, String)>,
    pub arch_restriction: Option<ArchRestriction>,
    /// Groups `<a !b> <c>`: the relation applies when any group holds, and
    /// a group holds when all its terms do. Empty: always applies.
    pub profiles: Vec<Vec<ProfileTerm>>,
}

impl Relation {
    /// Whether the build profiles keep this relation.
    pub fn profiles_hold(&self, active: &BuildProfiles) -> bool {
        self.profiles.is_empty()
            || self.profiles.iter().any(|group| {
                group
                    .iter()
                    .all(|term| active.is_active(&term.name) != term.negated)
            })
    }

    /// Whether the relation applies when building for `arch` with these
    /// profiles (architecture restriction and profiles both hold).
    pub fn applies(&self, arch: &str, active: &BuildProfiles) -> bool {
        self.arch_restriction
            .as_ref()
            .is_none_or(|restriction| restriction.matches(arch))
            && self.profiles_hold(active)
    }
}

impl fmt::Display for Relation {
    /// The relation in Debian syntax, e.g. `a:any (>= 1.0) [!hurd-i386] <!nocheck>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.arch_qualifier {
            None => {}
            Some(ArchQualifier::Any) => f.write_str(":any")?,
            Some(ArchQualifier::Native) => f.write_str(":native")?,
            Some(ArchQualifier::Named(arch)) => write!(f, ":{arch}")?,
        }
        if let Some((op, version)) = &self.version {
            write!(f, " ({op} {version})")?;
        }
        if let Some(restriction) = &self.arch_restriction {
            let bang = if restriction.negated { "!" } else { "" };
            let arches: Vec<String> = restriction
                .arches
                .iter()
                .map(|a| format!("{bang}{a}"))
                .collect();
            write!(f, " [{}]", arches.join(" "))?;
        }
        for group in &self.profiles {
            let terms: Vec<String> = group
                .iter()
                .map(|t| format!("{}{}", if t.negated { "!" } else { "" }, t.name))
                .collect();
            write!(f, " <{}>", terms.join(" "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, relation) in self.alternatives.iter().enumerate() {
            if index > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{relation}")?;
        }
        Ok(())
    }
}

/// Where a relation field is wrong: byte offset in the field value, the
/// 1-based column on that line, what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: expected {expected}, found {found}")]
pub struct RelationError {
    pub offset: usize,
    pub column: usize,
    pub expected: &'static str,
    pub found: String,
}

/// Parses a relation field into its clauses. Empty entries (a trailing
/// comma) are skipped, as dpkg does.
pub fn parse_relations(text: &str) -> Result<Vec<Clause>, RelationError> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    // Sizing the list up front saves the regrowth copies, which showed up
    // in profiles of whole-archive imports.
    let mut clauses = Vec::with_capacity(entry_count(text));
    loop {
        scanner.skip_blanks();
        if scanner.at_end() {
            return Ok(clauses);
        }
        if scanner.eat(b',') {
            continue;
        }
        let mut alternatives = vec![scanner.relation()?];
        loop {
            scanner.skip_blanks();
            if scanner.eat(b'|') {
                scanner.skip_blanks();
                alternatives.push(scanner.relation()?);
            } else if scanner.eat(b',') || scanner.at_end() {
                break;
            } else {
                return Err(scanner.error("`,`, `|` or the end of the field"));
            }
        }
        if alternatives.len() > 1 {
            // A second push grew the vector to four slots; give them back,
            // as records of a whole archive stay in memory together.
            alternatives.shrink_to_fit();
        }
        clauses.push(Clause { alternatives });
    }
}

/// Parses a field whose entries have no alternatives (`Provides`).
pub fn parse_relation_list(text: &str) -> Result<Vec<Relation>, RelationError> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut relations = Vec::with_capacity(entry_count(text));
    loop {
        scanner.skip_blanks();
        if scanner.at_end() {
            return Ok(relations);
        }
        if scanner.eat(b',') {
            continue;
        }
        relations.push(scanner.relation()?);
        scanner.skip_blanks();
        if !(scanner.eat(b',') || scanner.at_end()) {
            return Err(scanner.error("`,` or the end of the field (no `|` alternatives here)"));
        }
    }
}

fn entry_count(text: &str) -> usize {
    memchr::memchr_iter(b',', text.as_bytes()).count() + 1
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_')
}

impl<'a> Scanner<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, expected: &'static str) -> RelationError {
        let before = &self.text[..self.pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        RelationError {
            offset: self.pos,
            column: before[line_start..].chars().count() + 1,
            expected,
            found: crate::error::describe_found(&self.text[self.pos..]),
        }
    }

    /// A run of bytes accepted by `accept`; must not be empty.
    fn word(
        &mut self,
        accept: impl Fn(u8) -> bool,
        expected: &'static str,
    ) -> Result<&'a str, RelationError> {
        let start = self.pos;
        while self.pos < self.bytes.len() && accept(self.bytes[self.pos]) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error(expected));
        }
        Ok(&self.text[start..self.pos])
    }

    fn relation(&mut self) -> Result<Relation, RelationError> {
        if !self.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            return Err(self.error("a package name (starting with a letter or digit)"));
        }
        let name = self.word(is_name_byte, "a package name")?.to_string();
        let arch_qualifier = if self.eat(b':') {
            let qualifier = self.word(
                |b| b.is_ascii_alphanumeric() || b == b'-',
                "an architecture qualifier (`any`, `native` or an architecture) after `:`",
            )?;
            Some(match qualifier {
                "any" => ArchQualifier::Any,
                "native" => ArchQualifier::Native,
                other => ArchQualifier::Named(other.to_string()),
            })
        } else {
            None
        };
        self.skip_blanks();
        let version = if self.eat(b'(') {
            Some(self.version()?)
        } else {
            None
        };
        self.skip_blanks();
        let arch_restriction = if self.eat(b'[') {
            Some(self.arch_restriction()?)
        } else {
            None
        };
        self.skip_blanks();
        let mut profiles = Vec::new();
        while self.eat(b'<') {
            profiles.push(self.profile_group()?);
            self.skip_blanks();
        }
        Ok(Relation {
            name,
            arch_qualifier,
            version,
            arch_restriction,
            profiles,
        })
    }

    /// After `(`: `OP VERSION )`.
    fn version(&mut self) -> Result<(VersionOp, String), RelationError> {
        self.skip_blanks();
        let rest = &self.bytes[self.pos..];
        // `<` and `>` alone are dpkg's obsolete spellings of `<=` and `>=`.
        let (op, len) = match rest {
            [b'<', b'<', ..] => (VersionOp::Less, 2),
            [b'<', b'=', ..] => (VersionOp::LessOrEqual, 2),
            [b'>', b'>', ..] => (VersionOp::Greater, 2),
            [b'>', b'=', ..] => (VersionOp::GreaterOrEqual, 2),
            [b'=', ..] => (VersionOp::Equal, 1),
            [b'<', ..] => (VersionOp::LessOrEqual, 1),
            [b'>', ..] => (VersionOp::GreaterOrEqual, 1),
            _ => return Err(self.error("a version operator (`<<`, `<=`, `=`, `>=` or `>>`)")),
        };
        self.pos += len;
        self.skip_blanks();
        let start = self.pos;
        let version = self.word(
            |b| !matches!(b, b')' | b' ' | b'\t' | b'\n' | b'\r' | b'(' | b',' | b'|'),
            "a version after the operator",
        )?;
        if let Err(error) = Version::parse(version) {
            self.pos = start + error.offset;
            return Err(self.error(error.message));
        }
        self.skip_blanks();
        if !self.eat(b')') {
            return Err(self.error("`)` closing the version"));
        }
        Ok((op, version.to_string()))
    }

    /// After `[`: `[!]arch ... ]`, all negated or none.
    fn arch_restriction(&mut self) -> Result<ArchRestriction, RelationError> {
        let mut arches = Vec::new();
        let mut negated = None;
        loop {
            self.skip_blanks();
            if self.peek() == Some(b']') {
                if arches.is_empty() {
                    return Err(self.error("an architecture inside `[ ]`"));
                }
                self.pos += 1;
                let negated = negated.unwrap_or(false);
                return Ok(ArchRestriction { negated, arches });
            }
            let term_start = self.pos;
            let this_negated = self.eat(b'!');
            if *negated.get_or_insert(this_negated) != this_negated {
                self.pos = term_start;
                return Err(
                    self.error("all architectures negated with `!` or none (dpkg rejects a mix)")
                );
            }
            let arch = self.word(
                |b| b.is_ascii_alphanumeric() || b == b'-',
                "an architecture name or `]`",
            )?;
            arches.push(arch.to_string());
        }
    }

    /// After `<`: `[!]profile ... >`.
    fn profile_group(&mut self) -> Result<Vec<ProfileTerm>, RelationError> {
        let mut group = Vec::new();
        loop {
            self.skip_blanks();
            if self.peek() == Some(b'>') {
                if group.is_empty() {
                    return Err(self.error("a build profile name inside `< >`"));
                }
                self.pos += 1;
                return Ok(group);
            }
            let negated = self.eat(b'!');
            let name = self.word(
                |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'+' | b'_'),
                "a build profile name or `>`",
            )?;
            group.push(ProfileTerm {
                negated,
                name: name.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(clauses: &[Clause]) -> Vec<Vec<&str>> {
        clauses
            .iter()
            .map(|c| c.alternatives.iter().map(|r| r.name.as_str()).collect())
            .collect()
    }

    #[test]
    fn full_syntax() {
        let clauses = parse_relations("a (>= 1.0) [amd64 !hurd-i386]");
        // Mixed negation is an error in dpkg.
        let error = clauses.unwrap_err();
        assert_eq!(error.column, 19);

        let clauses = parse_relations(
            "a (>= 1:1.0-2) [amd64 i386] <!nocheck> <stage1 cross> | b:any, c:native,\n d:i386 (<< 2~)",
        )
        .unwrap();
        assert_eq!(names(&clauses), [vec!["a", "b"], vec!["c"], vec!["d"]]);
        let a = &clauses[0].alternatives[0];
        assert_eq!(
            a.version,
            Some((VersionOp::GreaterOrEqual, "1:1.0-2".to_string()))
        );
        assert_eq!(
            a.arch_restriction,
            Some(ArchRestriction {
                negated: false,
                arches: vec!["amd64".into(), "i386".into()]
            })
        );
        assert_eq!(a.profiles.len(), 2);
        assert_eq!(
            a.profiles[0],
            vec![ProfileTerm {
                negated: true,
                name: "nocheck".into()
            }]
        );
        assert_eq!(a.profiles[1].len(), 2);
        assert_eq!(
            clauses[0].alternatives[1].arch_qualifier,
            Some(ArchQualifier::Any)
        );
        assert_eq!(
            clauses[1].alternatives[0].arch_qualifier,
            Some(ArchQualifier::Native)
        );
        let d = &clauses[2].alternatives[0];
        assert_eq!(d.arch_qualifier, Some(ArchQualifier::Named("i386".into())));
        assert_eq!(d.version, Some((VersionOp::Less, "2~".to_string())));
    }

    #[test]
    fn blanks_are_optional_and_trailing_commas_skipped() {
        let clauses = parse_relations("a(>=1)[!i386]<!nocheck>|b,c,").unwrap();
        assert_eq!(names(&clauses), [vec!["a", "b"], vec!["c"]]);
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations(" \n ").unwrap().is_empty());
    }

    #[test]
    fn obsolete_operators_mean_or_equal() {
        let clauses = parse_relations("a (< 2), b (> 1)").unwrap();
        assert_eq!(
            clauses[0].alternatives[0].version.as_ref().unwrap().0,
            VersionOp::LessOrEqual
        );
        assert_eq!(
            clauses[1].alternatives[0].version.as_ref().unwrap().0,
            VersionOp::GreaterOrEqual
        );
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases = [
            ("a (>= 1.0", 10, "`)` closing the version"),
            (
                "a (~ 1.0)",
                4,
                "a version operator (`<<`, `<=`, `=`, `>=` or `>>`)",
            ),
            ("a (>= )", 7, "a version after the operator"),
            ("a b", 3, "`,`, `|` or the end of the field"),
            (
                "a | , b",
                5,
                "a package name (starting with a letter or digit)",
            ),
            ("a [", 4, "an architecture name or `]`"),
            ("a []", 4, "an architecture inside `[ ]`"),
            ("a <>", 4, "a build profile name inside `< >`"),
            (
                "a:",
                3,
                "an architecture qualifier (`any`, `native` or an architecture) after `:`",
            ),
            ("a (= x:1)", 6, "epoch in version is not a number"),
        ];
        for (text, column, expected) in cases {
            let error = parse_relations(text).unwrap_err();
            assert_eq!((error.column, error.expected), (column, expected), "{text}");
        }
        let error = parse_relations("a,\n b (>= 1\n )x").unwrap_err();
        assert_eq!(error.column, 3);
        assert_eq!(error.found, "\"x\"");
    }

    #[test]
    fn display_round_trips() {
        let text = "a:any (>= 1:1.0-2) [!hurd-i386 !kfreebsd-any] <!nocheck> <stage1 cross> | b:native, c:i386 (<< 2~)";
        let clauses = parse_relations(text).unwrap();
        let shown: Vec<String> = clauses.iter().map(ToString::to_string).collect();
        assert_eq!(shown.join(", "), text);
        assert_eq!(parse_relations(&shown.join(", ")).unwrap(), clauses);
    }

    #[test]
    fn provides_rejects_alternatives() {
        let provides = parse_relation_list("x (= 1.0), y").unwrap();
        assert_eq!(provides.len(), 2);
        let error = parse_relation_list("x | y").unwrap_err();
        assert_eq!(error.column, 3);
    }

    #[test]
    fn profiles_and_arch_decide_whether_a_relation_applies() {
        let parse = |s: &str| parse_relations(s).unwrap().remove(0).alternatives.remove(0);
        let none = BuildProfiles::default();
        let nocheck = BuildProfiles::new(["nocheck"]);
        assert!(parse("a <!nocheck>").applies("amd64", &none));
        assert!(!parse("a <!nocheck>").applies("amd64", &nocheck));
        assert!(!parse("a <nocheck>").applies("amd64", &none));
        assert!(parse("a <nocheck>").applies("amd64", &nocheck));
        // Groups are OR'd, terms inside a group AND'd.
        assert!(parse("a <stage1> <!nocheck>").applies("amd64", &none));
        assert!(!parse("a <stage1 !nocheck>").applies("amd64", &none));
        assert!(parse("a <!stage1 !nocheck>").applies("amd64", &none));
        assert!(parse("a [linux-any]").applies("amd64", &none));
        assert!(!parse("a [!amd64]").applies("amd64", &none));
        assert!(parse("a [!hurd-any !kfreebsd-any]").applies("amd64", &none));
        assert!(!parse("a [i386 arm64]").applies("amd64", &none));
    }
}
