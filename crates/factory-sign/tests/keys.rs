//! The key directory through the library, on a clock the tests move: expiry warnings,
//! rotation, what is exported and what may still sign, keys kept outside the store, and
//! precise errors (with their fault) for every way a key can be missing or wrong.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use factory_sign::{
    Encoding, InitSettings, KeySettings, KeyState, Keys, Role, SecretPlace, SecretTarget, SignError,
};
use factory_types::{Clock, Fault, HasFault, ManualClock};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn clock() -> ManualClock {
    ManualClock::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200))
}

fn settings(validity: Duration) -> InitSettings {
    InitSettings {
        build: KeySettings {
            validity,
            ..KeySettings::default_for(Role::Build)
        },
        release: KeySettings {
            validity,
            ..KeySettings::default_for(Role::Release)
        },
        release_secret: SecretTarget::Store,
    }
}

fn init(dir: &Path, clock: &ManualClock, settings: &InitSettings) -> Keys {
    Keys::init(dir, Arc::new(clock.clone()), settings).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_makes_two_distinct_active_keys_in_a_private_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let clock = clock();
    let keys = init(&dir, &clock, &InitSettings::default());
    let list = keys.list();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0].role, list[1].role), (Role::Build, Role::Release));
    assert_ne!(list[0].fingerprint, list[1].fingerprint);
    for key in &list {
        assert_eq!(key.state, KeyState::Active);
        assert_eq!(key.algorithm, "ed25519");
        assert_eq!(key.created, clock.wall());
        assert_eq!(key.expires, clock.wall() + factory_sign::DEFAULT_VALIDITY);
        assert_eq!(key.secret, SecretPlace::Store);
        assert_eq!(mode(&dir.join(format!("{}.key", key.fingerprint))), 0o600);
    }
    assert_eq!(list[0].user_id, "Factory build key");
    assert_eq!(mode(&dir), 0o700);
    // Opening again reads the same.
    let again = Keys::open(&dir, Arc::new(clock.clone())).unwrap();
    assert_eq!(again.list(), list);
    // A second init changes nothing.
    let err = Keys::init(&dir, Arc::new(clock), &InitSettings::default()).unwrap_err();
    assert!(matches!(err, SignError::AlreadyInitialised { .. }), "{err}");
    assert_eq!(err.fault(), Fault::Input);
}

#[test]
fn expiring_answers_which_active_keys_expire_within_a_horizon() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut keys = init(&tmp.path().join("keys"), &clock, &settings(100 * DAY));
    assert!(keys.expiring(30 * DAY).is_empty());
    clock.advance(71 * DAY);
    let expiring = keys.expiring(30 * DAY);
    assert_eq!(expiring.len(), 2, "{expiring:?}");
    // Rotating the build key leaves only the release key to warn about; the retired build
    // key expires too, but signs nothing.
    keys.rotate(
        Role::Build,
        &KeySettings::default_for(Role::Build),
        &SecretTarget::Store,
    )
    .unwrap();
    let roles: Vec<Role> = keys.expiring(30 * DAY).iter().map(|k| k.role).collect();
    assert_eq!(roles, [Role::Release]);
}

#[test]
fn rotation_retires_the_old_key_which_is_exported_until_it_expires() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let clock = clock();
    let mut keys = init(&dir, &clock, &settings(10 * DAY));
    let old = keys.active(Role::Release).clone();
    let one_key = keys.export(Role::Release, Encoding::Binary).unwrap();
    clock.advance(DAY);
    let new = keys
        .rotate(
            Role::Release,
            &KeySettings::default_for(Role::Release),
            &SecretTarget::Store,
        )
        .unwrap();
    assert_ne!(new.fingerprint, old.fingerprint);
    assert_eq!(keys.active(Role::Release), &new);
    let retired = keys
        .list()
        .into_iter()
        .find(|k| k.fingerprint == old.fingerprint)
        .unwrap()
        .clone();
    assert_eq!(retired.state, KeyState::Retired);
    assert_eq!(retired.retired, Some(clock.wall()));
    assert_eq!(
        keys.signer(Role::Release).unwrap().fingerprint(),
        new.fingerprint
    );
    // Both exported while the old one is valid (the keyring grows), only the new one after.
    let two_keys = keys.export(Role::Release, Encoding::Binary).unwrap();
    assert!(two_keys.len() > one_key.len());
    let armored =
        String::from_utf8(keys.export(Role::Release, Encoding::Armored).unwrap()).unwrap();
    assert!(
        armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{armored}"
    );
    clock.advance(10 * DAY);
    let after = keys.export(Role::Release, Encoding::Binary).unwrap();
    assert_eq!(
        after,
        keys.signer(Role::Release)
            .unwrap()
            .public_key(Encoding::Binary)
            .unwrap()
    );
    // The rotation was durable: a fresh open sees it.
    let reopened = Keys::open(&dir, Arc::new(clock)).unwrap();
    assert_eq!(reopened.list().len(), 3);
}

#[test]
fn an_expired_key_signs_nothing_and_says_to_rotate() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = clock();
    let keys = init(&tmp.path().join("keys"), &clock, &settings(DAY));
    let signer = keys.signer(Role::Build).unwrap();
    clock.advance(DAY);
    let err = signer.detached(b"x", Encoding::Binary).unwrap_err();
    assert!(
        err.to_string().contains("`factory keys rotate build`"),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Input);
    assert!(matches!(
        keys.signer(Role::Build),
        Err(SignError::Expired { .. })
    ));
    assert!(matches!(
        keys.export(Role::Build, Encoding::Binary),
        Err(SignError::Expired { .. })
    ));
}

#[test]
fn a_release_key_kept_outside_the_store_is_handed_in_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("release.key");
    let clock = clock();
    let settings = InitSettings {
        release_secret: SecretTarget::File(outside.clone()),
        ..InitSettings::default()
    };
    let keys = init(&tmp.path().join("keys"), &clock, &settings);
    let release = keys.active(Role::Release).clone();
    assert_eq!(release.secret, SecretPlace::External);
    assert_eq!(mode(&outside), 0o600);
    assert!(
        !tmp.path()
            .join(format!("keys/{}.key", release.fingerprint))
            .exists()
    );

    let err = keys.signer(Role::Release).unwrap_err();
    assert!(matches!(err, SignError::SecretElsewhere { .. }), "{err}");
    assert!(err.to_string().contains("--release-key FILE"), "{err}");
    let signer = keys.signer_from_file(Role::Release, &outside).unwrap();
    assert_eq!(signer.fingerprint(), release.fingerprint);

    // The build key's file is not the release key.
    let build_file = tmp
        .path()
        .join(format!("keys/{}.key", keys.active(Role::Build).fingerprint));
    let err = keys
        .signer_from_file(Role::Release, &build_file)
        .unwrap_err();
    assert!(matches!(err, SignError::WrongKey { .. }), "{err}");
    // A file others can read is refused, as ssh refuses one.
    fs_err::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = keys.signer_from_file(Role::Release, &outside).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert_eq!(err.fault(), Fault::Input);
    // No such file, and a file that is no key: the input's fault, the path named.
    for (path, bytes) in [
        (tmp.path().join("absent.key"), None),
        (tmp.path().join("junk.key"), Some(b"junk")),
    ] {
        if let Some(bytes) = bytes {
            fs_err::write(&path, bytes).unwrap();
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = keys.signer_from_file(Role::Release, &path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(err.fault(), Fault::Input, "{err}");
    }
    // Rotating it needs a new file: the private part never moves into the store unasked,
    // and an existing file is never overwritten.
    let mut keys = keys;
    let release_settings = KeySettings::default_for(Role::Release);
    let err = keys
        .rotate(Role::Release, &release_settings, &SecretTarget::Store)
        .unwrap_err();
    assert!(err.to_string().contains("--release-key FILE"), "{err}");
    let err = keys
        .rotate(
            Role::Release,
            &release_settings,
            &SecretTarget::File(outside.clone()),
        )
        .unwrap_err();
    assert!(matches!(err, SignError::WouldOverwrite { .. }), "{err}");
    assert_eq!(keys.active(Role::Release), &release);
}

#[test]
fn a_damaged_key_directory_names_the_file_and_blames_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let clock = clock();
    let keys = init(&dir, &clock, &InitSettings::default());
    let build = keys.active(Role::Build).fingerprint.clone();
    let secret = dir.join(format!("{build}.key"));
    let public = dir.join(format!("{build}.pub"));

    fs_err::write(&secret, b"not a key").unwrap();
    let err = keys.signer(Role::Build).unwrap_err();
    assert!(
        err.to_string().contains(&secret.display().to_string()),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Environment);

    fs_err::remove_file(&secret).unwrap();
    let err = keys.signer(Role::Build).unwrap_err();
    assert!(matches!(err, SignError::MissingSecret { .. }), "{err}");
    assert_eq!(err.fault(), Fault::Environment);

    fs_err::write(&public, b"").unwrap();
    let err = Keys::open(&dir, Arc::new(clock.clone())).unwrap_err();
    assert!(
        err.to_string().contains(&public.display().to_string()),
        "{err}"
    );
    assert_eq!(err.fault(), Fault::Environment);

    let err = Keys::open(&tmp.path().join("none"), Arc::new(clock)).unwrap_err();
    assert!(err.to_string().contains("`factory keys init`"), "{err}");
    assert_eq!(err.fault(), Fault::Input);
}

#[test]
fn settings_that_make_no_sense_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    for (settings, why) in [
        (settings(Duration::from_secs(60)), "at least a day"),
        (
            InitSettings {
                build: KeySettings {
                    user_id: " ".into(),
                    ..KeySettings::default_for(Role::Build)
                },
                ..InitSettings::default()
            },
            "one non-empty line",
        ),
    ] {
        let err = Keys::init(&dir, Arc::new(clock()), &settings).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
        assert!(!dir.exists());
    }
}
