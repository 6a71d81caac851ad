//! What callers of [`crate::Tokens`] share: how a token becomes the hash the store keeps,
//! and which names a token and its owners may have.

use factory_types::Digest;

use crate::error::{Result, StoreError};

/// The hash the store keeps of `token`, and looks a presented token up by: sha256 of the
/// whole token string. A plain hash (no salt, no stretching) is enough because tokens are
/// 256 random bits, not passwords: there is nothing to guess from a list of likely ones.
pub fn token_hash(token: &str) -> Digest {
    Digest::of(token.as_bytes())
}

/// Refuses a name the CLI's table and its `revoke NAME` could not show or take back
/// unambiguously: empty, or with whitespace or control characters.
pub(crate) fn check_name(what: &'static str, text: &str) -> Result<()> {
    let reason = if text.is_empty() {
        "it is empty"
    } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidTokenName {
        what,
        text: text.to_owned(),
        reason,
    })
}

/// [`check_name`] for a new token's name and each of its owners.
pub(crate) fn check_new_token(name: &str, owners: &[String]) -> Result<()> {
    check_name("name", name)?;
    owners
        .iter()
        .try_for_each(|owner| check_name("owner", owner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_of_the_whole_token() {
        assert_eq!(token_hash("fty_abc"), Digest::of(b"fty_abc"));
        assert_ne!(token_hash("fty_abc"), token_hash("fty_abd"));
    }

    #[test]
    fn names_are_non_empty_words() {
        assert!(check_new_token("ci-bot", &["infra".into(), "qa.team".into()]).is_ok());
        for bad in ["", "two words", "tab\there", "line\n"] {
            let err = check_new_token(bad, &[]).unwrap_err();
            assert!(matches!(
                err,
                StoreError::InvalidTokenName { what: "name", .. }
            ));
        }
        let err = check_new_token("ci", &["infra".into(), String::new()]).unwrap_err();
        assert!(matches!(
            err,
            StoreError::InvalidTokenName { what: "owner", .. }
        ));
    }
}
