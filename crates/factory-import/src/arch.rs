//! Architecture wildcards and build profiles, evaluated as dpkg does.
//!
//! A Debian architecture name stands for a tuple `abi-libc-os-cpu`
//! (`amd64` is `base-gnu-linux-amd64`, `armhf` is `eabihf-gnu-linux-arm`,
//! `hurd-i386` is `base-gnu-hurd-i386`). A wildcard is a tuple with `any`
//! in some places (`linux-any` = `any-any-linux-any`, `any-amd64` =
//! `any-any-any-amd64`). The table below covers dpkg's architecture
//! families; the tests check it against `dpkg-architecture` when installed.

/// CPU names dpkg knows (Debian names, as used in architecture names).
const CPUS: &[&str] = &[
    "alpha",
    "amd64",
    "arc",
    "armeb",
    "arm",
    "arm64",
    "avr32",
    "hppa",
    "loong64",
    "i386",
    "ia64",
    "m32r",
    "m68k",
    "mips",
    "mipsel",
    "mipsr6",
    "mipsr6el",
    "mips64",
    "mips64el",
    "mips64r6",
    "mips64r6el",
    "nios2",
    "or1k",
    "powerpc",
    "powerpcel",
    "ppc64",
    "ppc64el",
    "riscv64",
    "s390",
    "s390x",
    "sh3",
    "sh3eb",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "tilegx",
];

/// Architectures whose tuple is not derived from a prefix and a CPU.
const SPECIAL: &[(&str, [&str; 4])] = &[
    ("armhf", ["eabihf", "gnu", "linux", "arm"]),
    ("armel", ["eabi", "gnu", "linux", "arm"]),
    ("arm64ilp32", ["ilp32", "gnu", "linux", "arm64"]),
    ("x32", ["x32", "gnu", "linux", "amd64"]),
    ("powerpcspe", ["spe", "gnu", "linux", "powerpc"]),
    ("mips64el", ["abi64", "gnu", "linux", "mips64el"]),
    ("mips64", ["abi64", "gnu", "linux", "mips64"]),
    ("mips64r6el", ["abi64", "gnu", "linux", "mips64r6el"]),
    ("mips64r6", ["abi64", "gnu", "linux", "mips64r6"]),
    ("mipsn32el", ["abin32", "gnu", "linux", "mips64el"]),
    ("mipsn32", ["abin32", "gnu", "linux", "mips64"]),
    ("mipsn32r6el", ["abin32", "gnu", "linux", "mips64r6el"]),
    ("mipsn32r6", ["abin32", "gnu", "linux", "mips64r6"]),
    ("musl-linux-armhf", ["eabihf", "musl", "linux", "arm"]),
    ("uclibc-linux-armel", ["eabi", "uclibc", "linux", "arm"]),
    ("kfreebsd-armhf", ["eabihf", "gnu", "kfreebsd", "arm"]),
    ("uclinux-armel", ["eabi", "uclibc", "uclinux", "arm"]),
    ("mint-m68k", ["base", "tos", "mint", "m68k"]),
];

/// `prefix-<cpu>` families: prefix, abi, libc, os. The empty prefix is
/// plain GNU/Linux (`amd64`).
const FAMILIES: &[(&str, &str, &str, &str)] = &[
    ("", "base", "gnu", "linux"),
    ("uclibc-linux-", "base", "uclibc", "linux"),
    ("musl-linux-", "base", "musl", "linux"),
    ("kfreebsd-", "base", "gnu", "kfreebsd"),
    ("knetbsd-", "base", "gnu", "knetbsd"),
    ("kopensolaris-", "base", "gnu", "kopensolaris"),
    ("hurd-", "base", "gnu", "hurd"),
    ("dragonflybsd-", "base", "bsd", "dragonflybsd"),
    ("freebsd-", "base", "bsd", "freebsd"),
    ("openbsd-", "base", "bsd", "openbsd"),
    ("netbsd-", "base", "bsd", "netbsd"),
    ("darwin-", "base", "bsd", "darwin"),
    ("aix-", "base", "sysv", "aix"),
    ("solaris-", "base", "sysv", "solaris"),
    ("uclinux-", "base", "uclibc", "uclinux"),
];

/// The `abi-libc-os-cpu` tuple of a concrete Debian architecture, or `None`
/// for a name dpkg does not know.
pub fn tuple(arch: &str) -> Option<[&str; 4]> {
    // dpkg still reads `linux-<cpu>` as plain `<cpu>` (backward
    // compatibility); real sources use it (`Architecture: linux-amd64`).
    if let Some(cpu) = arch.strip_prefix("linux-") {
        if CPUS.contains(&cpu) {
            return tuple(cpu);
        }
    }
    if let Some((_, tuple)) = SPECIAL.iter().find(|(name, _)| *name == arch) {
        return Some(*tuple);
    }
    FAMILIES.iter().find_map(|&(prefix, abi, libc, os)| {
        let cpu = arch.strip_prefix(prefix)?;
        let cpu = CPUS.iter().find(|known| **known == cpu)?;
        Some([abi, libc, os, *cpu])
    })
}

/// The tuple of a wildcard (a name containing an `any` part), `any` filling
/// the missing leading parts; `None` when it is not a wildcard.
fn wildcard_tuple(pattern: &str) -> Option<[&str; 4]> {
    let parts: Vec<&str> = pattern.splitn(4, '-').collect();
    if !parts.contains(&"any") {
        return None;
    }
    match parts[..] {
        [a] => Some([a, a, a, a]),
        [os, cpu] => Some(["any", "any", os, cpu]),
        [libc, os, cpu] => Some(["any", libc, os, cpu]),
        [abi, libc, os, cpu] => Some([abi, libc, os, cpu]),
        _ => None,
    }
}

/// Whether the concrete architecture `arch` is matched by `pattern`: the
/// same name, `any`, or a wildcard whose non-`any` parts equal the tuple's.
/// `all` matches only `all`.
pub fn matches(arch: &str, pattern: &str) -> bool {
    if arch == pattern || (pattern == "any" && arch != "all") {
        return true;
    }
    let Some(real) = tuple(arch) else {
        return false;
    };
    let Some(wanted) = wildcard_tuple(pattern).or_else(|| tuple(pattern)) else {
        return false;
    };
    real.iter()
        .zip(wanted.iter())
        .all(|(real, wanted)| *wanted == "any" || real == wanted)
}

/// Whether an `Architecture:` list of a source (e.g. `any all`,
/// `linux-any`) builds anything for `arch` (`all` counts as building on
/// every architecture, since arch-independent packages are built too).
pub fn source_builds_on(architectures: &[String], arch: &str) -> bool {
    architectures
        .iter()
        .any(|pattern| pattern == "all" || matches(arch, pattern))
}

/// The set of active build profiles (`nocheck`, `stage1`, ...). The default
/// has none active, as on a normal build daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildProfiles {
    active: Vec<String>,
}

impl BuildProfiles {
    pub fn new<I, S>(active: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            active: active.into_iter().map(Into::into).collect(),
        }
    }

    pub fn is_active(&self, name: &str) -> bool {
        self.active.iter().any(|active| active == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_by_tuple_part() {
        assert!(matches("amd64", "amd64"));
        assert!(matches("amd64", "any"));
        assert!(matches("amd64", "linux-any"));
        assert!(matches("amd64", "any-amd64"));
        assert!(matches("amd64", "gnu-any-any"));
        assert!(!matches("amd64", "hurd-any"));
        assert!(!matches("amd64", "any-i386"));
        assert!(!matches("amd64", "i386"));
        assert!(!matches("amd64", "x32"));
        assert!(matches("x32", "any-amd64"));
        assert!(matches("armhf", "any-arm"));
        assert!(matches("hurd-i386", "hurd-any"));
        assert!(matches("kfreebsd-amd64", "any-amd64"));
        assert!(!matches("amd64", "kfreebsd-any"));
        assert!(!matches("amd64", "all"));
        assert!(!matches("all", "any"));
        assert!(!matches("amd64", "nonsense-thing"));
    }

    #[test]
    fn source_architecture_lists() {
        let list = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(source_builds_on(&list("any all"), "amd64"));
        assert!(source_builds_on(&list("all"), "amd64"));
        assert!(source_builds_on(&list("linux-any"), "amd64"));
        assert!(!source_builds_on(&list("hurd-any kfreebsd-any"), "amd64"));
        assert!(!source_builds_on(&list("i386 arm64"), "amd64"));
    }

    /// The table must agree with dpkg's own idea of every architecture.
    #[test]
    #[allow(
        clippy::print_stderr,
        reason = "a skipped test says so to whoever runs the tests"
    )]
    fn agrees_with_dpkg_architecture() {
        let Ok(output) = std::process::Command::new("dpkg-architecture")
            .arg("-L")
            .output()
        else {
            assert!(
                std::env::var_os("FACTORY_CI").is_none(),
                "CI must be able to run this test: SKIPPED: dpkg-architecture is not installed (apt-get install dpkg-dev)"
            );
            eprintln!("SKIPPED: dpkg-architecture is not installed (apt-get install dpkg-dev)");
            return;
        };
        let known = String::from_utf8(output.stdout).unwrap();
        let arches: Vec<&str> = known.lines().collect();
        assert!(
            arches.len() > 100,
            "dpkg-architecture -L printed too little"
        );
        for arch in &arches {
            assert!(
                tuple(arch).is_some(),
                "dpkg knows {arch}, the table does not"
            );
        }
        let targets = [
            "amd64",
            "i386",
            "armhf",
            "arm64",
            "x32",
            "hurd-i386",
            "kfreebsd-amd64",
            "musl-linux-amd64",
        ];
        let patterns = [
            "any",
            "linux-any",
            "any-amd64",
            "any-i386",
            "any-arm",
            "hurd-any",
            "kfreebsd-any",
            "gnu-any-any",
            "musl-any-any",
            "eabihf-any-any-any",
            "amd64",
            "armhf",
            "x32",
        ];
        for target in targets {
            for pattern in patterns {
                let status = std::process::Command::new("dpkg-architecture")
                    .args(["-a", target, "-i", pattern])
                    .env_remove("DEB_HOST_ARCH")
                    .stderr(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert_eq!(
                    matches(target, pattern),
                    status.success(),
                    "{target} vs {pattern}: dpkg says {}",
                    status.success()
                );
            }
        }
    }
}
