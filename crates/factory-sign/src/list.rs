//! `keys.toml`, the key directory's list of keys: which key has which role, whether it is
//! the active one or retired, and where its private part is. Everything else about a key
//! (creation, expiry, algorithm) is read from the key itself, so the two cannot disagree.
//!
//! The wire form (`ListFile`, `Entry`) stays here; the rest of the crate sees [`Listed`].

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::SignError;
use crate::files::{Mode, Replace, write_atomically};
use crate::time::{parse_rfc3339, rfc3339};
use crate::{KeyState, Role, SecretPlace};

pub(crate) const FILE_NAME: &str = "keys.toml";

const HEADER: &str = "# Factory's signing keys, written by `factory keys`: edit with it, not by hand.\n\
# Each key's public part is FINGERPRINT.pub beside this file; the private part of a key\n\
# kept in the store is FINGERPRINT.key (mode 0600), of one kept elsewhere a file handed in.\n\n";

/// One key as the list records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) role: Role,
    pub(crate) fingerprint: String,
    pub(crate) state: KeyState,
    pub(crate) secret: SecretPlace,
    pub(crate) retired: Option<SystemTime>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFile {
    #[serde(default)]
    key: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    role: Role,
    fingerprint: String,
    state: KeyState,
    secret: SecretPlace,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<String>,
}

/// Reads and checks the list: fingerprints well formed and unique, exactly one active key
/// per role.
pub(crate) fn read(path: &Path) -> Result<Vec<Listed>, SignError> {
    let text = fs_err::read_to_string(path).map_err(SignError::fs)?;
    let corrupt = |reason: String| SignError::CorruptList {
        path: path.to_path_buf(),
        reason,
    };
    let file: ListFile = toml::from_str(&text).map_err(|e| corrupt(one_line(&e)))?;
    let listed = file
        .key
        .into_iter()
        .map(|entry| lower(entry).map_err(&corrupt))
        .collect::<Result<Vec<_>, _>>()?;
    check(&listed).map_err(corrupt)?;
    Ok(listed)
}

/// toml's message spans lines (the source line, a caret); the error says it on one.
fn one_line(error: &toml::de::Error) -> String {
    let message = error.message();
    match error.span() {
        Some(span) => format!("not a valid key list (at byte {}): {message}", span.start),
        None => format!("not a valid key list: {message}"),
    }
}

fn lower(entry: Entry) -> Result<Listed, String> {
    if !is_fingerprint(&entry.fingerprint) {
        return Err(format!(
            "`{}` is not a fingerprint (40 upper-case hex digits)",
            entry.fingerprint
        ));
    }
    let retired = entry
        .retired_at
        .as_deref()
        .map(|text| {
            parse_rfc3339(text)
                .ok_or_else(|| format!("retired-at `{text}` is not an RFC 3339 time"))
        })
        .transpose()?;
    Ok(Listed {
        role: entry.role,
        fingerprint: entry.fingerprint,
        state: entry.state,
        secret: entry.secret,
        retired,
    })
}

pub(crate) fn is_fingerprint(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
}

fn check(listed: &[Listed]) -> Result<(), String> {
    for role in Role::ALL {
        let active = listed
            .iter()
            .filter(|k| k.role == role && k.state == KeyState::Active)
            .count();
        if active != 1 {
            return Err(format!(
                "the {role} role has {active} active keys; it must have exactly one"
            ));
        }
    }
    for (i, key) in listed.iter().enumerate() {
        if listed[..i].iter().any(|k| k.fingerprint == key.fingerprint) {
            return Err(format!("the key {} is listed twice", key.fingerprint));
        }
    }
    Ok(())
}

/// Replaces the list atomically: the moment the new one is in place is the moment a key
/// is made or retired.
pub(crate) fn write(path: &Path, listed: &[Listed]) -> Result<(), SignError> {
    check(listed).map_err(|reason| SignError::CorruptList {
        path: path.to_path_buf(),
        reason: format!("refusing to write a list where {reason}"),
    })?;
    let file = ListFile {
        key: listed
            .iter()
            .map(|k| Entry {
                role: k.role,
                fingerprint: k.fingerprint.clone(),
                state: k.state,
                secret: k.secret,
                retired_at: k.retired.map(rfc3339),
            })
            .collect(),
    };
    let body = toml::to_string(&file).map_err(|e| SignError::CorruptList {
        path: path.to_path_buf(),
        reason: format!("cannot be written: {e}"),
    })?;
    let text = format!("{HEADER}{body}");
    write_atomically(path, text.as_bytes(), Mode::Public, Replace::Yes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPR_A: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
    const FPR_B: &str = "89ABCDEF0123456789ABCDEF0123456789ABCDEF";
    const FPR_C: &str = "FEDCBA9876543210FEDCBA9876543210FEDCBA98";

    fn listed(role: Role, fingerprint: &str, state: KeyState) -> Listed {
        Listed {
            role,
            fingerprint: fingerprint.into(),
            state,
            secret: SecretPlace::Store,
            retired: (state == KeyState::Retired)
                .then(|| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)),
        }
    }

    #[test]
    fn a_written_list_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let keys = vec![
            listed(Role::Build, FPR_A, KeyState::Retired),
            listed(Role::Build, FPR_B, KeyState::Active),
            Listed {
                secret: SecretPlace::External,
                ..listed(Role::Release, FPR_C, KeyState::Active)
            },
        ];
        write(&path, &keys).unwrap();
        assert_eq!(read(&path).unwrap(), keys);
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(
            text.contains("retired-at = \"2023-11-14T22:13:20Z\""),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_list_is_refused_with_its_path_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let cases = [
            ("[[key]]\nrole = \"build\"\n", "missing field"),
            ("[[key]]\nrole = \"nightly\"\n", "unknown variant"),
            (
                "[[key]]\nrole = \"build\"\nfingerprint = \"abc\"\nstate = \"active\"\nsecret = \"store\"\n",
                "`abc` is not a fingerprint",
            ),
            ("", "the build role has 0 active keys"),
            ("[[key]\n", "not a valid key list"),
        ];
        for (text, expected) in cases {
            fs_err::write(&path, text).unwrap();
            let err = read(&path).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert_eq!(
                factory_types::HasFault::fault(&err),
                factory_types::Fault::Environment
            );
        }
    }
}
