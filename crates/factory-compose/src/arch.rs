//! Architecture names: productmd keys everything by RPM architecture (`x86_64`), apt by
//! Debian architecture (`amd64`), OCI images by Go's (`amd64`, `arm64`, `386`).

/// Debian's name → the RPM name, for the architectures both know.
const DEBIAN_TO_RPM: &[(&str, &str)] = &[
    ("amd64", "x86_64"),
    ("arm64", "aarch64"),
    ("armhf", "armhfp"),
    ("armel", "armv5tel"),
    ("i386", "i686"),
    ("ppc64el", "ppc64le"),
    ("ppc64", "ppc64"),
    ("s390x", "s390x"),
    ("riscv64", "riscv64"),
    ("mips64el", "mips64el"),
    ("mipsel", "mipsel"),
    ("loong64", "loongarch64"),
];

/// The RPM name of a Debian architecture; `all` is RPM's `noarch`.
pub(crate) fn rpm_of_debian(debian: &str) -> Option<&'static str> {
    if debian == "all" {
        return Some("noarch");
    }
    DEBIAN_TO_RPM
        .iter()
        .find(|(d, _)| *d == debian)
        .map(|(_, rpm)| *rpm)
}

/// The RPM name of an OCI image's `architecture` (and `variant`, which tells 32-bit ARMs
/// apart).
pub(crate) fn rpm_of_oci(architecture: &str, variant: Option<&str>) -> Option<&'static str> {
    Some(match (architecture, variant) {
        ("amd64", _) => "x86_64",
        ("arm64", _) => "aarch64",
        ("arm", Some("v7") | None) => "armhfp",
        ("arm", Some("v6")) => "armv6hl",
        ("386", _) => "i686",
        ("ppc64le", _) => "ppc64le",
        ("ppc64", _) => "ppc64",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        ("mips64le", _) => "mips64el",
        ("loong64", _) => "loongarch64",
        _ => return None,
    })
}

/// The architectures that have a name in both worlds, for error messages.
pub(crate) fn known_debian() -> String {
    let names: Vec<&str> = DEBIAN_TO_RPM.iter().map(|(d, _)| *d).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_architectures_have_their_rpm_names() {
        assert_eq!(rpm_of_debian("amd64"), Some("x86_64"));
        assert_eq!(rpm_of_debian("all"), Some("noarch"));
        assert_eq!(rpm_of_debian("hurd-i386"), None);
        assert_eq!(rpm_of_oci("amd64", None), Some("x86_64"));
        assert_eq!(rpm_of_oci("arm", Some("v7")), Some("armhfp"));
        assert_eq!(rpm_of_oci("wasm", None), None);
    }
}
