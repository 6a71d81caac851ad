//! The API against its own description: schemathesis (the stock property-based tester)
//! generates requests from `/api/v1/openapi.json`, valid and not, against a `factory up`
//! with an admin token and both forges' secrets, and checks every response: no 5xx, no
//! status or body the document does not describe, nothing invalid accepted.

mod common;
use common::context;

use std::process::Command;
use std::time::Duration;

use factory_testkit::{Served, command_component};

fn schemathesis_present() -> bool {
    let present = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must have schemathesis (pip install schemathesis)"
        );
        eprintln!("SKIPPED the OpenAPI fuzz test: pip install schemathesis to run it");
    }
    present
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    if !schemathesis_present() {
        return;
    }
    let ctx = context();
    let mut text = command_component("lib", &[], "echo lib > {out}/out.txt");
    text += &command_component(
        "app",
        &["lib".into()],
        "cat $FACTORY_INPUT_LIB/out.txt > {out}/out.txt",
    );
    ctx.write_definition("components.toml", &text);
    ctx.write_source("lib", "input", "lib");
    ctx.write_source("app", "input", "app");
    let admin = ctx
        .factory()
        .args(["token", "create", "--name", "fuzz", "--scope", "admin"])
        .ok();
    let github = ctx.write("github.secret", "fuzz-github");
    let gitlab = ctx.write("gitlab.token", "fuzz-gitlab");
    let (github, gitlab) = (github.display().to_string(), gitlab.display().to_string());
    let served = Served::new(ctx.spawn_up(&[
        "--listen",
        "127.0.0.1:0",
        "--no-sandbox",
        "--github-secret-file",
        &github,
        "--gitlab-token-file",
        &gitlab,
    ]));
    served.wait_for_stderr("watching", Duration::from_secs(120));
    let output = Command::new("schemathesis")
        .arg("run")
        .arg(served.url("/api/v1/openapi.json"))
        .args(["--checks", "all", "--max-examples", "15", "--seed", "1"])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", admin.trim()),
        ])
        // Ten seconds per request at most: a followed log or the event stream stays open.
        .args(["--request-timeout", "10"])
        .current_dir(ctx.root())
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        served.stop().success(),
        "still serving after the fuzzing, and stops cleanly"
    );
}
