//! Data-driven: every case under `tests/invalid/` is a broken definition (a single
//! `NAME.toml`, or a directory `NAME/` loaded as a whole) whose rendered diagnostics must
//! equal `NAME.expected` exactly. To regenerate after an intended change of wording:
//! `UPDATE_EXPECT=1 cargo test -p factory-def --test diagnostics`, then review the diff.

use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut cases: Vec<PathBuf> = fs_err::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    cases
}

fn render(case: &Path) -> String {
    let result = if case.is_dir() {
        factory_def::load(case)
    } else {
        let name = case.file_name().expect("file name").to_string_lossy();
        factory_def::parse_bytes(&name, &fs_err::read(case).expect("readable case"))
    };
    match result {
        Ok(def) => panic!("{} was accepted: {}", case.display(), def.summary()),
        Err(diagnostics) => format!("{diagnostics}\n"),
    }
}

#[test]
fn every_invalid_definition_gives_exactly_the_expected_diagnostics() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 10, "the cases are found");
    for case in cases {
        let expected_path = case.with_extension("expected");
        let actual = render(&case);
        if update {
            fs_err::write(&expected_path, &actual).expect("write expected");
            continue;
        }
        let expected = fs_err::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {} expected:\n{expected}\n--- actual:\n{actual}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_codes_and_locations() {
    let diagnostics = factory_def::parse_str(
        "c.toml",
        "[component.a]\nkind = \"command\"\ncommands = [\"true\"]\nbuild-requires = [\"a\"]\n",
    )
    .expect_err("a self-cycle is an error");
    assert_eq!(diagnostics.len(), 1);
    let d = diagnostics.iter().next().expect("one diagnostic");
    assert_eq!(d.code, factory_def::ErrorCode::Cycle);
    let location = d.location.as_ref().expect("located");
    assert_eq!(
        (location.file.as_str(), location.line, location.column),
        ("c.toml", 4, 19)
    );
    assert_eq!(d.message, "dependency cycle: a -> a");
}

#[test]
fn a_missing_directory_is_an_error_not_a_panic() {
    let diagnostics =
        factory_def::load(Path::new("/nonexistent/definition")).expect_err("no directory");
    assert_eq!(
        diagnostics.iter().next().map(|d| d.code),
        Some(factory_def::ErrorCode::Io)
    );
    let empty = tempfile::tempdir().expect("tempdir");
    let diagnostics = factory_def::load(empty.path()).expect_err("no files");
    assert!(
        diagnostics
            .to_string()
            .contains("no definition files (*.toml)")
    );
}
