//! Debian index parsing end to end: compressed files, typed records, bad
//! input with precise errors, and the real bookworm indexes when present.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use factory_import::ImportError;
use factory_import::debian::{
    MultiArch, load_packages, load_sources, parse_packages, parse_sources,
};
use factory_import::relation::ArchQualifier;
use factory_import::version::VersionOp;

const PACKAGES: &str = "\
Package: libssl-dev
Source: openssl
Version: 3.0.11-1~deb12u2
Installed-Size: 12114
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Depends: libssl3 (= 3.0.11-1~deb12u2)
Suggests: libssl-doc
Description: Secure Sockets Layer toolkit - development files
 This package is part of the OpenSSL project's implementation of the SSL
 .
 It contains development libraries.

Package: bash
Essential: yes
Version: 5.2.15-2+b2
Source: bash (5.2.15-2)
Architecture: amd64
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6.1)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Provides: sh (= 5.2.15-2+b2), bash-static
Description: GNU Bourne Again SHell

Package: python3-six
Version: 1.16.0-4
Architecture: all
Multi-Arch: foreign
Depends: python3:any
";

const SOURCES: &str = "\
Package: openssl
Binary: openssl, libssl3, libcrypto3-udeb,
 libssl-dev, libssl-doc
Version: 3.0.11-1~deb12u2
Architecture: any all
Build-Depends: debhelper-compat (= 13), m4, bc, dpkg-dev (>= 1.15.7)
Build-Depends-Indep: libtest-simple-perl <!nocheck>
Files:
 0123 1 openssl_3.0.11.orig.tar.gz

Package: hurd-only
Binary: hurd-only
Version: 1:2.0
Architecture: hurd-any
Build-Depends-Arch: libc0.3-dev [hurd-any], gcc:native | clang [!i386] <!stage1>
Extra-Source-Only: yes
";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs_err::write(&path, bytes).unwrap();
    path
}

fn syntax(error: ImportError) -> (usize, usize, String, String) {
    match error {
        ImportError::Syntax {
            line,
            column,
            expected,
            found,
            ..
        } => (line, column, expected, found),
        other => panic!("expected a syntax error, got: {other}"),
    }
}

#[test]
fn packages_become_typed_records() {
    let packages = parse_packages(Path::new("Packages"), PACKAGES).unwrap();
    assert_eq!(packages.len(), 3);
    let ssl = &packages[0];
    assert_eq!(
        (
            ssl.name.as_str(),
            ssl.source.as_str(),
            ssl.source_version.as_deref()
        ),
        ("libssl-dev", "openssl", None)
    );
    assert_eq!(ssl.multi_arch, MultiArch::Same);
    assert!(!ssl.essential);
    assert_eq!(
        ssl.depends[0].alternatives[0].version,
        Some((VersionOp::Equal, "3.0.11-1~deb12u2".into()))
    );

    let bash = &packages[1];
    assert!(bash.essential);
    assert_eq!(
        (bash.source.as_str(), bash.source_version.as_deref()),
        ("bash", Some("5.2.15-2"))
    );
    assert_eq!(bash.pre_depends.len(), 2);
    assert_eq!(bash.provides.len(), 2);
    assert_eq!(
        bash.provides[0].version,
        Some((VersionOp::Equal, "5.2.15-2+b2".into()))
    );
    assert_eq!(bash.provides[1].version, None);

    let six = &packages[2];
    assert_eq!(
        (
            six.architecture.as_str(),
            six.multi_arch,
            six.source.as_str()
        ),
        ("all", MultiArch::Foreign, "python3-six")
    );
    assert_eq!(
        six.depends[0].alternatives[0].arch_qualifier,
        Some(ArchQualifier::Any)
    );
}

#[test]
fn sources_become_typed_records() {
    let sources = parse_sources(Path::new("Sources"), SOURCES).unwrap();
    assert_eq!(sources.len(), 2);
    let openssl = &sources[0];
    assert_eq!(
        openssl.binaries,
        [
            "openssl",
            "libssl3",
            "libcrypto3-udeb",
            "libssl-dev",
            "libssl-doc"
        ]
    );
    assert_eq!(openssl.architecture, ["any", "all"]);
    assert_eq!(openssl.build_depends.len(), 4);
    assert_eq!(
        openssl.build_depends_indep[0].alternatives[0]
            .profiles
            .len(),
        1
    );
    assert!(!openssl.extra_source_only);
    let hurd = &sources[1];
    assert_eq!(hurd.version, "1:2.0");
    assert!(hurd.extra_source_only);
    assert_eq!(hurd.build_depends_arch[1].alternatives.len(), 2);
    assert_eq!(
        hurd.build_depends_arch[1].alternatives[0].arch_qualifier,
        Some(ArchQualifier::Native)
    );
    assert!(hurd.build_depends.is_empty());
}

#[test]
fn relation_errors_point_into_the_file() {
    let text = "Package: a\nVersion: 1\nArchitecture: all\nDepends: b,\n c (>= 2\n";
    let (line, column, expected, found) = syntax(parse_packages(Path::new("P"), text).unwrap_err());
    assert_eq!((line, column), (5, 9));
    assert!(
        expected.contains("`)` closing the version") && expected.contains("Depends"),
        "{expected}"
    );
    assert_eq!(found, "end of input");
}

#[test]
fn a_truncated_final_stanza_is_reported_with_what_is_missing() {
    let cut = &PACKAGES[..PACKAGES.find("Version: 1.16").unwrap()];
    let (line, _, expected, _) = syntax(parse_packages(Path::new("P"), cut).unwrap_err());
    assert!(
        expected.contains("`Version`") && expected.contains("line 25"),
        "{expected}"
    );
    assert_eq!(line, 26);
    // Cut after a complete stanza (no final blank line): fine.
    let whole_stanzas = &PACKAGES[..PACKAGES.find("Package: python3-six").unwrap() - 1];
    assert_eq!(
        parse_packages(Path::new("P"), whole_stanzas).unwrap().len(),
        2
    );
}

#[test]
fn bad_field_values_are_errors() {
    let cases = [
        (
            "Package: a\nVersion: 1\nArchitecture: all\nMulti-Arch: maybe\n",
            (4, 13),
            "Multi-Arch",
        ),
        (
            "Package: a\nVersion: 1\nArchitecture: all\nEssential: si\n",
            (4, 12),
            "`yes` or `no`",
        ),
        (
            "Package: a b\nVersion: 1\nArchitecture: all\n",
            (1, 11),
            "package name",
        ),
        (
            "Package: a\nVersion: 1:\nArchitecture: all\n",
            (2, 12),
            "Debian version",
        ),
        (
            "Package: a\nVersion: 1\nArchitecture: all\nSource: s (1.0\n",
            (4, 15),
            "`)`",
        ),
        (
            "Package: a\nVersion: 1\nArchitecture: all\nSource: s (x:1)\n",
            (4, 12),
            "Debian version",
        ),
        (
            "Package: a\nVersion: 1\nVersion: 2\nArchitecture: all\n",
            (3, 1),
            "only once",
        ),
        (
            "Package: a\nVersion:\nArchitecture: all\n",
            (2, 9),
            "a value for `Version`",
        ),
    ];
    for (text, position, expected) in cases {
        let (line, column, got, _) = syntax(parse_packages(Path::new("P"), text).unwrap_err());
        assert_eq!((line, column), position, "{text}");
        assert!(got.contains(expected), "{text}: {got}");
    }
    let (line, column, _, _) = syntax(
        parse_sources(
            Path::new("S"),
            "Package: s\nVersion: 1\nArchitecture: any\n",
        )
        .unwrap_err(),
    );
    assert_eq!((line, column), (4, 1), "a source without Binary");
}

fn compressed_with(tool: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: SKIPPED {tool}: not installed (apt-get install gzip xz-utils lz4 zstd)"
        );
        eprintln!("SKIPPED {tool}: not installed (apt-get install gzip xz-utils lz4 zstd)");
        return None;
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{tool} failed");
    Some(output.stdout)
}

#[test]
fn every_compression_loads_by_magic_bytes_and_damage_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let expected = parse_packages(Path::new("P"), PACKAGES).unwrap();
    let tools: [(&str, &[&str], &str); 4] = [
        ("gzip", &["-c"], "gzip"),
        ("xz", &["-c"], "xz"),
        ("lz4", &["-c"], "lz4"),
        ("zstd", &["-c", "-q"], "zstd"),
    ];
    for (tool, args, format) in tools {
        let Some(bytes) = compressed_with(tool, args, PACKAGES.as_bytes()) else {
            continue;
        };
        // A misleading name: detection must not trust the extension.
        let path = write(dir.path(), &format!("Packages-{tool}.txt"), &bytes);
        assert_eq!(load_packages(&path).unwrap(), expected, "{tool}");

        for cut in [
            bytes.len() * 2 / 3,
            bytes.len() - 1,
            bytes.len() - 4,
            bytes.len() - 5,
        ] {
            let truncated = write(dir.path(), &format!("cut-{cut}-{tool}"), &bytes[..cut]);
            match load_packages(&truncated).unwrap_err() {
                ImportError::Decompress {
                    path,
                    format: got,
                    detail,
                    ..
                } => {
                    assert_eq!((path, got), (truncated, format));
                    assert!(!detail.is_empty());
                }
                other => panic!(
                    "{tool}: stream cut at {cut} of {} gave {other}",
                    bytes.len()
                ),
            }
        }
        let mut garbled = bytes.clone();
        let middle = garbled.len() / 2;
        for byte in &mut garbled[middle..middle + 8] {
            *byte ^= 0x5a;
        }
        let garbled_path = write(dir.path(), &format!("garbled-{tool}"), &garbled);
        let error = load_packages(&garbled_path).unwrap_err();
        assert!(
            matches!(error, ImportError::Decompress { .. }),
            "{tool}: garbled stream gave {error}"
        );
    }
}

#[test]
fn non_utf8_is_an_error_with_line_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"Package: a\nVersion: 1\nArchitecture: all\nDescription: caf".to_vec();
    bytes.extend_from_slice(&[0xe9, b'\n']);
    let path = write(dir.path(), "Packages", &bytes);
    match load_packages(&path).unwrap_err() {
        ImportError::NotUtf8 {
            path: got,
            line,
            column,
            offset,
            ..
        } => {
            assert_eq!(got, path);
            assert_eq!((line, column, offset), (4, 17, bytes.len() - 2));
        }
        other => panic!("got {other}"),
    }
    let missing = dir.path().join("absent");
    assert!(matches!(
        load_packages(&missing).unwrap_err(),
        ImportError::Io { .. }
    ));
    let error = load_sources(&missing).unwrap_err();
    assert!(error.to_string().contains("absent"), "{error}");
}

/// Garbage must give errors, never a panic.
#[test]
fn mutated_real_stanzas_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b" \t\n:,|()[]<>!=~-+.abc019";
    for base in [PACKAGES, SOURCES] {
        for _ in 0..3000 {
            let mut bytes = base.as_bytes().to_vec();
            for _ in 0..(next() % 4 + 1) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = parse_packages(Path::new("P"), text);
                let _ = parse_sources(Path::new("S"), text);
            }
        }
    }
}

/// The path of apt's list for bookworm main (`_binary-amd64_Packages`, `_source_Sources`),
/// found by name whatever mirror it came from.
fn apt_list(kind: &str) -> String {
    let list = format!("_dists_bookworm_main{kind}");
    factory_import::debian::find_apt_list(&list)
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| format!("{}/*{list}*", factory_import::debian::APT_LISTS))
}

fn real(paths: &[String]) -> Option<PathBuf> {
    let found = paths.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "SKIPPED real-data test: none of {paths:?} exists (add a deb-src line for bookworm main and apt-get update)"
        );
    }
    found
}

fn stanza_count(path: &Path) -> usize {
    let bytes = factory_import::compress::read_decompressed(path).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| line.starts_with(b"Package: "))
        .count()
}

#[test]
fn real_bookworm_packages() {
    let Some(path) = real(&[
        apt_list("_binary-amd64_Packages"),
        "/tmp/data/Packages".into(),
    ]) else {
        return;
    };
    let packages = load_packages(&path).unwrap();
    assert_eq!(packages.len(), stanza_count(&path));
    let ssl = packages
        .iter()
        .find(|p| p.name == "libssl-dev")
        .expect("libssl-dev is in main");
    assert_eq!(ssl.source, "openssl");
    assert!(
        ssl.depends
            .iter()
            .any(|c| c.alternatives[0].name == "libssl3")
    );
    let providers = packages
        .iter()
        .filter(|p| p.provides.iter().any(|r| r.name == "awk"))
        .count();
    assert!(providers >= 2, "mawk and gawk provide awk");
    assert!(
        packages.iter().any(|p| p.source_version.is_some()),
        "binNMUs name their source version"
    );
    assert!(packages.iter().filter(|p| p.essential).count() > 10);
    // Streaming in pieces gives exactly what parsing the whole text gives.
    let whole = factory_import::compress::read_decompressed(&path).unwrap();
    let text = factory_import::compress::to_utf8(&path, &whole).unwrap();
    assert!(
        parse_packages(&path, text).unwrap() == packages,
        "streamed and whole parses differ"
    );
}

#[test]
fn real_bookworm_sources() {
    let Some(path) = real(&[apt_list("_source_Sources"), "/tmp/data/Sources".into()]) else {
        return;
    };
    let sources = load_sources(&path).unwrap();
    assert_eq!(sources.len(), stanza_count(&path));
    let openssl = sources
        .iter()
        .find(|s| s.name == "openssl")
        .expect("openssl is in main");
    assert!(openssl.binaries.iter().any(|b| b == "libssl-dev"));
    let relations = |s: &factory_import::debian::SourcePackage| {
        s.build_depends
            .iter()
            .chain(&s.build_depends_indep)
            .chain(&s.build_depends_arch)
            .count()
    };
    let total: usize = sources.iter().map(relations).sum();
    assert!(total > 200_000, "only {total} build-dependency clauses");
    let restricted = sources
        .iter()
        .flat_map(|s| &s.build_depends)
        .flat_map(|c| &c.alternatives)
        .filter(|r| r.arch_restriction.is_some())
        .count();
    let profiled = sources
        .iter()
        .flat_map(|s| &s.build_depends)
        .flat_map(|c| &c.alternatives)
        .filter(|r| !r.profiles.is_empty())
        .count();
    assert!(
        restricted > 1000 && profiled > 1000,
        "{restricted} restricted, {profiled} with profiles"
    );
    // Every real relation prints back in Debian syntax that parses to the same thing.
    for source in sources.iter().step_by(7) {
        for clause in &source.build_depends {
            let shown = clause.to_string();
            let reparsed = factory_import::relation::parse_relations(&shown).unwrap();
            assert_eq!(
                reparsed,
                std::slice::from_ref(clause),
                "{} re-reads differently: {shown}",
                source.name
            );
        }
    }
}

/// Our ordering of real version pairs agrees with `dpkg --compare-versions`.
#[test]
fn version_order_agrees_with_dpkg_on_real_versions() {
    let Some(path) = real(&[
        apt_list("_binary-amd64_Packages"),
        "/tmp/data/Packages".into(),
    ]) else {
        return;
    };
    if Command::new("dpkg").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: SKIPPED: dpkg is not installed"
        );
        eprintln!("SKIPPED: dpkg is not installed");
        return;
    }
    let packages = load_packages(&path).unwrap();
    // Pairs that are close (constraint versions against the package's own
    // version, neighbours in the file), where the subtle rules matter.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for package in packages.iter().step_by(300) {
        for relation in package.depends.iter().flat_map(|c| &c.alternatives) {
            if let Some((_, wanted)) = &relation.version {
                pairs.push((package.version.clone(), wanted.clone()));
            }
        }
    }
    for window in packages.windows(2).step_by(500) {
        pairs.push((window[0].version.clone(), window[1].version.clone()));
    }
    for (a, b) in [
        ("1.0~rc1", "1.0"),
        ("1:1.0", "2.0"),
        ("1.0-1", "1.0-1+b1"),
        ("2.36-9+deb12u4", "2.36-9+deb12u10"),
    ] {
        pairs.push((a.into(), b.into()));
    }
    assert!(pairs.len() > 300, "only {} pairs", pairs.len());
    for (a, b) in &pairs {
        let ours = factory_import::version::compare(a, b);
        let op = match ours {
            std::cmp::Ordering::Less => "lt",
            std::cmp::Ordering::Equal => "eq",
            std::cmp::Ordering::Greater => "gt",
        };
        let dpkg = Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .unwrap();
        assert!(dpkg.success(), "we say {a} {op} {b}, dpkg disagrees");
    }
}

/// A real compressed index cut anywhere (block boundaries included) is an
/// error, never a silently shorter index.
#[test]
fn real_lz4_index_cut_anywhere_is_an_error() {
    let Some(path) = real(&[apt_list("_source_Sources")]) else {
        return;
    };
    let raw = fs_err::read(&path).unwrap();
    // lz4 frames here use 4 MiB blocks: cut inside blocks, at the frame end
    // and just before it.
    let cuts = [
        raw.len() / 3,
        raw.len() / 2,
        raw.len() - 4,
        raw.len() - 1,
        7,
    ];
    for cut in cuts {
        let result =
            factory_import::compress::decompress(Path::new("cut.lz4"), raw[..cut].to_vec());
        assert!(
            matches!(result, Err(ImportError::Decompress { .. })),
            "cut at {cut} of {} was accepted",
            raw.len()
        );
    }
    let mut block_cut = None;
    // Find a block boundary: the 7-byte header, then [size u32][data]...
    let mut at = 7;
    while at + 4 <= raw.len() {
        let size = u32::from_le_bytes(raw[at..at + 4].try_into().unwrap());
        if size == 0 {
            break;
        }
        at += 4 + (size & 0x7fff_ffff) as usize;
        block_cut = Some(at);
        if at > raw.len() / 2 {
            break;
        }
    }
    let cut = block_cut.expect("the index has blocks");
    let result = factory_import::compress::decompress(Path::new("cut.lz4"), raw[..cut].to_vec());
    assert!(
        matches!(result, Err(ImportError::Decompress { .. })),
        "cut at block boundary {cut} was accepted"
    );
}

/// Pieces of a large file: positions in errors are those of the whole file,
/// and a paragraph longer than a piece is still read whole.
#[test]
fn streamed_files_keep_whole_file_positions() {
    let dir = tempfile::tempdir().unwrap();
    let stanza = "Package: p\nVersion: 1.0-1\nArchitecture: amd64\nDepends: a (>= 1), b | c\nDescription: d\n more\n";
    let count = 60_000; // about 5 MB: several pieces
    let mut text = String::new();
    for _ in 0..count {
        text.push_str(stanza);
        text.push('\n');
    }
    let long_description: String = (0..300_000).map(|i| format!(" line {i}\n")).collect();
    text.push_str(&format!(
        "Package: long\nVersion: 2\nArchitecture: all\nDescription: x\n{long_description}\n"
    ));
    let lines = text.matches('\n').count();
    let path = write(dir.path(), "Packages", text.as_bytes());
    let packages = load_packages(&path).unwrap();
    assert_eq!(packages.len(), count + 1);
    assert_eq!(packages[count].name, "long");

    let broken = format!("{text}Package: q\nVersion: 1\nArchitecture: all\nDepends: x (>= \n");
    let path = write(dir.path(), "Broken", broken.as_bytes());
    let (line, column, _, _) = syntax(load_packages(&path).unwrap_err());
    assert_eq!((line, column), (lines + 4, 15));

    let mut bytes = text.into_bytes();
    let at = bytes.len() - 3;
    bytes[at] = 0xff;
    let path = write(dir.path(), "NotUtf8", &bytes);
    match load_packages(&path).unwrap_err() {
        ImportError::NotUtf8 { line, offset, .. } => assert_eq!((line, offset), (lines - 1, at)),
        other => panic!("got {other}"),
    }
}
