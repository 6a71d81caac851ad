//! Robustness of the `factory` binary end to end: `factory up` killed with
//! SIGKILL at random moments across a wave of thousands of builds, a store
//! whose disk fills up, and Ctrl-C (SIGINT) while builds run.

mod common;
use common::context;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use factory_store::{BuildId, Event, RecordedEvent, Seq, Store};
use factory_testkit::{
    TestContext, block_on, command_component, interrupt, ok, run, watching, write,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Components named `name` with an `input` file holding the name, written to the
/// context's definition.
fn write_definition(ctx: &TestContext, components: &[(String, Vec<String>, String)]) {
    let mut toml = String::new();
    for (name, deps, command) in components {
        toml += &command_component(name, deps, command);
        ctx.write_source(name, "input", name);
    }
    ctx.write_definition("components.toml", &toml);
}

/// Layered DAG: component i depends on up to 3 components of the layer before.
/// Each build runs `prefix`, then checksums its source and inputs (outputs stay small).
fn generated_definition(
    ctx: &TestContext,
    count: usize,
    width: usize,
    prefix: &str,
) -> Vec<String> {
    let components: Vec<(String, Vec<String>, String)> = (0..count)
        .map(|i| {
            let layer = i / width;
            let deps: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                let start = (layer - 1) * width;
                (0..3)
                    .map(|k| format!("c{:04}", start + (i * 7 + k * 5) % width))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            let command = format!(
                "{prefix}(cat \"$FACTORY_SRC\"/input; for d in {{deps}}; do cat \"$d/out.txt\"; done) | cksum > {{out}}/out.txt"
            );
            (format!("c{i:04}"), deps, command)
        })
        .collect();
    write_definition(ctx, &components);
    components.into_iter().map(|(name, _, _)| name).collect()
}

/// Every event of the store, read through the store library.
fn all_events(store: &Path) -> Vec<RecordedEvent> {
    block_on(async {
        let store = Store::open(store).await.unwrap();
        let mut all = Vec::new();
        let mut after = Seq(0);
        loop {
            let page = store.db().events_since(after, 10_000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        all
    })
}

fn assert_no_gap(events: &[RecordedEvent]) {
    assert!(!events.is_empty(), "no events at all");
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event.seq.0,
            i as u64 + 1,
            "the event sequence has a gap before {:?}",
            event.event.kind()
        );
    }
}

/// What the events say about builds: each build's component and key, and the
/// event at which each key succeeded. Panics if a key starts again after it succeeded.
#[derive(Default)]
struct History {
    component_of: HashMap<BuildId, String>,
    key_of: HashMap<BuildId, String>,
    succeeded_key_at: BTreeMap<String, u64>,
    /// Components with a usable output (succeeded, reused or cut off).
    usable: BTreeMap<String, BuildId>,
}

impl History {
    fn of(events: &[RecordedEvent]) -> History {
        let mut h = History::default();
        for event in events {
            h.apply(event);
        }
        h
    }

    fn apply(&mut self, event: &RecordedEvent) {
        match &event.event {
            Event::BuildQueued { component, key, .. } => {
                let build = BuildId(event.seq.0);
                self.key_of
                    .insert(build, key.map(|k| k.hex()).unwrap_or_default());
                self.component_of.insert(build, component.clone());
            }
            Event::BuildStarted { build, .. } => {
                let key = &self.key_of[build];
                assert!(
                    !self.succeeded_key_at.contains_key(key),
                    "build {build} started key {key}, which had already succeeded at event {}",
                    self.succeeded_key_at[key]
                );
            }
            Event::BuildSucceeded { build, .. } => {
                self.succeeded_key_at
                    .insert(self.key_of[build].clone(), event.seq.0);
                self.usable.insert(self.component_of[build].clone(), *build);
            }
            Event::BuildReused { build, .. } | Event::BuildCutOff { build, .. } => {
                self.usable.insert(self.component_of[build].clone(), *build);
            }
            _ => {}
        }
    }
}

/// Waits for the child to end, at most `limit`; `None` if it is still running.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `factory up --once` again and again, each time SIGKILLed at a random moment,
/// until one start finishes the wave by itself (within 15 minutes); the number of kills.
fn killed_until_done(ctx: &TestContext) -> usize {
    let started = Instant::now();
    let mut kills = 0;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "did not finish after {kills} kills"
        );
        // Each start's diagnostics go to a file, so a failing start can show them.
        let stderr_path = ctx.path(format!("up-{kills}.stderr"));
        let stderr = fs_err::File::create(&stderr_path).unwrap();
        let mut child = ctx
            .up_once(&["--no-sandbox", "-j", "4"])
            .spawn(Stdio::null(), stderr.into_file());
        // xorshift: reproducible "random" moments between 0.5 and 3 s after each start.
        // A start spends about a second reading the definition and sweeping what is done,
        // so every run but the shortest gets some builds done, and none gets so far that it
        // leaps over a quarter of the wave: the kills fall all along it, up to its end.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(500 + seed % 2500);
        match wait_at_most(&mut child, wait) {
            Some(status) => {
                assert!(
                    status.success(),
                    "factory up failed after {kills} kills: {status}\n{}",
                    fs_err::read_to_string(&stderr_path).unwrap_or_default()
                );
                return kills;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
}

/// How far the wave had got at each kill that left it unfinished: the keys that had
/// succeeded when the next start finished the interrupted wave.
fn progress_at_kills(events: &[RecordedEvent]) -> Vec<usize> {
    let mut done = 0;
    let mut progress = Vec::new();
    for event in events {
        match &event.event {
            Event::BuildSucceeded { .. } => done += 1,
            Event::WaveFinished { summary, .. } if summary.starts_with("interrupted") => {
                progress.push(done);
            }
            _ => {}
        }
    }
    progress
}

#[test]
fn up_killed_at_random_moments_resumes_until_done_and_never_reruns_a_succeeded_key() {
    // A wave of a few thousand builds, 100 per layer, 25 layers deep.
    const BUILDS: usize = 2_500;
    let ctx = context();
    let names = generated_definition(&ctx, BUILDS, 100, "sleep 0.01; ");
    let started = Instant::now();
    let kills = killed_until_done(&ctx);
    let took = started.elapsed();

    let events = all_events(ctx.store());
    assert_no_gap(&events);
    let history = History::of(&events);
    for name in &names {
        assert!(history.usable.contains_key(name), "{name} never completed");
    }
    assert!(
        history.succeeded_key_at.len() >= names.len(),
        "every component built once"
    );
    let progress_at_kill = progress_at_kills(&events);
    let cancelled = events
        .iter()
        .filter(|e| matches!(e.event, Event::BuildCancelled { .. }))
        .count();
    eprintln!(
        "{BUILDS} builds finished after {kills} SIGKILLs in {took:.1?}; {} events, {} keys \
         succeeded, {cancelled} builds interrupted and resumed; builds done at the kills \
         that interrupted a wave: {progress_at_kill:?}",
        events.len(),
        history.succeeded_key_at.len(),
    );
    assert!(
        kills >= 5,
        "the test must actually interrupt waves (killed {kills} times)"
    );
    assert!(
        cancelled > 0,
        "some build must have been interrupted mid-wave"
    );
    assert!(
        progress_at_kill.iter().any(|&d| d < BUILDS / 4)
            && progress_at_kill
                .iter()
                .any(|&d| d > BUILDS * 3 / 4 && d < BUILDS),
        "kills must fall early and late in the wave: {progress_at_kill:?}"
    );
    let status = ctx.status();
    assert!(
        !status.contains("running"),
        "a wave is left unfinished:\n{status}"
    );
}

/// Whether a process is alive: it exists and is not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    fs_err::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // `pid (comm) S ...`: the state follows the last parenthesis.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

fn read_pid(path: &Path) -> Option<u32> {
    fs_err::read_to_string(path).ok()?.trim().parse().ok()
}

/// A build command that records its shell's pid in `PIDS/NAME.sh` and, while `marker`
/// exists, sleeps a minute in a child whose pid is in `PIDS/NAME.sleep`. The marker
/// is outside the definition: creating or removing it changes no build key.
fn slow_command(pids: &Path, marker: &Path, name: &str) -> String {
    format!(
        "echo $$ > {pids}/{name}.sh; if [ -e {marker} ]; then sleep 60 & echo $! > {pids}/{name}.sleep; wait; fi; cat \"$FACTORY_SRC\"/input > {{out}}/out.txt",
        pids = pids.display(),
        marker = marker.display()
    )
}

/// Waits until the slow builds `names` sleep; the pids of their shells and sleeps.
fn sleeping_builds(up: &mut Child, pids: &Path, names: &[&str]) -> Vec<u32> {
    let waiting = Instant::now();
    while !names
        .iter()
        .all(|n| read_pid(&pids.join(format!("{n}.sleep"))).is_some())
    {
        if let Some(status) = up.try_wait().unwrap() {
            panic!("factory up ended before the slow builds ran: {status}");
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the slow builds did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let build_pids: Vec<u32> = names
        .iter()
        .flat_map(|n| [format!("{n}.sh"), format!("{n}.sleep")])
        .map(|f| read_pid(&pids.join(f)).expect("the build wrote its pid"))
        .collect();
    assert!(build_pids.iter().all(|&p| alive(p)), "{build_pids:?}");
    build_pids
}

/// Sends SIGINT to `up` and checks that it stops cleanly and promptly, and that the
/// running builds' whole process groups (shell and child) are gone. Returns its stderr.
fn ctrl_c(mut up: Child, mut stderr: impl std::io::Read, build_pids: &[u32]) -> String {
    let signalled = Instant::now();
    interrupt(up.id());
    let status = wait_at_most(&mut up, Duration::from_secs(30));
    let stopping = signalled.elapsed();
    let Some(status) = status else {
        up.kill().unwrap();
        panic!("factory up did not stop within 30 s of SIGINT");
    };
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    eprintln!("factory up stopped {stopping:.2?} after SIGINT");
    assert!(status.success(), "Ctrl-C stops cleanly: {status}\n{err}");
    assert!(
        stopping < Duration::from_secs(5),
        "factory up took {stopping:.2?} to stop"
    );
    assert!(
        err.contains("stopped: running builds were killed"),
        "stderr:\n{err}"
    );
    let gone = Instant::now();
    while build_pids.iter().any(|&p| alive(p)) {
        assert!(
            gone.elapsed() < Duration::from_secs(2),
            "build processes survived Ctrl-C: {:?}",
            build_pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    err
}

#[test]
fn ctrl_c_stops_up_promptly_kills_running_builds_and_the_next_up_finishes_the_wave() {
    let ctx = context();
    let pids = ctx.path("pids");
    fs_err::create_dir_all(&pids).unwrap();
    // While this file exists, the slow builds sleep a minute.
    let slow_marker = ctx.path("slow");
    write(&slow_marker, "");
    let slow = |name: &str| slow_command(&pids, &slow_marker, name);
    let quick = "cat \"$FACTORY_SRC\"/input > {out}/out.txt".to_owned();
    let components = vec![
        ("slow-a".to_owned(), vec![], slow("slow-a")),
        ("slow-b".to_owned(), vec![], slow("slow-b")),
        (
            "after-a".to_owned(),
            vec!["slow-a".to_owned()],
            quick.clone(),
        ),
        ("quick-1".to_owned(), vec![], quick.clone()),
        ("quick-2".to_owned(), vec![], quick.clone()),
    ];
    write_definition(&ctx, &components);
    let store = ctx.store();
    // Foreground `factory up`: it would watch for changes after the first wave.
    let mut up = ctx.spawn_up(&["--no-sandbox", "-j", "2"]);
    let stderr = up.stderr.take().unwrap();
    let build_pids = sleeping_builds(&mut up, &pids, &["slow-a", "slow-b"]);
    let out = ctrl_c(up, stderr, &build_pids);

    // The interrupted builds are recorded as cancelled by the shutdown, and the wave
    // is left unfinished for the next start.
    let events = all_events(store);
    assert_no_gap(&events);
    let before = History::of(&events);
    let mut cancelled: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::BuildCancelled { build, reason } => {
                assert!(
                    reason.contains("the factory shut down"),
                    "{build}: {reason}"
                );
                Some(before.component_of[build].clone())
            }
            _ => None,
        })
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, ["slow-a", "slow-b"], "stderr:\n{out}");
    assert!(!before.usable.contains_key("slow-a"));
    assert!(!before.usable.contains_key("after-a"));
    let status = ctx.status();
    assert!(
        status.lines().any(|l| l.contains("running")),
        "the interrupted wave is left to resume:\n{status}"
    );

    // The next start finishes everything; the slow builds run again with the same keys.
    fs_err::remove_file(&slow_marker).unwrap();
    let resumed = ctx.up_once(&["--no-sandbox", "-j", "2"]).ok();
    let events = all_events(store);
    assert_no_gap(&events);
    let after = History::of(&events);
    for (name, _, _) in &components {
        assert!(after.usable.contains_key(name), "{name}:\n{resumed}");
    }
    for name in ["slow-a", "slow-b"] {
        let cancelled_key = before
            .component_of
            .iter()
            .find(|(_, c)| c.as_str() == name)
            .map(|(b, _)| before.key_of[b].clone())
            .unwrap();
        assert!(
            after.succeeded_key_at.contains_key(&cancelled_key),
            "{name} resumed with the key it was interrupted with"
        );
    }
    assert!(
        events.iter().any(|e| matches!(&e.event,
            Event::WaveFinished { summary, .. } if summary.starts_with("interrupted"))),
        "the interrupted wave is closed as resumed"
    );
    let status = ctx.status();
    assert!(!status.contains("running"), "{status}");
}

/// A tmpfs mounted on a directory, unmounted when dropped (also when the test fails).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// `None` (after saying so loudly) where mounting is not permitted; under CI a failure.
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        fs_err::create_dir_all(dir).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match output {
            Ok(output) if output.status.success() => Some(SmallDisk {
                dir: dir.to_owned(),
            }),
            other => {
                let why = match other {
                    Ok(output) => text(&output.stderr),
                    Err(error) => error.to_string(),
                };
                assert!(
                    std::env::var_os("FACTORY_CI").is_none(),
                    "CI must be able to run this test: cannot mount a tmpfs (needs root): {why}"
                );
                eprintln!("SKIPPED: cannot mount a tmpfs here (needs root): {why}");
                None
            }
        }
    }

    fn resize(&self, size: &str) {
        ok(Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process of a failed test may still hold files open on it.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Bytes in the regular files below `dir`.
fn bytes_below(dir: &Path) -> u64 {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => bytes_below(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Starts a foreground `factory up` on `store` and waits until it watches (its first wave
/// is done).
fn up_watching(ctx: &TestContext, store: &Path) -> (Child, impl BufRead) {
    let mut up = ctx
        .factory()
        .store(store)
        .args([
            "up",
            "--no-listen",
            "--no-sandbox",
            "-j",
            "1",
            "--definition",
        ])
        .arg(ctx.definition())
        .spawn(Stdio::null(), Stdio::piped());
    let stderr = watching(&mut up);
    (up, stderr)
}

/// Two components too large for an 8 MB disk, one built from the larger one, and five
/// small ones.
fn components_for_a_small_disk() -> Vec<(String, Vec<String>, String)> {
    let copy = "cat \"$FACTORY_SRC\"/input > {out}/out.txt".to_owned();
    let mut components = vec![
        // 5 MB fit in the build directory, but not once more in the store.
        (
            "big".to_owned(),
            vec![],
            "head -c 5000000 /dev/zero > {out}/out.txt".to_owned(),
        ),
        // 12 MB do not even fit in the build directory: the command fails.
        (
            "huge".to_owned(),
            vec![],
            "head -c 12000000 /dev/zero > {out}/out.txt".to_owned(),
        ),
        ("after-big".to_owned(), vec!["big".to_owned()], copy.clone()),
    ];
    for i in 1..=5 {
        components.push((format!("small-{i}"), vec![], copy.clone()));
    }
    components
}

/// The first wave on the small disk failed what did not fit, as an infrastructure failure
/// that says what to do, built the rest and cleaned up after itself.
fn assert_the_first_wave_failed_what_did_not_fit(store: &Path) {
    let events = all_events(store);
    assert_no_gap(&events);
    let history = History::of(&events);
    let failure_of = |component: &str| -> String {
        events
            .iter()
            .find_map(|e| match &e.event {
                Event::BuildFailed {
                    build,
                    reason,
                    kind,
                } if history.component_of[build] == component => {
                    assert_eq!(
                        *kind,
                        factory_store::FailureKind::Infrastructure,
                        "{component}: {reason}"
                    );
                    Some(reason.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{component} did not fail"))
    };
    let big = failure_of("big");
    assert!(
        big.starts_with("the disk is full: no space left to keep the outputs in the store")
            && big.contains(&store.display().to_string())
            && big.contains("No space left on device")
            && big.contains("factory gc"),
        "{big}"
    );
    let huge = failure_of("huge");
    assert!(
        huge.starts_with("the disk is full: no space left in")
            && huge.contains("where builds write their outputs")
            && huge.contains("head -c 12000000")
            && huge.contains("factory gc"),
        "{huge}"
    );
    // An infrastructure failure is tried again (three tries in all) before it is recorded.
    let huge_starts = events
        .iter()
        .filter(|e| matches!(&e.event, Event::BuildStarted { build, .. } if history.component_of[build] == "huge"))
        .count();
    assert_eq!(huge_starts, 3, "huge is retried");
    assert!(
        events.iter().any(|e| matches!(&e.event,
            Event::BuildBlocked { build, reason, .. }
                if history.component_of[build] == "after-big" && reason.contains("the disk is full"))),
        "after-big is blocked by big's full disk"
    );
    for i in 1..=5 {
        let name = format!("small-{i}");
        assert!(history.usable.contains_key(&name), "{name} built");
    }
    // What did not fit was cleaned up: the disk is usable again.
    let left = bytes_below(&store.join("scratch"));
    assert!(left < 1 << 20, "{left} bytes left in the build directories");
}

/// The store on the small disk is sound: status and events read it, and the sequence has
/// no gap.
fn assert_sound(ctx: &TestContext, store: &Path) {
    let status = ctx.factory().store(store).arg("status").ok();
    assert!(
        status
            .lines()
            .any(|l| l.trim_start().starts_with("big ") && l.contains("failed")),
        "{status}"
    );
    let listed = ctx.factory().store(store).arg("events").ok();
    let seqs: Vec<u64> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "`factory events` lists every event once, in order"
    );
    assert!(listed.contains("the disk is full"), "{listed}");
}

/// A disk so full that not even the event log can grow: `factory up` stops with the store's
/// own error (or, if the log still had room, fails the build as before), and once there is
/// room again nothing is lost.
fn full_even_for_the_log_then_nothing_is_lost(ctx: &TestContext, store: &Path, disk: &SmallDisk) {
    let on_disk = || ctx.factory().store(store);
    let up_once = || ctx.up_once(&["--no-sandbox", "-j", "1"]).store(store);
    ctx.write_source("small-2", "input", "changed");
    let filler = disk.dir.join("filler");
    let filled = run(Command::new("sh").arg("-c").arg(format!(
        "head -c 100000000 /dev/zero > {}",
        filler.display()
    )));
    assert!(!filled.status.success(), "the filler fills the disk");
    let full = up_once().output();
    let (out, err) = (&full.stdout, &full.stderr);
    eprintln!("factory up on a full disk: {}\n{out}{err}", full.status);
    if full.success() {
        assert!(
            out.contains("the disk is full") && out.contains("small-2"),
            "{out}"
        );
    } else {
        assert!(
            err.contains("no space left while trying to") && err.contains("free some space"),
            "{err}"
        );
    }
    fs_err::remove_file(&filler).unwrap();
    on_disk().arg("status").ok();
    let done = up_once().ok();
    let events = all_events(store);
    assert_no_gap(&events);
    let history = History::of(&events);
    let small_2 = history.usable["small-2"];
    assert!(
        history
            .succeeded_key_at
            .contains_key(&history.key_of[&small_2])
            && events.iter().any(|e| matches!(&e.event,
                Event::ChangeDetected { component, .. } if component == "small-2")),
        "small-2's change is built:\n{done}"
    );
    let status = on_disk().arg("status").ok();
    assert!(!status.contains("running"), "{status}");
}

#[test]
fn a_full_disk_fails_only_the_builds_that_do_not_fit_and_the_store_stays_sound() {
    let ctx = context();
    // Declared after `ctx`: unmounted before its directory is removed.
    let Some(disk) = SmallDisk::mount(&ctx.path("disk"), "8m") else {
        return;
    };
    let store = disk.dir.join("store");
    let on_disk = || ctx.factory().store(&store);
    let up_once = || ctx.up_once(&["--no-sandbox", "-j", "1"]).store(&store);
    let components = components_for_a_small_disk();
    write_definition(&ctx, &components);

    // `factory up` serving from the small disk: the first wave fails what does not fit.
    let (mut up, _stderr) = up_watching(&ctx, &store);
    assert_the_first_wave_failed_what_did_not_fit(&store);

    // Still serving: a change to a small component builds on the same small disk.
    let small_builds = || History::of(&all_events(&store)).succeeded_key_at.len();
    let before = small_builds();
    ctx.write_source("small-1", "input", "changed");
    let waiting = Instant::now();
    while small_builds() == before {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the change to small-1 was not built"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    interrupt(up.id());
    assert!(
        wait_at_most(&mut up, Duration::from_secs(30)).is_some_and(|s| s.success()),
        "factory up stops on SIGINT"
    );

    assert_sound(&ctx, &store);

    // With room, the next start builds what did not fit, and only that.
    disk.resize("64m");
    let done = up_once().ok();
    let events = all_events(&store);
    assert_no_gap(&events);
    let history = History::of(&events);
    for (name, _, _) in &components {
        assert!(history.usable.contains_key(name), "{name}:\n{done}");
    }
    assert!(done.contains("3 ran, 3 succeeded"), "{done}");
    let status = on_disk().arg("status").ok();
    assert!(!status.contains("running"), "{status}");

    full_even_for_the_log_then_nothing_is_lost(&ctx, &store, &disk);
}

#[test]
fn ctrl_c_while_a_watched_change_builds_stops_it_and_the_next_up_finishes_it() {
    let ctx = context();
    let pids = ctx.path("pids");
    fs_err::create_dir_all(&pids).unwrap();
    let slow_marker = ctx.path("slow");
    let quick = "cat \"$FACTORY_SRC\"/input > {out}/out.txt".to_owned();
    let components = vec![
        (
            "slow".to_owned(),
            vec![],
            slow_command(&pids, &slow_marker, "slow"),
        ),
        (
            "after-slow".to_owned(),
            vec!["slow".to_owned()],
            quick.clone(),
        ),
        ("quick".to_owned(), vec![], quick),
    ];
    write_definition(&ctx, &components);
    let store = ctx.store();
    // The first wave is quick (no marker); then a change makes `slow` build for a minute.
    let (mut up, stderr) = up_watching(&ctx, store);
    write(&slow_marker, "");
    ctx.write_source("slow", "input", "changed");
    let build_pids = sleeping_builds(&mut up, &pids, &["slow"]);
    ctrl_c(up, stderr, &build_pids);

    let events = all_events(store);
    assert_no_gap(&events);
    let before = History::of(&events);
    let (cancelled, reason) = events
        .iter()
        .find_map(|e| match &e.event {
            Event::BuildCancelled { build, reason } => Some((*build, reason.clone())),
            _ => None,
        })
        .expect("the running build is recorded as cancelled");
    assert_eq!(before.component_of[&cancelled], "slow");
    assert!(reason.contains("the factory shut down"), "{reason}");
    let changed_key = before.key_of[&cancelled].clone();
    assert!(!before.succeeded_key_at.contains_key(&changed_key));
    let status = ctx.status();
    assert!(
        status.lines().any(|l| l.contains("running")),
        "the interrupted wave is left to resume:\n{status}"
    );

    fs_err::remove_file(&slow_marker).unwrap();
    let resumed = ctx.up_once(&["--no-sandbox"]).ok();
    let events = all_events(store);
    assert_no_gap(&events);
    let after = History::of(&events);
    assert!(
        after.succeeded_key_at.contains_key(&changed_key),
        "the interrupted change is built:\n{resumed}"
    );
    let latest = |name: &str| after.usable[name];
    assert_eq!(after.key_of[&latest("slow")], changed_key);
    assert!(
        latest("after-slow") > cancelled,
        "after-slow is rebuilt on the change"
    );
    let status = ctx.status();
    assert!(!status.contains("running"), "{status}");
}
