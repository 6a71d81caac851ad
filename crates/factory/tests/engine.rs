//! The engine end to end through the real binary: the demo (packages valid
//! for dpkg-deb, the image valid for skopeo and umoci, the programs inside
//! it run, a second run builds nothing), a failing kind, scheduling, changes
//! while `factory up` watches. Crash safety and Ctrl-C are in `robustness.rs`.

mod common;
use common::context;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use factory_testkit::{TestContext, command_component, interrupt, ok, watching, write};

/// The number printed on the demo's `builds run: N` line.
fn builds_run(demo_output: &str) -> usize {
    demo_output
        .lines()
        .find_map(|l| l.strip_prefix("builds run: "))
        .expect("the demo prints how many builds ran")
        .trim()
        .parse()
        .expect("a number")
}

/// The demo's `.deb` packages, as `dpkg-deb` reads them.
fn assert_packages_are_valid_for_dpkg(out: &Path) {
    for deb in [
        "hello_1.0.0-1_amd64.deb",
        "greet-cli_1.2.0-1_amd64.deb",
        "libgreet-dev_1.0.0-1_amd64.deb",
        "motd_0.3.0-1_all.deb",
    ] {
        let info = ok(Command::new("dpkg-deb").arg("-I").arg(out.join(deb)));
        let package = deb.split('_').next().unwrap();
        assert!(info.contains(&format!("Package: {package}")), "{info}");
        let contents = ok(Command::new("dpkg-deb").arg("-c").arg(out.join(deb)));
        assert!(contents.contains("./usr/"), "{contents}");
    }
    let dev = ok(Command::new("dpkg-deb")
        .arg("-c")
        .arg(out.join("libgreet-dev_1.0.0-1_amd64.deb")));
    assert!(
        dev.contains("./usr/lib/libgreet.a") && dev.contains("./usr/include/greet.h"),
        "{dev}"
    );
}

/// The demo's OCI image, as skopeo and umoci read it, unpacked to `bundle`, where its
/// programs run.
fn assert_image_is_valid_and_its_programs_run(out: &Path, bundle: &Path) {
    let image = format!("oci:{}:latest", out.join("greet-oci").display());
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(Command::new("skopeo").args(["inspect", &image]))).unwrap();
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(
        inspect["Layers"].as_array().map(Vec::len),
        Some(2),
        "{inspect}"
    );

    ok(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", out.join("greet-oci").display()))
        .arg(bundle));
    let rootfs = bundle.join("rootfs");
    // The upstream change to the library (1.0.0 -> 1.1.0) is in the image; the greeting is not changed.
    assert_eq!(
        ok(&mut Command::new(rootfs.join("usr/bin/hello"))),
        "Hello, world!\n"
    );
    assert_eq!(
        ok(Command::new(rootfs.join("usr/bin/greet-cli")).args(["Ann", "Bob"])),
        "Hello, Ann!\nHello, Bob!\n"
    );
}

#[test]
fn demo_builds_valid_packages_and_image_then_a_second_run_builds_nothing() {
    let ctx = context();
    let work = ctx.path("demo");
    let demo = || ctx.demo(&work).ok();
    let first = demo();
    // 9 jobs from scratch, 7 after the upstream change, 1 (the library) after the comment.
    assert_eq!(builds_run(&first), 17, "{first}");
    let third_wave = first
        .split("== 3.")
        .nth(1)
        .expect("the demo prints the third step");
    assert!(
        third_wave.contains("1 ran, 1 succeeded, 6 unchanged"),
        "{third_wave}"
    );
    assert!(
        third_wave.contains("early cutoff: libgreet"),
        "{third_wave}"
    );

    let out = work.join("out");
    assert_packages_are_valid_for_dpkg(&out);
    assert_image_is_valid_and_its_programs_run(&out, &ctx.path("bundle"));

    let second = demo();
    assert_eq!(builds_run(&second), 0, "{second}");

    // The event log says what happened, including the cutoff, and explain names the change.
    let store = work.join("store");
    let events = ctx.factory().store(&store).arg("events").ok();
    assert!(
        events
            .lines()
            .any(|l| l.contains("build_cut_off") && l.contains("early cutoff")),
        "{events}"
    );
    let hello_after_upstream = first
        .split("== 2.")
        .nth(1)
        .and_then(|s| {
            s.lines()
                .find(|l| l.contains(" hello ") && l.contains("succeeded"))
        })
        .and_then(|l| l.split_whitespace().next())
        .expect("hello rebuilt in step 2")
        .to_owned();
    let explained = ctx
        .factory()
        .store(&store)
        .args(["explain", &hello_after_upstream])
        .ok();
    assert!(explained.contains("input libgreet changed"), "{explained}");
    let log = ctx
        .factory()
        .store(&store)
        .args(["log", &hello_after_upstream])
        .ok();
    assert!(log.contains("cc "), "the log holds the commands run: {log}");
}

#[test]
fn a_failing_build_is_reported_precisely_blocks_its_dependents_and_the_rest_builds() {
    let ctx = context();
    let mut text = String::new();
    let echo = "cat \"$FACTORY_SRC\"/* > {out}/out.txt";
    text += &command_component("good", &[], echo);
    text += &command_component("bad", &[], "echo about to fail >&2; exit 7");
    text += &command_component("after-bad", &["bad".into()], echo);
    text += &command_component("after-after-bad", &["after-bad".into()], echo);
    text += &command_component("after-good", &["good".into()], echo);
    ctx.write_definition("components.toml", &text);
    for name in ["good", "bad", "after-bad", "after-after-bad", "after-good"] {
        ctx.write_source(name, "input", name);
    }
    let output = ctx
        .factory()
        .args(["rebuild", "good", "bad", "--definition"])
        .arg(ctx.definition())
        .output();
    let text = output.stdout;
    assert!(
        !output.status.success(),
        "a failed build makes rebuild fail:\n{text}"
    );
    let line = |job: &str| {
        text.lines()
            .position(|l| l.split_whitespace().nth(1) == Some(job))
            .map(|i| {
                format!(
                    "{}\n{}",
                    text.lines().nth(i).unwrap(),
                    text.lines().nth(i + 1).unwrap_or("")
                )
            })
            .unwrap_or_else(|| panic!("no line for {job}:\n{text}"))
    };
    let bad = line("bad");
    assert!(
        bad.contains("failed") && bad.contains("exit code 7") && bad.contains("exit 7"),
        "{bad}"
    );
    for blocked in ["after-bad", "after-after-bad"] {
        let l = line(blocked);
        assert!(l.contains("blocked") && l.contains("bad failed"), "{l}");
    }
    for built in ["good", "after-good"] {
        assert!(line(built).contains("succeeded"), "{}", line(built));
    }
    let bad_build = bad.split_whitespace().next().unwrap().to_owned();
    let log = ctx.factory().args(["log", &bad_build]).ok();
    assert!(log.contains("about to fail"), "{log}");
    let status = ctx.status();
    assert!(
        status
            .lines()
            .any(|l| l.contains("after-bad") && l.contains("blocked")),
        "{status}"
    );
}

/// One line of `factory events`: sequence number, kind, the rest.
type Line = (u64, String, String);

/// `factory events` of the context's store as lines.
fn events_of(ctx: &TestContext) -> Vec<Line> {
    event_lines(&ctx.events())
}

/// A listing of `factory events` as lines.
fn event_lines(listing: &str) -> Vec<Line> {
    listing
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let seq = parts.next()?.parse().ok()?;
            let kind = parts.next()?.to_owned();
            Some((seq, kind, parts.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

/// Index of the first event of `kind` whose text starts with `prefix`.
fn position(events: &[Line], kind: &str, prefix: &str) -> usize {
    events
        .iter()
        .position(|(_, k, rest)| k == kind && rest.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {kind} event starting `{prefix}` in {events:#?}"))
}

/// The build id (`bN`) of the first build of `component`.
fn build_of(events: &[Line], component: &str) -> String {
    let at = position(events, "build_queued", &format!("{component} key"));
    format!("b{}", events[at].0)
}

/// Every build prints `started NANOSECONDS` first: the start order of builds, which the
/// event log does not give (a build records its start once its queued event is committed,
/// and a build that had to wait for that may have started before one recorded earlier).
const PRINT_START: &str = "echo started $(date +%s%N); ";

/// The start order of the components whose builds printed [`PRINT_START`], after event `after`.
fn start_order(events: &[Line], after: u64) -> Vec<String> {
    let component_of = |build: &str| {
        events
            .iter()
            .find(|(seq, k, _)| k == "build_queued" && format!("b{seq}") == build)
            .map(|(_, _, rest)| rest.split_whitespace().next().unwrap().to_owned())
            .unwrap()
    };
    let mut starts: Vec<(u128, String)> = events
        .iter()
        .filter(|(seq, k, _)| *seq > after && k == "build_log")
        .filter_map(|(_, _, rest)| {
            let (build, text) = rest.split_once(" | ")?;
            let ns = text.strip_prefix("started ")?.parse().ok()?;
            Some((ns, component_of(build)))
        })
        .collect();
    starts.sort();
    starts.into_iter().map(|(_, name)| name).collect()
}

fn chain_definition(ctx: &TestContext) {
    chain_beside_slow_job(ctx, "aaa-slow", "5");
}

/// The chain x -> y -> z beside one job of its own, `slow`, that sleeps `seconds` first;
/// every build prints its start ([`PRINT_START`]).
fn chain_beside_slow_job(ctx: &TestContext, slow: &str, seconds: &str) {
    let plain = "cat \"$FACTORY_SRC\"/input > {out}/out.txt";
    let copy = &format!("{PRINT_START}{plain}");
    let mut text = String::new();
    text += &command_component(slow, &[], &format!("{PRINT_START}sleep {seconds}; {plain}"));
    text += &command_component("x", &[], copy);
    text += &command_component("y", &["x".into()], copy);
    text += &command_component("z", &["y".into()], copy);
    ctx.write_definition("components.toml", &text);
    for name in [slow, "x", "y", "z"] {
        ctx.write_source(name, "input", name);
    }
}

#[test]
fn one_job_at_a_time_runs_the_longest_chain_first() {
    let ctx = context();
    chain_definition(&ctx);
    ctx.up_once(&["-j", "1"]).ok();
    let events = events_of(&ctx);
    // x heads the longest chain (x -> y -> z) and y the next longest: both go before aaa-slow
    // (a chain of one) despite its name; then z and aaa-slow tie and the name decides.
    assert_eq!(
        start_order(&events, 0),
        ["x", "y", "aaa-slow", "z"],
        "{events:#?}"
    );
}

#[test]
fn with_build_history_the_chain_that_takes_longest_goes_first() {
    let ctx = context();
    chain_beside_slow_job(&ctx, "long", "1.5");
    let inputs = |version: &str| {
        for name in ["long", "x", "y", "z"] {
            ctx.write_source(name, "input", &format!("{name} {version}"));
        }
    };
    let up = || ctx.up_once(&["--no-sandbox", "-j", "1"]).ok();
    // No history: the chain with more jobs (x -> y -> z) goes first; z and long tie.
    inputs("1");
    up();
    let first = events_of(&ctx);
    assert_eq!(
        start_order(&first, 0),
        ["x", "y", "long", "z"],
        "{first:#?}"
    );
    // Every job changes; now the store knows that `long` takes far longer than x and y.
    inputs("2");
    up();
    let second = events_of(&ctx);
    let after = first.last().unwrap().0;
    assert_eq!(
        start_order(&second, after),
        ["long", "x", "y", "z"],
        "{second:#?}"
    );
}

#[test]
fn a_build_starts_when_its_inputs_exist_without_a_barrier_between_levels() {
    let ctx = context();
    chain_definition(&ctx);
    ctx.up_once(&["-j", "2"]).ok();
    let events = events_of(&ctx);
    let succeeded = |name: &str| {
        position(
            &events,
            "build_succeeded",
            &format!("{}:", build_of(&events, name)),
        )
    };
    // z is on the third level; the slow build of the first level is still running when z is done.
    assert!(succeeded("z") < succeeded("aaa-slow"), "{events:#?}");
}

#[test]
fn a_newer_change_supersedes_the_running_build_of_the_component() {
    let ctx = context();
    let copy = "sleep 3; cat \"$FACTORY_SRC\"/input > {out}/out.txt";
    ctx.write_definition("components.toml", &command_component("slow", &[], copy));
    ctx.write_source("slow", "input", "v1");
    let mut up = ctx.spawn_up(&[]);
    let _stderr = watching(&mut up);
    let wait_for = |what: &dyn Fn(&[Line]) -> bool| {
        let started = Instant::now();
        loop {
            if what(&events_of(&ctx)) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out: {:#?}",
                events_of(&ctx)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let count = |events: &[Line], kind: &str| events.iter().filter(|(_, k, _)| k == kind).count();
    ctx.write_source("slow", "input", "v2");
    wait_for(&|e| count(e, "build_started") == 2);
    ctx.write_source("slow", "input", "v3");
    wait_for(&|e| count(e, "build_succeeded") == 2);
    interrupt(up.id());
    let status = up.wait().unwrap();
    assert!(status.success(), "Ctrl-C stops cleanly: {status}");
    let events = events_of(&ctx);
    let cancelled = events
        .iter()
        .position(|(_, k, rest)| {
            k == "build_cancelled" && rest.contains("superseded by a newer change to slow")
        })
        .unwrap_or_else(|| panic!("no superseded build: {events:#?}"));
    let last_success = events
        .iter()
        .rposition(|(_, k, _)| k == "build_succeeded")
        .unwrap();
    assert!(cancelled < last_success, "{events:#?}");
    // The outputs are v1's and v3's: one-file tree tars (header, then out.txt's bytes).
    let blobs = ctx.stored_blobs();
    let holds = |text: &[u8]| {
        blobs.values().any(|b| {
            b.len() > 514 && b.starts_with(b"out.txt") && &b[512..512 + text.len()] == text
        })
    };
    assert!(
        holds(b"v1") && holds(b"v3") && !holds(b"v2"),
        "v1 and v3 were built, v2 was cancelled"
    );
}

#[test]
fn a_newer_change_cancels_only_the_builds_it_makes_outdated() {
    let ctx = context();
    let slow = "sleep 3; cat \"$FACTORY_SRC\"/input > {out}/out.txt";
    let text = command_component("edited", &[], slow)
        + &command_component("other", &[], slow)
        + &command_component(
            "user",
            &["edited".into()],
            "cat \"$FACTORY_SRC\"/input {dep.edited}/out.txt > {out}/out.txt",
        );
    ctx.write_definition("components.toml", &text);
    for name in ["edited", "other", "user"] {
        ctx.write_source(name, "input", "v1");
    }
    let mut up = ctx.spawn_up(&["--no-sandbox", "-j", "4"]);
    let _stderr = watching(&mut up);
    let wait_for = |what: &dyn Fn(&[Line]) -> bool| {
        let started = Instant::now();
        while !what(&events_of(&ctx)) {
            assert!(started.elapsed() < Duration::from_secs(60), "timed out");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let count = |events: &[Line], kind: &str| events.iter().filter(|(_, k, _)| k == kind).count();
    // One change to both slow components; while both build, a newer change to one of them.
    ctx.write_source("edited", "input", "v2");
    ctx.write_source("other", "input", "v2");
    wait_for(&|e| count(e, "build_started") == 5);
    ctx.write_source("edited", "input", "v3");
    // other v2, edited v3 and user on top of it.
    wait_for(&|e| count(e, "build_succeeded") == 6);
    interrupt(up.id());
    assert!(up.wait().unwrap().success());
    let events = events_of(&ctx);
    let cancelled: Vec<&Line> = events
        .iter()
        .filter(|(_, k, _)| k == "build_cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1, "only edited's v2 build: {events:#?}");
    assert!(
        cancelled[0]
            .2
            .contains("superseded by a newer change to edited"),
        "{cancelled:?}"
    );
    let queued_of = |name: &str| -> Vec<u64> {
        events
            .iter()
            .filter(|(_, k, rest)| k == "build_queued" && rest.starts_with(&format!("{name} key")))
            .map(|(seq, _, _)| *seq)
            .collect()
    };
    let cancelled_build = &cancelled[0].2;
    assert!(
        queued_of("edited")
            .iter()
            .any(|b| cancelled_build.starts_with(&format!("b{b}"))),
        "the cancelled build is edited's: {events:#?}"
    );
    // other's v2 build was not disturbed: queued twice (v1, v2), both succeeded.
    let other = queued_of("other");
    assert_eq!(other.len(), 2, "{events:#?}");
    for build in other {
        position(&events, "build_succeeded", &format!("b{build}:"));
    }
}

#[test]
fn up_once_fails_when_a_build_failed_or_was_blocked() {
    let ctx = context();
    let text = command_component("bad", &[], "exit 3")
        + &command_component(
            "after",
            &["bad".into()],
            "cp {dep.bad}/out.txt {out}/out.txt",
        );
    ctx.write_definition("components.toml", &text);
    for name in ["bad", "after"] {
        ctx.write_source(name, "input", name);
    }
    let output = ctx.up_once(&["--no-sandbox"]).fails();
    assert!(
        output.stderr.contains("2 build(s) failed or blocked"),
        "{}",
        output.stderr
    );
}

#[test]
fn relative_store_and_definition_paths_work_without_the_sandbox() {
    let ctx = context();
    chain_definition(&ctx);
    let out = ctx
        .factory()
        .without_store()
        .current_dir(ctx.root())
        .args([
            "--store",
            "store",
            "up",
            "--once",
            "--no-sandbox",
            "--definition",
            "def",
        ])
        .ok();
    assert!(out.contains("4 succeeded"), "{out}");
    // By hand, too: the sources are found although the build runs elsewhere.
    let rebuilt = ctx
        .factory()
        .without_store()
        .current_dir(ctx.root())
        .args([
            "--store",
            "store",
            "rebuild",
            "--no-sandbox",
            "--definition",
            "def",
            "x",
        ])
        .ok();
    assert!(rebuilt.contains("reused"), "{rebuilt}");
}

fn git(repo: &Path, args: &[&str]) {
    ok(Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=Factory Test",
            "-c",
            "user.email=test@example.org",
        ])
        .args(args));
}

#[test]
fn a_git_source_is_fetched_and_a_new_commit_found_by_polling_rebuilds_it() {
    let ctx = context();
    let repo = ctx.path("upstream");
    write(&repo.join("input"), "one\n");
    git(&repo, &["init", "--quiet", "-b", "main"]);
    git(&repo, &["add", "input"]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    ctx.write_definition(
        "components.toml",
        &format!(
            "[component.g]\nkind = \"command\"\nsource = {{ git = \"file://{}\", rev = \"main\" }}\ncommands = [\"cp {{src}}/input {{out}}/out.txt\"]\noutputs = [\"out.txt\"]\n",
            repo.display()
        ),
    );
    let mut up = ctx.spawn_up(&["--poll-interval", "1"]);
    let _stderr = watching(&mut up);
    write(&repo.join("input"), "two\n");
    git(&repo, &["commit", "--quiet", "-am", "two"]);
    let started = Instant::now();
    while events_of(&ctx)
        .iter()
        .filter(|(_, k, _)| k == "build_succeeded")
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no rebuild: {:#?}",
            events_of(&ctx)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    interrupt(up.id());
    assert!(up.wait().unwrap().success());
    let events = events_of(&ctx);
    let second = events
        .iter()
        .rev()
        .find(|(_, k, rest)| k == "build_queued" && rest.starts_with("g key"))
        .unwrap();
    let explained = ctx
        .factory()
        .args(["explain", &format!("b{}", second.0)])
        .ok();
    assert!(explained.contains("revision changed"), "{explained}");
    assert!(
        explained.contains("source revision (tree digest)"),
        "{explained}"
    );
}

#[test]
fn a_kind_timeout_kills_the_build_and_says_so() {
    let ctx = context();
    ctx.write_definition(
        "factory.toml",
        "[kind.slow]\ncommands = [\"sleep 30\"]\noutputs = [\"x\"]\ntimeout = \"1s\"\n\n\
         [component.stuck]\nkind = \"slow\"\nsource = { path = \"src\" }\n",
    );
    ctx.write_definition("src/input", "x");
    let started = Instant::now();
    let output = ctx
        .factory()
        .args(["rebuild", "stuck", "--definition"])
        .arg(ctx.definition())
        .output();
    assert!(!output.success());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the build was not killed at its timeout"
    );
    let text = output.stdout;
    assert!(
        text.contains("timed out after 1s") && text.contains("sleep 30"),
        "{text}"
    );
}

#[test]
fn a_build_whose_blob_cannot_be_stored_blocks_the_dependents_that_started_on_it() {
    let ctx = context();
    let finished = ctx.path("d-finished");
    let copy = "cat \"$FACTORY_SRC\"/input > {out}/out.txt";
    let mut text = String::new();
    // p's tree is larger than what the database keeps, so its blob goes to a file.
    let large = format!("{copy}; head -c 100000 /dev/zero > {{out}}/padding");
    text += &command_component("p", &[], &large);
    // d starts on p's tree before p's blob is durable, and would leave a mark if it ended.
    let slow = format!("sleep 1; {copy}; touch {}", finished.display());
    text += &command_component("d", &["p".into()], &slow);
    ctx.write_definition("components.toml", &text);
    for name in ["p", "d"] {
        ctx.write_source(name, "input", name);
    }
    let up = |store: &Path| ctx.up_once(&["--no-sandbox", "-j", "2"]).store(store);
    let events_in =
        |store: &std::path::Path| event_lines(&ctx.factory().store(store).arg("events").ok());
    // Builds are deterministic: a first store tells the digest of p's tree.
    let first = ctx.path("first");
    up(&first).ok();
    let events = events_in(&first);
    let p = build_of(&events, "p");
    let at = position(&events, "build_succeeded", &format!("{p}:"));
    let hex = events[at]
        .2
        .split_whitespace()
        .find_map(|word| word.trim_end_matches(',').strip_prefix("sha256:"))
        .expect("the tree's digest")
        .to_owned();
    fs_err::remove_file(&finished).unwrap();

    // In a second store the directory p's blob belongs in is a file: the blob written,
    // the tree handed to d, then the blob cannot be put in place.
    let second = ctx.path("second");
    write(&second.join("cas/sha256").join(&hex[..2]), "in the way");
    let output = up(&second).output();
    assert!(!output.success(), "a failed build fails `up --once`");
    let events = events_in(&second);
    let p = build_of(&events, "p");
    let d = build_of(&events, "d");
    let failed = position(&events, "build_failed", &format!("{p} "));
    assert!(
        events[failed]
            .2
            .contains("keeping the outputs in the store failed"),
        "{events:#?}"
    );
    let blocked = position(&events, "build_blocked", &format!("{d}:"));
    assert!(
        events[blocked].2.contains(&format!(
            "the outputs of input p (build {p}) could not be stored"
        )),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|(_, kind, _)| kind == "build_succeeded"),
        "{events:#?}"
    );
    assert!(!finished.exists(), "d was stopped, not run to its end");
}

#[test]
fn a_vanished_source_directory_fails_that_build_precisely_and_the_factory_keeps_serving() {
    let ctx = context();
    chain_definition(&ctx);
    let mut up = ctx.spawn_up(&[]);
    let _stderr = watching(&mut up);
    fs_err::remove_dir_all(ctx.source_dir("x")).unwrap();
    let wait = |kind: &str, needle: &str| {
        let started = Instant::now();
        while !events_of(&ctx)
            .iter()
            .any(|(_, k, rest)| k == kind && rest.contains(needle))
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {kind} with {needle}: {:#?}",
                events_of(&ctx)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait("build_failed", "source directory");
    wait("build_blocked", "x failed");
    // Still serving: a change to another component builds.
    ctx.write_source("aaa-slow", "input", "changed");
    let succeeded = || {
        events_of(&ctx)
            .iter()
            .filter(|(_, k, _)| k == "build_succeeded")
            .count()
    };
    let before = succeeded();
    let started = Instant::now();
    while succeeded() == before {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:#?}",
            events_of(&ctx)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    interrupt(up.id());
    assert!(up.wait().unwrap().success());
}
