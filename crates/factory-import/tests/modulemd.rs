//! modulemd v2 streams from multi-document YAML, and precise errors.

use std::path::{Path, PathBuf};

use factory_import::ImportError;
use factory_import::modulemd::{load_modulemd, parse_modulemd};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn streams_components_profiles_and_dependencies() {
    let streams = load_modulemd(&fixture("modules.yaml")).unwrap();
    assert_eq!(streams.len(), 2, "the defaults document is skipped");
    let php = &streams[0];
    // An unquoted `7.4` stays the string "7.4", not a float.
    assert_eq!(
        (php.name.as_str(), php.stream.as_str(), php.version),
        ("php", "7.4", 20200901000000)
    );
    assert_eq!(
        (php.context.as_deref(), php.arch.as_deref(), php.line),
        (Some("c0ffee42"), Some("x86_64"), 3)
    );
    assert_eq!(php.profiles["common"], ["php-cli", "php-common"]);
    let order: Vec<(&str, i64)> = php
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.buildorder))
        .collect();
    assert_eq!(order, [("php", 0), ("php-pecl-apcu", 1), ("libzip", -1)]);
    assert_eq!(php.components[0].git_ref.as_deref(), Some("7.4"));
    assert!(php.components[2].buildonly);
    assert_eq!(php.buildrequires["platform"], ["el8", "el9"]);
    assert!(php.buildrequires["httpd"].is_empty());
    assert_eq!(php.requires["platform"], ["el8", "el9"]);

    let nodejs = &streams[1];
    assert_eq!(
        (nodejs.stream.as_str(), nodejs.context.as_deref()),
        ("20", Some("00000000"))
    );
    assert_eq!(nodejs.components[1].buildafter, ["nodejs"]);
    assert_eq!(nodejs.buildrequires["platform"], ["-el7"]);
    assert!(nodejs.requires.is_empty());
}

fn error_of(text: &str) -> (usize, usize, String) {
    match parse_modulemd(Path::new("m.yaml"), text).unwrap_err() {
        ImportError::Syntax {
            line,
            column,
            found,
            ..
        } => (line, column, found),
        other => panic!("got {other}"),
    }
}

const HEAD: &str = "document: modulemd\nversion: 2\ndata:\n  name: m\n  stream: s\n";

#[test]
fn type_errors_point_at_line_and_column() {
    let (line, column, found) = error_of(&format!("{HEAD}  version: soon\n"));
    assert_eq!((line, column), (6, 12));
    assert!(found.contains("version"), "{found}");
    let (line, _, found) = error_of(&format!("{HEAD}  profiles:\n    common: {{rpms: nope}}\n"));
    assert_eq!(line, 7);
    assert!(found.contains("sequence"), "{found}");
}

#[test]
fn broken_yaml_points_at_the_problem() {
    let (line, _, _) = error_of("document: modulemd\nversion: 2\ndata:\n  name: [unclosed\n");
    assert!(line >= 4, "line {line}");
    let (line, _, _) = error_of(
        "---\ndocument: modulemd\nversion: 2\ndata: {name: a, stream: b}\n---\ndocument: modulemd\n  bad: indent\n",
    );
    assert_eq!(line, 7);
}

#[test]
fn semantic_errors_name_the_line() {
    let (line, _, found) = error_of("---\ndocument: modulemd\nversion: 1\ndata: {}\n");
    assert_eq!((line, found.as_str()), (1, "version 1"));
    let (line, _, found) = error_of("document: modulemd\nversion: 2\ndata:\n  stream: s\n");
    assert_eq!((line, found.as_str()), (1, "a document without it"));
    let components =
        "  components:\n    rpms:\n      a: {buildorder: 1}\n      b: {buildafter: [a]}\n";
    let (line, _, found) = error_of(&format!("{HEAD}{components}"));
    assert_eq!((line, found.as_str()), (9, "both"));
    let components = "  components:\n    rpms:\n      a: {}\n      b: {buildafter: [zzz]}\n";
    let (line, _, found) = error_of(&format!("{HEAD}{components}"));
    assert_eq!((line, found.as_str()), (9, "`zzz`"));
    let components = "  components:\n    rpms:\n      a: {}\n      a: {}\n";
    let (_, _, found) = error_of(&format!("{HEAD}{components}"));
    assert!(found.contains("duplicate"), "{found}");
}

#[test]
fn an_empty_stream_has_no_modules() {
    assert!(parse_modulemd(Path::new("m.yaml"), "").unwrap().is_empty());
    assert!(
        parse_modulemd(Path::new("m.yaml"), "# only a comment\n")
            .unwrap()
            .is_empty()
    );
    let with_empty = format!("---\n{HEAD}---\n---\n");
    assert_eq!(
        parse_modulemd(Path::new("m.yaml"), &with_empty)
            .unwrap()
            .len(),
        1
    );
}
