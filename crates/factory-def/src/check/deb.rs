//! The `deb` table of a component of kind `deb`: what dpkg needs, in forms dpkg accepts.

use super::Checker;
use crate::diag::{Diagnostic, ErrorCode};
use crate::wire::{L, RawComponent, RawDeb};

impl Checker<'_> {
    pub(super) fn check_deb(&mut self, c: &RawComponent, deb: &RawDeb) {
        self.packaged_from(c, deb.from.as_ref(), &deb.at, "deb");
        let require = |present: bool, field: &str, help: &str, diags: &mut Vec<Diagnostic>| {
            if !present {
                diags.push(
                    Diagnostic::new(
                        ErrorCode::MissingField,
                        format!(
                            "the `deb` table of component `{}` has no `{field}`",
                            c.name.value
                        ),
                    )
                    .at(self.sources.location(&deb.at))
                    .label(format!("`{field}` is required"))
                    .help(help.to_string()),
                );
            }
        };
        let mut diags = Vec::new();
        require(
            deb.version.is_some() || c.version.is_some(),
            "version",
            "set `version = \"1.0-1\"` here or on the component",
            &mut diags,
        );
        require(
            deb.architecture.is_some(),
            "architecture",
            "set `architecture = \"amd64\"` (or `all` for architecture-independent files)",
            &mut diags,
        );
        require(
            deb.description.is_some() || c.description.is_some(),
            "description",
            "set `description = \"...\"` here or on the component",
            &mut diags,
        );
        self.diags.extend(diags);
        self.debian_field(
            deb.package.as_ref().unwrap_or(&c.name),
            "package name",
            is_debian_package_name,
            "Debian package names are lowercase letters, digits, `+`, `-` and `.`, at least two characters, starting with a letter or digit: set `package = \"...\"`",
        );
        if let Some(version) = deb.version.as_ref().or(c.version.as_ref()) {
            self.debian_field(
                version,
                "version",
                is_debian_version,
                "a Debian version starts with a digit and holds only letters, digits and `.+~-:`, e.g. `1.0.0-1`",
            );
        }
        if let Some(arch) = &deb.architecture {
            self.debian_field(
                arch,
                "architecture",
                |a| {
                    !a.is_empty()
                        && a.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                },
                "write a Debian architecture such as `amd64`, `arm64` or `all`",
            );
        }
        if let Some(prefix) = &deb.prefix
            && !prefix.value.starts_with('/')
        {
            let d = Diagnostic::new(
                ErrorCode::InvalidValue,
                format!("deb prefix `{}` is not absolute", prefix.value),
            )
            .at(self.sources.location(&prefix.at))
            .label("expected an absolute path")
            .help("write e.g. `prefix = \"/usr\"`");
            self.push(d);
        }
    }

    fn debian_field(
        &mut self,
        value: &L<String>,
        what: &str,
        valid: impl Fn(&str) -> bool,
        help: &str,
    ) {
        if valid(&value.value) {
            return;
        }
        let d = Diagnostic::new(
            ErrorCode::InvalidValue,
            format!("invalid Debian {what} `{}`", value.value),
        )
        .at(self.sources.location(&value.at))
        .label(format!("dpkg would reject this {what}"))
        .help(help.to_string());
        self.push(d);
    }
}

/// Debian policy 5.6.1.
fn is_debian_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

/// Debian policy 5.6.12, loosely: `[epoch:]upstream[-revision]` starting with a digit.
fn is_debian_version(version: &str) -> bool {
    let upstream = version.split_once(':').map_or(version, |(epoch, rest)| {
        if epoch.chars().all(|c| c.is_ascii_digit()) && !epoch.is_empty() {
            rest
        } else {
            ""
        }
    });
    upstream.starts_with(|c: char| c.is_ascii_digit())
        && upstream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-'))
}
