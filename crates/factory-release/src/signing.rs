//! The release key as a compose signs with it: `factory-sign`'s OpenPGP signer behind the
//! two traits composes and images ask for.

use factory_compose::{SignError, Signer};
use factory_sign::{Encoding, Keys, Role};
use factory_types::{Digest, Fault};

use crate::publish::ReleaseSigner;

/// The release key, and the public keys users should verify with.
pub struct ReleaseKey {
    signer: factory_sign::Signer,
    /// What `release-key.gpg` beside a compose holds: the active key and the retired ones
    /// that still verify older releases, so a rotation does not break `signed-by`.
    public: Vec<u8>,
}

impl ReleaseKey {
    /// The active release key of `keys`, or the one in `secret` when it is handed in at
    /// release time (it lives apart from the store).
    pub fn open(keys: &Keys, secret: Option<&std::path::Path>) -> Result<ReleaseKey, SignError> {
        let signer = match secret {
            Some(path) => keys.signer_from_file(Role::Release, path),
            None => keys.signer(Role::Release),
        }
        .map_err(SignError::new)?;
        let public = keys
            .export(Role::Release, Encoding::Binary)
            .map_err(SignError::new)?;
        Ok(ReleaseKey { signer, public })
    }

    pub fn fingerprint(&self) -> &str {
        self.signer.fingerprint()
    }
}

impl Signer for ReleaseKey {
    fn clearsign(&self, text: &str) -> Result<String, SignError> {
        armored_text(self.signer.clearsign(text.as_bytes()))
    }

    fn detached_armored(&self, data: &[u8]) -> Result<String, SignError> {
        armored_text(self.signer.detached(data, Encoding::Armored))
    }

    fn public_key(&self) -> Result<Vec<u8>, SignError> {
        Ok(self.public.clone())
    }
}

impl ReleaseSigner for ReleaseKey {
    fn sign_image(
        &self,
        docker_reference: &str,
        manifest_digest: &str,
    ) -> Result<Vec<u8>, SignError> {
        let digest = Digest::parse_lenient(manifest_digest)
            .map_err(|e| SignError::with_fault(Fault::Factory, e))?;
        factory_sign::image_signature(&self.signer, docker_reference, &digest)
            .map_err(SignError::new)
    }
}

/// Armored OpenPGP is ASCII by construction: anything else is Factory's bug.
fn armored_text(signed: Result<Vec<u8>, factory_sign::SignError>) -> Result<String, SignError> {
    String::from_utf8(signed.map_err(SignError::new)?)
        .map_err(|e| SignError::with_fault(Fault::Factory, e))
}
