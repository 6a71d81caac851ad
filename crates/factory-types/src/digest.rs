//! The sha256 digest: the name of every blob, tree and build key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "sha256:";

/// A sha256 digest. Displayed, serialized and parsed as `sha256:<64 lowercase hex digits>`
/// (the OCI form), so another algorithm could be added without ambiguity; [`Digest::hex`]
/// gives the bare digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Text that is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a sha256 digest: expected {expected}")]
pub struct DigestError {
    pub text: String,
    pub expected: &'static str,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A digest as people write it: 64 hex digits in either case, with or without the
    /// `sha256:` prefix (a definition's `sha256 = "..."`, a digest pasted from `sha256sum`).
    pub fn parse_lenient(text: &str) -> Result<Self, DigestError> {
        let digits = text.strip_prefix(PREFIX).unwrap_or(text);
        let mut bytes = [0u8; 32];
        if digits.len() != 64 || hex::decode_to_slice(digits, &mut bytes).is_err() {
            return Err(DigestError {
                text: text.to_owned(),
                expected: "64 hexadecimal digits, optionally prefixed by `sha256:`",
            });
        }
        Ok(Digest(bytes))
    }

    /// 64 lowercase hex digits without a prefix: the form stored beside a build (a
    /// source's or an input's digest in `factory explain`).
    pub fn parse_hex(text: &str) -> Result<Self, DigestError> {
        let wrong = || DigestError {
            text: text.to_owned(),
            expected: "64 lowercase hexadecimal digits",
        };
        if !is_lower_hex(text) {
            return Err(wrong());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| wrong())?;
        Ok(Digest(bytes))
    }
}

/// Only lowercase is accepted where a digest is a key, so one digest has one spelling.
fn is_lower_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    /// The one spelling [`Digest`] displays as: `sha256:` and 64 lowercase hex digits.
    fn from_str(text: &str) -> Result<Self, DigestError> {
        let digits = text.strip_prefix(PREFIX).ok_or_else(|| DigestError {
            text: text.to_owned(),
            expected: "`sha256:` followed by 64 lowercase hex digits",
        })?;
        Digest::parse_hex(digits).map_err(|_| DigestError {
            text: text.to_owned(),
            expected: "`sha256:` followed by 64 lowercase hex digits",
        })
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental hashing, for data that arrives in pieces.
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector_round_trips_in_every_spelling() {
        let digest = Digest::of(b"abc");
        let text = digest.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(text.parse::<Digest>().unwrap(), digest);
        assert_eq!(Digest::parse_hex(&digest.hex()).unwrap(), digest);
        assert_eq!(
            Digest::parse_lenient(&digest.hex().to_uppercase()).unwrap(),
            digest
        );
        assert_eq!(Digest::parse_lenient(&text).unwrap(), digest);
        // sha256("") is a well known constant: proves it really is sha256.
        assert_eq!(
            Digest::of(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_strict_forms_refuse_other_spellings() {
        let hex = Digest::of(b"abc").hex();
        for bad in [
            hex.clone(),
            format!("sha256:{}", hex.to_uppercase()),
            "sha256:ba78".into(),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
        assert!(Digest::parse_hex(&hex.to_uppercase()).is_err());
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), "sha512:00"] {
            assert_eq!(Digest::parse_lenient(bad).unwrap_err().text, bad);
        }
    }

    #[test]
    fn incremental_equals_one_shot() {
        let mut hasher = Hasher::default();
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(hasher.finish(), Digest::of(b"abc"));
    }

    #[test]
    fn serde_uses_the_prefixed_form() {
        let digest = Digest::of(b"x");
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{digest}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
    }
}
