//! Positions in the event log, what they number, build keys and log streams.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestError};

/// Position of an event in the global log: 1, 2, 3, ... without gaps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A build. Its number is the sequence number of the event that queued it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct BuildId(pub u64);

/// A rebuild wave. Its number is the sequence number of the event that planned it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct WaveId(pub u64);

impl From<Seq> for BuildId {
    fn from(seq: Seq) -> Self {
        BuildId(seq.0)
    }
}

impl From<Seq> for WaveId {
    fn from(seq: Seq) -> Self {
        WaveId(seq.0)
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}

impl fmt::Display for WaveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}", self.0)
    }
}

/// The identity of a build: a digest of everything that can influence its outputs (the
/// engine computes it; everything else only compares and stores it). Equal keys mean the
/// build would do the same thing with the same inputs, so a key that succeeded is reused.
/// Displayed and serialized as 64 hex digits, the form the event log has always stored.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BuildKey(pub Digest);

impl BuildKey {
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    pub fn hex(&self) -> String {
        self.0.hex()
    }

    /// The first 12 hex digits, as lists show a key.
    pub fn short(&self) -> String {
        self.0.hex()[..12].to_owned()
    }

    pub fn parse(text: &str) -> Result<BuildKey, DigestError> {
        Digest::parse_hex(text).map(BuildKey)
    }
}

impl fmt::Display for BuildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.hex())
    }
}

impl fmt::Debug for BuildKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildKey({})", self.0.hex())
    }
}

impl Serialize for BuildKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BuildKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        BuildKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which stream a line of a build's log came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    #[default]
    Stdout,
    Stderr,
    /// Written by Factory itself about the build (the command about to run, retries, ...).
    Factory,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::Factory => "factory",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_stored_as_bare_hex_and_refuses_anything_else() {
        let key = BuildKey(Digest::of(b"material"));
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{}\"", key.hex()));
        assert_eq!(serde_json::from_str::<BuildKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<BuildKey>("\"\"").is_err());
        assert!(serde_json::from_str::<BuildKey>(&format!("\"sha256:{}\"", key.hex())).is_err());
        assert_eq!(key.short().len(), 12);
    }

    #[test]
    fn ids_display_as_users_type_them() {
        assert_eq!(BuildId(12).to_string(), "b12");
        assert_eq!(WaveId(7).to_string(), "w7");
        assert_eq!(Seq(3).to_string(), "3");
        assert_eq!(
            serde_json::to_string(&LogStream::Factory).unwrap(),
            "\"factory\""
        );
    }
}
