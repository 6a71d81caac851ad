//! The HTTP service through the real binary: `factory up --listen` serves the API while it
//! builds; reads, the live stream, blobs and errors as a client sees them; mutations need
//! tokens and follow the owner rule; every decision is in the log; no token in any log.

mod common;
use common::context;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::time::{Duration, Instant};

use factory_testkit::{Served, TestContext, command_component};
use serde_json::Value;

/// Components `lib` (owned by libteam), `app` built on it (appteam), `other` (otherteam),
/// and `slow`, which takes long enough to be caught running (otherteam).
fn owned_definition(ctx: &TestContext) {
    let owned = |name: &str, deps: &[String], command: &str, owner: &str| {
        let text = command_component(name, deps, command);
        format!("{}\nowners = [\"{owner}\"]\n\n", text.trim_end())
    };
    let mut text = owned("lib", &[], "echo lib > {out}/out.txt", "libteam");
    let app = "cat $FACTORY_INPUT_LIB/out.txt > {out}/out.txt; echo app >> {out}/out.txt";
    text += &owned("app", &["lib".into()], app, "appteam");
    text += &owned("other", &[], "echo other > {out}/out.txt", "otherteam");
    let slow = "test -e $FACTORY_SRC/fast || sleep 30; echo slow > {out}/out.txt";
    text += &owned("slow", &[], slow, "otherteam");
    ctx.write_definition("components.toml", &text);
    for name in ["lib", "app", "other"] {
        ctx.write_source(name, "input", name);
    }
    // The first wave must finish quickly; later rebuilds of slow sleep (see `cancel`).
    ctx.write_source("slow", "fast", "");
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

struct Reply {
    status: u16,
    content_type: String,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// A problem document with this status; returns its `type`.
    fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        let doc = self.json();
        assert_eq!(doc["status"], status);
        assert!(
            doc["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{doc}"
        );
        doc["type"].as_str().unwrap().to_owned()
    }
}

fn send(request: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> Reply {
    into_reply(request.call().expect("the server answers"))
}

fn into_reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let headers = response.headers().clone();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        content_type,
        headers,
        body,
    }
}

fn get(served: &Served, path: &str) -> Reply {
    send(agent().get(served.url(path)))
}

fn post(served: &Served, path: &str, token: Option<&str>) -> Reply {
    let mut request = agent().post(served.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    into_reply(request.send_empty().expect("the server answers"))
}

fn token(ctx: &TestContext, name: &str, scope: &str, owners: &[&str]) -> String {
    let mut command = ctx
        .factory()
        .args(["token", "create", "--name", name, "--scope", scope]);
    for owner in owners {
        command = command.args(["--owner", owner]);
    }
    command.ok().trim().to_owned()
}

/// `factory up --listen 127.0.0.1:0` on the context, once its first wave is done.
fn serve_up(ctx: &TestContext, extra: &[&str]) -> Served {
    let mut options = vec!["--listen", "127.0.0.1:0", "--no-sandbox", "-j", "2"];
    options.extend_from_slice(extra);
    let served = Served::new(ctx.spawn_up(&options));
    served.wait_for_stderr("watching", Duration::from_secs(120));
    served
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn build_of(served: &Served, wave: u64, component: &str) -> Value {
    let story = get(served, &format!("/api/v1/waves/{wave}")).json();
    story["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["component"] == component)
        .unwrap_or_else(|| panic!("no build of {component} in {story}"))
        .clone()
}

#[test]
fn up_serves_what_it_builds() {
    let ctx = context();
    owned_definition(&ctx);
    let served = serve_up(&ctx, &[]);
    assert_eq!(get(&served, "/healthz").status, 200);
    let ready = get(&served, "/readyz").json();
    assert_eq!(ready["status"], "ready");
    assert!(ready["last_seq"].as_u64().unwrap() > 0);

    let components = get(&served, "/api/v1/components").json();
    let names: BTreeSet<&str> = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["app", "lib", "other", "slow"]));
    let lib = get(&served, "/api/v1/components/lib").json();
    assert_eq!(lib["owners"], serde_json::json!(["libteam"]));
    assert_eq!(lib["dependents"], serde_json::json!(["app"]));
    assert_eq!(lib["latest_build"]["state"], "succeeded");

    let waves = get(&served, "/api/v1/waves").json();
    let wave = &waves["waves"][0];
    assert_eq!(wave["state"], "finished", "{waves}");
    let wave_id = wave["id"].as_u64().unwrap();
    let story = get(&served, &format!("/api/v1/waves/{wave_id}")).json();
    assert_eq!(story["counts"]["succeeded"], 4, "{story}");

    let app = build_of(&served, wave_id, "app");
    let id = app["id"].as_u64().unwrap();
    assert_eq!(
        get(&served, &format!("/api/v1/builds/{id}")).json()["component"],
        "app"
    );
    let explain = get(&served, &format!("/api/v1/builds/{id}/explain")).json();
    assert!(
        explain["lines"][0].as_str().unwrap().contains("app"),
        "{explain}"
    );
    let log = get(&served, &format!("/api/v1/builds/{id}/log"));
    assert_eq!(log.status, 200);
    assert!(
        log.content_type.starts_with("text/plain"),
        "{}",
        log.content_type
    );
    blobs_are_served_by_digest(&served, &app);
    events_page_through_the_whole_log(&ctx, &served);
    errors_are_problems(&served);
    metrics_and_openapi(&served);
    assert!(served.stop().success());
}

fn blobs_are_served_by_digest(served: &Served, build: &Value) {
    let output = &build["outputs"][0];
    let digest = output["digest"].as_str().unwrap();
    let path = format!("/api/v1/blobs/{digest}");
    let whole = get(served, &path);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len() as u64, output["size"].as_u64().unwrap());
    let etag = whole.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{digest}\""));
    let again = send(
        agent()
            .get(served.url(&path))
            .header("If-None-Match", &etag),
    );
    assert_eq!(again.status, 304);
    let part = send(agent().get(served.url(&path)).header("Range", "bytes=0-3"));
    assert_eq!(part.status, 206);
    assert_eq!(part.body.len(), 4);
    let size = whole.body.len();
    assert_eq!(
        part.headers["content-range"].to_str().unwrap(),
        format!("bytes 0-3/{size}")
    );
    let beyond = send(
        agent()
            .get(served.url(&path))
            .header("Range", "bytes=999999-"),
    );
    assert_eq!(beyond.problem(416), "/api/v1/problems/bad-range");
    let missing = format!("/api/v1/blobs/sha256:{}", "0".repeat(64));
    get(served, &missing).problem(404);
    get(served, "/api/v1/blobs/sha256:nothex").problem(400);
}

fn events_page_through_the_whole_log(ctx: &TestContext, served: &Served) {
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = get(served, &format!("/api/v1/events?after={after}&limit=7")).json();
        for event in page["events"].as_array().unwrap() {
            seqs.push(event["seq"].as_u64().unwrap());
        }
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let cli = ctx.events();
    assert_eq!(seqs.len(), cli.lines().count(), "every event once:\n{cli}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let succeeded = get(served, "/api/v1/events?topic=build.succ*&limit=1000").json();
    let topics: BTreeSet<&str> = succeeded["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, BTreeSet::from(["build.succeeded"]));
}

fn errors_are_problems(served: &Served) {
    assert_eq!(
        get(served, "/api/v1/builds/abc").problem(400),
        "/api/v1/problems/bad-path"
    );
    get(served, "/api/v1/builds/999999").problem(404);
    get(served, "/api/v1/nothing/here").problem(404);
    get(served, "/api/v1/components/..%2F..%2Fetc%2Fpasswd").problem(404);
    let unknown = get(served, "/api/v1/waves?colour=blue");
    assert_eq!(unknown.problem(400), "/api/v1/problems/bad-query");
    assert!(unknown.body.contains("colour"), "{}", unknown.body);
    get(served, "/api/v1/components/app/builds?state=purple").problem(400);
    let delete = send(agent().delete(served.url("/api/v1/waves")));
    delete.problem(405);
    let huge = "x".repeat(2 * 1024 * 1024);
    let reply = agent()
        .post(served.url("/api/v1/components/app/rebuild"))
        .header("Content-Type", "application/json")
        .send(huge.as_bytes());
    // The server may answer 413 or close the connection while the body still comes.
    if let Ok(reply) = reply {
        into_reply(reply).problem(413);
    }
    assert_eq!(get(served, "/healthz").status, 200, "still serving");
}

fn metrics_and_openapi(served: &Served) {
    let metrics = get(served, "/metrics");
    assert_eq!(metrics.status, 200);
    for name in [
        "factory_queue_builds",
        "factory_event_log_seq",
        "factory_http_request_duration_seconds",
        "factory_events_total",
    ] {
        assert!(metrics.body.contains(name), "{name} in:\n{}", metrics.body);
    }
    let document = get(served, "/api/v1/openapi.json").json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: BTreeSet<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/api/v1/components/{name}/rebuild",
        "/api/v1/waves/{id}/cancel",
        "/api/v1/builds/{id}/cancel",
        "/api/v1/events/stream",
        "/api/v1/blobs/{digest}",
        "/metrics",
    ] {
        assert!(paths.contains(route), "{route} in {paths:?}");
    }
}

#[test]
fn changes_need_a_token_and_the_owner_rule_decides() {
    let ctx = context();
    owned_definition(&ctx);
    let reader = token(&ctx, "reader", "read", &[]);
    let libteam = token(&ctx, "lib-ci", "build", &["libteam"]);
    let appteam = token(&ctx, "app-ci", "build", &["appteam"]);
    let admin = token(&ctx, "root", "admin", &[]);
    let served = serve_up(&ctx, &[]);
    let rebuild = |name: &str| format!("/api/v1/components/{name}/rebuild");

    post(&served, &rebuild("app"), None).problem(401);
    post(&served, &rebuild("app"), Some("fty_not-a-token")).problem(401);
    post(&served, &rebuild("app"), Some(&reader)).problem(403);
    // appteam owns app, not lib; libteam owns lib, and app is built on lib.
    post(&served, &rebuild("lib"), Some(&appteam)).problem(403);
    post(&served, &rebuild("other"), Some(&libteam)).problem(403);
    post(&served, &rebuild("nothing"), Some(&admin)).problem(404);

    let accepted = post(&served, &rebuild("app"), Some(&libteam));
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let wave = accepted.json()["wave"]
        .as_u64()
        .expect("the wave it started");
    assert_eq!(
        accepted.headers["location"].to_str().unwrap(),
        format!("/api/v1/waves/{wave}")
    );
    wait_until("the requested wave finishes", || {
        get(&served, &format!("/api/v1/waves/{wave}")).json()["wave"]["state"] == "finished"
    });
    let story = get(&served, &format!("/api/v1/waves/{wave}")).json();
    assert!(
        story["wave"]["trigger"]
            .as_str()
            .unwrap()
            .contains("rebuild requested by lib-ci"),
        "{story}"
    );
    assert_eq!(post(&served, &rebuild("app"), Some(&appteam)).status, 202);
    assert_eq!(post(&served, &rebuild("other"), Some(&admin)).status, 202);

    let stderr = served.stderr();
    assert!(served.stop().success());
    let events = ctx.events();
    let decisions: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("access_decided"))
        .collect();
    let refused = decisions.iter().filter(|l| l.contains("refused")).count();
    let allowed = decisions.iter().filter(|l| l.contains("allowed")).count();
    assert_eq!((refused, allowed), (3, 3), "{decisions:#?}");
    assert!(
        decisions.iter().any(|l| l.contains(
            "lib-ci rebuild app: allowed, app depends on lib, which is owned by libteam"
        )),
        "{decisions:#?}"
    );
    for secret in [&reader, &libteam, &appteam, &admin] {
        assert!(
            !stderr.contains(secret.as_str()),
            "a token in the log:\n{stderr}"
        );
        assert!(!events.contains(secret.as_str()), "a token in the events");
    }
}

/// Reads Server-Sent Events: (id, event) pairs, until `enough` says so.
fn read_stream(
    served: &Served,
    query: &str,
    last_event_id: Option<u64>,
    mut enough: impl FnMut(&[(u64, String)]) -> bool,
) -> Vec<(u64, String)> {
    let mut request = agent().get(served.url(&format!("/api/v1/events/stream{query}")));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.call().unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = BufReader::new(response.into_body().into_reader());
    let (mut events, mut id) = (Vec::new(), None);
    let mut line = String::new();
    while !enough(&events) {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(value) = line.strip_prefix("id: ") {
            id = value.parse().ok();
        } else if let Some(topic) = line.strip_prefix("event: ") {
            events.push((id.take().expect("an id before the event"), topic.to_owned()));
        }
    }
    events
}

#[test]
fn the_stream_sends_every_event_live_and_resumes_where_it_broke() {
    let ctx = context();
    owned_definition(&ctx);
    let admin = token(&ctx, "root", "admin", &[]);
    let served = serve_up(&ctx, &[]);
    let page = get(&served, "/api/v1/events?limit=1000").json();
    let logged: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let history = read_stream(&served, "?after=0", None, |e| e.len() == logged.len());
    let streamed: Vec<u64> = history.iter().map(|(id, _)| *id).collect();
    assert_eq!(streamed, logged, "the stream replays the log from `after`");

    // Live: a rebuild's events arrive as they happen, ending with its wave.
    let last = *logged.last().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let live = read_stream(&served, &format!("?after={last}"), None, |e| {
                e.iter().any(|(_, topic)| topic == "wave.finished")
            });
            tx.send(live).unwrap();
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            post(&served, "/api/v1/components/lib/rebuild", Some(&admin)).status,
            202
        );
    });
    let live = rx.recv().unwrap();
    let topics: Vec<&str> = live.iter().map(|(_, t)| t.as_str()).collect();
    assert!(topics.contains(&"access.decided"), "{topics:?}");
    assert!(topics.contains(&"wave.planned"), "{topics:?}");
    assert!(
        live.windows(2).all(|w| w[0].0 < w[1].0),
        "in order: {live:?}"
    );

    // Resumed with Last-Event-ID: the next event is the one after it, nothing skipped.
    let (resume_at, _) = live[1];
    let resumed = read_stream(&served, "", Some(resume_at), |e| e.len() == live.len() - 2);
    assert_eq!(resumed[..], live[2..], "resumed exactly after {resume_at}");
    let filtered = read_stream(&served, "?after=0&topic=wave.*", None, |e| e.len() == 3);
    assert!(
        filtered.iter().all(|(_, t)| t.starts_with("wave.")),
        "{filtered:?}"
    );
    assert!(
        served.stop().success(),
        "Ctrl-C ends the streams and the server"
    );
}

#[test]
fn a_running_wave_or_build_can_be_cancelled_by_whoever_may_rebuild_it() {
    let ctx = context();
    owned_definition(&ctx);
    let admin = token(&ctx, "root", "admin", &[]);
    let libteam = token(&ctx, "lib-ci", "build", &["libteam"]);
    let served = serve_up(&ctx, &[]);
    // A change to slow's source: the loop starts a wave in which slow sleeps.
    fs_err::remove_file(ctx.source_dir("slow").join("fast")).unwrap();
    let running_wave = |served: &Served| -> Option<(u64, Value)> {
        let waves = get(served, "/api/v1/waves").json();
        let wave = waves["waves"]
            .as_array()?
            .iter()
            .find(|w| w["state"] == "planned")?
            .clone();
        let id = wave["id"].as_u64()?;
        let story = get(served, &format!("/api/v1/waves/{id}")).json();
        let slow = story["builds"]
            .as_array()?
            .iter()
            .find(|b| b["component"] == "slow")?;
        (slow["state"] == "building").then(|| (id, slow.clone()))
    };
    let mut found = None;
    wait_until("slow builds", || {
        found = running_wave(&served);
        found.is_some()
    });
    let (wave, slow) = found.unwrap();
    let build = slow["id"].as_u64().unwrap();
    post(
        &served,
        &format!("/api/v1/builds/{build}/cancel"),
        Some(&libteam),
    )
    .problem(403);
    let cancelled = post(
        &served,
        &format!("/api/v1/waves/{wave}/cancel"),
        Some(&admin),
    );
    assert_eq!(cancelled.status, 202, "{}", cancelled.body);
    wait_until("the wave ends", || {
        get(&served, &format!("/api/v1/waves/{wave}")).json()["wave"]["state"] == "finished"
    });
    let story = get(&served, &format!("/api/v1/waves/{wave}")).json();
    assert!(
        story["wave"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("cancelled by root"),
        "{story}"
    );
    let slow = get(&served, &format!("/api/v1/builds/{build}")).json();
    assert_eq!(slow["state"], "cancelled");
    assert_eq!(slow["detail"], "cancelled by root", "{slow}");
    let again = post(
        &served,
        &format!("/api/v1/waves/{wave}/cancel"),
        Some(&admin),
    );
    assert_eq!(again.problem(409), "/api/v1/problems/not-running");
    assert!(served.stop().success());
}

#[test]
fn reads_can_require_a_token_and_health_stays_open() {
    let ctx = context();
    owned_definition(&ctx);
    let reader = token(&ctx, "reader", "read", &[]);
    let served = serve_up(&ctx, &["--read-token-required"]);
    get(&served, "/api/v1/waves").problem(401);
    let with_token = send(
        agent()
            .get(served.url("/api/v1/waves"))
            .header("Authorization", format!("Bearer {reader}")),
    );
    assert_eq!(with_token.status, 200);
    assert_eq!(get(&served, "/healthz").status, 200);
    assert_eq!(get(&served, "/readyz").status, 200);
    assert!(served.stop().success());
}

#[test]
fn a_busy_port_is_a_precise_error() {
    let ctx = context();
    owned_definition(&ctx);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let outcome = ctx
        .factory()
        .args(["up", "--listen", &addr, "--definition"])
        .arg(ctx.definition())
        .fails();
    assert_eq!(outcome.status.code(), Some(1), "{outcome}");
    assert!(
        outcome.stderr.contains(&format!("cannot listen on {addr}")),
        "{outcome}"
    );
}

#[test]
fn demo_serves_its_store_read_only_until_ctrl_c() {
    let ctx = context();
    let dir = ctx.path("demo");
    let admin = ctx
        .factory()
        .store(dir.join("store"))
        .args(["token", "create", "--name", "root", "--scope", "admin"])
        .ok();
    let child = ctx
        .demo(&dir)
        .args(["--serve", "--listen", "127.0.0.1:0"])
        .spawn(std::process::Stdio::null(), std::process::Stdio::piped());
    let served = Served::new(child);
    // The server is up before the demo's first wave; wait for the demo's three.
    wait_until("the demo's waves", || {
        let waves = get(&served, "/api/v1/waves").json();
        let waves = waves["waves"].as_array().cloned().unwrap_or_default();
        waves.len() == 3 && waves.iter().all(|w| w["state"] == "finished")
    });
    let rebuild = post(
        &served,
        "/api/v1/components/hello/rebuild",
        Some(admin.trim()),
    );
    assert_eq!(rebuild.problem(503), "/api/v1/problems/read-only");
    assert!(served.stop().success());
}

/// base ← mid ← top; base's source says how its build goes: `ok`, `slow` or `fail`.
fn chain_definition(ctx: &TestContext, mode: &str) {
    let base = "m=$(cat $FACTORY_SRC/mode); [ $m = fail ] && exit 1; \
                [ $m = slow ] && sleep 4; echo base > {out}/out.txt";
    let mut text = command_component("base", &[], base);
    text += &command_component(
        "mid",
        &["base".into()],
        "cat $FACTORY_INPUT_BASE/out.txt > {out}/out.txt",
    );
    text += &command_component(
        "top",
        &["mid".into()],
        "cat $FACTORY_INPUT_MID/out.txt > {out}/out.txt",
    );
    ctx.write_definition("components.toml", &text);
    ctx.write_source("mid", "input", "mid");
    ctx.write_source("top", "input", "top");
    ctx.write_source("base", "mode", mode);
}

/// The newest wave after `after`, once it exists.
fn wave_after(served: &Served, after: u64) -> u64 {
    let mut found = 0;
    wait_until("a new wave", || {
        let waves = get(served, "/api/v1/waves").json();
        found = waves["waves"][0]["id"].as_u64().unwrap_or(0);
        found > after
    });
    found
}

fn finished(served: &Served, wave: u64) {
    wait_until("the wave ends", || {
        get(served, &format!("/api/v1/waves/{wave}")).json()["wave"]["state"] == "finished"
    });
}

#[test]
fn why_names_what_a_build_waits_for_and_the_root_of_a_failure() {
    let ctx = context();
    chain_definition(&ctx, "ok");
    let served = serve_up(&ctx, &[]);
    let waves = get(&served, "/api/v1/waves").json();
    let first = waves["waves"][0]["id"].as_u64().unwrap();

    // While base builds slowly, mid waits for it, and the forecast follows the chain.
    ctx.write_source("base", "mode", "slow");
    let slow = wave_after(&served, first);
    // mid is queued once base has succeeded; until then the wave says what it waits for.
    let mut mid_why = Value::Null;
    wait_until("mid waits for base", || {
        mid_why = get(&served, &format!("/api/v1/waves/{slow}/jobs/mid/why")).json();
        mid_why["reasons"][0]["kind"] == "waiting_for_input"
            && mid_why["reasons"][0]["state"] == "building"
    });
    assert_eq!(mid_why["reasons"][0]["input"], "base", "{mid_why}");
    let summary = mid_why["summary"].as_str().unwrap();
    assert!(summary.starts_with("mid waits for base (b"), "{mid_why}");
    let story = get(&served, &format!("/api/v1/waves/{slow}")).json();
    let pending: Vec<&str> = story["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["summary"].as_str().unwrap())
        .collect();
    assert!(
        pending.contains(&"top waits for mid (not queued yet)"),
        "{story}"
    );
    let forecast = get(&served, &format!("/api/v1/waves/{slow}/forecast")).json();
    assert_eq!(forecast["state"], "running", "{forecast}");
    assert_eq!(
        forecast["critical_path"],
        serde_json::json!(["base", "mid", "top"])
    );
    assert!(
        forecast["remaining_seconds"].as_f64().unwrap() > 0.0,
        "{forecast}"
    );
    let queue = get(&served, "/api/v1/queue").json();
    assert_eq!(queue["counts"]["building"], 1, "{queue}");
    let building = &queue["builds"][0];
    assert_eq!(building["summary"], "base is building (attempt 1)");
    finished(&served, slow);

    let failing = blocked_builds_group_under_their_root(&ctx, &served, slow);

    // Fixed: the blocked builds come back by themselves and end usable.
    ctx.write_source("base", "mode", "ok");
    let fixed = wave_after(&served, failing);
    finished(&served, fixed);
    for name in ["base", "mid", "top"] {
        let state = build_of(&served, fixed, name)["state"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            ["succeeded", "unchanged", "reused"].contains(&state.as_str()),
            "{name}: {state}"
        );
    }
    let done = get(&served, &format!("/api/v1/waves/{fixed}/forecast")).json();
    assert_eq!(done["state"], "finished");
    assert!(served.stop().success());
}

/// base fails: mid and top are blocked, grouped under it, top down to the root.
fn blocked_builds_group_under_their_root(ctx: &TestContext, served: &Served, after: u64) -> u64 {
    ctx.write_source("base", "mode", "fail");
    let failing = wave_after(served, after);
    finished(served, failing);
    let groups = get(served, &format!("/api/v1/waves/{failing}/failures")).json();
    assert_eq!(groups["groups"][0]["component"], "base", "{groups}");
    assert_eq!(
        groups["groups"][0]["summary"],
        "base failed: 2 builds blocked"
    );
    let top = build_of(served, failing, "top");
    let why_top = get(served, &format!("/api/v1/builds/{}/why", top["id"])).json();
    assert_eq!(why_top["reasons"][0]["kind"], "blocked_by", "{why_top}");
    assert_eq!(why_top["reasons"][0]["root_component"], "base");
    assert_eq!(
        why_top["summary"],
        format!(
            "top is blocked: base failed (b{})",
            groups["groups"][0]["root"]
        )
    );
    let story = get(served, &format!("/api/v1/waves/{failing}")).json();
    assert_eq!(story["failures"][0]["blocked_count"], 2, "{story}");

    failing
}
