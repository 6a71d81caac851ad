//! RPM spec files evaluated by the real `rpmspec`, and rpm's version order
//! checked against rpm itself.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;

use factory_import::ImportError;
use factory_import::rpm::{
    RpmDep, RpmSource, RpmSpecOptions, compare_evr, load_spec, load_spec_with, rpmvercmp,
};
use factory_import::version::VersionOp;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rpmspec_installed() -> bool {
    let installed = Command::new("rpmspec").arg("--version").output().is_ok();
    if !installed {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: SKIPPED: rpmspec is not installed (apt-get install rpm)"
        );
        eprintln!("SKIPPED: rpmspec is not installed (apt-get install rpm)");
    }
    installed
}

fn names(deps: &[RpmDep]) -> Vec<&str> {
    deps.iter().map(|d| d.name.as_str()).collect()
}

fn dep<'a>(deps: &'a [RpmDep], name: &str) -> &'a RpmDep {
    deps.iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no {name} in {deps:?}"))
}

fn package<'a>(source: &'a RpmSource, name: &str) -> &'a factory_import::rpm::RpmPackage {
    source
        .subpackages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no subpackage {name}"))
}

#[test]
fn macros_conditionals_and_subpackages_are_evaluated() {
    if !rpmspec_installed() {
        return;
    }
    let source = load_spec(&fixture("greet.spec")).unwrap();
    assert_eq!(
        (source.name.as_str(), source.epoch, source.version.as_str()),
        ("libgreet", Some(2), "1.4.2")
    );
    assert!(source.release.starts_with('3'), "{}", source.release);
    assert_eq!(
        names(&source.build_requires),
        ["gcc", "make", "pkgconfig(zlib)"]
    );
    assert_eq!(
        dep(&source.build_requires, "make").constraint,
        Some((VersionOp::GreaterOrEqual, "4.0".into()))
    );
    assert_eq!(dep(&source.build_requires, "gcc").constraint, None);

    let subpackages: Vec<&str> = source.subpackages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(subpackages, ["libgreet", "libgreet-devel"]);
    let library = package(&source, "libgreet");
    assert_eq!(
        dep(&library.provides, "greet(abi)").constraint,
        Some((VersionOp::Equal, "1".into()))
    );
    let devel = package(&source, "libgreet-devel");
    // %{name}%{?_isa} = %{epoch}:%{version}-%{release}, macros expanded.
    let on_library = devel
        .requires
        .iter()
        .find(|d| d.name.starts_with("libgreet("))
        .expect("arch-specific requires");
    let (op, evr) = on_library.constraint.clone().unwrap();
    assert_eq!(op, VersionOp::Equal);
    assert!(evr.starts_with("2:1.4.2-3"), "{evr}");
    assert_eq!(
        dep(&devel.provides, "greet-devel").constraint,
        Some((VersionOp::Less, "2".into()))
    );
    // The devel package's requirement is satisfied by the library's own provide.
    let provided = dep(&library.provides, on_library.name.as_str())
        .constraint
        .clone()
        .unwrap()
        .1;
    assert!(on_library.satisfied_by(&provided));
}

#[test]
fn bcond_and_defines_change_the_result() {
    if !rpmspec_installed() {
        return;
    }
    let options = RpmSpecOptions {
        with: vec!["tools".into()],
        ..RpmSpecOptions::default()
    };
    let source = load_spec_with(&fixture("greet.spec"), &options).unwrap();
    assert!(names(&source.build_requires).contains(&"readline-devel"));
    let tools = package(&source, "greet-tools");
    assert_eq!(tools.version, "0.9");
    assert_eq!(
        dep(&tools.requires, "libgreet").constraint,
        Some((VersionOp::GreaterOrEqual, "1.0".into()))
    );

    let options = RpmSpecOptions {
        defines: vec![("fedora".into(), "100".into())],
        ..RpmSpecOptions::default()
    };
    let source = load_spec_with(&fixture("greet.spec"), &options).unwrap();
    assert!(names(&source.build_requires).contains(&"never-on-this-machine"));
    assert!(!names(&source.build_requires).contains(&"readline-devel"));
}

#[test]
fn a_spec_rpmspec_rejects_gives_its_line() {
    if !rpmspec_installed() {
        return;
    }
    match load_spec(&fixture("broken.spec")).unwrap_err() {
        ImportError::Syntax {
            path, line, found, ..
        } => {
            assert_eq!(path, fixture("broken.spec"));
            assert_eq!(line, 10);
            assert!(found.contains("%if"), "{found}");
        }
        other => panic!("got {other}"),
    }
}

#[test]
fn a_missing_rpmspec_says_how_to_install_it() {
    let options = RpmSpecOptions {
        tool: PathBuf::from("/nonexistent/rpmspec"),
        ..RpmSpecOptions::default()
    };
    let error = load_spec_with(&fixture("greet.spec"), &options).unwrap_err();
    assert!(matches!(error, ImportError::ToolMissing { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("apt-get install rpm") && message.contains("dnf install rpm-build"),
        "{message}"
    );
    let missing = load_spec(&fixture("absent.spec")).unwrap_err();
    assert!(matches!(missing, ImportError::Io { .. }), "{missing}");
}

#[test]
fn rpmvercmp_agrees_with_rpm() {
    let pairs = [
        ("1.0", "1.0"),
        ("1.0", "2.0"),
        ("2.0.1", "2.0"),
        ("1.0a", "1.0"),
        ("1.0a", "1.0b"),
        ("1.0~rc1", "1.0"),
        ("1.0~rc1", "1.0~rc2"),
        ("1.0^", "1.0"),
        ("1.0^git1", "1.0.1"),
        ("1.0^git1", "1.0~rc1"),
        ("1.01", "1.1"),
        ("1.001", "1.1"),
        ("10", "9"),
        ("a", "1"),
        ("1.0.", "1.0"),
        ("1_0", "1.0"),
        ("2.0", "2a"),
        ("5.5p1", "5.5p10"),
        ("xyz10", "xyz10.1"),
        ("1.0-1", "1.0-2"),
        ("fc4", "fc.4"),
        ("3.0.0", "3.0.0^"),
        ("1~", "1"),
        ("1~~", "1~"),
        ("1.2.3", "1.2.3.0"),
        ("0.0", "000"),
        ("abc", "ABC"),
        ("1.0.0.", "1.0.0_"),
        ("6.0.rc1", "6.0"),
    ];
    let script: String = pairs
        .iter()
        .map(|(a, b)| format!("print(rpm.vercmp(\"{a}\", \"{b}\") .. \",\") "))
        .collect();
    let Ok(output) = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: {script}}}"))
        .output()
    else {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: SKIPPED: rpm is not installed (apt-get install rpm)"
        );
        eprintln!("SKIPPED: rpm is not installed (apt-get install rpm)");
        return;
    };
    let text = String::from_utf8(output.stdout).unwrap();
    let theirs: Vec<i32> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(theirs.len(), pairs.len(), "rpm printed {text}");
    for ((a, b), theirs) in pairs.iter().zip(theirs) {
        assert_eq!(rpmvercmp(a, b), theirs.cmp(&0), "{a} vs {b}");
    }
}

#[test]
fn evr_comparison_ignores_a_missing_release() {
    assert_eq!(compare_evr("1:1.0", "2.0"), Ordering::Greater);
    assert_eq!(compare_evr("1.0-5", "1.0"), Ordering::Equal);
    assert_eq!(compare_evr("1.0-5", "1.0-10"), Ordering::Less);
    let dep = RpmDep {
        name: "x".into(),
        constraint: Some((VersionOp::GreaterOrEqual, "1.0".into())),
    };
    assert!(dep.satisfied_by("1.0-5"));
    assert!(!dep.satisfied_by("0.9-5"));
}
