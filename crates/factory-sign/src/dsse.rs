//! DSSE (Dead Simple Signing Envelope) v1: a payload, its type, and signatures over the
//! pre-authentication encoding (PAE) of both, never over the raw JSON.
//!
//! The signature is an OpenPGP binary detached signature by the build key over the PAE
//! bytes, and `keyid` is the key's fingerprint. That choice lets a stock tool verify an
//! envelope: rebuild the PAE, base64-decode `sig`, and `gpgv --keyring build.gpg SIG PAE`
//! (or `sqv`); `docs/signing.md` shows it step by step. One envelope per line makes an
//! `.intoto.jsonl` file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::error::SignError;
use crate::provenance::{Parameter, Provenance, statement};
use crate::signer::{Encoding, Signer};

/// The payload type of an in-toto Statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The key of `internal_parameters` under which [`attest`] records the build key.
pub const BUILD_KEY_PARAMETER: &str = "buildKey";

/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A signed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signing key's fingerprint.
    pub keyid: String,
    /// An OpenPGP binary detached signature over the PAE.
    pub sig: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson<'a> {
    payload_type: &'a str,
    payload: String,
    signatures: Vec<SignatureJson<'a>>,
}

#[derive(Serialize)]
struct SignatureJson<'a> {
    keyid: &'a str,
    sig: String,
}

impl Envelope {
    /// `payload` signed by `signer`.
    pub fn sign(
        signer: &Signer,
        payload_type: &str,
        payload: Vec<u8>,
    ) -> Result<Envelope, SignError> {
        let sig = signer.detached(&pae(payload_type, &payload), Encoding::Binary)?;
        Ok(Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: vec![EnvelopeSignature {
                keyid: signer.fingerprint().to_owned(),
                sig,
            }],
        })
    }

    /// The envelope as one line of JSON (no newline in it), for an `.intoto.jsonl` file.
    pub fn to_json_line(&self) -> String {
        let json = EnvelopeJson {
            payload_type: &self.payload_type,
            payload: STANDARD.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| SignatureJson {
                    keyid: &s.keyid,
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        serde_json::to_string(&json).unwrap_or_else(|e| {
            // Strings and vectors of strings always serialize.
            panic!("an envelope failed to serialize: {e}")
        })
    }
}

/// `envelopes` as the text of an `.intoto.jsonl` file: one per line, each ended by `\n`.
pub fn jsonl(envelopes: &[Envelope]) -> String {
    envelopes.iter().map(|e| e.to_json_line() + "\n").collect()
}

/// The provenance as an in-toto Statement, signed by `signer` (the build key) in a DSSE
/// envelope. The signer's fingerprint is recorded in the predicate's internal parameters
/// (`buildKey`) as well as in the envelope's `keyid`.
pub fn attest(signer: &Signer, provenance: &Provenance) -> Result<Envelope, SignError> {
    let mut provenance = provenance.clone();
    provenance.internal_parameters.insert(
        BUILD_KEY_PARAMETER.to_owned(),
        Parameter::Text(signer.fingerprint().to_owned()),
    );
    Envelope::sign(signer, IN_TOTO_PAYLOAD_TYPE, statement(&provenance)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specification_s_example() {
        // The DSSE specification's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }
}
