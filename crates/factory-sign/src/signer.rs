//! A [`Signer`]: one active key, ready to sign, with the clock that dates its signatures.

use std::fmt;
use std::sync::Arc;

use factory_types::Clock;
use pgp::composed::{ArmorOptions, SignedSecretKey};

use crate::error::SignError;
use crate::keys::{KeyInfo, expired};
use crate::{Role, openpgp};

/// How OpenPGP data is written: binary packets, or ASCII armor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Packets as they are: a keyring for apt's `signed-by`, a `.sig`.
    Binary,
    /// ASCII armor (`-----BEGIN PGP …-----`): `Release.gpg`, an `.asc`.
    Armored,
}

/// Signs with one key. Cheap to clone (the key is shared) and safe to share between
/// threads; it never shows its key (its `Debug` names role and fingerprint only).
#[derive(Clone)]
pub struct Signer {
    info: KeyInfo,
    key: Arc<SignedSecretKey>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("role", &self.info.role)
            .field("fingerprint", &self.info.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn new(info: KeyInfo, key: SignedSecretKey, clock: Arc<dyn Clock>) -> Signer {
        Signer {
            info,
            key: Arc::new(key),
            clock,
        }
    }

    pub fn role(&self) -> Role {
        self.info.role
    }

    /// The key's fingerprint: what a DSSE signature's `keyid` and gpg's output name.
    pub fn fingerprint(&self) -> &str {
        &self.info.fingerprint
    }

    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// The time to date a signature with; a key that expired since the signer was made
    /// signs nothing more, since nothing it signed would verify.
    pub(crate) fn now(&self) -> Result<std::time::SystemTime, SignError> {
        let now = self.clock.wall();
        if self.info.is_expired_at(now) {
            return Err(expired(&self.info));
        }
        Ok(now)
    }

    /// A detached signature over `data` (`gpgv --keyring KEY SIG DATA` checks it):
    /// `Release.gpg` armored, a `.sig` binary.
    pub fn detached(&self, data: &[u8], encoding: Encoding) -> Result<Vec<u8>, SignError> {
        let signature = openpgp::detached(&self.key, self.now()?, data)?;
        match encoding {
            Encoding::Binary => openpgp::to_bytes(&signature, "writing a signature"),
            Encoding::Armored => signature
                .to_armored_bytes(ArmorOptions::default())
                .map_err(SignError::pgp("armoring a signature")),
        }
    }

    /// `text` clearsigned (apt's `InRelease` from its `Release`). It must be UTF-8. As
    /// OpenPGP defines, blanks at the end of a line are not signed, and `gpgv --output`
    /// gives back the text without them.
    pub fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>, SignError> {
        let text = std::str::from_utf8(text).map_err(SignError::NotText)?;
        openpgp::clearsign(&self.key, self.now()?, text)
    }

    /// `payload` wrapped in a signed OpenPGP message: what containers/image stores as an
    /// image signature.
    pub(crate) fn signed_message(&self, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        openpgp::signed_message(&self.key, self.now()?, payload)
    }

    /// This key's public part alone. Users should be given [`crate::Keys::export`]
    /// instead, which also carries the retired keys that still verify.
    pub fn public_key(&self, encoding: Encoding) -> Result<Vec<u8>, SignError> {
        let public = openpgp::public_of(&self.key);
        match encoding {
            Encoding::Binary => openpgp::to_bytes(&public, "writing a public key"),
            Encoding::Armored => openpgp::armor_public(&[public]),
        }
    }
}
