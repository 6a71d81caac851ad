//! Snapshots of what users read: `status`, `events`, the wave reports and `explain` of a
//! change and of an early cutoff, the demo's output and `check`'s errors. Only what varies
//! from run to run is filtered (see `factory_testkit::Filters`); everything else is
//! compared as printed, so a change to the wording, the layout or the numbers a user sees
//! shows up here as a diff to review. After a deliberate change:
//! `INSTA_UPDATE=always cargo test -p factory --test user_output`, then read every changed
//! `.snap` under `tests/snapshots/` before committing it.
//!
//! Every build here runs with `--no-sandbox`, except the demo's, which has no such option:
//! keys and digests (which bubblewrap's presence changes) are filtered out of its output,
//! and the warning it prints on standard error without bubblewrap is not snapshotted, so
//! its snapshots hold with and without bubblewrap (checked with `bwrap` hidden from PATH).

mod common;
use common::context;

use factory_testkit::{
    TestContext, assert_filtered_snapshot, command_component, sort_build_entries,
};

const COPY: &str = "cat \"$FACTORY_SRC\"/input > {out}/out.txt";
/// Comments are not output: a comment-only change rebuilds lib to identical output.
const WITHOUT_COMMENTS: &str = "grep -v '^#' \"$FACTORY_SRC\"/input > {out}/out.txt";

/// `lib`, built by `lib_command`, and `app`, built from lib's output: a chain, so every
/// build waits for the one before and the event log has one order only.
fn lib_and_app(ctx: &TestContext, lib_command: &str) {
    ctx.write_definition(
        "components.toml",
        &format!(
            "{}{}",
            command_component("lib", &[], lib_command),
            command_component(
                "app",
                &["lib".into()],
                "cat \"$FACTORY_SRC\"/input {dep.lib}/out.txt > {out}/out.txt",
            )
        ),
    );
    ctx.write_source("lib", "input", "lib 1\n");
    ctx.write_source("app", "input", "app 1\n");
}

/// `up --once`, one job at a time: builds that could run together start in one order.
fn up(ctx: &TestContext) -> String {
    ctx.up_once(&["--no-sandbox", "-j", "1"]).ok()
}

/// `rebuild COMPONENT`, one job at a time.
fn rebuild(ctx: &TestContext, component: &str) -> String {
    ctx.factory()
        .args([
            "rebuild",
            "--no-sandbox",
            "-j",
            "1",
            component,
            "--definition",
        ])
        .arg(ctx.definition())
        .ok()
}

/// The build id (`bN`) on `job`'s line of a wave report.
fn build_of(report: &str, job: &str) -> String {
    report
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next()?;
            (words.next() == Some(job)).then(|| id.to_owned())
        })
        .unwrap_or_else(|| panic!("no build of {job} in:\n{report}"))
}

#[test]
fn status_after_a_small_build() {
    let ctx = context();
    lib_and_app(&ctx, COPY);
    up(&ctx);
    assert_filtered_snapshot!(
        ctx,
        "status_after_a_small_build",
        "factory status, after `up --once` built lib and app (built from lib)",
        ctx.status()
    );
}

#[test]
fn status_after_a_failure_shows_what_failed_what_it_blocked_and_what_is_still_usable() {
    let ctx = context();
    lib_and_app(&ctx, COPY);
    up(&ctx);
    lib_and_app(&ctx, "echo lib breaks >&2; exit 3");
    ctx.up_once(&["--no-sandbox", "-j", "1"]).fails();
    assert_filtered_snapshot!(
        ctx,
        "status_after_a_failure",
        "factory status, after lib built, then failed, blocking app",
        ctx.status()
    );
}

#[test]
fn explain_of_a_blocked_build_says_it_has_no_key_and_why_it_did_not_run() {
    let ctx = context();
    lib_and_app(&ctx, "echo lib breaks >&2; exit 3");
    let failed = ctx.up_once(&["--no-sandbox", "-j", "1"]).fails();
    let app = build_of(&failed.stdout, "app");
    let explained = ctx.factory().args(["explain", &app]).ok();
    assert_filtered_snapshot!(
        ctx,
        "explain_of_a_blocked_build",
        "factory explain of app, blocked because lib failed: no key, so nothing to compare",
        explained
    );
}

#[test]
fn events_of_a_small_wave() {
    let ctx = context();
    lib_and_app(&ctx, COPY);
    up(&ctx);
    assert_filtered_snapshot!(
        ctx,
        "events_of_a_small_wave",
        "factory events, after `up --once` built lib and app (built from lib)",
        ctx.events()
    );
}

#[test]
fn a_source_change_rebuilds_lib_and_explain_names_the_input_that_changed_for_app() {
    let ctx = context();
    lib_and_app(&ctx, COPY);
    up(&ctx);
    ctx.write_source("lib", "input", "lib 2\n");
    let report = up(&ctx);
    assert_filtered_snapshot!(
        ctx,
        "up_after_a_source_change",
        "factory up --once, after lib's source changed",
        report
    );
    let explained = ctx
        .factory()
        .args(["explain", &build_of(&report, "app")])
        .ok();
    assert_filtered_snapshot!(
        ctx,
        "explain_of_a_build_an_input_change_caused",
        "factory explain of app's build, after lib's source changed",
        explained
    );
}

#[test]
fn a_comment_only_change_is_cut_off_and_explain_says_why_app_did_not_run() {
    let ctx = context();
    lib_and_app(&ctx, WITHOUT_COMMENTS);
    up(&ctx);
    ctx.write_source("lib", "input", "# a comment\nlib 1\n");
    let report = rebuild(&ctx, "lib");
    assert_filtered_snapshot!(
        ctx,
        "rebuild_with_an_early_cutoff",
        "factory rebuild lib, after a comment-only change to lib's source",
        report
    );
    let explained = ctx
        .factory()
        .args(["explain", &build_of(&report, "app")])
        .ok();
    assert_filtered_snapshot!(
        ctx,
        "explain_of_an_early_cutoff",
        "factory explain of app's cut-off build, after lib rebuilt to identical output",
        explained
    );
}

#[test]
fn the_demo_then_the_demo_again_on_the_same_directory() {
    let ctx = context();
    let dir = ctx.path("demo");
    // The builds of a wave report are listed by build number, and builds that were queued
    // together (the demo runs several at once) get their numbers in a different order
    // from run to run: each report's builds are sorted by job before the snapshot.
    let first = sort_build_entries(&ctx.demo(&dir).ok());
    assert_filtered_snapshot!(
        ctx,
        "demo_first_run",
        "factory demo --dir D (standard output; builds of each wave sorted by job)",
        first
    );
    let second = sort_build_entries(&ctx.demo(&dir).ok());
    assert_filtered_snapshot!(
        ctx,
        "demo_second_run",
        "factory demo --dir D again on the same D, which builds nothing (standard output; \
         builds of each wave sorted by job)",
        second
    );
}

/// Invalid definitions, each one file (or two) of a kind of problem `check` reports.
const INVALID: &[(&str, &[(&str, &str)])] = &[
    (
        "unknown_component",
        &[(
            "components.toml",
            "[component.libgreet]\nkind = \"command\"\ncommands = [\"true\"]\n\n\
             [component.hello]\nkind = \"command\"\nbuild-requires = [\"libgret\"]\n\
             commands = [\"true\"]\n",
        )],
    ),
    (
        "dependency_cycle",
        &[(
            "components.toml",
            "[component.a]\nkind = \"command\"\ncommands = [\"true\"]\nbuild-requires = [\"b\"]\n\n\
             [component.b]\nkind = \"command\"\ncommands = [\"true\"]\nbuild-requires = [\"a\"]\n",
        )],
    ),
    (
        "toml_syntax",
        &[(
            "components.toml",
            "[component.a]\nkind = \"command\"\ncommands = [\"true\"\n",
        )],
    ),
    (
        "placeholders",
        &[(
            "components.toml",
            "[component.a]\nkind = \"command\"\n\
             commands = [\"cp {dep.b}/x {out}/\", \"echo {srcdir}\"]\n",
        )],
    ),
    (
        "unknown_kind_field_type_and_section",
        &[(
            "components.toml",
            "[component.a]\nkind = \"comand\"\ncomands = [\"true\"]\nversion = 3\n\n[widget.x]\n",
        )],
    ),
    (
        "defined_in_two_files",
        &[
            (
                "a.toml",
                "[component.hello]\nkind = \"command\"\ncommands = [\"true\"]\n",
            ),
            (
                "b.toml",
                "[component.hello]\nkind = \"command\"\ncommands = [\"false\"]\n",
            ),
        ],
    ),
    (
        "missing_source_directory",
        &[(
            "components.toml",
            "[component.hello]\nkind = \"command\"\nsource = { path = \"src/hello\" }\n\
             commands = [\"true\"]\n",
        )],
    ),
];

#[test]
fn check_reports_every_problem_of_an_invalid_definition_on_standard_error() {
    for (name, files) in INVALID {
        let ctx = context();
        for (file, text) in *files {
            ctx.write_definition(file, text);
        }
        let outcome = ctx
            .factory()
            .without_store()
            .arg("check")
            .arg(ctx.definition())
            .fails();
        assert_eq!(outcome.stdout, "", "{name}: {outcome}");
        assert_filtered_snapshot!(
            ctx,
            format!("check_{name}"),
            "factory check DEF (standard error) of an invalid definition",
            outcome.stderr
        );
    }
}
