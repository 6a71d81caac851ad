//! What callers of [`crate::Cursors`] share: which names a cursor may have.

use crate::error::{Result, StoreError};

/// Refuses a cursor name that is empty or holds whitespace or control characters, so every
/// name can be shown and typed back unambiguously.
pub(crate) fn check_cursor_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::InvalidCursorName {
            name: name.to_owned(),
        });
    }
    Ok(())
}
