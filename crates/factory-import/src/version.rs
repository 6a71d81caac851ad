//! dpkg version strings: `[epoch:]upstream[-revision]`, their validation and
//! their ordering, exactly as dpkg orders them.
//!
//! Written by hand: the comparison runs in the graph's hot loops over
//! borrowed `&str` without allocating, and errors must point at a column.
//! It is checked against `dpkg --compare-versions` in the tests.

use std::cmp::Ordering;
use std::fmt;

/// A relation operator of a versioned dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionOp {
    /// `<<` strictly earlier
    Less,
    /// `<=` earlier or equal
    LessOrEqual,
    /// `=` exactly equal
    Equal,
    /// `>=` later or equal
    GreaterOrEqual,
    /// `>>` strictly later
    Greater,
}

impl VersionOp {
    /// Whether a candidate satisfies `candidate OP constraint`, given
    /// `cmp = compare(candidate, constraint)`.
    pub fn satisfied_by(self, cmp: Ordering) -> bool {
        match self {
            Self::Less => cmp == Ordering::Less,
            Self::LessOrEqual => cmp != Ordering::Greater,
            Self::Equal => cmp == Ordering::Equal,
            Self::GreaterOrEqual => cmp != Ordering::Less,
            Self::Greater => cmp == Ordering::Greater,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Less => "<<",
            Self::LessOrEqual => "<=",
            Self::Equal => "=",
            Self::GreaterOrEqual => ">=",
            Self::Greater => ">>",
        }
    }
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a version string, and where (byte offset in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version at offset {offset}: {message}")]
pub struct VersionError {
    pub offset: usize,
    pub message: &'static str,
}

/// A validated dpkg version, split into its parts (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    pub epoch: u64,
    pub upstream: &'a str,
    /// Empty when the version has no `-revision`.
    pub revision: &'a str,
}

impl<'a> Version<'a> {
    /// Parses and validates like dpkg: errors for what dpkg rejects (empty
    /// parts, a non-numeric epoch, blanks); characters dpkg only warns about
    /// are accepted.
    pub fn parse(text: &'a str) -> Result<Self, VersionError> {
        let error = |offset, message| Err(VersionError { offset, message });
        if text.is_empty() {
            return error(0, "version string is empty");
        }
        // One pass over the bytes: the character set, the first `:` (end
        // of the epoch) and the last `-` (start of the revision).
        let (mut colon, mut hyphen) = (None, None);
        for (at, byte) in text.bytes().enumerate() {
            match byte {
                b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'.' | b'~' => {}
                b':' => {
                    colon.get_or_insert(at);
                }
                b'-' => hyphen = Some(at),
                b' ' | b'\t' | b'\n' | b'\r' => {
                    return error(at, "version string has embedded blanks");
                }
                _ => {
                    return error(
                        at,
                        "invalid character in version (allowed: letters, digits, `+ . ~ - :`)",
                    );
                }
            }
        }
        let (epoch, rest_offset) = match colon {
            Some(colon) => {
                let digits = &text[..colon];
                if digits.is_empty() {
                    return error(0, "epoch in version is empty");
                }
                if let Some(bad) = digits.bytes().position(|b| !b.is_ascii_digit()) {
                    return error(bad, "epoch in version is not a number");
                }
                let Ok(epoch) = digits.parse::<u64>() else {
                    return error(0, "epoch in version is too big");
                };
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let (upstream, revision) = match hyphen {
            Some(hyphen) if hyphen + 1 == text.len() => {
                return error(hyphen, "revision number is empty");
            }
            Some(hyphen) => (&text[rest_offset..hyphen], &text[hyphen + 1..]),
            None => (&text[rest_offset..], ""),
        };
        if upstream.is_empty() {
            return error(rest_offset, "upstream version is empty");
        }
        Ok(Self {
            epoch,
            upstream,
            revision,
        })
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream, other.upstream))
            .then_with(|| compare_part(self.revision, other.revision))
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Splits without validating (for comparison of already-validated data).
fn split(text: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match text.split_once(':') {
        Some((digits, rest)) => (digits.parse().unwrap_or(0), rest),
        None => (0, text),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// Compares two version strings the way dpkg does. Strings that do not
/// parse are compared by their parts as far as they can be split, so this
/// never fails; validate with [`Version::parse`] where that matters.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split(a);
    let (epoch_b, upstream_b, revision_b) = split(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_part(upstream_a, upstream_b))
        .then_with(|| compare_part(revision_a, revision_b))
}

/// The weight of a non-digit character: `~` before the end of the string,
/// the end before letters, letters before everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's comparison of one version part: alternating runs of non-digits
/// (compared by weight) and digits (compared numerically).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let wa = weight(a.get(i).copied());
            let wb = weight(b.get(j).copied());
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_sorts_before_everything_even_the_end() {
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(compare("1.0~", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0a"), Ordering::Less);
        assert_eq!(compare("1.0a", "1.0+"), Ordering::Less);
    }

    #[test]
    fn epoch_wins_over_everything() {
        assert_eq!(compare("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(compare("0:1.0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn digits_compare_numerically_and_leading_zeros_do_not_count() {
        assert_eq!(compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare("1.010", "1.10"), Ordering::Equal);
        assert_eq!(compare("1.0-1", "1.0-01"), Ordering::Equal);
    }

    #[test]
    fn revision_breaks_ties_and_absent_revision_equals_zero() {
        assert_eq!(compare("1.0-2", "1.0-10"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(compare("1.0-1", "1.0"), Ordering::Greater);
    }

    #[test]
    fn upstream_may_contain_hyphens_revision_is_after_the_last() {
        let version = Version::parse("2:1.2-3-4").unwrap();
        assert_eq!(
            (version.epoch, version.upstream, version.revision),
            (2, "1.2-3", "4")
        );
    }

    #[test]
    fn invalid_versions_are_rejected_with_offsets() {
        assert_eq!(Version::parse("").unwrap_err().offset, 0);
        assert_eq!(
            Version::parse("a:1.0").unwrap_err().message,
            "epoch in version is not a number"
        );
        assert_eq!(Version::parse("1.0-").unwrap_err().offset, 3);
        assert_eq!(Version::parse("1.0 2").unwrap_err().offset, 3);
        assert_eq!(
            Version::parse("1:-1").unwrap_err().message,
            "upstream version is empty"
        );
        assert_eq!(Version::parse("1.0_2").unwrap_err().offset, 3);
    }

    #[test]
    fn operators_follow_the_comparison() {
        use Ordering::*;
        let table = [
            (VersionOp::Less, [true, false, false]),
            (VersionOp::LessOrEqual, [true, true, false]),
            (VersionOp::Equal, [false, true, false]),
            (VersionOp::GreaterOrEqual, [false, true, true]),
            (VersionOp::Greater, [false, false, true]),
        ];
        for (op, expected) in table {
            let got = [Less, Equal, Greater].map(|cmp| op.satisfied_by(cmp));
            assert_eq!(got, expected, "{op}");
        }
    }
}
