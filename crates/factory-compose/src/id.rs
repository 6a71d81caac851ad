//! Compose ids in productmd's form: `SHORT-VERSION[-TYPE]-DATE[SUFFIX].RESPIN`, e.g.
//! `DemoOS-1.0-20261203.0` or `Fedora-Rawhide-20180616.n.0`.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::ComposeError;
use crate::request::{ComposeRequest, ComposeType, Release, ReleaseType};

/// A compose's id: also the name of its directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComposeId(String);

impl ComposeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComposeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id `request` gets: checked, as productmd would check it.
pub fn compose_id(request: &ComposeRequest) -> Result<ComposeId, ComposeError> {
    check_release(&request.release)?;
    let date = compose_date(request.created);
    Ok(ComposeId(format!(
        "{}{}.{}",
        id_prefix(&request.release),
        date_and_type(&date, request.compose_type),
        request.respin
    )))
}

/// The first respin of the request's release, type and date that `root` does not hold yet
/// (0 when none does).
pub fn next_respin(root: &Path, request: &ComposeRequest) -> Result<u32, ComposeError> {
    check_release(&request.release)?;
    let stem = format!(
        "{}{}.",
        id_prefix(&request.release),
        date_and_type(&compose_date(request.created), request.compose_type)
    );
    let entries = match fs_err::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ComposeError::io("listing", root)(e)),
    };
    let mut next = 0;
    for entry in entries {
        let entry = entry.map_err(ComposeError::io("listing", root))?;
        let name = entry.file_name();
        let respin = name
            .to_str()
            .and_then(|name| name.strip_prefix(&stem))
            .and_then(|rest| rest.parse::<u32>().ok());
        if let Some(respin) = respin {
            next = next.max(respin.saturating_add(1));
        }
    }
    Ok(next)
}

/// `SHORT-VERSION` and, for a release type other than `ga`, `-TYPE`; then the dash before
/// the date.
fn id_prefix(release: &Release) -> String {
    let kind = match release.release_type {
        ReleaseType::Ga => String::new(),
        other => format!("-{}", other.as_str()),
    };
    format!("{}-{}{kind}-", release.short, release.version)
}

fn date_and_type(date: &str, compose_type: ComposeType) -> String {
    format!("{date}{}", compose_type.suffix())
}

/// The compose's date: the UTC day it was made, `YYYYMMDD`.
pub(crate) fn compose_date(created: SystemTime) -> String {
    let format = format_description!("[year][month][day]");
    OffsetDateTime::from(created)
        .format(&format)
        .unwrap_or_default()
}

/// productmd's rules for a release, tightened so that an id is also a safe directory name.
fn check_release(release: &Release) -> Result<(), ComposeError> {
    let short = &release.short;
    let short_ok = short.starts_with(|c: char| c.is_ascii_alphabetic())
        && short
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if !short_ok {
        return Err(ComposeError::invalid(
            format!("release short name `{short}`"),
            "expected letters and digits, starting with a letter, with single dashes inside (e.g. `DemoOS` or `demo-os`)",
        ));
    }
    let version = &release.version;
    let version_ok = if version.starts_with(|c: char| c.is_ascii_digit()) {
        version
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
    } else {
        !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    };
    if !version_ok {
        return Err(ComposeError::invalid(
            format!("release version `{version}`"),
            "expected digits separated by dots (`1.0`), or a name starting with a letter (`Rawhide`)",
        ));
    }
    if release.name.trim().is_empty() || release.name.contains(['\n', '\r']) {
        return Err(ComposeError::invalid(
            "release name",
            "expected a non-empty single line (e.g. `Demo OS`)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn release(short: &str, version: &str, release_type: ReleaseType) -> Release {
        Release {
            name: "Demo OS".into(),
            short: short.into(),
            version: version.into(),
            release_type,
        }
    }

    fn request(release: Release, compose_type: ComposeType, respin: u32) -> ComposeRequest {
        ComposeRequest {
            release,
            compose_type,
            respin,
            // 2026-12-03T23:59:59Z
            created: UNIX_EPOCH + Duration::from_secs(1_796_342_399),
            variant: "Everything".into(),
            apt: crate::request::AptRepository {
                origin: "Demo".into(),
                label: "Demo".into(),
                suite: "stable".into(),
                codename: "demo".into(),
                description: None,
                architectures: vec![],
            },
            debs: vec![],
            images: vec![],
            modules: vec![],
        }
    }

    #[test]
    fn ids_follow_productmd_for_every_type_and_release_type() {
        let ga = || release("DemoOS", "1.0", ReleaseType::Ga);
        let cases = [
            (ga(), ComposeType::Production, 0, "DemoOS-1.0-20261203.0"),
            (ga(), ComposeType::Nightly, 2, "DemoOS-1.0-20261203.n.2"),
            (ga(), ComposeType::Test, 0, "DemoOS-1.0-20261203.t.0"),
            (ga(), ComposeType::Ci, 1, "DemoOS-1.0-20261203.ci.1"),
            (ga(), ComposeType::Development, 0, "DemoOS-1.0-20261203.d.0"),
            (
                release("Fedora", "Rawhide", ReleaseType::Ga),
                ComposeType::Nightly,
                0,
                "Fedora-Rawhide-20261203.n.0",
            ),
            (
                release("demo-os", "1.0", ReleaseType::Updates),
                ComposeType::Production,
                0,
                "demo-os-1.0-updates-20261203.0",
            ),
        ];
        for (release, kind, respin, expected) in cases {
            let id = compose_id(&request(release, kind, respin)).unwrap();
            assert_eq!(id.as_str(), expected);
        }
    }

    #[test]
    fn names_that_would_not_be_a_safe_id_are_refused_with_what_is_expected() {
        for (short, version, expected) in [
            ("Demo OS", "1.0", "release short name `Demo OS`"),
            ("demo--os", "1.0", "release short name"),
            ("1demo", "1.0", "release short name"),
            ("demo", "1..0", "release version `1..0`"),
            ("demo", "../x", "release version"),
            ("demo", "1.0/a", "release version"),
            ("demo", "", "release version"),
        ] {
            let error = compose_id(&request(
                release(short, version, ReleaseType::Ga),
                ComposeType::Production,
                0,
            ))
            .unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn the_next_respin_is_one_past_the_highest_present_for_the_same_day_and_type() {
        let root = tempfile::tempdir().unwrap();
        let ask = request(
            release("DemoOS", "1.0", ReleaseType::Ga),
            ComposeType::Production,
            0,
        );
        assert_eq!(next_respin(root.path(), &ask).unwrap(), 0);
        for name in [
            "DemoOS-1.0-20261203.0",
            "DemoOS-1.0-20261203.3",
            "DemoOS-1.0-20261203.n.7",
            "DemoOS-1.0-20261202.9",
            "DemoOS-1.0-20261203.x",
        ] {
            fs_err::create_dir(root.path().join(name)).unwrap();
        }
        assert_eq!(next_respin(root.path(), &ask).unwrap(), 4);
        let nightly = request(
            release("DemoOS", "1.0", ReleaseType::Ga),
            ComposeType::Nightly,
            0,
        );
        assert_eq!(next_respin(root.path(), &nightly).unwrap(), 8);
        let missing = root.path().join("none");
        assert_eq!(next_respin(&missing, &ask).unwrap(), 0);
    }
}
