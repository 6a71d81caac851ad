//! `factory up --once` with nothing changed answers from the up-to-date stamp: no wave, no
//! event, no build; and every kind of change (definition, source, environment, a missing
//! output, another wave in between) sends it back to the full path.

mod common;
use common::{factory, ok, write};

use std::path::Path;

/// Two components: `lib` from a local source, `app` from lib's output.
fn definition(def: &Path) {
    write(
        &def.join("components.toml"),
        r#"[component.lib]
kind = "command"
source = { path = "src/lib" }
commands = ["cat $FACTORY_SRC/lib.c > {out}/out.txt"]
outputs = ["out.txt"]

[component.app]
kind = "command"
source = { path = "src/app" }
build-requires = ["lib"]
commands = ["cat $FACTORY_SRC/app.c {dep.lib}/out.txt > {out}/out.txt"]
outputs = ["out.txt"]
"#,
    );
    write(&def.join("src/lib/lib.c"), "int lib;\n");
    write(&def.join("src/app/app.c"), "int app;\n");
}

struct Setup {
    _dir: tempfile::TempDir,
    def: std::path::PathBuf,
    store: std::path::PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let def = dir.path().join("def");
        definition(&def);
        let store = dir.path().join("store");
        Setup {
            _dir: dir,
            def,
            store,
        }
    }

    fn up(&self, extra: &[&str]) -> String {
        ok(factory()
            .arg("--store")
            .arg(&self.store)
            .args(["up", "--once", "--no-sandbox"])
            .args(extra)
            .arg("--definition")
            .arg(&self.def))
    }

    fn event_count(&self) -> usize {
        ok(factory().arg("--store").arg(&self.store).arg("events"))
            .lines()
            .count()
    }
}

fn answered_by_stamp(output: &str) -> bool {
    output.starts_with("up to date: definition, sources and environment unchanged")
}

#[test]
fn nothing_changed_is_answered_without_a_wave_and_any_change_runs_one() {
    let s = Setup::new();
    let first = s.up(&[]);
    assert!(first.contains("2 ran"), "{first}");
    let events = s.event_count();

    let again = s.up(&[]);
    assert!(answered_by_stamp(&again), "{again}");
    assert!(again.contains("all 2 job outputs present"), "{again}");
    assert_eq!(
        s.event_count(),
        events,
        "the answer from the stamp records nothing"
    );

    // A source edit: the full path, which rebuilds what the edit affects.
    write(&s.def.join("src/app/app.c"), "int app2;\n");
    let edited = s.up(&[]);
    assert!(!answered_by_stamp(&edited), "{edited}");
    assert!(edited.contains("1 ran"), "{edited}");
    assert!(answered_by_stamp(&s.up(&[])));

    // A definition edit that changes no key still goes the full way once.
    let components = s.def.join("components.toml");
    let text = std::fs::read_to_string(&components).unwrap();
    std::fs::write(&components, format!("{text}# a comment\n")).unwrap();
    let commented = s.up(&[]);
    assert!(!answered_by_stamp(&commented), "{commented}");
    assert!(commented.contains("0 ran"), "{commented}");
    assert!(answered_by_stamp(&s.up(&[])));

    // The environment is part of every key: the sandbox setting counts.
    let sandboxed = ok(factory()
        .arg("--store")
        .arg(&s.store)
        .args(["up", "--once", "--definition"])
        .arg(&s.def));
    assert!(!answered_by_stamp(&sandboxed), "{sandboxed}");
}

#[test]
fn a_missing_output_or_a_wave_in_between_voids_the_stamp() {
    let s = Setup::new();
    // app's output is too large for the database, so its blob is a file; lib's is not.
    let large = format!("int app;\n{}\n", "/* padding */".repeat(8000));
    write(&s.def.join("src/app/app.c"), &large);
    s.up(&[]);
    assert!(answered_by_stamp(&s.up(&[])));

    // Another wave (a manual rebuild) happened since: the stamp is gone.
    ok(factory()
        .arg("--store")
        .arg(&s.store)
        .args(["rebuild", "--no-sandbox", "lib", "--definition"])
        .arg(&s.def));
    let after_rebuild = s.up(&[]);
    assert!(!answered_by_stamp(&after_rebuild), "{after_rebuild}");
    assert!(answered_by_stamp(&s.up(&[])));

    // An output blob file removed behind the store's back: the full path builds it again.
    let blobs = s.store.join("cas/sha256");
    let mut removed = 0;
    for shard in std::fs::read_dir(&blobs).unwrap() {
        for blob in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            let mut permissions = std::fs::metadata(&path).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&path, permissions).unwrap();
            std::fs::remove_file(path).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 1, "app's output");
    let rebuilt = s.up(&[]);
    assert!(!answered_by_stamp(&rebuilt), "{rebuilt}");
    assert!(rebuilt.contains("1 ran"), "{rebuilt}");
    assert!(answered_by_stamp(&s.up(&[])));
}
