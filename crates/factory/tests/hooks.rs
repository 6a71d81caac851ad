//! Event hooks through the real binary: a command hook gets the event of its component on
//! standard input (sandboxed too, where it reaches no network unless it declares it); a
//! POST hook is tried again while the server answers 503 and delivered once; a hook that
//! hangs or fails holds up no build and its failure is recorded; hooks go on where they
//! were after a restart, are picked up from a changed definition, and never feed on
//! themselves; `factory check` reports bad hooks.

mod common;
use common::context;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use factory_testkit::{
    TestContext, assert_filtered_snapshot, command_component, interrupt, watching,
};

/// One line of `factory events`: sequence number, kind, the rest.
type Line = (u64, String, String);

fn events_of(ctx: &TestContext) -> Vec<Line> {
    ctx.events()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let seq = parts.next()?.parse().ok()?;
            let kind = parts.next()?.to_owned();
            Some((seq, kind, parts.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

/// The `hook_ran` lines of `hook`, in order.
fn runs_of(events: &[Line], hook: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(_, kind, rest)| kind == "hook_ran" && rest.starts_with(&format!("{hook} for ")))
        .map(|(_, _, rest)| rest.clone())
        .collect()
}

/// Waits until the store's events satisfy `done`; returns them.
fn wait_for(ctx: &TestContext, what: &str, done: impl Fn(&[Line]) -> bool) -> Vec<Line> {
    let started = Instant::now();
    loop {
        let events = events_of(ctx);
        if done(&events) {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}: {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `lib` and `other` fail, `fine` builds; hooks go in `hooks.toml`.
fn failing_components(ctx: &TestContext) {
    let mut text = command_component("lib", &[], "echo lib breaks >&2; exit 3");
    text += &command_component("other", &[], "exit 4");
    text += &command_component("fine", &[], "echo fine > {out}/out.txt");
    ctx.write_definition("components.toml", &text);
    for name in ["lib", "other", "fine"] {
        ctx.write_source(name, "input", name);
    }
}

/// The build of `component` the events name first (its `build_queued` sequence number).
fn build_of(events: &[Line], component: &str) -> u64 {
    events
        .iter()
        .find(|(_, kind, rest)| {
            kind == "build_queued" && rest.starts_with(&format!("{component} "))
        })
        .map(|(seq, _, _)| *seq)
        .unwrap_or_else(|| panic!("no build of {component}: {events:#?}"))
}

#[test]
fn a_command_hook_gets_the_event_of_its_component_on_standard_input() {
    let ctx = context();
    failing_components(&ctx);
    let received = ctx.path("received");
    fs_err::create_dir_all(&received).unwrap();
    // A script of the definition's repository, run from the definition directory.
    ctx.write_definition(
        "hooks/record.sh",
        "cat > \"$1/$FACTORY_EVENT_SEQ.json\"\n\
         echo \"$FACTORY_HOOK $FACTORY_EVENT_TOPIC $PWD\" > \"$1/$FACTORY_EVENT_SEQ.env\"\n",
    );
    ctx.write_definition(
        "hooks.toml",
        &format!(
            "[hook.tell-lib]\non = \"build.failed\"\ncomponent = \"lib\"\n\
             command = [\"sh\", \"hooks/record.sh\", \"{}\"]\n",
            received.display()
        ),
    );
    let mut up = ctx.spawn_up(&["--no-sandbox"]);
    let _stderr = watching(&mut up);
    let events = wait_for(&ctx, "the hook's outcome", |e| {
        !runs_of(e, "tell-lib").is_empty()
    });
    interrupt(up.id());
    assert!(up.wait().unwrap().success());

    // Two builds failed; the hook is for lib's only.
    let runs = runs_of(&events, "tell-lib");
    assert_eq!(runs.len(), 1, "{events:#?}");
    let files: Vec<String> = fs_err::read_dir(&received)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let seq: u64 = files[0].trim_end_matches(".json").parse().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(received.join(&files[0])).unwrap()).unwrap();
    let lib = build_of(&events, "lib");
    assert_eq!(json["seq"], seq, "{json}");
    assert_eq!(json["topic"], "build.failed", "{json}");
    assert_eq!(json["build"], lib, "{json}");
    assert_eq!(json["data"]["build"], lib, "{json}");
    assert_eq!(json["data"]["kind"], "user", "{json}");
    assert!(
        json["recorded_at"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    let (_, kind, _) = events.iter().find(|(s, _, _)| *s == seq).unwrap();
    assert_eq!(kind, "build_failed");
    let env = fs_err::read_to_string(received.join(format!("{seq}.env"))).unwrap();
    let definition = std::path::absolute(ctx.definition()).unwrap();
    assert_eq!(
        env.trim(),
        format!("tell-lib build.failed {}", definition.display())
    );
    assert!(
        runs[0].starts_with(&format!(
            "tell-lib for #{seq} build.failed attempt 1: succeeded in "
        )),
        "{runs:?}"
    );
}

/// Whether bubblewrap works here; without it a sandboxed test skips loudly, except under
/// CI (`FACTORY_CI`), where it fails.
fn have_bwrap() -> bool {
    let works = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must run this test: bubblewrap does not work (apt-get install bubblewrap)"
        );
        eprintln!("SKIPPED: bubblewrap does not work here");
    }
    works
}

#[test]
fn a_sandboxed_hook_gets_the_event_and_reaches_no_network_unless_it_declares_it() {
    if !have_bwrap() {
        return;
    }
    let ctx = context();
    ctx.write_definition(
        "components.toml",
        &command_component("lib", &[], "echo lib breaks >&2; exit 3"),
    );
    ctx.write_source("lib", "input", "lib");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(Mutex::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
            *counted.lock().unwrap() += 1;
        }
    });
    let reach = format!("echo hello > /dev/tcp/127.0.0.1/{port}");
    ctx.write_definition(
        "hooks.toml",
        &format!(
            "[hook.echo]\non = \"build.failed\"\ncommand = [\"cat\"]\n\n\
             [hook.offline]\non = \"build.failed\"\ncommand = [\"bash\", \"-c\", \"{reach}\"]\ntries = 1\n\n\
             [hook.online]\non = \"build.failed\"\ncommand = [\"bash\", \"-c\", \"{reach}\"]\nnetwork = true\n"
        ),
    );
    let mut up = ctx.spawn_up(&[]);
    let _stderr = watching(&mut up);
    let events = wait_for(&ctx, "every hook's outcome", |e| {
        ["echo", "offline", "online"]
            .iter()
            .all(|h| !runs_of(e, h).is_empty())
    });
    interrupt(up.id());
    assert!(up.wait().unwrap().success());

    let echo = &runs_of(&events, "echo")[0];
    assert!(echo.contains(": succeeded in "), "{echo}");
    // The command printed what it read: the event, as the API gives it.
    assert!(
        echo.contains("exit code 0 | {\"seq\":") && echo.contains("\"topic\":\"build.failed\""),
        "{echo}"
    );
    let offline = &runs_of(&events, "offline")[0];
    assert!(
        offline.contains("attempt 1: failed in ") && offline.contains("exit code 1"),
        "{offline}"
    );
    assert!(!offline.contains("again in"), "tries = 1: {offline}");
    let online = &runs_of(&events, "online")[0];
    assert!(online.contains(": succeeded in "), "{online}");
    assert_eq!(
        *connections.lock().unwrap(),
        1,
        "only the hook with network got through"
    );
}

/// One request as the test's server read it.
#[derive(Debug, Clone)]
struct Request {
    request_line: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A server on 127.0.0.1 that answers the statuses of `answers` in turn (the last one
/// from then on) and keeps every request.
fn http_server(answers: &[u16]) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let kept = requests.clone();
    let answers = answers.to_vec();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(request) = read_request(&mut stream) else {
                continue;
            };
            let mut kept = kept.lock().unwrap();
            let status = answers[kept.len().min(answers.len() - 1)];
            kept.push(request);
            let reason = if status == 200 { "OK" } else { "Busy" };
            let reply = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n"
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, requests)
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

#[test]
fn a_post_hook_is_tried_again_while_the_server_is_busy_and_delivered_once() {
    let ctx = context();
    ctx.write_definition(
        "components.toml",
        &command_component("lib", &[], "echo lib breaks >&2; exit 3"),
    );
    ctx.write_source("lib", "input", "lib");
    let (port, requests) = http_server(&[503, 503, 200]);
    ctx.write_definition(
        "hooks.toml",
        &format!(
            "[hook.chat]\non = \"build.failed\"\npost = \"http://127.0.0.1:{port}/hooks/releng\"\n\
             headers = {{ Authorization = \"Bearer chat-token\" }}\n"
        ),
    );
    let mut up = ctx.spawn_up(&["--no-sandbox"]);
    let _stderr = watching(&mut up);
    let events = wait_for(&ctx, "the delivery", |e| {
        runs_of(e, "chat").iter().any(|r| r.contains("succeeded"))
    });
    // Delivered: nothing more is sent.
    std::thread::sleep(Duration::from_secs(2));
    interrupt(up.id());
    assert!(up.wait().unwrap().success());

    let runs = runs_of(&events, "chat");
    let seq = build_failed_seq(&events);
    assert_eq!(runs.len(), 3, "{runs:#?}");
    let expect = [
        "attempt 1: failed in ",
        "attempt 2: failed in ",
        "attempt 3: succeeded in ",
    ];
    for (run, expected) in runs.iter().zip(expect) {
        assert!(
            run.starts_with(&format!("chat for #{seq} build.failed {expected}")),
            "{run}"
        );
    }
    assert!(
        runs[0].contains(", again in 1s: HTTP 503 | busy"),
        "{}",
        runs[0]
    );
    assert!(runs[1].contains(", again in 2s: HTTP 503"), "{}", runs[1]);
    assert!(runs[2].ends_with(": HTTP 200 | busy"), "{}", runs[2]);

    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for request in &requests {
        assert_eq!(request.request_line, "POST /hooks/releng HTTP/1.1");
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["authorization"], "Bearer chat-token");
        assert_eq!(request.headers["x-factory-hook"], "chat");
        assert_eq!(request.headers["x-factory-event"], seq.to_string());
        assert_eq!(request.body, requests[0].body, "the same event each time");
    }
    let json: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(
        (json["seq"].as_u64(), json["topic"].as_str()),
        (Some(seq), Some("build.failed"))
    );
}

fn build_failed_seq(events: &[Line]) -> u64 {
    events
        .iter()
        .find(|(_, kind, _)| kind == "build_failed")
        .map(|(seq, _, _)| *seq)
        .unwrap_or_else(|| panic!("no build failed: {events:#?}"))
}

#[test]
fn a_hook_that_hangs_or_fails_holds_up_no_build_and_its_failure_is_recorded() {
    let ctx = context();
    ctx.write_definition(
        "components.toml",
        &command_component("lib", &[], "cat \"$FACTORY_SRC\"/input > {out}/out.txt"),
    );
    ctx.write_source("lib", "input", "v1");
    ctx.write_definition(
        "hooks.toml",
        "[hook.stuck]\non = \"wave.planned\"\ncommand = [\"sleep\", \"600\"]\ntimeout = \"1h\"\n\n\
         [hook.broken]\non = \"build.succeeded\"\ncommand = [\"sh\", \"-c\", \"echo down >&2; exit 75\"]\ntries = 2\n",
    );
    let started = Instant::now();
    let mut up = ctx.spawn_up(&["--no-sandbox"]);
    let _stderr = watching(&mut up);
    // Builds go on while `stuck` sleeps on the first wave's event.
    ctx.write_source("lib", "input", "v2");
    let events = wait_for(&ctx, "a second wave and broken's outcomes", |e| {
        let waves = e.iter().filter(|(_, k, _)| k == "wave_finished").count();
        waves == 2 && runs_of(e, "broken").len() >= 3
    });
    assert!(started.elapsed() < Duration::from_secs(60));
    let stopping = Instant::now();
    interrupt(up.id());
    assert!(up.wait().unwrap().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "Ctrl-C does not wait for a hook: {:?}",
        stopping.elapsed()
    );

    assert!(runs_of(&events, "stuck").is_empty(), "it never finished");
    let broken = runs_of(&events, "broken");
    assert!(
        broken[0].contains("attempt 1: failed in ")
            && broken[0].contains(", again in 1s: exit code 75 (try again later) | down"),
        "{broken:#?}"
    );
    assert!(
        broken[1].contains("attempt 2: failed in ") && !broken[1].contains("again in"),
        "tries = 2, then failed for good: {broken:#?}"
    );
    // The second success, after the first one was given up on.
    assert!(broken[2].contains("attempt 1: failed"), "{broken:#?}");
    let left = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 600$"])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "the hung hook was killed");
}

#[test]
fn hooks_go_on_where_they_were_after_a_restart_and_up_once_delivers_before_it_exits() {
    let ctx = context();
    ctx.write_definition(
        "components.toml",
        &format!(
            "{}{}",
            command_component("lib", &[], "cat \"$FACTORY_SRC\"/input > {out}/out.txt"),
            command_component(
                "app",
                &["lib".into()],
                "cat {dep.lib}/out.txt > {out}/out.txt"
            )
        ),
    );
    ctx.write_source("lib", "input", "v1");
    ctx.write_source("app", "input", "app");
    let log = ctx.path("delivered.log");
    ctx.write_definition(
        "hooks.toml",
        &format!(
            "[hook.count]\non = \"build.succeeded\"\n\
             command = [\"sh\", \"-c\", \"echo $FACTORY_EVENT_SEQ >> {}\"]\n",
            log.display()
        ),
    );
    ctx.up_once(&["--no-sandbox"]).ok();
    ctx.write_source("lib", "input", "v2");
    ctx.up_once(&["--no-sandbox"]).ok();

    let events = events_of(&ctx);
    let successes: Vec<u64> = events
        .iter()
        .filter(|(_, k, _)| k == "build_succeeded")
        .map(|(s, _, _)| *s)
        .collect();
    assert_eq!(successes.len(), 4, "{events:#?}");
    let delivered: Vec<u64> = fs_err::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(delivered, successes, "each success once, in log order");
    assert_eq!(runs_of(&events, "count").len(), 4);
}

#[test]
fn a_hook_added_while_up_runs_is_picked_up_and_hooks_on_hooks_go_one_level_deep() {
    let ctx = context();
    ctx.write_definition(
        "components.toml",
        &command_component("lib", &[], "cat \"$FACTORY_SRC\"/input > {out}/out.txt"),
    );
    ctx.write_source("lib", "input", "v1");
    let mut up = ctx.spawn_up(&["--no-sandbox"]);
    let _stderr = watching(&mut up);
    // Hooks on everything and on builds, and two on hooks' outcomes.
    ctx.write_definition(
        "hooks.toml",
        "[hook.built]\non = \"build.succeeded\"\ncommand = [\"true\"]\n\n\
         [hook.everything]\non = \"*\"\ncommand = [\"true\"]\n\n\
         [hook.watcher]\non = \"hook.*\"\ncommand = [\"true\"]\n\n\
         [hook.other-watcher]\non = \"hook.ran\"\ncommand = [\"true\"]\n",
    );
    // The definition changed (no job did): the loop reloads it and the hooks start.
    let started = Instant::now();
    while ctx.hook_cursors().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            ctx.hook_cursors()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ctx.write_source("lib", "input", "v2");
    let events = settled(&ctx, |e| {
        let first_level = runs_of(e, "built").len() + runs_of(e, "everything").len();
        e.iter().filter(|(_, k, _)| k == "wave_finished").count() == 2
            && !runs_of(e, "built").is_empty()
            && runs_of(e, "watcher").len() == first_level
            && runs_of(e, "other-watcher").len() == first_level
    });
    interrupt(up.id());
    assert!(up.wait().unwrap().success());

    assert_eq!(runs_of(&events, "built").len(), 1, "{events:#?}");
    // `*` alone never takes hooks' outcomes.
    let everything = runs_of(&events, "everything");
    assert!(everything.len() > 3, "{everything:#?}");
    assert!(
        everything.iter().all(|r| !r.contains(" hook.ran ")),
        "{everything:#?}"
    );
    // Each watcher ran once for every outcome of `built` and `everything`, and for no
    // watcher's: one level deep, no loop.
    for watcher in ["watcher", "other-watcher"] {
        for run in runs_of(&events, watcher) {
            let about: u64 = run
                .split_once('#')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|seq| seq.parse().ok())
                .unwrap_or_else(|| panic!("{run}"));
            let (_, kind, rest) = events.iter().find(|(s, _, _)| *s == about).unwrap();
            assert_eq!(kind, "hook_ran", "{run}");
            assert!(
                rest.starts_with("built for ") || rest.starts_with("everything for "),
                "{watcher} ran for {rest}"
            );
        }
    }
}

/// The events once `done` holds for them and they stopped growing.
fn settled(ctx: &TestContext, done: impl Fn(&[Line]) -> bool) -> Vec<Line> {
    let mut before = wait_for(ctx, "the hooks to settle", &done);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = wait_for(ctx, "the hooks to settle", &done);
        if now.len() == before.len() {
            return now;
        }
        before = now;
    }
}

#[test]
fn check_reports_bad_hooks_with_their_places() {
    let ctx = context();
    ctx.write_definition(
        "components.toml",
        "[component.libgreet]\nkind = \"command\"\ncommands = [\"true\"]\n",
    );
    ctx.write_definition(
        "hooks.toml",
        "[hook.tell]\non = \"build.fialed\"\ncomponent = \"libgret\"\ncommand = [\"./notify.sh\"]\n\
         post = \"https://chat.example.org/hooks\"\n\n\
         [hook.nothing]\non = \"*.finished\"\nnetwork = true\n\n\
         [hook.chat]\non = [\"build.*\"]\npost = \"chat.example.org\"\ntimeout = \"0s\"\n",
    );
    let outcome = ctx
        .factory()
        .without_store()
        .arg("check")
        .arg(ctx.definition())
        .fails();
    assert_eq!(outcome.stdout, "");
    assert_filtered_snapshot!(
        ctx,
        "check_bad_hooks",
        "factory check DEF (standard error) of a definition with bad hooks",
        outcome.stderr
    );
    // A good hook passes, and the summary counts it.
    ctx.write_definition(
        "hooks.toml",
        "[hook.tell]\non = \"build.failed\"\ncomponent = \"libgreet\"\ncommand = [\"./notify.sh\"]\n",
    );
    let checked = ctx
        .factory()
        .without_store()
        .arg("check")
        .arg(ctx.definition())
        .output();
    assert!(checked.success(), "{checked}");
    assert!(checked.text().contains("1 hook"), "{checked}");
}
