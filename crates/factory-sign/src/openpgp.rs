//! OpenPGP through rpgp (the `pgp` crate): keys made with the clock's time, and the three
//! kinds of signature Factory makes — detached (apt's `Release.gpg`, DSSE envelopes),
//! clearsigned (apt's `InRelease`) and signed messages (container image signatures).
//!
//! Why rpgp rather than the real `gpg`: it is a maintained, pure-Rust implementation of
//! RFC 9580 that signs in-process, so private keys stay files Factory writes itself (0600,
//! atomically) instead of living in a gpg home with an agent process to start, feed and
//! stop; and every time a signature or key carries comes from Factory's clock, not the
//! wall clock of a child process. Verification stays with the stock tools (`gpgv`, `sqv`,
//! skopeo) in the tests: rpgp only ever produces here.
//!
//! Keys are v4 Ed25519 (`EdDSALegacy`), which gpg 2.2, Sequoia's `sqv`, apt and the
//! containers tooling all verify; one primary key that certifies and signs, no subkeys.

use std::io::BufReader;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SubsecRound, Utc};
use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, KeyType, MessageBuilder,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey, SubpacketConfig,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{KeyFlags, SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password, PublicKeyTrait, Tag};
use rand::rngs::OsRng;

use crate::error::SignError;

/// The digest every signature is made with: SHA-256, accepted by every verifier that
/// matters (sqv's policy refuses SHA-1).
const HASH: HashAlgorithm = HashAlgorithm::Sha256;

/// Factory's keys have no passphrase: they are protected as files (0600 in a 0700
/// directory), as OBS's signd and most build services keep theirs.
fn no_passphrase() -> Password {
    Password::empty()
}

/// OpenPGP times are whole seconds.
pub(crate) fn utc(time: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(time).trunc_subsecs(0)
}

pub(crate) fn system_time(time: DateTime<Utc>) -> SystemTime {
    SystemTime::from(time)
}

/// A new signing key for `user_id`, created at `created` and valid for `validity`.
pub(crate) fn generate(
    user_id: &str,
    created: SystemTime,
    validity: Duration,
) -> Result<SignedSecretKey, SignError> {
    let created = utc(created);
    let expires_after = chrono::Duration::from_std(validity)
        .map_err(|_| SignError::BadSettings(format!("a validity of {validity:?} is too long")))?;
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .created_at(created)
        .primary_user_id(user_id.to_owned());
    let params = params
        .build()
        .map_err(|e| SignError::BadSettings(format!("cannot make a key: {e}")))?;
    let unsigned = params
        .generate(OsRng)
        .map_err(SignError::pgp("key generation"))?;
    let mut key = unsigned
        .sign(OsRng, &no_passphrase())
        .map_err(SignError::pgp("self-signing a new key"))?;
    // rpgp dates the self-signature by the wall clock and sets no expiry; it is made again
    // here, dated by Factory's clock, with the expiry in it.
    for user in &mut key.details.users {
        user.signatures = vec![self_signature(
            &key.primary_key,
            &user.id,
            created,
            expires_after,
        )?];
    }
    Ok(key)
}

/// The positive certification binding `user_id` to `key`: what makes it a signing key
/// (key flags) and when it expires.
fn self_signature(
    key: &pgp::packet::SecretKey,
    user_id: &pgp::packet::UserId,
    created: DateTime<Utc>,
    expires_after: chrono::Duration,
) -> Result<pgp::packet::Signature, SignError> {
    let mut flags = KeyFlags::default();
    flags.set_certify(true);
    flags.set_sign(true);
    let mut config = SignatureConfig::v4(SignatureType::CertPositive, key.algorithm(), HASH);
    config.hashed_subpackets = subpackets(vec![
        SubpacketData::SignatureCreationTime(created),
        SubpacketData::IssuerFingerprint(key.fingerprint()),
        SubpacketData::KeyFlags(flags),
        SubpacketData::KeyExpirationTime(expires_after),
        SubpacketData::PreferredHashAlgorithms(
            [HashAlgorithm::Sha256, HashAlgorithm::Sha512]
                .into_iter()
                .collect(),
        ),
        SubpacketData::IsPrimary(true),
    ])?;
    config.unhashed_subpackets = subpackets(vec![SubpacketData::Issuer(key.key_id())])?;
    config
        .sign_certification(
            key,
            key.public_key(),
            &no_passphrase(),
            Tag::UserId,
            user_id,
        )
        .map_err(SignError::pgp("self-signing a new key"))
}

fn subpackets(data: Vec<SubpacketData>) -> Result<Vec<Subpacket>, SignError> {
    data.into_iter()
        .map(|d| Subpacket::regular(d).map_err(SignError::pgp("making a signature subpacket")))
        .collect()
}

/// What a data signature says of itself, hashed and not: when (by Factory's clock) and by
/// which key.
type SubpacketLists = (Vec<Subpacket>, Vec<Subpacket>);

fn data_subpacket_lists(
    key: &SignedSecretKey,
    at: SystemTime,
) -> Result<SubpacketLists, SignError> {
    let hashed = subpackets(vec![
        SubpacketData::SignatureCreationTime(utc(at)),
        SubpacketData::IssuerFingerprint(key.fingerprint()),
    ])?;
    let unhashed = subpackets(vec![SubpacketData::Issuer(key.key_id())])?;
    Ok((hashed, unhashed))
}

fn data_subpackets(key: &SignedSecretKey, at: SystemTime) -> Result<SubpacketConfig, SignError> {
    let (hashed, unhashed) = data_subpacket_lists(key, at)?;
    Ok(SubpacketConfig::UserDefined { hashed, unhashed })
}

/// A binary detached signature (one signature packet) over `data`.
pub(crate) fn detached(
    key: &SignedSecretKey,
    at: SystemTime,
    data: &[u8],
) -> Result<DetachedSignature, SignError> {
    DetachedSignature::sign_binary_data_with_subpackets(
        OsRng,
        &key.primary_key,
        &no_passphrase(),
        HASH,
        data,
        data_subpackets(key, at)?,
    )
    .map_err(SignError::pgp("a detached signature"))
}

/// `text` clearsigned: the text (dash-escaped) and an armored signature in one document.
pub(crate) fn clearsign(
    key: &SignedSecretKey,
    at: SystemTime,
    text: &str,
) -> Result<Vec<u8>, SignError> {
    let mut config = SignatureConfig::v4(SignatureType::Text, key.algorithm(), HASH);
    let (hashed, unhashed) = data_subpacket_lists(key, at)?;
    // The line break before `-----BEGIN PGP SIGNATURE-----` is the framing's, not the
    // text's: gpg leaves a text's final line break out of what it signs, and gives it back
    // on verifying. rpgp writes that break itself, so the text's own goes.
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    config.hashed_subpackets = hashed;
    config.unhashed_subpackets = unhashed;
    // OpenPGP leaves trailing blanks out of what a cleartext signature covers (gpgv strips
    // them before hashing); rpgp does not, so the signature is made here over the text as
    // the verifiers will hash it, and the text travels as it was given.
    let message = CleartextSignedMessage::new_many(text, |normalized| {
        let hashed = without_trailing_blanks(normalized);
        Ok(vec![config.sign(
            &key.primary_key,
            &no_passphrase(),
            hashed.as_bytes(),
        )?])
    })
    .map_err(SignError::pgp("a clearsigned document"))?;
    message
        .to_armored_bytes(Default::default())
        .map_err(SignError::pgp("armoring a clearsigned document"))
}

/// Each line (they end in CR LF here) without its trailing spaces and tabs.
fn without_trailing_blanks(text: &str) -> String {
    text.split("\r\n")
        .map(|line| line.trim_end_matches([' ', '\t']))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// `payload` as a signed OpenPGP message (one-pass signature, literal data, signature;
/// binary), as containers/image's simple signing stores an image signature.
pub(crate) fn signed_message(
    key: &SignedSecretKey,
    at: SystemTime,
    payload: &[u8],
) -> Result<Vec<u8>, SignError> {
    let mut builder = MessageBuilder::from_bytes("", payload.to_vec());
    builder.sign_with_subpackets(
        &key.primary_key,
        no_passphrase(),
        HASH,
        data_subpackets(key, at)?,
    );
    builder
        .to_vec(OsRng)
        .map_err(SignError::pgp("a signed message"))
}

/// The public part (a transferable public key) of `key`.
pub(crate) fn public_of(key: &SignedSecretKey) -> SignedPublicKey {
    SignedPublicKey::from(key.clone())
}

pub(crate) fn to_bytes(value: &impl Serialize, what: &'static str) -> Result<Vec<u8>, SignError> {
    value.to_bytes().map_err(SignError::pgp(what))
}

/// Public keys in one armored block, as `gpg --export --armor` writes several.
pub(crate) fn armor_public(keys: &[SignedPublicKey]) -> Result<Vec<u8>, SignError> {
    let mut out = Vec::new();
    pgp::armor::write(
        &keys.to_vec(),
        pgp::armor::BlockType::PublicKey,
        &mut out,
        None,
        true,
    )
    .map_err(SignError::pgp("armoring public keys"))?;
    Ok(out)
}

pub(crate) fn parse_secret(bytes: &[u8]) -> Result<SignedSecretKey, String> {
    let key = SignedSecretKey::from_bytes(BufReader::new(bytes)).map_err(|e| e.to_string())?;
    key.verify()
        .map_err(|e| format!("its self-signature does not verify: {e}"))?;
    Ok(key)
}

pub(crate) fn parse_public(bytes: &[u8]) -> Result<SignedPublicKey, String> {
    let key = SignedPublicKey::from_bytes(BufReader::new(bytes)).map_err(|e| e.to_string())?;
    key.verify()
        .map_err(|e| format!("its self-signature does not verify: {e}"))?;
    Ok(key)
}

/// A key's fingerprint as gpg shows it: 40 upper-case hex digits.
pub(crate) fn fingerprint(key: &impl KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

/// When a key was made and when it stops verifying.
pub(crate) fn lifetime(key: &SignedPublicKey) -> (SystemTime, Option<SystemTime>) {
    (
        system_time(*key.primary_key.created_at()),
        key.expires_at().map(system_time),
    )
}

/// The name of a key's algorithm, as `gpg --list-keys` shows it.
pub(crate) fn algorithm(key: &SignedPublicKey) -> &'static str {
    use pgp::crypto::public_key::PublicKeyAlgorithm as A;
    match key.primary_key.algorithm() {
        A::EdDSALegacy | A::Ed25519 => "ed25519",
        A::Ed448 => "ed448",
        A::RSA | A::RSASign => "rsa",
        A::ECDSA => "ecdsa",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SignedSecretKey {
        generate(
            "Test <t@example.org>",
            SystemTime::now(),
            Duration::from_secs(86_400),
        )
        .unwrap()
    }

    #[test]
    fn a_new_key_verifies_and_expires_when_told() {
        let created = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let key = generate("Test", created, Duration::from_secs(3_600)).unwrap();
        let public = public_of(&key);
        public.verify().unwrap();
        assert_eq!(
            lifetime(&public),
            (created, Some(created + Duration::from_secs(3_600)))
        );
        assert_eq!(algorithm(&public), "ed25519");
        assert_eq!(fingerprint(&public).len(), 40);
        let bytes = to_bytes(&key, "test").unwrap();
        assert_eq!(
            fingerprint(&parse_secret(&bytes).unwrap().primary_key),
            fingerprint(&public)
        );
    }

    #[test]
    fn signatures_verify_in_process_and_fail_on_other_bytes() {
        let key = key();
        let public = public_of(&key);
        let signature = detached(&key, SystemTime::now(), b"data").unwrap();
        signature.verify(&public, b"data").unwrap();
        assert!(signature.verify(&public, b"datA").is_err());
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(parse_secret(b"not a key").is_err());
        assert!(parse_public(b"").is_err());
    }
}
