//! `factory keys`: the build and release keys of a store (`STORE/keys/`), through
//! `factory_sign::Keys`. Nothing here ever prints a private key: only roles,
//! fingerprints, times, and the public parts `export` is asked for.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use factory_sign::{
    Encoding, InitSettings, KeyInfo, KeySettings, KeyState, Keys, Role, SecretTarget, rfc3339,
};
use factory_types::{Clock, SystemClock};

use crate::cli::{KeysCommand, RoleArg};

/// `list` warns about an active key that expires within this: time to rotate it and hand
/// users the new public key before their apt or skopeo starts refusing.
const WARN_BEFORE_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

pub(super) fn keys(store: &Path, command: &KeysCommand) -> Result<()> {
    let dir = Keys::dir_of_store(store);
    match command {
        KeysCommand::Init {
            release_key,
            build_uid,
            release_uid,
            expires,
        } => {
            let settings = InitSettings {
                build: KeySettings {
                    user_id: build_uid.clone(),
                    validity: *expires,
                },
                release: KeySettings {
                    user_id: release_uid.clone(),
                    validity: *expires,
                },
                release_secret: target(release_key.as_deref()),
            };
            init(&dir, &settings)
        }
        KeysCommand::List => list(&dir),
        KeysCommand::Rotate {
            role,
            uid,
            expires,
            release_key,
        } => rotate(
            &dir,
            role_of(*role),
            uid.as_deref(),
            *expires,
            release_key.as_deref(),
        ),
        KeysCommand::Export {
            role,
            armor,
            output,
        } => export(&dir, role_of(*role), *armor, output.as_deref()),
    }
}

fn role_of(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Build => Role::Build,
        RoleArg::Release => Role::Release,
    }
}

fn target(file: Option<&Path>) -> SecretTarget {
    file.map_or(SecretTarget::Store, |f| SecretTarget::File(f.to_path_buf()))
}

fn open(dir: &Path) -> Result<Keys> {
    Ok(Keys::open(dir, SystemClock::shared())?)
}

fn init(dir: &Path, settings: &InitSettings) -> Result<()> {
    let keys = Keys::init(dir, SystemClock::shared(), settings)?;
    print_table(&keys.list());
    eprintln!(
        "made the build key and the release key in {}; give users the release key's public \
         part: `factory keys export release --output release.gpg`",
        dir.display()
    );
    if let SecretTarget::File(path) = &settings.release_secret {
        eprintln!(
            "the release key's private part is in {} (mode 0600), not in the store: keep it \
             safe, and hand it in when releasing",
            path.display()
        );
    }
    Ok(())
}

fn list(dir: &Path) -> Result<()> {
    let keys = open(dir)?;
    print_table(&keys.list());
    let now = SystemClock.wall();
    for key in keys.expiring(WARN_BEFORE_EXPIRY) {
        let when = if key.is_expired_at(now) {
            "expired".to_owned()
        } else {
            let days = key
                .expires
                .duration_since(now)
                .unwrap_or_default()
                .as_secs()
                / 86_400;
            format!("expires in {days} days")
        };
        eprintln!(
            "warning: the active {} key {} {when} ({}): `factory keys rotate {}` makes a new one",
            key.role,
            key.fingerprint,
            rfc3339(key.expires),
            key.role
        );
    }
    Ok(())
}

fn rotate(
    dir: &Path,
    role: Role,
    uid: Option<&str>,
    expires: Duration,
    release_key: Option<&Path>,
) -> Result<()> {
    if release_key.is_some() && role != Role::Release {
        bail!("--release-key is for the release key; the build key is always kept in the store");
    }
    let mut keys = open(dir)?;
    let old = keys.active(role).clone();
    let settings = KeySettings {
        user_id: uid.map_or_else(|| old.user_id.clone(), str::to_owned),
        validity: expires,
    };
    let new = keys.rotate(role, &settings, &target(release_key))?;
    print_table(&[&new]);
    eprintln!(
        "the {role} key {} is active; {} is retired: it signs nothing more, and its public \
         part is exported until it expires ({}). Export the {role} keys again for users: \
         `factory keys export {role} --output {role}.gpg`",
        new.fingerprint,
        old.fingerprint,
        rfc3339(old.expires)
    );
    Ok(())
}

fn export(dir: &Path, role: Role, armor: bool, output: Option<&Path>) -> Result<()> {
    let keys = open(dir)?;
    let encoding = if armor {
        Encoding::Armored
    } else {
        Encoding::Binary
    };
    let bytes = keys.export(role, encoding)?;
    match output {
        Some(path) => write_file(path, &bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            if encoding == Encoding::Binary && stdout.is_terminal() {
                bail!(
                    "the binary keyring would go to the terminal: give --output FILE, \
                     redirect standard output, or ask for --armor"
                );
            }
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .context("cannot write the keys to standard output")
        }
    }
}

/// Writes beside the target and renames, so a reader never sees half a keyring.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|()| {
            let readable =
                <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644);
            file.as_file().set_permissions(readable)
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn print_table(keys: &[&KeyInfo]) {
    for line in table(keys) {
        println!("{line}");
    }
}

/// The lines of a key table: a header, then a key a line, columns aligned.
fn table(keys: &[&KeyInfo]) -> Vec<String> {
    let header = [
        "role",
        "fingerprint",
        "algorithm",
        "created",
        "expires",
        "state",
    ];
    let mut rows = vec![header.map(String::from)];
    rows.extend(keys.iter().map(|k| {
        [
            k.role.to_string(),
            k.fingerprint.clone(),
            k.algorithm.to_owned(),
            rfc3339(k.created),
            rfc3339(k.expires),
            state(k),
        ]
    }));
    let mut widths = [0; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

/// `active` or `retired`, and where a private part kept outside the store is.
fn state(key: &KeyInfo) -> String {
    let state = match key.state {
        KeyState::Active => "active",
        KeyState::Retired => "retired",
    };
    match key.secret {
        factory_sign::SecretPlace::Store => state.to_owned(),
        factory_sign::SecretPlace::External => format!("{state} (private part outside the store)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn info(role: Role, state: KeyState, secret: factory_sign::SecretPlace) -> KeyInfo {
        let created = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        KeyInfo {
            role,
            fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
            user_id: "Factory key".into(),
            algorithm: "ed25519",
            created,
            expires: created + factory_sign::DEFAULT_VALIDITY,
            state,
            retired: None,
            secret,
        }
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let build = info(
            Role::Build,
            KeyState::Retired,
            factory_sign::SecretPlace::Store,
        );
        let release = info(
            Role::Release,
            KeyState::Active,
            factory_sign::SecretPlace::External,
        );
        assert_eq!(
            table(&[&build, &release]),
            [
                "role     fingerprint                               algorithm  created               expires               state",
                "build    0123456789ABCDEF0123456789ABCDEF01234567  ed25519    2024-01-01T00:00:00Z  2025-12-31T12:00:00Z  retired",
                "release  0123456789ABCDEF0123456789ABCDEF01234567  ed25519    2024-01-01T00:00:00Z  2025-12-31T12:00:00Z  active (private part outside the store)",
            ]
        );
    }
}
