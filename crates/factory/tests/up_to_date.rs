//! `factory up --once` with nothing changed answers from the up-to-date stamp: no wave, no
//! event, no build; and every kind of change (definition, source, environment, a missing
//! output, another wave in between) sends it back to the full path.

mod common;
use common::context;

use factory_testkit::TestContext;

/// Two components: `lib` from a local source, `app` from lib's output.
fn definition(ctx: &TestContext) {
    ctx.write_definition(
        "components.toml",
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
    ctx.write_source("lib", "lib.c", "int lib;\n");
    ctx.write_source("app", "app.c", "int app;\n");
}

/// A context with the definition written.
fn setup() -> TestContext {
    let ctx = context();
    definition(&ctx);
    ctx
}

/// `up --once --no-sandbox`: the first test turns the sandbox on to change the environment.
fn up(ctx: &TestContext) -> String {
    ctx.up_once(&["--no-sandbox"]).ok()
}

fn event_count(ctx: &TestContext) -> usize {
    ctx.events().lines().count()
}

fn answered_by_stamp(output: &str) -> bool {
    output.starts_with("up to date: definition, sources and environment unchanged")
}

#[test]
fn nothing_changed_is_answered_without_a_wave_and_any_change_runs_one() {
    let ctx = setup();
    let first = up(&ctx);
    assert!(first.contains("2 ran"), "{first}");
    let events = event_count(&ctx);

    let again = up(&ctx);
    assert!(answered_by_stamp(&again), "{again}");
    assert!(again.contains("all 2 job outputs present"), "{again}");
    assert_eq!(
        event_count(&ctx),
        events,
        "the answer from the stamp records nothing"
    );

    // A source edit: the full path, which rebuilds what the edit affects.
    ctx.write_source("app", "app.c", "int app2;\n");
    let edited = up(&ctx);
    assert!(!answered_by_stamp(&edited), "{edited}");
    assert!(edited.contains("1 ran"), "{edited}");
    assert!(answered_by_stamp(&up(&ctx)));

    // A definition edit that changes no key still goes the full way once.
    let components = ctx.definition().join("components.toml");
    let text = fs_err::read_to_string(&components).unwrap();
    fs_err::write(&components, format!("{text}# a comment\n")).unwrap();
    let commented = up(&ctx);
    assert!(!answered_by_stamp(&commented), "{commented}");
    assert!(commented.contains("0 ran"), "{commented}");
    assert!(answered_by_stamp(&up(&ctx)));

    // The environment is part of every key: the sandbox setting counts.
    let sandboxed = ctx.up_once(&[]).ok();
    assert!(!answered_by_stamp(&sandboxed), "{sandboxed}");
}

#[test]
fn a_missing_output_or_a_wave_in_between_voids_the_stamp() {
    let ctx = setup();
    // app's output is too large for the database, so its blob is a file; lib's is not.
    let large = format!("int app;\n{}\n", "/* padding */".repeat(8000));
    ctx.write_source("app", "app.c", &large);
    up(&ctx);
    assert!(answered_by_stamp(&up(&ctx)));

    // Another wave (a manual rebuild) happened since: the stamp is gone.
    ctx.factory()
        .args(["rebuild", "--no-sandbox", "lib", "--definition"])
        .arg(ctx.definition())
        .ok();
    let after_rebuild = up(&ctx);
    assert!(!answered_by_stamp(&after_rebuild), "{after_rebuild}");
    assert!(answered_by_stamp(&up(&ctx)));

    // An output blob file removed behind the store's back: the full path builds it again.
    let blobs = ctx.store().join("cas/sha256");
    let mut removed = 0;
    for shard in fs_err::read_dir(&blobs).unwrap() {
        for blob in fs_err::read_dir(shard.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            let mut permissions = fs_err::metadata(&path).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            fs_err::set_permissions(&path, permissions).unwrap();
            fs_err::remove_file(path).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 1, "app's output");
    let rebuilt = up(&ctx);
    assert!(!answered_by_stamp(&rebuilt), "{rebuilt}");
    assert!(rebuilt.contains("1 ran"), "{rebuilt}");
    assert!(answered_by_stamp(&up(&ctx)));
}
