//! What a compose needs signed, and nothing more: the caller brings the key (Factory's
//! release key, through `factory-sign`), the compose brings the bytes.

use std::error::Error;

use factory_types::{Fault, HasFault};

/// The release key, as the compose uses it. OpenPGP throughout: apt verifies what it signs.
pub trait Signer {
    /// `text` in the OpenPGP cleartext signature framework (what `gpg --clearsign` writes,
    /// starting `-----BEGIN PGP SIGNED MESSAGE-----`): the apt `InRelease` file.
    fn clearsign(&self, text: &str) -> Result<String, SignError>;

    /// An ASCII-armored detached signature of `data` (`-----BEGIN PGP SIGNATURE-----`):
    /// `Release.gpg`.
    fn detached_armored(&self, data: &[u8]) -> Result<String, SignError>;

    /// The public key users verify with: binary OpenPGP (written as `release-key.gpg`) or
    /// armored (written as `release-key.asc`); apt's `signed-by` reads either by its name.
    fn public_key(&self) -> Result<Vec<u8>, SignError>;
}

/// A signer's failure, with its fault (a missing key is the environment's, a bad
/// passphrase the input's, …) and its cause.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct SignError {
    fault: Fault,
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

impl SignError {
    /// From any error that knows its fault (such as `factory-sign`'s).
    pub fn new<E: Error + HasFault + Send + Sync + 'static>(error: E) -> SignError {
        SignError {
            fault: error.fault(),
            source: Box::new(error),
        }
    }

    /// From an error of another kind, with the fault given.
    pub fn with_fault(fault: Fault, error: impl Into<Box<dyn Error + Send + Sync>>) -> SignError {
        SignError {
            fault,
            source: error.into(),
        }
    }
}

impl HasFault for SignError {
    fn fault(&self) -> Fault {
        self.fault
    }
}
