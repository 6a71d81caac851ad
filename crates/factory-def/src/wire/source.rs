//! A component's `source` table (also a stream's): a local path, a git revision or a
//! tarball with its digest, exactly one of them.

use super::{Entry, L, Reader};
use crate::diag::{Diagnostic, ErrorCode};

#[derive(Debug, Clone)]
pub(crate) enum RawSource {
    Path(L<String>),
    Git { url: L<String>, rev: L<String> },
    Tarball { url: L<String>, sha256: L<String> },
}

const FIELDS: &[&str] = &["path", "git", "rev", "url", "sha256"];

impl Reader<'_> {
    pub(super) fn source(&mut self, entry: &Entry<'_, '_>, key: &str) -> Option<RawSource> {
        let what = format!("the {key} of {}", entry.what);
        let src = self.table(entry, key, FIELDS, what)?;
        self.unknown_fields(&src);
        let forms = ["path", "git", "url"]
            .into_iter()
            .filter(|f| src.table.contains_key(*f))
            .collect::<Vec<_>>();
        const HELP: &str = "write one of `{ path = \"src/NAME\" }`, `{ git = \"URL\", rev = \"REV\" }` or `{ url = \"URL\", sha256 = \"HEX\" }`";
        match forms.as_slice() {
            ["path"] => {
                let path = self.string(&src, "path")?;
                if path.value.starts_with('/') || path.value.is_empty() {
                    self.invalid(
                        &path.at,
                        ErrorCode::InvalidValue,
                        format!("source path `{}` is not relative", path.value),
                        "expected a path relative to the definition directory",
                        "local sources live inside or beside the definition: write e.g. `src/NAME`"
                            .into(),
                    );
                    return None;
                }
                Some(RawSource::Path(path))
            }
            ["git"] => {
                let url = self.string(&src, "git")?;
                let rev = self.required_string(&src, "rev", "name the revision to build: a commit id, tag or branch, e.g. `rev = \"v1.2.0\"`")?;
                Some(RawSource::Git { url, rev })
            }
            ["url"] => {
                let url = self.string(&src, "url")?;
                let sha256 = self.required_string(
                    &src,
                    "sha256",
                    "give the tarball's digest: `sha256 = \"...\"` (from `sha256sum FILE`)",
                )?;
                if !(sha256.value.len() == 64
                    && sha256.value.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    self.invalid(
                        &sha256.at,
                        ErrorCode::BadSha256,
                        format!(
                            "bad sha256 `{}`: expected 64 hexadecimal digits, found {} characters",
                            sha256.value,
                            sha256.value.chars().count()
                        ),
                        "not a sha256 digest",
                        "copy the digest printed by `sha256sum FILE`".into(),
                    );
                    return None;
                }
                Some(RawSource::Tarball {
                    url,
                    sha256: L {
                        value: sha256.value.to_ascii_lowercase(),
                        at: sha256.at,
                    },
                })
            }
            [] => {
                self.missing(&src, "path", HELP);
                None
            }
            _ => {
                let d = Diagnostic::new(
                    ErrorCode::InvalidValue,
                    format!("{} has more than one of `path`, `git` and `url`", src.what),
                )
                .at(self.loc(&src.at))
                .label("a source comes from exactly one place")
                .help(HELP);
                self.push(d);
                None
            }
        }
    }
}
