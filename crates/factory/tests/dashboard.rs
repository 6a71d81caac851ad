//! The dashboard through the real binary: `factory up --listen` serves the pages at `/`
//! beside the API. Every page answers HTML for what exists and an error page for what
//! does not; and in a real browser (Debian's chromium, driven by playwright-core from
//! `tests/browser/`), the pages follow a wave live: builds move from waiting to running to
//! succeeded without a reload, a log grows as it is written, a waiting job says what it
//! waits for, and a failure shows with the builds it blocked.
//!
//! The browser test skips, loudly, where chromium, node or the test's `node_modules` are
//! missing; with `FACTORY_CI=1` it fails instead (`.ci/run` installs them).

mod common;
use common::context;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use factory_testkit::{Served, TestContext, command_component};
use serde_json::Value;

/// base → lib → app → tool, and base → broken, which fails and blocks victim-a and victim-b.
/// Each build takes a moment, so a browser sees it wait, run and end; app writes its log a
/// line at a time; what app and broken print is markup, which pages must show as text.
fn definition(ctx: &TestContext) {
    let component = |name: &str, deps: &[&str], command: &str| {
        let deps: Vec<String> = deps.iter().map(|d| (*d).to_owned()).collect();
        command_component(name, &deps, command)
    };
    let mut text = component(
        "base",
        &[],
        "sleep 2; cat $FACTORY_SRC/input > {out}/out.txt",
    );
    text += &component(
        "lib",
        &["base"],
        "sleep 2; cat $FACTORY_INPUT_BASE/out.txt $FACTORY_SRC/input > {out}/out.txt",
    );
    text += &component(
        "app",
        &["lib"],
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo \"compiling unit $i of 10\"; sleep 0.6; done; \
         echo '<script>window.__pwned = 1</script>'; \
         cat $FACTORY_INPUT_LIB/out.txt > {out}/out.txt",
    );
    text += &component(
        "tool",
        &["app"],
        "sleep 1; cat $FACTORY_INPUT_APP/out.txt > {out}/out.txt",
    );
    text += &component(
        "broken",
        &["base"],
        "sleep 1; echo 'error: <b>undefined reference</b> to main' >&2; exit 1",
    );
    text += &component(
        "victim-a",
        &["broken"],
        "cat $FACTORY_INPUT_BROKEN/out.txt > {out}/out.txt",
    );
    text += &component(
        "victim-b",
        &["victim-a"],
        "cat $FACTORY_INPUT_VICTIM_A/out.txt > {out}/out.txt",
    );
    ctx.write_definition("components.toml", &text);
    for name in [
        "base", "lib", "app", "tool", "broken", "victim-a", "victim-b",
    ] {
        ctx.write_source(name, "input", &format!("{name} 1\n"));
    }
}

/// `factory up --listen 127.0.0.1:0` on the context, once its first wave is done.
fn serve_up(ctx: &TestContext) -> Served {
    let options = ["--listen", "127.0.0.1:0", "--no-sandbox", "-j", "2"];
    let served = Served::new(ctx.spawn_up(&options));
    served.wait_for_stderr("watching", Duration::from_secs(180));
    served
}

struct Page {
    status: u16,
    content_type: String,
    body: String,
}

fn get(served: &Served, path: &str) -> Page {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let mut response = agent
        .get(served.url(path))
        .call()
        .expect("the server answers");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Page {
        status: response.status().as_u16(),
        content_type,
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn html(served: &Served, path: &str) -> String {
    let page = get(served, path);
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    assert!(
        page.content_type.starts_with("text/html"),
        "{path}: {}",
        page.content_type
    );
    page.body
}

/// The build of `component` in the story of `wave`.
fn build_of(served: &Served, wave: u64, component: &str) -> u64 {
    let story: Value = serde_json::from_str(&get(served, &format!("/api/v1/waves/{wave}")).body)
        .expect("the wave's JSON");
    story["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["component"] == component)
        .and_then(|b| b["id"].as_u64())
        .unwrap_or_else(|| panic!("no build of {component} in {story}"))
}

/// What does not exist gets an error page; what is not a page, the API's problem.
fn error_pages(served: &Served) {
    for (path, status) in [
        ("/builds/999999", 404),
        ("/waves/999999", 404),
        ("/components/nothing-here", 404),
        ("/graph/nothing-here", 404),
        ("/waves/twelve", 400),
        ("/graph/lib?depth=x", 400),
    ] {
        let page = get(served, path);
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert!(page.content_type.starts_with("text/html"), "{path}");
        assert!(
            page.body.contains("Back to the overview"),
            "{path}: {}",
            page.body
        );
    }
    let unrouted = get(served, "/nothing/here");
    assert_eq!(
        (unrouted.status, unrouted.content_type.as_str()),
        (404, "application/problem+json")
    );
}

#[test]
fn every_page_answers_html_and_unknown_ids_an_error_page() {
    let ctx = context();
    definition(&ctx);
    let served = serve_up(&ctx);
    let waves: Value = serde_json::from_str(&get(&served, "/api/v1/waves").body).unwrap();
    let wave = waves["waves"][0]["id"].as_u64().unwrap();
    let (app, broken, victim) = (
        build_of(&served, wave, "app"),
        build_of(&served, wave, "broken"),
        build_of(&served, wave, "victim-b"),
    );

    let overview = html(&served, "/");
    assert!(overview.contains("2 builds blocked"), "{overview}");
    assert!(overview.contains(">broken</a> failed"), "{overview}");
    let story = html(&served, &format!("/waves/{wave}"));
    for component in [
        "base", "lib", "app", "tool", "broken", "victim-a", "victim-b",
    ] {
        assert!(
            story.contains(&format!("data-job=\"{component}\"")),
            "{component}: {story}"
        );
    }
    assert!(
        story.contains("/api/v1/blobs/sha256:"),
        "downloads: {story}"
    );
    let failed = html(&served, &format!("/waves/{wave}?state=failed"));
    assert_eq!(failed.matches("<tr id=\"build-").count(), 1, "{failed}");
    let log = html(&served, &format!("/builds/{app}"));
    assert!(log.contains("compiling unit 10 of 10"), "{log}");
    assert!(
        log.contains("&lt;script&gt;window.__pwned = 1&lt;/script&gt;"),
        "{log}"
    );
    let broken_page = html(&served, &format!("/builds/{broken}"));
    assert!(
        broken_page.contains("&lt;b&gt;undefined reference&lt;/b&gt;"),
        "{broken_page}"
    );
    let blocked = html(&served, &format!("/builds/{victim}"));
    assert!(blocked.contains("Root cause"), "{blocked}");
    assert!(
        blocked.contains(&format!("href=\"/builds/{broken}\"")),
        "{blocked}"
    );
    let component = html(&served, "/components/lib");
    assert!(
        component.contains("href=\"/components/app\""),
        "dependents: {component}"
    );
    assert!(
        component.contains("href=\"/components/base\""),
        "inputs: {component}"
    );
    let graph = html(&served, "/graph/lib?depth=3");
    for node in ["base", "app", "tool"] {
        assert!(
            graph.contains(&format!("href=\"/graph/{node}\"")),
            "{node}: {graph}"
        );
    }
    for path in ["/waves", "/components"] {
        html(&served, path);
    }

    error_pages(&served);
    assert!(served.stop().success());
}

/// What the browser test needs, or why it cannot run.
struct Browser {
    chromium: PathBuf,
    script_dir: PathBuf,
}

fn browser() -> Result<Browser, String> {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var_os("FACTORY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("no node on PATH (apt-get install nodejs npm)".into());
    }
    if !script_dir.join("node_modules/playwright-core").exists() {
        return Err(format!(
            "no node_modules in {} (npm ci there)",
            script_dir.display()
        ));
    }
    Ok(Browser {
        chromium,
        script_dir,
    })
}

/// Where the screenshots go: `target/dashboard-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("dashboard-screenshots");
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_dashboard_follows_a_wave_live_in_a_browser() {
    let browser = match browser() {
        Ok(browser) => browser,
        Err(why) if std::env::var_os("FACTORY_CI").is_some_and(|v| v == "1") => {
            panic!("the browser test cannot run under FACTORY_CI=1: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED the_dashboard_follows_a_wave_live_in_a_browser: {why}");
            return;
        }
    };
    let ctx = context();
    definition(&ctx);
    let token = ctx
        .factory()
        .args(["token", "create", "--name", "browser", "--scope", "admin"])
        .ok();
    let served = serve_up(&ctx);
    let shots = screenshot_dir();
    eprintln!("dashboard screenshots: {}", shots.display());
    let mut node = Command::new("node")
        .arg(browser.script_dir.join("dashboard.mjs"))
        .env("FACTORY_URL", served.url(""))
        .env("FACTORY_TOKEN", token.trim())
        .env("FACTORY_CHROMIUM", &browser.chromium)
        .env("FACTORY_SCREENSHOTS", &shots)
        .current_dir(&browser.script_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let (said, failed) = follow_script(&mut node, &ctx);
    let status = node.wait().unwrap();
    assert!(
        status.success() && !failed,
        "the browser script failed ({status}):\n{said}\n--- factory:\n{}",
        served.stderr()
    );
    assert!(said.contains("ALL PASSED"), "{said}");
    assert!(served.stop().success());
}

/// Reads the script's lines until it ends (or runs out of time, when it is killed); when
/// it says `CHANGE`, changes base's source, which starts a wave. Returns what it said,
/// its standard error after it, and whether it timed out.
fn follow_script(node: &mut std::process::Child, ctx: &TestContext) -> (String, bool) {
    let stdout = node.stdout.take().unwrap();
    let mut stderr = node.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut said = String::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                eprintln!("browser: {line}");
                if line.trim() == "CHANGE" {
                    ctx.write_source("base", "input", "base 2\n");
                }
                said.push_str(&line);
                said.push('\n');
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = node.kill();
                break;
            }
        }
    }
    said.push_str(&errors.join().unwrap_or_default());
    (said, timed_out)
}
