//! Whether the disk is full: the one place that knows how "no space left" shows.

use std::path::Path;

/// Whether an error, or any error it was caused by, is a full disk or quota.
pub fn is_out_of_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if is_out_of_space_io(io) {
                return true;
            }
            // `io::Error::source` skips the error it wraps: look at that one too.
            if io.get_ref().is_some_and(|inner| is_out_of_space(inner)) {
                return true;
            }
        }
        next = error.source();
    }
    false
}

/// Whether this I/O error is a full disk or quota.
pub fn is_out_of_space_io(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || error.raw_os_error() == Some(nix::libc::ENOSPC)
}

/// Whether the file system holding `dir` has (next to) no space left for this user: a
/// command that failed then most likely failed for that.
pub fn no_space_left(dir: &Path) -> bool {
    const ALMOST_NOTHING: u64 = 1 << 20;
    nix::sys::statvfs::statvfs(dir)
        .is_ok_and(|fs| fs.blocks_available().saturating_mul(fs.fragment_size()) < ALMOST_NOTHING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn a_full_disk_is_found_however_deep_it_is_wrapped() {
        let full = std::io::Error::from_raw_os_error(nix::libc::ENOSPC);
        assert!(is_out_of_space(&Wrapper(full)));
        let inner = std::io::Error::other(Wrapper(std::io::Error::from_raw_os_error(
            nix::libc::ENOSPC,
        )));
        assert!(is_out_of_space(&inner));
        let other = std::io::Error::from_raw_os_error(nix::libc::EACCES);
        assert!(!is_out_of_space(&Wrapper(other)));
    }
}
