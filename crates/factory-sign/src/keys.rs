//! The key directory (`STORE/keys/`, 0700): the list (`keys.toml`), each key's public part
//! (`FINGERPRINT.pub`) and the private parts kept in the store (`FINGERPRINT.key`, 0600).
//! A private key kept elsewhere (the release key, when the operator wants it off the
//! build machine's store) is a file named when it is made and handed in when it signs.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use factory_types::{Clock, Fault};
use pgp::composed::{SignedPublicKey, SignedSecretKey};
use serde::{Deserialize, Serialize};

use crate::error::SignError;
use crate::files::{Mode, Replace, private_dir, write_atomically};
use crate::list::{self, Listed};
use crate::openpgp;
use crate::signer::{Encoding, Signer};
use crate::time::rfc3339;

/// How long a new key is valid unless told otherwise: two years (of 365.25 days, as the
/// command line's `2years` counts them), long enough not to be a chore, short enough that
/// a lost key stops verifying on its own.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(2 * 31_557_600);

/// What a key signs. The two are always distinct keys: the build key signs every artifact
/// and its provenance as it is built; the release key signs only what is released (apt's
/// `InRelease` and `Release.gpg`, container images), so users trust only it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Build,
    Release,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Build, Role::Release];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Build => "build",
            Role::Release => "release",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("no key role `{text}`: the roles are build and release"))
    }
}

/// Whether a key signs: one active key per role; retired keys sign nothing, but their
/// public part is still exported until they expire, so what they signed keeps verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Active,
    Retired,
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        })
    }
}

/// Where a key's private part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretPlace {
    /// `FINGERPRINT.key` in the key directory.
    Store,
    /// A file outside the store, handed in when the key signs.
    External,
}

impl fmt::Display for SecretPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretPlace::Store => "store",
            SecretPlace::External => "external",
        })
    }
}

/// Where to write a new key's private part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretTarget {
    Store,
    /// A new file (never an existing one), 0600.
    File(PathBuf),
}

impl SecretTarget {
    /// A file named for a new key must not exist: checked before any key is made, so a
    /// refusal leaves nothing behind.
    fn check(&self) -> Result<(), SignError> {
        match self {
            SecretTarget::File(path) if path.exists() => {
                Err(SignError::WouldOverwrite { path: path.clone() })
            }
            _ => Ok(()),
        }
    }
}

/// What a new key is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// The OpenPGP user ID, e.g. `Example Project release key <release@example.org>`.
    pub user_id: String,
    /// How long it is valid from its creation.
    pub validity: Duration,
}

impl KeySettings {
    /// `Factory ROLE key`, valid for [`DEFAULT_VALIDITY`].
    pub fn default_for(role: Role) -> KeySettings {
        KeySettings {
            user_id: format!("Factory {role} key"),
            validity: DEFAULT_VALIDITY,
        }
    }

    fn check(&self) -> Result<(), SignError> {
        if self.user_id.trim().is_empty() || self.user_id.contains(['\n', '\r']) {
            return Err(SignError::BadSettings(format!(
                "a key's user ID must be one non-empty line; `{}` is not",
                self.user_id.escape_debug()
            )));
        }
        if self.validity < Duration::from_secs(24 * 3600) {
            return Err(SignError::BadSettings(format!(
                "a key must be valid for at least a day; {}s was asked for",
                self.validity.as_secs()
            )));
        }
        Ok(())
    }
}

/// What `init` makes: both keys, and where the release key's private part goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSettings {
    pub build: KeySettings,
    pub release: KeySettings,
    pub release_secret: SecretTarget,
}

impl Default for InitSettings {
    fn default() -> InitSettings {
        InitSettings {
            build: KeySettings::default_for(Role::Build),
            release: KeySettings::default_for(Role::Release),
            release_secret: SecretTarget::Store,
        }
    }
}

/// One key, as `factory keys list` shows it. No key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub role: Role,
    /// 40 upper-case hex digits, as gpg shows it.
    pub fingerprint: String,
    pub user_id: String,
    pub algorithm: &'static str,
    pub created: SystemTime,
    pub expires: SystemTime,
    pub state: KeyState,
    /// When it was retired (rotated out), if it was.
    pub retired: Option<SystemTime>,
    pub secret: SecretPlace,
}

impl KeyInfo {
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires <= now
    }
}

#[derive(Debug)]
struct Stored {
    info: KeyInfo,
    public: SignedPublicKey,
}

/// The keys of one store, read from its key directory.
pub struct Keys {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    keys: Vec<Stored>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let infos: Vec<&KeyInfo> = self.keys.iter().map(|k| &k.info).collect();
        f.debug_struct("Keys")
            .field("dir", &self.dir)
            .field("keys", &infos)
            .finish()
    }
}

impl Keys {
    /// The key directory of the store at `store`.
    pub fn dir_of_store(store: &Path) -> PathBuf {
        store.join("keys")
    }

    /// Whether `dir` holds keys (a list), without reading them.
    pub fn exist(dir: &Path) -> bool {
        dir.join(list::FILE_NAME).exists()
    }

    /// Reads the keys in `dir`. [`SignError::NoKeys`] if there are none yet.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Keys, SignError> {
        let list_path = dir.join(list::FILE_NAME);
        if !list_path.exists() {
            return Err(SignError::NoKeys {
                dir: dir.to_path_buf(),
            });
        }
        let keys = list::read(&list_path)?
            .into_iter()
            .map(|listed| load_public(dir, listed))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Keys {
            dir: dir.to_path_buf(),
            clock,
            keys,
        })
    }

    /// Makes the build and the release key in `dir`, which must hold none yet.
    pub fn init(
        dir: &Path,
        clock: Arc<dyn Clock>,
        settings: &InitSettings,
    ) -> Result<Keys, SignError> {
        if Keys::exist(dir) {
            return Err(SignError::AlreadyInitialised {
                dir: dir.to_path_buf(),
            });
        }
        settings.build.check()?;
        settings.release.check()?;
        settings.release_secret.check()?;
        private_dir(dir)?;
        let now = clock.wall();
        let build = make_key(dir, &settings.build, &SecretTarget::Store, now)?;
        let release = make_key(dir, &settings.release, &settings.release_secret, now)?;
        let listed = [(Role::Build, build), (Role::Release, release)].map(|(role, made)| Listed {
            role,
            fingerprint: made.fingerprint,
            state: KeyState::Active,
            secret: made.secret,
            retired: None,
        });
        list::write(&dir.join(list::FILE_NAME), &listed)?;
        Keys::open(dir, clock)
    }

    /// Every key, by role: the active one first, then the retired ones, newest first.
    pub fn list(&self) -> Vec<&KeyInfo> {
        let mut infos: Vec<&KeyInfo> = self.keys.iter().map(|k| &k.info).collect();
        infos.sort_by_key(|k| {
            (
                k.role,
                k.state != KeyState::Active,
                std::cmp::Reverse(k.retired),
                std::cmp::Reverse(k.created),
            )
        });
        infos
    }

    /// The key of `role` that signs.
    pub fn active(&self, role: Role) -> &KeyInfo {
        &self.active_stored(role).info
    }

    fn active_stored(&self, role: Role) -> &Stored {
        self.keys
            .iter()
            .find(|k| k.info.role == role && k.info.state == KeyState::Active)
            // The list was checked on reading: one active key per role.
            .unwrap_or_else(|| panic!("the key list was checked to have an active {role} key"))
    }

    /// The active keys that expire within `within` from now (or already have): what the
    /// lead turns into an event and a dashboard warning well before it breaks users.
    pub fn expiring(&self, within: Duration) -> Vec<&KeyInfo> {
        let horizon = self.clock.wall() + within;
        self.list()
            .into_iter()
            .filter(|k| k.state == KeyState::Active && k.expires <= horizon)
            .collect()
    }

    /// Makes a new key for `role`, which becomes the active one; the old one is retired
    /// (kept, its public part exported until it expires).
    pub fn rotate(
        &mut self,
        role: Role,
        settings: &KeySettings,
        target: &SecretTarget,
    ) -> Result<KeyInfo, SignError> {
        settings.check()?;
        target.check()?;
        let old = self.active(role).clone();
        if old.secret == SecretPlace::External && *target == SecretTarget::Store {
            return Err(SignError::BadSettings(format!(
                "the {role} key's private part is kept outside the store; name a new file for \
                 the next one (--{role}-key FILE), so it does not move into the store unasked"
            )));
        }
        let now = self.clock.wall();
        let made = make_key(&self.dir, settings, target, now)?;
        let mut listed: Vec<Listed> = self.keys.iter().map(|k| listed_of(&k.info)).collect();
        for key in listed
            .iter_mut()
            .filter(|k| k.fingerprint == old.fingerprint)
        {
            key.state = KeyState::Retired;
            key.retired = Some(now);
        }
        listed.push(Listed {
            role,
            fingerprint: made.fingerprint.clone(),
            state: KeyState::Active,
            secret: made.secret,
            retired: None,
        });
        list::write(&self.dir.join(list::FILE_NAME), &listed)?;
        *self = Keys::open(&self.dir, self.clock.clone())?;
        Ok(self.active(role).clone())
    }

    /// The public keys of `role` that still verify: the active key and every retired one
    /// not yet expired, active first. Binary (a keyring, for apt's `signed-by` and
    /// `gpgv --keyring`) or one armored block.
    pub fn export(&self, role: Role, encoding: Encoding) -> Result<Vec<u8>, SignError> {
        let now = self.clock.wall();
        let mut keys: Vec<&Stored> = self
            .keys
            .iter()
            .filter(|k| k.info.role == role && !k.info.is_expired_at(now))
            .collect();
        keys.sort_by_key(|k| {
            (
                k.info.state != KeyState::Active,
                std::cmp::Reverse(k.info.created),
            )
        });
        if keys.is_empty() {
            return Err(expired(self.active(role)));
        }
        let publics: Vec<SignedPublicKey> = keys.iter().map(|k| k.public.clone()).collect();
        match encoding {
            Encoding::Armored => openpgp::armor_public(&publics),
            Encoding::Binary => openpgp::to_bytes(&publics, "exporting public keys"),
        }
    }

    /// The signer of `role`'s active key, whose private part is in the store.
    pub fn signer(&self, role: Role) -> Result<Signer, SignError> {
        let active = self.active_stored(role);
        let info = &active.info;
        if info.secret == SecretPlace::External {
            return Err(SignError::SecretElsewhere {
                role,
                fingerprint: info.fingerprint.clone(),
            });
        }
        let path = self.dir.join(format!("{}.key", info.fingerprint));
        if !path.exists() {
            return Err(SignError::MissingSecret {
                role,
                fingerprint: info.fingerprint.clone(),
                path,
            });
        }
        let secret = read_secret(&path, Fault::Environment)?;
        self.signer_with(active, secret, &path)
    }

    /// The signer of `role`'s active key, its private part read from `path` (the file
    /// `init` or `rotate` wrote it to, handed in at release time). The file must be the
    /// owner's alone, as ssh insists of its keys.
    pub fn signer_from_file(&self, role: Role, path: &Path) -> Result<Signer, SignError> {
        let meta = fs_err::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SignError::CorruptKey {
                    path: path.to_path_buf(),
                    reason: "there is no such file".into(),
                    fault: Fault::Input,
                }
            } else {
                SignError::fs(e)
            }
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SignError::CorruptKey {
                path: path.to_path_buf(),
                reason: format!(
                    "a private key must be readable by its owner only, and this one is mode \
                     {mode:04o}: `chmod 600 {}`",
                    path.display()
                ),
                fault: Fault::Input,
            });
        }
        let secret = read_secret(path, Fault::Input)?;
        self.signer_with(self.active_stored(role), secret, path)
    }

    fn signer_with(
        &self,
        active: &Stored,
        secret: SignedSecretKey,
        path: &Path,
    ) -> Result<Signer, SignError> {
        let info = &active.info;
        let found = openpgp::fingerprint(&secret.primary_key);
        if found != info.fingerprint {
            return Err(SignError::WrongKey {
                path: path.to_path_buf(),
                role: info.role,
                expected: info.fingerprint.clone(),
                found,
            });
        }
        if info.is_expired_at(self.clock.wall()) {
            return Err(expired(info));
        }
        Ok(Signer::new(info.clone(), secret, self.clock.clone()))
    }
}

pub(crate) fn expired(info: &KeyInfo) -> SignError {
    SignError::Expired {
        role: info.role,
        fingerprint: info.fingerprint.clone(),
        expired: rfc3339(info.expires),
    }
}

fn listed_of(info: &KeyInfo) -> Listed {
    Listed {
        role: info.role,
        fingerprint: info.fingerprint.clone(),
        state: info.state,
        secret: info.secret,
        retired: info.retired,
    }
}

struct Made {
    fingerprint: String,
    secret: SecretPlace,
}

/// Generates a key and writes its private part (to `target`) and its public part (to the
/// key directory); the list is written by the caller, last.
fn make_key(
    dir: &Path,
    settings: &KeySettings,
    target: &SecretTarget,
    now: SystemTime,
) -> Result<Made, SignError> {
    let key = openpgp::generate(&settings.user_id, now, settings.validity)?;
    let fingerprint = openpgp::fingerprint(&key.primary_key);
    let secret_bytes = openpgp::to_bytes(&key, "writing a private key")?;
    let secret = match target {
        SecretTarget::Store => {
            let path = dir.join(format!("{fingerprint}.key"));
            write_atomically(&path, &secret_bytes, Mode::Private, Replace::No)?;
            SecretPlace::Store
        }
        SecretTarget::File(path) => {
            write_atomically(path, &secret_bytes, Mode::Private, Replace::No)?;
            SecretPlace::External
        }
    };
    let public = openpgp::to_bytes(&openpgp::public_of(&key), "writing a public key")?;
    write_atomically(
        &dir.join(format!("{fingerprint}.pub")),
        &public,
        Mode::Public,
        Replace::Yes,
    )?;
    Ok(Made {
        fingerprint,
        secret,
    })
}

fn read_secret(path: &Path, fault: Fault) -> Result<SignedSecretKey, SignError> {
    let bytes = fs_err::read(path).map_err(SignError::fs)?;
    openpgp::parse_secret(&bytes).map_err(|reason| SignError::CorruptKey {
        path: path.to_path_buf(),
        reason,
        fault,
    })
}

fn load_public(dir: &Path, listed: Listed) -> Result<Stored, SignError> {
    let path = dir.join(format!("{}.pub", listed.fingerprint));
    let corrupt = |reason: String| SignError::CorruptKey {
        path: path.clone(),
        reason,
        fault: Fault::Environment,
    };
    let bytes = fs_err::read(&path).map_err(SignError::fs)?;
    let public = openpgp::parse_public(&bytes).map_err(corrupt)?;
    let found = openpgp::fingerprint(&public);
    if found != listed.fingerprint {
        return Err(corrupt(format!(
            "it holds the key {found}, not {}",
            listed.fingerprint
        )));
    }
    let (created, expires) = openpgp::lifetime(&public);
    let expires = expires.ok_or_else(|| corrupt("it has no expiry".into()))?;
    let user_id = public
        .details
        .users
        .first()
        .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
        .unwrap_or_default();
    let info = KeyInfo {
        role: listed.role,
        fingerprint: listed.fingerprint,
        user_id,
        algorithm: openpgp::algorithm(&public),
        created,
        expires,
        state: listed.state,
        retired: listed.retired,
        secret: listed.secret,
    };
    Ok(Stored { info, public })
}
